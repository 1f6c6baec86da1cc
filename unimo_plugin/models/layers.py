"""Post-LayerNorm transformer layer (BERT/RoBERTa) with attention through SDPA.

Parameter names follow fairseq's ``TransformerEncoderLayer`` (``self_attn.out_proj``,
``self_attn_layer_norm``, ``fc1``, ``fc2``, ``final_layer_norm``) so RoBERTa weights load by name;
the query, key and value projections are fused into one ``self_attn.qkv_proj`` (one matrix product
instead of three; RoBERTa's q/k/v weights are concatenated on loading). Tensors are batch-first: (B, L, H).

Generation attends to keys and values computed earlier (the source, earlier target tokens): a layer takes
an optional ``keys_values`` function that maps the keys and values of its own positions, each
(B, heads, L, H / heads), to all those its queries attend to (see ``incremental_decoding.py``).
"""
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from fairseq import utils
from fairseq.modules import FairseqDropout, LayerNorm
from torch import nn

KeysValues = Callable[[torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]


class SelfAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, dropout: float):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed dim {embed_dim} is not divisible by {num_heads} attention heads")
        self.num_heads = num_heads
        self.dropout = dropout
        self.qkv_proj = nn.Linear(embed_dim, 3 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor],
                keys_values: Optional[KeysValues] = None) -> torch.Tensor:
        bsz, length, _ = x.shape
        # (B, L, 3H) -> 3 x (B, heads, L, H / heads)
        q, k, v = self.qkv_proj(x).view(bsz, length, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        if keys_values is not None:
            k, v = keys_values(k, v)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).flatten(2))

    def keys_values(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Only the keys and values of ``x``, for positions whose outputs nothing reads."""
        bsz, length, dim = x.shape
        kv = F.linear(x, self.qkv_proj.weight[dim:], self.qkv_proj.bias[dim:])
        k, v = kv.view(bsz, length, 2, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        return k, v


class TransformerLayer(nn.Module):
    """x = LN(x + drop(attn(x))); x = LN(x + drop(fc2(drop_act(act(fc1(x))))))."""

    def __init__(self, embed_dim, ffn_dim, num_heads, dropout, attention_dropout,
                 activation_dropout, activation_fn):
        super().__init__()
        self.self_attn = SelfAttention(embed_dim, num_heads, attention_dropout)
        self.self_attn_layer_norm = LayerNorm(embed_dim)
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, embed_dim)
        self.final_layer_norm = LayerNorm(embed_dim)
        self.activation_fn = utils.get_activation_fn(activation_fn)
        self.dropout_module = FairseqDropout(dropout, module_name=self.__class__.__name__)
        self.activation_dropout_module = FairseqDropout(activation_dropout, module_name=self.__class__.__name__)

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor],
                keys_values: Optional[KeysValues] = None) -> torch.Tensor:
        x = self.self_attn_layer_norm(x + self.dropout_module(self.self_attn(x, attn_mask, keys_values)))
        hidden = self.activation_dropout_module(self.activation_fn(self.fc1(x)))
        return self.final_layer_norm(x + self.dropout_module(self.fc2(hidden)))
