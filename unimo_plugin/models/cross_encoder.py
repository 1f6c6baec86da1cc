"""The image-text retrieval score: a cross-encoder over the fused pair.

One joint bidirectional pass over ``[IMG] r1..rn <s> w1..wm </s>``; the pooled ``<s>`` and pooled
``[IMG]`` of that pass are fused as in UNIMO's other image-text heads (their element-wise product)
and a ClassificationHead gives one score. Training (the ``unimo_retrieval`` criterion) and
evaluation share this function.
"""
import torch

from .classification import PairClassificationHead, classification_logits

HEAD_NAME = "retrieval"


def retrieval_head(embed_dim: int, dropout: float) -> PairClassificationHead:
    """The head the ``unimo_retrieval`` task registers: one score per (image, caption) pair."""
    return PairClassificationHead(embed_dim, embed_dim, 1, "tanh", dropout)


def cross_encoder_scores(model, src_tokens, regions, boxes, region_padding_mask=None, **unused) -> torch.Tensor:
    """(B,) scores of B (image, caption) pairs; higher means the caption describes the image."""
    return classification_logits(model, HEAD_NAME, src_tokens, regions, boxes, region_padding_mask).squeeze(-1)
