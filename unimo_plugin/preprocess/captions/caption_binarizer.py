"""Caption corpora -> a caption set (``formats/caption_sets.py``): per-split fairseq caption datasets
whose items point at rows of a region store.

One sharded run (``common/sharded_run.py``): shard K of N binarizes a contiguous range of the captions
(of every split), the merge concatenates the shards split by split.
"""
import logging
import os

import numpy as np
from fairseq.binarizer import VocabularyDatasetBinarizer
from fairseq.data import Dictionary

from ...common.artifacts import InputError, atomic_output, manifest_path, read_manifest, write_manifest
from ...common.sharded_run import ShardedRun
from ...formats.bpe import BpeTokenizer, bpe_files
from ...formats.caption_sets import KIND, merge_caption_splits, write_caption_records
from ...formats.region_store import RegionStore, store_fields
from ...formats.token_datasets import summary_fields, write_token_dataset
from .caption_sources import ID_FIELDS, read_caption_corpora

logger = logging.getLogger(__name__)

# What every shard records alike: the merged caption set records them as they are.
_SHARED_KEYS = ("region_store", "region_store_images", "region_store_created", "region_store_digest", "sources",
                "dictionary", "dictionary_size", "bpe", "options")


def _image_rows(captions, store, skip_missing, other_id_fields):
    """Store rows of the captions' images; captions without one fail, or are dropped and counted.

    ``other_id_fields()`` gives ``(field, images found)`` for the Karpathy id fields not used: when the
    store names the images by another one, the error says which instead of offering to drop them.
    """
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
            raise InputError(first.path, message + _missing_hint(other_id_fields(), len(ids)), line=first.line)
        logger.warning(f"dropped {message}")
    return kept, len(missing)


def _missing_hint(found_by_field, missing_images):
    """What to do about missing images: the id field under which the store has them, else --skip-missing."""
    best = max(found_by_field, key=lambda item: item[1], default=None)
    if best is None or best[1] == 0:
        return "; --skip-missing drops them"
    field, found = best
    if found >= missing_images:
        return (f"; the store names these images by their {field}, not by the --id-field used: pass "
                f"--id-field {field}")
    return f"; --id-field {field} finds {found} of them in the store, --skip-missing drops them"


class _CaptionRun(ShardedRun):
    def __init__(self, output_dir, inputs=None, region_store=None, dict_path=None, bpe_cfg=None, options=None,
                 workers=1, num_shards=1):
        files = None
        if inputs is not None:
            files = {"captions": inputs, "region_store": [region_store, manifest_path(region_store)],
                     "dictionary": [dict_path], "bpe": bpe_files(bpe_cfg)}
            options = dict(options, bpe=None if bpe_cfg is None else vars(bpe_cfg))
        super().__init__(output_dir, options, files, num_shards)
        self.inputs, self.region_store, self.dict_path, self.bpe_cfg = inputs, region_store, dict_path, bpe_cfg
        self.options, self.workers = options, workers

    def count_items(self):
        o = self.options
        self.captions = read_caption_corpora(self.inputs, o["format"], o["tsv_splits"], o["id_field"],
                                             o["merge_restval"])
        return len(self.captions)

    def _found_under_other_id_fields(self, start, end):
        o = self.options
        for field in ID_FIELDS:
            if field in ("auto", o["id_field"]):
                continue
            try:
                captions = read_caption_corpora(self.inputs, o["format"], o["tsv_splits"], field, o["merge_restval"])
            except InputError:  # some image lacks that field
                continue
            missing = {c.image_id for c, mine in zip(captions[start:end], self.captions[start:end])
                       if not self.store.has(mine.image_id)}
            yield field, sum(1 for image_id in missing if self.store.has(image_id))

    def write_shard(self, shard, progress):
        self.store = RegionStore(self.region_store)
        kept, num_missing = _image_rows(self.captions[shard.start:shard.end], self.store,
                                        self.options["skip_missing"],
                                        lambda: list(self._found_under_other_id_fields(shard.start, shard.end)))
        by_split = {}
        for caption, row in kept:
            by_split.setdefault(caption.split, []).append((caption, row))
        dictionary = Dictionary.load(self.dict_path)
        binarizer = VocabularyDatasetBinarizer(dictionary, tokenize=BpeTokenizer(self.bpe_cfg))
        splits = {}
        with atomic_output(shard.output) as tmp:
            os.makedirs(tmp)
            for split in sorted(by_split):
                prefix, items = os.path.join(tmp, split), by_split[split]
                summary = write_token_dataset(prefix, (caption.text for caption, _ in items), binarizer,
                                              len(dictionary), self.workers, total=len(items),
                                              desc=f"{os.path.basename(shard.output)}/{split}")
                rows = [row for _, row in items]
                write_caption_records(prefix, [(c.caption_id, c.image_id, c.text) for c, _ in items], rows)
                splits[split] = dict(captions=len(items), images=len(np.unique(rows)), **summary_fields(summary))
        write_manifest(shard.output, KIND, splits=splits, skipped_missing=num_missing,
                       **store_fields(self.store, shard.output), sources=[os.path.abspath(p) for p in self.inputs],
                       dictionary=os.path.abspath(self.dict_path), dictionary_size=len(dictionary),
                       bpe=self.options["bpe"], options={k: v for k, v in self.options.items() if k != "bpe"})
        return {"captions": len(kept), "skipped_missing": num_missing}

    def concatenate(self, shards, output):
        """Split by split, the shards' datasets, rows and records in order."""
        manifests = [read_manifest(s.output) for s in shards]
        splits = {}
        with atomic_output(output) as tmp:
            os.makedirs(tmp)
            for split in sorted({split for m in manifests for split in m["splits"]}):
                parts = [os.path.join(s.output, split) for s, m in zip(shards, manifests) if split in m["splits"]]
                rows = merge_caption_splits(parts, os.path.join(tmp, split))
                counts = [m["splits"][split] for m in manifests if split in m["splits"]]
                splits[split] = dict({key: sum(c[key] for c in counts) for key in counts[0]},
                                     images=len(np.unique(rows)))
        write_manifest(output, KIND, splits=splits, skipped_missing=sum(m["skipped_missing"] for m in manifests),
                       **{key: manifests[0].get(key) for key in _SHARED_KEYS})
        return None


def binarize_captions(inputs, output_dir, region_store, dict_path, bpe_cfg, fmt="auto", tsv_splits=("train",),
                      id_field="auto", merge_restval=False, skip_missing=False, workers=1, num_shards=1,
                      shard_id=0):
    """Write shard ``shard_id`` of ``num_shards`` (contiguous captions, all splits); return its manifest.

    A shard complete with the same options and inputs is skipped, so an interrupted run resumes.
    """
    options = {"format": fmt, "tsv_splits": list(tsv_splits), "id_field": id_field, "merge_restval": merge_restval,
               "skip_missing": skip_missing}
    run = _CaptionRun(output_dir, list(inputs), region_store, dict_path, bpe_cfg, options, workers, num_shards)
    (result,) = run.run([shard_id])
    if result.skipped:
        logger.info(f"{result.output} is complete, skipping (remove {manifest_path(result.output)} to redo it)")
    return read_manifest(result.output)


def merge_caption_shards(output_dir, num_shards):
    """Concatenate, split by split, the complete shards of ``output_dir`` into it; return the manifest."""
    (result,) = _CaptionRun(output_dir, num_shards=num_shards).run([], merge=True)
    if result.skipped:
        logger.info(f"{output_dir} is complete, skipping (remove {manifest_path(output_dir)} to redo it)")
    return read_manifest(output_dir)
