"""GLUE TSV files -> labeled examples, for SST-2, MNLI, CoLA and STS-B.

Columns are found by header name (SST-2 ``sentence label``; MNLI ``... sentence1 sentence2 ...
gold_label``; STS-B ``... sentence1 sentence2 score``). CoLA's train/dev files have no header
(``source label label_notes sentence``). Test files lack the label column: their items are unlabeled
and keep the ``index`` column for a submission file.
"""
import os

from ...common.artifacts import InputError
from ...common.text_files import iter_lines
from ...formats.glue_tasks import GLUE_TASKS, GlueTask
from ...formats.labeled_sets import LabeledExample


def read_glue_tsv(path, task: GlueTask):
    lines = iter_lines(path)
    first = next(lines, None)
    if first is None:
        return []
    fields = first[1].split("\t")
    if set(task.texts) <= set(fields):
        columns, rows = fields, lines
    elif task.columns is not None:
        columns, rows = list(task.columns), [first, *lines]
    else:
        raise InputError(path, f"header has no column(s) {', '.join(set(task.texts) - set(fields))}", line=first[0])
    position = {name: k for k, name in enumerate(columns)}
    labeled = task.label in position
    examples = []
    for line_no, line in rows:
        values = line.split("\t")
        if len(values) < len(columns):
            missing = ", ".join(columns[len(values):])
            raise InputError(path, f"{len(values)} fields, expected {len(columns)} (missing {missing})", line=line_no)
        target = None
        if labeled:
            value = values[position[task.label]].strip()
            target = _target(path, line_no, task, value)
        record = {"index": values[position["index"]]} if "index" in position else {}
        examples.append(LabeledExample(path, line_no, tuple(values[position[c]] for c in task.texts), target,
                                       record=record))
    return examples


def _target(path, line_no, task, value):
    if task.labels is None:
        try:
            return float(value)
        except ValueError:
            raise InputError(path, f"{task.label} {value!r} is not a number", line=line_no) from None
    if value not in task.labels:
        raise InputError(path, f"unknown {task.label} {value!r} (expected one of {', '.join(task.labels)})",
                         line=line_no)
    return task.labels.index(value)


def read_glue_dir(glue_dir, name):
    """Every split of task ``name`` whose file is in ``glue_dir`` (e.g. ``glue_data/MNLI``)."""
    task = GLUE_TASKS[name]
    found = {split: os.path.join(glue_dir, f) for split, f in task.files.items()
             if os.path.exists(os.path.join(glue_dir, f))}
    if "train" not in found:
        raise FileNotFoundError(f"{os.path.join(glue_dir, task.files['train'])}: no {name} training file")
    return {split: read_glue_tsv(path, task) for split, path in found.items()}
