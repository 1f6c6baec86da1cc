"""One caption's negatives: one element of its scene graph swapped for a typed replacement (see the package
docstring), the article before it re-agreed, never a true caption of the image, and (with a plausibility
filter) never a text that a language model of the true captions finds much less likely than the caption.
"""
import collections
import random

from ....formats.cmcl_candidates import text_key
from .lexicon import POSITION_ANTONYMS
from .vocabulary import PhraseView

_CONSONANT_SOUND = ("uni", "use", "usu", "ute", "uti", "eu", "ewe", "one", "once")
_VOWEL_SOUND = ("hour", "honest", "honor", "honour", "heir")
KINDS = ("object", "attribute", "relation", "exchange")
DRAWS_PER_NEGATIVE = 8  # a caption gets up to k negatives from up to 8 k draws


def _article(word, like):
    """"a" or "an" before ``word``, capitalised like ``like``."""
    w = word.lower()
    an = w.startswith(_VOWEL_SOUND) or (w[:1] in tuple("aeiou") and not w.startswith(_CONSONANT_SOUND))
    return ("an" if an else "a").capitalize() if like[:1].isupper() else ("an" if an else "a")


def _rewrite(text, start, end, article, words):
    """``text`` with ``[start, end)`` replaced by ``words``, and an "a"/"an" at ``article`` re-agreed."""
    if text[start:start + 1].isupper():
        words = words[:1].upper() + words[1:]
    head = text[:start]
    if article >= 0:
        old = head[article:].split()[0]
        head = head[:article] + _article(words, old) + head[article + len(old):]
    return head + words + text[end:]


def _repeats_word(text):
    words = text_key(text).split()
    return any(a == b for a, b in zip(words, words[1:]))


class Swap:
    """One way to rewrite a caption: ``draw(rng)`` gives (start, end, article, words, record) or None."""

    def __init__(self, kind, draw):
        self.kind, self.draw = kind, draw


def swaps(text, graph, vocabulary):
    """The swaps the caption ``text`` offers, by kind (object, attribute, relation, exchange): those with
    a replacement."""
    by_kind = collections.defaultdict(list)
    views = [PhraseView(graph, phrase, vocabulary.types) for phrase in graph.phrases]
    # "2 rings including a teal ring ...": the phrases of a counted noun are not given another noun
    counted = {view.head.key for view, phrase in zip(views, graph.phrases) if phrase.counted}
    # a whole phrase is not swapped for another phrase of the same caption ("a red circle above a red circle")
    instances = {_instance(view) for view in views if view.signature}
    for view in views:
        in_phrase = {s.key for s, _ in view.attributes}
        for slot, kind in view.attributes:
            if kind not in view.repeated_types:
                by_kind["attribute"].append(Swap("attribute", _attribute_swap(vocabulary, slot, kind, in_phrase)))
        if view.head_type:
            by_kind["attribute"].append(Swap("attribute", _attribute_swap(vocabulary, view.head, view.head_type, (),
                                                                          noun=True)))
        if _noun_swappable(view, vocabulary, counted):
            by_kind["object"].append(Swap("object", _object_swap(vocabulary, view)))
            if view.signature:
                by_kind["object"].append(Swap("object", _phrase_swap(vocabulary, view, instances)))
    for index, _, _ in graph.relations:
        by_kind["relation"].append(Swap("relation", _relation_swap(vocabulary, graph.slots[index])))
    for exchange in _exchanges(text, views, vocabulary, counted):
        by_kind["exchange"].append(Swap("exchange", exchange))
    for slot in graph.slots:
        if slot.kind == "position":
            by_kind["relation"].append(Swap("relation", _position_swap(slot)))
    probe = random.Random(0)  # whether a swap has any replacement does not depend on the draw
    available = {kind: [swap for swap in options if swap.draw(probe) is not None] for kind, options in by_kind.items()}
    return {kind: options for kind, options in available.items() if options}


def _noun_swappable(view, vocabulary, counted):
    """Whether a phrase's noun may be replaced: a specific noun, neither generic nor counted."""
    return not (view.object_key is None or view.object_key in vocabulary.generic or
                view.head.key in vocabulary.generic or view.head.key in counted)


def _exchanges(text, views, vocabulary, counted):
    """Two noun phrases of the caption trading an attribute of one type, or their nouns ("a small red
    circle above a large blue square" -> "a small blue circle above a large red square"), as SugarCrepe's
    swap-att / swap-obj negatives do, as draws. Skipped where the two phrases would still say the same,
    word for word or with words the corpus uses interchangeably ("a red circle and a blue circle", "big"
    for "large"), and where a noun is counted or generic."""
    def same(x, y):  # two phrases that say the same: word for word equal or interchangeable
        kinds = ["attribute"] * (len(x) - 1) + ["object"]
        return len(x) == len(y) and all(a == b or b in vocabulary.compatible[kind].get(a, ())
                                        for a, b, kind in zip(x, y, kinds))

    def changes_meaning(first, second, first_after, second_after):
        x, y = _instance(first), _instance(second)
        return not (same(first_after, x) and same(second_after, y) or same(first_after, y) and same(second_after, x))

    edits = []  # (edit in the first phrase, edit in the second, type)
    for i, first in enumerate(views):
        for second in views[i + 1:]:
            # phrases told apart by another type too ("a red circle", "a blue glass circle") trade no
            # attributes: whether the red circle is glass is not said, and "a blue circle and a red glass
            # circle" may be as true
            same_types = sorted(k for _, k in first.attributes) == sorted(k for _, k in second.attributes)
            for a, kind in first.attributes if same_types else ():
                for b, other in second.attributes:
                    if other == kind and kind not in first.repeated_types and \
                            changes_meaning(first, second, _instance(first, {a: b.key}), _instance(second, {b: a.key})):
                        edits.append(((a.start, a.end, a.article, b.text), (b.start, b.end, b.article, a.text), kind))
            if not (_noun_swappable(first, vocabulary, counted) and _noun_swappable(second, vocabulary, counted)):
                continue
            keys = (first.object_key, second.object_key)
            if changes_meaning(first, second, _instance(first)[:-1] + keys[1:], _instance(second)[:-1] + keys[:1]):
                edits.append(((first.object_start, first.head.end, first.object_article,
                               vocabulary.object_form(keys[1], first.tag)),
                              (second.object_start, second.head.end, second.object_article,
                               vocabulary.object_form(keys[0], second.tag)), "noun"))
    exchanges = []
    for one, other, kind_type in edits:
        earlier, later = sorted([one, other])
        if later[0] >= earlier[1]:  # the two edits do not overlap
            exchanges.append(_exchange(text, earlier, later, kind_type))
    return exchanges


def _exchange(text, first, second, kind_type):
    """The draw of one exchange: two edits ``(start, end, article, words)``, the first before the second,
    as one edit from the first's start to the second's end."""
    (start, end, article, words), (start2, end2, article2, words2) = first, second
    between = _rewrite(text[end:end2], start2 - end, end2 - end, article2 - end if article2 >= end else -1, words2)
    record = {"kind": "exchange", "type": kind_type, "from": f"{text[start:end]} | {text[start2:end2]}",
              "to": f"{words} | {words2}"}

    def draw(rng):
        return start, end2, article, words + between, record
    return draw


def _record(kind, kind_type, old, new):
    return {"kind": kind, "type": kind_type, "from": old, "to": new}


def _attribute_swap(vocabulary, slot, kind, in_phrase, noun=False):
    def draw(rng):
        word = vocabulary.attribute_alternative(rng, slot.key, kind, in_phrase, noun)
        if word is None:
            return None
        return slot.start, slot.end, slot.article, word, _record("attribute", kind, slot.text, word)
    return draw


def _object_swap(vocabulary, view):
    def draw(rng):
        key = vocabulary.object_alternative(rng, view.object_key)
        if key is None:
            return None
        words = vocabulary.object_form(key, view.tag)
        return view.object_start, view.head.end, view.object_article, words, \
            _record("object", "noun", view.object_text, words)
    return draw


def _instance(view, replaced=None):
    """A plain noun phrase as the vocabulary's phrase tables key it: its attribute words (those of
    ``replaced`` slots replaced) and its noun."""
    replaced = replaced or {}
    return tuple(replaced.get(s, s.key) for s, _ in view.attributes) + (view.object_key,)


def _phrase_swap(vocabulary, view, instances):
    def draw(rng):
        words = vocabulary.phrase_alternative(rng, " ".join(view.signature), view.object_key, view.tag, instances)
        if words is None:
            return None
        return view.phrase_start, view.head.end, view.phrase_article, words, \
            _record("object", "phrase", view.phrase_text, words)
    return draw


def _relation_swap(vocabulary, slot):
    def draw(rng):
        key = vocabulary.relation_alternative(rng, slot.key, slot.cls)
        if key is None:
            return None
        words = vocabulary.relation_form(key, slot.tag)
        kind_type = "action" if slot.cls == "verb" else "spatial"
        return slot.start, slot.end, slot.article, words, _record("relation", kind_type, slot.text, words)
    return draw


def _position_swap(slot):
    def draw(rng):
        word = POSITION_ANTONYMS[slot.key]
        return slot.start, slot.end, slot.article, word, _record("relation", "position", slot.text, word)
    return draw


def rewrite_caption(text, graph, vocabulary, rng, k, forbidden, plausibility=None, stats=None, by_kind=None):
    """Up to ``k`` negatives of one caption as cmcl_raw items.

    A kind is drawn uniformly among those the caption can swap, then one of its swaps, then the
    replacement by frequency. ``forbidden`` holds normalised texts not to produce (the true captions of
    the image, the caption itself). With ``plausibility`` (a :class:`~.plausibility.Plausibility`), a
    rewrite its model finds too unlikely beside the caption is dropped and another drawn. A caption
    whose draws mostly fail gets fewer than ``k`` negatives after ``8 k`` draws.
    """
    by_kind = swaps(text, graph, vocabulary) if by_kind is None else by_kind
    seen, items = set(forbidden), []
    caption_score = plausibility.score(text) if plausibility is not None else None
    for _ in range(DRAWS_PER_NEGATIVE * k):
        if len(items) == k or not by_kind:
            break
        kind = rng.choice(sorted(by_kind))
        swap = rng.choice(by_kind[kind])
        drawn = swap.draw(rng)
        if drawn is None:  # nothing to swap it for: never again
            by_kind[kind].remove(swap)
            if not by_kind[kind]:
                del by_kind[kind]
            continue
        start, end, article, words, record = drawn
        negative = _rewrite(text, start, end, article, words)
        norm = text_key(negative)
        if norm in seen or _repeats_word(negative):
            continue
        seen.add(norm)
        item = {"text": negative, "level": _level(record), "swapped": record}
        if plausibility is not None:
            delta = plausibility.score(negative) - caption_score
            item["lm_delta"] = round(delta, 3)
            if stats is not None:
                stats["candidates"] += 1
            if not plausibility.keeps(delta):
                continue
            if stats is not None:
                stats["kept"] += 1
                stats["caption_preferred"] += 1.0 if delta < 0 else 0.5 if delta == 0 else 0.0
        items.append(item)
    return items


def _level(record):
    """"phrase" when a replaced element or its replacement spans several words, else "word"."""
    parts = [part for side in ("from", "to") for part in record[side].split(" | ")] \
        if record["kind"] == "exchange" else [record["from"], record["to"]]
    return "phrase" if any(len(part.split()) > 1 for part in parts) else "word"


def true_captions_by_image(captions):
    """image id -> the normalised texts of its captions."""
    texts = collections.defaultdict(set)
    for caption in captions:
        texts[caption["image_id"]].add(text_key(caption["text"]))
    return texts


def caption_negatives(index, caption, graph, vocabulary, per_caption, seed, true_captions, plausibility=None,
                      stats=None):
    """``(items, failure)`` of caption ``index`` of its split: its negatives, or why it has none.

    ``true_captions``: the normalised captions of its image, which a negative must not repeat.
    """
    if not caption["text"].strip():
        return [], "empty"
    if graph.entities == 0:
        return [], "unparsable"
    by_kind = swaps(caption["text"], graph, vocabulary)
    if not by_kind:
        return [], "nothing_swappable"
    rng = random.Random(f"{seed}:{index}:{caption['caption_id']}")
    forbidden = true_captions | {text_key(caption["text"])}
    items = rewrite_caption(caption["text"], graph, vocabulary, rng, per_caption, forbidden, plausibility, stats,
                            by_kind)
    return items, None if items else "no_new_text"
