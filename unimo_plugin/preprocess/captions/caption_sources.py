"""Caption corpora read into one record per caption, with where each came from for error messages.

Two input kinds: Karpathy split JSON (``dataset_coco.json``, ``dataset_flickr30k.json``:
``images[].sentences[].raw`` with ``images[].split`` in train/val/test/restval), and
``image_id<TAB>caption`` TSV (Conceptual Captions, SBU) whose split is named by the caller.
"""
import json
import os
import re
from typing import List, NamedTuple, Optional, Sequence

from ...common.artifacts import InputError
from ...common.text_files import iter_lines

FORMATS = ("auto", "karpathy", "tsv")
KARPATHY_SPLITS = ("train", "val", "test", "restval")
KARPATHY_TO_FAIRSEQ = {"val": "valid"}
ID_FIELDS = ("auto", "cocoid", "imgid", "filename")


class Caption(NamedTuple):
    split: str
    image_id: str
    caption_id: str  # Karpathy ``sentid``; TSV ``<file name>:<line>``
    text: str
    path: str
    line: Optional[int]  # None for JSON, whose files are usually a single line


def detect_format(path: str) -> str:
    """``karpathy`` when the file starts (after whitespace) with a JSON object, else ``tsv``."""
    with open(path, "rb") as f:
        return "karpathy" if f.read(4096).lstrip()[:1] == b"{" else "tsv"


def _image_id(image, id_field, path, where):
    """The id that names the image in a region store; a ``filename`` gives its stem, as
    ``extract_regions.py`` names the images of a folder."""
    fields = ("cocoid", "imgid", "filename") if id_field == "auto" else (id_field,)
    for field in fields:
        if image.get(field) not in (None, ""):
            value = str(image[field])
            return os.path.splitext(os.path.basename(value))[0] if field == "filename" else value
    raise InputError(path, f"{where} has no image id (looked for {', '.join(fields)}; see --id-field)")


def read_karpathy(path: str, id_field: str = "auto", merge_restval: bool = False) -> List[Caption]:
    """Captions of a Karpathy split JSON in file order. Karpathy's ``val`` becomes ``valid``, the split
    fairseq validates on; ``merge_restval`` renames restval to train."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON: {e.msg} (column {e.colno})", line=e.lineno) from None
    except UnicodeDecodeError as e:
        raise InputError(path, f"not valid UTF-8 at byte {e.start}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError(path, "not a Karpathy split file: expected an object with an 'images' list")
    captions = []
    for i, image in enumerate(data["images"]):
        where = f"images[{i}]"
        if not isinstance(image, dict) or not isinstance(image.get("sentences"), list):
            raise InputError(path, f"{where} is not an object with a 'sentences' list")
        image_id = _image_id(image, id_field, path, where)
        where = f"{where} (image {image_id})"
        split = image.get("split")
        if split not in KARPATHY_SPLITS:
            raise InputError(path, f"{where} has split {split!r}, expected one of {', '.join(KARPATHY_SPLITS)}")
        if merge_restval and split == "restval":
            split = "train"
        split = KARPATHY_TO_FAIRSEQ.get(split, split)
        for j, sentence in enumerate(image["sentences"]):
            raw = sentence.get("raw") if isinstance(sentence, dict) else None
            text = raw.strip() if isinstance(raw, str) else ""
            if not text:
                raise InputError(path, f"{where} sentences[{j}]: empty or missing 'raw' caption")
            caption_id = str(sentence.get("sentid", f"{image_id}#{j}"))
            captions.append(Caption(split, image_id, caption_id, text, path, None))
    return captions


def read_tsv(path: str, split: str) -> List[Caption]:
    """Captions of an ``image_id<TAB>caption`` file, all in ``split``."""
    captions, name = [], os.path.basename(path)
    for line_number, line in iter_lines(path):
        fields = line.split("\t")
        if len(fields) != 2:
            raise InputError(path, f"expected 2 tab-separated fields (image_id<TAB>caption), found {len(fields)}",
                             line=line_number)
        image_id, text = fields[0].strip(), fields[1].strip()
        if not image_id:
            raise InputError(path, "empty image id", line=line_number)
        if not text:
            raise InputError(path, f"empty caption for image {image_id}", line=line_number)
        captions.append(Caption(split, image_id, f"{name}:{line_number}", text, path, line_number))
    return captions


def read_caption_corpora(paths: Sequence[str], fmt: str = "auto", tsv_splits: Sequence[str] = ("train",),
                         id_field: str = "auto", merge_restval: bool = False) -> List[Caption]:
    """Captions of every Karpathy JSON or TSV file in ``paths``, in order.

    ``tsv_splits`` names the split of the TSV inputs: one name for all of them, or one per input.
    """
    if len(tsv_splits) not in (1, len(paths)):
        raise ValueError(f"give one split name for all TSV inputs or one per input ({len(paths)}), "
                         f"got {len(tsv_splits)}")
    for split in tsv_splits:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", split):
            raise ValueError(f"split name {split!r} must be usable as a file name ([A-Za-z0-9_.-]+)")
    captions = []
    for k, path in enumerate(paths):
        kind = detect_format(path) if fmt == "auto" else fmt
        if kind == "karpathy":
            captions.extend(read_karpathy(path, id_field, merge_restval))
        else:
            captions.extend(read_tsv(path, tsv_splits[k if len(tsv_splits) > 1 else 0]))
    return captions
