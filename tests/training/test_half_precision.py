"""--fp16/--bf16 readiness: fairseq casts the model and every float32 tensor of the sample to half
precision; the whole pretraining step must run in that dtype (no hard-coded float32 in the hot path)
and keep its losses finite (they are computed in float32 where it matters).

fairseq only allows --fp16/--bf16 on GPU; this runs the same casts on the CPU.
"""
import pytest
import torch
from fairseq import utils

from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion, UnimoPretrainCriterionConfig
from unimo_plugin.data.cmcl_batch import CmclBatch
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
from unimo_plugin.testing import synthetic_corpora
from unimo_plugin.testing.tiny_models import build_unimo


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_pretraining_step_runs_in_half_precision(tmp_path, dtype):
    synthetic_corpora.build(str(tmp_path), synthetic_corpora.dictionary())
    task = UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=str(tmp_path), seed=1))
    task.load_dataset("train")
    mix = task.datasets["train"]
    model = build_unimo(task.source_dictionary, region_feature_dim=synthetic_corpora.FEATURE_DIM,
                        num_region_classes=synthetic_corpora.NUM_CLASSES, max_positions=256)
    model = model.to(dtype)
    criterion = UnimoPretrainCriterion(UnimoPretrainCriterionConfig(), task).to(dtype)
    for corpus in ("text", "image", "pair"):
        samples = [mix[i] for i in range(len(mix)) if mix[i]["corpus"] == corpus][:3]
        batch = utils.apply_to_sample(lambda t: t.to(dtype) if t.dtype is torch.float32 else t, mix.collater(samples))
        if corpus == "pair":  # the CMCL passes' inputs are cast too
            cmcl = CmclBatch.of(batch["cmcl"])
            assert cmcl.regions.dtype == cmcl.boxes.dtype == dtype
        loss, _, log = criterion(model, batch)
        loss.backward()
        assert torch.isfinite(loss.float()), corpus
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(g.dtype == dtype for g in grads)
        model.zero_grad()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_adversarial_step_runs_in_half_precision(dtype):
    """VILLA's rounds on a half-precision model: the deltas stay float32 (their ascent is exact), the
    embeddings take them in the model's dtype, every gradient is finite."""
    from types import SimpleNamespace

    from unimo_plugin.criterions.unimo_classification import UnimoClassificationCriterion
    from unimo_plugin.models.heads import SumFusionHead
    from unimo_plugin.tasks.adversarial import AdversarialConfig, AdversarialTask
    from unimo_plugin.testing.tiny_models import make_dictionary, random_regions, random_text

    d = make_dictionary()
    torch.manual_seed(0)
    model = build_unimo(d)
    model.register_classification_head("head", SumFusionHead(32, 16, 3))
    model = model.to(dtype).train()
    g = torch.Generator().manual_seed(0)
    features, boxes = random_regions(4, 5, 12, g)
    tokens = random_text(d, [6, 5, 7, 4], g)
    sample = {"net_input": {"src_tokens": tokens, "regions": features.to(dtype), "boxes": boxes.to(dtype),
                            "region_padding_mask": torch.zeros(4, 5, dtype=torch.bool)},
              "target": torch.tensor([0, 1, 2, 1]), "ntokens": int(tokens.ne(d.pad()).sum()), "nsentences": 4}
    criterion = UnimoClassificationCriterion(SimpleNamespace(target_kind="class",
                                                             cfg=SimpleNamespace(classification_head_name="head")))
    task = AdversarialTask(AdversarialConfig(adv_mode="villa", adv_steps=2), d)
    optimizer = SimpleNamespace(backward=lambda loss: loss.backward())
    loss, _, log = task.train_step(sample, model, criterion, optimizer, update_num=0)
    assert torch.isfinite(loss.float()) and torch.isfinite(log["adv_kl"]) and log["adv_kl"] > 0
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == dtype and torch.isfinite(g.float()).all() for g in grads)
