"""Readable CMCL outputs (``cmcl_raw``) -> the binary sidecars ``unimo_pretrain`` reads (``cmcl_sidecars``).

Texts are encoded exactly like the captions (same BPE, same dictionary, ``</s>`` appended);
retrieved images become rows of the caption dataset's region store. Several files of one kind
(e.g. TF-IDF and scene-graph negatives) are merged per caption, dropping repeated texts.
"""
import glob
import logging
import os

from fairseq.data import Dictionary

from ...common.artifacts import InputError, write_manifest
from ...formats import cmcl_sidecars
from ...formats.bpe import BpeTokenizer
from ...formats.caption_sets import read_caption_records
from ...formats.cmcl_candidates import cmcl_raw_path, read_cmcl_raw, text_key
from ...formats.region_store import open_region_store_of

logger = logging.getLogger(__name__)

FIELDS = {"paraphrases": "text", "negatives": "text", "texts": "text", "images": "image_id"}


def default_inputs(pairs_dir, split):
    """The files the rewriting and retrieval scripts write by default: ``{split}.cmcl_raw.{kind}*.jsonl``."""
    return {kind: sorted(glob.glob(cmcl_raw_path(glob.escape(pairs_dir), glob.escape(split), kind + "*")))
            for kind in FIELDS}


def _merge(files, captions, field):
    """Per caption, the items of every file in order, the first of repeated texts (or images) kept."""
    merged = [[] for _ in captions]
    seen = [set() for _ in captions]
    for path in files:
        for i, items in enumerate(read_cmcl_raw(path, captions, field)):
            for item in items:
                key = text_key(item[field])
                if key not in seen[i]:
                    seen[i].add(key)
                    merged[i].append(item)
    return merged


def build_cmcl_sidecars(pairs_dir, split, dict_path, bpe_cfg, inputs):
    """Write the sidecars of ``PAIRS/{split}`` from ``inputs`` (kind -> list of cmcl_raw files)."""
    captions = read_caption_records(pairs_dir, split)
    prefix = os.path.join(pairs_dir, split)
    dictionary = Dictionary.load(dict_path)
    tokenize = BpeTokenizer(bpe_cfg)
    stats = {}
    for kind, files in inputs.items():
        if not files:
            continue
        items = _merge(files, captions, FIELDS[kind])
        stats[kind] = {"files": [os.path.abspath(f) for f in files], "items": sum(map(len, items)),
                       "captions_with_items": sum(1 for it in items if it)}
        if kind == cmcl_sidecars.IMAGE_KIND:
            store = open_region_store_of(pairs_dir)
            rows = []
            for caption, caption_items in zip(captions, items):
                try:
                    rows.append([store.row_of(it["image_id"]) for it in caption_items])
                except KeyError as e:
                    raise InputError(files[0], f"caption {caption['caption_id']}: {e.args[0]}") from None
            cmcl_sidecars.write_image_sidecar(prefix, rows, store)
        else:
            tokens = [[dictionary.encode_line(it["text"], line_tokenizer=tokenize, add_if_not_exist=False,
                                              append_eos=True).long()
                       for it in caption_items] for caption_items in items]
            meta = [[{k: v for k, v in it.items() if k != "text"} for it in caption_items] for caption_items in items]
            cmcl_sidecars.write_text_sidecar(prefix, kind, tokens, len(dictionary),
                                             meta if kind == "negatives" else None)
        logger.info("%s %s: %d items for %d of %d captions", split, kind, stats[kind]["items"],
                    stats[kind]["captions_with_items"], len(captions))
    if not stats:
        raise ValueError(f"no CMCL inputs for {prefix} (looked for {split}.cmcl_raw.<kind>*.jsonl)")
    return write_manifest(prefix + ".cmcl", "cmcl_sidecars", captions=len(captions), kinds=stats,
                          dictionary=os.path.abspath(dict_path), bpe=vars(bpe_cfg))
