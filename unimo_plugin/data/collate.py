"""Batching helpers shared by every corpus and task, and per-sample seeding."""
from typing import Any, Dict, List, Sequence

import numpy as np
import torch
from fairseq.data import data_utils


def sample_rng(seed: int, epoch: int, index: int, *more: int) -> np.random.Generator:
    """A generator for one sample: deterministic per (seed, epoch, index, *more), whatever the worker."""
    return np.random.default_rng([seed, epoch, index, *more])


def _pad_stack(tensors, length):
    out = tensors[0].new_zeros((len(tensors), length) + tuple(tensors[0].shape[1:]))
    for i, t in enumerate(tensors):
        out[i, : len(t)] = t
    return out


def collate_regions(samples: Sequence[Dict[str, Any]],
                    keys: Sequence[str] = ("features", "boxes")) -> Dict[str, torch.Tensor]:
    """Pad a list of region dicts to (B, R, ...) tensors; returns them with ``padding_mask`` (B, R).

    Every key in ``keys`` must be present (not None) in every sample.
    """
    length = max(len(s["boxes"]) for s in samples)
    out = {key: _pad_stack([s[key] for s in samples], length) for key in keys}
    counts = torch.tensor([len(s["boxes"]) for s in samples])
    out["padding_mask"] = torch.arange(length)[None, :] >= counts[:, None]
    return out


def collate_text_part(samples: List[Dict[str, Any]], pad: int, batch: Dict[str, Any]) -> Dict[str, Any]:
    """Add the text inputs and LM targets of ``samples`` to ``batch`` (shared by text and pair corpora)."""
    tokens = data_utils.collate_tokens([s["tokens"] for s in samples], pad)
    target_mask = data_utils.collate_tokens([s["target_mask"].long() for s in samples], 0).bool()
    lm_targets = data_utils.collate_tokens([s["lm_targets"] for s in samples], pad)
    batch.setdefault("net_input", {}).update(src_tokens=tokens, target_mask=target_mask)
    if "text_positions" in samples[0]:  # texts of segments (object tags, then the caption)
        batch["net_input"]["text_positions"] = data_utils.collate_tokens([s["text_positions"] for s in samples], pad)
    batch["lm_targets"] = lm_targets
    batch["is_seq2seq"] = target_mask.any(dim=1)
    batch["nsentences"] = len(samples)
    batch["ntokens"] = int(tokens.ne(pad).sum())
    return batch


def collate_region_part(samples: List[Dict[str, Any]], batch: Dict[str, Any]) -> Dict[str, Any]:
    """Add region inputs (and, where the samples carry them, masked-region targets) to ``batch``."""
    has_targets = "region_masked" in samples[0]
    has_cls = has_targets and samples[0]["cls_probs"] is not None
    keys = ("features", "boxes") + (("region_targets", "region_masked") if has_targets else ()) \
        + (("cls_probs",) if has_cls else ())
    regions = collate_regions(samples, keys)
    batch.setdefault("net_input", {}).update(
        regions=regions["features"], boxes=regions["boxes"], region_padding_mask=regions["padding_mask"])
    if has_targets:
        batch["region_masked"] = regions["region_masked"] & ~regions["padding_mask"]
        batch["region_targets"] = regions["region_targets"]
        batch["region_cls_targets"] = regions["cls_probs"] if has_cls else None
    batch.setdefault("nsentences", len(samples))
    return batch
