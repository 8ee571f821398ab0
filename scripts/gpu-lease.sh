#!/bin/bash
# One GPU lease: fine-tune / train the shipped models concurrently under a wall-clock budget.
# Usage, from the repo root on the lent machine: bash scripts/gpu-lease.sh MINUTES [first|second]
# .gpu/ (ignored, carried to the device) holds CBSD432 (a copy of ../shared/data/CBSD432) and
# weights-only starting points; each run comes back as $OUT/NAME.pt and logs.jsonl.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
M=${1:-7}
nvidia-smi -L || true
python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())"
R=/tmp/runs; mkdir -p $R
D=.gpu/CBSD432
train() {  # NAME ARGS...: time-boxed; a crash in one run leaves the others going
  local name=$1; shift
  timeout $(awk "BEGIN { print int($M * 60 + 45) }") python3 -m aepipe.training.train --data $D --out $R/$name \
    --device ${DEV:-cuda} --threads ${THREADS:-3} --steps 1000000 --minutes $M --val-every 1000 "$@" \
    > $R/$name.out 2>&1
  echo "$name exit $?"; tail -3 $R/$name.out
}
case ${2:-first} in
first)  # 8 minutes: codecs from scratch, fine-tunes from the CPU-trained weights
  RUNS="aec-s aec-m sr-x4 denoise unwatermark"
  train aec-s --model aec-factorized-s --task reconstruct --batch 16 --patch 256 --lr 3e-4 --clip-grad 1.0 &
  train aec-m --model aec-factorized-m --task reconstruct --batch 16 --patch 256 --lr 2e-4 --clip-grad 1.0 &
  train sr-x4 --model srnet-x4 --task superres-x4 --batch 32 --patch 128 --lr 2e-4 --seed 2 --init-from .gpu/sr-x4-ft.pt &
  train denoise --model unet-denoise-s --task denoise --batch 32 --patch 96 --lr 1e-4 --seed 2 --init-from checkpoints/denoise-unet-s.pt &
  train unwatermark --model unet-unwatermark-s --task unwatermark --batch 16 --patch 96 --lr 3e-4 --seed 2 --loss l1-changed --init-from .gpu/unwatermark.pt &
  ;;
second)  # the lease's last minutes: continue the first lease's runs at a lower rate
  RUNS="aec-s denoise unwatermark"
  train aec-s --model aec-factorized-s --task reconstruct --batch 16 --patch 256 --lr 1e-4 --clip-grad 1.0 --seed 3 --init-from .gpu/aec-s-gpu1.pt &
  train denoise --model unet-denoise-s --task denoise --batch 32 --patch 128 --lr 5e-5 --seed 3 --init-from .gpu/denoise-gpu1.pt &
  train unwatermark --model unet-unwatermark-s --task unwatermark --batch 16 --patch 96 --lr 1.5e-4 --seed 3 --loss l1-changed --init-from .gpu/unwatermark-gpu1.pt &
  ;;
esac
sleep 30; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
wait
for run in $RUNS; do
  python3 -c "import sys, torch; s = torch.load(sys.argv[1], map_location='cpu', weights_only=True)
torch.save({k: s[k] for k in ('model', 'step', 'config')}, sys.argv[2])" $R/$run/last.pt $OUT/$run.pt
  sed "s/^/$run /" $R/$run/log.jsonl >> $OUT/logs.jsonl 2>/dev/null
done
ls -la $OUT
