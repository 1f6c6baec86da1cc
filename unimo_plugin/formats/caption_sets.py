"""Caption sets: per-split fairseq caption datasets whose items point at rows of a region store.

``binarize_captions.py`` writes one (``preprocess/captions/caption_binarizer.py``); the pretraining,
caption and retrieval tasks, retrieval evaluation and the CMCL scripts read it. The directory is
written atomically, with ``DIR.manifest.json`` (kind ``unimo_captions``) beside it naming the region
store the rows refer to (``region_store`` path, ``region_store_images``, ``region_store_created`` and
``region_store_digest``, the store's identity that readers check) and counting each split
(``splits``). Per split it holds::

    {split}.bin, {split}.idx   caption tokens (BPE + dictionary as binarize_text, </s> appended)
    {split}.image_rows.npy     int64, the region-store row of each caption's image
    {split}.captions.jsonl     {"caption_id", "image_id", "text"} per caption, in item order

Images of a split are numbered in the order of their first caption (:func:`read_caption_images`), so
item ``i`` of a caption task's evaluation split and sample id ``i`` of ``fairseq-generate`` are the
same image.
"""
import json
import os
import shutil
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..common.artifacts import InputError, PathLike
from .region_store import read_rows, save_rows
from .token_datasets import merge_token_datasets

KIND = "unimo_captions"
CAPTIONS_SUFFIX = ".captions.jsonl"
CAPTION_FIELDS = ("caption_id", "image_id", "text")


def captions_path(pairs_dir: PathLike, split: str) -> str:
    """``PAIRS/{split}.captions.jsonl``, the caption records of a split."""
    return os.path.join(pairs_dir, split + CAPTIONS_SUFFIX)


def read_caption_records(pairs_dir: PathLike, split: str) -> List[Dict[str, str]]:
    """The captions of a split as dicts (caption_id, image_id, text), in item order."""
    path = captions_path(pairs_dir, split)
    captions = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                captions.append({k: str(record[k]) for k in CAPTION_FIELDS})
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise InputError(path, f"not a caption record ({e})", line=line_number) from None
    return captions


def write_caption_records(prefix: PathLike, records: Sequence[Tuple[str, str, str]], rows: Sequence[int]) -> None:
    """Write the rows and the caption records ``(caption_id, image_id, text)`` of a split whose tokens are
    written beside them (``token_datasets.write_token_dataset``); the caller writes them all atomically."""
    if len(records) != len(rows):
        raise ValueError(f"{len(records)} caption records for {len(rows)} image rows")
    save_rows(prefix, rows)
    with open(f"{prefix}{CAPTIONS_SUFFIX}", "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(dict(zip(CAPTION_FIELDS, record)), ensure_ascii=False) + "\n")


def merge_caption_splits(parts: Sequence[PathLike], prefix: PathLike) -> np.ndarray:
    """Concatenate the splits at prefixes ``parts`` (tokens, rows, records, in order) into ``prefix``;
    the rows. The caller writes the directory atomically."""
    merge_token_datasets(parts, prefix)
    rows = np.concatenate([read_rows(part) for part in parts])
    save_rows(prefix, rows)
    with open(f"{prefix}{CAPTIONS_SUFFIX}", "wb") as out:
        for part in parts:
            with open(f"{part}{CAPTIONS_SUFFIX}", "rb") as f:
                shutil.copyfileobj(f, out)
    return rows


@dataclass
class CaptionImages:
    image_ids: List[str]
    rows: np.ndarray  # region-store row per image
    references: List[List[str]]  # every caption of the image, in file order
    first_caption: np.ndarray  # caption index (token dataset item) of each image's first caption


def read_caption_images(prefix: str) -> CaptionImages:
    """One item per image of the split ``prefix`` = ``PAIRS/split``, with all of its references, for
    generation and scoring."""
    pairs_dir, split = os.path.split(prefix)
    captions = read_caption_records(pairs_dir, split)
    rows = read_rows(prefix, len(captions))
    order, references, first = {}, [], []
    for index, caption in enumerate(captions):
        if caption["image_id"] not in order:
            order[caption["image_id"]] = len(order)
            references.append([])
            first.append(index)
        references[order[caption["image_id"]]].append(caption["text"])
    first = np.asarray(first, dtype=np.int64)
    return CaptionImages(list(order), rows[first].astype(np.int64), references, first)
