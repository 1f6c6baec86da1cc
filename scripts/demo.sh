#!/usr/bin/env bash
# The README demo, on the CPU: build the embedded sample data with the real data scripts, pretrain
# unimo_tiny on it with every objective (masked LM, seq2seq LM, masked region modelling, CMCL) for a
# few minutes through fairseq-train, then measure zero-shot image<->text retrieval on the held-out
# test split with the CMCL similarity, beside the chance level.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-sample_data}
WORK=${WORK:-demo_work}
UPDATES=${UPDATES:-1200}

python data_scripts/make_sample_data.py --out "$DATA"

rm -rf "$WORK/checkpoints"
fairseq-train "$DATA" --user-dir unimo_plugin --task unimo_pretrain --criterion unimo_pretrain \
    --arch unimo_tiny --region-feature-dim 512 --max-regions-per-image 10 \
    --modality-ratios text:1,image:1,pair:4 --batch-size 64 --max-tokens 8000 --max-regions 4000 \
    --optimizer adam --adam-betas '(0.9,0.98)' --lr 1e-3 --lr-scheduler inverse_sqrt --warmup-updates 100 \
    --clip-norm 1.0 --max-update "$UPDATES" --validate-interval-updates 400 --validate-interval 1000 \
    --log-format simple --log-interval 100 --cpu --seed 1 --num-workers 1 \
    --save-dir "$WORK/checkpoints" --no-epoch-checkpoints --tensorboard-logdir "$WORK/tensorboard"

python -m unimo_plugin.evaluation.retrieval "$WORK/checkpoints/checkpoint_last.pt" --data "$DATA" \
    --split test --max-regions 10 --ks 1 5
