"""Mined hard negatives of a caption split for retrieval fine-tuning (``unimo_retrieval --hard-negatives``).

``mine_retrieval_negatives.py`` writes them (``preprocess/finetune/negative_mining.py``), by default
to ``PAIRS/{split}.retrieval_negatives`` (:func:`mined_negatives_path`): a directory, written
atomically with a manifest beside it (kind ``unimo_retrieval_negatives``)::

    images.npy      (C, N) int64   per caption: store rows of the N most similar OTHER images
    image_rows.npy  (I,)   int64   the split's distinct store rows, sorted
    captions.npy    (I, N) int64   per image (image_rows order): the N most similar captions of OTHER images

The manifest records the region store of those rows (path, image count, creation time and
``region_store_digest``, its identity that the reader checks).
"""
import os
from typing import Any, Dict

import numpy as np

from ..common.artifacts import (
    InputError,
    PathLike,
    atomic_output,
    is_complete,
    manifest_path,
    read_manifest,
    write_manifest,
)
from .region_store import RegionStore, check_store_identity

KIND = "unimo_retrieval_negatives"
SUFFIX = ".retrieval_negatives"
IMAGES, IMAGE_ROWS, CAPTIONS = "images.npy", "image_rows.npy", "captions.npy"


def mined_negatives_path(pairs_dir: PathLike, split: str) -> str:
    """Where the negatives of ``PAIRS/{split}`` are mined to, and read from, by default."""
    return os.path.join(pairs_dir, split + SUFFIX)


def write_mined_negatives(path: PathLike, images: np.ndarray, image_rows: np.ndarray, captions: np.ndarray,
                          **manifest_fields: Any) -> Dict[str, Any]:
    """Write the directory ``path`` (see the module docstring) and its manifest; return the manifest."""
    with atomic_output(path) as tmp:
        os.makedirs(tmp)
        np.save(os.path.join(tmp, IMAGES), images)
        np.save(os.path.join(tmp, IMAGE_ROWS), image_rows)
        np.save(os.path.join(tmp, CAPTIONS), captions)
    return write_manifest(path, KIND, captions=len(images), images=len(image_rows),
                          negative_images_per_caption=images.shape[1], negative_captions_per_image=captions.shape[1],
                          **manifest_fields)


class MinedNegatives:
    """Reader of mined negatives, checked against the caption split it is used with (``image_rows``) and
    the region store its rows will index."""

    def __init__(self, path: PathLike, image_rows: np.ndarray, store: RegionStore):
        if not is_complete(path):
            raise FileNotFoundError(f"{path}: no complete mined negatives (mine_retrieval_negatives.py writes "
                                    f"the directory and {manifest_path(path)})")
        manifest = read_manifest(path)
        if manifest.get("kind") != KIND:
            raise InputError(manifest_path(path), f"kind {manifest.get('kind')!r}, expected {KIND!r}")
        check_store_identity(store, manifest, path)
        self.images = np.load(os.path.join(path, IMAGES), mmap_mode="r")
        self.image_rows = np.load(os.path.join(path, IMAGE_ROWS))
        self.captions = np.load(os.path.join(path, CAPTIONS), mmap_mode="r")
        if len(self.images) != len(image_rows) or not np.array_equal(self.image_rows, np.unique(image_rows)):
            raise InputError(path, f"mined for {len(self.images)} captions of {len(self.image_rows)} images, but the "
                                   f"split has {len(image_rows)} captions of {len(np.unique(image_rows))}: "
                                   f"mined from another split or an older binarization")

    def captions_of_image(self, row: int) -> np.ndarray:
        return self.captions[np.searchsorted(self.image_rows, row)]
