"""The one place where attention masks are built.

Masks are boolean with True meaning "may attend", shaped to broadcast against SDPA's
(batch, heads, query, key) scores.
"""
from typing import Optional

import torch


def bidirectional_mask(padding_mask: torch.Tensor) -> Optional[torch.Tensor]:
    """Every position sees every real (non-padded) position: (B, 1, 1, L), or None without padding."""
    if not padding_mask.any():
        return None
    return ~padding_mask[:, None, None, :]


def seq2seq_mask(padding_mask: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """UniLM sequence-to-sequence mask: (B, 1, L, L).

    Source positions (``target_mask`` False) see only real source positions; target positions
    see every real source position and the target positions up to and including themselves.
    The source/target boundary is therefore per sample and independent of where padding sits.
    Padded queries also see themselves so that no row is empty (an empty row makes SDPA NaN);
    real positions never attend to padding.
    """
    length = padding_mask.size(1)
    idx = torch.arange(length, device=padding_mask.device)
    causal = idx[None, :] <= idx[:, None]  # (query, key)
    query_is_target = target_mask[:, :, None]
    key_is_target = target_mask[:, None, :]
    allowed = (~key_is_target | (query_is_target & causal)) & ~padding_mask[:, None, :]
    allowed = allowed | torch.eye(length, dtype=torch.bool, device=padding_mask.device)
    return allowed[:, None, :, :]


def attention_mask(
    padding_mask: torch.Tensor, target_mask: Optional[torch.Tensor] = None
) -> Optional[torch.Tensor]:
    """Bidirectional without a target, UniLM seq2seq with one (``target_mask`` B x L, True = target)."""
    if target_mask is None or not target_mask.any():
        return bidirectional_mask(padding_mask)
    return seq2seq_mask(padding_mask, target_mask)


def decoder_mask(
    source_padding_mask: torch.Tensor, num_cached: int, target_padding_mask: torch.Tensor
) -> Optional[torch.Tensor]:
    """The target rows of the seq2seq mask, for queries at new target positions: (B, 1, T, S + C + T).

    Keys are the source (S, ``source_padding_mask`` B x S), C cached earlier target positions (all
    real) and the T new target positions (``target_padding_mask`` B x T), which are causal.
    None when nothing is masked (one new position and no source padding).
    """
    length = target_padding_mask.size(1)
    if length == 1 and not source_padding_mask.any():
        return None
    bsz, device = source_padding_mask.size(0), source_padding_mask.device
    idx = torch.arange(length, device=device)
    new = (idx[None, :] <= idx[:, None])[None] & ~target_padding_mask[:, None, :]
    new = new | torch.eye(length, dtype=torch.bool, device=device)  # padded queries see themselves
    source = (~source_padding_mask)[:, None, :].expand(bsz, length, -1)
    cached = new.new_ones(bsz, length, num_cached)
    return torch.cat([source, cached, new.expand(bsz, -1, -1)], dim=2)[:, None]
