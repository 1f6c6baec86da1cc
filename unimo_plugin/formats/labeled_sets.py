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

:func:`read_labeled_split` reads a split's files for the tasks.
"""
import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from fairseq.binarizer import VocabularyDatasetBinarizer
from fairseq.data import Dictionary
from fairseq.data.indexed_dataset import data_file_path

from ..common.artifacts import InputError, PathLike, atomic_output, read_manifest, write_manifest
from .bpe import BpeTokenizer
from .region_store import RegionStore, read_rows, save_rows, store_fields
from .token_datasets import summary_fields, write_token_dataset

KIND = "unimo_labeled"
TARGET_KINDS = ("class", "regression", "soft")
LABELS_FILE = "labels.txt"
LABELS_SUFFIX, SOFT_TARGETS_SUFFIX, RECORDS_SUFFIX = ".labels.npy", ".soft_targets.npz", ".records.jsonl"


def input_prefix(split_prefix: PathLike, k: int) -> str:
    """The token dataset of the ``k``-th text of each item."""
    return f"{split_prefix}.input{k}"


@dataclass
class LabeledExample:
    """One item read from a public file: its texts, image, target and what evaluation needs back."""

    path: str
    line: Union[int, str]  # line number, or a position such as "questions[12]" in a JSON file
    texts: Tuple[str, ...]
    target: Any = None  # class index, float, {answer index: score}, or None when unlabeled
    image_id: Optional[str] = None
    record: Dict[str, Any] = field(default_factory=dict)

    def error(self, message: str) -> InputError:
        if isinstance(self.line, int):
            return InputError(self.path, message, line=self.line)
        return InputError(self.path, f"{self.line}: {message}")


def read_labels(data_dir: PathLike) -> Optional[List[str]]:
    path = os.path.join(data_dir, LABELS_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def read_records(data_dir: PathLike, split: str) -> List[Dict[str, Any]]:
    with open(os.path.join(data_dir, split + RECORDS_SUFFIX), encoding="utf-8") as f:
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
        np.savez(prefix + SOFT_TARGETS_SUFFIX, offsets=offsets, labels=labels, scores=scores)
    else:
        np.save(prefix + LABELS_SUFFIX, np.array(targets, dtype=np.int64 if target_kind == "class" else np.float32))
    return True


def _write_split(prefix, examples, binarizer, vocab_size, target_kind, store, workers):
    num_texts = {len(e.texts) for e in examples}
    if len(num_texts) > 1:
        raise examples[0].error(f"items of one split must have the same number of texts, found {sorted(num_texts)}")
    counts = {"items": len(examples)}
    for k in range(num_texts.pop() if examples else 1):
        summary = write_token_dataset(input_prefix(prefix, k), (e.texts[k] for e in examples), binarizer, vocab_size,
                                      workers, total=len(examples), desc=os.path.basename(input_prefix(prefix, k)))
        counts[f"input{k}"] = summary_fields(summary)
    if store is not None:
        rows = _image_rows(examples, store)
        save_rows(prefix, rows)
        counts["images"] = len(np.unique(rows))
    counts["labeled"] = _write_targets(prefix, examples, target_kind)
    with open(prefix + RECORDS_SUFFIX, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(dict(source=f"{e.path}:{e.line}", **e.record), ensure_ascii=False) + "\n")
    return counts


def write_labeled_splits(output_dir: PathLike, task: str, splits: Dict[str, List[LabeledExample]], target_kind: str,
                         labels: Optional[Sequence[str]], dict_path: PathLike, bpe_cfg: Any,
                         region_store: Optional[PathLike] = None, workers: int = 1,
                         **manifest_fields: Any) -> Dict[str, Any]:
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


def read_labeled_manifest(data_dir: PathLike) -> Dict[str, Any]:
    manifest = read_manifest(data_dir)
    if manifest.get("kind") != KIND:
        raise ValueError(f"{data_dir}: manifest kind {manifest.get('kind')!r}, expected {KIND!r} "
                         f"(made by data_scripts/prepare_*.py)")
    return manifest


@dataclass
class LabeledSplit:
    """The files of one split, as the tasks read them."""

    inputs: List[str]  # prefixes of the token datasets of the items' first, second... texts
    labels: Optional[np.ndarray]  # class index or regression value per item (memory-mapped)
    soft_targets: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]]  # offsets, labels, scores (VQA)
    image_rows: Optional[np.ndarray]  # region-store row per item, when ``images``


def read_labeled_split(data_dir: PathLike, split: str, images: bool) -> LabeledSplit:
    """The split's files; a split without a first text is an error naming its file. Unlabeled splits
    have neither labels nor soft targets."""
    prefix = os.path.join(data_dir, split)
    inputs = []
    while os.path.exists(data_file_path(input_prefix(prefix, len(inputs)))):
        inputs.append(input_prefix(prefix, len(inputs)))
    if not inputs:
        raise FileNotFoundError(f"{data_file_path(input_prefix(prefix, 0))}: no split {split!r} in {data_dir}")
    labels = np.load(prefix + LABELS_SUFFIX, mmap_mode="r") if os.path.exists(prefix + LABELS_SUFFIX) else None
    soft = None
    if labels is None and os.path.exists(prefix + SOFT_TARGETS_SUFFIX):
        with np.load(prefix + SOFT_TARGETS_SUFFIX) as npz:
            soft = (npz["offsets"], npz["labels"], npz["scores"])
    return LabeledSplit(inputs, labels, soft, read_rows(prefix) if images else None)
