"""Masked region modelling: choose regions to mask, extending the choice to strongly overlapping ones.

Regions that overlap a masked region strongly show nearly the same content; leaving them
visible would let the model copy the answer, so they are masked too.
"""
from typing import Dict, Optional

import numpy as np
import torch
from torchvision.ops import box_iou


def choose_masked_regions(boxes: torch.Tensor, rng: np.random.Generator, mask_prob: float = 0.15,
                          overlap_threshold: float = 0.4) -> torch.Tensor:
    """Boolean (n,) mask over regions given their (n, 4+) normalised boxes: each region with
    ``mask_prob`` (at least one when ``mask_prob`` > 0), plus every region whose IoU with a chosen one exceeds
    ``overlap_threshold`` (>= 1 disables the extension)."""
    n = len(boxes)
    masked = torch.from_numpy(rng.random(n) < mask_prob)
    if n and mask_prob > 0 and not masked.any():
        masked[int(rng.integers(n))] = True
    if masked.any() and overlap_threshold < 1:
        iou = box_iou(boxes[:, :4].float(), boxes[masked, :4].float())
        masked |= (iou > overlap_threshold).any(dim=1)
    return masked


def zero_masked(features: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Masked regions' features are zeroed (their boxes stay, as in UNITER/UNIMO)."""
    out = features.clone()
    out[masked] = 0
    return out


def masked_region_sample(regions: Dict[str, Optional[torch.Tensor]], rng: np.random.Generator, mask_prob: float,
                         overlap_threshold: float) -> Dict[str, Optional[torch.Tensor]]:
    """Region dict (see ``regions.load_regions``) -> model input with masked features zeroed, plus
    the regression targets (the original features), the mask and the detector's class distribution."""
    masked = choose_masked_regions(regions["boxes"], rng, mask_prob, overlap_threshold)
    return {
        "features": zero_masked(regions["features"], masked),
        "boxes": regions["boxes"],
        "region_targets": regions["features"],
        "region_masked": masked,
        "cls_probs": regions["cls_probs"],
    }
