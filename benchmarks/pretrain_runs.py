"""What the pretraining benchmarks (cmcl_reliability.py, cmcl_ablation.py) share: the demo's pretraining
options, one fairseq-train run on one thread with a JSON log, and reading that log back."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN = os.path.join(REPO, "unimo_plugin")

# scripts/demo.sh's pretraining options, less data, seed, schedule length and output
DEMO = ("--task unimo_pretrain --criterion unimo_pretrain --arch unimo_tiny --pooling mean --region-feature-dim 512 "
        "--max-regions-per-image 10 --modality-ratios text:1,image:1,pair:4 --batch-size 64 --max-tokens 8000 "
        "--max-regions 4000 --cmcl-negatives 2 --cmcl-retrieved-images 0 --cmcl-retrieved-texts 0 "
        "--optimizer adam --adam-betas (0.9,0.98) --lr 1e-3 --lr-scheduler inverse_sqrt --warmup-updates 100 "
        "--clip-norm 1.0").split()


def single_thread_env():
    """The environment of a run: one thread, and this repository's unimo_plugin first on the path."""
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                PYTHONPATH=os.pathsep.join([REPO] + [p for p in [os.environ.get("PYTHONPATH")] if p]))


def train_command(data, options, updates, seed, save, log_interval):
    """fairseq-train with ``options`` for ``updates`` updates, logging JSON every ``log_interval``, no
    validation, only the last checkpoint (without optimizer state) in ``save``."""
    return [sys.executable, "-m", "fairseq_cli.train", data, "--user-dir", PLUGIN, *options,
            "--max-update", str(updates), "--seed", str(seed), "--log-format", "json",
            "--log-interval", str(log_interval), "--disable-validation", "--cpu", "--num-workers", "0",
            "--save-dir", save, "--no-epoch-checkpoints", "--save-interval", "1000000", "--no-save-optimizer-state"]


def train(command, save, log="train.log"):
    """Run ``command`` (``train_command``) with its output in ``save/log``, unless that log is already
    complete (reaches the command's --max-update); returns the log's path."""
    log = os.path.join(save, log)
    updates = int(command[command.index("--max-update") + 1])
    if not trained(log, updates, int(command[command.index("--log-interval") + 1])):
        os.makedirs(save, exist_ok=True)
        with open(os.path.join(save, "command.txt"), "w") as f:
            f.write(" ".join(command) + "\n")
        with open(log, "w") as out:
            subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=single_thread_env(), check=True)
    return log


def log_records(lines):
    """The JSON training records (``num_updates`` in them) of a fairseq --log-format json log."""
    for line in lines:
        start = line.find("{")
        if start >= 0 and '"num_updates"' in line:
            try:
                yield json.loads(line[start:])
            except json.JSONDecodeError:
                continue


def read_log(log):
    with open(log) as f:
        return list(log_records(f))


def trained(log, updates, interval):
    """Whether ``log`` is of a finished run of exactly ``updates`` updates (its last logged update, logged
    every ``interval``) that left its checkpoint_last.pt beside it."""
    if not (os.path.exists(log) and os.path.exists(os.path.join(os.path.dirname(log), "checkpoint_last.pt"))):
        return False
    last = max((int(float(r["num_updates"])) for r in read_log(log)), default=0)
    return updates - interval < last <= updates
