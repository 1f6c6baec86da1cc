"""The UNIMO pretraining criterion: weighted sum of masked LM, seq2seq LM, masked region
modelling (feature regression + class KL) and CMCL, each logged on its own.

Every objective is averaged over its own items in the batch (tokens, regions, anchors), and
the batch's sample size is 1, so fairseq averages the per-batch objectives over workers and
``--update-freq`` steps.
"""
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass
from fairseq.distributed import utils as distributed_utils
from torch import nn

from .cmcl import cmcl_loss
from .masked_region import region_class_loss, region_feature_loss

OBJECTIVES = ("mlm", "seq2seq", "mrm_feat", "mrm_cls", "cmcl")


@dataclass
class UnimoPretrainCriterionConfig(FairseqDataclass):
    mlm_weight: float = field(default=1.0, metadata={"help": "weight of the masked LM loss"})
    seq2seq_weight: float = field(default=1.0, metadata={"help": "weight of the seq2seq LM loss"})
    region_feature_weight: float = field(
        default=1.0, metadata={"help": "weight of the masked-region feature regression (L2) loss"})
    region_class_weight: float = field(
        default=1.0, metadata={"help": "weight of the masked-region class KL loss (stores with class probabilities)"})
    cmcl_weight: float = field(default=1.0, metadata={"help": "weight of the cross-modal contrastive loss"})
    cmcl_temperature: float = field(default=0.07, metadata={"help": "initial (or fixed) CMCL temperature tau"})
    cmcl_fixed_temperature: bool = field(default=False, metadata={"help": "keep tau fixed instead of learning it"})
    cmcl_min_temperature: float = field(default=0.001, metadata={"help": "lower clip of the learned tau"})
    cmcl_max_temperature: float = field(default=0.5, metadata={"help": "upper clip of the learned tau"})


@register_criterion("unimo_pretrain", dataclass=UnimoPretrainCriterionConfig)
class UnimoPretrainCriterion(FairseqCriterion):
    def __init__(self, cfg: UnimoPretrainCriterionConfig, task):
        super().__init__(task)
        self.cfg = cfg
        self.padding_idx = task.source_dictionary.pad()
        log_tau = torch.tensor(math.log(cfg.cmcl_temperature))
        if cfg.cmcl_fixed_temperature:
            self.register_buffer("log_temperature", log_tau)
        else:
            self.log_temperature = nn.Parameter(log_tau)

    @property
    def temperature(self):
        return self.log_temperature.exp().clamp(self.cfg.cmcl_min_temperature, self.cfg.cmcl_max_temperature)

    def forward(self, model, sample, reduce=True):
        text, image, _ = model.extract_features(**sample["net_input"])
        parts, log = {}, {"nsentences": sample["nsentences"], "ntokens": sample.get("ntokens", 0),
                          "sample_size": 1, f"{sample['modality']}_samples": sample["nsentences"]}
        if text is not None:
            self._language_losses(model, text, sample, parts, log)
        if image is not None and "region_masked" in sample:
            self._region_losses(model, image, sample, parts, log)
        if "cmcl" in sample:
            self._cmcl_loss(model, sample["cmcl"], parts, log)
        weights = {"mlm": self.cfg.mlm_weight, "seq2seq": self.cfg.seq2seq_weight,
                   "mrm_feat": self.cfg.region_feature_weight, "mrm_cls": self.cfg.region_class_weight,
                   "cmcl": self.cfg.cmcl_weight}
        loss = sum(weights[name] * value for name, value in parts.items())
        if not torch.is_tensor(loss):  # nothing to predict in this batch
            loss = sum(p.sum() * 0.0 for p in model.parameters())
        log["loss"] = loss.detach()
        return loss, 1, log

    def _language_losses(self, model, text, sample, parts, log):
        targets = sample["lm_targets"]
        predicted = targets.ne(self.padding_idx)
        if not predicted.any():
            return
        logits = model.lm_head(text, predicted)
        gold = targets[predicted]
        nll = F.cross_entropy(logits.float(), gold, reduction="none")
        correct = logits.argmax(-1).eq(gold)
        is_seq2seq = sample["is_seq2seq"][:, None].expand_as(predicted)[predicted]
        for name, select in (("mlm", ~is_seq2seq), ("seq2seq", is_seq2seq)):
            count = int(select.sum())
            if count:
                parts[name] = nll[select].sum() / count
                log.update({f"{name}_loss": nll[select].sum().detach(), f"{name}_correct": correct[select].sum(),
                            f"{name}_count": count})

    def _region_losses(self, model, image, sample, parts, log):
        masked = sample["region_masked"]
        count = int(masked.sum())
        if not count:
            return
        states = image[:, 1:][masked]  # position 0 is [IMG]
        feat = region_feature_loss(model.region_feature_head(states), sample["region_targets"][masked])
        parts["mrm_feat"] = feat / count
        log.update({"mrm_feat_loss": feat.detach(), "mrm_feat_count": count})
        if sample.get("region_cls_targets") is not None:
            cls = region_class_loss(model.region_class_head(states), sample["region_cls_targets"][masked])
            parts["mrm_cls"] = cls / count
            log.update({"mrm_cls_loss": cls.detach(), "mrm_cls_count": count})

    def _cmcl_loss(self, model, batch, parts, log):
        """Single-modal passes of the same transformer: every image alone, every text alone."""
        image_states = model.extract_features(
            regions=batch["regions"], boxes=batch["boxes"], region_padding_mask=batch["region_padding_mask"])[1]
        text_states = model.extract_features(batch["texts"])[0]
        num_anchors = len(batch["image_rows"])
        tau = self.temperature
        total, correct = cmcl_loss(
            model.pooled_image(image_states), model.pooled_text(text_states), num_anchors, batch,
            batch["image_rows"], tau, group=distributed_utils.get_data_parallel_group()
            if torch.distributed.is_initialized() else None)
        parts["cmcl"] = total / num_anchors
        log.update({"cmcl_loss": total.detach(), "cmcl_correct": correct, "cmcl_count": num_anchors,
                    "cmcl_tau": tau.detach()})

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
                if any(f"{name}_correct" in log for log in logging_outputs):
                    metrics.log_scalar(f"{name}_acc", 100 * total(f"{name}_correct") / count, count, round=2)
                metrics.log_scalar(f"{name}_count", count, round=0)
        tau_logs = [float(log["cmcl_tau"]) for log in logging_outputs if "cmcl_tau" in log]
        if tau_logs:
            metrics.log_scalar("cmcl_tau", sum(tau_logs) / len(tau_logs), len(tau_logs), round=4)
        for modality in ("text", "image", "pair"):
            if any(f"{modality}_samples" in log for log in logging_outputs):
                metrics.log_scalar(f"{modality}_samples", total(f"{modality}_samples"), round=0)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return False  # cmcl_tau is averaged, not summed
