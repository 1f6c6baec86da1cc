"""Drawing the regions a store holds for one image on that image, to eyeball an import or extraction
(``unimo-draw-regions``)."""
import numpy as np
from PIL import ImageDraw, ImageFont

from ...common.artifacts import InputError

PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
           "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#000075"]


def read_labels(path, num_classes):
    """Class names by class index; a file one name short means class 0 is the background.

    (The bottom-up-attention detector has 1601 classes, background first, and its
    objects_vocab.txt lists the 1600 objects.)
    """
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    if len(names) == num_classes:
        return names
    if len(names) == num_classes - 1:
        return ["__background__"] + names
    raise InputError(path, f"{len(names)} class names, but the store has {num_classes} classes "
                           f"(expected {num_classes}, or {num_classes - 1} with the background left out)")


def box_labels(regions, labels=None, top=None):
    """Rows of the boxes to draw and their label texts, most confident first.

    With ``labels`` holding a background class, the background is never a box's top class.
    Without class probabilities boxes keep their stored order.
    """
    if regions.cls_probs is None:
        rows = np.arange(len(regions.boxes))[:top]
        return rows, [f"#{row}" for row in rows]
    probs = np.asarray(regions.cls_probs, np.float32).copy()
    if labels is not None and labels[0] == "__background__":
        probs[:, 0] = -1
    classes, scores = probs.argmax(1), probs.max(1)
    rows = np.argsort(-scores, kind="stable")[:top]
    names = labels if labels is not None else [str(c) for c in range(probs.shape[1])]
    return rows, [f"{names[classes[row]]} {scores[row]:.2f}" for row in rows]


def draw_regions(image, boxes, texts):
    """``image`` with each box outlined and its text on a filled tag at its top-left corner."""
    image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, round(min(image.size) / 200))
    font = ImageFont.load_default(size=max(12, min(image.size) // 40))
    for i, (box, text) in enumerate(zip(boxes, texts)):
        color = PALETTE[i % len(PALETTE)]
        x1, y1, x2, y2 = (float(v) for v in box)
        draw.rectangle([x1, y1, max(x1, x2), max(y1, y2)], outline=color, width=width)
        left, top, right, bottom = draw.textbbox((x1, y1), text, font=font)
        tag_top = max(0.0, y1 - (bottom - top) - 2 * width)
        draw.rectangle([x1, tag_top, x1 + right - left + 2 * width, tag_top + bottom - top + 2 * width], fill=color)
        draw.text((x1 + width, tag_top + width - (top - y1)), text, fill="white", font=font)
    return image


def draw_stored_regions(image, regions, labels=None, top=None):
    """``image`` with the stored ``regions`` of its image drawn on it, most confident first (``top``: only
    that many), and the boxes' label texts. Boxes are rescaled where the image's size differs from the
    one the store records."""
    rows, texts = box_labels(regions, labels, top)
    scale = np.array([image.width / regions.width, image.height / regions.height] * 2, np.float32)
    return draw_regions(image, np.asarray(regions.boxes)[rows] * scale, texts), texts
