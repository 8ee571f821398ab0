#!/bin/bash
# One GPU lease: continue the shipped models' training concurrently under a wall-clock budget.
#
#   bash scripts/gpu-lease.sh prep              # here: copy the training set into .gpu/ (ignored)
#   bash scripts/gpu-lease.sh lease MINUTES     # on the lent machine, with .gpu carried along
#
# Every run starts from the weights committed in checkpoints/, so a lease needs nothing from an
# earlier session. Each comes back as $OUT/NAME.pt (weights only) plus $OUT/logs.jsonl; export
# with `aepipe export`, evaluate on the CPU, and commit what beats the shipped model.
# Dry run on the CPU: OUT=/tmp/dry DEV=cpu THREADS=1 bash scripts/gpu-lease.sh lease 0.2
set -u
DATA=.gpu/CBSD432
case ${1:-} in
prep)
  mkdir -p .gpu && rm -rf $DATA && cp -r ../shared/data/CBSD432 $DATA && du -sh .gpu
  exit ;;
lease) ;;
*) echo "usage: $0 prep | lease MINUTES" >&2; exit 2 ;;
esac
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
M=${2:-10}
nvidia-smi -L || true
python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())"
R=/tmp/runs; mkdir -p $R

train() {  # NAME ARGS...: time-boxed; a crash in one run leaves the others going
  local name=$1; shift
  timeout $(awk "BEGIN { print int($M * 60 + 45) }") python3 -m aepipe.training.train \
    --data $DATA --out $R/$name --device ${DEV:-cuda} --threads ${THREADS:-3} \
    --steps 1000000 --minutes $M --val-every 1000 "$@" > $R/$name.out 2>&1
  echo "$name exit $?"; tail -3 $R/$name.out
}

RUNS="guided-projected denoise aec-lapped"
# Issue 17: the default remover trained on what the overlay refit keeps of its pixels (the
# projected loss, docs/quality.md "Coverage in the strokes"); it continues the CPU leg's
# weights. Commit $OUT/guided-projected.pt as checkpoints/unwatermark-guided-unet-s-projected.pt.
train guided-projected --model unwatermark-guided-unet-s --model-args '{"projected_weight": 1.0}' \
  --task unwatermark-guided --batch 32 --patch 128 --lr 1e-4 --seed 4 \
  --init-from checkpoints/unwatermark-guided-unet-s-projected.pt &
train denoise --model denoise-unet-s --task denoise --batch 32 --patch 128 --lr 5e-5 --seed 4 \
  --init-from checkpoints/denoise-unet-s.pt &
# The codec leg continues aec-lapped-s from its shipped weights (it started as block PCA on two
# CPU cores, so a lease only adds to it); commit $OUT/aec-lapped.pt as checkpoints/aec-lapped-s.pt
# to chain leases, and export it with `aepipe export-codec` once it beats the shipped one.
train aec-lapped --model aec-lapped-s --task reconstruct --batch 32 --patch 256 --lr 1e-4 \
  --clip-grad 1.0 --seed 4 --init-from checkpoints/aec-lapped-s.pt &
sleep 30; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
wait
for run in $RUNS; do
  python3 -c "import sys, torch; s = torch.load(sys.argv[1], map_location='cpu', weights_only=True)
torch.save({k: s[k] for k in ('model', 'step', 'config')}, sys.argv[2])" $R/$run/last.pt $OUT/$run.pt
  sed "s/^/$run /" $R/$run/log.jsonl >> $OUT/logs.jsonl 2>/dev/null
done
ls -la $OUT
