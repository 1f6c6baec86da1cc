"""The image-text retrieval score: a cross-encoder over the fused pair.

One joint bidirectional pass over ``[IMG] r1..rn <s> w1..wm </s>``; the pooled ``<s>`` and pooled
``[IMG]`` of that pass are fused as in UNIMO's other image-text heads (their element-wise product)
and a ClassificationHead gives one score. Training (the ``unimo_retrieval`` criterion) and
evaluation share this function.
"""
import torch

from .heads import PairClassificationHead

HEAD_NAME = "retrieval"


def retrieval_head(embed_dim: int, dropout: float) -> PairClassificationHead:
    """The head the ``unimo_retrieval`` task registers: one score per (image, caption) pair."""
    return PairClassificationHead(embed_dim, embed_dim, 1, "tanh", dropout)


def cross_encoder_scores(model, src_tokens, regions, boxes, region_padding_mask=None, **extra_inputs):
    """(B,) scores of B (image, caption) pairs (higher: the caption describes the image), and the
    model's extra outputs (e.g. ``cmcl_inputs`` passed along in ``extra_inputs``)."""
    scores, extra = model(src_tokens, regions, boxes, region_padding_mask, classification_head_name=HEAD_NAME,
                          **extra_inputs)
    return scores.squeeze(-1), extra
