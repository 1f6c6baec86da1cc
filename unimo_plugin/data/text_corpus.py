"""Text-only pretraining samples: masked LM or seq2seq LM (a fragment of the text is the target)."""
import numpy as np
import torch
from fairseq.data import FairseqDataset

from .collate import collate_text_part, sample_rng
from .token_masking import mask_tokens, seq2seq_example, split_fragment


class TextCorpusDataset(FairseqDataset):
    """Wraps blocks of ``<s> sentence </s> ...`` tokens; each sample is, with probability
    ``seq2seq_prob``, a seq2seq LM example and otherwise a masked-LM example."""

    modality = "text"

    def __init__(self, blocks, dictionary, mask_idx, seed, mask_prob, seq2seq_prob, fragment_ratio):
        self.blocks, self.dictionary, self.mask_idx = blocks, dictionary, mask_idx
        self.seed, self.mask_prob = seed, mask_prob
        self.seq2seq_prob, self.fragment_ratio = seq2seq_prob, fragment_ratio
        self.epoch = 1
        # a seq2seq example is one token longer (the decoder's start symbol)
        self.sizes = np.asarray(blocks.sizes) + 1

    def set_epoch(self, epoch):
        self.epoch = epoch
        if hasattr(self.blocks, "set_epoch"):
            self.blocks.set_epoch(epoch)

    def __len__(self):
        return len(self.blocks)

    def __getitem__(self, index):
        rng = sample_rng(self.seed, self.epoch, index)
        tokens = self.blocks[index]
        split = split_fragment(tokens, rng, self.fragment_ratio, self.dictionary) \
            if rng.random() < self.seq2seq_prob else None
        if split is not None:
            tokens, targets, target_mask = seq2seq_example(*split, self.dictionary)
        else:
            tokens, targets = mask_tokens(tokens, rng, self.dictionary, self.mask_idx, self.mask_prob)
            target_mask = torch.zeros(len(tokens), dtype=torch.bool)
        return {"id": index, "tokens": tokens, "lm_targets": targets, "target_mask": target_mask}

    @property
    def positions(self):
        """Sequence positions (text tokens + regions) of each sample's joint pass."""
        return self.sizes

    def num_tokens(self, index):
        return self.sizes[index]

    def num_regions(self, index):
        return 0

    def size(self, index):
        return self.sizes[index]

    def collater(self, samples):
        return collate_text_part(samples, self.dictionary.pad(), {"id": torch.tensor([s["id"] for s in samples])})

