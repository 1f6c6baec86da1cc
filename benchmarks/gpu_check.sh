#!/usr/bin/env bash
# GPU figures for docs/benchmarks.md: mixed-precision `fairseq-train` of unimo_base (~50 updates) on the sample
# data (image-text pairs, images and text, all objectives), beside fairseq's own roberta_base masked LM
# on the sample text corpus. Prints updates/s (fairseq's final `ups`) and the peak GPU memory in use
# (nvidia-smi, sampled every 200 ms). Run on a machine with a GPU: bash benchmarks/gpu_check.sh
# Precisions: --fp16 (fp16 weights, fp32 master copy) and --amp (fp32 weights, fp16 autocast).
# fairseq 0.12's --bf16 is not among them: it implies --tpu and fails on a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-sample_data}
UPDATES=${UPDATES:-50}
WORKERS=${WORKERS:-8}
WORK=${WORK:-$(mktemp -d)}
[ -f "$DATA/dict.txt" ] || python data_scripts/make_sample_data.py --out "$DATA"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

# fairseq's masked_lm reads DIR/dict.txt and DIR/train.bin: the sample text corpus, as is.
mkdir -p "$WORK/text"
for f in dict.txt text/train.bin text/train.idx text/valid.bin text/valid.idx; do
    ln -sf "$(realpath "$DATA/$f")" "$WORK/text/$(basename "$f")"
done

run() {  # name, then fairseq-train arguments
    local name=$1; shift
    name=${name// /_}
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$WORK/$name.mem" &
    local smi=$!
    fairseq-train "$@" --max-update "$UPDATES" --log-format simple --log-interval 10 --no-save \
        --disable-validation --seed 1 --num-workers "$WORKERS" > "$WORK/$name.log" 2>&1 || { tail -20 "$WORK/$name.log"; kill $smi; exit 1; }
    kill $smi
    local summary peak
    summary=$(grep "| train | epoch" "$WORK/$name.log" | tail -1)
    peak=$(sort -n "$WORK/$name.mem" | tail -1)
    printf "%-22s updates/s %7s  text tokens/update %7s  samples/update %6s  peak GPU memory %6s MiB\n" "$name" \
        "$(grep -o '| ups [0-9.]*' <<< "$summary" | awk '{print $3}')" \
        "$(grep -o '| wpb [0-9.]*' <<< "$summary" | awk '{print $3}')" \
        "$(grep -o '| bsz [0-9.]*' <<< "$summary" | awk '{print $3}')" "$peak"
}

for precision in fp16 amp; do
    run "unimo_base $precision" "$DATA" --user-dir unimo_plugin --task unimo_pretrain --arch unimo_base \
        --criterion unimo_pretrain --region-feature-dim 512 --max-tokens 8192 --max-regions 4096 \
        --optimizer adam --lr 5e-5 --lr-scheduler polynomial_decay --warmup-updates 10 \
        --total-num-update "$UPDATES" --"$precision"
    run "roberta_base $precision" "$WORK/text" --task masked_lm --arch roberta_base --criterion masked_lm \
        --sample-break-mode complete --tokens-per-sample 512 --max-tokens 8192 \
        --optimizer adam --lr 5e-5 --lr-scheduler polynomial_decay --warmup-updates 10 \
        --total-num-update "$UPDATES" --"$precision"
done
