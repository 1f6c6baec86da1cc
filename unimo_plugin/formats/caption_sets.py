"""One item per image of a caption split, with all of its references, for generation and scoring.

Images are numbered in the order of their first caption in ``{split}.captions.jsonl``, so item ``i``
of a caption task's evaluation split and sample id ``i`` of ``fairseq-generate`` are the same image.
"""
import os
from dataclasses import dataclass
from typing import List

import numpy as np

from ..common.artifacts import InputError
from ..preprocess.captions.caption_binarizer import CAPTIONS_SUFFIX, ROWS_SUFFIX
from .cmcl_candidates import read_captions


@dataclass
class CaptionImages:
    image_ids: List[str]
    rows: np.ndarray  # region-store row per image
    references: List[List[str]]  # every caption of the image, in file order
    first_caption: np.ndarray  # caption index (token dataset item) of each image's first caption


def read_caption_images(prefix: str) -> CaptionImages:
    """``prefix`` = ``PAIRS_DIR/split`` as written by binarize_captions.py."""
    pairs_dir, split = os.path.split(prefix)
    captions = read_captions(pairs_dir, split)
    rows = np.load(prefix + ROWS_SUFFIX)
    if len(captions) != len(rows):
        raise InputError(prefix + CAPTIONS_SUFFIX, f"{len(captions)} captions but {len(rows)} image rows in "
                                                   f"{prefix + ROWS_SUFFIX}")
    order, references, first = {}, [], []
    for index, caption in enumerate(captions):
        if caption["image_id"] not in order:
            order[caption["image_id"]] = len(order)
            references.append([])
            first.append(index)
        references[order[caption["image_id"]]].append(caption["text"])
    first = np.asarray(first, dtype=np.int64)
    return CaptionImages(list(order), rows[first].astype(np.int64), references, first)
