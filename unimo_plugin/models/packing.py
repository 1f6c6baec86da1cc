"""Encoding many short sequences at once: CMCL's single-modal passes (every image and every text of a
batch, each alone) without duplicates and with little padding.

- :func:`distinct` finds the items of a batch that are equal bit for bit (an anchor image that is also
  another pair's retrieved image, two captions of one image): each is encoded once.
- :func:`plan_packing` places sequences of different lengths (images of 10-101 positions, texts of
  5-30) end to end in rows of one length, so that a single forward encodes all of them; each
  sequence attends only to itself (:func:`packed_attention_mask`), so its states are those it has
  when encoded alone. The row length is the one that minimises the computed FLOPs: longer rows
  waste less at their ends but compute more attention between sequences that then is masked.

The FLOP counter (``flops.py``) plans with these same functions, so it counts what the model computes.
"""
import bisect
import math
from typing import NamedTuple, Sequence, Tuple

import numpy as np
import torch

ROW_MULTIPLE = 8  # row lengths are multiples of this (tensor-core friendly shapes)
_ROW_FACTORS = (1, 1.5, 2, 3, 4, 6, 8, 12, 16)  # candidate row lengths: the longest sequence times these


def distinct(*tensors: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The items (along dim 0) that are equal, bit for bit, in every one of ``tensors``.

    Returns ``(first, inverse)``: ``first`` (U,) the index of each distinct item's first occurrence,
    ascending, and ``inverse`` (N,) the position in ``first`` of every item's copy. Items are grouped
    by a fingerprint and each grouping is then checked element by element, so items that differ are
    never merged (NaNs make an item distinct from every other).
    """
    n = tensors[0].size(0)
    device = tensors[0].device
    arange = torch.arange(n, device=device)
    if n <= 1:
        return arange, arange
    prints = []
    for t in tensors:
        # Integer sums of the items' bits, read as 16-bit words (bytes for 1-byte types): exact, so equal
        # items get equal prints whatever order the sum runs in (a float matmul does not: BLAS sums some
        # rows in another order, last bits differ); words rather than bytes halve the int64 copies, and
        # the sums stay far from overflow for rows of up to millions of words.
        word = torch.uint8 if t.element_size() == 1 else torch.int16
        raw = t.reshape(n, -1).contiguous().view(word).long()
        if raw.size(1):
            position = torch.arange(1, raw.size(1) + 1, device=device)
            prints += [raw.sum(1), (raw * position).sum(1), (raw * (position * position % 65521)).sum(1)]
    prints = torch.stack(prints, 1) if prints else torch.zeros(n, 1, dtype=torch.long, device=device)
    _, group = torch.unique(prints, dim=0, return_inverse=True)
    first_of_group = torch.full((n,), n, device=device, dtype=torch.long).scatter_reduce_(0, group, arange, "amin")
    candidate = first_of_group[group]
    same = torch.ones(n, dtype=torch.bool, device=device)
    for t in tensors:
        flat = t.reshape(n, -1)
        same &= (flat == flat[candidate]).all(1)
    owner = torch.where(same, candidate, arange)  # the first item equal to each item (itself if none before)
    first = torch.unique(owner)
    return first, torch.searchsorted(first, owner)


class Packing(NamedTuple):
    """Sequence ``i`` occupies positions ``offset[i] .. offset[i] + length[i] - 1`` of row ``row[i]``."""

    row_length: int
    rows: int
    row: np.ndarray
    offset: np.ndarray

    def computed(self) -> Tuple[int, int]:
        """(positions, attention pairs) the packed forward computes, padding included."""
        return self.rows * self.row_length, self.rows * self.row_length ** 2


def _round_up(value: float, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def _best_fit(order: Sequence[int], lengths: np.ndarray, row_length: int):
    """Best-fit decreasing: each sequence (longest first) goes to the fullest row it fits in."""
    row, offset = np.zeros(len(lengths), np.int64), np.zeros(len(lengths), np.int64)
    free, rows = [], 0  # free: sorted (space left, row)
    for i in order:
        need = int(lengths[i])
        k = bisect.bisect_left(free, (need, -1))
        if k == len(free):
            space, r = row_length, rows
            rows += 1
        else:
            space, r = free.pop(k)
        row[i], offset[i] = r, row_length - space
        if space > need:
            bisect.insort(free, (space - need, r))
    return rows, row, offset


def plan_packing(lengths: Sequence[int], position_cost: float, pair_cost: float,
                 multiple: int = ROW_MULTIPLE) -> Packing:
    """Rows of one length for sequences of ``lengths``: the length (a multiple of ``multiple``, at least
    the longest sequence) whose packing computes least, at ``position_cost`` per row position (the
    linear layers) and ``pair_cost`` per pair of positions of a row (attention)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) == 0:
        return Packing(0, 0, lengths.copy(), lengths.copy())
    longest, total = int(lengths.max()), int(lengths.sum())
    order = np.argsort(-lengths, kind="stable").tolist()
    shortest_row = _round_up(longest, multiple)
    candidates = sorted({min(_round_up(shortest_row * f, multiple), _round_up(total, multiple)) for f in _ROW_FACTORS})
    best = None
    for row_length in candidates:
        rows, row, offset = _best_fit(order, lengths, row_length)
        cost = rows * row_length * position_cost + rows * row_length ** 2 * pair_cost
        if best is None or cost < best[0]:
            best = (cost, Packing(row_length, rows, row, offset))
    return best[1]


def packed_positions(packing: Packing, lengths: Sequence[int]) -> np.ndarray:
    """Flat positions (``row * row_length + column``) of every element of every sequence, sequence by
    sequence: where the packed rows take each real position from."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = packing.row * packing.row_length + packing.offset
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + within


def packed_attention_mask(packing: Packing, lengths: Sequence[int], device=None) -> torch.Tensor:
    """(rows, 1, L, L) boolean, True where a query may attend a key: within its own sequence; the
    unused ends of rows see only themselves (so no attention row is empty)."""
    segment = np.full(packing.rows * packing.row_length, -1, dtype=np.int64)
    segment[packed_positions(packing, lengths)] = np.repeat(np.arange(len(lengths)), lengths)
    segment = torch.from_numpy(segment).to(device).view(packing.rows, packing.row_length)
    same = (segment[:, :, None] == segment[:, None, :]) & (segment[:, None, :] >= 0)
    same |= torch.eye(packing.row_length, dtype=torch.bool, device=segment.device)
    return same[:, None]
