"""Sentence-level CMCL positives: paraphrases of each caption by back-translation (en -> pivot -> en).

UNIMO's cross-modal contrastive learning (CMCL) treats a caption's sentence-level rewrites as more
positives of its image, beside the caption itself (the positive set X+). Here two fairseq translation
models supplied by the user make them: the forward model translates the caption into a pivot language,
the backward model translates the pivot back into English. Paraphrases made elsewhere can be imported
from a ``caption_id<TAB>text`` file instead.

A paraphrase is useful to CMCL only if it is a different sentence: outputs equal to the caption after
:func:`~unimo_plugin.formats.cmcl_candidates.text_key`, empty ones and repeats are dropped and counted.
The result is a cmcl_raw file (``formats/cmcl_candidates.py``) aligned with the caption split, written
as one sharded run (``common/sharded_run.py``): contiguous shards of the captions, so that an
interrupted run resumes by redoing only the shards not complete yet.
"""
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
from fairseq.models.transformer import TransformerModel

from ...common.artifacts import InputError
from ...common.sharded_run import ShardedRun, progress_bar
from ...formats.caption_sets import captions_path, read_caption_records
from ...formats.cmcl_candidates import cmcl_raw_path, concatenate_cmcl_raw, text_key, write_cmcl_raw

LEVEL = "sentence"
_IMPORT_BATCH = 1024  # captions per progress update when importing


@dataclass
class ParaphraseStats:
    """Counts of one output, kept in its manifest's run record (the merge sums them)."""

    captions: int = 0
    with_paraphrases: int = 0  # captions with at least one kept paraphrase
    kept: int = 0
    identical: int = 0  # dropped: equal to the caption after normalize
    duplicates: int = 0  # dropped: equal to an earlier paraphrase of the same caption
    empty: int = 0  # dropped: nothing left after normalize


def select_paraphrases(caption, candidates, limit, stats):
    """Items of the first ``limit`` (None: all) ``(text, pivot)`` candidates that differ from the caption
    and from each other after :func:`~unimo_plugin.formats.cmcl_candidates.text_key`; ``pivot=None`` leaves it
    out of the item."""
    source, seen, items = text_key(caption), set(), []
    for text, pivot in candidates:
        if limit is not None and len(items) == limit:
            break
        key = text_key(text)
        if not key:
            stats.empty += 1
        elif key == source:
            stats.identical += 1
        elif key in seen:
            stats.duplicates += 1
        else:
            seen.add(key)
            item = {"text": text.strip(), "level": LEVEL}
            if pivot is not None:
                item["pivot"] = pivot
            items.append(item)
    stats.captions += 1
    stats.with_paraphrases += bool(items)
    stats.kept += len(items)
    return items


class BackTranslator:
    """Paraphrase candidates of sentences through a forward and a backward fairseq translation model.

    Each sentence gets ``pivots`` translations (the forward n-best, or samples), and each distinct
    pivot ``per_pivot`` back-translations; candidates come rank by rank across the pivots, so that
    a caller keeping the first few gets the best back-translation of every pivot first.

    A model directory holds the checkpoint and the ``dict.{src,tgt}.txt`` it was trained with, as
    fairseq's hub loading expects; ``hub_overrides`` (``bpe``, ``bpe_codes``, ``sentencepiece_model``,
    ``tokenizer``, ...) replace the checkpoint's settings. Models load on first use, so a resumed
    run whose shards are all complete loads nothing.
    """

    def __init__(self, forward, backward, pivots=1, per_pivot=1, beam=5, sampling=False, sampling_topk=-1,
                 sampling_topp=-1.0, temperature=1.0, batch_size=32, device="cpu", seed=1,
                 checkpoint_file="model.pt", **hub_overrides):
        if min(pivots, per_pivot, beam, batch_size) < 1:
            raise ValueError("pivots, per_pivot, beam and batch_size must be positive")
        if not sampling and (sampling_topk != -1 or sampling_topp != -1.0):
            raise ValueError("--sampling-topk and --sampling-topp need --sampling")
        for path in (forward, backward):
            for name in checkpoint_file.split(os.pathsep):  # an ensemble is a:b:c, as in fairseq
                if not os.path.isfile(os.path.join(path, name)):
                    raise InputError(path, f"no checkpoint {name!r} in this model directory")
        self.forward, self.backward = forward, backward
        self.pivots, self.per_pivot, self.beam, self.sampling = pivots, per_pivot, beam, sampling
        self.sampling_args = dict(sampling_topk=sampling_topk, sampling_topp=sampling_topp,
                                  temperature=temperature) if sampling else {}
        self.batch_size, self.device, self.seed = batch_size, device, seed
        self.checkpoint_file = checkpoint_file
        self.hub_overrides = {k: v for k, v in hub_overrides.items() if v is not None}
        self._hubs = None

    def describe(self):
        """What made the paraphrases, for the manifest (sampling is seeded per batch: its size too)."""
        return dict(method="back_translation", forward=os.path.abspath(self.forward),
                    backward=os.path.abspath(self.backward), checkpoint_file=self.checkpoint_file,
                    pivots=self.pivots, per_pivot=self.per_pivot, beam=self.beam, sampling=self.sampling,
                    seed=self.seed, **self.sampling_args, **self.hub_overrides,
                    **({"batch_size": self.batch_size} if self.sampling else {}))

    def _load(self, model_dir):
        hub = TransformerModel.from_pretrained(model_dir, checkpoint_file=self.checkpoint_file,
                                               **self.hub_overrides)
        # Our batches go to the generator whole (up to batch_size sentences), whatever the training used.
        hub.cfg.dataset.batch_size, hub.cfg.dataset.max_tokens = self.batch_size, None
        return hub.to(self.device)

    def _translate(self, hub, sentences, count):
        """``count`` translations of each sentence: the n-best of the beam, or ``count`` samples."""
        search = dict(beam=count, sampling=True, **self.sampling_args) if self.sampling else \
            dict(beam=max(self.beam, count))
        hypos = hub.generate([hub.encode(s) for s in sentences], **search)  # the whole beam, best first
        return [[hub.decode(h["tokens"]) for h in hyps[:count]] for hyps in hypos]

    def __call__(self, sentences, seed_key=0):
        """``(paraphrase, pivot)`` candidates per sentence.

        Sampling is seeded by ``seed`` and ``seed_key`` (the caller passes the index of the first
        sentence), so a batch's samples depend only on the seed and the batch, not on what ran before.
        """
        if self._hubs is None:
            self._hubs = self._load(self.forward), self._load(self.backward)
        forward, backward = self._hubs
        if self.sampling:
            torch.manual_seed(int(np.random.SeedSequence([self.seed, seed_key]).generate_state(1)[0]))
        pivots = [list(dict.fromkeys(p)) for p in self._translate(forward, sentences, self.pivots)]
        flat = [p for ps in pivots for p in ps]
        backs = iter(self._translate(backward, flat, self.per_pivot))
        candidates = []
        for ps in pivots:
            per_pivot = [(pivot, next(backs)) for pivot in ps]
            candidates.append([(back[rank], pivot) for rank in range(self.per_pivot) for pivot, back in per_pivot])
        return candidates


def read_paraphrase_tsv(path, captions):
    """Paraphrase texts per caption from ``caption_id<TAB>text`` lines (any number per caption,
    any order; blank lines ignored). An id that is not in ``captions`` is refused with its line."""
    index = {c["caption_id"]: i for i, c in enumerate(captions)}
    texts = [[] for _ in captions]
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise InputError(path, "not UTF-8", line=line_number) from None
            if not line.strip():
                continue
            if "\t" not in line:
                raise InputError(path, "expected caption_id<TAB>text, found no tab", line=line_number)
            caption_id, text = line.split("\t", 1)
            if caption_id not in index:
                raise InputError(path, f"unknown caption id {caption_id!r} (not in the caption split)",
                                 line=line_number)
            texts[index[caption_id]].append(text)
    return texts


def _batches(start, end, size):
    """``[start, end)`` cut at multiples of ``size``: the same batches whichever shard holds them."""
    while start < end:
        stop = min((start // size + 1) * size, end)
        yield start, stop
        start = stop


class _ParaphraseRun(ShardedRun):
    def __init__(self, pairs_dir, split, output, captions, candidates, batch_size, per_caption, content, source,
                 inputs, num_shards):
        super().__init__(output, dict(content=content, per_caption=per_caption, paraphrases=source["paraphrases"]),
                         dict(inputs, captions=[captions_path(pairs_dir, split)]), num_shards)
        self.captions, self.candidates, self.batch_size = captions, candidates, batch_size
        self.per_caption, self.content, self.source = per_caption, content, source

    def count_items(self):
        return len(self.captions)

    def write_shard(self, shard, progress):
        stats, items = ParaphraseStats(), []
        with progress_bar(shard.end - shard.start, shard.output, "caption", progress) as bar:
            for lo, hi in _batches(shard.start, shard.end, self.batch_size):
                for caption, cands in zip(self.captions[lo:hi], self.candidates(lo, hi)):
                    items.append(select_paraphrases(caption["text"], cands, self.per_caption, stats))
                bar.update(hi - lo)
        write_cmcl_raw(shard.output, self.captions[shard.start:shard.end], items, self.content, source=self.source)
        return asdict(stats)

    def concatenate(self, shards, output):
        concatenate_cmcl_raw([(s.output, s.start, s.end) for s in shards], output, self.captions, "text",
                             self.content, source=self.source)


def paraphrase_split(pairs_dir, split, output=None, translator=None, import_file=None, per_caption=None,
                     num_shards=1, shard_id=None, merge=False, overwrite=False, progress=True):
    """Write the paraphrases of the captions of ``pairs_dir/{split}``; returns a ShardResult per output.

    They come from ``translator`` (a :class:`BackTranslator`) or ``import_file`` (TSV). At most
    ``per_caption`` (None: all) are kept per caption. ``output`` defaults to
    ``PAIRS/{split}.cmcl_raw.paraphrases.jsonl``. ``shard_id=None`` runs every shard of ``num_shards``
    in turn; complete outputs are skipped unless ``overwrite``; ``merge`` then combines the shards.
    """
    if (translator is None) == (import_file is None):
        raise ValueError("give either translation models or an --import file")
    if per_caption is not None and per_caption < 1:
        raise ValueError(f"--per-caption must be positive, got {per_caption}")
    captions = read_caption_records(pairs_dir, split)
    source = {"pairs": os.path.abspath(pairs_dir), "split": split}
    if translator is not None:
        content, batch_size = "paraphrases/back_translation", translator.batch_size
        source["paraphrases"] = translator.describe()
        inputs = {"forward": [translator.forward], "backward": [translator.backward]}

        def candidates(lo, hi):
            return translator([c["text"] for c in captions[lo:hi]], seed_key=lo)
    else:
        imported = read_paraphrase_tsv(import_file, captions)
        content, batch_size = "paraphrases/import", _IMPORT_BATCH
        source["paraphrases"] = {"method": "import", "file": os.path.abspath(import_file)}
        inputs = {"import": [import_file]}

        def candidates(lo, hi):
            return [[(text, None) for text in texts] for texts in imported[lo:hi]]
    run = _ParaphraseRun(pairs_dir, split, output or cmcl_raw_path(pairs_dir, split, "paraphrases"), captions,
                         candidates, batch_size, per_caption, content, source, inputs, num_shards)
    return run.run(None if shard_id is None else [shard_id], merge=merge, overwrite=overwrite, progress=progress)


def summary(result):
    """The line a script prints for one output."""
    if result.skipped:
        return f"{result.output}: already complete, skipped"
    s = ParaphraseStats(**result.stats)
    what = f"merged {result.merged_shards} shards: " if result.merged_shards else ""
    rate = f" ({s.captions / result.seconds:.1f} captions/s)" if result.seconds and not result.merged_shards else ""
    return (f"{result.output}: {what}{s.captions} captions, {s.with_paraphrases} with >= 1 paraphrase, "
            f"{s.kept / max(s.captions, 1):.2f} kept per caption; dropped {s.identical} identical to the "
            f"caption, {s.duplicates} duplicates, {s.empty} empty; {result.seconds:.1f}s{rate}")
