"""Mixing the text, image and image-text corpora: every batch holds one modality.

Training draws, each epoch, ``ratio[c] * total`` samples from corpus ``c`` (whole passes plus a
random remainder, like fairseq's ``MultiCorpusDataset``); a sample drawn twice is masked differently
each time. Validation (no ratios) reads every sample of every corpus exactly once.

The dataset's indices are positions in the epoch's draw. Each corpus is batched under both budgets
(text tokens and regions). In training, batches come in steps of ``step_batches`` (workers x
``--update-freq``, set by the task) batches of one corpus, and the steps are shuffled here, per
(seed, epoch), while fairseq's own batch shuffling is off. fairseq deals batch ``k·W + r`` to worker
r and groups ``--update-freq`` consecutive batches of a worker into an update, so every update, on
every worker, reads one step: all workers hold the same corpus at every micro-batch (CMCL's
all-gather over pair batches is entered by every worker or by none), and the batches of an update
depend only on workers x update-freq, not on how it is split.
"""
import logging
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from fairseq.data import FairseqDataset, data_utils

from .corpus import PretrainCorpus

logger = logging.getLogger(__name__)

_BUDGET = 1 << 20  # the unit of the combined token/region cost


class ModalityMixDataset(FairseqDataset):
    """``ratios`` (one per corpus) resamples the corpora each epoch; None reads each sample once.

    ``max_regions`` bounds the regions of a batch beside ``--max-tokens`` for text tokens; without it
    regions count against ``--max-tokens`` like tokens (a region is one sequence position).
    """

    def __init__(self, corpora: "OrderedDict[str, PretrainCorpus]", ratios: Optional[Sequence[float]] = None,
                 seed: int = 1, max_regions: Optional[int] = None):
        if not corpora or (ratios is not None and len(corpora) != len(ratios)):
            raise ValueError("one ratio per corpus is needed")
        if ratios is not None:
            total_ratio = float(sum(ratios))
            if total_ratio <= 0 or min(ratios) < 0:
                raise ValueError(f"modality ratios must be >= 0 and not all 0, got {ratios}")
            ratios = [r / total_ratio for r in ratios]
        self.corpora = corpora
        self.names = list(corpora)
        self.ratios, self.seed, self.max_regions = ratios, seed, max_regions
        self.offsets = np.cumsum([0] + [len(c) for c in corpora.values()])
        self.step_batches = 1
        self._concatenated = {}
        self.set_epoch(1)

    def set_epoch(self, epoch: int):
        """Draw this epoch's samples: per corpus a contiguous run of (global index, repetition)."""
        self.epoch = epoch
        for corpus in self.corpora.values():
            corpus.set_epoch(epoch)
        rng = np.random.default_rng([self.seed, epoch])
        draws, self.draw_offsets = [], [0]
        for c, name in enumerate(self.names):
            size = len(self.corpora[name])
            want = size if self.ratios is None else (int(round(self.ratios[c] * self.offsets[-1])) if size else 0)
            local = np.concatenate([np.tile(np.arange(size), want // size), rng.permutation(size)[: want % size]]) \
                if want else np.zeros(0, np.int64)
            draws.append(local.astype(np.int64) + self.offsets[c])
            self.draw_offsets.append(self.draw_offsets[-1] + len(local))
        self.draw = np.concatenate(draws)
        self.repeat = np.zeros(len(self.draw), np.int64)  # the how-manieth time each draw repeats its sample
        order = np.argsort(self.draw, kind="stable")
        first = np.r_[True, self.draw[order][1:] != self.draw[order][:-1]]
        run_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        self.repeat[order] = np.arange(len(order)) - run_start

    def __len__(self) -> int:
        return len(self.draw)

    def _locate(self, position: int) -> Tuple[str, int]:
        index = int(self.draw[position])
        c = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.names[c], index - int(self.offsets[c])

    def __getitem__(self, position: int) -> Dict[str, Any]:
        name, local = self._locate(position)
        sample = self.corpora[name].draw(local, int(self.repeat[position]))
        sample["corpus"] = name
        sample["mix_id"] = position
        return sample

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        if not samples:
            return {}
        name = samples[0]["corpus"]
        if any(s["corpus"] != name for s in samples):
            raise ValueError("a batch mixes corpora; batches must come from ModalityMixDataset.batch_by_size")
        batch = self.corpora[name].collater(samples)
        batch["modality"] = self.corpora[name].modality
        batch["id"] = np.array([s["mix_id"] for s in samples])
        return batch

    def _per_corpus(self, attribute):
        """``corpus.<attribute>`` of every drawn position (zeros for a corpus whose attribute is None)."""
        if attribute not in self._concatenated:
            self._concatenated[attribute] = np.concatenate(
                [np.zeros(len(c), np.int64) if getattr(c, attribute) is None else np.asarray(getattr(c, attribute))
                 for c in self.corpora.values()])
        return self._concatenated[attribute][self.draw]

    def num_tokens(self, position: int) -> int:
        name, local = self._locate(position)
        return self.corpora[name].num_tokens(local)

    def num_regions(self, position: int) -> int:
        name, local = self._locate(position)
        return self.corpora[name].num_regions(local)

    def size(self, position: int) -> int:
        name, local = self._locate(position)
        return self.corpora[name].size(local)

    @property
    def sizes(self) -> np.ndarray:
        return self._per_corpus("sizes")

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return False  # each epoch draws a new sample of the corpora

    def ordered_indices(self) -> np.ndarray:
        """This epoch's draw, corpus by corpus, shuffled per (seed, epoch) and, for a corpus that
        batches by length, then sorted by size (tight batches whose members change every epoch)."""
        sizes, rng = self.sizes, np.random.default_rng([self.seed, self.epoch, 1])
        ordered = []
        for name, start, end in zip(self.names, self.draw_offsets[:-1], self.draw_offsets[1:]):
            run = start + rng.permutation(end - start)
            ordered.append(run[np.argsort(sizes[run], kind="stable")] if self.corpora[name].batch_by_length else run)
        return np.concatenate(ordered)

    def filter_indices_by_size(self, indices: np.ndarray,
                               max_sizes: Union[None, int, float, Sequence[int]]) -> Tuple[np.ndarray, List[int]]:
        if max_sizes is None:
            return indices, []
        limit = max_sizes if isinstance(max_sizes, (int, float)) else min(max_sizes)
        sizes = self.sizes[indices]
        return indices[sizes <= limit], indices[sizes > limit].tolist()

    def batch_by_size(self, indices: np.ndarray, max_tokens: Optional[int] = None, max_sentences: Optional[int] = None,
                      required_batch_size_multiple: int = 1) -> List[np.ndarray]:
        """Batches of one corpus each, filled up to ``max_tokens`` text tokens and ``max_regions``
        regions as the passes compute them: the joint pass with its padding (samples x the longest
        text, samples x the most regions), CMCL's packed single-modal passes without (the sum of
        their items); in training, whole steps of ``step_batches`` batches of one corpus, in
        shuffled order."""
        tokens, regions = self._per_corpus("batch_tokens"), self._per_corpus("batch_regions")
        packed_tokens, packed_regions = self._per_corpus("packed_tokens"), self._per_corpus("packed_regions")
        steps = []
        for c, name in enumerate(self.names):
            start, end = self.draw_offsets[c], self.draw_offsets[c + 1]
            mine = indices[(indices >= start) & (indices < end)]
            if len(mine) == 0:
                continue
            cost = self._cost(tokens[mine], regions[mine], max_tokens)
            if (cost > 1).any():
                i = int(mine[cost > 1][0])
                raise ValueError(
                    f"sample {self._locate(i)[1]} of the {name} corpus needs {int(tokens[i])} tokens and "
                    f"{int(regions[i])} regions, more than --max-tokens {max_tokens} / --max-regions "
                    f"{self.max_regions}; raise them or lower the CMCL item limits")
            if packed_tokens[mine].any() or packed_regions[mine].any():
                batches = self._batch_packed(mine, tokens - packed_tokens, regions - packed_regions, packed_tokens,
                                             packed_regions, max_tokens, max_sentences, required_batch_size_multiple)
            else:
                budget = _BUDGET if (max_tokens or self.max_regions) else None
                batches = data_utils.batch_by_size(
                    mine, self.num_tokens, num_tokens_vec=np.ceil(cost * _BUDGET).astype(np.int64) if budget else None,
                    max_tokens=budget, max_sentences=max_sentences,
                    required_batch_size_multiple=required_batch_size_multiple)
                kept = sum(len(batch) for batch in batches)
                batches = list(batches) + ([mine[kept:]] if kept < len(mine) else [])  # see batching.py
            batches = self._whole_steps(batches, name)
            steps += [batches[i:i + self.step_batches] for i in range(0, len(batches), self.step_batches)]
        if self.ratios is not None:
            order = np.random.default_rng([self.seed, self.epoch, len(steps)]).permutation(len(steps))
            steps = [steps[i] for i in order]
        return [batch for step in steps for batch in step]

    def _cost(self, tokens, regions, max_tokens):
        """Each sample's share of a batch: the larger of its shares of the two budgets, or of
        ``max_tokens`` alone for tokens and regions together when there is no ``max_regions``."""
        if not self.max_regions:
            return (tokens + regions) / max_tokens if max_tokens else np.zeros(len(tokens))
        cost = regions / self.max_regions
        return np.maximum(cost, tokens / max_tokens) if max_tokens else cost

    def _batch_packed(self, indices, joint_tokens, joint_regions, packed_tokens, packed_regions, max_tokens,
                      max_sentences, multiple):
        """Consecutive runs of ``indices``, each as long as its computed tokens
        (samples x the longest joint text + the packed texts) and regions (likewise) fit the budgets,
        or ``max_sentences``; a run cut short by the budget is cut to a multiple of ``multiple``
        (fairseq's --required-batch-size-multiple) unless shorter, its rest starting the next.
        Each run is found in a window of candidates at once (running maxima and sums), the window
        doubling until the run ends inside it."""
        jt, jr = joint_tokens[indices], joint_regions[indices]
        pt, pr = packed_tokens[indices], packed_regions[indices]
        max_tokens, max_regions = max_tokens or 0, self.max_regions or 0
        batches, start, n, window = [], 0, len(indices), 64
        while start < n:
            while True:
                end = min(n, start + window)
                size = np.arange(1, end - start + 1)
                tokens = size * np.maximum.accumulate(jt[start:end]) + np.cumsum(pt[start:end])
                regions = size * np.maximum.accumulate(jr[start:end]) + np.cumsum(pr[start:end])
                if not max_regions:  # regions count against --max-tokens
                    over = tokens + regions > max_tokens if max_tokens else np.zeros(len(size), bool)
                else:
                    over = (regions > max_regions) | ((tokens > max_tokens) if max_tokens else False)
                if max_sentences:
                    over |= size > max_sentences
                over[0] = False  # a sample alone always fits (checked before)
                if over.any() or end == n:
                    break
                window *= 2
            size = int(np.argmax(over)) if over.any() else end - start
            if start + size < n and size > multiple:
                size -= size % multiple
            batches.append(indices[start:start + size])
            start += size
            window = max(64, 2 * size)
        return batches

    def _whole_steps(self, batches, name):
        """``batches`` made a multiple of ``step_batches`` long by halving the largest ones; a corpus
        with fewer samples than that repeats some (they are then masked alike)."""
        width = self.step_batches
        if len(batches) % width == 0:
            return batches
        batches = sorted(batches, key=len)
        while len(batches) % width and len(batches[-1]) > 1:
            largest = batches.pop()
            half = len(largest) // 2
            batches += [largest[:half], largest[half:]]
            batches.sort(key=len)
        if len(batches) % width:
            missing = width - len(batches) % width
            logger.warning(f"the {name} corpus has {len(batches)} samples this epoch for steps of {width} "
                           f"batches: {missing} of them are read twice")
            batches += [batches[i % len(batches)] for i in range(missing)]
        return batches
