"""Retrieval fine-tuning samples: each caption with its image and its negatives, scored as one group.

Item ``i`` is caption ``i`` with its own image (the positive, first), then ``num_wrong_images`` pairs of
the caption with another image, then ``num_wrong_captions`` pairs of the image with a caption of another
image: the official release's groups (10 and 10 for Flickr30k). Negatives are drawn at random from the
split, or from the mined hard negatives of ``unimo-mine-retrieval-negatives`` when given; draws are
deterministic per (seed, epoch, item).
"""
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from fairseq.data import Dictionary, FairseqDataset, data_utils

from ...formats.mined_negatives import MinedNegatives
from ...formats.region_store import RegionStore
from ..collate import collate_regions, sample_rng
from ..region_inputs import load_regions


class RetrievalPairsDataset(FairseqDataset):
    """``captions[i]`` (``w.. </s>``) describes region-store row ``image_rows[i]``; captions are cut to
    ``max_caption_tokens`` and images to their first ``max_regions`` regions.

    ``hard_negatives``: a :class:`MinedNegatives` of this split, or None for random.
    """

    def __init__(self, *, captions: FairseqDataset, image_rows: np.ndarray, store: RegionStore,
                 dictionary: Dictionary, num_wrong_images: int, num_wrong_captions: int, seed: int, max_regions: int,
                 max_caption_tokens: int, hard_negatives: Optional[MinedNegatives] = None, shuffle: bool = True):
        if len(captions) != len(image_rows):
            raise ValueError(f"{len(captions)} captions but {len(image_rows)} image rows")
        if min(num_wrong_images, num_wrong_captions) < 0 or num_wrong_images + num_wrong_captions < 1:
            raise ValueError(f"--num-wrong-images {num_wrong_images} and --num-wrong-captions {num_wrong_captions}: "
                             "a group needs at least one negative and no count below 0")
        self.image_set = np.unique(image_rows)
        if len(self.image_set) < 2:
            raise ValueError(f"retrieval needs at least 2 images in a split, got {len(self.image_set)}")
        if self.image_set[0] < 0 or self.image_set[-1] >= len(store):
            raise ValueError(f"image rows out of range for region store {store.path} with {len(store)} images")
        self.captions, self.image_rows = captions, np.asarray(image_rows)
        self.store, self.dictionary = store, dictionary
        self.num_wrong_images, self.num_wrong_captions = num_wrong_images, num_wrong_captions
        self.seed, self.max_regions, self.max_caption_tokens = seed, max_regions, max_caption_tokens
        self.hard_negatives, self.shuffle, self.epoch = hard_negatives, shuffle, 1
        self.sizes = np.minimum(np.asarray(captions.sizes), max_caption_tokens) + 1  # <s> prepended
        regions = np.minimum(store.num_boxes[self.image_rows], max_regions) + 1  # [IMG] first
        self.group_positions = self.num_candidates * (self.sizes + regions)  # estimate: negatives vary

    @property
    def num_candidates(self) -> int:
        return 1 + self.num_wrong_captions + self.num_wrong_images

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return False  # negatives and order change with the epoch

    def __len__(self) -> int:
        return len(self.captions)

    def _caption(self, index):
        words = self.captions[index].long()[:-1][: self.max_caption_tokens - 1]  # drop </s>, truncate
        return torch.cat([words.new_tensor([self.dictionary.bos()]), words, words.new_tensor([self.dictionary.eos()])])

    def _random_negatives(self, rng, row):
        """Captions of other images and other images, uniformly (rejection: the own image is rare)."""
        captions, images = [], []
        while len(captions) < self.num_wrong_captions:
            c = int(rng.integers(len(self.captions)))
            if self.image_rows[c] != row:
                captions.append(c)
        while len(images) < self.num_wrong_images:
            r = int(self.image_set[rng.integers(len(self.image_set))])
            if r != row:
                images.append(r)
        return captions, images

    def _hard_negatives(self, rng, index, row):
        pool_captions = self.hard_negatives.captions_of_image(row)
        pool_images = self.hard_negatives.images[index]
        captions = rng.choice(pool_captions, self.num_wrong_captions,
                              replace=len(pool_captions) < self.num_wrong_captions)
        images = rng.choice(pool_images, self.num_wrong_images, replace=len(pool_images) < self.num_wrong_images)
        return [int(c) for c in captions], [int(r) for r in images]

    def __getitem__(self, index: int) -> Dict[str, Any]:
        rng = sample_rng(self.seed, self.epoch, index)
        row = int(self.image_rows[index])
        if self.hard_negatives is None:
            wrong_captions, wrong_images = self._random_negatives(rng, row)
        else:
            wrong_captions, wrong_images = self._hard_negatives(rng, index, row)
        caption, image = self._caption(index), load_regions(self.store, row, self.max_regions)
        pairs = [(caption, image)] + [(caption, load_regions(self.store, r, self.max_regions)) for r in wrong_images] \
            + [(self._caption(c), image) for c in wrong_captions]
        return {"id": index, "pairs": pairs}

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Pairs of a group are consecutive, the positive first: scores view as (B, num_candidates)."""
        if not samples:
            return {}
        pairs = [pair for s in samples for pair in s["pairs"]]
        tokens = data_utils.collate_tokens([tokens for tokens, _ in pairs], self.dictionary.pad())
        regions = collate_regions([image for _, image in pairs])
        return {
            "id": torch.tensor([s["id"] for s in samples]),
            "nsentences": len(samples),
            "ntokens": int(tokens.ne(self.dictionary.pad()).sum()),
            "num_candidates": self.num_candidates,
            "num_wrong_images": self.num_wrong_images,
            "image_rows": torch.tensor([int(self.image_rows[s["id"]]) for s in samples]),  # of the positives
            "net_input": {"src_tokens": tokens, "regions": regions["features"], "boxes": regions["boxes"],
                          "region_padding_mask": regions["padding_mask"]},
        }

    def num_tokens(self, index: int) -> int:
        return self.group_positions[index]

    def size(self, index: int) -> int:
        return self.sizes[index]

    def ordered_indices(self) -> np.ndarray:
        if self.shuffle:
            return np.random.default_rng([self.seed, self.epoch]).permutation(len(self))
        return np.arange(len(self))
