"""A compositional swap set of the sample data, in SugarCrepe's format, for ``unimo-eval-compositional``.

For each caption of the held-out images, one negative per category: the caption with one attribute
(``replace-att``: a colour or size for another of its type), object (``replace-obj``: a shape for
another) or relation (``replace-rel``: left/right, above/below, or a place in the picture for its
opposite) replaced, or the attributes (``swap-att``: the colours) or objects (``swap-obj``: the shapes)
of two of its noun phrases exchanged. Every candidate is judged by the sample's oracle
(``sample_oracle.py``) and kept only when it is well-formed and false of the image; one is drawn per
caption and category with a generator keyed by the seed and the caption.
"""
import json
import os
import random
from typing import Dict, List

from .sample_oracle import FALSE, SampleOracle, parse, tokens, untokenize
from .vocabulary import COLOURS, SHAPES, SIZES

CATEGORIES = ("replace-att", "replace-obj", "replace-rel", "swap-att", "swap-obj")
OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top", "above": "below", "below": "above"}


def _agree(words):
    """Articles re-agreed with the word after them."""
    return [("an" if words[i + 1][0] in "aeiou" else "a") if w in ("a", "an") and i + 1 < len(words) else w
            for i, w in enumerate(words)]


def _replaced(words, i, new):
    return untokenize(_agree(words[:i] + [new] + words[i + 1:]))


def candidates(text: str) -> Dict[str, List[str]]:
    """Every rewrite of ``text`` per category, before the oracle judges them."""
    claim = parse(text)
    if claim is None:
        return {}
    words = tokens(text)
    out = {category: [] for category in CATEGORIES}
    phrase_words = set()
    for phrase in claim.phrases:
        for i in range(phrase.start + 1, phrase.end):
            phrase_words.add(i)
            if words[i] in COLOURS or words[i] in SIZES:
                kind = COLOURS if words[i] in COLOURS else SIZES
                out["replace-att"] += [_replaced(words, i, w) for w in kind if w != words[i]]
            elif words[i] in SHAPES:
                out["replace-obj"] += [_replaced(words, i, w) for w in SHAPES if w != words[i]]
    for i, w in enumerate(words):
        if w in OPPOSITE and i not in phrase_words:
            out["replace-rel"].append(_replaced(words, i, OPPOSITE[w]))
    for a in range(len(claim.phrases)):
        for b in range(a + 1, len(claim.phrases)):
            pa, pb = claim.phrases[a], claim.phrases[b]
            for category, ia, ib in (("swap-att", pa.end - 2, pb.end - 2), ("swap-obj", pa.end - 1, pb.end - 1)):
                if words[ia] != words[ib]:
                    swapped = list(words)
                    swapped[ia], swapped[ib] = words[ib], words[ia]
                    out[category].append(untokenize(_agree(swapped)))
    return out


def swap_set(oracle: SampleOracle, image_ids: List[str], seed: int = 0) -> Dict[str, Dict[str, dict]]:
    """Per category, SugarCrepe items ``{id: {"filename", "caption", "negative_caption"}}`` of the images'
    captions: valid negatives only (well-formed and false of the image, by the oracle)."""
    out = {category: {} for category in CATEGORIES}
    for image_id in image_ids:
        for n, caption in enumerate(oracle.captions[image_id]):
            rng = random.Random(f"{seed}:{image_id}:{n}")
            for category, texts in candidates(caption).items():
                valid = sorted({t for t in texts if oracle.judge(image_id, t) == FALSE})
                if valid:
                    out[category][f"{image_id}:{n}"] = {"filename": f"{image_id}.png", "caption": caption,
                                                         "negative_caption": rng.choice(valid)}
    return out


def write_swap_set(dataset_json: str, split: str, output_dir: str, seed: int = 0) -> Dict[str, int]:
    """Write ``output_dir/{category}.json`` (``replace_att.json``, ...) for the images of Karpathy split
    ``split`` of a sample build's ``dataset_sample.json``; the items per category."""
    with open(dataset_json, encoding="utf-8") as f:
        images = [im["image_id"] for im in json.load(f)["images"] if im["split"] == split]
    if not images:
        raise ValueError(f"{dataset_json}: no images of split {split!r}")
    items = swap_set(SampleOracle(dataset_json), images, seed)
    os.makedirs(output_dir, exist_ok=True)
    for category, records in items.items():
        with open(os.path.join(output_dir, category.replace("-", "_") + ".json"), "w", encoding="utf-8") as f:
            json.dump(records, f, indent=0)
    return {category: len(records) for category, records in items.items()}
