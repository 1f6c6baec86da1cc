"""Cross-modal contrastive learning (CMCL) over single-modal embeddings: the loss function that the
``unimo_pretrain`` and ``unimo_retrieval`` criterions call (no criterion of its own).

For an anchor pair (V, W) the loss is

    -log( sum_{positives} exp(d / tau) / sum_{positives + negatives} exp(d / tau) )

with d the cosine similarity of a pooled [IMG] and a pooled <s>. Positives: (V, W) itself,
paraphrases (V, W+), retrieved texts (V, T) and retrieved images (I, W). Negatives: hard
negatives (V, W-) and every other anchor of the global batch, as (V, W_j) and (V_j, W).
Other captions of the same image are neither (they are not wrong, and not the anchor).

``hard_negative_loss`` is the same loss over each anchor's own candidates alone: a pair and its few hard
negatives, without the hundreds of in-batch ones that otherwise take nearly all of the gradient.
"""
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from fairseq.distributed import utils as distributed_utils
from torch.distributed.nn.functional import all_gather

from ..data.cmcl_batch import CmclBatch


def anchor_group(training: bool):
    """The workers whose anchors are in-batch negatives of each other: every data-parallel worker in
    training (they hold pair batches at the same steps), none in validation, so that validation
    figures do not depend on the number of workers."""
    if training and dist.is_available() and dist.is_initialized():
        return distributed_utils.get_data_parallel_group()
    return None


def gather_anchors(image_emb, text_emb, image_rows, group=None):
    """All anchors of the workers of ``group``, in rank order, padded to the largest local count;
    without a group, the local anchors alone. Every worker of the group must call it.

    The gather is differentiable: the gradient w.r.t. another worker's anchors is sent back to
    it, so summing workers' gradients equals the gradient of one process on the whole batch.
    Returns (images, texts, rows, valid, offset of this worker's anchors).
    """
    if group is None or dist.get_world_size(group) == 1:
        valid = torch.ones(len(image_rows), dtype=torch.bool, device=image_rows.device)
        return image_emb, text_emb, image_rows, valid, 0
    count = torch.tensor([len(image_rows)], device=image_rows.device)
    counts = [torch.zeros_like(count) for _ in range(dist.get_world_size(group))]
    dist.all_gather(counts, count, group=group)
    counts = [int(c) for c in counts]
    width = max(counts)

    def pad(x, value=0):
        return F.pad(x, (0, 0) * (x.dim() - 1) + (0, width - len(x)), value=value)

    images = torch.cat(all_gather(pad(image_emb), group=group))
    texts = torch.cat(all_gather(pad(text_emb), group=group))
    rows_list = [torch.zeros_like(pad(image_rows, -1)) for _ in counts]
    dist.all_gather(rows_list, pad(image_rows, -1), group=group)
    valid = torch.cat([torch.arange(width, device=image_rows.device) < c for c in counts])
    return images, texts, torch.cat(rows_list), valid, dist.get_rank(group) * width


class CmclLoss(NamedTuple):
    """Sums over the local anchors. ``chance`` is the loss that equal scores would give (log of the
    candidates over the positives): the level a loss that has learned nothing sits at."""

    loss: torch.Tensor
    correct: torch.Tensor
    chance: torch.Tensor


def cmcl_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, batch: CmclBatch, tau: torch.Tensor,
              group=None) -> CmclLoss:
    """Summed CMCL loss over the local anchors, the number of anchors whose best-scoring candidate is
    a positive, and the loss at chance.

    Args:
        image_emb: (Ni, H) pooled [IMG] of ``batch``'s images; the first ``batch.num_anchors`` are the anchors'.
        text_emb: (Nt, H) pooled <s> of ``batch``'s texts; the first ``batch.num_anchors`` are the anchors'.
        batch: its candidate pairs and the anchors' image rows are read (its inputs made the embeddings).
        tau: temperature (a scalar tensor).
    """
    image_emb = F.normalize(image_emb.float(), dim=-1)
    text_emb = F.normalize(text_emb.float(), dim=-1)
    num_anchors, image_rows = batch.num_anchors, batch.image_rows
    anchor_images, anchor_texts = image_emb[:num_anchors], text_emb[:num_anchors]
    all_images, all_texts, all_rows, all_valid, offset = gather_anchors(anchor_images, anchor_texts, image_rows, group)

    local = torch.arange(num_anchors, device=image_rows.device)
    is_self = (local + offset)[:, None] == torch.arange(len(all_rows), device=image_rows.device)[None, :]
    same_image = image_rows[:, None] == all_rows[None, :]
    image_to_text = anchor_images @ all_texts.t()  # (A, G): (V, W_j)
    text_to_image = anchor_texts @ all_images.t()  # (A, G): (V_j, W)
    side = (image_emb[batch.candidate_image] * text_emb[batch.candidate_text]).sum(-1)

    scores = torch.cat([image_to_text, text_to_image, side], dim=1) / tau
    positive = torch.cat([is_self, torch.zeros_like(is_self), batch.candidate_positive], dim=1)
    valid = torch.cat([all_valid & (is_self | ~same_image), all_valid & ~same_image, batch.candidate_valid], dim=1)
    return CmclLoss(*_score_candidates(scores, valid, positive & valid))


def _score_candidates(scores, valid, positive):
    """Per row of candidate ``scores``: -log of the positives' share of the softmax over the valid
    candidates, whether the best valid candidate is a positive, and that loss at equal scores; each
    summed over the rows."""
    neg_inf = torch.finfo(scores.dtype).min
    loss = torch.logsumexp(scores.masked_fill(~valid, neg_inf), dim=1) \
        - torch.logsumexp(scores.masked_fill(~positive, neg_inf), dim=1)
    best = scores.masked_fill(~valid, neg_inf).argmax(dim=1)
    correct = positive.gather(1, best[:, None]).sum()
    chance = (valid.sum(1).float().log() - positive.sum(1).float().log()).sum()
    return loss.sum(), correct, chance


class HardNegativeLoss(NamedTuple):
    """Sums over the anchors that have hard negatives (``count`` of them), and the loss at chance."""

    loss: torch.Tensor
    correct: torch.Tensor
    count: int
    chance: torch.Tensor


def hard_negative_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, batch: CmclBatch,
                       tau: torch.Tensor) -> HardNegativeLoss:
    """CMCL of each anchor pair against its own candidates alone: a softmax over the pair (V, W), its
    positive candidates and its hard negatives, for the anchors with at least one hard negative.

    In ``cmcl_loss`` a hard negative is one of hundreds of candidates: until the pair's score stands out
    of the in-batch ones, the few hard negatives get a few percent of the gradient, so a model learns to
    tell images apart by their most visible traits and never the one word a rewrite changed. Here the
    rewrite is the only alternative. Per anchor, local: no candidate crosses workers.
    """
    image_emb = F.normalize(image_emb.float(), dim=-1)
    text_emb = F.normalize(text_emb.float(), dim=-1)
    num_anchors = batch.num_anchors
    pair = (image_emb[:num_anchors] * text_emb[:num_anchors]).sum(-1, keepdim=True)
    side = (image_emb[batch.candidate_image] * text_emb[batch.candidate_text]).sum(-1)
    negative = batch.candidate_valid & ~batch.candidate_positive
    rows = negative.any(1)
    scores = torch.cat([pair, side], dim=1)[rows] / tau
    valid = torch.cat([torch.ones_like(rows[:, None]), batch.candidate_valid], dim=1)[rows]
    positive = torch.cat([torch.ones_like(rows[:, None]), batch.candidate_positive & batch.candidate_valid], 1)[rows]
    loss, correct, chance = _score_candidates(scores, valid, positive)
    return HardNegativeLoss(loss, correct, int(rows.sum()), chance)
