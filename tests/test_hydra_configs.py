"""The YAML pretraining configs: base/large match the dataclasses, tiny runs through fairseq-hydra-train."""
import os

import pytest
from conftest import REPO_ROOT, fairseq_bin, run_cli
from omegaconf import OmegaConf

from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterionConfig
from unimo_plugin.models.unimo import UnimoConfig
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig
from unimo_plugin.testing import synthetic_corpora as pretrain_data

CONFIG_DIR = os.path.join(REPO_ROOT, "unimo_plugin", "config", "pretrain")


@pytest.mark.parametrize("name,layers,dim", [("unimo_base", 12, 768), ("unimo_large", 24, 1024), ("unimo_tiny", 4, 128)])
def test_configs_fit_the_dataclasses(name, layers, dim):
    cfg = OmegaConf.load(os.path.join(CONFIG_DIR, f"{name}.yaml"))
    merged = {}
    for section, schema in (("model", UnimoConfig), ("task", UnimoPretrainConfig),
                            ("criterion", UnimoPretrainCriterionConfig)):
        values = {k: v for k, v in cfg[section].items_ex(resolve=False) if k not in ("_name", "data")}
        merged[section] = OmegaConf.merge(OmegaConf.structured(schema), values)  # unknown keys, bad types raise
    assert merged["model"].encoder_layers == layers and merged["model"].encoder_embed_dim == dim
    assert merged["task"].mask_prob == 0.15 and merged["task"].region_mask_prob == 0.15


@pytest.mark.slow
def test_tiny_config_trains_with_fairseq_hydra_train(tmp_path):
    data = pretrain_data.build(str(tmp_path / "data"), pretrain_data.dictionary())
    run_cli([fairseq_bin("fairseq-hydra-train"), "--config-dir", CONFIG_DIR, "--config-name", "unimo_tiny",
             f"task.data={data}", f"common.user_dir={REPO_ROOT}/unimo_plugin",
             f"model.region_feature_dim={pretrain_data.FEATURE_DIM}",
             f"model.num_region_classes={pretrain_data.NUM_CLASSES}", "optimization.max_update=4",
             f"checkpoint.save_dir={tmp_path}/ckpt", f"hydra.run.dir={tmp_path}/hydra"])
    assert (tmp_path / "ckpt" / "checkpoint_last.pt").exists()
