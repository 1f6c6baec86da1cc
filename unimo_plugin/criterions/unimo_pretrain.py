"""The UNIMO pretraining criterion: weighted sum of masked LM, seq2seq LM, masked region
modelling (feature regression + class KL) and CMCL, each logged on its own.

Every objective is averaged over its own items in the batch (tokens, regions, anchors), and
the batch's sample size is 1, so fairseq averages the per-batch objectives over workers and
``--update-freq`` steps. Everything a step needs comes from one ``model(...)`` call (see
``UnimoModel.forward``), so fairseq's DDP wrappers synchronise every gradient.

Every batch logs the same keys (zeros for what it lacks): fairseq then sums logging outputs across
workers with one all-reduce, which needs the same keys on every worker, and τ is logged as a sum
over CMCL batches with their count. ``cmcl_chance`` beside ``cmcl_loss`` is the loss of equal scores,
which tells whether CMCL has started learning (it varies with the batch and the hard negatives);
``cmcl_hard_*`` is each pair scored against its own hard negatives alone (``--cmcl-hard-weight``), logged
whatever its weight: its accuracy says whether the model tells a pair from its rewrites.
"""
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass

from ..data.cmcl_batch import CmclBatch
from .cmcl import anchor_group, cmcl_loss, hard_negative_loss
from .masked_region import region_class_loss, region_feature_loss

OBJECTIVES = ("mlm", "seq2seq", "mrm_feat", "mrm_cls", "cmcl", "cmcl_hard")
MODALITIES = ("text", "image", "pair")
ACCURACIES = ("mlm", "seq2seq", "cmcl", "cmcl_hard")
WITH_CHANCE = ("cmcl", "cmcl_hard")


@dataclass
class UnimoPretrainCriterionConfig(FairseqDataclass):
    mlm_weight: float = field(default=1.0, metadata={"help": "weight of the masked LM loss"})
    seq2seq_weight: float = field(default=1.0, metadata={"help": "weight of the seq2seq LM loss"})
    region_feature_weight: float = field(
        default=1.0, metadata={"help": "weight of the masked-region feature regression (L2) loss"})
    region_class_weight: float = field(
        default=1.0, metadata={"help": "weight of the masked-region class KL loss (stores with class probabilities)"})
    cmcl_weight: float = field(
        default=10.0,
        metadata={"help": "weight of the cross-modal contrastive loss; at 1 the other objectives' gradients make the "
                          "pooled <s> and [IMG] the same for every input early on, which leaves CMCL at chance"})
    cmcl_hard_weight: float = field(
        default=0.0,
        metadata={"help": "weight of a second CMCL term that scores each pair against its own hard negatives alone "
                          "(rewrites, retrieved sentences), not among the batch's in-batch negatives"})
    cmcl_hard_start_update: int = field(
        default=0,
        metadata={"help": "update from which --cmcl-hard-weight applies (the term is logged from the start): "
                          "before in-batch CMCL tells images apart the term sits at chance"})


def _empty_log(sample, device):
    """The fixed logging schema, counts of the batch's modality filled in. Sums are tensors on the
    device and counts ints in every batch: fairseq's all-reduce packs the two kinds apart."""
    zero = torch.zeros((), device=device)
    log = {"loss": zero, "nsentences": sample["nsentences"], "ntokens": sample.get("ntokens", 0), "sample_size": 1,
           "cmcl_tau_sum": zero, "cmcl_batches": 0}
    log.update({f"{name}_chance": zero for name in WITH_CHANCE})
    for name in OBJECTIVES:
        log.update({f"{name}_loss": zero, f"{name}_count": 0})
    log.update({f"{name}_correct": zero for name in ACCURACIES})
    log.update({f"{modality}_samples": 0 for modality in MODALITIES})
    log[f"{sample['modality']}_samples"] = sample["nsentences"]
    return log


@register_criterion("unimo_pretrain", dataclass=UnimoPretrainCriterionConfig)
class UnimoPretrainCriterion(FairseqCriterion):
    def __init__(self, cfg: UnimoPretrainCriterionConfig, task):
        super().__init__(task)
        self.cfg = cfg
        self.padding_idx = task.source_dictionary.pad()

    def forward(self, model, sample, reduce=True):
        lm_targets = sample.get("lm_targets")
        lm_predicted = None if lm_targets is None else lm_targets.ne(self.padding_idx)
        cls_targets = sample.get("region_cls_targets")
        cmcl = None if sample.get("cmcl") is None else CmclBatch.of(sample["cmcl"])
        logits, extra = model(**sample["net_input"], masked_tokens=lm_predicted,
                              masked_regions=sample.get("region_masked"),
                              predict_region_classes=cls_targets is not None, cmcl_inputs=cmcl)
        output = logits if logits is not None else extra["image_states"]
        parts, log = {}, _empty_log(sample, output.device)
        if lm_predicted is not None:
            self._language_losses(logits, lm_targets[lm_predicted], sample["is_seq2seq"], lm_predicted, parts, log)
        if "region_features" in extra:
            self._region_losses(extra, sample, parts, log)
        if "cmcl_image" in extra:
            self._cmcl_loss(extra, cmcl, model.training, parts, log)
            weighted = self.cfg.cmcl_hard_weight > 0 and model.num_updates >= self.cfg.cmcl_hard_start_update
            self._hard_negative_loss(extra, cmcl, parts, log, weighted)
        weights = {"mlm": self.cfg.mlm_weight, "seq2seq": self.cfg.seq2seq_weight,
                   "mrm_feat": self.cfg.region_feature_weight, "mrm_cls": self.cfg.region_class_weight,
                   "cmcl": self.cfg.cmcl_weight, "cmcl_hard": self.cfg.cmcl_hard_weight}
        if parts:
            loss = sum(weights[name] * value for name, value in parts.items())
        else:  # nothing to predict: a zero that still holds the graph, so every worker runs a backward
            loss = output.sum() * 0.0
        log["loss"] = loss.detach()
        return loss, 1, log

    @staticmethod
    def _language_losses(logits, gold, is_seq2seq, predicted, parts, log):
        nll = F.cross_entropy(logits.float(), gold, reduction="none")
        correct = logits.argmax(-1).eq(gold)
        is_seq2seq = is_seq2seq[:, None].expand_as(predicted)[predicted]
        for name, select in (("mlm", ~is_seq2seq), ("seq2seq", is_seq2seq)):
            count = int(select.sum())
            if count:
                parts[name] = nll[select].sum() / count
                log.update({f"{name}_loss": nll[select].sum().detach(), f"{name}_correct": correct[select].sum(),
                            f"{name}_count": count})

    @staticmethod
    def _region_losses(extra, sample, parts, log):
        masked = sample["region_masked"]
        count = int(masked.sum())
        if not count:
            return
        feat = region_feature_loss(extra["region_features"], sample["region_targets"][masked])
        parts["mrm_feat"] = feat / count
        log.update({"mrm_feat_loss": feat.detach(), "mrm_feat_count": count})
        if "region_class_logits" in extra:
            cls = region_class_loss(extra["region_class_logits"], sample["region_cls_targets"][masked])
            parts["mrm_cls"] = cls / count
            log.update({"mrm_cls_loss": cls.detach(), "mrm_cls_count": count})

    @staticmethod
    def _cmcl_loss(extra, batch, training, parts, log):
        num_anchors, tau = batch.num_anchors, extra["cmcl_temperature"]
        total, correct, chance = cmcl_loss(extra["cmcl_image"], extra["cmcl_text"], batch, tau,
                                           group=anchor_group(training))
        parts["cmcl"] = total / num_anchors
        log.update({"cmcl_loss": total.detach(), "cmcl_correct": correct, "cmcl_chance": chance,
                    "cmcl_count": num_anchors,
                    "cmcl_tau_sum": tau.detach(), "cmcl_batches": 1})

    @staticmethod
    def _hard_negative_loss(extra, batch, parts, log, weighted):
        total, correct, count, chance = hard_negative_loss(extra["cmcl_image"], extra["cmcl_text"], batch,
                                                           extra["cmcl_temperature"])
        if not count:
            return
        if weighted:
            parts["cmcl_hard"] = total / count
        log.update({"cmcl_hard_loss": total.detach(), "cmcl_hard_correct": correct, "cmcl_hard_chance": chance,
                    "cmcl_hard_count": count})

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        def total(key):
            return sum(float(log.get(key, 0)) for log in logging_outputs)

        batches = total("sample_size")
        metrics.log_scalar("loss", total("loss") / max(batches, 1) / math.log(2), batches, round=3)
        for name in OBJECTIVES:
            count = total(f"{name}_count")
            if count:
                metrics.log_scalar(f"{name}_loss", total(f"{name}_loss") / count, count, round=4)
                if name in ACCURACIES:
                    metrics.log_scalar(f"{name}_acc", 100 * total(f"{name}_correct") / count, count, round=2)
                if name in WITH_CHANCE:
                    metrics.log_scalar(f"{name}_chance", total(f"{name}_chance") / count, count, round=4)
                metrics.log_scalar(f"{name}_count", count, round=0)
        cmcl_batches = total("cmcl_batches")
        if cmcl_batches:
            metrics.log_scalar("cmcl_tau", total("cmcl_tau_sum") / cmcl_batches, cmcl_batches, round=4)
        for modality in MODALITIES:
            samples = total(f"{modality}_samples")
            if samples:
                metrics.log_scalar(f"{modality}_samples", samples, round=0)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
