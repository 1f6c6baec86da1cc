"""Image-only pretraining samples: masked region modelling over a region store."""
from typing import Any, Dict, List

import numpy as np
import torch

from ...formats.region_store import RegionStore
from ..collate import collate_region_part
from ..region_inputs import load_regions
from ..region_masking import masked_region_sample
from .corpus import Objectives, PretrainCorpus


class ImageCorpusDataset(PretrainCorpus):
    """Every image of ``store``, its first ``max_regions`` regions."""

    modality = "image"

    def __init__(self, *, store: RegionStore, objectives: Objectives, max_regions: int):
        self.store, self.objectives, self.max_regions = store, objectives, max_regions
        self.batch_regions = self.positions = np.minimum(store.num_boxes, max_regions) + 1  # + [IMG]
        self.sizes = self.batch_tokens = np.zeros(len(store), dtype=np.int64)  # no text

    def __len__(self) -> int:
        return len(self.store)

    def build(self, index: int, rng: np.random.Generator) -> Dict[str, Any]:
        sample = masked_region_sample(load_regions(self.store, index, self.max_regions), rng,
                                      self.objectives.region_mask_prob, self.objectives.region_overlap_threshold)
        sample["id"] = index
        return sample

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        batch = {"id": torch.tensor([s["id"] for s in samples]), "ntokens": 0}
        return collate_region_part(samples, batch)
