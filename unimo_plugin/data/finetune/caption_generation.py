"""Image regions (optionally plus object tags as source text) -> caption, in fairseq's seq2seq layout.

Training splits give one sample per caption. Evaluation splits give one sample per image, whose
target is its first caption and whose ``references`` are all of its captions, so ``fairseq-generate``
captions every image once and the scorers compare against every reference.
"""
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from fairseq.data import Dictionary, FairseqDataset, data_utils

from ...formats.region_store import RegionStore
from ..batching import KeepsLastBatch
from ..collate import collate_regions
from ..object_tags import ObjectTagger, tag_source
from ..region_inputs import load_regions


class CaptionGenerationDataset(KeepsLastBatch, FairseqDataset):
    """``captions``: token dataset (``w.. </s>``); item i uses caption ``caption_index[i]``, cut to
    ``max_target_tokens``, and the first ``max_regions`` regions of store row ``image_rows[i]``;
    ``references[i]`` are its reference captions (evaluation splits). The decoder's input is the caption
    shifted right after ``decoder_start`` (default ``</s>``; the official release's ``<s>``)."""

    def __init__(self, *, captions: FairseqDataset, caption_index: np.ndarray, image_rows: np.ndarray,
                 store: RegionStore, dictionary: Dictionary, max_regions: int, max_target_tokens: int,
                 references: Optional[List[List[str]]] = None, tagger: Optional[ObjectTagger] = None,
                 shuffle: bool = True, decoder_start: Optional[int] = None):
        self.captions, self.caption_index = captions, np.asarray(caption_index)
        self.image_rows, self.store = np.asarray(image_rows), store
        self.dictionary, self.max_regions, self.max_target_tokens = dictionary, max_regions, max_target_tokens
        self.references, self.tagger, self.shuffle = references, tagger, shuffle
        self.decoder_start = dictionary.eos() if decoder_start is None else decoder_start
        target_sizes = np.minimum(captions.sizes[self.caption_index], max_target_tokens)
        region_sizes = np.minimum(store.num_boxes[self.image_rows], max_regions) + 1
        tag_sizes = tagger.max_tokens + 2 if tagger is not None else 0
        self.sizes = target_sizes + region_sizes + tag_sizes
        self.target_sizes = target_sizes

    def __len__(self) -> int:
        return len(self.caption_index)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        tokens = self.captions[int(self.caption_index[index])].long()
        if len(tokens) > self.max_target_tokens:  # keep the closing </s>
            tokens = torch.cat([tokens[: self.max_target_tokens - 1], tokens[-1:]])
        regions = load_regions(self.store, int(self.image_rows[index]), self.max_regions)
        item = {"id": index, "source": tag_source(self.tagger, regions["cls_probs"]), "target": tokens, **regions}
        if self.references is not None:
            item["references"] = self.references[index]
        return item

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
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
                "prev_output_tokens": data_utils.collate_tokens(
                    [torch.cat([t.new_tensor([self.decoder_start]), t[:-1]]) for t in targets], pad),
            },
            "target": data_utils.collate_tokens(targets, pad, eos),
        }
        if "references" in samples[0]:
            batch["references"] = [s["references"] for s in samples]
        return batch

    def num_tokens(self, index: int) -> int:
        return int(self.sizes[index])

    def size(self, index: int) -> int:
        return int(self.sizes[index])

    def ordered_indices(self) -> np.ndarray:
        order = np.random.permutation(len(self)) if self.shuffle else np.arange(len(self))
        return order[np.argsort(self.target_sizes[order], kind="mergesort")]
