"""Synthetic scenes and their language: the bundled sample data's images, boxes, captions and text.

A scene is one to three coloured shapes on a light background. Captions and text-corpus sentences
come from one small grammar over the same words (colour, shape, size and spatial relation from
vocabulary.py; position), so a model pretrained on the sample can learn every word from both
modalities. Every draw takes a ``numpy.random.Generator`` keyed by the item, so outputs do not
depend on worker count or order.
"""
import math
from typing import NamedTuple, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .vocabulary import COLOURS, RELATIONS, SHAPES, SIZES

RGB = {"red": (215, 35, 35), "green": (30, 160, 60), "blue": (35, 75, 215), "yellow": (235, 200, 20),
       "purple": (135, 50, 175), "orange": (240, 130, 20)}  # how each of COLOURS is drawn
EXTENT = {"small": 0.24, "large": 0.40}  # nominal object extent of each of SIZES, as a share of the image side
BACKGROUNDS = ((236, 236, 236), (222, 222, 214), (240, 234, 220), (214, 222, 230))
NUMBERS = {1: "one", 2: "two", 3: "three"}
SUPERSAMPLE = 4  # shapes are drawn this much larger, then downscaled: anti-aliased edges
_MARGIN = 0.04  # least gap between objects and to the border, as a share of the image side


class SceneObject(NamedTuple):
    colour: str
    shape: str
    size: str
    box: Tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels: the drawn shape's tight box

    @property
    def centre(self):
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2, (y1 + y2) / 2


class Scene(NamedTuple):
    image_size: int
    background: Tuple[int, int, int]
    textured: bool
    objects: Tuple[SceneObject, ...]


def _outline(shape, cx, cy, extent):
    """Polygon vertices (or the circle's box) of ``shape`` centred at (cx, cy) with side ``extent``."""
    r = extent / 2
    if shape == "circle":
        return [(cx - r, cy - r), (cx + r, cy + r)]
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    # A five-pointed star, point up, scaled so that its points span the full extent.
    points = [(math.sin(k * math.pi / 5) * (1.0 if k % 2 == 0 else 0.42),
               -math.cos(k * math.pi / 5) * (1.0 if k % 2 == 0 else 0.42)) for k in range(10)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    scale = 2 * r / max(max(xs) - min(xs), max(ys) - min(ys))
    ox, oy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return [(cx + (x - ox) * scale, cy + (y - oy) * scale) for x, y in points]


def _box(outline):
    xs, ys = [p[0] for p in outline], [p[1] for p in outline]
    return (min(xs), min(ys), max(xs), max(ys))


def _overlaps(box, others, gap):
    return any(box[0] < o[2] + gap and o[0] < box[2] + gap and box[1] < o[3] + gap and o[1] < box[3] + gap
               for o in others)


def sample_scene(rng, image_size=128, max_objects=3):
    """A random scene of 1..``max_objects`` non-overlapping objects with distinct (colour, shape)."""
    gap = _MARGIN * image_size
    while True:
        count = int(rng.integers(1, max_objects + 1))
        kinds = rng.choice(len(COLOURS) * len(SHAPES), size=count, replace=False)
        objects = []
        for kind in kinds:
            colour, shape = COLOURS[kind // len(SHAPES)], SHAPES[kind % len(SHAPES)]
            size = SIZES[int(rng.integers(len(SIZES)))]
            extent = EXTENT[size] * image_size * rng.uniform(0.9, 1.1)
            for _ in range(50):
                lo, hi = gap + extent / 2, image_size - gap - extent / 2
                box = _box(_outline(shape, rng.uniform(lo, hi), rng.uniform(lo, hi), extent))
                if not _overlaps(box, [o.box for o in objects], gap):
                    objects.append(SceneObject(colour, shape, size, tuple(round(v, 2) for v in box)))
                    break
        if len(objects) == count:  # otherwise the objects did not fit: draw a new scene
            background = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
            return Scene(image_size, background, bool(rng.random() < 0.5), tuple(objects))


def render_scene(scene, rng):
    """The scene as an RGB image; ``rng`` draws the light background texture of textured scenes."""
    size = scene.image_size
    canvas = np.empty((size, size, 3), np.float32)
    canvas[:] = scene.background
    if scene.textured:  # soft blotches: low-resolution noise upsampled
        blotches = rng.normal(0, 7, (max(2, size // 16),) * 2).astype(np.float32)
        canvas += np.asarray(Image.fromarray(blotches).resize((size, size), Image.Resampling.BICUBIC))[..., None]
    big = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).resize((size * SUPERSAMPLE,) * 2,
                                                                          Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(big)
    for obj in scene.objects:
        x1, y1, x2, y2 = (v * SUPERSAMPLE for v in obj.box)
        outline = _outline(obj.shape, (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1))
        if obj.shape == "circle":
            draw.ellipse(outline, fill=RGB[obj.colour])
        else:
            draw.polygon(outline, fill=RGB[obj.colour])
    return big.resize((size, size), Image.Resampling.BOX)


# ---- language ----------------------------------------------------------------------------------

def _shuffled(items, rng):
    return [items[i] for i in rng.permutation(len(items))]


def _article(word):
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(obj, rng, size_prob=0.6, definite=False):
    """"a large red circle", "an orange star", "the blue square" (size stated with ``size_prob``)."""
    words = ([obj.size] if rng.random() < size_prob else []) + [obj.colour, obj.shape]
    return ("the" if definite else _article(words[0])) + " " + " ".join(words)


def position_phrase(obj, image_size):
    """Where the object's centre lies on a 3x3 grid: "at the top left", "on the right", "in the center"."""
    cx, cy = obj.centre
    column = ("left", None, "right")[min(2, int(3 * cx / image_size))]
    row = ("top", None, "bottom")[min(2, int(3 * cy / image_size))]
    if row and column:
        return f"at the {row} {column}"
    if row:
        return f"at the {row}"
    return f"on the {column}" if column else "in the center"


def relation(a, b):
    """How ``a`` lies relative to ``b`` along the dominant axis: "to the left of", "above", ..."""
    (ax, ay), (bx, by) = a.centre, b.centre
    left_of, right_of, above, below = RELATIONS
    if abs(ax - bx) >= abs(ay - by):
        return left_of if ax < bx else right_of
    return above if ay < by else below


def _object_count(scene):
    n = len(scene.objects)
    return "there is one object" if n == 1 else f"there are {NUMBERS[n]} objects"


def _caption_templates(scene, rng):
    """Caption generators for this scene: each returns one caption, the relational ones need two objects."""
    size = scene.image_size

    def pair():
        a, b = rng.choice(len(scene.objects), 2, replace=False)
        return scene.objects[a], scene.objects[b]

    def located():
        obj = scene.objects[int(rng.integers(len(scene.objects)))]
        return f"{noun_phrase(obj, rng)} {position_phrase(obj, size)}"

    def related():
        a, b = pair()
        return f"{noun_phrase(a, rng)} {relation(a, b)} {noun_phrase(b, rng)}"

    def related_clause():
        a, b = pair()
        return f"{noun_phrase(a, rng)} is {relation(a, b)} {noun_phrase(b, rng)}"

    def listed():
        phrases = [noun_phrase(o, rng, size_prob=0.8) for o in _shuffled(scene.objects, rng)]
        body = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
        return f"{_object_count(scene)}: {body}"

    def all_located():
        parts = [f"{noun_phrase(o, rng)} {position_phrase(o, size)}" for o in _shuffled(scene.objects, rng)]
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    templates = [located, listed, all_located]
    return templates + ([related, related_clause] if len(scene.objects) > 1 else [])


def captions(scene, rng, count=5):
    """``count`` distinct captions (fewer only if the grammar runs out), each ending with a full stop.

    Templates are used in a shuffled round-robin, so every scene gets a positional caption and every
    scene with two or more objects a relational one once ``count`` covers the templates.
    """
    templates = _caption_templates(scene, rng)
    order = list(rng.permutation(len(templates)))
    found = []
    for attempt in range(20 * count):
        if len(found) == count:
            break
        text = templates[order[attempt % len(order)]]() + "."
        if text not in found:
            found.append(text)
    return found


def text_document(rng, image_size=128, max_objects=3):
    """A few sentences about one unrendered scene: the text-only corpus's documents (not tied to images)."""
    scene = sample_scene(rng, image_size, max_objects)
    objects, size = scene.objects, scene.image_size
    sentences = [f"{_object_count(scene)}."]
    for obj in _shuffled(objects, rng):
        form = int(rng.integers(3))
        if form == 0:
            sentences.append(f"{noun_phrase(obj, rng, size_prob=0)} is {obj.size}.")
        elif form == 1:
            sentences.append(f"{noun_phrase(obj, rng, definite=True)} is {position_phrase(obj, size)}.")
        else:
            sentences.append(f"{noun_phrase(obj, rng)} {position_phrase(obj, size)}.")
    for a_index, b_index in zip(*np.triu_indices(len(objects), 1)):
        a, b = objects[a_index], objects[b_index]
        if rng.random() < 0.5:
            a, b = b, a
        sentences.append(f"{noun_phrase(a, rng, definite=True)} is {relation(a, b)} "
                         f"{noun_phrase(b, rng, definite=True)}.")
    return sentences
