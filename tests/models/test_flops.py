"""flops.py against what torch counts while the step runs (``FlopCounterMode``, attention through SDPA's
math kernel so that its matrix products are seen), for every corpus, both CMCL layouts and fairseq's
RoBERTa; and the model FLOPs by hand."""
import argparse

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from tests.models.test_cmcl_passes import replaced_passes
from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion, UnimoPretrainCriterionConfig
from unimo_plugin.models import flops as F
from unimo_plugin.models.unimo import UnimoModel
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
from unimo_plugin.testing import synthetic_corpora
from unimo_plugin.testing.tiny_models import build_unimo


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("flops"))
    synthetic_corpora.build(root, synthetic_corpora.dictionary(), num_images=16, num_negatives=3, caption_words=(2, 9))
    task = UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=root, seed=5, train_subset="train", update_freq=[1],
                                                            tokens_per_sample=48))
    task.load_dataset("train")
    return task


def _batch(task, corpus, count=8):
    mix = task.datasets["train"]
    return mix.collater([mix[p] for p in range(len(mix)) if mix[p]["corpus"] == corpus][:count])


def _counted(step):
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


@pytest.mark.parametrize("corpus", ["text", "image", "pair"])
@pytest.mark.parametrize("layout", F.LAYOUTS)
def test_computed_flops_are_what_the_step_computes(task, corpus, layout, monkeypatch):
    if layout == "padded":
        monkeypatch.setattr(UnimoModel, "_single_modal_passes", replaced_passes)
    batch = _batch(task, corpus)
    model = build_unimo(task.source_dictionary, region_feature_dim=synthetic_corpora.FEATURE_DIM,
                        num_region_classes=synthetic_corpora.NUM_CLASSES, max_positions=64).train()
    criterion = UnimoPretrainCriterion(UnimoPretrainCriterionConfig(), task)
    torch_count = _counted(lambda: criterion(model, batch)[0].backward())
    counted = F.unimo_pretrain_step(F.Dims.of(model.cfg, len(task.source_dictionary)), batch,
                                    task.source_dictionary.pad(), layout)
    # all that flops.py leaves out with a matrix product: CMCL's similarities (a few A x G x H)
    assert counted.total.computed == pytest.approx(torch_count, rel=2e-3)
    assert counted.total.computed <= torch_count
    assert counted.total.model < counted.total.computed
    if corpus == "pair":
        assert set(counted.parts) == {"joint", "heads", "cmcl"}
        assert (counted.duplicates > 0) == (layout == "padded")  # two captions per image in the batch


def test_roberta_masked_lm_flops(task):
    from fairseq.models.roberta import RobertaModel, roberta_base_architecture

    args = argparse.Namespace(encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                              encoder_attention_heads=4, max_positions=64)
    roberta_base_architecture(args)
    roberta = RobertaModel.build_model(args, task).train()
    batch = _batch(task, "text")
    tokens, pad = batch["net_input"]["src_tokens"], task.source_dictionary.pad()
    masked = batch["lm_targets"].ne(pad)
    torch_count = _counted(lambda: roberta(tokens, masked_tokens=masked)[0].float().sum().backward())
    counted = F.text_mlm_step(F.Dims.of(args, len(task.source_dictionary)), tokens, pad, int(masked.sum()))
    assert counted.total.computed == pytest.approx(torch_count, rel=1e-6)


def test_model_flops_by_hand():
    dims = F.Dims(layers=2, embed=4, ffn=8, vocab=10)
    assert dims.position_flops == 2 * (4 * 3 * 4 + 4 * 4 + 2 * 4 * 8) and dims.pair_flops == 16
    lengths = [3, 5]
    flops = F.encoder_forward(dims, lengths, rows=2, row_length=6)
    assert flops.model == 2 * (8 * dims.position_flops + (9 + 25) * dims.pair_flops)
    assert flops.computed == 2 * (12 * dims.position_flops + 72 * dims.pair_flops)
    assert flops.waste_share == pytest.approx(1 - flops.model / flops.computed)


def test_layouts_need_the_same_model_flops_and_packing_computes_less(task):
    batch = _batch(task, "pair", 12)
    dims = F.Dims(layers=12, embed=768, ffn=3072, vocab=50265, region_feature_dim=synthetic_corpora.FEATURE_DIM,
                  num_region_classes=synthetic_corpora.NUM_CLASSES)
    pad = task.source_dictionary.pad()
    packed, padded = (F.cmcl_passes(dims, batch["cmcl"], pad, layout) for layout in F.LAYOUTS)
    assert packed.total.model == padded.total.model
    assert packed.total.computed < padded.total.computed
    assert 0 < padded.duplicates < padded.total.computed - padded.total.model
    assert packed.duplicates == 0 and 0 <= packed.padding_share < padded.padding_share
    with pytest.raises(ValueError, match="layout 'flat'"):
        F.cmcl_passes(dims, batch["cmcl"], pad, "flat")
    assert np.isclose(sum(p.computed for p in packed.parts.values()), packed.total.computed)
