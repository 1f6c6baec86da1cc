"""The GLUE tasks the plugin prepares: each task's text and label columns, its classes and its split files.

A labeled set records its GLUE task by these names (``prepare_glue.py`` writes them, the
``unimo_sentence_prediction`` task accepts them at train time), so the table lives with the
on-disk formats rather than with the TSV reader in ``preprocess/finetune/glue_sources.py``.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class GlueTask:
    texts: Tuple[str, ...]  # text columns, in input order
    label: str  # label column
    labels: Optional[Tuple[str, ...]]  # class names; None for regression
    files: Dict[str, str]  # split -> file name in the task's GLUE directory
    columns: Optional[Tuple[str, ...]] = None  # for files without a header

    @property
    def target_kind(self):
        return "regression" if self.labels is None else "class"


NLI_LABELS = ("entailment", "neutral", "contradiction")  # MNLI's gold labels, in SNLI's (and SNLI-VE's) order
_SPLITS = {"train": "train.tsv", "valid": "dev.tsv", "test": "test.tsv"}
GLUE_TASKS = {
    "SST-2": GlueTask(("sentence",), "label", ("0", "1"), _SPLITS),
    "MNLI": GlueTask(("sentence1", "sentence2"), "gold_label", NLI_LABELS, {
        "train": "train.tsv", "valid": "dev_matched.tsv", "valid_mismatched": "dev_mismatched.tsv",
        "test": "test_matched.tsv", "test_mismatched": "test_mismatched.tsv"}),
    "CoLA": GlueTask(("sentence",), "label", ("0", "1"), _SPLITS, columns=("source", "label", "label_notes", "sentence")),
    "STS-B": GlueTask(("sentence1", "sentence2"), "score", None, _SPLITS),
}
