"""Synthetic pretraining corpora in the on-disk layout ``unimo_pretrain`` reads, for tests and benchmarks.

Words are dictionary symbols ``1000..``, without BPE (the pairs' manifest records ``"bpe": null``);
corpus sentences mostly count up, and image ``k``'s regions carry a feature offset (and a dominant
detector class) tied to its captions' first word, so every objective has something to learn. Made
with the real writers (region stores, fairseq mmap datasets, CMCL sidecars), never by hand.
"""
import os

import numpy as np
import torch
from fairseq.data import Dictionary
from fairseq.data.indexed_dataset import make_builder

from ..common.artifacts import write_manifest
from ..formats import caption_sets, cmcl_sidecars
from ..formats.region_store import RegionStore, RegionStoreWriter, save_rows, store_fields

FEATURE_DIM, NUM_CLASSES, NUM_WORDS = 12, 5, 40


def dictionary(num_words=NUM_WORDS):
    d = Dictionary()
    for i in range(num_words):
        d.add_symbol(str(1000 + i), n=num_words - i)
    return d


def write_tokens(prefix, items, vocab_size):
    builder = make_builder(prefix + ".bin", impl="mmap", vocab_size=vocab_size)
    for item in items:
        builder.add_item(torch.tensor(item, dtype=torch.long))
    builder.finalize(prefix + ".idx")


def write_store(path, num_images, rng, feature_dim=FEATURE_DIM, num_classes=NUM_CLASSES, regions=(3, 7),
                dtype="float32"):
    with RegionStoreWriter(path, feature_dim, dtype, num_classes) as w:
        for k in range(num_images):
            n = int(rng.integers(*regions))
            xy = rng.uniform(0, 50, (n, 2))
            boxes = np.concatenate([xy, xy + rng.uniform(5, 50, (n, 2))], 1)
            features = rng.normal(size=(n, feature_dim)) + (k % 7)
            probs = None
            if num_classes:  # the class of the image's feature offset dominates: masked classes are learnable
                concentration = np.ones(num_classes)
                concentration[(k % 7) % num_classes] = 8
                probs = rng.dirichlet(concentration, n)
            w.add(str(k), 100, 100, boxes, features, probs)


def _counting_words(rng, num_words):
    """4-11 words that mostly count up from a random start: masked words are learnable from context."""
    words = [int(rng.integers(0, num_words))]
    for _ in range(int(rng.integers(3, 11))):
        words.append((words[-1] + 1) % num_words if rng.random() < 0.9 else int(rng.integers(0, num_words)))
    return words


def build(root, d, num_images=24, captions_per_image=2, sidecars=True, seed=0, feature_dim=FEATURE_DIM,
          num_classes=NUM_CLASSES, regions=(3, 7), num_negatives=2, caption_words=3, dtype="float32", text_lines=200):
    """DATA dir with dict.txt, text/, images/ and pairs/ (train and valid splits); returns ``root``.

    Captions hold ``caption_words`` random words after two fixed ones, or, for a pair ``(lo, hi)``,
    between lo and hi of them (drawn per caption). The text corpus has ``text_lines`` training lines
    (and a tenth of them for validation)."""
    store_args = dict(feature_dim=feature_dim, num_classes=num_classes, regions=regions, dtype=dtype)
    num_words = len(d) - d.nspecial
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    d.save(os.path.join(root, "dict.txt"))
    word = lambda i: d.index(str(1000 + i))  # noqa: E731
    eos = d.eos()
    for sub in ("text", "images", "pairs"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for split, n_lines in (("train", text_lines), ("valid", max(1, text_lines // 10))):
        lines = [[word(int(w)) for w in _counting_words(rng, num_words)] + [eos] for _ in range(n_lines)]
        write_tokens(os.path.join(root, "text", split), lines, len(d))
        write_store(os.path.join(root, "images", split), num_images // 2, rng, **store_args)
    write_store(os.path.join(root, "pair_store"), num_images, rng, **store_args)
    store = RegionStore(os.path.join(root, "pair_store"))
    for split, images in (("train", range(num_images - 4)), ("valid", range(num_images - 4, num_images))):
        captions, rows = [], []
        for k in images:
            for c in range(captions_per_image):
                count = caption_words if np.isscalar(caption_words) else int(rng.integers(caption_words[0],
                                                                                          caption_words[1] + 1))
                captions.append([word(k % 7), word(10 + c)]
                                + [word(int(w)) for w in rng.integers(20, num_words, count)] + [eos])
                rows.append(k)
        prefix = os.path.join(root, "pairs", split)
        write_tokens(prefix, captions, len(d))
        save_rows(prefix, rows)
        if sidecars:
            para = [[c[:2] + c[3:]] for c in captions]
            negs = [[[word((k + j) % 7)] + c[1:] for j in range(1, num_negatives + 1)] for c, k in zip(captions, rows)]
            meta = [[{"level": "word", "swapped": "object"}] * num_negatives for _ in captions]
            texts = [[c[:3] + [eos]] if i % 2 else [] for i, c in enumerate(captions)]
            cmcl_sidecars.write_text_sidecar(prefix, "paraphrases", para, len(d))
            cmcl_sidecars.write_text_sidecar(prefix, "negatives", negs, len(d), meta)
            cmcl_sidecars.write_text_sidecar(prefix, "texts", texts, len(d))
            cmcl_sidecars.write_image_sidecar(prefix, [[(k + 7) % num_images] for k in rows], store)
    pairs = os.path.join(root, "pairs")
    write_manifest(pairs, caption_sets.KIND, **store_fields(store, pairs), bpe=None)
    return root
