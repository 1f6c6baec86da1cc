"""Labeled fine-tuning sets on disk: one directory per task, written atomically by the
``prepare_*`` scripts and read by the ``unimo_vqa``, ``unimo_snli_ve`` and
``unimo_sentence_prediction`` tasks. ``OUT.manifest.json`` (kind ``unimo_labeled``) records the
task, the target kind, the splits with their counts and the region store (``region_store`` path,
``region_store_images``, ``region_store_created`` and ``region_store_digest``, the store's identity
that the tasks check). The directory holds::

    dict.txt                       the dictionary the texts were binarized with (the pretraining one)
    labels.txt                     class names / VQA answers, in index order (not for regression)
    {split}.input0.bin/.idx        first text of each item (question, hypothesis, GLUE sentence1)
    {split}.input1.bin/.idx        second text (GLUE sentence pairs only)
    {split}.image_rows.npy         int64 region-store row of each item's image (VQA, SNLI-VE)
    {split}.labels.npy             int64 class | float32 regression value (absent for unlabeled splits)
    {split}.soft_targets.npz       VQA: item i owns labels/scores[offsets[i]:offsets[i + 1]]
    {split}.records.jsonl          per item: its source (file:line) and ids, e.g. question_id, answers
"""
import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from fairseq.binarizer import VocabularyDatasetBinarizer
from fairseq.data import Dictionary

from ..common.artifacts import InputError, atomic_output, read_manifest, write_manifest
from .bpe import BpeTokenizer
from .region_store import RegionStore, store_fields
from .token_datasets import summary_fields, write_token_dataset

KIND = "unimo_labeled"
TARGET_KINDS = ("class", "regression", "soft")
LABELS_FILE = "labels.txt"


@dataclass
class LabeledExample:
    """One item read from a public file: its texts, image, target and what evaluation needs back."""

    path: str
    line: Union[int, str]  # line number, or a position such as "questions[12]" in a JSON file
    texts: Tuple[str, ...]
    target: Any = None  # class index, float, {answer index: score}, or None when unlabeled
    image_id: Optional[str] = None
    record: Dict[str, Any] = field(default_factory=dict)

    def error(self, message):
        if isinstance(self.line, int):
            return InputError(self.path, message, line=self.line)
        return InputError(self.path, f"{self.line}: {message}")


def read_labels(data_dir):
    path = os.path.join(data_dir, LABELS_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def read_records(data_dir, split):
    with open(os.path.join(data_dir, f"{split}.records.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _image_rows(examples, store):
    rows = []
    for example in examples:
        if example.image_id is None:
            raise example.error("no image id")
        try:
            rows.append(store.row_of(example.image_id))
        except KeyError:
            raise example.error(f"image {example.image_id!r} is not in region store {store.path}") from None
    return np.array(rows, dtype=np.int64)


def _write_targets(prefix, examples, target_kind):
    targets = [e.target for e in examples]
    if all(t is None for t in targets):
        return False
    missing = next((e for e in examples if e.target is None), None)
    if missing is not None:
        raise missing.error("no label, while other items of the split have one")
    if target_kind == "soft":
        offsets = np.cumsum([0] + [len(t) for t in targets]).astype(np.int64)
        labels = np.array([k for t in targets for k in t], dtype=np.int64)
        scores = np.array([s for t in targets for s in t.values()], dtype=np.float32)
        np.savez(prefix + ".soft_targets.npz", offsets=offsets, labels=labels, scores=scores)
    else:
        np.save(prefix + ".labels.npy", np.array(targets, dtype=np.int64 if target_kind == "class" else np.float32))
    return True


def _write_split(prefix, examples, binarizer, vocab_size, target_kind, store, workers):
    num_texts = {len(e.texts) for e in examples}
    if len(num_texts) > 1:
        raise examples[0].error(f"items of one split must have the same number of texts, found {sorted(num_texts)}")
    counts = {"items": len(examples)}
    for k in range(num_texts.pop() if examples else 1):
        summary = write_token_dataset(f"{prefix}.input{k}", (e.texts[k] for e in examples), binarizer, vocab_size,
                                      workers, total=len(examples), desc=f"{os.path.basename(prefix)}.input{k}")
        counts[f"input{k}"] = summary_fields(summary)
    if store is not None:
        rows = _image_rows(examples, store)
        np.save(prefix + ".image_rows.npy", rows)
        counts["images"] = len(np.unique(rows))
    counts["labeled"] = _write_targets(prefix, examples, target_kind)
    with open(prefix + ".records.jsonl", "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(dict(source=f"{e.path}:{e.line}", **e.record), ensure_ascii=False) + "\n")
    return counts


def write_labeled_splits(output_dir, task, splits: Dict[str, List[LabeledExample]], target_kind,
                         labels: Optional[Sequence[str]], dict_path, bpe_cfg, region_store=None, workers=1,
                         **manifest_fields):
    """Write every split of ``splits`` into ``output_dir`` (atomically, as a whole); return the manifest."""
    if target_kind not in TARGET_KINDS:
        raise ValueError(f"target kind {target_kind!r} is not one of {TARGET_KINDS}")
    dictionary = Dictionary.load(dict_path)
    binarizer = VocabularyDatasetBinarizer(dictionary, tokenize=BpeTokenizer(bpe_cfg))
    store = RegionStore(region_store) if region_store else None
    written = {}
    with atomic_output(output_dir) as tmp:
        os.makedirs(tmp)
        shutil.copyfile(dict_path, os.path.join(tmp, "dict.txt"))
        if labels is not None:
            with open(os.path.join(tmp, LABELS_FILE), "w", encoding="utf-8") as f:
                f.writelines(f"{label}\n" for label in labels)
        for split, examples in splits.items():
            written[split] = _write_split(os.path.join(tmp, split), examples, binarizer, len(dictionary),
                                          target_kind, store, workers)
    manifest = dict(task=task, target_kind=target_kind, num_labels=None if labels is None else len(labels),
                    splits=written, dictionary=os.path.abspath(dict_path), dictionary_size=len(dictionary),
                    bpe=vars(bpe_cfg), **manifest_fields)
    if store is not None:
        manifest.update(store_fields(store, output_dir))
    return write_manifest(output_dir, KIND, **manifest)


def read_labeled_manifest(data_dir):
    manifest = read_manifest(data_dir)
    if manifest.get("kind") != KIND:
        raise ValueError(f"{data_dir}: manifest kind {manifest.get('kind')!r}, expected {KIND!r} "
                         f"(made by data_scripts/prepare_*.py)")
    return manifest
