"""``unimo_classification``: cross entropy over classes, or mean squared error for a regression
task (STS-B), on the task's head; accuracy is logged for classification. The fine-tuning loss of
``unimo_snli_ve`` and ``unimo_sentence_prediction`` (after fairseq's ``sentence_prediction``)."""
import math

import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion


@register_criterion("unimo_classification")
class UnimoClassificationCriterion(FairseqCriterion):
    def __init__(self, task):
        if getattr(task, "target_kind", None) not in ("class", "regression"):
            raise ValueError("--criterion unimo_classification needs a task with class or regression targets "
                             "(unimo_snli_ve, unimo_sentence_prediction); VQA trains with unimo_soft_bce")
        super().__init__(task)
        self.head_name = task.cfg.classification_head_name
        self.regression = task.target_kind == "regression"

    def forward(self, model, sample, reduce=True):
        logits = model(**sample["net_input"], classification_head_name=self.head_name)[0]
        targets = sample["target"]
        sample_size = targets.numel()
        log = {"ntokens": sample["ntokens"], "nsentences": sample_size, "sample_size": sample_size}
        if self.regression:
            loss = F.mse_loss(logits.squeeze(-1).float(), targets.float(), reduction="sum")
        else:
            loss = F.cross_entropy(logits.float(), targets, reduction="sum")
            log["ncorrect"] = (logits.argmax(-1) == targets).sum()
        log["loss"] = loss.detach()
        return loss, sample_size, log

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        def total(key):
            return sum(float(log.get(key, 0)) for log in logging_outputs)

        sample_size = total("sample_size")
        metrics.log_scalar("loss", total("loss") / max(sample_size, 1) / math.log(2), sample_size, round=3)
        if logging_outputs and "ncorrect" in logging_outputs[0]:
            metrics.log_scalar("accuracy", 100.0 * total("ncorrect") / max(total("nsentences"), 1),
                               total("nsentences"), round=2)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
