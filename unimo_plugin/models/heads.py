"""Output heads besides the LM head (which is fairseq's RobertaLMHead, tied to the word embedding)."""
import torch
from fairseq import utils
from fairseq.modules import LayerNorm
from torch import nn


class Pooler(nn.Module):
    """FC + activation on one position: ``<s>`` for text, ``[IMG]`` for images (ReLU in UNIMO)."""

    def __init__(self, embed_dim: int, activation_fn: str):
        super().__init__()
        self.dense = nn.Linear(embed_dim, embed_dim)
        self.activation_fn = utils.get_activation_fn(activation_fn)

    def forward(self, first_token_states: torch.Tensor) -> torch.Tensor:
        return self.activation_fn(self.dense(first_token_states))


class RegionHead(nn.Module):
    """FC + GELU + LayerNorm + projection, per region: feature regression or class logits."""

    def __init__(self, embed_dim: int, output_dim: int):
        super().__init__()
        self.dense = nn.Linear(embed_dim, embed_dim)
        self.layer_norm = LayerNorm(embed_dim)
        self.out_proj = nn.Linear(embed_dim, output_dim)

    def forward(self, region_states: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(torch.nn.functional.gelu(self.dense(region_states)))
        return self.out_proj(x)


class ClassificationHead(nn.Module):
    """RoBERTa's sentence head for fine-tuning tasks: dense + activation + dropout + projection.

    The task decides what it reads (pooled ``<s>``, pooled ``[IMG]``, or a fusion of both).
    """

    def __init__(self, input_dim: int, inner_dim: int, num_outputs: int, activation_fn: str = "tanh",
                 dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(input_dim, inner_dim)
        self.activation_fn = utils.get_activation_fn(activation_fn)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(inner_dim, num_outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(self.activation_fn(self.dense(self.dropout(features)))))
