"""``benchmarks/gpu_check.sh --dry-run``: the GPU script's every step (fairseq's Trainer on unimo_base's
and roberta_base's command lines in bf16 and fp16, the unimo_large batch search, the documented
fairseq-hydra-train bf16 command) on the CPU with tiny models, so that the one run a GPU gets works."""
import os
import subprocess
import sys

import pytest

from unimo_plugin.testing.commands import REPO_ROOT


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_in_its_cpu_dry_run(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, WORK=str(tmp_path))
    run = subprocess.run(["bash", os.path.join(REPO_ROOT, "benchmarks", "gpu_check.sh"), "--dry-run"], env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    for line in ["unimo_base 36 regions bf16", "unimo_base 36 regions fp16", "unimo_base 100 regions bf16",
                 "unimo_base 100 regions fp16", "roberta_base (masked_lm) bf16", "roberta_base (masked_lm) fp16",
                 "largest batch that fit", "bf16 run: trained"]:
        assert line in run.stdout, run.stdout
    assert not [line for line in run.stdout.splitlines() if line.endswith(" out of memory")], run.stdout
