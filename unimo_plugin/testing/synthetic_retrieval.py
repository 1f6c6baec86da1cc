"""Synthetic image-text retrieval data in the public formats, for tests and benchmarks.

Each image is one object with a colour, a shape, a size and a side; all of its region features
carry that code (one-hot colour and shape, +-1 for size and side) under noise, and its captions
name the four attributes in varied words, so which caption fits which image is learnable.
Written as a Karpathy split JSON (``dataset_flickr30k.json`` style) and a region store, the inputs
``binarize_captions.py`` reads.
"""
import json
import os

import numpy as np

from ..formats.region_store import RegionStoreWriter
from .vocabulary import COLOURS, SHAPES, SIDES, SIZES

FEATURE_DIM = len(COLOURS) + len(SHAPES) + 2
_OPENINGS = ("a", "there is a", "a picture of a", "we see a", "this shows a")
_CLOSINGS = ("", " in the picture", " on a plain background", " drawn in the image", " on its own")


def attribute_code(colour, shape, size, side):
    code = np.zeros(FEATURE_DIM, dtype=np.float32)
    code[colour] = code[len(COLOURS) + shape] = 1.0
    code[-2], code[-1] = (1.0 if size else -1.0), (1.0 if side else -1.0)
    return code


def caption(colour, shape, size, side, rng):
    words = (SIZES[size], COLOURS[colour], SHAPES[shape])
    return f"{_OPENINGS[rng.integers(len(_OPENINGS))]} {' '.join(words)} on the {SIDES[side]}" \
           f"{_CLOSINGS[rng.integers(len(_CLOSINGS))]}"


def write_retrieval_data(root, split_images, captions_per_image=5, seed=0, regions=(3, 7), noise=0.5):
    """Write ``root/dataset_flickr30k.json``, ``root/regions`` (the store) and ``root/captions.txt``
    (every caption, a BPE training corpus). ``split_images`` maps a Karpathy split (train, val,
    test, restval) to its number of images; image ids are ``0..``. Returns the three paths."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    paths = [os.path.join(root, name) for name in ("dataset_flickr30k.json", "regions", "captions.txt")]
    images, all_captions, k = [], [], 0
    with RegionStoreWriter(paths[1], FEATURE_DIM, "float32") as store:
        for split, count in split_images.items():
            for _ in range(count):
                attributes = (rng.integers(len(COLOURS)), rng.integers(len(SHAPES)), rng.integers(2), rng.integers(2))
                n = int(rng.integers(*regions))
                xy = rng.uniform(0, 50, (n, 2))
                boxes = np.concatenate([xy, xy + rng.uniform(5, 50, (n, 2))], 1)
                features = attribute_code(*attributes) + noise * rng.normal(size=(n, FEATURE_DIM))
                store.add(str(k), 100, 100, boxes, features)
                texts = [caption(*attributes, rng) for _ in range(captions_per_image)]
                images.append({"imgid": k, "filename": f"{k}.jpg", "split": split,
                               "sentences": [{"raw": t, "sentid": k * captions_per_image + j}
                                             for j, t in enumerate(texts)]})
                all_captions.extend(texts)
                k += 1
    with open(paths[0], "w", encoding="utf-8") as f:
        json.dump({"images": images, "dataset": "flickr30k"}, f)
    with open(paths[2], "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in all_captions))
    return paths
