"""Compositional evaluation of a UNIMO checkpoint (``unimo-eval-compositional``): for an image, its true
caption and a caption with one thing swapped, is the CMCL similarity (cosine of the pooled ``[IMG]`` and
the pooled ``<s>``, each encoded alone) higher for the true one? Accuracy per category, beside chance
(50%); ties count one half.

Formats read:

- **SugarCrepe** (Hsieh et al. 2023): one JSON file per category, ``{id: {"filename", "caption",
  "negative_caption"}}``, over COCO val2017 images; the category is the file's name (``replace_att.json``
  -> ``replace-att``): replace-obj/att/rel, swap-obj/att, add-obj/att. The sample data's swap set
  (``unimo-make-sample-swaps``) is written in this format.
- **ARO** (Yuksekgonul et al. 2023) VG-Relation and VG-Attribution: a JSON list of ``{"image_path",
  "bbox_x", "bbox_y", "bbox_w", "bbox_h", "true_caption", "false_caption"}`` (plus ``"relation_name"`` or
  ``"attributes"``); ARO crops the image to the box, here the regions whose centre lies in it are kept
  (all of them when none does). Categories: ``vg-relation`` and ``vg-attribution``.

Images come from a region store: an item's image id is its file name, or the name without its
extension, or that as a number (``000000397133.jpg`` -> ``000000397133`` -> ``397133``); items whose
image the store lacks are counted and skipped. With ``mean_image`` the accuracy is also computed with
every image replaced by the mean image embedding: what text alone decides (50% when grounded).
"""
import argparse
import collections
import glob
import json
import os
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import torch
from fairseq.data import data_utils

from ..data.collate import collate_regions
from ..data.region_inputs import load_regions
from ..formats.region_store import RegionStore, normalized_boxes
from .retrieval import load_model_and_task

FORMATS = ("sugarcrepe", "aro-relation", "aro-attribution")
SUGARCREPE_CATEGORIES = ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att")


class Item(NamedTuple):
    category: str
    image: str  # the file name or path the format names
    caption: str
    negative: str
    box: Optional[Sequence[float]] = None  # x, y, w, h in pixels (ARO)


def read_sugarcrepe(path: str) -> List[Item]:
    """The items of a SugarCrepe folder (its ``*.json`` category files) or of one category file."""
    files = sorted(glob.glob(os.path.join(path, "*.json"))) if os.path.isdir(path) else [path]
    if not files:
        raise FileNotFoundError(f"{path}: no SugarCrepe category files (*.json)")
    items = []
    for file in files:
        category = os.path.splitext(os.path.basename(file))[0].replace("_", "-")
        with open(file, encoding="utf-8") as f:
            records = json.load(f)
        if not isinstance(records, dict):
            raise ValueError(f"{file}: not a SugarCrepe file ({{id: {{filename, caption, negative_caption}}}})")
        for key, r in records.items():
            try:
                items.append(Item(category, r["filename"], r["caption"], r["negative_caption"]))
            except (KeyError, TypeError):
                raise ValueError(f"{file}: item {key!r} lacks filename, caption or negative_caption") from None
    return items


def read_aro(path: str, category: str) -> List[Item]:
    """The items of an ARO VG-Relation or VG-Attribution JSON file."""
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    items = []
    for n, r in enumerate(records):
        try:
            box = [float(r[k]) for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")]
            items.append(Item(category, r["image_path"], r["true_caption"], r["false_caption"], box))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: item {n} lacks image_path, bbox_x/y/w/h, true_caption or false_caption") \
                from None
    return items


def read_items(path: str, fmt: str) -> List[Item]:
    if fmt == "sugarcrepe":
        return read_sugarcrepe(path)
    if fmt in ("aro-relation", "aro-attribution"):
        return read_aro(path, "vg-" + fmt.split("-")[1])
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def store_row(store: RegionStore, name: str) -> Optional[int]:
    """The store row of an image named by a file name or path (see the module docstring), or None."""
    base = os.path.basename(name)
    stem = os.path.splitext(base)[0]
    candidates = [name, base, stem] + ([str(int(stem))] if stem.isdigit() else [])
    for candidate in candidates:
        if store.has(candidate):
            return store.row_of(candidate)
    return None


def _regions_in_box(store, row, max_regions, box):
    regions = store[row]
    boxes = np.asarray(regions.boxes[:max_regions], dtype=np.float64)
    keep = np.arange(len(boxes))
    if box is not None and len(boxes):
        x, y, w, h = box
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        inside = np.flatnonzero((cx >= x) & (cx <= x + w) & (cy >= y) & (cy <= y + h))
        keep = inside if len(inside) else keep
    return {"features": torch.from_numpy(np.array(regions.features[:max_regions][keep], dtype=np.float32)),
            "boxes": torch.from_numpy(normalized_boxes(boxes[keep], regions.width, regions.height))}


class Scorer:
    """CMCL embeddings of images (with an optional box) and texts for one loaded model."""

    def __init__(self, model, task, store: RegionStore, max_regions: int = 100, batch_size: int = 64):
        self.model, self.task, self.store = model.eval(), task, store
        self.max_regions, self.batch_size = max_regions, batch_size
        self.dictionary = task.source_dictionary
        self.bpe = task.build_bpe(argparse.Namespace(bpe=None))
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def images(self, keys):
        """Normalised embeddings of (row, box) keys, in order."""
        out = []
        for start in range(0, len(keys), self.batch_size):
            batch = []
            for row, box in keys[start:start + self.batch_size]:
                batch.append(load_regions(self.store, row, self.max_regions) if box is None
                             else _regions_in_box(self.store, row, self.max_regions, box))
            regions = collate_regions(batch)
            _, states, extra = self.model.extract_features(
                regions=regions["features"].to(self.device), boxes=regions["boxes"].to(self.device),
                region_padding_mask=regions["padding_mask"].to(self.device))
            pooled = self.model.pooled_image(states, extra["padding_mask"])
            out.append(torch.nn.functional.normalize(pooled.float(), dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0)

    def tokens(self, text):
        line = self.bpe.encode(text.strip()) if self.bpe is not None else text.strip()
        words = self.dictionary.encode_line(line, add_if_not_exist=False).long()
        return torch.cat([words.new_tensor([self.dictionary.bos()]), words])

    @torch.no_grad()
    def texts(self, texts, pooled: bool = True):
        """Normalised embeddings of ``texts``, in order; ``pooled=False``: of what the pooler reads."""
        read = self.model.pooled_text if pooled else self.model.pooling_input
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = [self.tokens(t) for t in texts[start:start + self.batch_size]]
            states, _, extra = self.model.extract_features(
                data_utils.collate_tokens(batch, self.dictionary.pad()).to(self.device))
            out.append(torch.nn.functional.normalize(read(states, extra["padding_mask"]).float(), dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0)


class CategoryResult(NamedTuple):
    items: int
    accuracy: float  # %
    mean_image_accuracy: Optional[float]  # % with every image replaced by the mean image


def _accuracy(true_scores, false_scores):
    wins = (true_scores > false_scores).float() + 0.5 * (true_scores == false_scores).float()
    return 100.0 * wins.mean().item() if len(wins) else 0.0


def score_items(scorer: Scorer, items: Sequence[Item], mean_image: bool = True):
    """Per category (and ``all``) a :class:`CategoryResult`; and how many items had no image in the store."""
    rows = [store_row(scorer.store, item.image) for item in items]
    kept = [(item, row) for item, row in zip(items, rows) if row is not None]
    missing = len(items) - len(kept)
    if not kept:
        return {}, missing
    keys = sorted({(row, tuple(item.box) if item.box else None) for item, row in kept},
                  key=lambda k: (k[0], k[1] or ()))
    index = {k: i for i, k in enumerate(keys)}
    images = scorer.images([(row, box) for row, box in keys])
    texts = sorted({t for item, _ in kept for t in (item.caption, item.negative)})
    text_index = {t: i for i, t in enumerate(texts)}
    text_emb = scorer.texts(texts)
    image_of = torch.tensor([index[row, tuple(item.box) if item.box else None] for item, row in kept])
    true_emb = text_emb[torch.tensor([text_index[item.caption] for item, _ in kept])]
    false_emb = text_emb[torch.tensor([text_index[item.negative] for item, _ in kept])]
    true_scores = (images[image_of] * true_emb).sum(-1)
    false_scores = (images[image_of] * false_emb).sum(-1)
    mean = images.mean(0, keepdim=True)
    mean_true, mean_false = (true_emb * mean).sum(-1), (false_emb * mean).sum(-1)
    categories = collections.defaultdict(list)
    for n, (item, _) in enumerate(kept):
        categories[item.category].append(n)
    categories["all"] = list(range(len(kept)))
    results = {}
    for category, members in categories.items():
        m = torch.tensor(members)
        results[category] = CategoryResult(
            len(members), _accuracy(true_scores[m], false_scores[m]),
            _accuracy(mean_true[m], mean_false[m]) if mean_image else None)
    return results, missing


def load_checkpoint(checkpoint: str, data: Optional[str] = None):
    """(model, task) of a UNIMO checkpoint, its dictionary from ``data`` (default: its own data dir)."""
    overrides = {"init_from_roberta": None}
    if data:
        overrides["data"] = data
    return load_model_and_task(checkpoint, overrides)


def evaluate_compositional(checkpoint: str, path: str, fmt: str, regions: str, data: Optional[str] = None,
                           max_regions: int = 100, batch_size: int = 64, mean_image: bool = True):
    """Per category a :class:`CategoryResult`, and the number of items skipped for want of an image."""
    model, task = load_checkpoint(checkpoint, data)
    scorer = Scorer(model, task, RegionStore(regions), max_regions, batch_size)
    return score_items(scorer, read_items(path, fmt), mean_image)


def report_lines(results: Dict[str, CategoryResult], missing: int) -> List[str]:
    lines = [f"{'category':<16}{'items':>7}{'accuracy':>10}{'chance':>8}{'mean image':>12}"]
    for category in sorted(results, key=lambda c: (c == "all", c)):
        r = results[category]
        ablated = f"{r.mean_image_accuracy:>11.1f}%" if r.mean_image_accuracy is not None else ""
        lines.append(f"{category:<16}{r.items:>7}{r.accuracy:>9.1f}%{50.0:>7.1f}%{ablated}")
    if missing:
        lines.append(f"{missing} items skipped: their image is not in the region store")
    return lines
