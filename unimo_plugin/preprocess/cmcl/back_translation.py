"""Sentence-level CMCL positives: paraphrases of each caption by back-translation (en -> pivot -> en).

UNIMO's positive set X+ holds a caption and its sentence-level rewrites (DESIGN.md §1). Here two
fairseq translation models supplied by the user make them: the forward model translates the caption
into a pivot language, the backward model translates the pivot back into English. Paraphrases made
elsewhere can be imported from a ``caption_id<TAB>text`` file instead.

A paraphrase is useful to CMCL only if it is a different sentence: outputs equal to the caption
after :func:`~unimo_plugin.formats.cmcl_candidates.text_key`, empty ones and repeats are dropped and counted. The result is a cmcl_raw
file (``cmcl_raw.py``) aligned with the caption split, written in contiguous shards so that an
interrupted run resumes by redoing only the shards without a manifest.
"""
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from fairseq.models.transformer import TransformerModel
from tqdm import tqdm

from ...common.artifacts import (
    InputError,
    atomic_output,
    is_complete,
    read_manifest,
    shard_bounds,
    shard_output,
    write_manifest,
)
from ...formats.cmcl_candidates import KIND, read_captions, read_cmcl_raw, text_key, write_cmcl_raw

LEVEL = "sentence"
_IMPORT_BATCH = 1024  # captions per progress update when importing


@dataclass
class ParaphraseStats:
    """Counts of a run, kept in the output's manifest so that merged shards can sum them."""

    captions: int = 0
    with_paraphrases: int = 0  # captions with at least one kept paraphrase
    kept: int = 0
    identical: int = 0  # dropped: equal to the caption after normalize
    duplicates: int = 0  # dropped: equal to an earlier paraphrase of the same caption
    empty: int = 0  # dropped: nothing left after normalize

    def add(self, other):
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def select_paraphrases(caption, candidates, limit, stats):
    """Items of the first ``limit`` (None: all) ``(text, pivot)`` candidates that differ from the caption
    and from each other after :func:`~unimo_plugin.formats.cmcl_candidates.text_key`; ``pivot=None`` leaves it out of the item."""
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
        """What made the paraphrases, for the manifest."""
        return dict(method="back_translation", forward=os.path.abspath(self.forward),
                    backward=os.path.abspath(self.backward), checkpoint_file=self.checkpoint_file,
                    pivots=self.pivots, per_pivot=self.per_pivot, beam=self.beam, sampling=self.sampling,
                    seed=self.seed, **self.sampling_args, **self.hub_overrides)

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


@dataclass
class ShardResult:
    """What one shard (or the unsharded output, or the merge) of a run did."""

    output: str
    skipped: bool = False  # already complete: left as it was
    stats: ParaphraseStats = field(default_factory=ParaphraseStats)
    seconds: float = 0.0
    merged_shards: int = 0  # > 0 for the merged output of a sharded run

    def summary(self):
        if self.skipped:
            return f"{self.output}: already complete, skipped"
        s = self.stats
        what = f"merged {self.merged_shards} shards: " if self.merged_shards else ""
        rate = f" ({s.captions / self.seconds:.1f} captions/s)" if self.seconds and not self.merged_shards else ""
        return (f"{self.output}: {what}{s.captions} captions, {s.with_paraphrases} with >= 1 paraphrase, "
                f"{s.kept / max(s.captions, 1):.2f} kept per caption; dropped {s.identical} identical to the "
                f"caption, {s.duplicates} duplicates, {s.empty} empty; {self.seconds:.1f}s{rate}")


def _batches(start, end, size):
    """``[start, end)`` cut at multiples of ``size``: the same batches whichever shard holds them."""
    while start < end:
        stop = min((start // size + 1) * size, end)
        yield start, stop
        start = stop


def _write_shard(captions, start, end, output, candidates, batch_size, per_caption, content, source, progress):
    result, t0 = ShardResult(output), time.time()
    items = []
    with tqdm(total=end - start, unit="caption", desc=os.path.basename(output), disable=not progress) as bar:
        for lo, hi in _batches(start, end, batch_size):
            for caption, cands in zip(captions[lo:hi], candidates(lo, hi)):
                items.append(select_paraphrases(caption["text"], cands, per_caption, result.stats))
            bar.update(hi - lo)
    write_cmcl_raw(output, captions[start:end], items, content, source=source, per_caption=per_caption,
                   caption_range=[start, end], stats=asdict(result.stats))
    result.seconds = time.time() - t0
    return result


def _merge_shards(output, captions, num_shards, results, overwrite):
    """Concatenate the complete shards into ``output``; kept as it is unless stale or ``overwrite``.

    Each shard is checked against its captions, then copied as bytes: memory holds one shard at a time.
    """
    shards = [shard_output(output, num_shards, k) for k in range(num_shards)]
    missing = [s for s in shards if not is_complete(s)]
    if missing:
        raise ValueError(f"cannot merge into {output}: {len(missing)} shard(s) not complete yet: "
                         + ", ".join(missing))
    manifests = [read_manifest(s) for s in shards]
    for key in ("content", "source", "per_caption"):
        if any(m[key] != manifests[0][key] for m in manifests):
            raise ValueError(f"cannot merge into {output}: its shards differ in {key} (rerun the odd ones "
                             "with --overwrite)")
    rewritten = any(not r.skipped for r in results)
    merged = ShardResult(output, skipped=is_complete(output) and not (overwrite or rewritten),
                         merged_shards=num_shards)
    if merged.skipped:
        return merged
    t0 = time.time()
    with atomic_output(output) as tmp, open(tmp, "wb") as out:
        for k, (shard, manifest) in enumerate(zip(shards, manifests)):
            start, end = shard_bounds(len(captions), num_shards, k)
            read_cmcl_raw(shard, captions[start:end], "text")
            with open(shard, "rb") as f:
                shutil.copyfileobj(f, out)
            merged.stats.add(ParaphraseStats(**manifest["stats"]))
    first, stats = manifests[0], merged.stats
    write_manifest(output, KIND, content=first["content"], captions=len(captions), items=stats.kept,
                   captions_with_items=stats.with_paraphrases, source=first["source"],
                   per_caption=first["per_caption"], merged_shards=num_shards, stats=asdict(stats))
    merged.seconds = time.time() - t0
    return merged


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
    output = output or os.path.join(pairs_dir, f"{split}.cmcl_raw.paraphrases.jsonl")
    shard_ids = range(num_shards) if shard_id is None else [shard_id]
    for k in shard_ids:
        shard_bounds(0, num_shards, k)  # validates the shard id before any work
    captions = read_captions(pairs_dir, split)
    source = {"pairs": os.path.abspath(pairs_dir), "split": split}
    if translator is not None:
        content, batch_size = "paraphrases/back_translation", translator.batch_size
        source["paraphrases"] = translator.describe()

        def candidates(lo, hi):
            return translator([c["text"] for c in captions[lo:hi]], seed_key=lo)
    else:
        imported = read_paraphrase_tsv(import_file, captions)
        content, batch_size = "paraphrases/import", _IMPORT_BATCH
        source["paraphrases"] = {"method": "import", "file": os.path.abspath(import_file)}

        def candidates(lo, hi):
            return [[(text, None) for text in texts] for texts in imported[lo:hi]]
    results = []
    for k in shard_ids:
        output_k = shard_output(output, num_shards, k)
        if is_complete(output_k) and not overwrite:
            results.append(ShardResult(output_k, skipped=True))
            continue
        start, end = shard_bounds(len(captions), num_shards, k)
        results.append(_write_shard(captions, start, end, output_k, candidates, batch_size, per_caption,
                                    content, source, progress))
    if merge and num_shards > 1:
        results.append(_merge_shards(output, captions, num_shards, results, overwrite))
    return results
