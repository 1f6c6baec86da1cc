"""The YAML pretraining configs: base/large/tiny fit the dataclasses and take their sizes from the
architecture they name, as fairseq-hydra-train resolves it; tiny runs through fairseq-hydra-train."""
import os
from argparse import Namespace

import pytest
import torch
from fairseq import models
from fairseq.dataclass.initialize import add_defaults
from omegaconf import OmegaConf

from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterionConfig
from unimo_plugin.models.unimo import UnimoConfig, UnimoModel
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig
from unimo_plugin.tasks.unimo_seq2seq import UnimoSeq2seqConfig, UnimoSeq2seqTask
from unimo_plugin.testing import synthetic_corpora as pretrain_data
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli
from unimo_plugin.testing.tiny_models import make_dictionary

CONFIG_DIR = os.path.join(REPO_ROOT, "unimo_plugin", "config", "pretrain")
SIZES = ("encoder_layers", "encoder_embed_dim", "encoder_ffn_embed_dim", "encoder_attention_heads", "max_positions")
PAPER = {"unimo_base": (12, 768, 3072, 12, 512), "unimo_large": (24, 1024, 4096, 16, 512),
         "unimo_tiny": (4, 128, 512, 4, 256)}  # tiny: ours


def hydra_model_config(model_section):
    """What fairseq-hydra-train makes of a config's model section before the model is built: the
    dataclass's defaults filled in (``add_defaults``) for the model an architecture name belongs to."""
    cfg = OmegaConf.create({"model": OmegaConf.to_container(model_section)})
    add_defaults(cfg)
    return cfg.model


@pytest.mark.parametrize("name", list(PAPER))
def test_configs_fit_the_dataclasses(name):
    cfg = OmegaConf.load(os.path.join(CONFIG_DIR, f"{name}.yaml"))
    merged = {}
    for section, schema in (("model", UnimoConfig), ("task", UnimoPretrainConfig),
                            ("criterion", UnimoPretrainCriterionConfig)):
        values = {k: v for k, v in cfg[section].items_ex(resolve=False) if k not in ("_name", "data")}
        merged[section] = OmegaConf.merge(OmegaConf.structured(schema), values)  # unknown keys, bad types raise
    assert merged["task"].mask_prob == 0.15 and merged["task"].region_mask_prob == 0.15


@pytest.mark.parametrize("name", list(PAPER))
def test_configs_take_their_sizes_from_the_architecture(name, monkeypatch):
    section = OmegaConf.load(os.path.join(CONFIG_DIR, f"{name}.yaml")).model
    assert section._name == name and not set(SIZES) & set(section), "sizes are written in the architecture only"
    model_cfg = hydra_model_config(section)
    assert all(model_cfg[size] is None for size in SIZES)  # the dataclass leaves them to the architecture
    monkeypatch.setattr(UnimoModel, "build_model", classmethod(lambda cls, cfg, task: cfg))  # no 24 x 1024 model
    built = models.build_model(model_cfg, task=None)  # fairseq applies the architecture here
    architecture = Namespace()
    models.ARCH_CONFIG_REGISTRY[name](architecture)
    assert tuple(built[size] for size in SIZES) == tuple(getattr(architecture, size) for size in SIZES) == PAPER[name]


@pytest.mark.parametrize("built_in", ["hydra", "code"])
def test_sizes_no_architecture_sets_are_the_base_architectures(built_in):
    given = dict(encoder_layers=2, region_feature_dim=12)
    cfg = hydra_model_config(OmegaConf.create({"_name": "unimo", **given})) if built_in == "hydra" \
        else UnimoConfig(**given)
    model = UnimoModel.build_model(cfg, Namespace(source_dictionary=make_dictionary()))
    assert len(model.layers) == 2 and model.cfg.encoder_embed_dim == 768 and model.max_positions() == 512


def test_limits_are_checked_against_the_architectures_sizes(tmp_path):
    """unimo_seq2seq's limits meet the sizes that fairseq applies only in building: a source and a target
    of 300 positions each (restarting), or together (continuing)."""
    make_dictionary().save(str(tmp_path / "dict.txt"))
    for source, target, positions, need in ((300, 100, "restart", 300), (200, 100, "continue", 300)):
        task = UnimoSeq2seqTask.setup_task(UnimoSeq2seqConfig(data=str(tmp_path), bpe_record="none",
                                                              max_source_positions=source, max_target_positions=target))
        model_cfg = hydra_model_config(OmegaConf.create({"_name": "unimo_tiny", "encoder_layers": 1,
                                                         "target_positions": positions}))
        with pytest.raises(ValueError, match=f"need {need} text positions with --target-positions {positions}; the "
                                             "model has --max-positions 256"):
            task.build_model(model_cfg)


@pytest.mark.slow
def test_tiny_config_trains_with_fairseq_hydra_train(tmp_path):
    data = pretrain_data.build(str(tmp_path / "data"), pretrain_data.dictionary())
    run_cli([fairseq_bin("fairseq-hydra-train"), "--config-dir", CONFIG_DIR, "--config-name", "unimo_tiny",
             f"task.data={data}", f"common.user_dir={REPO_ROOT}/unimo_plugin",
             f"model.region_feature_dim={pretrain_data.FEATURE_DIM}",
             f"model.num_region_classes={pretrain_data.NUM_CLASSES}", "optimization.max_update=4",
             f"checkpoint.save_dir={tmp_path}/ckpt", f"hydra.run.dir={tmp_path}/hydra"])
    checkpoint = torch.load(tmp_path / "ckpt" / "checkpoint_last.pt", weights_only=False)
    assert tuple(checkpoint["cfg"]["model"][size] for size in SIZES) == PAPER["unimo_tiny"]
    weights = checkpoint["model"]
    assert weights["text_embeddings.embed_tokens.weight"].shape[1] == 128
    assert "layers.3.fc1.weight" in weights and "layers.4.fc1.weight" not in weights
