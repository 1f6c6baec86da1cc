"""One caption's negatives: a scene-graph element swapped for another of its kind and class, the article
before it re-agreed, never a true caption of the image."""
import collections
import random

from ....formats.cmcl_candidates import text_key

_CONSONANT_SOUND = ("uni", "use", "usu", "ute", "uti", "eu", "ewe", "one", "once")
_VOWEL_SOUND = ("hour", "honest", "honor", "honour", "heir")


def _article(word, like):
    """"a" or "an" before ``word``, capitalised like ``like``."""
    w = word.lower()
    an = w.startswith(_VOWEL_SOUND) or (w[:1] in tuple("aeiou") and not w.startswith(_CONSONANT_SOUND))
    return ("an" if an else "a").capitalize() if like[:1].isupper() else ("an" if an else "a")


def _rewrite(text, slot, words):
    """``text`` with the slot's words replaced by ``words``, and an "a"/"an" before them re-agreed."""
    if slot.text[:1].isupper():
        words = words[:1].upper() + words[1:]
    head = text[:slot.start]
    if slot.article >= 0:
        article = head[slot.article:].split()[0]
        head = head[:slot.article] + _article(words, article) + head[slot.article + len(article):]
    return head + words + text[slot.end:]


def _repeats_word(text):
    words = text_key(text).split()
    return any(a == b for a, b in zip(words, words[1:]))


def rewrite_caption(text, graph, vocabulary, rng, k, forbidden):
    """Up to ``k`` negatives of one caption as cmcl_raw items.

    A kind is drawn uniformly among those the caption can swap, then one of its elements, then the
    replacement by frequency. ``forbidden`` holds normalised texts not to produce (the true captions of
    the image, the caption itself); a caption whose swaps mostly repeat them or each other gets fewer
    than ``k`` negatives after ``8 k`` draws.
    """
    by_kind = collections.defaultdict(list)
    for slot in graph.slots:
        if vocabulary.has_alternative(slot):
            by_kind[slot.kind].append(slot)
    seen, items = set(forbidden), []
    for _ in range(8 * k):
        if len(items) == k or not by_kind:
            break
        slot = rng.choice(by_kind[rng.choice(sorted(by_kind))])
        words = vocabulary.form(slot, vocabulary.sample(rng, slot))
        negative = _rewrite(text, slot, words)
        norm = text_key(negative)
        if norm in seen or _repeats_word(negative):
            continue
        seen.add(norm)
        level = "phrase" if len(slot.text.split()) > 1 or len(words.split()) > 1 else "word"
        items.append({"text": negative, "level": level,
                      "swapped": {"kind": slot.kind, "from": slot.text, "to": words}})
    return items


def true_captions_by_image(captions):
    """image id -> the normalised texts of its captions."""
    texts = collections.defaultdict(set)
    for caption in captions:
        texts[caption["image_id"]].add(text_key(caption["text"]))
    return texts


def caption_negatives(index, caption, graph, vocabulary, per_caption, seed, true_captions):
    """``(items, failure)`` of caption ``index`` of its split: its negatives, or why it has none.

    ``true_captions``: the normalised captions of its image, which a negative must not repeat.
    """
    if not caption["text"].strip():
        return [], "empty"
    if graph.entities == 0:
        return [], "unparsable"
    if not any(vocabulary.has_alternative(s) for s in graph.slots):
        return [], "nothing_swappable"
    rng = random.Random(f"{seed}:{index}:{caption['caption_id']}")
    forbidden = true_captions | {text_key(caption["text"])}
    items = rewrite_caption(caption["text"], graph, vocabulary, rng, per_caption, forbidden)
    return items, None if items else "no_new_text"
