"""FLOPs of a training step, counted analytically from a batch's shapes: every pass (the joint pass,
CMCL's single-modal passes of images and texts) and the heads, for MFU and for the FLOP/s that
``benchmarks/bench_pretrain.py`` and ``benchmarks/gpu_bench.py`` print.

Two counts of each part:

- ``model``: what the step needs, the FLOP count MFU is defined on: real tokens and regions only,
  each distinct image or text of a batch encoded once, attention over the real positions of each
  sequence.
- ``computed``: what the kernels compute: padded rows (a batch padded to its longest sample, packed
  rows to their length), the attention between packed sequences that the mask then discards, and
  duplicate items where a layout encodes them again.

Counted: every matrix product of the transformer layers (fused q/k/v, output projection, FFN: 2 x
(4H^2 + 2HF) per position) and of attention (QK^T and AV: 4H per pair of positions), the region
projection of the input embeddings, the LM head on the predicted tokens (dense + vocabulary
projection), the region heads on the masked regions and the poolers. A training step is 3x the
forward (the backward computes gradients of inputs and weights), except the region projection,
whose input is data (2x). Not counted: embedding lookups, LayerNorm, softmax, GELU, dropout, the
losses and CMCL's similarity matrices (a few A x G x H products), recomputation under
``--checkpoint-activations`` (MFU counts model FLOPs, not recomputed ones).
"""
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

import numpy as np
import torch

from ..data.cmcl_batch import CmclBatch
from .embeddings import BOX_DIM
from .packing import distinct, plan_packing

LAYOUTS = ("packed", "padded")


@dataclass(frozen=True)
class Dims:
    """The sizes FLOPs depend on."""

    layers: int
    embed: int
    ffn: int
    vocab: int
    region_feature_dim: int = 0
    num_region_classes: int = 0

    @classmethod
    def of(cls, cfg: Any, vocab: int) -> "Dims":
        """From a model config or namespace with fairseq's names (a UnimoConfig, RoBERTa's args)."""
        return cls(cfg.encoder_layers, cfg.encoder_embed_dim, cfg.encoder_ffn_embed_dim, vocab,
                   getattr(cfg, "region_feature_dim", 0) or 0, getattr(cfg, "num_region_classes", 0) or 0)

    @property
    def position_flops(self) -> int:
        """Forward FLOPs of one position through one layer's linear maps."""
        return 2 * self.embed * (4 * self.embed + 2 * self.ffn)

    @property
    def pair_flops(self) -> int:
        """Forward FLOPs of one (query, key) pair in one layer's attention (scores and weighted values)."""
        return 4 * self.embed


@dataclass
class Flops:
    model: float = 0.0
    computed: float = 0.0

    def __add__(self, other: "Flops") -> "Flops":
        return Flops(self.model + other.model, self.computed + other.computed)

    def __mul__(self, factor: float) -> "Flops":
        return Flops(self.model * factor, self.computed * factor)

    @property
    def waste_share(self) -> float:
        """The share of computed FLOPs that the step does not need (padding, duplicates)."""
        return 1.0 - self.model / self.computed if self.computed else 0.0


@dataclass
class StepFlops:
    """Training FLOPs of one step, by part (``joint``, ``heads``, ``cmcl``), and of its duplicates alone."""

    parts: Dict[str, Flops] = field(default_factory=dict)
    duplicates: float = 0.0  # computed FLOPs spent encoding an item again (zero for the packed layout)

    def add(self, name: str, flops: Flops):
        self.parts[name] = self.parts.get(name, Flops()) + flops

    @property
    def total(self) -> Flops:
        return sum(self.parts.values(), Flops())

    @property
    def padding_share(self) -> float:
        """The share of computed FLOPs spent on padding (duplicates apart)."""
        total = self.total
        return (total.computed - total.model - self.duplicates) / total.computed if total.computed else 0.0

    def __add__(self, other: "StepFlops") -> "StepFlops":
        out = StepFlops(dict(self.parts), self.duplicates + other.duplicates)
        for name, flops in other.parts.items():
            out.add(name, flops)
        return out


def encoder_forward(dims: Dims, lengths, rows: int, row_length: int) -> Flops:
    """The layers on sequences of real ``lengths``, computed as ``rows`` rows of ``row_length``."""
    lengths = np.asarray(lengths, dtype=np.float64)
    model = lengths.sum() * dims.position_flops + (lengths ** 2).sum() * dims.pair_flops
    computed = rows * row_length * dims.position_flops + rows * row_length ** 2 * dims.pair_flops
    return Flops(model, computed) * dims.layers


def region_projection_forward(dims: Dims, real: int, computed: int) -> Flops:
    per_region = 2 * (dims.region_feature_dim + BOX_DIM) * dims.embed
    return Flops(real * per_region, computed * per_region)


def lm_head_forward(dims: Dims, predicted: int) -> float:
    return 2.0 * predicted * (dims.embed ** 2 + dims.embed * dims.vocab)


def region_heads_forward(dims: Dims, masked: int, classes: bool) -> float:
    flops = 2.0 * masked * (dims.embed ** 2 + dims.embed * dims.region_feature_dim)
    if classes:
        flops += 2.0 * masked * (dims.embed ** 2 + dims.embed * dims.num_region_classes)
    return flops


def _joint(dims: Dims, net_input: Mapping[str, torch.Tensor], pad: int, step: StepFlops):
    """The joint pass: one row per sample, padded to the batch's most regions and longest text."""
    tokens, regions = net_input.get("src_tokens"), net_input.get("regions")
    lengths, width, rows = 0, 0, 0
    if regions is not None:
        rows, width = regions.shape[0], regions.shape[1] + 1  # + [IMG]
        mask = net_input.get("region_padding_mask")
        real = (~mask).sum(1).cpu().numpy() + 1 if mask is not None else np.full(rows, width)
        lengths = lengths + real
        step.add("joint", region_projection_forward(dims, int(real.sum()), rows * width) * 2)
    if tokens is not None:
        rows, width = tokens.shape[0], width + tokens.shape[1]
        lengths = lengths + tokens.ne(pad).sum(1).cpu().numpy()
    step.add("joint", encoder_forward(dims, lengths, rows, width) * 3)


def text_mlm_step(dims: Dims, src_tokens: torch.Tensor, pad: int, predicted: int) -> StepFlops:
    """A masked-LM training step on right-padded text (RoBERTa's, or unimo's text path)."""
    step = StepFlops()
    _joint(dims, {"src_tokens": src_tokens}, pad, step)
    step.add("heads", Flops(lm_head_forward(dims, predicted), lm_head_forward(dims, predicted)) * 3)
    return step


def cmcl_passes(dims: Dims, batch: CmclBatch, pad: int, layout: str = "packed") -> StepFlops:
    """CMCL's single-modal passes: ``packed`` as ``UnimoModel`` runs them (each distinct image and text
    once, packed into rows), or ``padded``: one pass over every image padded to the most regions and
    one over every text padded to the longest (the implementation the packed passes replaced)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    batch = CmclBatch.of(batch)
    step = StepFlops()
    images, _ = distinct(batch.regions, batch.boxes, batch.region_padding_mask)
    texts, _ = distinct(batch.texts)
    image_lengths = (~batch.region_padding_mask).sum(1).cpu().numpy() + 1  # + [IMG]
    text_lengths = batch.texts.ne(pad).sum(1).cpu().numpy()
    unique_images, unique_texts = image_lengths[images.cpu().numpy()], text_lengths[texts.cpu().numpy()]
    width = batch.regions.shape[1] + 1
    lengths = np.concatenate([unique_images, unique_texts])
    pooled = 2.0 * dims.embed ** 2
    if layout == "packed":
        packing = plan_packing(lengths, dims.position_flops, dims.pair_flops)
        step.add("cmcl", encoder_forward(dims, lengths, packing.rows, packing.row_length) * 3)
        step.add("cmcl", region_projection_forward(dims, int(unique_images.sum()), len(unique_images) * width) * 2)
        step.add("cmcl", Flops(pooled * len(lengths), pooled * len(lengths)) * 3)
        return step
    needed = encoder_forward(dims, lengths, 0, 0).model
    images_pass = encoder_forward(dims, image_lengths, len(image_lengths), width)
    texts_pass = encoder_forward(dims, text_lengths, len(text_lengths), batch.texts.shape[1])
    step.add("cmcl", Flops(needed, images_pass.computed + texts_pass.computed) * 3)
    projection = region_projection_forward(dims, int(unique_images.sum()), len(image_lengths) * width)
    step.add("cmcl", projection * 2)
    step.add("cmcl", Flops(pooled * len(lengths), pooled * (len(image_lengths) + len(text_lengths))) * 3)
    # the duplicates' share: what encoding them again computed, at their padded widths
    repeated_images, repeated_texts = len(image_lengths) - len(unique_images), len(text_lengths) - len(unique_texts)
    step.duplicates = 3 * dims.layers * (
        repeated_images * (width * dims.position_flops + width ** 2 * dims.pair_flops)
        + repeated_texts * (batch.texts.shape[1] * dims.position_flops + batch.texts.shape[1] ** 2 * dims.pair_flops)) \
        + 2 * repeated_images * width * 2 * (dims.region_feature_dim + BOX_DIM) * dims.embed \
        + 3 * pooled * (repeated_images + repeated_texts)
    return step


def unimo_pretrain_step(dims: Dims, sample: Mapping[str, Any], pad: int, layout: str = "packed") -> StepFlops:
    """A ``unimo_pretrain`` training step on ``sample`` (a collated batch, on any device): the joint
    pass, the heads its targets need, and CMCL's passes when the batch has them."""
    step = StepFlops()
    _joint(dims, sample["net_input"], pad, step)
    lm_targets: Optional[torch.Tensor] = sample.get("lm_targets")
    if lm_targets is not None:
        predicted = int(lm_targets.ne(pad).sum())
        step.add("heads", Flops(lm_head_forward(dims, predicted), lm_head_forward(dims, predicted)) * 3)
    masked = sample.get("region_masked")
    if masked is not None:
        flops = region_heads_forward(dims, int(masked.sum()), sample.get("region_cls_targets") is not None)
        step.add("heads", Flops(flops, flops) * 3)
    if sample.get("cmcl") is not None:
        step = step + cmcl_passes(dims, sample["cmcl"], pad, layout)
    return step
