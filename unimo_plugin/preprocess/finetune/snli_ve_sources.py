"""SNLI-VE's jsonl files (``snli_ve_{train,dev,test}.jsonl``) -> labeled examples.

Each line is an SNLI record whose premise image is ``Flikr30kID`` (sic, e.g. ``"1234.jpg"``); the
hypothesis is ``sentence2`` and the label ``gold_label``. The region-store id of an image is the
file stem (``"1234"``), the id both ``extract_regions.py`` (from image files) and the
bottom-up-attention TSV importer (numeric Flickr30k ids) give it.
"""
import json
import os

from ...common.artifacts import InputError
from ...common.text_files import iter_lines
from ...formats.labeled_sets import LabeledExample

LABELS = ("entailment", "neutral", "contradiction")


def read_snli_ve(path):
    examples = []
    for line_no, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise InputError(path, f"not JSON ({e})", line=line_no) from None
        missing = [k for k in ("Flikr30kID", "sentence2", "gold_label")
                   if not isinstance(record, dict) or not isinstance(record.get(k), str)]
        if missing:
            raise InputError(path, f"missing field(s) {', '.join(missing)}", line=line_no)
        if record["gold_label"] not in LABELS:
            raise InputError(path, f"unknown gold_label {record['gold_label']!r} (expected one of "
                                   f"{', '.join(LABELS)})", line=line_no)
        image = record["Flikr30kID"]
        examples.append(LabeledExample(
            path, line_no, (record["sentence2"],), target=LABELS.index(record["gold_label"]),
            image_id=os.path.splitext(os.path.basename(image))[0],
            record={"pairID": record.get("pairID"), "Flikr30kID": image}))
    return examples
