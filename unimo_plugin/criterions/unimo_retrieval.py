"""Retrieval fine-tuning loss over each group of cross-encoder scores (the positive first, then the
wrong images, then the wrong captions): the official release's circle loss (the mean of one against
the wrong images and one against the wrong captions, on the raw scores, margin 0.2, scale 1), or a
softmax cross-entropy over the group; accuracy = groups whose positive scores highest.

Optionally, a CMCL loss on single-modal passes of the batch's positive pairs (in-batch negatives)
keeps the fine-tuned model's bi-encoder similarity aligned, so that the same checkpoint serves the
first stage of two-stage retrieval.
"""
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import ChoiceEnum, FairseqDataclass

from ..data.cmcl_batch import CmclBatch
from ..models.cross_encoder import cross_encoder_scores
from .cmcl import anchor_group, cmcl_loss


def circle_loss(positive: torch.Tensor, negative: torch.Tensor, margin: float = 0.2, scale: float = 1.0):
    """Circle loss (Sun et al., 2020) per row: log(1 + sum_n exp(s * a_n (s_n - m)) * sum_p exp(-s * a_p (s_p - 1 + m)))
    with a_p = relu(1 + m - s_p), a_n = relu(s_n + m) held constant, as the release computes it.

    Args:
        positive: (B, P) scores of the positives.
        negative: (B, N) scores of the negatives.
    Returns:
        (B,) losses.
    """
    weight_p = (1 + margin - positive).clamp(min=0).detach()
    weight_n = (negative + margin).clamp(min=0).detach()
    logits_p = -scale * weight_p * (positive - (1 - margin))
    logits_n = scale * weight_n * (negative - margin)
    return F.softplus(torch.logsumexp(logits_n, dim=1) + torch.logsumexp(logits_p, dim=1))


def group_circle_loss(scores: torch.Tensor, num_wrong_images: int, margin: float, scale: float) -> torch.Tensor:
    """(B,) the mean of the circle losses of the positive (column 0) against the wrong images (the next
    ``num_wrong_images`` columns) and against the wrong captions (the rest), those a group has."""
    positive = scores[:, :1]
    parts = [scores[:, 1:1 + num_wrong_images], scores[:, 1 + num_wrong_images:]]
    losses = [circle_loss(positive, part, margin, scale) for part in parts if part.size(1)]
    return torch.stack(losses).mean(0)


@dataclass
class UnimoRetrievalCriterionConfig(FairseqDataclass):
    loss: ChoiceEnum(["circle", "softmax"]) = field(
        default="circle", metadata={"help": "circle: the release's circle losses (Sun et al., 2020) against the wrong "
                                            "images and the wrong captions, averaged; softmax: cross entropy of the "
                                            "positive over its group"})
    circle_margin: float = field(default=0.2, metadata={"help": "the circle loss's relaxation margin m"})
    circle_scale: float = field(default=1.0, metadata={"help": "the circle loss's scale factor"})
    sigmoid_scores: bool = field(
        default=False, metadata={"help": "squash the scores with a sigmoid before the circle loss (the release's "
                                         "code default; its Flickr30k script, whose recipe this follows, passes "
                                         "--use_sigmoid False)"})
    bi_encoder_weight: float = field(
        default=0.0, metadata={"help": "weight of an in-batch CMCL loss on the positive pairs' single-modal "
                                       "passes, for a bi-encoder usable in two-stage retrieval (0: the "
                                       "cross-encoder loss alone, as in the paper)"})


@register_criterion("unimo_retrieval", dataclass=UnimoRetrievalCriterionConfig)
class UnimoRetrievalCriterion(FairseqCriterion):
    def __init__(self, cfg: UnimoRetrievalCriterionConfig, task):
        super().__init__(task)
        self.cfg = cfg

    def forward(self, model, sample, reduce=True):
        net_input, group = sample["net_input"], sample["num_candidates"]
        bi_encoder = self.cfg.bi_encoder_weight > 0
        positives = CmclBatch.anchors_only(
            net_input["src_tokens"][::group], net_input["regions"][::group], net_input["boxes"][::group],
            net_input["region_padding_mask"][::group], sample["image_rows"]) if bi_encoder else None
        scores, extra = cross_encoder_scores(model, **net_input, cmcl_inputs=positives)
        scores = scores.view(-1, group)
        if self.cfg.loss == "circle":
            squashed = torch.sigmoid(scores.float()) if self.cfg.sigmoid_scores else scores.float()
            loss = group_circle_loss(squashed, sample["num_wrong_images"], self.cfg.circle_margin,
                                     self.cfg.circle_scale).sum()
        else:
            loss = F.cross_entropy(scores.float(), scores.new_zeros(len(scores), dtype=torch.long), reduction="sum")
        log = {"cross_loss": loss.detach(), "ntokens": sample["ntokens"], "nsentences": len(scores),
               "sample_size": len(scores), "ncorrect": (scores.argmax(dim=1) == 0).sum().item()}
        if bi_encoder:
            bi_loss, correct = self._bi_encoder_loss(extra, positives, model.training)
            loss = loss + self.cfg.bi_encoder_weight * bi_loss
            log.update(bi_encoder_loss=bi_loss.detach(), bi_encoder_correct=correct.item())
        log["loss"] = loss.detach()
        return loss, len(scores), log

    def _bi_encoder_loss(self, extra, positives, training):
        """Summed CMCL loss of the positives (every group's first pair), each modality encoded alone, at
        the model's CMCL temperature; in training the positives of every worker are in-batch negatives
        of each other."""
        return cmcl_loss(extra["cmcl_image"], extra["cmcl_text"], positives, extra["cmcl_temperature"],
                         group=anchor_group(training))[:2]

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        total = lambda key: sum(log.get(key, 0) for log in logging_outputs)  # noqa: E731
        sample_size, nsentences = total("sample_size"), total("nsentences")
        metrics.log_scalar("loss", total("loss") / sample_size / math.log(2), sample_size, round=3)
        metrics.log_scalar("cross_loss", total("cross_loss") / sample_size / math.log(2), sample_size, round=3)
        metrics.log_scalar("accuracy", 100.0 * total("ncorrect") / max(nsentences, 1), nsentences, round=1)
        if any("bi_encoder_loss" in log for log in logging_outputs):
            metrics.log_scalar("bi_encoder_loss", total("bi_encoder_loss") / sample_size / math.log(2), sample_size,
                               round=3)
            metrics.log_scalar("bi_encoder_accuracy", 100.0 * total("bi_encoder_correct") / max(nsentences, 1),
                               nsentences, round=1)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
