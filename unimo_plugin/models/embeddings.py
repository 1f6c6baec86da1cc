"""Input embeddings: text tokens (RoBERTa) and detector regions with the [IMG] summary."""
from typing import Optional, Tuple

import torch
from fairseq import utils
from fairseq.modules import FairseqDropout, LayerNorm
from torch import nn

from .perturbation import EmbeddingPerturbation

BOX_DIM = 5  # [x1/W, y1/H, x2/W, y2/H, area/(W*H)]


class TextEmbeddings(nn.Module):
    """Word + learned position embeddings, LayerNorm, dropout; no segment embedding.

    As in RoBERTa, the first real position id is ``padding_idx + 1`` and padding gets
    ``padding_idx``, so the table has ``max_positions + padding_idx + 1`` rows. Positions can be
    given explicitly (a decoder continuing after its source).
    """

    def __init__(self, vocab_size: int, embed_dim: int, padding_idx: int, max_positions: int, dropout: float):
        super().__init__()
        self.padding_idx = padding_idx
        self.embed_tokens = nn.Embedding(vocab_size, embed_dim, padding_idx)
        self.embed_positions = nn.Embedding(max_positions + padding_idx + 1, embed_dim, padding_idx)
        self.layernorm_embedding = LayerNorm(embed_dim)
        self.dropout_module = FairseqDropout(dropout, module_name=self.__class__.__name__)

    def forward(self, tokens: torch.Tensor, positions: Optional[torch.Tensor] = None,
                perturbation: Optional[EmbeddingPerturbation] = None) -> torch.Tensor:
        """``perturbation``: an adversarial delta added to word + position embeddings, before the
        LayerNorm (where the official release adds its FreeLB/VILLA text perturbation)."""
        if positions is None:
            positions = utils.make_positions(tokens, self.padding_idx)
        x = self.embed_tokens(tokens) + self.embed_positions(positions)
        if perturbation is not None:
            x = x + perturbation(tokens.ne(self.padding_idx), x.size(-1), x).to(x.dtype)
        return self.dropout_module(self.layernorm_embedding(x))


class RegionEmbeddings(nn.Module):
    """Linear(feature) + Linear(5-d box), LayerNorm, dropout; no position embedding.

    An ``[IMG]`` region is prepended: the mean of the image's real region features with
    the whole-image box [0, 0, 1, 1, 1]. It is not a vocabulary token.
    """

    def __init__(self, feature_dim: int, embed_dim: int, dropout: float):
        super().__init__()
        self.feature_dim = feature_dim
        self.feature_proj = nn.Linear(feature_dim, embed_dim)
        self.box_proj = nn.Linear(BOX_DIM, embed_dim)
        self.layer_norm = LayerNorm(embed_dim)
        self.dropout_module = FairseqDropout(dropout, module_name=self.__class__.__name__)

    @staticmethod
    def prepend_image_region(
        features: torch.Tensor, boxes: torch.Tensor, padding_mask: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, R, D), (B, R, 5), (B, R) -> the same with the [IMG] region first (R + 1)."""
        real = (~padding_mask).unsqueeze(-1).to(features.dtype)
        mean = (features * real).sum(1, keepdim=True) / real.sum(1, keepdim=True).clamp(min=1)
        whole = boxes.new_tensor([0.0, 0.0, 1.0, 1.0, 1.0]).expand(boxes.size(0), 1, BOX_DIM)
        return (
            torch.cat([mean, features], dim=1),
            torch.cat([whole, boxes], dim=1),
            torch.cat([padding_mask.new_zeros(padding_mask.size(0), 1), padding_mask], dim=1),
        )

    def forward(self, features, boxes, padding_mask,
                perturbation: Optional[EmbeddingPerturbation] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """``perturbation``: an adversarial delta added to the raw region features, [IMG]'s included
        (where the official release adds its FreeLB/VILLA image perturbation)."""
        if features.size(-1) != self.feature_dim:
            raise ValueError(
                f"region features have dimension {features.size(-1)}, the model expects "
                f"{self.feature_dim} (--region-feature-dim)"
            )
        if boxes.shape[:-1] != features.shape[:-1] or boxes.size(-1) != BOX_DIM:
            raise ValueError(f"boxes must be B x R x {BOX_DIM} to match features {tuple(features.shape)}, "
                             f"got {tuple(boxes.shape)}")
        dtype = self.feature_proj.weight.dtype
        features, boxes, padding_mask = self.prepend_image_region(features.to(dtype), boxes.to(dtype), padding_mask)
        if perturbation is not None:
            features = features + perturbation(~padding_mask, features.size(-1), features).to(dtype)
        x = self.feature_proj(features) + self.box_proj(boxes)
        return self.dropout_module(self.layer_norm(x)), padding_mask
