"""CMCL sidecars: per caption, the extra texts and images that cross-modal contrastive learning uses.

For a caption split ``PAIRS/{split}`` (see ``caption_sets.py``) the sidecars sit beside it::

    {split}.cmcl.paraphrases.{bin,idx}     X+: sentence-level rewrites (back-translation) of the caption
    {split}.cmcl.negatives.{bin,idx}       X-: hard negatives (TF-IDF retrieved captions, scene-graph rewrites)
    {split}.cmcl.negatives.meta.jsonl      one JSON per negative: its level and what was swapped
    {split}.cmcl.texts.{bin,idx}           XT: corpus sentences close to the caption, paired with its image
    {split}.cmcl.images.npy                XI: region-store rows of images close to the caption's image
    {split}.cmcl.images.manifest.json      the region store of those rows (path, image count, creation
                                           time and region_store_digest, its identity that readers check)
    {split}.cmcl.<kind>.offsets.npy        int64 (num_captions + 1): caption i owns items offsets[i]:offsets[i+1]

Every kind is optional and independent; a caption may have no items of a kind. Token items are
``</s>``-terminated like the captions themselves.
"""
import json
import os
from typing import Any, List, Optional, Sequence, Union

import numpy as np
import torch
from fairseq.data.indexed_dataset import MMapIndexedDataset, data_file_path, index_file_path, make_builder

from ..common.artifacts import PathLike, atomic_output, manifest_path, read_manifest, write_manifest
from .region_store import RegionStore, check_store_identity, store_fields

TEXT_KINDS = ("paraphrases", "negatives", "texts")
IMAGE_KIND = "images"
KINDS = TEXT_KINDS + (IMAGE_KIND,)


def _prefix(split_prefix, kind):
    return f"{split_prefix}.cmcl.{kind}"


def offsets_path(split_prefix: PathLike, kind: str) -> str:
    return _prefix(split_prefix, kind) + ".offsets.npy"


def exists(split_prefix: PathLike, kind: str) -> bool:
    return os.path.exists(offsets_path(split_prefix, kind))


def write_text_sidecar(split_prefix: PathLike, kind: str, items_per_caption: Sequence[Sequence[Any]], vocab_size: int,
                       meta_per_caption: Optional[Sequence[Sequence[dict]]] = None) -> None:
    """Write a text sidecar: ``items_per_caption[i]`` is a list of 1-d token tensors for caption i.

    ``meta_per_caption`` (negatives only) gives one JSON-serialisable record per item. Outputs are
    atomic; the offsets file is written last, so a sidecar without it is never read.
    """
    if kind not in TEXT_KINDS:
        raise ValueError(f"unknown text sidecar kind {kind!r}; expected one of {TEXT_KINDS}")
    items_per_caption = [list(items) for items in items_per_caption]
    if meta_per_caption is not None:
        meta_per_caption = [list(records) for records in meta_per_caption]
        for caption, (items, records) in enumerate(zip(items_per_caption, meta_per_caption)):
            if len(records) != len(items):
                raise ValueError(f"caption {caption}: {len(records)} metadata records for {len(items)} items")
        if len(meta_per_caption) != len(items_per_caption):
            raise ValueError(f"metadata for {len(meta_per_caption)} captions, items for {len(items_per_caption)}")
    prefix = _prefix(split_prefix, kind)
    offsets = [0]
    with atomic_output(data_file_path(prefix)) as tmp_bin, atomic_output(index_file_path(prefix)) as tmp_idx:
        builder = make_builder(tmp_bin, impl="mmap", vocab_size=vocab_size)
        for items in items_per_caption:
            for tokens in items:
                builder.add_item(torch.as_tensor(tokens, dtype=torch.long))
            offsets.append(offsets[-1] + len(items))
        builder.finalize(tmp_idx)
    if meta_per_caption is not None:
        with atomic_output(prefix + ".meta.jsonl") as tmp, open(tmp, "w") as f:
            for records in meta_per_caption:
                for record in records:
                    f.write(json.dumps(record) + "\n")
    _save_offsets(split_prefix, kind, offsets)


def write_image_sidecar(split_prefix: PathLike, rows_per_caption: Sequence[Sequence[int]], store: RegionStore) -> None:
    """Write the retrieved-image sidecar: ``rows_per_caption[i]`` lists rows of region store ``store``,
    whose identity the sidecar's manifest records."""
    rows = [int(r) for caption_rows in rows_per_caption for r in caption_rows]
    offsets = np.cumsum([0] + [len(r) for r in rows_per_caption])
    prefix = _prefix(split_prefix, IMAGE_KIND)
    with atomic_output(prefix + ".npy") as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(rows, dtype=np.int64))
    write_manifest(prefix, "cmcl_image_sidecar", captions=len(rows_per_caption), items=len(rows),
                   **store_fields(store, prefix))
    _save_offsets(split_prefix, IMAGE_KIND, offsets)


def read_meta(split_prefix: PathLike, kind: str = "negatives") -> List[dict]:
    """The metadata records of a text sidecar's items, in item order (``{split}.cmcl.negatives.meta.jsonl``)."""
    path = _prefix(split_prefix, kind) + ".meta.jsonl"
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: the sidecar has no metadata (build it with build_cmcl_sidecars.py)")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _save_offsets(split_prefix, kind, offsets):
    with atomic_output(offsets_path(split_prefix, kind)) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(offsets, dtype=np.int64))


class CaptionSidecar:
    """Read one kind of sidecar: ``sidecar[i]`` is caption i's list of token tensors (or store rows).

    The image sidecar is read with ``store``, the region store its rows will index, which must be the
    one they were written for.
    """

    def __init__(self, split_prefix: PathLike, kind: str, num_captions: int, store: Optional[RegionStore] = None):
        self.kind = kind
        self.offsets = np.load(offsets_path(split_prefix, kind), mmap_mode="r")
        if len(self.offsets) != num_captions + 1:
            raise ValueError(f"{offsets_path(split_prefix, kind)}: {len(self.offsets) - 1} captions, "
                             f"but the caption dataset {split_prefix} has {num_captions}")
        if kind == IMAGE_KIND:
            self.items = np.load(_prefix(split_prefix, kind) + ".npy", mmap_mode="r")
            count = len(self.items)
            self._check_store(_prefix(split_prefix, kind), store)
        else:
            self.items = MMapIndexedDataset(_prefix(split_prefix, kind))
            count = len(self.items)
        if int(self.offsets[-1]) != count:
            raise ValueError(f"{offsets_path(split_prefix, kind)} ends at {int(self.offsets[-1])} but "
                             f"{_prefix(split_prefix, kind)} holds {count} items")

    def _check_store(self, prefix, store):
        """The rows must index ``store`` as the one they were written for (a sidecar written before image
        sidecars had a manifest cannot tell which that was, and warns), and lie in its range."""
        check_store_identity(store, read_manifest(prefix) if os.path.exists(manifest_path(prefix)) else {}, prefix)
        if len(self.items) and int(self.items.max()) >= len(store):
            raise ValueError(f"{prefix}.npy: row {int(self.items.max())} is out of range for region store "
                             f"{store.path} with {len(store)} images")

    def __getitem__(self, caption: int) -> Union[List[int], List[torch.Tensor]]:
        start, end = int(self.offsets[caption]), int(self.offsets[caption + 1])
        if self.kind == IMAGE_KIND:
            return [int(r) for r in self.items[start:end]]
        return [self.items[i].long() for i in range(start, end)]
