"""The image-text retrieval score: a cross-encoder over the fused pair.

One joint bidirectional pass over ``[IMG] r1..rn <s> w1..wm </s>``; the pooled ``<s>`` and pooled
``[IMG]`` of that pass, their element-wise product beside them, go through a ClassificationHead
with one output. Training (the ``unimo_retrieval`` criterion) and evaluation share this function.
"""
import torch

from .heads import ClassificationHead

HEAD_NAME = "retrieval"


def retrieval_head(embed_dim: int, dropout: float) -> ClassificationHead:
    """The head the ``unimo_retrieval`` task registers: [text; image; text * image] -> 1 score."""
    return ClassificationHead(3 * embed_dim, embed_dim, 1, "tanh", dropout)


def cross_encoder_scores(model, src_tokens, regions, boxes, region_padding_mask=None, **unused) -> torch.Tensor:
    """(B,) scores of B (image, caption) pairs; higher means the caption describes the image."""
    text, image, _ = model.extract_features(src_tokens, regions, boxes, region_padding_mask)
    t, v = model.pooled_text(text), model.pooled_image(image)
    return model.classification_heads[HEAD_NAME](torch.cat([t, v, t * v], dim=-1)).squeeze(-1)
