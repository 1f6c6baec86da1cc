"""The texts of a file for BPE training and text binarization: a plain corpus, or the captions of a caption
file, so that a BPE or a text corpus is made from a Karpathy split JSON or an ``image_id<TAB>caption`` TSV
without pulling the captions out by hand.

Formats: ``text``, one sentence per line with a blank line between documents (the RoBERTa convention;
read as fairseq's text-mode reader splits lines); ``karpathy`` and ``tsv``, read by
``preprocess/captions/caption_sources.py``, give one text per caption (of every split), in file order.
``auto`` takes a file that starts with a JSON object for Karpathy JSON and anything else for plain text
(a TSV must be named: its lines are valid text too).
"""
from typing import Iterator, List, Optional, Sequence, Union

from ...common.text_files import corpus_lines, count_lines
from ..captions import caption_sources

INPUT_FORMATS = ("auto", "text", "karpathy", "tsv")


def resolve_format(path: str, fmt: str = "auto") -> str:
    """``fmt`` with ``auto`` resolved for ``path``."""
    if fmt not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; expected one of {', '.join(INPUT_FORMATS)}")
    if fmt != "auto":
        return fmt
    return "karpathy" if caption_sources.detect_format(path) == "karpathy" else "text"


def _captions(path, fmt):
    return [c.text for c in caption_sources.read_caption_corpora([path], fmt)]


def count_texts(path: str, fmt: str = "auto") -> int:
    """How many items :func:`read_texts` cuts ranges of: lines of a corpus, captions of a caption file."""
    fmt = resolve_format(path, fmt)
    return count_lines(path) if fmt == "text" else len(_captions(path, fmt))


def read_texts(path: str, fmt: str = "auto", start: int = 0, end: Optional[int] = None) -> Iterator[str]:
    """The texts of items ``[start, end)``: corpus lines as fairseq splits them, or caption texts."""
    fmt = resolve_format(path, fmt)
    if fmt == "text":
        yield from corpus_lines(path, start, end)
    else:
        yield from _captions(path, fmt)[start:end]


def input_formats(paths: Sequence[str], formats: Union[str, Sequence[str]] = "auto") -> List[str]:
    """The format of each of ``paths``: ``formats`` is one for all of them, or one per path."""
    formats = [formats] if isinstance(formats, str) else list(formats)
    if len(formats) not in (1, len(paths)):
        raise ValueError(f"give one input format for all inputs or one per input ({len(paths)}), got {len(formats)}")
    return [resolve_format(path, fmt) for path, fmt in zip(paths, formats * len(paths) if len(formats) == 1
                                                           else formats)]


def stripped_texts(paths: Sequence[str], formats: Sequence[str]) -> Iterator[str]:
    """Every text of ``paths`` (of ``formats``, one each), stripped as the BPE encoder strips it."""
    for path, fmt in zip(paths, formats):
        for text in read_texts(path, fmt):
            yield text.strip()
