#!/usr/bin/env bash
# Wheels for a GPU machine that has Python 3.12 and PyTorch but neither network access nor fairseq: what
# unimo_plugin needs beyond such a machine's packages, into .whl/ (ignored by git; carry it there).
# Run here, on a machine with network access; benchmarks/gpu_check.sh installs them there into /tmp/site.
#   bash benchmarks/gpu_wheels.sh [PYTHON_VERSION (default 3.12)]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VERSION=${1:-3.12}
mkdir -p .whl
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
           --platform manylinux1_x86_64)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$VERSION" --implementation cp \
    "${PLATFORMS[@]}" -d .whl ve-fairseq==0.12.3 hydra-core==1.3.8 omegaconf==2.3.1 bitarray==3.12.3
# antlr4-python3-runtime (omegaconf's grammar runtime) is published as source only: a pure-Python wheel built here
"$PY" -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3
ls -l .whl
