"""Fine-tuning heads over UNIMO's pooled states.

A head registered in ``model.classification_heads`` takes the pooled ``<s>`` (text tasks), or the
pooled ``<s>`` and the pooled ``[IMG]`` of the same bidirectional pass over
``[IMG] r1..rn <s> w.. </s>`` (image-text tasks); ``model(**net_input, classification_head_name=NAME)``
runs it.
"""
import torch
from torch import nn

from .heads import ClassificationHead


class PairClassificationHead(nn.Module):
    """Classifies the element-wise product of pooled text and pooled image (UNIMO's fusion for
    VQA and SNLI-VE), with RoBERTa's dense + activation + projection head."""

    def __init__(self, input_dim, inner_dim, num_outputs, activation_fn="tanh", dropout=0.1):
        super().__init__()
        self.head = ClassificationHead(input_dim, inner_dim, num_outputs, activation_fn, dropout)

    def forward(self, pooled_text: torch.Tensor, pooled_image: torch.Tensor) -> torch.Tensor:
        return self.head(pooled_text * pooled_image)
