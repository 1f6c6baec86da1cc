"""bf16 training through fairseq: ``fairseq-hydra-train ... common.bf16=true common.tpu=false``.

fairseq 0.12's argparse path (``fairseq-train --bf16``) turns on ``--tpu`` as well and then needs
torch_xla; its hydra path keeps ``common.tpu`` as given. With ``common.bf16`` fairseq's Trainer casts
the model (and the criterion) to bfloat16 and wraps the optimizer in its FP16Optimizer with one fp32
master copy per parameter and no loss scaling; every float32 tensor of a batch is cast to bfloat16.
Here on the CPU (``common.cpu=true``): the Trainer does the same on a GPU, where it only moves the
model and batches to the device first.
"""
import os

import pytest
import torch
from fairseq import optim, options, tasks, utils
from fairseq.dataclass.initialize import add_defaults, hydra_init
from fairseq.dataclass.utils import omegaconf_no_object_check
from fairseq.trainer import Trainer
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion
from unimo_plugin.testing import synthetic_corpora as pretrain_data
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli

CONFIG_DIR = os.path.join(REPO_ROOT, "unimo_plugin", "config", "pretrain")
BF16 = ["common.fp16=false", "common.bf16=true", "common.tpu=false"]


def _overrides(data, tmp_path):
    return [f"task.data={data}", f"common.user_dir={REPO_ROOT}/unimo_plugin",
            f"model.region_feature_dim={pretrain_data.FEATURE_DIM}",
            f"model.num_region_classes={pretrain_data.NUM_CLASSES}", f"checkpoint.save_dir={tmp_path}/ckpt"]


def hydra_config(name, overrides):
    """The config fairseq-hydra-train runs for ``--config-name name`` and ``overrides``."""
    hydra_init(name)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(name, overrides=overrides)
    add_defaults(cfg)
    with omegaconf_no_object_check():
        cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    OmegaConf.set_struct(cfg, True)
    return cfg


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return pretrain_data.build(str(tmp_path_factory.mktemp("bf16") / "data"), pretrain_data.dictionary())


def test_argparse_bf16_implies_tpu():
    """Why the documented bf16 command is fairseq-hydra-train's: fairseq-train's --bf16 sets --tpu."""
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, ["DATA", "--arch", "roberta_base", "--bf16"])
    assert args.bf16 and args.tpu


def test_hydra_bf16_trains_bf16_weights_from_fp32_masters_with_fp32_losses(data, tmp_path, monkeypatch):
    cfg = hydra_config("unimo_tiny", _overrides(data, tmp_path) + BF16)
    assert cfg.common.bf16 and not cfg.common.tpu and not cfg.common.fp16
    utils.import_user_module(cfg.common)
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train")
    model, criterion = task.build_model(cfg.model), task.build_criterion(cfg.criterion)
    trainer = Trainer(cfg, task, model, criterion)
    assert {p.dtype for p in trainer.model.parameters()} == {torch.bfloat16}
    assert isinstance(trainer.optimizer, optim.FP16Optimizer) and trainer.optimizer.scaler is None
    masters = trainer.optimizer.fp32_params  # one float32 copy per parameter (bf16 does not flatten)
    assert len(masters) == len(list(trainer.model.parameters())) and {p.dtype for p in masters} == {torch.float32}

    seen = []
    forward = UnimoPretrainCriterion.forward

    def spy(self, model, sample, reduce=True):
        loss, size, log = forward(self, model, sample, reduce)
        floats = {t.dtype for t in sample["net_input"].values() if torch.is_tensor(t) and t.is_floating_point()}
        seen.append((sample["modality"], loss.dtype, floats, {log[f"{k}_loss"].dtype for k in ("mlm", "cmcl")}))
        return loss, size, log

    monkeypatch.setattr(UnimoPretrainCriterion, "forward", spy)
    itr = task.get_batch_iterator(dataset=task.dataset("train"), max_tokens=cfg.dataset.max_tokens,
                                  max_sentences=8, seed=1).next_epoch_itr(shuffle=False)
    batches = {}
    for batch in itr:
        batches.setdefault(batch["modality"], batch)
    before = [p.detach().clone() for p in masters]
    for modality in ("pair", "image", "text"):
        log = trainer.train_step([batches[modality]])
        assert log is not None and torch.isfinite(torch.tensor(float(log["loss"])))
    assert {s[0] for s in seen} == {"pair", "image", "text"}
    for modality, loss_dtype, floats, logged in seen:
        assert loss_dtype == torch.float32 and logged == {torch.float32}, modality  # losses in fp32
        assert floats <= {torch.bfloat16}, modality  # region features and boxes cast to bf16
    assert any(not torch.equal(b, p) for b, p in zip(before, masters))  # the fp32 masters moved
    for weight, master in zip(trainer.model.parameters(), masters):
        assert torch.equal(weight.data, master.data.to(torch.bfloat16))  # the model holds the rounded masters


@pytest.mark.slow
def test_documented_bf16_command_trains(data, tmp_path):
    """fairseq-hydra-train with the bf16 overrides, as docs/pretraining.md gives it (on the CPU)."""
    run_cli([fairseq_bin("fairseq-hydra-train"), "--config-dir", CONFIG_DIR, "--config-name", "unimo_tiny",
             *_overrides(data, tmp_path), *BF16, "optimization.max_update=4", f"hydra.run.dir={tmp_path}/hydra"])
    checkpoint = torch.load(tmp_path / "ckpt" / "checkpoint_last.pt", weights_only=False)
    common = checkpoint["cfg"]["common"]
    assert common["bf16"] and not common["tpu"] and not common["fp16"]
    assert checkpoint["optimizer_history"][-1]["num_updates"] == 4
    state = checkpoint["last_optimizer_state"]["state"]
    assert {t.dtype for s in state.values() for t in s.values() if torch.is_tensor(t) and t.dim()} == {torch.float32}
