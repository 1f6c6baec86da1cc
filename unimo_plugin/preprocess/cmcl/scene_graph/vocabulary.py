"""The vocabulary of a caption split, learned from its parsed captions: what a swap may replace with what.

- **Attribute types.** A modifier is replaced only by a modifier of the same type (colour by colour, size
  by size, ...). Types come from the built-in lexicon (``lexicon.py``) and from the corpus: two
  modifiers of one noun phrase are of different types (a "cannot-link"), and modifiers that fill the
  same slots (the words or types around them, the nouns they modify) are of the same type. A modifier
  the lexicon does not know joins the type whose slots it fills most alike (cosine of slot counts
  >= ``SIMILARITY``) and none of whose words it ever stands beside; modifiers that join no type group
  among themselves the same way; one that fills a noun's slots (mostly tagged a noun, like "tennis" in
  "tennis racket") is part of a compound noun instead. A modifier left alone, or seen fewer than
  ``MIN_TYPED`` times (too rarely to tell its type), has no type and is never swapped.
- **Same thing, other words.** Captions of one image describe the same objects: two noun phrases of two
  captions of an image with the same noun and the same other attributes but two words of one type ("a
  big bar", "a large bar") name one thing two ways, unless one caption names both (then they are two
  things). A pair aligned so in >= ``ALIGNED_SHARE`` of the images where both words occur is
  *compatible*: never swapped for each other. Likewise nouns (a phrase whose attributes are a subset of
  the other's: "a teal shape", "a teal bar"), and a noun compatible with several others is generic (a
  hypernym), like the lexicon's "shape", "object", "thing", ...: never swapped, never a replacement.
  Relations stated between the same two phrases in the same direction are compatible ("left of",
  "near"); in the opposite direction, converse ("A left of B", "B right of A").
- **Contradictions.** A preposition is replaced only by a relation that contradicts it: the lexicon's
  antonyms (above/below, on/under, in front of/behind, ...) and a word antonym inside it ("to the left
  of" -> "to the right of"), when the corpus uses that relation, and converses the corpus shows that are
  not symmetric; never a weak relation ("near", "next to", "by") or a compatible one. A verb is replaced
  by another verb of the corpus. Positions in the picture are replaced by their opposite ("top" ->
  "bottom").
- **Noun phrases** of attributes of known types and a noun, by their sequence of types ("size colour"),
  for the phrase-level swap of a whole object.

Counts and the corpus's written forms are kept so that replacements are drawn by frequency and written
in the slot's form (plural stays plural, a verb keeps its tense).
"""
import bisect
import collections
import itertools
import json
import math
import os

from lemminflect import getInflection

from ....common.artifacts import InputError, atomic_output
from ....formats.caption_sets import CAPTIONS_SUFFIX
from .lexicon import (
    GENERIC_NOUNS,
    RELATION_WORD_ANTONYMS,
    WEAK_RELATIONS,
    WORD_TYPES,
    relation_antonyms,
)

SIMILARITY = 0.5  # least cosine of slot counts for an unknown modifier to join a type
CANNOT_LINK_SHARE = 0.02  # a modifier standing beside words of a type in more of its phrases is not of it
ALIGNED_SHARE = 0.3  # least share of co-occurring images in which two words name the same thing
MIN_ALIGNED = 2  # and in at least this many images
GENERIC_PARTNERS = 3  # a noun compatible with this many others is generic
MIN_TYPED = 3  # a modifier the lexicon does not know is typed from the corpus once seen this often
FORMAT_VERSION = 4


def _cosine(a, b):
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na, nb = math.sqrt(sum(v * v for v in a.values())), math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


REJECTIONS = 8  # draws a table rejects before it drops the excluded keys and draws from the rest


class _Table:
    """Keys with counts, drawn by frequency with some keys left out."""

    def __init__(self, rows):
        self.keys = [r[0] for r in rows]
        self.counts = [r[1] for r in rows]
        self.cumulative = list(itertools.accumulate(self.counts))

    def _draw(self, rng):
        return self.keys[min(bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1]),
                             len(self.keys) - 1)]

    def sample(self, rng, exclude=()):
        """A key not in ``exclude`` drawn in proportion to its count, or None if none is left.

        Draws from the whole table are rejected while excluded (the same distribution, without a pass over
        every key); after ``REJECTIONS`` of them the keys left are drawn from directly."""
        if not self.keys:
            return None
        for _ in range(REJECTIONS if exclude else 1):
            key = self._draw(rng)
            if key not in exclude:
                return key
        keys = [(k, c) for k, c in zip(self.keys, self.counts) if k not in exclude]
        if not keys:
            return None
        r = rng.random() * sum(c for _, c in keys)
        for k, c in keys:
            r -= c
            if r < 0:
                return k
        return keys[-1][0]


def _phrase_words(graph, phrase):
    return [graph.slots[m] for m in phrase.modifiers], graph.slots[phrase.head]


class Vocabulary:
    """What a split's captions say about their words (see the module docstring); ``data`` is its JSON."""

    def __init__(self, data):
        self.data = data
        self.types = data["attribute_types"]  # modifier word -> type ("" : a compound noun's word)
        self.attribute_tables = {t: _Table(rows) for t, rows in data["attributes"].items()}
        self.noun_attribute_tables = {t: _Table(rows) for t, rows in data["noun_attributes"].items()}
        self.object_forms = {r[0]: r[2] for r in data["objects"]}
        self.generic = set(data["generic"])
        self.compatible = {kind: collections.defaultdict(set) for kind in data["compatible"]}  # word -> partners
        for kind, pairs in data["compatible"].items():
            for a, b in pairs:
                self.compatible[kind][a].add(b)
                self.compatible[kind][b].add(a)
        # an object is replaced by one of as many words ("tennis racket" by "baseball bat", not by "bat")
        self.object_tables = {n: _Table([r[:2] for r in data["objects"] if len(r[0].split()) == n])
                              for n in {len(r[0].split()) for r in data["objects"]}}
        self.relations = data["relations"]  # key -> {"cls", "count", "forms", "contradicts"}
        self.verb_table = _Table([(k, r["count"]) for k, r in self.relations.items() if r["cls"] == "verb"])
        self.phrase_tables = {sig: _Table([(i, r[1]) for i, r in enumerate(rows)])
                              for sig, rows in data["phrases"].items()}
        self.phrase_rows = data["phrases"]
        # per signature: the rows of each noun, and the row of each phrase (attribute words and noun)
        self.phrase_rows_of_head = {sig: collections.defaultdict(list) for sig in data["phrases"]}
        self.phrase_row_of = {sig: {} for sig in data["phrases"]}
        for sig, rows in data["phrases"].items():
            for i, r in enumerate(rows):
                self.phrase_rows_of_head[sig][r[0][-1]].append(i)
                self.phrase_row_of[sig][tuple(r[0])] = i
        self.plausibility = data.get("plausibility")

    # ---- building ----------------------------------------------------------------------------

    @classmethod
    def build(cls, graphs, image_ids):
        """The vocabulary of parsed captions ``graphs`` whose images are ``image_ids`` (same order)."""
        graphs, image_ids = list(graphs), list(image_ids)
        types = _attribute_types(graphs)
        by_image = collections.defaultdict(list)
        for graph, image in zip(graphs, image_ids):
            by_image[image].append(graph)
        objects, forms = collections.Counter(), collections.Counter()
        attributes, noun_attributes = collections.Counter(), collections.Counter()
        phrases, phrase_forms = collections.Counter(), collections.Counter()
        relations, relation_forms = collections.Counter(), collections.Counter()
        relation_cls = {}
        for graph in graphs:
            for phrase in graph.phrases:
                view = PhraseView(graph, phrase, types)
                for slot, kind in view.attributes:
                    attributes[kind, slot.key] += 1
                if view.head_type:
                    noun_attributes[view.head_type, view.head.key] += 1
                if view.object_key is not None:
                    objects[view.object_key] += 1
                    forms[view.object_key, view.tag, view.object_text.lower()] += 1
                if view.signature:
                    instance = tuple(s.key for s, _ in view.attributes) + (view.object_key,)  # as rewrite.py keys it
                    phrases[view.signature, instance] += 1
                    phrase_forms[view.signature, instance, view.tag, view.phrase_text.lower()] += 1
            for index, _, _ in graph.relations:
                slot = graph.slots[index]
                relations[slot.key] += 1
                relation_cls[slot.key] = slot.cls
                relation_forms[slot.key, slot.tag, slot.text.lower()] += 1
        compatible, converse = _alignments(by_image, types)
        object_forms, phrase_forms, relation_forms = map(_forms_by_key, (forms, phrase_forms, relation_forms))
        # a noun that names the same thing as several specific ones is a hypernym (after the lexicon's are
        # set aside: a specific noun is also named "shape", "object" and "thing")
        specific = [p for p in compatible["object"] if not (set(p) & GENERIC_NOUNS)]
        learned_generic = {n for n, k in collections.Counter(n for p in specific for n in p).items()
                           if k >= GENERIC_PARTNERS}
        generic = sorted((set(objects) & GENERIC_NOUNS) | learned_generic
                         | {k for k in objects if k.split()[-1] in GENERIC_NOUNS})
        compatible["object"] = [p for p in compatible["object"] if not (set(p) & set(generic))]
        data = {
            "format_version": FORMAT_VERSION,
            "attribute_types": types,
            "attributes": {t: _rows(((w, n) for (tt, w), n in attributes.items() if tt == t)) for t in
                           sorted({t for t, _ in attributes})},
            "noun_attributes": {t: _rows(((w, n) for (tt, w), n in noun_attributes.items() if tt == t)) for t in
                                sorted({t for t, _ in noun_attributes})},
            "objects": [[k, n, object_forms[k,]] for k, n in _rows(objects.items()) if k not in generic],
            "generic": generic,
            "phrases": {" ".join(sig): [[list(inst), n, phrase_forms[sig, inst]]
                                        for inst, n in _rows((inst, n) for (s, inst), n in phrases.items() if s == sig)
                                        if inst[-1] not in generic]
                        for sig in sorted({s for s, _ in phrases})},
            "relations": {},
            "compatible": {kind: sorted(map(list, pairs)) for kind, pairs in compatible.items()},
            "converse": sorted([a, b, n] for (a, b), n in converse.items()),
        }
        data["phrases"] = {sig: rows for sig, rows in data["phrases"].items() if rows}
        compat = {(a, b) for a, b in compatible["relation"]} | {(b, a) for a, b in compatible["relation"]}
        for key, n in _rows(relations.items()):
            data["relations"][key] = {"cls": relation_cls[key], "count": n,
                                      "forms": relation_forms[key,],
                                      "contradicts": sorted(_contradictions(key, relations, converse, compat))
                                      if relation_cls[key] == "preposition" else []}
        return cls(data)

    # ---- drawing replacements ----------------------------------------------------------------

    def attribute_alternative(self, rng, word, kind, exclude, noun=False):
        """Another word of type ``kind`` (``noun``: one the corpus uses in a noun's place, "made of metal")."""
        table = (self.noun_attribute_tables if noun else self.attribute_tables).get(kind)
        if table is None:
            return None
        banned = {word} | set(exclude) | self.compatible["attribute"].get(word, set())
        return table.sample(rng, banned)

    def object_alternative(self, rng, key, exclude=()):
        table = self.object_tables.get(len(key.split()))
        if table is None:
            return None
        return table.sample(rng, {key} | set(exclude) | self.compatible["object"].get(key, set()))

    def phrase_alternative(self, rng, signature, head, tag, exclude=()):
        """A noun phrase of the corpus with the same attribute types and another noun, none of ``exclude``
        (attribute words and noun): its written words."""
        table = self.phrase_tables.get(signature)
        if table is None:
            return None
        rows = self.phrase_rows[signature]
        banned_heads = {head} | self.compatible["object"].get(head, set())
        by_head, row_of = self.phrase_rows_of_head[signature], self.phrase_row_of[signature]
        banned = {i for h in banned_heads for i in by_head.get(h, ())} | {row_of[e] for e in exclude if e in row_of}
        index = table.sample(rng, banned)
        if index is None:
            return None
        words, _, seen = rows[index]
        if tag in seen:
            return seen[tag]
        *modifiers, noun = words
        return " ".join(modifiers + [_inflect(noun, tag)])

    def relation_alternative(self, rng, key, cls):
        entry = self.relations.get(key)
        if cls == "verb":
            banned = {key} | self.compatible["relation"].get(key, set())
            banned |= {k for k, r in self.relations.items() if r["cls"] != "verb"}
            return self.verb_table.sample(rng, banned)
        if entry is None or not entry["contradicts"]:
            return None
        options = entry["contradicts"]
        return _Table([(k, self.relations[k]["count"] if k in self.relations else 1) for k in options]).sample(rng)

    def object_form(self, key, tag):
        seen = self.object_forms.get(key, {})
        if tag in seen:
            return seen[tag]
        words = key.split()
        words[-1] = _inflect(words[-1], tag)
        return " ".join(words)

    def relation_form(self, key, tag):
        seen = self.relations.get(key, {}).get("forms", {})
        if tag in seen:
            return seen[tag]
        words = key.split()
        if tag:
            words[0] = (getInflection(words[0], tag) or (words[0],))[0]
        return " ".join(words)

    # ---- saving --------------------------------------------------------------------------------

    def save(self, path, source):
        """JSON, one entry per line where lists are long, for a person to read."""
        with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write('{"source": ' + json.dumps(source) + ",\n")
            items = list(self.data.items())
            for n, (key, value) in enumerate(items):
                f.write(f" {json.dumps(key)}: ")
                if isinstance(value, dict) and value and key != "plausibility":
                    f.write("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
                                                for k, v in value.items()) + "}")
                else:
                    f.write(json.dumps(value, ensure_ascii=False))
                f.write(",\n" if n + 1 < len(items) else "}\n")

    @classmethod
    def load(cls, path, source):
        """The vocabulary saved at ``path`` if it was built from ``source`` (and in this format), else None."""
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            try:
                saved = json.load(f)
            except json.JSONDecodeError as e:
                raise InputError(path, f"not a vocabulary file ({e}); delete it to rebuild it", line=e.lineno)
        if not isinstance(saved, dict) or "attribute_types" not in saved and "vocabulary" not in saved:
            raise InputError(path, "not a vocabulary file; delete it to rebuild it")
        if saved.get("source") != source or saved.get("format_version") != FORMAT_VERSION:
            return None
        return cls({k: v for k, v in saved.items() if k != "source"})


def _rows(counts):
    """[key, count] rows, most frequent first (keys alphabetical among equals)."""
    return [[k, n] for k, n in sorted(counts, key=lambda kv: (-kv[1], kv[0]))]


def _forms_by_key(forms):
    """``forms`` counts ``key + (tag, written form)``: per key, the commonest form of each tag
    (alphabetical among equals)."""
    found = collections.defaultdict(dict)
    for (*key, tag, form), n in sorted(forms.items(), key=lambda kv: (-kv[1], kv[0][-1])):
        found[tuple(key)].setdefault(tag, form)
    return found


def _inflect(noun, tag):
    return (getInflection(noun, tag) or (noun,))[0] if tag else noun


class PhraseView:
    """A noun phrase as the vocabulary's types read it."""

    def __init__(self, graph, phrase, types):
        modifiers, head = _phrase_words(graph, phrase)
        self.head = head
        self.tag = head.tag
        # words of a compound noun: untyped modifiers right before the noun ("tennis" in "tennis racket")
        compound = []
        for slot in reversed(modifiers):
            if types.get(slot.key) != "":
                break
            compound.insert(0, slot)
        self.compound = compound
        self.attributes = [(s, types[s.key]) for s in modifiers if s not in compound and types.get(s.key)]
        untyped = [s for s in modifiers if s not in compound and not types.get(s.key)]
        # a bare noun the types know ("made of metal", "dressed in red"): an attribute in a noun's place
        self.head_type = (types.get(head.key) or WORD_TYPES.get(head.key)) \
            if not (modifiers or phrase.determined or phrase.counted) else None
        self.object_key = " ".join([s.key for s in compound] + [head.key]) \
            if not phrase.counted and not self.head_type else None
        start = compound[0] if compound else head
        self.object_start, self.object_article = start.start, start.article
        self.object_text = " ".join([s.text for s in compound] + [head.text])
        kinds = [k for _, k in self.attributes]
        self.repeated_types = {k for k in kinds if kinds.count(k) > 1}
        # a whole-phrase swap needs every modifier typed, one word per type, nothing else inside
        self.signature = tuple(kinds) if (phrase.plain and not untyped and not compound and self.attributes
                                          and not self.repeated_types and not phrase.counted) else ()
        self.phrase_start = modifiers[0].start if modifiers else head.start
        self.phrase_article = modifiers[0].article if modifiers else head.article
        self.phrase_text = " ".join([s.text for s in modifiers] + [head.text])


# ---- learning the attribute types ---------------------------------------------------------------

def _attribute_types(graphs):
    """modifier word -> its type (a lexicon type, a learned one, or "" for a compound noun's word)."""
    count = collections.Counter()
    adjective = collections.Counter()
    together = collections.defaultdict(collections.Counter)  # word -> words beside it in one phrase
    slots = collections.defaultdict(collections.Counter)  # word -> its slot features
    for graph in graphs:
        for phrase in graph.phrases:
            modifiers, head = _phrase_words(graph, phrase)
            words = [m.key for m in modifiers]
            for i, m in enumerate(modifiers):
                count[m.key] += 1
                adjective[m.key] += m.cls in ("ADJ", "VERB")
                for other in words:
                    if other != m.key:
                        together[m.key][other] += 1
                left = words[i - 1] if i else "<det>"
                right = words[i + 1] if i + 1 < len(words) else "<noun>"
                slots[m.key].update({("L", left): 1, ("R", right): 1, ("N", head.key): 1})
    types = {w: WORD_TYPES[w] for w in count if w in WORD_TYPES}

    def generalised(word):
        """Slot features with the neighbouring words replaced by their types where known."""
        out = collections.Counter()
        for (side, value), n in slots[word].items():
            out[side, types.get(value, value) if side != "N" else value] += n
        return out

    def stands_beside(word, members):
        beside = sum(n for other, n in together[word].items() if other in members)
        return beside > CANNOT_LINK_SHARE * count[word]

    unknown = sorted((w for w in count if w not in types), key=lambda w: (-count[w], w))
    for _ in range(2):  # a second pass sees the types the first one gave
        members = collections.defaultdict(set)
        for w, t in types.items():
            if t:
                members[t].add(w)
        profiles = {}
        for t, ws in members.items():
            profile = collections.Counter()
            for w in ws:
                profile.update(generalised(w))
            profiles[t] = profile
        for w in unknown:
            if w in types or count[w] < MIN_TYPED:
                continue
            fits = [(_cosine(generalised(w), profile), t) for t, profile in profiles.items()
                    if not stands_beside(w, members[t])]
            best = max(fits, default=(0.0, None))
            if best[0] >= SIMILARITY:
                types[w] = best[1]
                members[best[1]].add(w)
    # what joined no type: adjectives group among themselves, noun-like words belong to compound nouns
    left = [w for w in unknown if w not in types]
    groups = []
    for w in left:
        if adjective[w] * 2 < count[w]:
            types[w] = ""
            continue
        if count[w] < MIN_TYPED:
            types[w] = None
            continue
        for group in groups:
            if not stands_beside(w, group) and \
                    max(_cosine(generalised(w), generalised(g)) for g in group) >= SIMILARITY:
                group.add(w)
                break
        else:
            groups.append({w})
    for group in groups:
        if len(group) > 1:
            name = "learned:" + min(group, key=lambda g: (-count[g], g))
            types.update({w: name for w in group})
        else:
            types[next(iter(group))] = None  # alone: never swapped
    return {w: types[w] for w in sorted(types)}


# ---- learning what names the same thing ---------------------------------------------------------

def _alignments(by_image, types):
    """Compatible attribute, object and relation pairs, and converse relation counts, from the captions
    of each image (see the module docstring)."""
    aligned = {kind: collections.Counter() for kind in ("attribute", "object", "relation")}
    together = {kind: collections.Counter() for kind in ("attribute", "object", "relation")}
    converse, same_direction = collections.Counter(), collections.Counter()
    distinct = collections.Counter()
    for graphs in by_image.values():
        phrases = []  # (caption, noun, {type: word}, frozenset of attribute words)
        for c, graph in enumerate(graphs):
            for phrase in graph.phrases:
                view = PhraseView(graph, phrase, types)
                if view.object_key is None and not phrase.counted:
                    continue
                noun = view.object_key or view.head.key
                phrases.append((c, noun, {k: s.key for s, k in view.attributes}, frozenset(s.key for s, _ in
                                                                                             view.attributes)))
        in_caption = collections.defaultdict(set)
        named_apart = set()  # attribute pairs one caption gives to two things of one noun: distinct values
        for c, noun, typed, words in phrases:
            for other_noun, other_words in in_caption[c]:
                if other_noun == noun:
                    named_apart.update(tuple(sorted((a, b))) for a in words for b in other_words
                                       if a != b and types.get(a) == types.get(b))
            in_caption[c].add((noun, words))
        distinct.update(named_apart)
        nouns = {p[1] for p in phrases}
        attribute_words = {(p[1], w) for p in phrases for w in p[3]}
        for a, b in itertools.combinations(sorted(nouns), 2):
            together["object"][a, b] += 1
        for (n1, a), (n2, b) in itertools.combinations(sorted(attribute_words), 2):
            if n1 == n2 and types.get(a) == types.get(b):
                together["attribute"][tuple(sorted((a, b)))] += 1
        seen = {"object": set(), "attribute": set()}
        for (c1, n1, t1, w1), (c2, n2, t2, w2) in itertools.combinations(phrases, 2):
            if c1 == c2:
                continue
            if n1 != n2 and w1 and w2 and (w1 <= w2 or w2 <= w1):
                if not any({n1, n2} <= {noun for noun, _ in cap} for cap in in_caption.values()):
                    seen["object"].add(tuple(sorted((n1, n2))))
            if n1 == n2 and set(t1) == set(t2):
                differing = [k for k in t1 if t1[k] != t2[k]]
                if len(differing) == 1:
                    k = differing[0]
                    pair = tuple(sorted((t1[k], t2[k])))
                    named_both = any((n1, w1) in cap and (n2, w2) in cap for cap in in_caption.values())
                    if not named_both:
                        seen["attribute"].add(pair)
        for kind in ("object", "attribute"):
            aligned[kind].update(seen[kind])
        # relations between matching phrases of two captions
        stated = []  # (caption, relation key, subject (noun, words), object (noun, words))
        for c, graph in enumerate(graphs):
            for index, subject, target in graph.relations:
                if subject < 0 or target < 0:
                    continue
                views = [PhraseView(graph, graph.phrases[p], types) for p in (subject, target)]
                ends = [(v.object_key or v.head.key, frozenset(s.key for s, _ in v.attributes)) for v in views]
                stated.append((c, graph.slots[index].key, ends[0], ends[1]))
        pairs_seen, converse_seen = set(), set()
        for (c1, r1, s1, o1), (c2, r2, s2, o2) in itertools.combinations(stated, 2):
            if c1 == c2:
                continue
            if r1 != r2 and _same(s1, s2) and _same(o1, o2):
                pairs_seen.add(tuple(sorted((r1, r2))))
            elif _same(s1, o2) and _same(o1, s2):  # r1 == r2 here: a symmetric relation
                converse_seen.add((r1, r2))
                converse_seen.add((r2, r1))
        keys = {s[1] for s in stated}
        for a, b in itertools.combinations(sorted(keys), 2):
            together["relation"][a, b] += 1
        same_direction.update(pairs_seen)
        converse.update(converse_seen)
    aligned["relation"] = same_direction
    compatible = {}
    for kind in aligned:
        compatible[kind] = sorted(pair for pair, n in aligned[kind].items()
                                  if n >= MIN_ALIGNED and n >= ALIGNED_SHARE * max(together[kind][pair], 1)
                                  and not (kind == "relation" and converse[pair] > n)
                                  and not (kind == "attribute" and distinct[pair] * 2 >= n))
    return compatible, converse


def _same(a, b):
    """Two (noun, attribute words) name the same thing: one noun, and one set of words within the other."""
    return a[0] == b[0] and (a[1] <= b[1] or b[1] <= a[1])


def _contradictions(key, relations, converse, compatible):
    """The relations of the corpus that contradict preposition ``key``."""
    if key in WEAK_RELATIONS:
        return set()
    lexicon = relation_antonyms()
    found = set(lexicon.get(key, ()))
    words = key.split()
    for i, w in enumerate(words):
        if w in RELATION_WORD_ANTONYMS:
            found.add(" ".join(words[:i] + [RELATION_WORD_ANTONYMS[w]] + words[i + 1:]))
    # a converse the corpus shows: the relation most often stated the other way round between the same two
    # things, in at least half of those statements (where several relations hold at once, none is)
    reverse = {b: n for (a, b), n in converse.items() if a == key and b != key}
    found |= {b for b, n in reverse.items() if n >= MIN_ALIGNED and 2 * n >= sum(reverse.values())}
    if converse.get((key, key), 0) >= MIN_ALIGNED:  # symmetric ("A near B", "B near A"): nothing contradicts it
        return set()
    return {r for r in found if r in relations and r != key and r not in WEAK_RELATIONS
            and (key, r) not in compatible and converse.get((r, r), 0) < MIN_ALIGNED}


def vocabulary_split(pairs_dir, split, vocab_from):
    """``(dir, split)`` the vocabulary comes from: ``vocab_from`` names a split of ``pairs_dir`` or a
    ``*.captions.jsonl`` file."""
    if not vocab_from:
        return pairs_dir, split
    if vocab_from.endswith(CAPTIONS_SUFFIX):
        return os.path.dirname(vocab_from) or ".", os.path.basename(vocab_from)[:-len(CAPTIONS_SUFFIX)]
    return pairs_dir, vocab_from
