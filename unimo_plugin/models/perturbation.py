"""An adversarial perturbation of one input's embeddings, as FreeLB (Zhu et al., 2020) and VILLA
(Gan et al., 2020) train with it and the official UNIMO release fine-tunes: a delta the model adds to
the word + position embeddings of the text (before their LayerNorm) or to the raw region features
(before their projection), moved by projected gradient ascent on the loss.

The model gives the delta its shape the first time it embeds the input (the text the model sees
depends on the task: a seq2seq target is appended to its source), so the training step needs to know
nothing of the layout.
"""
from typing import Optional

import torch


class EmbeddingPerturbation:
    def __init__(self, init_magnitude: float, mask: Optional[torch.Tensor] = None):
        """``init_magnitude``: the L2 norm bound of the random start (0: start from zero). ``mask``
        (B, L), True where to perturb (default: every real token or region the model embeds)."""
        self.init_magnitude = init_magnitude
        self.mask = mask
        self.delta: Optional[torch.Tensor] = None
        self._where: Optional[torch.Tensor] = None

    def __call__(self, real: torch.Tensor, width: int, like: torch.Tensor) -> torch.Tensor:
        """The delta (B, L, ``width``) for an input whose real positions are ``real`` (B, L); created
        on first use: uniform in [-1, 1] at the perturbed positions, scaled by
        init_magnitude / sqrt(positions x width), so its L2 norm is at most init_magnitude."""
        if self.delta is None:
            where = real if self.mask is None else self.mask.to(real.device)
            if where.shape != real.shape:
                raise ValueError(f"the perturbation mask has shape {tuple(where.shape)}, the input {tuple(real.shape)}")
            where = where.unsqueeze(-1).float()
            size = where.sum(1, keepdim=True) * width
            noise = torch.rand(*real.shape, width, device=like.device) * 2 - 1
            self._where = where
            self.delta = (noise * where * self.init_magnitude / size.clamp(min=1).sqrt()).requires_grad_()
        elif self.delta.shape[:2] != real.shape or self.delta.size(-1) != width:
            raise ValueError(f"the perturbation has shape {tuple(self.delta.shape)}, the input "
                             f"{tuple(real.shape) + (width,)}: one perturbation serves one batch")
        return self.delta

    def ascend(self, grad: torch.Tensor, step_size: float, max_norm: float) -> None:
        """One projected gradient ascent step: ``delta + step_size * grad / ||grad||`` per item (the
        release's L2 step), then, with ``max_norm > 0``, each item's delta scaled back onto the
        ``max_norm`` ball if it left it. The new delta is a fresh leaf: the parameters' gradients never
        flow through the ascent (the release stops them too)."""
        grad = grad.detach().float() * self._where
        norm = grad.flatten(1).norm(dim=1).clamp(min=1e-8).view(-1, 1, 1)
        delta = self.delta.detach() + step_size * grad / norm
        if max_norm > 0:
            size = delta.flatten(1).norm(dim=1).view(-1, 1, 1)
            delta = delta * torch.where(size > max_norm, max_norm / size.clamp(min=1e-12), torch.ones_like(size))
        self.delta = delta.requires_grad_()
