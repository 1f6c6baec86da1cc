"""The hypotheses of a ``fairseq-generate`` run, read from what it prints.

fairseq-generate prints, per sample id, ``S-<id>`` (source), ``T-<id>`` (target), then for each of the
``--nbest`` hypotheses, best first, ``H-<id>\\t<score>\\t<tokens>``, ``D-<id>\\t<score>\\t<text>`` (the text
after BPE decoding and detokenization, which is what is scored) and ``P-<id>`` (positional scores), mixed
with log lines. It goes to stdout (``fairseq-generate ... > gen.txt``) or, with ``--results-path DIR``,
to ``DIR/generate-<subset>.txt``.
"""
import glob
import os
import re
from typing import Dict, List

from ..common.artifacts import InputError

_SAMPLE_LINE = re.compile(r"([A-Z])-(\d+)\t")


def generate_output_file(path: str) -> str:
    """``path`` itself, or the one ``generate-*.txt`` in it when it is a ``--results-path`` folder."""
    if not os.path.isdir(path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such fairseq-generate output")
        return path
    found = sorted(glob.glob(os.path.join(path, "generate-*.txt")))
    if len(found) != 1:
        what = "no generate-*.txt" if not found else f"{len(found)} generate-*.txt files; pass one"
        raise InputError(path, f"{what} in this --results-path folder")
    return found[0]


def read_hypotheses(path: str) -> Dict[int, str]:
    """Sample id -> its best hypothesis (the first ``D-`` line of the id), from a file or results folder.

    The ``D-`` lines of one id are consecutive (``--nbest``); an id whose hypotheses or source appear in
    two places is a duplicate, as when two outputs were concatenated.
    """
    path = generate_output_file(path)
    hypotheses, sources, previous = {}, set(), None
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            match = _SAMPLE_LINE.match(line)
            if match is None:
                continue  # log lines and the closing BLEU line
            kind, sample_id = match.group(1), int(match.group(2))
            if kind == "S":
                if sample_id in sources:
                    raise InputError(path, f"duplicate sample id {sample_id} (second S- line)", line=line_no)
                sources.add(sample_id)
            elif kind == "D":
                fields = line.rstrip("\n").split("\t", 2)
                if len(fields) != 3:
                    raise InputError(path, "a D- line without its score and text (expected "
                                           "D-<id>TAB<score>TAB<text>)", line=line_no)
                if sample_id in hypotheses and sample_id != previous:
                    raise InputError(path, f"duplicate sample id {sample_id} (D- lines in two places)",
                                     line=line_no)
                hypotheses.setdefault(sample_id, fields[2])
                previous = sample_id
    if not hypotheses:
        raise InputError(path, "no D-<id> lines: not fairseq-generate output, or generated with --quiet")
    return hypotheses


def hypotheses_in_order(hypotheses: Dict[int, str], count: int, path: str, what: str = "samples") -> List[str]:
    """The hypotheses of sample ids ``0..count-1``, in order; any id missing or beyond is an error."""
    missing = [i for i in range(count) if i not in hypotheses]
    if missing:
        raise InputError(path, f"no hypothesis for {len(missing)} of the {count} {what} (first ids: "
                               f"{', '.join(map(str, missing[:5]))}); generate the whole subset")
    extra = sorted(i for i in hypotheses if i >= count)
    if extra:
        raise InputError(path, f"hypotheses for {len(extra)} sample ids beyond the {count} {what} (first: "
                               f"{', '.join(map(str, extra[:5]))}); were they generated from another split?")
    return [hypotheses[i] for i in range(count)]
