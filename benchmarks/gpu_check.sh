#!/usr/bin/env bash
# GPU figures for docs/benchmarks.md, in one go (about 4-5 minutes on an H200):
#   1. benchmarks/gpu_bench.py: updates/s, tokens+regions/s, peak memory and MFU of unimo_base (36 and 100
#      regions, bf16 and fp16) beside fairseq's roberta_base (bf16, fp16), and the largest batch of unimo_large
#      with --checkpoint-activations at 100 regions (bf16) with its MFU, all through fairseq's Trainer;
#   2. the documented bf16 command: fairseq-hydra-train with the unimo_base config and
#      common.fp16=false common.bf16=true common.tpu=false, 40 updates on the 100-region data.
#
#   bash benchmarks/gpu_check.sh              # on a machine with a GPU
#   bash benchmarks/gpu_check.sh --dry-run    # the same steps on the CPU, tiny models and data (about a minute on 2 cores)
#
# Python: $PYTHON (default python3) must import torch; fairseq, hydra-core, omegaconf, antlr4 and bitarray are
# installed from .whl/ into /tmp/site when it cannot import fairseq (benchmarks/gpu_wheels.sh downloads them on
# a machine with network access, for a GPU machine without). WORK (default: a new temporary directory) keeps
# the synthetic data and logs; PEAK_TFLOPS overrides the GPU's dense bf16/fp16 peak.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "import fairseq" 2>/dev/null; then
    ls .whl/*.whl > /dev/null || { echo "fairseq is not importable and .whl/ holds no wheels: run benchmarks/gpu_wheels.sh"; exit 1; }
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi

if [ "${1:-}" = "--dry-run" ]; then
    DEVICE=(--device cpu --tiny); CONFIG=unimo_tiny; FEATURES=64; HYDRA_DEVICE=(common.cpu=true); UPDATES=4; LOG=1
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
else
    DEVICE=(--device cuda); CONFIG=unimo_base; FEATURES=2048; HYDRA_DEVICE=(); UPDATES=40; LOG=10
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
"$PY" -c "import torch, fairseq; print(f'torch {torch.__version__}, fairseq {fairseq.__version__}')" 2>/dev/null

echo "== 1. benchmarks/gpu_bench.py (log: $WORK/gpu_bench.log)"
"$PY" benchmarks/gpu_bench.py --work "$WORK" "${DEVICE[@]}" 2> "$WORK/gpu_bench.log" \
    || { tail -40 "$WORK/gpu_bench.log"; exit 1; }

echo "== 2. the documented bf16 command, $UPDATES updates (log: $WORK/hydra_bf16.log)"
# python -m fairseq_cli.hydra_train is fairseq-hydra-train (the console script may not be on PATH)
"$PY" -m fairseq_cli.hydra_train --config-dir unimo_plugin/config/pretrain --config-name "$CONFIG" \
    task.data="$WORK/data100" common.user_dir="$PWD/unimo_plugin" \
    common.fp16=false common.bf16=true common.tpu=false "${HYDRA_DEVICE[@]}" \
    model.region_feature_dim="$FEATURES" distributed_training.distributed_world_size=1 \
    optimization.max_update="$UPDATES" lr_scheduler.warmup_updates=10 common.log_interval="$LOG" \
    dataset.disable_validation=true checkpoint.no_save=true hydra.run.dir="$WORK/hydra" \
    > "$WORK/hydra_bf16.log" 2>&1 || { tail -40 "$WORK/hydra_bf16.log"; exit 1; }
"$PY" - "$WORK/hydra_bf16.log" <<'EOF'
import math, re, sys
text = open(sys.argv[1]).read()
assert "done training" in text, "the bf16 run did not finish"
assert "'bf16': True" in text and "'tpu': False" in text, "bf16 was off (or tpu on)"
for line in re.findall(r"train_inner.*", text):
    fields = dict(re.findall(r"(num_updates|loss|ups|gb_free)=([0-9.]+)", line))
    print("  " + "  ".join(f"{k} {fields[k]}" for k in ("num_updates", "loss", "ups", "gb_free") if k in fields))
losses = [float(v) for v in re.findall(r"train_inner.*?loss=([0-9.]+)", text)]
assert losses and all(math.isfinite(v) for v in losses), "no finite training loss"
print("bf16 run: trained (fp32 master weights and fp32 losses: tests/training/test_bf16_training.py)")
EOF
