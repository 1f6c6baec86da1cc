"""--cmcl-hard-weight through the pretraining criterion on a real pair batch: the term is logged at any
weight, enters the loss only with a weight (and from --cmcl-hard-start-update on, by the update count
fairseq's task sets on the model), and equals hard_negative_loss of the batch's embeddings."""
import pytest
import torch

from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion, UnimoPretrainCriterionConfig
from unimo_plugin.data.cmcl_batch import CmclBatch
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
from unimo_plugin.testing import synthetic_corpora
from unimo_plugin.testing.tiny_models import build_unimo


def _pair_batch_and_model(tmp_path):
    synthetic_corpora.build(str(tmp_path), synthetic_corpora.dictionary())
    task = UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=str(tmp_path), seed=1, cmcl_negatives=2))
    task.load_dataset("train")
    mix = task.datasets["train"]
    torch.manual_seed(0)
    model = build_unimo(task.source_dictionary, region_feature_dim=synthetic_corpora.FEATURE_DIM,
                        num_region_classes=synthetic_corpora.NUM_CLASSES, max_positions=256, dropout=0.0,
                        attention_dropout=0.0).eval()
    batch = mix.collater([mix[i] for i in range(len(mix)) if mix[i]["corpus"] == "pair"][:4])
    return task, model, batch


def _run(task, model, batch, weight, start=0):
    config = UnimoPretrainCriterionConfig(cmcl_hard_weight=weight, cmcl_hard_start_update=start)
    with torch.no_grad():
        return UnimoPretrainCriterion(config, task)(model, batch)


def test_hard_negative_term_is_logged_and_weighted(tmp_path):
    task, model, batch = _pair_batch_and_model(tmp_path)
    loss0, _, log0 = _run(task, model, batch, 0.0)
    loss3, _, log3 = _run(task, model, batch, 3.0)
    assert log0["cmcl_hard_count"] == log3["cmcl_hard_count"] == 4  # every synthetic pair has 2 rewrites
    hard = log0["cmcl_hard_loss"].item() / log0["cmcl_hard_count"]
    cmcl = CmclBatch.of(batch["cmcl"])  # each pair: itself and its paraphrases against its 2 rewrites
    positives = 1 + (cmcl.candidate_positive & cmcl.candidate_valid).sum(1).float()
    chance = torch.log((positives + 2) / positives).sum().item()
    assert hard > 0 and log0["cmcl_hard_chance"].item() == pytest.approx(chance, rel=1e-5)
    assert loss3.item() == pytest.approx(loss0.item() + 3.0 * hard, rel=1e-5)
    assert set(log0) == set(log3)


def test_hard_negative_term_starts_at_its_update(tmp_path):
    task, model, batch = _pair_batch_and_model(tmp_path)
    unweighted, _, log = _run(task, model, batch, 0.0)
    hard = log["cmcl_hard_loss"].item() / log["cmcl_hard_count"]
    for update, expected in ((0, unweighted.item()), (99, unweighted.item()), (100, unweighted.item() + 3.0 * hard)):
        model.set_num_updates(update)
        loss, _, log = _run(task, model, batch, 3.0, start=100)
        assert loss.item() == pytest.approx(expected, rel=1e-5), update
        assert log["cmcl_hard_loss"].item() / log["cmcl_hard_count"] == pytest.approx(hard, rel=1e-5)
