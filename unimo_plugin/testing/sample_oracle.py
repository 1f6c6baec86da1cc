"""The ground truth of the sample data's language: is a text a well-formed sentence of the sample's caption
grammar (sample_scenes.py), and is it true of a given scene?

The sample's scenes are generated, so every caption's truth is known. :class:`SampleOracle` judges any
text against any scene of a sample build (``raw/dataset_sample.json``): ``"malformed"`` when the text
is not a sentence of the caption grammar (an unknown word, two sizes or two colours in one noun phrase,
words out of order, "a"/"an" not agreeing, a listed count that is not the number of listed objects),
else ``"true"`` or ``"false"`` for the scene. It grades CMCL negatives (``unimo-grade-negatives``) and
builds the sample's compositional swap set; nothing in the rewriting pipeline reads it.

Truth is literal, so that a negative that merely restates the picture less precisely counts as a false
negative: a noun phrase matches an object of its colour and shape (and size, when stated); "A to the
left of B" holds when A's centre lies left of B's (likewise right, above, below), whichever axis
dominates; "at the top" holds for an object in the top third, whatever its column ("at the top left":
both), "in the center" for the middle cell; "there are N objects: ..." holds when the scene has N
objects and the listed phrases match them one to one; a list of located phrases holds when each
matches a different object.
"""
import itertools
import json
import os
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from .vocabulary import COLOURS, RELATIONS, SHAPES, SIZES

NUMBERS = {"one": 1, "two": 2, "three": 3}
TRUE, FALSE, MALFORMED = "true", "false", "malformed"
POSITIONS = {  # phrase -> (row, column) it requires; None: any
    ("at", "the", "top", "left"): ("top", "left"), ("at", "the", "top", "right"): ("top", "right"),
    ("at", "the", "bottom", "left"): ("bottom", "left"), ("at", "the", "bottom", "right"): ("bottom", "right"),
    ("at", "the", "top"): ("top", None), ("at", "the", "bottom"): ("bottom", None),
    ("on", "the", "left"): (None, "left"), ("on", "the", "right"): (None, "right"),
    ("in", "the", "center"): ("middle", "middle"),
}
RELATION_WORDS = {tuple(r.split()): r for r in RELATIONS}
_TOKEN = re.compile(r"[a-z]+|[.,:]")


class Phrase(NamedTuple):
    """A noun phrase: its attribute words and noun, and where its words are in the token list."""

    size: Optional[str]
    colour: str
    shape: str
    start: int  # index of the article
    end: int


class Claim(NamedTuple):
    """What a well-formed caption states."""

    form: str  # located | related | listed
    phrases: Tuple[Phrase, ...]
    positions: Tuple[Optional[Tuple[str, ...]], ...] = ()  # located: one position phrase per noun phrase
    relation: Optional[str] = None  # related: the relation of phrases[0] to phrases[1]
    count: Optional[int] = None  # listed: the number word


def tokens(text: str) -> List[str]:
    return _TOKEN.findall(text.lower())


def untokenize(words: Sequence[str]) -> str:
    return re.sub(r" ([.,:])", r"\1", " ".join(words))


def _article_agrees(article, word):
    return article == "the" or (article == "an") == (word[0] in "aeiou")


class _Parser:
    def __init__(self, words):
        self.w, self.i = words, 0

    def take(self, *options):
        """The longest of ``options`` (tuples of words) at the cursor, consumed; None if none fits."""
        for option in sorted(options, key=len, reverse=True):
            if tuple(self.w[self.i:self.i + len(option)]) == option:
                self.i += len(option)
                return option
        return None

    def phrase(self):
        start = self.i
        if self.i >= len(self.w) or self.w[self.i] not in ("a", "an", "the"):
            return None
        article = self.w[self.i]
        self.i += 1
        size = self.w[self.i] if self.i < len(self.w) and self.w[self.i] in SIZES else None
        self.i += size is not None
        if self.i >= len(self.w) or self.w[self.i] not in COLOURS:
            return None
        colour = self.w[self.i]
        self.i += 1
        if self.i >= len(self.w) or self.w[self.i] not in SHAPES:
            return None
        shape = self.w[self.i]
        self.i += 1
        if not _article_agrees(article, self.w[start + 1]):
            return None
        return Phrase(size, colour, shape, start, self.i)

    def end(self):
        self.take((".",))
        return self.i == len(self.w)


def parse(text: str) -> Optional[Claim]:
    """The claim of a sentence of the sample's caption grammar, or None for anything else."""
    words = tokens(text)
    p = _Parser(words)
    if p.take(("there", "is", "one", "object", ":"), ("there", "are")):
        count = 1
        if words[:2] == ["there", "are"]:
            if p.i >= len(words) or words[p.i] not in ("two", "three"):
                return None
            count = NUMBERS[words[p.i]]
            p.i += 1
            if not p.take(("objects", ":")):
                return None
        phrases = [p.phrase()]
        while phrases[-1] is not None and p.take((",",)):
            phrases.append(p.phrase())
        if phrases[-1] is not None and len(phrases) >= 1 and p.take(("and",)):
            phrases.append(p.phrase())
        if any(ph is None for ph in phrases) or not p.end():
            return None
        if len(phrases) != count or not _list_shape(words, phrases):
            return None
        return Claim("listed", tuple(phrases), count=count)
    first = p.phrase()
    if first is None:
        return None
    if p.take(("is",)):
        relation = p.take(*RELATION_WORDS)
        second = p.phrase() if relation else None
        return Claim("related", (first, second), relation=RELATION_WORDS[relation]) \
            if second is not None and p.end() else None
    relation = p.take(*RELATION_WORDS)
    if relation:
        second = p.phrase()
        return Claim("related", (first, second), relation=RELATION_WORDS[relation]) \
            if second is not None and p.end() else None
    phrases, positions = [first], [p.take(*POSITIONS)]
    while positions[-1] is not None and p.take((",",), ("and",)):
        phrases.append(p.phrase())
        positions.append(p.take(*POSITIONS) if phrases[-1] is not None else None)
    if phrases[-1] is None or positions[-1] is None or not p.end() or not _list_shape(words, phrases):
        return None
    return Claim("located", tuple(phrases), positions=tuple(positions))


def _list_shape(words, phrases):
    """Phrases listed as "x", "x and y" or "x, y and z": the separators before each phrase."""
    separators = [words[ph.start - 1] for ph in phrases[1:]]
    want = [","] * (len(phrases) - 2) + ["and"] if len(phrases) > 1 else []
    return separators == want


# ---- truth -------------------------------------------------------------------------------------

def _matches(phrase, obj):
    return obj["colour"] == phrase.colour and obj["shape"] == phrase.shape and phrase.size in (None, obj["size"])


def _centre(obj):
    x1, y1, x2, y2 = obj["box"]
    return (x1 + x2) / 2, (y1 + y2) / 2


def _cell(obj, image_size):
    cx, cy = _centre(obj)
    column = ("left", "middle", "right")[min(2, int(3 * cx / image_size))]
    row = ("top", "middle", "bottom")[min(2, int(3 * cy / image_size))]
    return row, column


def _holds(relation, a, b):
    (ax, ay), (bx, by) = _centre(a), _centre(b)
    left_of, right_of, above, below = RELATIONS
    return {left_of: ax < bx, right_of: ax > bx, above: ay < by, below: ay > by}[relation]


def truth(claim: Claim, objects: Sequence[dict], image_size: int) -> bool:
    """Whether ``claim`` holds for a scene's ``objects`` (dataset_sample.json's records)."""
    if claim.form == "related":
        a, b = claim.phrases
        return any(i != j and _matches(a, objects[i]) and _matches(b, objects[j]) and
                   _holds(claim.relation, objects[i], objects[j])
                   for i in range(len(objects)) for j in range(len(objects)))
    if claim.form == "listed" and claim.count != len(objects):
        return False

    def fits(k, obj):
        if not _matches(claim.phrases[k], obj):
            return False
        if claim.form != "located":
            return True
        row, column = POSITIONS[claim.positions[k]]
        cell = _cell(obj, image_size)
        return row in (None, cell[0]) and column in (None, cell[1])

    return any(all(fits(k, objects[i]) for k, i in enumerate(chosen))
               for chosen in itertools.permutations(range(len(objects)), len(claim.phrases)))


class SampleOracle:
    """Judges texts against the scenes of a sample build: ``judge(image_id, text)`` is ``"true"``,
    ``"false"`` or ``"malformed"``."""

    def __init__(self, dataset_json: str, image_size: Optional[int] = None):
        with open(dataset_json, encoding="utf-8") as f:
            images = json.load(f)["images"]
        self.objects: Dict[str, List[dict]] = {im["image_id"]: im["objects"] for im in images}
        self.captions: Dict[str, List[str]] = {im["image_id"]: [s["raw"] for s in im["sentences"]] for im in images}
        self.image_size = image_size or _image_size(dataset_json)

    def judge(self, image_id: str, text: str) -> str:
        claim = parse(text)
        if claim is None:
            return MALFORMED
        return TRUE if truth(claim, self.objects[image_id], self.image_size) else FALSE


def _image_size(dataset_json):
    """The scenes' side in pixels, from the raw build's manifest beside dataset_sample.json (128 without one)."""
    manifest = os.path.join(os.path.dirname(os.path.abspath(dataset_json)) + ".manifest.json")
    if os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as f:
            return int(json.load(f)["options"]["image_size"])
    return 128
