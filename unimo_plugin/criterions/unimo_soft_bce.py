"""``unimo_soft_bce``: binary cross entropy of every answer's logit against its soft score
min(#annotators / 3, 1), summed over answers (the usual VQA fine-tuning loss). Logs the soft
VQA score of the top answer, the training-time estimate of VQA accuracy."""
import math

import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion


@register_criterion("unimo_soft_bce")
class UnimoSoftBceCriterion(FairseqCriterion):
    def __init__(self, task):
        if getattr(task, "target_kind", None) != "soft":
            raise ValueError("--criterion unimo_soft_bce needs soft targets (--task unimo_vqa)")
        super().__init__(task)
        self.head_name = task.cfg.classification_head_name

    def forward(self, model, sample, reduce=True):
        logits = model(**sample["net_input"], classification_head_name=self.head_name)[0].float()
        targets = sample["target"]
        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
        score = targets.gather(1, logits.argmax(-1, keepdim=True)).sum()
        sample_size = targets.size(0)
        log = {"loss": loss.detach(), "vqa_score": score.detach(), "ntokens": sample["ntokens"],
               "nsentences": sample_size, "sample_size": sample_size}
        return loss, sample_size, log

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        def total(key):
            return sum(float(log.get(key, 0)) for log in logging_outputs)

        sample_size = total("sample_size")
        metrics.log_scalar("loss", total("loss") / max(sample_size, 1) / math.log(2), sample_size, round=3)
        metrics.log_scalar("vqa_score", 100.0 * total("vqa_score") / max(sample_size, 1), sample_size, round=2)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
