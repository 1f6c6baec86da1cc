"""``.source``/``.target`` text pairs (CNN/DailyMail, Gigaword, SQuAD QG, CoQA) -> fairseq token datasets.

Writes ``DATA/{split}.source`` and ``DATA/{split}.target`` (``.bin/.idx``, byte-identical to
``fairseq-preprocess`` after RoBERTa's BPE step), ``DATA/dict.txt``, and ``DATA.manifest.json``
recording the splits, the dictionary and the BPE (which ``fairseq-generate`` then decodes with).
Line i of a source file pairs with line i of its target file; blank lines are kept as empty texts.
"""
import logging
import os
import shutil

from ...common.artifacts import InputError, atomic_output, is_complete, manifest_path, read_manifest, write_manifest
from ...common.text_files import count_lines
from .text_binarizer import binarize_text

logger = logging.getLogger(__name__)

KIND = "unimo_seq2seq"
SIDES = ("source", "target")


def binarize_seq2seq(raw_dir, splits, output_dir, dict_path, bpe_cfg, workers=1):
    """Binarize every ``RAW/{split}.{source,target}``; return the directory's manifest.

    Finished datasets are skipped on a rerun, so an interrupted run resumes.
    """
    if is_complete(output_dir):
        logger.info(f"{output_dir} is complete, skipping (remove {manifest_path(output_dir)} to redo it)")
        return read_manifest(output_dir)
    counts = {}
    for split in splits:
        paths = [os.path.join(raw_dir, f"{split}.{side}") for side in SIDES]
        for path in paths:
            if not os.path.isfile(path):
                raise InputError(path, f"no such file (split {split!r} needs {split}.source and {split}.target)")
        lines = [count_lines(path) for path in paths]
        if lines[0] != lines[1]:
            raise InputError(paths[1], f"{lines[1]} lines, but {paths[0]} has {lines[0]}: line i of the source "
                                       "must pair with line i of the target")
        counts[split] = lines[0]
    os.makedirs(output_dir, exist_ok=True)
    with atomic_output(os.path.join(output_dir, "dict.txt")) as tmp:
        shutil.copyfile(dict_path, tmp)
    summary = {}
    for split in splits:
        for side in SIDES:
            prefix = os.path.join(output_dir, f"{split}.{side}")
            manifest = binarize_text(os.path.join(raw_dir, f"{split}.{side}"), prefix, dict_path, bpe_cfg, workers,
                                     input_format="text")
            if manifest["sequences"] != counts[split]:
                raise InputError(os.path.join(raw_dir, f"{split}.{side}"),
                                 f"binarized {manifest['sequences']} texts from {counts[split]} lines")
            summary[f"{split}.{side}"] = {k: manifest[k] for k in ("sequences", "tokens", "replaced_by_unk")}
    return write_manifest(output_dir, KIND, splits=list(splits), datasets=summary, raw_dir=os.path.abspath(raw_dir),
                          dictionary=os.path.abspath(dict_path), bpe=vars(bpe_cfg))
