"""What the text, image and image-text pretraining corpora share: their per-sample costs as arrays
(for fast batching of millions of samples), the epoch, and deterministic per-sample randomness
(per seed, epoch, index and repetition within the epoch)."""
import numpy as np
from fairseq.data import FairseqDataset

from ..collate import sample_rng


class PretrainCorpus(FairseqDataset):
    """Subclasses set ``modality``, ``seed`` and, per sample, the arrays ``sizes`` (text length, for
    ``--max-positions``), ``batch_tokens`` and ``batch_regions`` (what a sample adds to a batch's
    token and region budgets, every pass included) and ``positions`` (text tokens + regions of the
    joint pass, for ``--modality-ratios by-tokens``)."""

    modality = None
    epoch = 1

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __getitem__(self, index):
        return self.draw(index)

    def draw(self, index, repeat=0):
        """Sample ``index`` as drawn for the ``repeat``-th time in this epoch: an upsampled corpus
        gives each repetition its own masking and CMCL items."""
        return self.build(index, sample_rng(self.seed, self.epoch, index, *((repeat,) if repeat else ())))

    def build(self, index, rng: np.random.Generator):
        """The sample ``index`` with its random choices drawn from ``rng``."""
        raise NotImplementedError

    def num_tokens(self, index):
        return self.batch_tokens[index]

    def num_regions(self, index):
        return self.batch_regions[index]

    def size(self, index):
        return self.sizes[index]
