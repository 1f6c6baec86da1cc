"""What the text, image and image-text pretraining corpora share: their objective settings, their
per-sample costs as arrays (for fast batching of millions of samples), the epoch, and deterministic
per-sample randomness (per seed, epoch, index and repetition within the epoch)."""
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional

import numpy as np
from fairseq.data import FairseqDataset

from ..collate import sample_rng


@dataclass(frozen=True)
class Objectives:
    """How every corpus draws its samples' objectives; the fields are ``unimo_pretrain``'s options of
    the same names (see its config for their meaning)."""

    seed: int
    mask_prob: float
    region_mask_prob: float
    region_overlap_threshold: float
    seq2seq_prob: float
    seq2seq_fragment_ratio: float

    @classmethod
    def from_options(cls, options: Any) -> "Objectives":
        """The settings of the same names in ``options`` (a task config)."""
        return cls(**{f.name: getattr(options, f.name) for f in fields(cls)})


class PretrainCorpus(FairseqDataset):
    """Subclasses set ``modality``, ``objectives`` and, per sample, the arrays ``sizes`` (text length, for
    ``--max-positions``), ``batch_tokens`` and ``batch_regions`` (the text tokens and regions a
    sample's passes compute, every pass included), ``packed_tokens`` and ``packed_regions`` (the
    part of those that packed passes compute, which a batch sums instead of padding to its largest
    sample: CMCL's single-modal passes; None where there is none) and ``positions`` (text tokens +
    regions of the joint pass, for ``--modality-ratios by-tokens``).

    ``batch_by_length`` False makes a corpus's batches random draws instead of runs of samples of
    one length: a contrastive loss over a batch of same-length texts can tell them from its other
    candidates (paraphrases, retrieved texts) by length alone."""

    modality: Optional[str] = None
    objectives: Objectives
    epoch = 1
    batch_by_length = True
    packed_tokens: Optional[np.ndarray] = None
    packed_regions: Optional[np.ndarray] = None

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __getitem__(self, index: int) -> Dict[str, Any]:
        return self.draw(index)

    def draw(self, index: int, repeat: int = 0) -> Dict[str, Any]:
        """Sample ``index`` as drawn for the ``repeat``-th time in this epoch: an upsampled corpus
        gives each repetition its own masking and CMCL items."""
        return self.build(index, sample_rng(self.objectives.seed, self.epoch, index, *((repeat,) if repeat else ())))

    def build(self, index: int, rng: np.random.Generator) -> Dict[str, Any]:
        """The sample ``index`` with its random choices drawn from ``rng``."""
        raise NotImplementedError

    def num_tokens(self, index: int) -> int:
        return self.batch_tokens[index]

    def num_regions(self, index: int) -> int:
        return self.batch_regions[index]

    def size(self, index: int) -> int:
        return self.sizes[index]
