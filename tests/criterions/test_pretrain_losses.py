"""Pretraining losses against hand computations on tiny tensors."""
import math

import pytest
import torch
import torch.nn.functional as F
from fairseq import utils

from unimo_plugin.criterions.cmcl import cmcl_loss, hard_negative_loss
from unimo_plugin.criterions.masked_region import region_class_loss, region_feature_loss
from unimo_plugin.data.cmcl_batch import CmclBatch
from unimo_plugin.data.pretrain.pair_corpus import collate_cmcl


def _batch(rows, image_rows):
    """The CMCL batch of candidates ``rows`` (per anchor a list of (image, text, positive)), padded like
    collate_cmcl; without inputs (the loss reads none)."""
    width = max(len(r) for r in rows)
    cand = torch.zeros(len(rows), width, 4, dtype=torch.long)
    for a, pairs in enumerate(rows):
        for m, (i, t, p) in enumerate(pairs):
            cand[a, m] = torch.tensor([i, t, int(p), 1])
    none = torch.zeros(0)
    return CmclBatch(texts=none, regions=none, boxes=none, region_padding_mask=none, candidate_image=cand[..., 0],
                     candidate_text=cand[..., 1], candidate_positive=cand[..., 2].bool(),
                     candidate_valid=cand[..., 3].bool(), image_rows=torch.as_tensor(image_rows))


def _expected(images, texts, anchors, image_rows, rows, tau):
    cos = lambda i, t: F.cosine_similarity(images[i], texts[t], dim=0).item()  # noqa: E731
    total, correct = 0.0, 0
    for a in range(anchors):
        pos = [(a, a)]
        neg = []
        for j in range(anchors):
            if image_rows[j] != image_rows[a]:
                neg += [(a, j), (j, a)]  # (V_a, W_j) and (V_j, W_a)
        for i, t, p in rows[a]:
            (pos if p else neg).append((i, t))
        ps = [cos(i, t) / tau for i, t in pos]
        ns = [cos(i, t) / tau for i, t in neg]
        total += -math.log(sum(math.exp(s) for s in ps) / sum(math.exp(s) for s in ps + ns))
        correct += int(max(ps) > max(ns, default=-1e9))
    return total, correct


def test_cmcl_matches_hand_computation():
    torch.manual_seed(0)
    images, texts = torch.randn(4, 6), torch.randn(7, 6)  # 3 anchors; image 3 retrieved; texts 3..6 side
    image_rows = torch.tensor([10, 11, 10])  # anchors 0 and 2 show the same image
    rows = [[(0, 3, True), (0, 4, False), (3, 0, True)],  # paraphrase, negative, retrieved image
            [(1, 5, False)],
            [(2, 6, True)]]
    loss, correct, _ = cmcl_loss(images, texts, _batch(rows, image_rows), torch.tensor(0.1))
    want, want_correct = _expected(images, texts, 3, image_rows.tolist(), rows, 0.1)
    assert loss.item() == pytest.approx(want, rel=1e-5)
    assert int(correct) == want_correct


def test_collated_batch_survives_fairseqs_cast_and_move_and_scores_like_the_hand_computation():
    torch.manual_seed(0)
    images, texts = torch.randn(4, 6), torch.randn(7, 6)  # as above: the collater lists these same candidates
    rows = [[(0, 3, True), (0, 4, False), (3, 0, True)], [(1, 5, False)], [(2, 6, True)]]

    def text(n):
        return torch.arange(4, 4 + n)

    def image(n):
        return {"features": torch.randn(n, 3), "boxes": torch.rand(n, 5), "cls_probs": None}

    items = [{"caption": text(3), "image": image(2), "image_row": 10, "paraphrases": [text(4)], "negatives": [text(2)],
              "images": [image(3)]},
             {"caption": text(4), "image": image(1), "image_row": 11, "negatives": [text(5)]},
             {"caption": text(2), "image": image(2), "image_row": 10, "paraphrases": [text(3)]}]
    batch = collate_cmcl(items, pad=1)
    assert isinstance(batch, CmclBatch) and batch.num_anchors == 3
    assert batch.texts.shape == (7, 5) and batch.regions.shape == (4, 3, 3) and batch.boxes.shape == (4, 3, 5)
    assert batch.region_padding_mask.sum(1).tolist() == [1, 2, 1, 0]
    listed = [[(int(i), int(t), bool(p)) for i, t, p, v in zip(*(getattr(batch, f"candidate_{k}")[a] for k in
                                                                  ("image", "text", "positive", "valid"))) if v]
              for a in range(3)]
    assert listed == rows

    seen = []

    def to_half(t):  # what fairseq's trainer does to a sample under --fp16 (Trainer._fp_convert_sample)
        seen.append(t)
        return t.half() if t.dtype is torch.float32 else t.clone()

    sample = utils.apply_to_sample(to_half, {"cmcl": batch})
    assert sorted(map(id, seen)) == sorted(map(id, batch))  # every field reached
    half = CmclBatch.of(sample["cmcl"])  # fairseq rebuilt it as a plain tuple
    assert half.regions.dtype == half.boxes.dtype == torch.float16 and half.texts.dtype == torch.long
    moved = CmclBatch.of(utils.move_to_cpu(sample)["cmcl"])  # fairseq's move helper (back to float32 on the CPU)
    for name, value in moved._asdict().items():
        assert value.dtype == getattr(batch, name).dtype, name
        torch.testing.assert_close(value, getattr(batch, name), atol=1e-2, rtol=1e-2)

    loss, correct, _ = cmcl_loss(images, texts, moved, torch.tensor(0.1))
    want, want_correct = _expected(images, texts, 3, [10, 11, 10], rows, 0.1)
    assert loss.item() == pytest.approx(want, rel=1e-5) and int(correct) == want_correct
    with pytest.raises(TypeError, match="a CMCL batch is a tuple of 9 tensors"):
        CmclBatch.of(tuple(batch)[:-1])


def test_cmcl_ignores_padded_candidates_and_counts_positives():
    torch.manual_seed(1)
    images, texts = torch.randn(2, 5), torch.randn(4, 5)
    rows = [[(0, 2, False), (0, 3, True)], [(1, 2, False)]]  # anchor 1's second slot is padding
    batch = _batch(rows, [0, 1])
    batch.candidate_text[1, 1] = 3  # garbage in a padded slot must not matter
    loss, _, _ = cmcl_loss(images, texts, batch, torch.tensor(0.07))
    want, _ = _expected(images, texts, 2, [0, 1], rows, 0.07)
    assert loss.item() == pytest.approx(want, rel=1e-5)



def test_hard_negative_term_scores_each_pair_against_its_own_candidates_alone():
    torch.manual_seed(2)
    images, texts = torch.randn(4, 6), torch.randn(8, 6)
    rows = [[(0, 3, True), (0, 4, False), (0, 5, False)],  # a paraphrase and two rewrites
            [(1, 6, True)],  # positives only: no hard-negative row
            [(2, 7, False), (3, 2, True)]]  # a rewrite and a retrieved image
    cos = lambda i, t: F.cosine_similarity(images[i], texts[t], dim=0).item() / 0.1  # noqa: E731
    want, want_correct, want_chance = 0.0, 0, 0.0
    for a in (0, 2):
        pos = [cos(a, a)] + [cos(i, t) for i, t, p in rows[a] if p]
        neg = [cos(i, t) for i, t, p in rows[a] if not p]
        want += -math.log(sum(map(math.exp, pos)) / sum(map(math.exp, pos + neg)))
        want_correct += int(max(pos) > max(neg))
        want_chance += math.log((len(pos) + len(neg)) / len(pos))
    batch = _batch(rows, [0, 1, 2])
    batch.candidate_text[1, 2] = 0  # garbage in padded slots must not matter
    loss, correct, count, chance = hard_negative_loss(images, texts, batch, torch.tensor(0.1))
    assert count == 2 and int(correct) == want_correct
    assert loss.item() == pytest.approx(want, rel=1e-5) and chance.item() == pytest.approx(want_chance)
    # in-batch anchors take no part: other anchors' texts change nothing
    moved = texts.clone()
    moved[1] = torch.randn(6)
    assert hard_negative_loss(images, moved, batch, torch.tensor(0.1)).loss.item() == pytest.approx(loss.item())
    none = hard_negative_loss(images, texts, _batch([[(0, 3, True)]] * 3, [0, 1, 2]), torch.tensor(0.1))
    assert none.count == 0 and none.loss.item() == 0

def test_cmcl_perfect_alignment_has_small_loss_and_full_accuracy():
    base = torch.eye(4)
    loss, correct, _ = cmcl_loss(base, base, _batch([[]] * 4, torch.arange(4)), torch.tensor(0.01))
    assert loss.item() < 1e-6 and int(correct) == 4


def test_cmcl_chance_is_the_loss_of_equal_scores():
    rows = [[(0, 3, True), (0, 4, False)], [(1, 4, False)], [(2, 3, False), (2, 4, False)]]
    batch = _batch(rows, [10, 11, 10])  # anchors 0 and 2 show the same image
    same = torch.ones(5, 6)
    loss, _, chance = cmcl_loss(same[:3], same, batch, torch.tensor(0.1))
    # anchor 0: 2 positives of 2 + 2 in-batch + 1 hard; 1: 1 of 1 + 4 + 1; 2: 1 of 1 + 2 + 2
    want = math.log(5 / 2) + math.log(6) + math.log(5)
    assert chance.item() == pytest.approx(want) and loss.item() == pytest.approx(want, rel=1e-5)
    images, texts = torch.randn(3, 6), torch.randn(5, 6)
    assert cmcl_loss(images, texts, batch, torch.tensor(0.1)).chance.item() == pytest.approx(want)


def test_temperature_is_learned_bounded_and_keeps_its_gradient_outside_the_bounds():
    from unimo_plugin.models.heads import Temperature

    tau = Temperature(0.07, learned=True, min_value=0.001, max_value=0.5)
    assert tau().item() == pytest.approx(0.07) and [n for n, _ in tau.named_parameters()] == ["log_temperature"]
    with torch.no_grad():
        tau.log_temperature.fill_(math.log(5.0))  # past the bound, as an fp32 master copy can drift
    value = tau()
    assert value.item() == pytest.approx(0.5)
    value.backward()
    assert tau.log_temperature.grad.item() == pytest.approx(0.5)  # d tau / d log tau, not 0
    tau.clamp_()
    assert tau.log_temperature.item() == pytest.approx(math.log(0.5))
    with torch.no_grad():
        tau.log_temperature.fill_(math.log(1e-6))
    tau.clamp_()
    assert tau().item() == pytest.approx(0.001)
    fixed = Temperature(0.2, learned=False, min_value=0.001, max_value=0.5)
    assert list(fixed.parameters()) == [] and fixed.state_dict() == {} and fixed().item() == pytest.approx(0.2)
    with pytest.raises(ValueError, match="must lie in"):
        Temperature(0.7, learned=True, min_value=0.001, max_value=0.5)


def test_model_owns_tau_and_the_task_clamps_it_after_each_update(dictionary):
    from unimo_plugin.tasks.base_task import UnimoTask
    from unimo_plugin.testing.tiny_models import build_unimo

    model = build_unimo(dictionary, cmcl_temperature=0.05, cmcl_max_temperature=0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=100.0)
    model.cmcl_temperature().neg().backward()  # pushes tau up, far past 0.1
    UnimoTask.optimizer_step(object.__new__(UnimoTask), optimizer, model, 0)
    assert model.cmcl_temperature.log_temperature.item() == pytest.approx(math.log(0.1))
    old = model.state_dict()
    del old["cmcl_temperature.log_temperature"]  # a checkpoint from before tau moved into the model
    model.upgrade_state_dict_named(old, "")
    assert old["cmcl_temperature.log_temperature"].item() == pytest.approx(math.log(0.05))


def test_region_losses_by_hand():
    pred, target = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert region_feature_loss(pred, target).item() == pytest.approx((1 + 4) / 2 + (1 + 1) / 2)
    logits = torch.tensor([[0.0, math.log(3.0)]])  # predicted [0.25, 0.75]
    probs = torch.tensor([[0.5, 0.5]])
    want = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert region_class_loss(logits, probs).item() == pytest.approx(want, rel=1e-5)
    zero_class = torch.tensor([[0.0, 1.0]])  # 0 * log 0 counts as 0
    assert region_class_loss(logits, zero_class).item() == pytest.approx(math.log(1 / 0.75), rel=1e-5)
