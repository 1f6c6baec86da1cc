"""Region samples: one image's regions from a store as model-ready tensors."""
from typing import Dict, Optional

import numpy as np
import torch

from ..formats.region_store import RegionStore, normalized_boxes


def load_regions(store: RegionStore, row: int, max_regions: int) -> Dict[str, Optional[torch.Tensor]]:
    """The first ``max_regions`` regions of store row ``row`` (stores keep detector order)."""
    regions = store[row]
    n = min(len(regions.boxes), max_regions)
    return {
        "features": torch.from_numpy(np.array(regions.features[:n], dtype=np.float32)),
        "boxes": torch.from_numpy(normalized_boxes(regions.boxes[:n], regions.width, regions.height)),
        "cls_probs": (None if regions.cls_probs is None
                      else torch.from_numpy(np.array(regions.cls_probs[:n], dtype=np.float32))),
    }

