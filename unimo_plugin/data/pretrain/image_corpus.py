"""Image-only pretraining samples: masked region modelling over a region store."""
import numpy as np
import torch

from ..collate import collate_region_part
from ..region_inputs import load_regions
from ..region_masking import masked_region_sample
from .corpus import PretrainCorpus


class ImageCorpusDataset(PretrainCorpus):
    modality = "image"

    def __init__(self, store, seed, max_regions, region_mask_prob, overlap_threshold):
        self.store, self.seed, self.max_regions = store, seed, max_regions
        self.region_mask_prob, self.overlap_threshold = region_mask_prob, overlap_threshold
        self.batch_regions = self.positions = np.minimum(store.num_boxes, max_regions) + 1  # + [IMG]
        self.sizes = self.batch_tokens = np.zeros(len(store), dtype=np.int64)  # no text

    def __len__(self):
        return len(self.store)

    def build(self, index, rng):
        sample = masked_region_sample(load_regions(self.store, index, self.max_regions), rng,
                                      self.region_mask_prob, self.overlap_threshold)
        sample["id"] = index
        return sample

    def collater(self, samples):
        batch = {"id": torch.tensor([s["id"] for s in samples]), "ntokens": 0}
        return collate_region_part(samples, batch)
