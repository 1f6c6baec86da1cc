"""Which CMCL positives and hard negatives a run uses (``--cmcl-select``), chosen from one data directory's
sidecars, so that runs comparing them (the rewriting-level ablation) need no copies of the data.

A selection is ``all`` (every sidecar there is), ``none`` (in-batch negatives only) or a comma-separated
list of:

- a sidecar kind, used whole: ``paraphrases`` (back-translated positives), ``texts`` (retrieved texts),
  ``images`` (retrieved images), ``negatives`` (every hard negative);
- ``negatives:FILTER``: the negatives whose metadata (``{split}.cmcl.negatives.meta.jsonl``) FILTER
  names: a level (``sentence``: TF-IDF retrieved captions; ``phrase``, ``word``: scene-graph rewrites),
  a kind (``retrieved``, ``object``, ``attribute``, ``relation``, ``exchange``), ``LEVEL/KIND`` (``word/attribute``)
  or ``KIND/TYPE`` (``relation/position``, ``attribute/colour``, ``object/phrase``).

E.g. ``negatives:sentence,negatives:phrase,paraphrases``: TF-IDF negatives, phrase-level rewrites and
paraphrase positives, no word-level rewrites nor retrieved texts or images. A kind the selection does
not name is not read at all.
"""
from typing import Dict, FrozenSet, List, NamedTuple, Sequence

import numpy as np
import torch

from ..formats.cmcl_sidecars import KINDS

SIDECAR_KINDS = KINDS  # paraphrases, negatives, texts, images
LEVELS = ("sentence", "phrase", "word")
SWAP_KINDS = ("retrieved", "object", "attribute", "relation", "exchange")
SYNTAX = ("all, none, or a comma-separated list of paraphrases, texts, images, negatives and negatives:FILTER "
          f"(FILTER: a level {'|'.join(LEVELS)}, a kind {'|'.join(SWAP_KINDS)}, LEVEL/KIND or KIND/TYPE)")


class Selection(NamedTuple):
    """A parsed ``--cmcl-select``: the sidecar kinds used whole, and the filters of the negatives used in part."""

    kinds: FrozenSet[str]
    negative_filters: FrozenSet[str]

    def uses(self, kind: str) -> bool:
        return kind in self.kinds or (kind == "negatives" and bool(self.negative_filters))


def _check_filter(spec, part, name):
    first, slash, second = name.partition("/")
    ok = (name in LEVELS or name in SWAP_KINDS) if not slash else \
        (first in LEVELS and second in SWAP_KINDS) or (first in SWAP_KINDS and second and "/" not in second)
    if not ok:
        raise ValueError(f"--cmcl-select {spec!r}: {part!r} names no level or kind of negatives; expected {SYNTAX}")


def parse_selection(spec: str) -> Selection:
    """The :class:`Selection` of ``spec``; a ValueError naming the bad part and the syntax otherwise."""
    parts = [part.strip() for part in spec.split(",")]
    if not all(parts):
        raise ValueError(f"--cmcl-select {spec!r}: an empty part; expected {SYNTAX}")
    if "all" in parts or "none" in parts:
        if len(parts) > 1:
            raise ValueError(f"--cmcl-select {spec!r}: 'all' and 'none' stand alone; expected {SYNTAX}")
        return Selection(frozenset(SIDECAR_KINDS) if parts[0] == "all" else frozenset(), frozenset())
    kinds, filters = set(), set()
    for part in parts:
        kind, colon, name = part.partition(":")
        if kind not in SIDECAR_KINDS or (colon and kind != "negatives"):
            raise ValueError(f"--cmcl-select {spec!r}: unknown {part!r}; expected {SYNTAX}")
        if colon:
            _check_filter(spec, part, name)
            filters.add(name)
        else:
            kinds.add(kind)
    return Selection(frozenset(kinds), frozenset() if "negatives" in kinds else frozenset(filters))


def item_names(meta: dict) -> set:
    """The filter names a negative answers to: its level, kind, level/kind and kind/type."""
    level = meta.get("level", "")
    swapped = meta.get("swapped") or {}
    if isinstance(swapped, str):
        swapped = {"kind": swapped}
    kind, kind_type = swapped.get("kind", ""), swapped.get("type", "")
    names = {level, kind}
    if level and kind:
        names.add(f"{level}/{kind}")
    if kind and kind_type:
        names.add(f"{kind}/{kind_type}")
    return names - {""}


class _Items:
    """The selected items of an indexed dataset: ``sizes`` and ``[i]`` as the dataset's."""

    def __init__(self, dataset, index: np.ndarray):
        self.dataset, self.index = dataset, index
        self.sizes = np.asarray(dataset.sizes)[index] if len(index) else np.zeros(0, dtype=np.int64)

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        return self.dataset[int(self.index[i])]


class SelectedSidecar:
    """A text sidecar (``formats.cmcl_sidecars.CaptionSidecar``) restricted to the items ``keep`` marks; it
    reads like the sidecar itself: ``kind``, ``offsets``, ``items.sizes`` and ``[caption]``."""

    def __init__(self, sidecar, keep: Sequence[bool]):
        keep = np.asarray(keep, dtype=bool)
        if len(keep) != len(sidecar.items):
            raise ValueError(f"a selection of {len(keep)} items for a sidecar of {len(sidecar.items)}")
        self.kind = sidecar.kind
        kept_before = np.concatenate([[0], np.cumsum(keep)])
        self.offsets = kept_before[np.asarray(sidecar.offsets, dtype=np.int64)]
        self.items = _Items(sidecar.items, np.flatnonzero(keep))

    def __getitem__(self, caption: int) -> List[torch.Tensor]:
        start, end = int(self.offsets[caption]), int(self.offsets[caption + 1])
        return [self.items[i].long() for i in range(start, end)]


def select_negatives(sidecar, meta: Sequence[dict], filters: FrozenSet[str], where: str):
    """The view of a negatives sidecar keeping the items any of ``filters`` names; ``meta`` holds one record
    per item. A filter that names none of them is an error naming the names there are (``where``: the
    sidecar's path), so that an ablation never runs on nothing by a typo."""
    if len(meta) != len(sidecar.items):
        raise ValueError(f"{where}.meta.jsonl: {len(meta)} records for {len(sidecar.items)} negatives; rebuild the "
                         f"sidecars with build_cmcl_sidecars.py")
    names = [item_names(m) for m in meta]
    present = set().union(*names) if names else set()
    missing = sorted(filters - present)
    if names and missing:
        raise ValueError(f"--cmcl-select: negatives:{', negatives:'.join(missing)} selects none of the {len(meta)} "
                         f"negatives of {where}; they are: {', '.join(sorted(present))}")
    return SelectedSidecar(sidecar, [bool(filters & n) for n in names])


def select_sidecars(sidecars: Dict[str, object], selection: Selection, read_meta, where: str) -> Dict[str, object]:
    """The sidecars a run uses: those ``selection`` names, the negatives filtered (their metadata from
    ``read_meta()``)."""
    chosen = {kind: sidecar for kind, sidecar in sidecars.items() if selection.uses(kind)}
    if "negatives" in chosen and "negatives" not in selection.kinds:
        chosen["negatives"] = select_negatives(chosen["negatives"], read_meta(), selection.negative_filters, where)
    return chosen
