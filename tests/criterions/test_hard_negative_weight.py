"""--cmcl-hard-weight through the pretraining criterion on a real pair batch: the term is logged at any
weight, enters the loss only with a weight, and equals hard_negative_loss of the batch's embeddings."""
import pytest
import torch

from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion, UnimoPretrainCriterionConfig
from unimo_plugin.data.cmcl_batch import CmclBatch
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
from unimo_plugin.testing import synthetic_corpora
from unimo_plugin.testing.tiny_models import build_unimo


def test_hard_negative_term_is_logged_and_weighted(tmp_path):
    synthetic_corpora.build(str(tmp_path), synthetic_corpora.dictionary())
    task = UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=str(tmp_path), seed=1, cmcl_negatives=2))
    task.load_dataset("train")
    mix = task.datasets["train"]
    torch.manual_seed(0)
    model = build_unimo(task.source_dictionary, region_feature_dim=synthetic_corpora.FEATURE_DIM,
                        num_region_classes=synthetic_corpora.NUM_CLASSES, max_positions=256, dropout=0.0,
                        attention_dropout=0.0).eval()
    batch = mix.collater([mix[i] for i in range(len(mix)) if mix[i]["corpus"] == "pair"][:4])

    def run(weight):
        criterion = UnimoPretrainCriterion(UnimoPretrainCriterionConfig(cmcl_hard_weight=weight), task)
        with torch.no_grad():
            return criterion(model, batch)

    loss0, _, log0 = run(0.0)
    loss3, _, log3 = run(3.0)
    assert log0["cmcl_hard_count"] == log3["cmcl_hard_count"] == 4  # every synthetic pair has 2 rewrites
    hard = log0["cmcl_hard_loss"].item() / log0["cmcl_hard_count"]
    cmcl = CmclBatch.of(batch["cmcl"])  # each pair: itself and its paraphrases against its 2 rewrites
    positives = 1 + (cmcl.candidate_positive & cmcl.candidate_valid).sum(1).float()
    chance = torch.log((positives + 2) / positives).sum().item()
    assert hard > 0 and log0["cmcl_hard_chance"].item() == pytest.approx(chance, rel=1e-5)
    assert loss3.item() == pytest.approx(loss0.item() + 3.0 * hard, rel=1e-5)
    assert set(log0) == set(log3)
