"""A second synthetic caption language with full ground truth, unlike the sample's: for checking that CMCL
rewriting generalises beyond the words and templates it was developed on.

Its scenes hold 2-4 objects with a size, a colour, a material and a shape, placed in 3-d. Its captions
use words the sample never does and the traps of real captions: synonyms (big/large, small/tiny,
metal/metallic, cube/block, sphere/ball), generic nouns ("a teal shape", "a tiny object"), colours and
materials that taggers read as nouns ("navy", "amber", "rubber"), counted nouns ("2 rings including a
teal ring and a navy ring"), implied relations ("near", "next to"), depth ("in front of", "behind"),
"made of" and positions in the image ("in the left half"). No text of it is ever a caption of the
sample, and no image exists: it is text and truth only (grading needs no pixels).

:func:`make_split` draws a caption split; :class:`Oracle` judges any text against its scenes: ``"true"``,
``"false"`` or ``"malformed"`` (not a sentence of the language), as ``unimo-grade-negatives
--oracle unimo_plugin.testing.compositional_scenes:Oracle --oracle-arg SCENES.json`` does.
"""
import itertools
import json
import math
import os
import re
from typing import List, NamedTuple, Optional

import numpy as np

SIZES = {"small": ("small", "tiny"), "big": ("big", "large")}
COLOURS = ("teal", "crimson", "amber", "navy", "olive", "coral", "maroon", "ivory")
MATERIALS = {"metal": ("metal", "metallic"), "rubber": ("rubber",), "wood": ("wooden",), "glass": ("glass",)}
MATERIAL_NOUNS = {"metal": "metal", "rubber": "rubber", "wood": "wood", "glass": "glass"}  # "made of wood"
SHAPES = {"cube": ("cube", "block"), "sphere": ("sphere", "ball"), "cylinder": ("cylinder",), "cone": ("cone",),
          "ring": ("ring",), "wedge": ("wedge",), "bar": ("bar",), "disk": ("disk",)}
GENERIC = ("shape", "object", "thing")
RELATIONS = ("to the left of", "to the right of", "above", "below", "in front of", "behind", "near", "next to")
HALVES = {"left": (0, "<"), "right": (0, ">"), "top": (1, "<"), "bottom": (1, ">")}
NEAR = 0.35
PLURAL = {"cube": "cubes", "block": "blocks", "sphere": "spheres", "ball": "balls", "cylinder": "cylinders",
          "cone": "cones", "ring": "rings", "wedge": "wedges", "bar": "bars", "disk": "disks"}

SIZE_OF = {w: v for v, ws in SIZES.items() for w in ws}
MATERIAL_OF = {w: v for v, ws in MATERIALS.items() for w in ws}
SHAPE_OF = {w: v for v, ws in SHAPES.items() for w in ws}
SINGULAR = {p: s for s, p in PLURAL.items()}
TRUE, FALSE, MALFORMED = "true", "false", "malformed"


class Thing(NamedTuple):
    size: str
    colour: str
    material: str
    shape: str
    x: float
    y: float
    z: float


def _article(word):
    return "an" if word[0] in "aeiou" else "a"


def _scene(rng):
    while True:
        count = int(rng.integers(2, 5))
        things = [Thing(str(rng.choice(list(SIZES))), str(rng.choice(COLOURS)), str(rng.choice(list(MATERIALS))),
                        str(rng.choice(list(SHAPES))), *(round(float(v), 3) for v in rng.uniform(0, 1, 3)))
                  for _ in range(count)]
        if all(abs(a.x - b.x) > 0.05 and abs(a.y - b.y) > 0.05 and abs(a.z - b.z) > 0.05
               for a, b in itertools.combinations(things, 2)):
            return things


def _phrase(thing, rng, definite=False, material=True, generic=True, keep_shape=False):
    """"a big teal metal cube", "the tiny navy ball", "a coral shape" (attributes drawn, order fixed)."""
    words = []
    if rng.random() < 0.6:
        words.append(str(rng.choice(SIZES[thing.size])))
    if rng.random() < 0.85:
        words.append(thing.colour)
    if material and rng.random() < 0.4:
        words.append(str(rng.choice(MATERIALS[thing.material])))
    if generic and words and not keep_shape and rng.random() < 0.15:
        words.append(str(rng.choice(GENERIC)))
    else:
        words.append(SHAPES[thing.shape][0] if keep_shape else str(rng.choice(SHAPES[thing.shape])))
    return ("the" if definite else _article(words[0])) + " " + " ".join(words)


def _relation(a, b, rng):
    """A relation that holds between a and b, chosen at random among those that do."""
    holding = [r for r in RELATIONS if _holds(r, a, b)]
    return str(rng.choice(holding))


def _holds(relation, a, b):
    return {"to the left of": a.x < b.x, "to the right of": a.x > b.x, "above": a.y < b.y, "below": a.y > b.y,
            "in front of": a.z < b.z, "behind": a.z > b.z,
            "near": math.dist((a.x, a.y), (b.x, b.y)) < NEAR,
            "next to": math.dist((a.x, a.y), (b.x, b.y)) < NEAR}[relation]


def _caption(things, rng):
    form = int(rng.integers(7))
    a, b = (things[i] for i in rng.choice(len(things), 2, replace=False))
    if form == 0:
        return f"{_phrase(a, rng)} {_relation(a, b, rng)} {_phrase(b, rng)}."
    if form == 1:
        return f"{_phrase(a, rng, definite=True)} is {_relation(a, b, rng)} {_phrase(b, rng, definite=True)}."
    if form == 2:
        return f"there is {_phrase(a, rng)} {_relation(a, b, rng)} {_phrase(b, rng, definite=True)}."
    if form == 3:
        by_shape = {}
        for t in things:
            by_shape.setdefault(t.shape, []).append(t)
        shared = [ts for ts in by_shape.values() if len(ts) >= 2]
        if shared:
            group = shared[int(rng.integers(len(shared)))]
            x, y = (group[i] for i in rng.choice(len(group), 2, replace=False))
            noun = SHAPES[x.shape][0]
            return (f"{len(group)} {PLURAL[noun]} including {_phrase(x, rng, generic=False, keep_shape=True)} and "
                    f"{_phrase(y, rng, generic=False, keep_shape=True)}.")
        form = 4
    if form == 4:
        return f"{_phrase(a, rng, material=False, generic=False)} made of {MATERIAL_NOUNS[a.material]}."
    if form == 5:
        chosen = [things[i] for i in rng.permutation(len(things))[:int(rng.integers(2, len(things) + 1))]]
        phrases = [_phrase(t, rng) for t in chosen]
        body = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
        return f"{rng.choice(['an image of', 'a picture with'])} {body}."
    halves = [h for h, (axis, op) in HALVES.items() if (a[4 + axis] < 0.5) == (op == "<")]
    return f"{_phrase(a, rng)} in the {rng.choice(halves)} half."


def make_split(seed, images, captions_per_image=5):
    """``(captions, scenes)``: caption records (caption_id, image_id, text) and image id -> its things."""
    captions, scenes = [], {}
    for k in range(images):
        rng = np.random.default_rng([seed, k])
        things = _scene(rng)
        image_id = f"shapes3d_{seed}_{k:05d}"
        scenes[image_id] = [t._asdict() for t in things]
        texts = []
        for _ in range(20 * captions_per_image):
            if len(texts) == captions_per_image:
                break
            text = _caption(things, rng)
            if text not in texts:
                texts.append(text)
        captions += [{"caption_id": f"{image_id}:{n}", "image_id": image_id, "text": t} for n, t in enumerate(texts)]
    return captions, scenes


def write_split(folder, split, seed, images, captions_per_image=5):
    """Write ``folder/{split}.captions.jsonl`` and ``folder/{split}.scenes.json``; return the scenes path."""
    captions, scenes = make_split(seed, images, captions_per_image)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{split}.captions.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(c) + "\n" for c in captions)
    path = os.path.join(folder, f"{split}.scenes.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(scenes, f)
    return path


# ---- the grammar and the truth ------------------------------------------------------------------

class Phrase(NamedTuple):
    size: Optional[str]
    colour: Optional[str]
    material: Optional[str]
    shape: Optional[str]  # None: a generic noun


_TOKEN = re.compile(r"[a-z0-9]+|[.,]")


class _Reader:
    def __init__(self, text):
        self.w, self.i = _TOKEN.findall(text.lower()), 0

    def peek(self, n=0):
        return self.w[self.i + n] if self.i + n < len(self.w) else None

    def take(self, *options):
        for option in sorted((o.split() for o in options), key=len, reverse=True):
            if self.w[self.i:self.i + len(option)] == option:
                self.i += len(option)
                return " ".join(option)
        return None

    def phrase(self, definite_ok=True, material=True):
        article = self.take("a", "an", "the")
        if article is None or (article == "the" and not definite_ok):
            return None
        first = self.peek()
        size = SIZE_OF.get(self.peek())
        self.i += size is not None
        colour = self.peek() if self.peek() in COLOURS else None
        self.i += colour is not None
        mat = MATERIAL_OF.get(self.peek()) if material else None
        self.i += mat is not None
        noun = self.peek()
        if noun in SHAPE_OF:
            shape = SHAPE_OF[noun]
        elif noun in GENERIC and (size or colour or mat):
            shape = None
        else:
            return None
        self.i += 1
        if first is None or (article != "the" and article != _article(first)):
            return None
        return Phrase(size, colour, mat, shape), noun

    def done(self):
        self.take(".")
        return self.i == len(self.w)


def parse(text):
    """(form, parts) of a sentence of the language, or None."""
    r = _Reader(text)
    if r.peek() and r.peek().isdigit():
        count = int(r.peek())
        r.i += 1
        plural = r.peek()
        if count < 2 or plural not in SINGULAR:
            return None
        r.i += 1
        if not r.take("including"):
            return None
        first = r.phrase(definite_ok=False)
        second = r.phrase(definite_ok=False) if first and r.take("and") else None
        if second is None or not r.done() or {first[1], second[1]} != {SINGULAR[plural]}:
            return None
        return "counted", (count, SHAPE_OF[SINGULAR[plural]], first[0], second[0])
    if r.take("there is"):
        a = r.phrase(definite_ok=False)
        relation = r.take(*RELATIONS) if a else None
        b = r.phrase() if relation else None
        return ("related", (a[0], relation, b[0])) if b and r.done() else None
    if r.take("an image of", "a picture with"):
        phrases = [r.phrase(definite_ok=False)]
        while phrases[-1] and r.take(","):
            phrases.append(r.phrase(definite_ok=False))
        if phrases[-1] and r.take("and"):
            phrases.append(r.phrase(definite_ok=False))
        elif len(phrases) > 1:
            return None
        if not phrases[-1] or not r.done() or any(p is None for p in phrases):
            return None
        return "listed", tuple(p[0] for p in phrases)
    definite = r.peek() == "the"
    a = r.phrase()
    if a is None:
        return None
    if definite:
        if not r.take("is"):
            return None
        relation = r.take(*RELATIONS)
        b = r.phrase() if relation else None
        return ("related", (a[0], relation, b[0])) if b and r.done() else None
    if r.take("made of"):
        if a[0].material is not None:
            return None
        material = {noun: value for value, noun in MATERIAL_NOUNS.items()}.get(r.peek())
        r.i += 1
        return ("made_of", (a[0], material)) if material and r.done() else None
    if r.take("in the"):
        half = r.peek()
        r.i += 1
        return ("half", (a[0], half)) if half in HALVES and r.take("half") and r.done() else None
    relation = r.take(*RELATIONS)
    b = r.phrase(definite_ok=False) if relation else None
    return ("related", (a[0], relation, b[0])) if b and r.done() else None


def _matches(phrase, thing):
    return all(want is None or want == have for want, have in
               ((phrase.size, thing.size), (phrase.colour, thing.colour), (phrase.material, thing.material),
                (phrase.shape, thing.shape)))


def truth(form, parts, things):
    if form == "related":
        a, relation, b = parts
        return any(x is not y and _matches(a, x) and _matches(b, y) and _holds(relation, x, y)
                   for x in things for y in things)
    if form == "counted":
        count, shape, first, second = parts
        group = [t for t in things if t.shape == shape]
        return len(group) == count and any(_matches(first, x) and _matches(second, y)
                                           for x, y in itertools.permutations(group, 2))
    if form == "listed":
        return any(all(_matches(p, t) for p, t in zip(parts, chosen))
                   for chosen in itertools.permutations(things, len(parts)))
    if form == "made_of":
        phrase, material = parts
        return any(_matches(phrase._replace(material=material), t) for t in things)
    phrase, half = parts
    axis, op = HALVES[half]
    return any(_matches(phrase, t) and ((t[4 + axis] < 0.5) == (op == "<")) for t in things)


class Oracle:
    """Judges texts against the scenes :func:`write_split` wrote: "true", "false" or "malformed"."""

    def __init__(self, scenes_json: str):
        with open(scenes_json, encoding="utf-8") as f:
            self.scenes = {k: [Thing(**t) for t in v] for k, v in json.load(f).items()}

    def judge(self, image_id: str, text: str) -> str:
        parsed = parse(text)
        if parsed is None:
            return MALFORMED
        return TRUE if truth(*parsed, self.scenes[image_id]) else FALSE


def captions_are_true(captions: List[dict], oracle: Oracle) -> bool:
    return all(oracle.judge(c["image_id"], c["text"]) == TRUE for c in captions)
