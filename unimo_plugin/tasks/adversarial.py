"""Adversarial fine-tuning (FreeLB, VILLA) as the official UNIMO release trains its captioning and
SNLI-VE models, for every fine-tuning task: one training step of ``--adv-steps`` K rounds, each

    loss_k = (L(clean) + sum_m L(delta_m)) / K + --adv-kl-weight * sum_m symKL(clean, delta_m)

over the perturbations m the mode names (``freelb_text``: the text embeddings; ``freelb_image``: the
region features; ``villa``: each of the two in its own pass), after which every delta_m takes one
L2-normalised gradient ascent step on L(delta_m) (``--adv-lr``), projected back onto the
``--adv-max-norm`` ball when positive. The deltas start uniform, of L2 norm up to ``--adv-init-mag``.
As in the release, the clean pass is run every round (fresh dropout), the KL term is not divided by
K, and the parameters' gradients never flow through the ascent.

Losses here are the criterion's sums (fairseq divides the gradient by the sample size), so the KL is
summed over the same items: the target tokens of a generation task, the rows of a classification
head, the candidate groups of retrieval. One backward per round keeps one round's graph in memory;
the gradients of all rounds accumulate, synchronised across workers in the last round only (DDP's
``no_sync`` before it), so ``--update-freq``, mixed precision and distributed training work unchanged.

Differences from the release, by choice: its projection compares the *gradient's* norm to the bound
(so deltas can leave the ball); here the delta's own norm is bounded, as FreeLB defines it.
"""
import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.dataclass import ChoiceEnum
from fairseq.optim.amp_optimizer import AMPOptimizer

from ..models.perturbation import EmbeddingPerturbation
from .base_task import UnimoTask, UnimoTaskConfig

ADVERSARIAL_MODES = {"none": (), "freelb_text": ("text",), "freelb_image": ("regions",),
                     "villa": ("text", "regions")}


@dataclass
class AdversarialConfig(UnimoTaskConfig):
    adv_mode: ChoiceEnum(list(ADVERSARIAL_MODES)) = field(
        default="none", metadata={"help": "adversarial training: freelb_text perturbs the text embeddings, "
                                          "freelb_image the region features, villa each in its own pass (the "
                                          "release's captioning and SNLI-VE recipes); none: plain training"})
    adv_steps: int = field(default=4, metadata={"help": "ascent rounds per training step (the release's adv_step); "
                                                        "0: plain training"})
    adv_lr: float = field(default=0.05, metadata={"help": "the L2 length of each ascent step of a perturbation"})
    adv_init_mag: float = field(default=0.4, metadata={"help": "L2 bound of the perturbations' uniform random start "
                                                               "(0: start from zero)"})
    adv_max_norm: float = field(default=0.4, metadata={"help": "L2 bound the perturbations are projected back "
                                                               "into after each step (0: unbounded)"})
    adv_kl_weight: float = field(default=1.0, metadata={"help": "weight of the symmetric KL divergence between the "
                                                                "clean and the perturbed predictions"})


class _Recorded:
    """The model as a criterion sees it, with ``perturbations`` added to its forward calls and its
    last output kept (the predictions the KL term compares)."""

    def __init__(self, model, perturbations: Dict[str, EmbeddingPerturbation]):
        self._model, self._perturbations = model, perturbations
        self.output = None

    def __call__(self, *args, **kwargs):
        self.output = self._model(*args, **kwargs, perturbations=self._perturbations or None)
        return self.output

    def __getattr__(self, name):
        return getattr(self._model, name)


def prediction_rows(output, sample: Dict[str, Any], padding_idx: int) -> torch.Tensor:
    """(N, C) logits of the items a criterion predicts: target tokens (B, T, V) where the target is
    not padding, candidate groups (retrieval's scores, ``num_candidates`` a group), or head rows."""
    logits = output[0] if isinstance(output, tuple) else output
    if logits.dim() == 3:
        return logits[sample["target"].ne(padding_idx)]
    if "num_candidates" in sample:
        return logits.reshape(-1, sample["num_candidates"])
    return logits


def symmetric_kl(clean: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
    """Summed over rows: KL(p||q) + KL(q||p) of the rows' softmax distributions (SMART's, the release's);
    a single output (regression) has no distribution and counts the squared difference instead."""
    clean, perturbed = clean.float(), perturbed.float()
    if clean.size(-1) == 1:
        return (clean - perturbed).pow(2).sum()
    log_p, log_q = F.log_softmax(clean, dim=-1), F.log_softmax(perturbed, dim=-1)
    return ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum()


def _loss_scale(optimizer) -> float:
    """The optimizer's current loss scale (fp16 and AMP), so that the perturbations' gradients do not
    underflow in half precision; their direction alone is used."""
    if isinstance(optimizer, AMPOptimizer):
        return float(optimizer._grad_scaler.get_scale())
    scaler = getattr(optimizer, "scaler", None)
    return float(scaler.loss_scale) if scaler is not None else 1.0


class AdversarialTask(UnimoTask):
    """A fine-tuning task whose training step is adversarial with ``--adv-mode``."""

    cfg: AdversarialConfig

    def adversarial_text_mask(self, sample: Dict[str, Any]) -> Optional[torch.Tensor]:
        """(B, T) where the text perturbation applies, T the text the model sees; None: every real token."""
        return None

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        kinds = ADVERSARIAL_MODES[self.cfg.adv_mode]
        if not kinds or self.cfg.adv_steps == 0:
            return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)
        if "regions" in kinds and sample["net_input"].get("regions") is None:
            raise ValueError(f"--adv-mode {self.cfg.adv_mode} perturbs region features, and this task's batches have "
                             f"none: use --adv-mode freelb_text")
        model.train()
        model.set_num_updates(update_num)
        steps = self.cfg.adv_steps
        perturbations = {kind: EmbeddingPerturbation(
            self.cfg.adv_init_mag, self.adversarial_text_mask(sample) if kind == "text" else None) for kind in kinds}
        adversarial_loss = kl_total = 0.0
        for step in range(steps):
            last = step == steps - 1
            with (contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()):
                with torch.autocast("cuda", enabled=isinstance(optimizer, AMPOptimizer)):
                    clean = _Recorded(model, {})
                    loss, sample_size, logging_output = criterion(clean, sample)
                    total = loss / steps
                    for kind, perturbation in perturbations.items():
                        perturbed = _Recorded(model, {kind: perturbation})
                        perturbed_loss = criterion(perturbed, sample)[0]
                        kl = symmetric_kl(prediction_rows(clean.output, sample, self.dictionary.pad()),
                                          prediction_rows(perturbed.output, sample, self.dictionary.pad()))
                        total = total + perturbed_loss / steps + self.cfg.adv_kl_weight * kl
                        grad, = torch.autograd.grad(perturbed_loss * _loss_scale(optimizer), perturbation.delta,
                                                    retain_graph=True)
                        perturbation.ascend(grad, self.cfg.adv_lr, self.cfg.adv_max_norm)
                        adversarial_loss += perturbed_loss.detach().float()
                        kl_total += kl.detach()
                if ignore_grad:
                    total = total * 0
                optimizer.backward(total)
            if step == 0:
                first_loss, first_size, first_log = loss.detach(), sample_size, logging_output
        rounds = steps * len(kinds)
        first_log.update(adv_loss=adversarial_loss / rounds, adv_kl=kl_total / rounds)
        return first_loss, first_size, first_log

    def reduce_metrics(self, logging_outputs: List[Dict[str, Any]], criterion):
        """Besides the criterion's (of the clean pass of the first round): ``adv_loss``, the perturbed
        passes' loss in the criterion's units (base 2 per sample-size unit), and ``adv_kl`` (nats)."""
        super().reduce_metrics(logging_outputs, criterion)
        if not any("adv_loss" in log for log in logging_outputs):
            return
        sample_size = max(sum(log.get("sample_size", 0) for log in logging_outputs), 1)
        total = lambda key: float(sum(log.get(key, 0) for log in logging_outputs))  # noqa: E731
        metrics.log_scalar("adv_loss", total("adv_loss") / sample_size / math.log(2),
                           sample_size, round=3)
        metrics.log_scalar("adv_kl", total("adv_kl") / sample_size, sample_size, round=4)
