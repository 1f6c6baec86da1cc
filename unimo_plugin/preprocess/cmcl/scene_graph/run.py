"""The scene-graph negatives of a caption split, as one sharded run (``common/sharded_run.py``): shard K of
N rewrites a contiguous range of the captions into a cmcl_raw file (``formats/cmcl_candidates.py``).

The captions to rewrite are parsed once for all the shards a run writes; the vocabulary is saved beside
the output (``OUTPUT.vocab.json``) so that shards run apart draw from the same one without each parsing
the whole split again. Every draw takes a generator keyed by the seed and the caption, so outputs do not
depend on worker count or sharding.
"""
import os
import random
import time
from dataclasses import asdict, dataclass, field

from ....common.ngram_lm import NgramLM
from ....common.sharded_run import ShardedRun
from ....formats.caption_sets import captions_path, read_caption_records
from ....formats.cmcl_candidates import cmcl_raw_path, concatenate_cmcl_raw, write_cmcl_raw
from .parse import DEFAULT_SPACY_MODEL, parse_captions
from .plausibility import CALIBRATION_CAPTIONS, CALIBRATION_DRAWS, MODELS, Plausibility, calibrate_band
from .rewrite import KINDS, caption_negatives, rewrite_caption, true_captions_by_image
from .vocabulary import Vocabulary, vocabulary_split

CONTENT = "negatives/scene_graph"


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
    types: dict = field(default_factory=dict)  # "kind/type" (e.g. attribute/colour, object/phrase) -> count
    # the plausibility filter: rewrites scored, kept, and kept ones its model scores below their caption
    filter: dict = field(default_factory=lambda: {"candidates": 0, "kept": 0, "caption_preferred": 0.0})
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
                kind_type = f"{item['swapped']['kind']}/{item['swapped']['type']}"
                self.types[kind_type] = self.types.get(kind_type, 0) + 1

    def merge(self, other):
        for name in ("captions", "negatives", "rewritten") + self.FAILURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.levels, other.levels), (self.kinds, other.kinds), (self.types, other.types),
                             (self.filter, other.filter)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.failure_examples.extend(other.failure_examples[:self.MAX_EXAMPLES - len(self.failure_examples)])


@dataclass
class RewriteReport:
    runs: list  # a common.sharded_run.ShardResult per output, its stats those of a RewriteStats
    parsed: int = 0  # captions parsed (the vocabulary's and the shards')
    seconds: float = 0.0
    examples: list = field(default_factory=list)  # (caption, its negatives) for a person to read


class _RewriteRun(ShardedRun):
    def __init__(self, pairs_dir, split, output, per_caption, seed, vocab_from, spacy_model, parse_options, dump,
                 num_shards, plausibility):
        self.captions = read_caption_records(pairs_dir, split)
        self.own_file = os.path.abspath(captions_path(pairs_dir, split))
        self.vocab_split = vocabulary_split(pairs_dir, split, vocab_from)
        self.vocab_file = os.path.abspath(captions_path(*self.vocab_split))
        options = {"per_caption": per_caption, "seed": seed, "spacy_model": spacy_model, "vocabulary": self.vocab_file,
                   "plausibility": plausibility}
        super().__init__(output, options, {"captions": [self.own_file], "vocabulary": [self.vocab_file]}, num_shards)
        self.per_caption, self.seed, self.parse_options = per_caption, seed, parse_options
        self.plausibility_options = plausibility
        self.report = RewriteReport(runs=[])
        self.dump = dump

    def count_items(self):
        return len(self.captions)

    def prepare(self, shards):
        wanted = [i for shard in shards for i in range(shard.start, shard.end)]
        self.graphs, self.vocabulary, self.report.parsed = _graphs_and_vocabulary(
            self.captions, wanted, self.vocab_split, self.vocab_file, self.vocab_file == self.own_file,
            f"{self.output}.vocab.json", self.parse_options, self.plausibility_options)
        self.forbidden_of = true_captions_by_image(self.captions)
        self.plausibility = None
        if self.plausibility_options["model"] != "none":
            lm = NgramLM.fit((c["text"] for c in read_caption_records(*self.vocab_split)),
                             self.plausibility_options["order"])
            band = self.vocabulary.plausibility
            self.plausibility = Plausibility(lm, band["below"], band["above"])

    def write_shard(self, shard, progress):
        stats, items_per_caption = RewriteStats(), []
        for i in range(shard.start, shard.end):
            caption = self.captions[i]
            items, failure = caption_negatives(i, caption, self.graphs[i], self.vocabulary, self.per_caption,
                                               self.seed, self.forbidden_of[caption["image_id"]], self.plausibility,
                                               stats.filter)
            stats.add(caption, items, failure)
            items_per_caption.append(items)
            if items and len(self.report.examples) < self.dump:
                self.report.examples.append((caption["text"], items))
        write_cmcl_raw(shard.output, self.captions[shard.start:shard.end], items_per_caption, CONTENT,
                       source=self.own_file)
        return asdict(stats)

    def concatenate(self, shards, output):
        concatenate_cmcl_raw([(s.output, s.start, s.end) for s in shards], output, self.captions, "text", CONTENT,
                             source=self.own_file)

    def merge_stats(self, stats):
        total = RewriteStats()
        for part in stats:
            total.merge(RewriteStats(**part))
        return asdict(total)


def rewrite_split(pairs_dir, split, output=None, per_caption=3, seed=0, vocab_from=None,
                  spacy_model=DEFAULT_SPACY_MODEL, batch_size=256, workers=1, num_shards=1, shard_id=None,
                  merge=False, overwrite=False, dump=0, progress=False, plausibility="ngram", lm_order=3,
                  plausibility_target=0.5):
    """Write the scene-graph negatives of ``PAIRS/{split}`` (default output
    ``PAIRS/{split}.cmcl_raw.negatives.scene_graph.jsonl``); a :class:`RewriteReport`.

    Shards (``shard_id`` None: all in turn) are contiguous ranges of captions; a complete shard made with
    the same options and inputs is skipped, one made otherwise refused unless ``overwrite``. ``vocab_from``
    names a split of ``pairs_dir``, or a ``*.captions.jsonl`` file, to draw replacements from.
    ``plausibility``: "ngram" filters rewrites with an ``lm_order``-gram model of the vocabulary split's
    captions, calibrated so that it scores the caption above at most ``plausibility_target`` of the kept
    rewrites (``plausibility.py``); "none" keeps every rewrite.
    """
    t0 = time.time()
    if plausibility not in MODELS:
        raise ValueError(f"unknown plausibility model {plausibility!r}; expected one of {', '.join(MODELS)}")
    filter_options = {"model": plausibility}
    if plausibility != "none":
        filter_options.update(order=lm_order, target=plausibility_target)
    run = _RewriteRun(pairs_dir, split, output or cmcl_raw_path(pairs_dir, split, CONTENT), per_caption, seed,
                      vocab_from, spacy_model, dict(model=spacy_model, batch_size=batch_size, workers=workers,
                                                    progress=progress), dump, num_shards, filter_options)
    run.report.runs = run.run(None if shard_id is None else [shard_id], merge=merge, overwrite=overwrite,
                              progress=progress)
    run.report.seconds = time.time() - t0
    return run.report


def _graphs_and_vocabulary(captions, wanted, vocab_split, vocab_file, own_vocabulary, vocab_path, parse_options,
                           filter_options):
    """Graphs of the captions at ``wanted`` (index -> graph), the vocabulary, and how many captions were
    parsed. The vocabulary saved at ``vocab_path`` is reused when it was built from the same file
    (``vocab_file``, the captions of ``vocab_split``) with the same model and filter options."""
    source = {"captions": vocab_file, "bytes": os.path.getsize(vocab_file), "spacy_model": parse_options["model"],
              "plausibility": filter_options}
    vocabulary = Vocabulary.load(vocab_path, source)
    saved = vocabulary is not None
    texts = [c["text"] for c in captions]
    graphs, parsed = {}, 0
    if vocabulary is None and own_vocabulary:  # one pass: the vocabulary needs every caption, shards theirs
        every = list(parse_captions(texts, **parse_options))
        graphs = {i: every[i] for i in wanted}
        vocabulary = _build_vocabulary(captions, every, filter_options)
        parsed = len(texts)
    else:
        if vocabulary is None:
            vocab_captions = read_caption_records(*vocab_split)
            every = list(parse_captions([c["text"] for c in vocab_captions], desc="vocabulary", **parse_options))
            vocabulary = _build_vocabulary(vocab_captions, every, filter_options)
            parsed += len(vocab_captions)
        graphs = dict(zip(wanted, parse_captions([texts[i] for i in wanted], **parse_options)))
        parsed += len(wanted)
    if not saved:
        vocabulary.save(vocab_path, source)
    return graphs, vocabulary, parsed


def _build_vocabulary(captions, graphs, filter_options):
    """The vocabulary of ``captions`` (parsed: ``graphs``) with its calibrated plausibility margin."""
    vocabulary = Vocabulary.build(graphs, [c["image_id"] for c in captions])
    if filter_options["model"] == "none":
        vocabulary.data["plausibility"] = vocabulary.plausibility = {"model": "none", "below": None, "above": None}
        return vocabulary
    lm = NgramLM.fit((c["text"] for c in captions), filter_options["order"])
    step = max(1, len(captions) // CALIBRATION_CAPTIONS)
    forbidden = true_captions_by_image(captions)
    unfiltered = Plausibility(lm, None)
    deltas = []
    for i in range(0, len(captions), step):
        text = captions[i]["text"]
        rng = random.Random(f"calibration:{i}")
        items = rewrite_caption(text, graphs[i], vocabulary, rng, CALIBRATION_DRAWS, forbidden[captions[i]["image_id"]],
                                unfiltered)
        deltas.extend(item["lm_delta"] for item in items)
    below, above = calibrate_band(deltas, filter_options["target"])
    preferred = sum(1 for d in deltas if d < 0)
    vocabulary.data["plausibility"] = vocabulary.plausibility = {
        **filter_options, "below": below, "above": above, "calibration_rewrites": len(deltas),
        "calibration_caption_preferred": round(100.0 * preferred / len(deltas), 2) if deltas else None}
    return vocabulary


def report_lines(report):
    """The summary a script prints: per output its counts by level and kind, and the failures."""
    lines = []
    for run in report.runs:
        if run.skipped:
            lines.append(f"{run.output}: already complete, skipped")
            continue
        s = RewriteStats(**run.stats)
        what = f"merged {run.merged_shards} shards: " if run.merged_shards else ""
        share = 100.0 * s.rewritten / s.captions if s.captions else 0.0
        mean = s.negatives / s.captions if s.captions else 0.0
        lines.append(f"{run.output}: {what}{s.captions} captions, {s.negatives} negatives ({mean:.2f} swaps per "
                     f"caption), {share:.1f}% of captions with >= 1 rewrite")
        lines.append("  levels: " + ", ".join(f"{k} {n}" for k, n in s.levels.items())
                     + "; kinds: " + ", ".join(f"{k} {n}" for k, n in s.kinds.items()))
        lines.append("  types: " + ", ".join(f"{k} {n}" for k, n in sorted(s.types.items())))
        f = s.filter
        if f["candidates"]:
            lines.append(f"  plausibility filter: kept {f['kept']} of {f['candidates']} rewrites drawn; its model "
                         f"scores the caption above the rewrite for {100.0 * f['caption_preferred'] / max(f['kept'], 1):.1f}% "
                         f"of the kept ones (blind-text accuracy; 50% = chance)")
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
            lines.append(f"    -> {item['text']}    [{item['level']} {swap['kind']}/{swap.get('type')}: "
                         f"{swap['from']!r} -> {swap['to']!r}]")
    return lines
