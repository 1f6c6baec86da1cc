"""The readable, text-level outputs of the CMCL rewriting and retrieval scripts.

Each script writes, for one caption split ``PAIRS/{split}`` (``caption_sets.py``), a JSON-lines file
aligned with ``{split}.captions.jsonl`` (one line per caption, same order), by default
``PAIRS/{split}.cmcl_raw.<content>.jsonl`` (:func:`cmcl_raw_path`)::

    {"caption_id": "...", "items": [{"text": "...", ...}, ...]}         paraphrases, negatives, texts
    {"caption_id": "...", "items": [{"image_id": "...", ...}, ...]}     retrieved images

Items may carry metadata (a negative's ``level`` and ``swapped``, a retrieval ``score``, ...).
``build_cmcl_sidecars.py`` encodes these files into the binary sidecars the pretraining task reads
(``cmcl_sidecars.py``); several files of one kind (e.g. TF-IDF and scene-graph negatives) are merged.
"""
import json
import os
import re
import shutil
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..common.artifacts import InputError, PathLike, atomic_output, write_manifest

KIND = "cmcl_raw"
_NON_WORD = re.compile(r"[\W_]+")


def text_key(text: str) -> str:
    """Lower-case words only: texts equal under this key are the same sentence. Every CMCL script
    compares texts (to the caption, to true captions of the image, to each other) in this form."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def cmcl_raw_path(pairs_dir: PathLike, split: str, content: str) -> str:
    """The default file of ``content`` (e.g. "negatives/tfidf") for a caption split:
    ``PAIRS/{split}.cmcl_raw.negatives.tfidf.jsonl``; ``build_cmcl_sidecars.py`` finds these files."""
    return os.path.join(pairs_dir, f"{split}.{KIND}.{content.replace('/', '.')}.jsonl")


def write_cmcl_raw(path: PathLike, captions: Sequence[Dict[str, str]], items_per_caption: Sequence[List[dict]],
                   what: str, **manifest_fields: Any) -> Dict[str, Any]:
    """Write one line per caption (``captions`` as from ``caption_sets.read_caption_records``) with its items.

    ``what`` names the content (e.g. "negatives/tfidf") in the manifest beside the file.
    """
    if len(items_per_caption) != len(captions):
        raise ValueError(f"{len(items_per_caption)} item lists for {len(captions)} captions")
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for caption, items in zip(captions, items_per_caption):
            f.write(json.dumps({"caption_id": caption["caption_id"], "items": list(items)}, ensure_ascii=False))
            f.write("\n")
    counts = [len(items) for items in items_per_caption]
    return write_manifest(path, KIND, content=what, captions=len(captions), items=sum(counts),
                          captions_with_items=sum(1 for c in counts if c), **manifest_fields)


def read_cmcl_raw(path: PathLike, captions: Sequence[Dict[str, str]], field: str) -> List[List[dict]]:
    """Items per caption from ``path``; each item must have ``field`` ("text" or "image_id").

    The file must list exactly ``captions``' ids in order: a file made for another split or an
    older caption dataset is refused with the first line that differs.
    """
    items = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                caption_id, caption_items = str(record["caption_id"]), record["items"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise InputError(path, f"not a CMCL record ({e})", line=line_number) from None
            if line_number > len(captions) or caption_id != captions[line_number - 1]["caption_id"]:
                want = captions[line_number - 1]["caption_id"] if line_number <= len(captions) else "end of file"
                raise InputError(path, f"caption id {caption_id!r}, expected {want!r}: not aligned with "
                                       f"the caption split", line=line_number)
            if not isinstance(caption_items, list) or any(
                    not isinstance(it, dict) or not isinstance(it.get(field), str) for it in caption_items):
                raise InputError(path, f"every item needs a string {field!r}", line=line_number)
            items.append(caption_items)
    if len(items) != len(captions):
        raise InputError(path, f"{len(items)} lines for {len(captions)} captions", line=len(items) + 1)
    return items


def concatenate_cmcl_raw(parts: Sequence[Tuple[str, int, int]], output: PathLike, captions: Sequence[Dict[str, str]],
                         field: str, what: str, inspect: Optional[Callable[[List[List[dict]]], None]] = None,
                         **manifest_fields: Any) -> Dict[str, Any]:
    """Concatenate files ``parts`` (path, start, end: each holds ``captions[start:end]``) into ``output``.

    Each part is checked against its captions (``inspect`` sees its items), then copied as bytes:
    memory holds one part at a time. Returns the manifest written beside ``output``.
    """
    items = with_items = 0
    with atomic_output(output) as tmp, open(tmp, "wb") as out:
        for path, start, end in parts:
            part = read_cmcl_raw(path, captions[start:end], field)
            items += sum(map(len, part))
            with_items += sum(1 for caption_items in part if caption_items)
            if inspect is not None:
                inspect(part)
            with open(path, "rb") as f:
                shutil.copyfileobj(f, out)
    return write_manifest(output, KIND, content=what, captions=len(captions), items=items,
                          captions_with_items=with_items, **manifest_fields)
