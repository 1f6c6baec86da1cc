"""A real ``fairseq-train --user-dir unimo_plugin`` run of unimo_tiny, and its checkpoint reloads."""
import argparse
import re

import pytest
import torch
from fairseq import checkpoint_utils, utils

from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli
from unimo_plugin.testing.toy_text import write_toy_corpus


@pytest.mark.slow
def test_fairseq_train_masked_lm_and_reload(tmp_path):
    write_toy_corpus(tmp_path / "train.txt", 1500, seed=0)
    write_toy_corpus(tmp_path / "valid.txt", 100, seed=1)
    run_cli([fairseq_bin("fairseq-preprocess"), "--only-source", "--trainpref", tmp_path / "train.txt",
             "--validpref", tmp_path / "valid.txt", "--destdir", tmp_path / "bin", "--workers", "1"])
    save_dir = tmp_path / "ckpt"
    proc = run_cli([
        fairseq_bin("fairseq-train"), tmp_path / "bin", "--user-dir", f"{REPO_ROOT}/unimo_plugin",
        "--task", "masked_lm", "--arch", "unimo_tiny", "--criterion", "masked_lm",
        "--sample-break-mode", "complete", "--tokens-per-sample", "32", "--max-tokens", "2048",
        "--optimizer", "adam", "--lr", "5e-4", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "10",
        "--max-update", "40", "--log-format", "simple", "--cpu", "--seed", "1",
        "--save-dir", save_dir, "--no-epoch-checkpoints",
    ])
    valid_losses = [float(x) for x in re.findall(r"valid on 'valid' subset \| loss ([\d.]+)", proc.stderr + proc.stdout)]
    assert len(valid_losses) >= 2 and valid_losses[-1] < valid_losses[0] - 0.5, valid_losses

    utils.import_user_module(argparse.Namespace(user_dir=f"{REPO_ROOT}/unimo_plugin"))
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([str(save_dir / "checkpoint_last.pt")])
    model = models[0].eval()
    assert type(model).__name__ == "UnimoModel" and cfg.model.encoder_layers == 4
    saved = torch.load(save_dir / "checkpoint_last.pt")["model"]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[name])
    tokens = task.source_dictionary.encode_line("a red circle is above a blue star .", add_if_not_exist=False)
    logits, _ = model(torch.cat([torch.tensor([task.source_dictionary.bos()]), tokens])[None].long())
    assert torch.isfinite(logits).all()
