"""The image-text retrieval score: a cross-encoder over the fused pair.

One joint bidirectional pass over ``[IMG] r1..rn <s> w1..wm </s>``; the pooled ``<s>`` and pooled
``[IMG]`` of that pass give one score: the official release's ``match_fc`` on dropout(their product)
(``release``), or RoBERTa's dense + tanh + projection of their product (``roberta``). Training (the
``unimo_retrieval`` criterion) and evaluation share this function.
"""
from torch import nn

from .heads import PairClassificationHead, ProductScoreHead

HEAD_NAME = "retrieval"
HEADS = ("release", "roberta")


def retrieval_head(embed_dim: int, dropout: float, kind: str = "release") -> nn.Module:
    """The head the ``unimo_retrieval`` task registers: one score per (image, caption) pair."""
    if kind == "release":
        return ProductScoreHead(embed_dim, dropout)
    if kind == "roberta":
        return PairClassificationHead(embed_dim, embed_dim, 1, "tanh", dropout)
    raise ValueError(f"retrieval head {kind!r}: expected one of {', '.join(HEADS)}")


def cross_encoder_scores(model, src_tokens, regions, boxes, region_padding_mask=None, **extra_inputs):
    """(B,) scores of B (image, caption) pairs (higher: the caption describes the image), and the
    model's extra outputs (e.g. ``cmcl_inputs`` passed along in ``extra_inputs``)."""
    scores, extra = model(src_tokens, regions, boxes, region_padding_mask, classification_head_name=HEAD_NAME,
                          **extra_inputs)
    return scores.squeeze(-1), extra
