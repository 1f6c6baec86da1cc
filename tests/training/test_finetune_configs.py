"""The fine-tuning YAML configs (unimo_plugin/config/finetune): one per paper setup and size, every
section valid for the dataclass fairseq-hydra-train merges it into, the release's values where the
release states them, and one config trained through fairseq-hydra-train."""
import dataclasses
import glob
import os

import pytest
import torch
from fairseq.criterions import CRITERION_DATACLASS_REGISTRY
from fairseq.dataclass.configs import FairseqConfig
from fairseq.models import ARCH_MODEL_NAME_REGISTRY, MODEL_DATACLASS_REGISTRY
from fairseq.optim import OPTIMIZER_DATACLASS_REGISTRY
from fairseq.optim.lr_scheduler import LR_SCHEDULER_DATACLASS_REGISTRY
from fairseq.tasks import TASK_DATACLASS_REGISTRY
from omegaconf import OmegaConf

import unimo_plugin  # noqa: F401  (registers the plugin)
from unimo_plugin.testing import synthetic_corpora as pretrain_data
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli

CONFIG_DIR = os.path.join(REPO_ROOT, "unimo_plugin", "config", "finetune")
SETUPS = ("coco_caption", "flickr30k_retrieval", "snli_ve", "vqa", "cnndm", "gigaword", "squad_qg", "coqa", "sst2",
          "mnli", "cola", "stsb")
REGISTRIES = {"task": TASK_DATACLASS_REGISTRY, "criterion": CRITERION_DATACLASS_REGISTRY,
              "optimizer": OPTIMIZER_DATACLASS_REGISTRY, "lr_scheduler": LR_SCHEDULER_DATACLASS_REGISTRY}
FAIRSEQ_SECTIONS = {f.name: f.type for f in dataclasses.fields(FairseqConfig) if dataclasses.is_dataclass(f.type)}
CONFIGS = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(CONFIG_DIR, "*.yaml")))

# (config, dotted key) -> the release's value (its script/*/model_conf and run.sh)
RELEASE = {
    ("coco_caption_base", "optimization.lr"): [7e-06], ("coco_caption_base", "dataset.batch_size"): 4,
    ("coco_caption_base", "task.adv_mode"): "villa", ("coco_caption_base", "task.adv_steps"): 4,
    ("coco_caption_base", "task.adv_lr"): 0.03, ("coco_caption_base", "task.adv_max_norm"): 0,
    ("coco_caption_base", "task.object_tag_threshold"): 0.35, ("coco_caption_base", "optimization.max_epoch"): 20,
    ("coco_caption_large", "task.adv_lr"): 0.05, ("coco_caption_large", "task.adv_max_norm"): 0.4,
    ("coco_caption_large", "task.object_tag_threshold"): 0.2, ("coco_caption_large", "dataset.batch_size"): 2,
    ("coco_caption_large", "optimization.max_epoch"): 10, ("coco_caption_base", "generation.lenpen"): 0.6,
    ("snli_ve_base", "optimizer.adam_betas"): "(0.9,0.999)", ("snli_ve_base", "optimization.lr"): [1e-05],
    ("snli_ve_base", "dataset.batch_size"): 12, ("snli_ve_large", "dataset.batch_size"): 4,
    ("snli_ve_base", "task.head"): "release", ("snli_ve_base", "task.adv_mode"): "villa",
    ("flickr30k_retrieval_base", "task.num_wrong_images"): 10, ("flickr30k_retrieval_base", "task.num_wrong_captions"): 10,
    ("flickr30k_retrieval_base", "criterion.loss"): "circle", ("flickr30k_retrieval_base", "criterion.circle_margin"): 0.2,
    ("flickr30k_retrieval_base", "optimization.max_epoch"): 40, ("flickr30k_retrieval_large", "dataset.batch_size"): 2,
    ("cnndm_base", "optimization.lr"): [4e-05], ("cnndm_large", "optimization.lr"): [2e-05],
    ("cnndm_base", "task.max_source_positions"): 512, ("cnndm_base", "task.max_target_positions"): 128,
    ("cnndm_base", "task.block_word_trigrams"): True, ("cnndm_large", "generation.beam"): 6,
    ("gigaword_base", "dataset.batch_size"): 32, ("gigaword_base", "task.max_source_positions"): 128,
    ("squad_qg_base", "optimization.lr"): [1.25e-05], ("squad_qg_large", "optimization.lr"): [5e-06],
    ("coqa_base", "generation.beam"): 3, ("coqa_large", "optimization.lr"): [8e-06],
    ("sst2_base", "task.head"): "release", ("mnli_base", "optimizer.weight_decay"): 0.0,
    ("stsb_base", "task.pair_format"): "release",
}


def _load(name):
    return OmegaConf.load(os.path.join(CONFIG_DIR, f"{name}.yaml"))


def test_every_setup_has_a_base_and_a_large_config():
    assert CONFIGS == sorted(f"{setup}_{size}" for setup in SETUPS for size in ("base", "large"))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_section_fits_the_dataclass_it_is_merged_into(name):
    cfg = _load(name)
    for section in cfg:
        values = cfg[section]
        if section == "model":
            schema = MODEL_DATACLASS_REGISTRY[ARCH_MODEL_NAME_REGISTRY[values._name]]
        elif section in REGISTRIES:
            schema = REGISTRIES[section].get(values._name)
            if schema is None:  # a criterion registered without a dataclass takes no options
                assert set(values) == {"_name"}, (section, values)
                continue
        else:
            schema = FAIRSEQ_SECTIONS.get(section)
            assert schema is not None, f"{name}: no section {section!r} in fairseq's config"
        merged = OmegaConf.merge(OmegaConf.structured(schema), values)  # unknown keys and bad types raise
        assert merged is not None
    assert cfg.optimizer._name == "unimo_adam" and cfg.optimization.clip_norm == 1.0


@pytest.mark.parametrize("name", CONFIGS)
def test_derived_schedules_warm_up_for_six_percent(name):
    scheduler = _load(name).lr_scheduler
    if scheduler._name == "polynomial_decay":
        assert scheduler.warmup_updates == pytest.approx(0.06 * scheduler.total_num_update, abs=1)


def test_the_release_values():
    for (name, key), want in RELEASE.items():
        got = OmegaConf.select(_load(name), key)
        got = OmegaConf.to_container(got) if OmegaConf.is_config(got) else got
        assert got == want, (name, key, got, want)
    lr = _load("flickr30k_retrieval_base").optimization.lr  # 5e-6, x0.1 after epochs 24 and 32
    assert list(lr) == [5e-06] * 24 + [5e-07] * 8 + [5e-08]


@pytest.mark.slow
def test_the_caption_config_trains_with_fairseq_hydra_train(tmp_path):
    """coco_caption_base as a user runs it, shrunk by overrides to the synthetic corpora on the CPU:
    VILLA's rounds, unimo_adam's decay groups and the derived schedule through fairseq's trainer."""
    data = pretrain_data.build(str(tmp_path / "data"), pretrain_data.dictionary())
    run_cli([fairseq_bin("fairseq-hydra-train"), "--config-dir", CONFIG_DIR, "--config-name", "coco_caption_base",
             f"task.data={data}", f"common.user_dir={REPO_ROOT}/unimo_plugin", "common.cpu=true",
             "task.object_tags=null", "task.adv_steps=2", "model._name=unimo_tiny", "model.pretrained=null",
             "+model.encoder_layers=2", f"model.region_feature_dim={pretrain_data.FEATURE_DIM}",
             "distributed_training.distributed_world_size=1", "dataset.num_workers=0", "dataset.batch_size=4",
             "dataset.disable_validation=true", "optimization.max_update=3", "lr_scheduler.warmup_updates=1",
             "lr_scheduler.total_num_update=3", f"checkpoint.save_dir={tmp_path}/ckpt", f"hydra.run.dir={tmp_path}/hydra"])
    checkpoint = torch.load(tmp_path / "ckpt" / "checkpoint_last.pt", weights_only=False)
    assert checkpoint["cfg"]["task"]["adv_mode"] == "villa" and checkpoint["cfg"]["optimizer"]["_name"] == "unimo_adam"
    assert checkpoint["optimizer_history"][-1]["num_updates"] == 3
