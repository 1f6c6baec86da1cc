"""Output heads besides the LM head (which is fairseq's RobertaLMHead, tied to the word embedding),
and CMCL's temperature.

A fine-tuning head registered in ``model.classification_heads`` takes the pooled ``<s>`` (text
tasks: :class:`ClassificationHead`), or the pooled ``<s>`` and the pooled ``[IMG]`` of the same
bidirectional pass over ``[IMG] r1..rn <s> w.. </s>`` (image-text tasks: :class:`PairClassificationHead`);
``model(**net_input, classification_head_name=NAME)`` runs it.
"""
import math

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


class PairClassificationHead(nn.Module):
    """Classifies the element-wise product of pooled text and pooled image with RoBERTa's dense +
    activation + projection head: this project's VQA head (the release has no VQA code) and the
    ``--head roberta`` alternative of the release's image-text heads."""

    def __init__(self, input_dim: int, inner_dim: int, num_outputs: int, activation_fn: str = "tanh",
                 dropout: float = 0.1):
        super().__init__()
        self.head = ClassificationHead(input_dim, inner_dim, num_outputs, activation_fn, dropout)

    def forward(self, pooled_text: torch.Tensor, pooled_image: torch.Tensor) -> torch.Tensor:
        return self.head(pooled_text * pooled_image)


class PooledLinearHead(nn.Module):
    """Dropout and one projection of the pooled ``<s>`` (itself FC + ReLU, the model's text pooler):
    the official release's GLUE head (``cls_out_{N}_w/b``)."""

    def __init__(self, input_dim: int, num_outputs: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(input_dim, num_outputs)

    def forward(self, pooled_text: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(pooled_text))


class SumFusionHead(nn.Module):
    """Pooled text + pooled image, a projection without activation, dropout, and the output projection:
    the official release's SNLI-VE head (``cls_out_w_0/b_0``, then ``cls_out_w_1/b_1``)."""

    def __init__(self, input_dim: int, inner_dim: int, num_outputs: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(input_dim, inner_dim)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(inner_dim, num_outputs)

    def forward(self, pooled_text: torch.Tensor, pooled_image: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(self.dense(pooled_text + pooled_image)))


class ProductScoreHead(nn.Module):
    """One score from dropout(pooled text x pooled image): the official release's retrieval head
    (``match_fc``)."""

    def __init__(self, input_dim: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(input_dim, 1)

    def forward(self, pooled_text: torch.Tensor, pooled_image: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(pooled_text * pooled_image))


class Temperature(nn.Module):
    """CMCL's temperature tau, learned in log space like CLIP's logit scale, or fixed.

    The model owns it (not the criterion) so that fairseq's DDP wrappers synchronise its gradient
    with every other parameter's. :meth:`clamp_` keeps the parameter inside [min, max] after each
    update, as CLIP does; the forward value is clamped too, with the gradient passed straight
    through, because fairseq's fp16 optimizer keeps an fp32 master copy the in-place clamp cannot
    reach. A clamped output alone would zero the gradient outside the bounds and leave tau stuck.
    """

    def __init__(self, init: float, learned: bool, min_value: float, max_value: float):
        super().__init__()
        if not 0 < min_value <= init <= max_value:
            raise ValueError(f"CMCL temperature {init} must lie in [{min_value}, {max_value}] (both > 0)")
        self.log_min, self.log_max = math.log(min_value), math.log(max_value)
        log_init = torch.tensor(math.log(init))
        if learned:
            self.log_temperature = nn.Parameter(log_init)
        else:
            self.register_buffer("log_temperature", log_init, persistent=False)  # the option, not a checkpoint, sets it

    def forward(self) -> torch.Tensor:
        log_tau = self.log_temperature.float()
        clamped = log_tau.clamp(self.log_min, self.log_max)
        return (log_tau + (clamped - log_tau).detach()).exp()

    @property
    def learned(self) -> bool:
        return isinstance(self.log_temperature, nn.Parameter)

    @torch.no_grad()
    def clamp_(self):
        self.log_temperature.clamp_(self.log_min, self.log_max)
