"""Text-only pretraining samples: masked LM or seq2seq LM (a fragment of the text is the target)."""
from typing import Any, Dict, List

import numpy as np
import torch
from fairseq.data import Dictionary, FairseqDataset

from ..collate import collate_text_part
from ..token_masking import mask_tokens, seq2seq_example, split_fragment
from .corpus import Objectives, PretrainCorpus


class TextCorpusDataset(PretrainCorpus):
    """Wraps blocks of ``<s> sentence </s> ...`` tokens; each sample is, with probability
    ``objectives.seq2seq_prob``, a seq2seq LM example and otherwise a masked-LM example."""

    modality = "text"

    def __init__(self, *, blocks: FairseqDataset, dictionary: Dictionary, mask_idx: int, objectives: Objectives):
        self.blocks, self.dictionary, self.mask_idx, self.objectives = blocks, dictionary, mask_idx, objectives
        # a seq2seq example is one token longer (the decoder's start symbol)
        self.sizes = self.batch_tokens = self.positions = np.asarray(blocks.sizes) + 1
        self.batch_regions = np.zeros(len(self.sizes), dtype=np.int64)

    def set_epoch(self, epoch: int):
        super().set_epoch(epoch)
        if hasattr(self.blocks, "set_epoch"):
            self.blocks.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.blocks)

    def build(self, index: int, rng: np.random.Generator) -> Dict[str, Any]:
        tokens, objectives = self.blocks[index], self.objectives
        split = split_fragment(tokens, rng, objectives.seq2seq_fragment_ratio, self.dictionary) \
            if rng.random() < objectives.seq2seq_prob else None
        if split is not None:
            tokens, targets, target_mask = seq2seq_example(*split, self.dictionary)
        else:
            tokens, targets = mask_tokens(tokens, rng, self.dictionary, self.mask_idx, objectives.mask_prob)
            target_mask = torch.zeros(len(tokens), dtype=torch.bool)
        return {"id": index, "tokens": tokens, "lm_targets": targets, "target_mask": target_mask}

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        return collate_text_part(samples, self.dictionary.pad(), {"id": torch.tensor([s["id"] for s in samples])})

