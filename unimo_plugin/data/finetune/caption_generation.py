"""Image regions (optionally plus object tags as source text) -> caption, in fairseq's seq2seq layout.

Training splits give one sample per caption. Evaluation splits give one sample per image, whose
target is its first caption and whose ``references`` are all of its captions, so ``fairseq-generate``
captions every image once and the scorers compare against every reference.
"""
from typing import List, Optional

import numpy as np
import torch
from fairseq.data import FairseqDataset, data_utils

from ..batching import KeepsLastBatch
from ..collate import collate_regions
from ..object_tags import tag_source
from ..region_inputs import load_regions


class CaptionGenerationDataset(KeepsLastBatch, FairseqDataset):
    def __init__(self, captions, caption_index, image_rows, store, dictionary, max_regions, max_target_tokens,
                 references: Optional[List[List[str]]] = None, tagger=None, shuffle=True):
        """``captions``: token dataset (``w.. </s>``); item i uses caption ``caption_index[i]`` and
        store row ``image_rows[i]``."""
        self.captions, self.caption_index = captions, np.asarray(caption_index)
        self.image_rows, self.store = np.asarray(image_rows), store
        self.dictionary, self.max_regions, self.max_target_tokens = dictionary, max_regions, max_target_tokens
        self.references, self.tagger, self.shuffle = references, tagger, shuffle
        target_sizes = np.minimum(captions.sizes[self.caption_index], max_target_tokens)
        region_sizes = np.minimum(store.num_boxes[self.image_rows], max_regions) + 1
        tag_sizes = tagger.max_tokens + 2 if tagger is not None else 0
        self.sizes = target_sizes + region_sizes + tag_sizes
        self.target_sizes = target_sizes

    def __len__(self):
        return len(self.caption_index)

    def __getitem__(self, index):
        tokens = self.captions[int(self.caption_index[index])].long()
        if len(tokens) > self.max_target_tokens:  # keep the closing </s>
            tokens = torch.cat([tokens[: self.max_target_tokens - 1], tokens[-1:]])
        regions = load_regions(self.store, int(self.image_rows[index]), self.max_regions)
        item = {"id": index, "source": tag_source(self.tagger, regions["cls_probs"]), "target": tokens, **regions}
        if self.references is not None:
            item["references"] = self.references[index]
        return item

    def collater(self, samples):
        if not samples:
            return {}
        pad, eos = self.dictionary.pad(), self.dictionary.eos()
        regions = collate_regions(samples)
        targets = [s["target"] for s in samples]
        source = (data_utils.collate_tokens([s["source"] for s in samples], pad)
                  if len(samples[0]["source"]) else torch.zeros(len(samples), 0, dtype=torch.long))
        batch = {
            "id": torch.tensor([s["id"] for s in samples]),
            "nsentences": len(samples),
            "ntokens": sum(len(t) for t in targets),
            "net_input": {
                "src_tokens": source,
                "src_lengths": source.ne(pad).sum(1),
                "regions": regions["features"],
                "boxes": regions["boxes"],
                "region_padding_mask": regions["padding_mask"],
                "prev_output_tokens": data_utils.collate_tokens(targets, pad, eos, move_eos_to_beginning=True),
            },
            "target": data_utils.collate_tokens(targets, pad, eos),
        }
        if "references" in samples[0]:
            batch["references"] = [s["references"] for s in samples]
        return batch

    def num_tokens(self, index):
        return int(self.sizes[index])

    def size(self, index):
        return int(self.sizes[index])

    def ordered_indices(self):
        order = np.random.permutation(len(self)) if self.shuffle else np.arange(len(self))
        return order[np.argsort(self.target_sizes[order], kind="mergesort")]
