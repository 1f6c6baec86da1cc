"""Adversarial fine-tuning (--adv-mode): the perturbation's start and projection, the symmetric KL
against a hand computation, a training step against a hand-written FreeLB/VILLA loop, steps 0 as
plain training bit for bit, and its errors."""
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion

from unimo_plugin.criterions.unimo_classification import UnimoClassificationCriterion
from unimo_plugin.models.heads import SumFusionHead
from unimo_plugin.models.perturbation import EmbeddingPerturbation
from unimo_plugin.tasks.adversarial import AdversarialConfig, AdversarialTask, prediction_rows, symmetric_kl
from unimo_plugin.testing.tiny_models import build_unimo, make_dictionary, random_regions, random_text

DIM, FEATURES = 32, 12


class Backward:
    """What fairseq's optimizers do in ``backward``, for in-process steps."""

    @staticmethod
    def backward(loss):
        loss.backward()


def _task(dictionary, **options):
    return AdversarialTask(AdversarialConfig(**options), dictionary)


def _model(dictionary, head=True):
    torch.manual_seed(0)
    model = build_unimo(dictionary, dropout=0.0, attention_dropout=0.0)
    if head:
        model.register_classification_head("head", SumFusionHead(DIM, 16, 3, dropout=0.0))
    return model.train()


def _ve_batch(dictionary, size=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    features, boxes = random_regions(size, 5, FEATURES, g)
    padding = torch.zeros(size, 5, dtype=torch.bool)
    padding[0, 3:] = True
    tokens = random_text(dictionary, [int(n) for n in torch.randint(4, 9, (size,), generator=g)], g)
    return {"net_input": {"src_tokens": tokens, "regions": features, "boxes": boxes, "region_padding_mask": padding},
            "target": torch.randint(0, 3, (size,), generator=g), "ntokens": int(tokens.ne(dictionary.pad()).sum()),
            "nsentences": size}


def _classification(dictionary):
    task = SimpleNamespace(target_kind="class", cfg=SimpleNamespace(classification_head_name="head"))
    return UnimoClassificationCriterion(task)


def _grads(model):
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def test_the_start_is_bounded_and_only_where_the_mask_says():
    torch.manual_seed(0)
    real = torch.tensor([[True, True, True, False], [True, False, False, False]])
    delta = EmbeddingPerturbation(0.4)(real, 8, torch.zeros(0))
    assert delta.shape == (2, 4, 8) and delta.requires_grad
    assert delta[~real].abs().sum() == 0
    norms = delta.detach().flatten(1).norm(dim=1)
    assert (norms <= 0.4).all() and (norms > 0.1).all()  # uniform noise: about 0.4 / sqrt(3)
    for row, n in zip(delta.detach(), real.sum(1)):  # each element within init / sqrt(positions x width)
        assert row.abs().max() <= 0.4 / math.sqrt(int(n) * 8)
    assert EmbeddingPerturbation(0.0)(real, 8, torch.zeros(0)).abs().sum() == 0


def test_the_ascent_is_an_l2_normalised_step_projected_onto_the_ball():
    real = torch.ones(3, 2, dtype=torch.bool)
    perturbation = EmbeddingPerturbation(0.0)
    perturbation(real, 2, torch.zeros(0))
    grad = torch.tensor([[[3.0, 0.0], [0.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    perturbation.ascend(grad, step_size=0.1, max_norm=0.0)
    torch.testing.assert_close(perturbation.delta[0], torch.tensor([[0.06, 0.0], [0.0, 0.08]]))
    assert perturbation.delta[1].abs().sum() == 0  # a zero gradient leaves the delta where it is
    torch.testing.assert_close(perturbation.delta[2], torch.full((2, 2), 0.05))
    for _ in range(4):  # 5 steps of 0.1 in one direction: 0.5, back onto the 0.3 ball
        perturbation.ascend(grad, step_size=0.1, max_norm=0.3)
    norms = perturbation.delta.detach().flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.tensor([0.3, 0.0, 0.3]))
    torch.testing.assert_close(perturbation.delta[0], torch.tensor([[0.18, 0.0], [0.0, 0.24]]))  # same direction
    assert perturbation.delta.is_leaf and perturbation.delta.requires_grad


def test_a_perturbation_serves_one_batch_shape():
    perturbation = EmbeddingPerturbation(0.1)
    perturbation(torch.ones(2, 3, dtype=torch.bool), 4, torch.zeros(0))
    with pytest.raises(ValueError, match="one perturbation serves one batch"):
        perturbation(torch.ones(2, 5, dtype=torch.bool), 4, torch.zeros(0))
    with pytest.raises(ValueError, match="mask has shape"):
        EmbeddingPerturbation(0.1, torch.ones(2, 2, dtype=torch.bool))(torch.ones(2, 3, dtype=torch.bool), 4,
                                                                        torch.zeros(0))


def test_symmetric_kl_matches_a_hand_computation():
    clean = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    perturbed = torch.tensor([[1.0, 1.0, 1.0], [0.0, math.log(2.0), 0.0]])

    def softmax(row):
        e = [math.exp(v) for v in row]
        return [v / sum(e) for v in e]

    want = 0.0
    for a, b in zip(clean.tolist(), perturbed.tolist()):
        p, q = softmax(a), softmax(b)
        want += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q)) + sum(qi * math.log(qi / pi) for pi, qi in zip(p, q))
    assert symmetric_kl(clean, perturbed).item() == pytest.approx(want, rel=1e-6)
    assert symmetric_kl(clean, clean).item() == 0
    # one output (a regression head): the squared difference
    assert symmetric_kl(torch.tensor([[1.0], [2.0]]), torch.tensor([[1.5], [2.0]])).item() == pytest.approx(0.25)


def test_prediction_rows_are_the_items_the_criterion_predicts():
    logits = torch.arange(2 * 3 * 4, dtype=torch.float).view(2, 3, 4)
    target = torch.tensor([[5, 6, 1], [7, 1, 1]])  # 1 is padding
    torch.testing.assert_close(prediction_rows((logits, {}), {"target": target}, 1),
                               torch.stack([logits[0, 0], logits[0, 1], logits[1, 0]]))
    scores = torch.arange(6, dtype=torch.float).view(6, 1)
    assert prediction_rows((scores, {}), {"num_candidates": 3}, 1).tolist() == [[0, 1, 2], [3, 4, 5]]
    heads = torch.randn(4, 3)
    assert prediction_rows((heads, {}), {}, 1) is heads


class FixedDelta:
    """A perturbation that is a given tensor: the hand-written loop below steers its own deltas."""

    def __init__(self, delta):
        self.delta = delta

    def __call__(self, real, width, like):
        return self.delta


def _hand_written_villa(model, criterion, sample, steps, step_size, max_norm, kl_weight):
    """FreeLB/VILLA from the papers' pseudo-code on a zero start, as one loss for one backward."""
    d = model.text_embeddings.embed_tokens.embedding_dim
    tokens, regions = sample["net_input"]["src_tokens"], sample["net_input"]["regions"]
    deltas = {"text": torch.zeros(*tokens.shape, d),
              "regions": torch.zeros(regions.size(0), regions.size(1) + 1, regions.size(2))}
    total = 0
    for _ in range(steps):
        def run(perturbations):
            out = model(**sample["net_input"], classification_head_name="head", perturbations=perturbations)[0]
            return F.cross_entropy(out, sample["target"], reduction="sum"), out

        clean_loss, clean = run(None)
        total = total + clean_loss / steps
        for kind in ("text", "regions"):
            delta = deltas[kind].requires_grad_()
            loss, out = run({kind: FixedDelta(delta)})
            p, q = F.softmax(clean, -1), F.softmax(out, -1)
            total = total + loss / steps + kl_weight * ((p - q) * (p.log() - q.log())).sum()
            grad, = torch.autograd.grad(loss, delta, retain_graph=True)
            if kind == "regions":
                grad = grad * (~torch.cat([torch.zeros(len(grad), 1, dtype=torch.bool),
                                           sample["net_input"]["region_padding_mask"]], 1)).unsqueeze(-1)
            else:
                grad = grad * tokens.ne(model.padding_idx).unsqueeze(-1)
            new = delta.detach() + step_size * grad / grad.flatten(1).norm(dim=1).clamp(min=1e-8).view(-1, 1, 1)
            norm = new.flatten(1).norm(dim=1).view(-1, 1, 1)
            deltas[kind] = torch.where(norm > max_norm, new * max_norm / norm, new)
    return total


def test_a_villa_step_is_the_hand_written_loop():
    d = make_dictionary()
    sample = _ve_batch(d)
    criterion = _classification(d)
    model = _model(d)
    _hand_written_villa(model, criterion, sample, steps=3, step_size=0.5, max_norm=0.6, kl_weight=1.5).backward()
    want = _grads(model)

    model = _model(d)
    task = _task(d, adv_mode="villa", adv_steps=3, adv_lr=0.5, adv_init_mag=0.0, adv_max_norm=0.6, adv_kl_weight=1.5)
    loss, sample_size, log = task.train_step(sample, model, criterion, Backward, update_num=0)
    got = _grads(model)
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-6, msg=lambda m: f"{key}: {m}")
    assert sample_size == 4 and log["adv_kl"] > 0 and log["adv_loss"] > 0
    assert loss.item() == pytest.approx(F.cross_entropy(
        _model(d)(**sample["net_input"], classification_head_name="head")[0], sample["target"], reduction="sum").item(),
        rel=1e-5)  # the clean loss of the first round is the one logged


def test_steps_0_is_plain_training_bit_for_bit_and_a_zero_perturbation_only_repeats_the_loss():
    d = make_dictionary()
    sample, criterion = _ve_batch(d), _classification(d)
    plain = _model(d)
    criterion(plain, sample)[0].backward()
    want = _grads(plain)
    model = _model(d)
    _task(d, adv_mode="villa", adv_steps=0).train_step(sample, model, criterion, Backward, update_num=0)
    for key, grad in _grads(model).items():
        assert torch.equal(grad, want[key]), key

    model = _model(d)  # no start, no step: each round is three clean passes, each a third of the loss
    _, _, log = _task(d, adv_mode="villa", adv_steps=3, adv_lr=0.0, adv_init_mag=0.0).train_step(
        sample, model, criterion, Backward, update_num=0)
    assert log["adv_kl"] == 0
    for key, grad in _grads(model).items():
        torch.testing.assert_close(grad, 3 * want[key], rtol=1e-5, atol=1e-7)


def test_caption_perturbs_the_caption_not_the_tags():
    d = make_dictionary()
    model = _model(d, head=False)
    g = torch.Generator().manual_seed(2)
    features, boxes = random_regions(3, 4, FEATURES, g)
    tags, target = random_text(d, [4, 3, 5], g), random_text(d, [6, 6, 4], g)[:, 1:].contiguous()
    prev = torch.cat([torch.full((3, 1), d.bos()), target[:, :-1]], 1)
    sample = {"net_input": {"src_tokens": tags, "regions": features, "boxes": boxes, "prev_output_tokens": prev},
              "target": target, "ntokens": int(target.ne(d.pad()).sum()), "nsentences": 3}
    from unimo_plugin.tasks.unimo_caption import UnimoCaptionTask

    mask = UnimoCaptionTask.adversarial_text_mask(SimpleNamespace(dictionary=d), sample)
    assert mask.shape == (3, tags.size(1) + prev.size(1))
    assert not mask[:, :tags.size(1)].any() and mask[:, tags.size(1):].equal(prev.ne(d.pad()))
    perturbations = {"text": EmbeddingPerturbation(0.4, mask)}
    model(**sample["net_input"], perturbations=perturbations)
    assert perturbations["text"].delta[:, :tags.size(1)].abs().sum() == 0

    criterion = LabelSmoothedCrossEntropyCriterion(SimpleNamespace(target_dictionary=d), sentence_avg=False,
                                                   label_smoothing=0.1)
    task = _task(d, adv_mode="freelb_text", adv_steps=2)
    _, sample_size, log = task.train_step(sample, model, criterion, Backward, update_num=0)
    assert sample_size == sample["ntokens"] and log["adv_kl"] > 0


def test_image_modes_need_regions():
    d = make_dictionary()
    sample = _ve_batch(d)
    for key in ("regions", "boxes", "region_padding_mask"):
        del sample["net_input"][key]
    with pytest.raises(ValueError, match="--adv-mode villa perturbs region features"):
        _task(d, adv_mode="villa").train_step(sample, _model(d), _classification(d), Backward, update_num=0)


def test_ignore_grad_leaves_no_gradient():
    d = make_dictionary()
    model = _model(d)
    _task(d, adv_mode="villa", adv_steps=2).train_step(_ve_batch(d), model, _classification(d), Backward,
                                                       update_num=0, ignore_grad=True)
    assert all(g.abs().sum() == 0 for g in _grads(model).values())
