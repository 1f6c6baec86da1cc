"""Mixing the text, image and image-text corpora: every batch holds one modality.

Each epoch draws ``ratio[c] * total`` samples from corpus ``c`` (whole passes plus a random
remainder, like fairseq's ``MultiCorpusDataset``), batches each corpus under both budgets
(text tokens and regions), and leaves the interleaving of batches to fairseq's shuffled,
sharded ``EpochBatchIterator``. Everything depends only on (seed, epoch), so every worker
builds the same batch list and takes its own shard of it.
"""
from collections import OrderedDict

import numpy as np
from fairseq.data import FairseqDataset, data_utils

_BUDGET = 1 << 20  # the unit of the combined token/region cost


class ModalityMixDataset(FairseqDataset):
    def __init__(self, corpora: "OrderedDict[str, FairseqDataset]", ratios, seed, max_regions=None):
        if len(corpora) != len(ratios) or not corpora:
            raise ValueError("one ratio per corpus is needed")
        total_ratio = float(sum(ratios))
        if total_ratio <= 0 or min(ratios) < 0:
            raise ValueError(f"modality ratios must be >= 0 and not all 0, got {ratios}")
        self.corpora = corpora
        self.names = list(corpora)
        self.ratios = [r / total_ratio for r in ratios]
        self.seed, self.max_regions = seed, max_regions
        self.offsets = np.cumsum([0] + [len(c) for c in corpora.values()])
        self.epoch = 1

    def __len__(self):
        return int(self.offsets[-1])

    def _locate(self, index):
        c = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.names[c], index - int(self.offsets[c])

    def __getitem__(self, index):
        name, local = self._locate(index)
        sample = self.corpora[name][local]
        sample["corpus"] = name
        sample["mix_id"] = index
        return sample

    def collater(self, samples):
        if not samples:
            return {}
        name = samples[0]["corpus"]
        if any(s["corpus"] != name for s in samples):
            raise ValueError("a batch mixes corpora; batches must come from ModalityMixDataset.batch_by_size")
        batch = self.corpora[name].collater(samples)
        batch["modality"] = self.corpora[name].modality
        batch["id"] = np.array([s["mix_id"] for s in samples])
        return batch

    def num_tokens(self, index):
        name, local = self._locate(index)
        return self.corpora[name].num_tokens(local)

    def num_regions(self, index):
        name, local = self._locate(index)
        return self.corpora[name].num_regions(local)

    def size(self, index):
        name, local = self._locate(index)
        return self.corpora[name].size(local)

    @property
    def sizes(self):
        return np.concatenate([np.asarray(c.sizes) for c in self.corpora.values()])

    def set_epoch(self, epoch):
        self.epoch = epoch
        for corpus in self.corpora.values():
            corpus.set_epoch(epoch)

    @property
    def can_reuse_epoch_itr_across_epochs(self):
        return False  # each epoch draws a new sample of the corpora

    def ordered_indices(self):
        """This epoch's draw, per corpus, sorted by size within the corpus (for tight batches)."""
        rng = np.random.default_rng([self.seed, self.epoch])
        total = len(self)
        drawn = []
        for c, name in enumerate(self.names):
            size = len(self.corpora[name])
            want = int(round(self.ratios[c] * total)) if size else 0
            local = np.concatenate([np.tile(np.arange(size), want // size),
                                    rng.permutation(size)[: want % size]]) if want else np.zeros(0, np.int64)
            local = local[np.argsort(np.asarray(self.corpora[name].sizes)[local], kind="stable")]
            drawn.append(local.astype(np.int64) + self.offsets[c])
        return np.concatenate(drawn) if drawn else np.zeros(0, np.int64)

    def filter_indices_by_size(self, indices, max_sizes):
        if max_sizes is None:
            return indices, []
        limit = max_sizes if isinstance(max_sizes, (int, float)) else min(max_sizes)
        sizes = self.sizes[indices]
        return indices[sizes <= limit], indices[sizes > limit].tolist()

    def batch_by_size(self, indices, max_tokens=None, max_sentences=None, required_batch_size_multiple=1):
        """Batches of one corpus each, filled up to ``max_tokens`` text tokens and ``max_regions``
        regions (both counted with padding, every pass of a sample included)."""
        batches = []
        for c, name in enumerate(self.names):
            mine = indices[(indices >= self.offsets[c]) & (indices < self.offsets[c + 1])]
            if len(mine) == 0:
                continue
            corpus, local = self.corpora[name], mine - self.offsets[c]
            tokens = np.asarray(corpus.batch_tokens, dtype=np.float64)[local]
            regions = np.asarray(corpus.batch_regions, dtype=np.float64)[local]
            cost = np.zeros(len(mine))
            for used, budget in ((tokens, max_tokens), (regions, self.max_regions)):
                if budget:
                    cost = np.maximum(cost, used / budget)
            too_big = cost > 1
            if too_big.any():
                i = int(mine[too_big][0])
                raise ValueError(
                    f"sample {i} of the {name} corpus needs {int(self.num_tokens(i))} tokens and "
                    f"{int(self.num_regions(i))} regions, more than --max-tokens {max_tokens} / "
                    f"--max-regions {self.max_regions}; raise them or lower the CMCL item limits")
            budget = _BUDGET if (max_tokens or self.max_regions) else None
            mine_batches = data_utils.batch_by_size(
                mine, self.num_tokens, num_tokens_vec=np.ceil(cost * _BUDGET).astype(np.int64) if budget else None,
                max_tokens=budget, max_sentences=max_sentences,
                required_batch_size_multiple=required_batch_size_multiple)
            kept = sum(len(batch) for batch in mine_batches)
            batches += list(mine_batches) + ([mine[kept:]] if kept < len(mine) else [])  # see batching.py
        return batches
