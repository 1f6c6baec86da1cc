"""packing.py: finding duplicate items, packing sequences into rows, the block-diagonal mask; and that
CMCL's passes run as one forward over the distinct items."""
import numpy as np
import pytest
import torch

from unimo_plugin.data.cmcl_batch import CmclBatch
from unimo_plugin.models.packing import ROW_MULTIPLE, distinct, packed_attention_mask, packed_positions, plan_packing
from unimo_plugin.models.unimo import UnimoModel
from unimo_plugin.testing.tiny_models import build_unimo, random_regions, random_text


def test_distinct_groups_items_equal_bit_for_bit_and_nothing_else():
    torch.manual_seed(0)  # a float-matmul fingerprint gave items 0 and 6 different last bits here
    x = torch.randn(7, 3, 4)
    x[3], x[5], x[6] = x[1], x[1], x[0]
    mask = torch.zeros(7, 3, dtype=torch.bool)
    mask[5, 2] = True  # same features, another padding mask: another item
    first, inverse = distinct(x, mask)
    assert first.tolist() == [0, 1, 2, 4, 5] and inverse.tolist() == [0, 1, 2, 1, 3, 4, 0]
    y = x.clone()
    y[3, 0, 0] += 1e-7 if y[3, 0, 0] != 0 else 1.0  # one element off: never merged
    assert distinct(y)[0].tolist() == [0, 1, 2, 3, 4]
    swapped = x.clone()
    swapped[2] = x[0].flip(-1)  # same sum, same multiset of values
    swapped[4] = x[0].transpose(0, 1).reshape(3, 4)
    assert 2 in distinct(swapped)[0].tolist() and 4 in distinct(swapped)[0].tolist()
    nan = x.clone()
    nan[1, 0, 0] = nan[3, 0, 0] = float("nan")
    assert distinct(nan)[0].tolist() == [0, 1, 2, 3, 4, 5]  # NaN != NaN: 3 is no copy of 1, nor 5 (no NaN)
    tokens = torch.tensor([[0, 5, 6, 2, 1], [0, 5, 6, 2, 1], [0, 5, 2, 1, 1], [0, 6, 5, 2, 1]])
    assert distinct(tokens)[1].tolist() == [0, 0, 1, 2]
    assert distinct(torch.zeros(1, 3))[0].tolist() == [0] and distinct(torch.zeros(0, 3))[0].numel() == 0


@pytest.mark.parametrize("seed", range(5))
def test_packing_places_every_sequence_once_in_rows_of_one_length(seed):
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([rng.integers(3, 30, rng.integers(1, 60)), np.full(rng.integers(0, 10), 37)])
    packing = plan_packing(lengths, position_cost=100.0, pair_cost=1.0)
    assert packing.row_length % ROW_MULTIPLE == 0 and packing.row_length >= lengths.max()
    assert np.all(packing.offset + lengths <= packing.row_length)
    positions = packed_positions(packing, lengths)
    assert len(np.unique(positions)) == len(positions) == lengths.sum()  # no overlaps
    assert positions.max() < packing.rows * packing.row_length
    assert packing.rows <= len(lengths)
    # rows are full but for what no remaining sequence fits into
    used = np.bincount(packing.row, weights=lengths, minlength=packing.rows)
    assert (packing.row_length - used).min() < lengths.min() or packing.rows == 1


def test_row_length_trades_row_ends_against_attention():
    many_short = [5] * 50
    cheap_attention = plan_packing(many_short, position_cost=1000.0, pair_cost=1.0)
    costly_attention = plan_packing(many_short, position_cost=1.0, pair_cost=1000.0)
    assert cheap_attention.row_length > costly_attention.row_length == 8
    assert plan_packing([], 1.0, 1.0).rows == 0


def test_packed_mask_keeps_each_sequence_to_itself():
    lengths = [3, 2, 4]
    packing = plan_packing(lengths, position_cost=1.0, pair_cost=1000.0)  # rows of 8: 4+3 and 2
    mask = packed_attention_mask(packing, lengths)[:, 0]
    positions = packed_positions(packing, lengths)
    owner = np.repeat(np.arange(3), lengths)
    flat = mask.reshape(-1, packing.row_length)
    for p, s in zip(positions, owner):
        row, column = divmod(int(p), packing.row_length)
        sees = {int(q) for q in positions[owner == s]}
        assert {row * packing.row_length + k for k in np.flatnonzero(flat[p].numpy())} == sees
    unused = sorted(set(range(packing.rows * packing.row_length)) - set(positions.tolist()))
    for p in unused:  # row ends see only themselves
        assert np.flatnonzero(flat[p].numpy()).tolist() == [p % packing.row_length]


def test_cmcl_passes_are_one_forward_over_the_distinct_items(dictionary, monkeypatch):
    g = torch.Generator().manual_seed(0)
    features, boxes = random_regions(5, 4, 12, g)
    features[3], boxes[3] = features[0], boxes[0]
    texts = random_text(dictionary, [5, 9, 5, 7, 6, 4], g)
    texts[4] = texts[1]
    mask = torch.zeros(5, 4, dtype=torch.bool)
    mask[2, 2:] = True
    batch = CmclBatch.anchors_only(texts, features, boxes, mask, torch.arange(5))
    model = build_unimo(dictionary, region_feature_dim=12, dropout=0.0, attention_dropout=0.0).train()
    calls = []
    run_layers = UnimoModel._run_layers

    def spy(self, x, mask, inner_states=None):
        calls.append((tuple(x.shape), None if mask is None else tuple(mask.shape)))
        return run_layers(self, x, mask, inner_states)

    monkeypatch.setattr(UnimoModel, "_run_layers", spy)
    out = model._single_modal_passes(batch)
    assert len(calls) == 1  # images and texts in one forward
    (rows, length, _), _ = calls[0]
    real = 3 * 5 + 3 + (5 + 9 + 5 + 7 + 4)  # 4 distinct images ([IMG] + regions), 5 distinct texts
    padded = 5 * 5 + 6 * 9  # what one padded pass per modality computed
    assert real <= rows * length < padded and length % 8 == 0
    assert out["cmcl_image"].shape == (5, 32) and out["cmcl_text"].shape == (6, 32)
    assert torch.equal(out["cmcl_image"][3], out["cmcl_image"][0]) and torch.equal(out["cmcl_text"][4],
                                                                                 out["cmcl_text"][1])
