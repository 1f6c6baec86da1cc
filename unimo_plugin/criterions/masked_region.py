"""Masked region modelling losses on the masked regions' output states: loss functions that the
``unimo_pretrain`` criterion calls (no criterion of their own)."""
import torch.nn.functional as F


def region_feature_loss(predicted, target):
    """Mean squared error per region (averaged over feature dims), summed over regions."""
    return F.mse_loss(predicted.float(), target.float(), reduction="none").mean(-1).sum()


def region_class_loss(logits, target_probs):
    """KL(detector distribution || predicted distribution), summed over regions."""
    return F.kl_div(F.log_softmax(logits.float(), dim=-1), target_probs.float(), reduction="sum")
