#!/usr/bin/env bash
# Train the autoencoders behind issue 21 on 32 x 32 thumbnails of CBSD432 (whole scenes down
# to 1/8 crops: --task embed): the embedding sweep (each family with a 64-value code, the
# undercomplete one at 8-256 values; one global code vector per thumbnail: window 4 on the
# 4 x 4 last map), the generative VAE (the same design) and VQ-VAE (an 8 x 8 map of codes),
# and the VQ-VAE's code prior. Every run resumes where it stopped: rerun to continue, or
# raise a budget to extend it.
#   scripts/embed_models.sh [RUNS=runs/embed]   (in the background: setsid nohup ... &)
set -euo pipefail
runs=${1:-runs/embed}
data=${DATA:-../shared/data/CBSD432}
python=${PYTHON:-.venv/bin/python}
global='"widths": [16, 32, 64], "window": 4'   # 32 x 32 -> 4 x 4 x 64 -> one code vector

train() {  # NAME MINUTES MODEL ARGS
    "$python" -m aepipe.training.train --task embed --data "$data" --out "$runs/$1" \
        --minutes "$2" --steps 1000000 --model "$3" --model-args "$4" \
        --batch 64 --patch 32 --lr 2e-3 --val-every 250 >> "$runs/$1.log" 2>&1
}

mkdir -p "$runs"
for size in 64 16 256 32 128 8; do
    train "undercomplete-$size" 3 ae-undercomplete "{$global, \"code_channels\": $size}"
done
train denoising-64 3 ae-denoising "{$global, \"code_channels\": 64}"
train sparse-64 3 ae-sparse "{$global, \"code_channels\": 64}"
train contractive-64 3 ae-contractive "{$global, \"code_channels\": 64}"
train vae-64 14 ae-vae "{$global, \"latent_channels\": 64}"
train vqvae-8x8 12 ae-vqvae '{"widths": [16, 32], "num_codes": 256, "code_dim": 16}'
"$python" -m aepipe.training.prior "$runs/vqvae-8x8/last.pt" --data "$data" \
    --out "$runs/vqvae-8x8-prior" --minutes 6 >> "$runs/vqvae-8x8-prior.log" 2>&1
echo done > "$runs/done"
