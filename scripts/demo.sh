#!/usr/bin/env bash
# The README demo: a real fairseq-train run of unimo_tiny on a small generated text corpus
# (masked LM through fairseq's own masked_lm task), on the CPU, in about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-demo_work}
mkdir -p "$WORK"

python - "$WORK" <<'PY'
import random, sys
colors = "red green blue yellow purple orange".split()
shapes = "circle square triangle star".split()
relations = ["left of", "right of", "above", "below"]
for split, n, seed in (("train", 4000, 0), ("valid", 200, 1)):
    rng = random.Random(seed)
    with open(f"{sys.argv[1]}/{split}.txt", "w") as f:
        for _ in range(n):
            f.write(f"a {rng.choice(colors)} {rng.choice(shapes)} is {rng.choice(relations)} "
                    f"a {rng.choice(colors)} {rng.choice(shapes)} .\n")
PY

fairseq-preprocess --only-source --trainpref "$WORK/train.txt" --validpref "$WORK/valid.txt" \
    --destdir "$WORK/text-bin" --workers 2

fairseq-train "$WORK/text-bin" --user-dir unimo_plugin --task masked_lm --arch unimo_tiny \
    --criterion masked_lm --sample-break-mode complete --tokens-per-sample 32 --max-tokens 2048 \
    --optimizer adam --lr 5e-4 --lr-scheduler inverse_sqrt --warmup-updates 20 --max-update 150 \
    --log-format simple --log-interval 25 --cpu --seed 1 \
    --save-dir "$WORK/checkpoints" --no-epoch-checkpoints
