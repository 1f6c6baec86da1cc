"""fairseq-train --task unimo_pretrain end to end: every objective learns, validation, checkpoints,
tensorboard, and a resumed run matches an uninterrupted one."""
import glob
import re

import pytest

from unimo_plugin.testing import synthetic_corpora as pretrain_data
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli

OBJECTIVES = ("mlm", "seq2seq", "mrm_feat", "mrm_cls", "cmcl")


def train_command(data, save_dir, max_update, *extra):
    return [
        fairseq_bin("fairseq-train"), data, "--user-dir", f"{REPO_ROOT}/unimo_plugin",
        "--task", "unimo_pretrain", "--arch", "unimo_tiny", "--criterion", "unimo_pretrain",
        "--region-feature-dim", str(pretrain_data.FEATURE_DIM), "--num-region-classes", str(pretrain_data.NUM_CLASSES),
        "--tokens-per-sample", "64", "--max-tokens", "1500", "--max-regions", "600",
        "--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
        "--optimizer", "adam", "--lr", "1e-3", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "5",
        "--dropout", "0.0", "--attention-dropout", "0.0",
        "--max-update", str(max_update), "--log-format", "simple", "--log-interval", "1", "--cpu", "--seed", "7",
        "--save-dir", save_dir, "--no-epoch-checkpoints", "--num-workers", "0", *extra,
    ]


def valid_metrics(output):
    rows = re.findall(r"valid on 'valid' subset \| (.*)", output)
    return [{k: float(v) for k, v in re.findall(r"(\w+) ([-\d.]+)", row)} for row in rows]


def inner_losses(output):
    return {int(u): float(loss) for loss, u in re.findall(r"train_inner .*? loss=([\d.]+),.*?num_updates=(\d+)", output)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain-cli")
    return pretrain_data.build(str(root / "data"), pretrain_data.dictionary(), num_images=40)


@pytest.mark.slow
def test_every_objective_learns_with_validation_checkpoints_and_tensorboard(data, tmp_path):
    # equal weights: on this 2-layer model and 40 images, CMCL at its default 10 holds the region class
    # loss flat for the 240 updates
    proc = run_cli(train_command(data, tmp_path / "ckpt", 240, "--tensorboard-logdir", tmp_path / "tb",
                                 "--validate-interval-updates", "60", "--validate-interval", "1000",
                                 "--cmcl-weight", "1"))
    valid = valid_metrics(proc.stdout + proc.stderr)
    assert len(valid) >= 4, valid
    for name in OBJECTIVES:  # every validation loss falls below its first value (they are noisy step to step)
        losses = [v[f"{name}_loss"] for v in valid]
        assert min(losses[1:]) < losses[0], (name, losses)
    assert (tmp_path / "ckpt" / "checkpoint_last.pt").exists() and (tmp_path / "ckpt" / "checkpoint_best.pt").exists()

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    for subset in ("train_inner", "valid"):
        events = glob.glob(str(tmp_path / "tb" / subset / "events.*"))
        assert events, subset
        acc = EventAccumulator(events[0])
        acc.Reload()
        tags = set(acc.Tags()["scalars"])
        assert {f"{name}_loss" for name in OBJECTIVES} <= tags, (subset, tags)
        assert "cmcl_tau" in tags and "cmcl_acc" in tags


@pytest.mark.slow
def test_resumed_run_matches_uninterrupted_run(data, tmp_path):
    def logs(proc):
        return proc.stdout + proc.stderr

    full = inner_losses(logs(run_cli(train_command(data, tmp_path / "full", 14))))
    run_cli(train_command(data, tmp_path / "resumed", 9, "--save-interval-updates", "3"))
    resumed = logs(run_cli(train_command(data, tmp_path / "resumed", 14, "--save-interval-updates", "3")))
    assert "Loaded checkpoint" in resumed
    continued = inner_losses(resumed)
    assert sorted(continued) == list(range(10, 15)), continued
    for update, loss in continued.items():
        assert loss == pytest.approx(full[update], abs=1e-3), (update, loss, full[update])
