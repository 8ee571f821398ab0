#!/usr/bin/env bash
# Train the autoencoders behind issue 21 on 32 x 32 thumbnails of CBSD432 (whole scenes down
# to 1/8 crops: --task embed): the embedding sweep (each family with a 64-value code, the
# undercomplete one at 16-256 values), the generative VAE and VQ-VAE, and the VQ-VAE's code
# prior. Every run resumes where it stopped: rerun to continue, or raise a budget to extend.
#   scripts/embed_models.sh [RUNS=runs/embed]   (in the background: setsid nohup ... &)
set -euo pipefail
runs=${1:-runs/embed}
data=${DATA:-../shared/data/CBSD432}
python=${PYTHON:-.venv/bin/python}
thumb='"widths": [16, 32, 64]'   # 32 x 32 -> a 4 x 4 code map: 16 values per code channel

train() {  # NAME MINUTES MODEL ARGS
    "$python" -m aepipe.training.train --task embed --data "$data" --out "$runs/$1" \
        --minutes "$2" --steps 1000000 --model "$3" --model-args "$4" \
        --batch 64 --patch 32 --lr 2e-3 --val-every 250 >> "$runs/$1.log" 2>&1
}

mkdir -p "$runs"
for channels in 4 1 16 2 8; do   # code size 16 x channels: 64, 16, 256, 32, 128
    train "undercomplete-$((16 * channels))" 5 ae-undercomplete "{$thumb, \"code_channels\": $channels}"
done
train denoising-64 5 ae-denoising "{$thumb, \"code_channels\": 4}"
train sparse-64 5 ae-sparse "{$thumb, \"code_channels\": 4}"
train contractive-64 5 ae-contractive "{$thumb, \"code_channels\": 4}"
train vae-64 12 ae-vae "{$thumb, \"latent_channels\": 4}"
train vqvae-8x8 12 ae-vqvae '{"widths": [16, 32], "num_codes": 256, "code_dim": 16}'
"$python" -m aepipe.training.prior "$runs/vqvae-8x8/last.pt" --data "$data" \
    --out "$runs/vqvae-8x8-prior" --minutes 6 >> "$runs/vqvae-8x8-prior.log" 2>&1
echo done > "$runs/done"
