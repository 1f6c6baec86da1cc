"""Image-only pretraining samples: masked region modelling over a region store."""
import numpy as np
import torch
from fairseq.data import FairseqDataset

from .collate import collate_region_part, sample_rng
from .region_masking import masked_region_sample
from .regions import load_regions


class ImageCorpusDataset(FairseqDataset):
    modality = "image"

    def __init__(self, store, seed, max_regions, region_mask_prob, overlap_threshold):
        self.store, self.seed, self.max_regions = store, seed, max_regions
        self.region_mask_prob, self.overlap_threshold = region_mask_prob, overlap_threshold
        self.region_counts = np.minimum(store.num_boxes, max_regions) + 1  # + [IMG]
        self.sizes = np.zeros(len(store), dtype=np.int64)  # no text
        self.epoch = 1

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return len(self.store)

    def __getitem__(self, index):
        rng = sample_rng(self.seed, self.epoch, index)
        sample = masked_region_sample(load_regions(self.store, index, self.max_regions), rng,
                                      self.region_mask_prob, self.overlap_threshold)
        sample["id"] = index
        return sample

    @property
    def positions(self):
        """Sequence positions (text tokens + regions) of each sample's joint pass."""
        return self.region_counts

    def num_tokens(self, index):
        return 0

    def num_regions(self, index):
        return self.region_counts[index]

    def size(self, index):
        return 0

    def collater(self, samples):
        batch = {"id": torch.tensor([s["id"] for s in samples]), "ntokens": 0}
        return collate_region_part(samples, batch)
