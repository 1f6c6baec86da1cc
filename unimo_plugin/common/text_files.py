"""UTF-8 text read line by line with 1-based line numbers, so bad bytes are reported as file:line.

Lines are split on ``\\n`` only (a trailing ``\\r`` of a CRLF ending is dropped), which keeps line
numbers stable and lets shards start at a line found by counting bytes.
"""
from typing import Iterator, Optional, Tuple

from .artifacts import InputError, PathLike

_BLOCK = 1 << 20


def count_lines(path: PathLike) -> int:
    """Number of lines, the last one counted even without a final newline."""
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _offset_of_line(f, index):
    """Byte offset at which 0-based line ``index`` starts (the file size when past the end)."""
    seen = pos = 0
    f.seek(0)
    while seen < index:
        block = f.read(_BLOCK)
        if not block:
            break
        newlines = block.count(b"\n")
        if seen + newlines < index:
            seen, pos = seen + newlines, pos + len(block)
            continue
        end = -1
        for _ in range(index - seen):
            end = block.index(b"\n", end + 1)
        return pos + end + 1
    return pos


def iter_lines(path: PathLike, start: int = 0, end: Optional[int] = None) -> Iterator[Tuple[int, str]]:
    """Yield ``(line_number, text)`` for 0-based lines ``[start, end)``, without the line ending."""
    with open(path, "rb") as f:
        f.seek(_offset_of_line(f, start))
        for line_number, raw in enumerate(f, start + 1):
            if end is not None and line_number > end:
                break
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(path, f"not valid UTF-8 (byte {e.start} of the line: {raw[e.start:e.start + 4]!r})",
                                 line=line_number) from None
            if text.endswith("\n"):
                text = text[:-1]
            if text.endswith("\r"):
                text = text[:-1]
            yield line_number, text


def corpus_lines(path: PathLike, start: int = 0, end: Optional[int] = None) -> Iterator[str]:
    """The text of lines ``[start, end)`` split as fairseq's text-mode reader splits it (a lone ``\\r``
    also ends a line), so that our items match ``fairseq-preprocess``'s one for one."""
    for _, line in iter_lines(path, start, end):
        yield from line.split("\r")
