"""Caption corpora -> per-split fairseq caption datasets whose items point at rows of a region store.

The output directory is written atomically, with ``DIR.manifest.json`` beside it naming the region
store the rows refer to (``region_store`` path, ``region_store_images``, ``region_store_created`` and
``region_store_digest``, the store's identity that readers check). Per split it holds::

    {split}.bin, {split}.idx   caption tokens (BPE + dictionary as binarize_text, </s> appended)
    {split}.image_rows.npy     int64, the region-store row of each caption's image
    {split}.captions.jsonl     {"caption_id", "image_id", "text"} per caption, in item order
"""
import json
import logging
import os
import shutil

import numpy as np
from fairseq.binarizer import VocabularyDatasetBinarizer
from fairseq.data import Dictionary

from ...common.artifacts import (
    InputError,
    atomic_output,
    is_complete,
    manifest_path,
    read_manifest,
    shard_bounds,
    shard_output,
    write_manifest,
)
from ...formats.bpe import BpeTokenizer
from ...formats.region_store import RegionStore, store_fields
from ...formats.token_datasets import merge_token_datasets, summary_fields, write_token_dataset
from .caption_sources import read_captions

logger = logging.getLogger(__name__)

KIND = "unimo_captions"
ROWS_SUFFIX, CAPTIONS_SUFFIX = ".image_rows.npy", ".captions.jsonl"
_MERGE_KEYS = ("region_store", "region_store_images", "region_store_created", "region_store_digest", "sources",
               "dictionary", "bpe", "options")


def _image_rows(captions, store, skip_missing):
    """Store rows of the captions' images; captions without one fail, or are dropped and counted."""
    kept, missing = [], []
    for caption in captions:
        try:
            kept.append((caption, store.row_of(caption.image_id)))
        except KeyError:
            missing.append(caption)
    if missing:
        ids = list(dict.fromkeys(c.image_id for c in missing))
        message = (f"{len(missing)} captions of {len(ids)} images have no regions in {store.path} "
                   f"(first: {', '.join(ids[:5])})")
        if not skip_missing:
            first = missing[0]
            raise InputError(first.path, f"{message}; --skip-missing drops them", line=first.line)
        logger.warning(f"dropped {message}")
    return kept, len(missing)


def _write_split(prefix, items, binarizer, vocab_size, workers):
    summary = write_token_dataset(prefix, (caption.text for caption, _ in items), binarizer, vocab_size,
                                  workers, total=len(items), desc=os.path.basename(prefix))
    rows = np.array([row for _, row in items], dtype=np.int64)
    np.save(prefix + ROWS_SUFFIX, rows)
    with open(prefix + CAPTIONS_SUFFIX, "w", encoding="utf-8") as f:
        for caption, _ in items:
            record = {"caption_id": caption.caption_id, "image_id": caption.image_id, "text": caption.text}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return dict(captions=len(items), images=len(np.unique(rows)), **summary_fields(summary))


def binarize_captions(inputs, output_dir, region_store, dict_path, bpe_cfg, fmt="auto", tsv_splits=("train",),
                      id_field="auto", merge_restval=False, skip_missing=False, workers=1, num_shards=1,
                      shard_id=0):
    """Write shard ``shard_id`` of ``num_shards`` (contiguous captions, all splits); return its manifest.

    A shard whose manifest exists is complete and is skipped, so an interrupted run resumes.
    """
    output = shard_output(output_dir, num_shards, shard_id)
    if is_complete(output):
        logger.info(f"{output} is complete, skipping (remove {manifest_path(output)} to redo it)")
        return read_manifest(output)
    captions = read_captions(inputs, fmt, tsv_splits, id_field, merge_restval)
    start, end = shard_bounds(len(captions), num_shards, shard_id)
    store = RegionStore(region_store)
    kept, num_missing = _image_rows(captions[start:end], store, skip_missing)
    by_split = {}
    for caption, row in kept:
        by_split.setdefault(caption.split, []).append((caption, row))
    dictionary = Dictionary.load(dict_path)
    binarizer = VocabularyDatasetBinarizer(dictionary, tokenize=BpeTokenizer(bpe_cfg))
    splits = {}
    with atomic_output(output) as tmp:
        os.makedirs(tmp)
        for split in sorted(by_split):
            splits[split] = _write_split(os.path.join(tmp, split), by_split[split], binarizer, len(dictionary),
                                         workers)
    return write_manifest(
        output, KIND, splits=splits, skipped_missing=num_missing, caption_range=[start, end],
        num_shards=num_shards, shard_id=shard_id, **store_fields(store, output),
        sources=[os.path.abspath(p) for p in inputs], dictionary=os.path.abspath(dict_path),
        dictionary_size=len(dictionary), bpe=vars(bpe_cfg),
        options={"format": fmt, "tsv_splits": list(tsv_splits), "id_field": id_field,
                 "merge_restval": merge_restval, "skip_missing": skip_missing},
    )


def merge_caption_shards(output_dir, num_shards):
    """Concatenate, split by split, the complete shards of ``output_dir`` into it; return the manifest."""
    if is_complete(output_dir):
        logger.info(f"{output_dir} is complete, skipping (remove {manifest_path(output_dir)} to redo it)")
        return read_manifest(output_dir)
    shards = [shard_output(output_dir, num_shards, k) for k in range(num_shards)]
    missing = [s for s in shards if not is_complete(s)]
    if missing:
        raise ValueError(f"cannot merge {output_dir}: {len(missing)} of {num_shards} shards are not complete "
                         f"({', '.join(missing)})")
    manifests = [read_manifest(s) for s in shards]
    for key in _MERGE_KEYS:  # shards written before stores had a digest lack it
        if len({json.dumps(m.get(key), sort_keys=True) for m in manifests}) > 1:
            raise ValueError(f"cannot merge {output_dir}: its shards differ in {key}")
    splits = {}
    with atomic_output(output_dir) as tmp:
        os.makedirs(tmp)
        for split in sorted({split for m in manifests for split in m["splits"]}):
            parts = [os.path.join(s, split) for s, m in zip(shards, manifests) if split in m["splits"]]
            prefix = os.path.join(tmp, split)
            merge_token_datasets(parts, prefix)
            rows = np.concatenate([np.load(p + ROWS_SUFFIX) for p in parts])
            np.save(prefix + ROWS_SUFFIX, rows)
            with open(prefix + CAPTIONS_SUFFIX, "wb") as out:
                for part in parts:
                    with open(part + CAPTIONS_SUFFIX, "rb") as f:
                        shutil.copyfileobj(f, out)
            counts = [m["splits"][split] for m in manifests if split in m["splits"]]
            splits[split] = {key: sum(c[key] for c in counts) for key in counts[0]}
            splits[split]["images"] = len(np.unique(rows))
    first = manifests[0]
    return write_manifest(
        output_dir, KIND, splits=splits, skipped_missing=sum(m["skipped_missing"] for m in manifests),
        caption_range=[0, manifests[-1]["caption_range"][1]], merged_shards=shards,
        dictionary_size=first["dictionary_size"], **{key: first.get(key) for key in _MERGE_KEYS},
    )
