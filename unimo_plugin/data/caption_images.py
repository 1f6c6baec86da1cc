"""One item per image of a caption split, with all of its references, for generation and scoring.

Images are numbered in the order of their first caption in ``{split}.captions.jsonl``, so item ``i``
of a caption task's evaluation split and sample id ``i`` of ``fairseq-generate`` are the same image.
"""
import json
from dataclasses import dataclass
from typing import List

import numpy as np

from .caption_binarizer import CAPTIONS_SUFFIX, ROWS_SUFFIX
from .outputs import InputError


@dataclass
class CaptionImages:
    image_ids: List[str]
    rows: np.ndarray  # region-store row per image
    references: List[List[str]]  # every caption of the image, in file order
    first_caption: np.ndarray  # caption index (token dataset item) of each image's first caption


def read_caption_images(prefix: str) -> CaptionImages:
    """``prefix`` = ``PAIRS_DIR/split`` as written by binarize_captions.py."""
    rows = np.load(prefix + ROWS_SUFFIX)
    order, references, first, image_rows = {}, [], [], []
    path = prefix + CAPTIONS_SUFFIX
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                image_id, text = str(record["image_id"]), record["text"]
            except (ValueError, KeyError) as e:
                raise InputError(path, f"not a caption record ({e})", line=line_no)
            if line_no > len(rows):
                raise InputError(path, f"more captions than the {len(rows)} rows of {prefix + ROWS_SUFFIX}",
                                 line=line_no)
            if image_id not in order:
                order[image_id] = len(order)
                references.append([])
                first.append(line_no - 1)
                image_rows.append(rows[line_no - 1])
            references[order[image_id]].append(text)
    if sum(map(len, references)) != len(rows):
        raise InputError(path, f"{sum(map(len, references))} captions but {len(rows)} image rows")
    return CaptionImages(list(order), np.asarray(image_rows, dtype=np.int64), references,
                         np.asarray(first, dtype=np.int64))
