#!/bin/bash
# The GPU check (issue 20 item 1: provider proof, parity, fp16, IOBinding throughput against
# torch, the whole pipeline on large photos, the codec across providers) on a lent GPU machine.
#
#   bash scripts/gpu-check.sh prep             # here: the cp312 wheels the GPU image lacks,
#                                              # as .gpu/wheels.tar.part-* of 60 MiB
#                                              # (ignored; PART=20m for smaller ones)
#   bash scripts/gpu-check.sh run [ARGS...]    # there: install them into .gpu/site, then
#                                              # python -m aepipe.tools.bench.gpu $OUT ARGS
#
# The GPU image has torch for CUDA 13 and a CPU-only onnxruntime (../shared/STACK.md); the
# onnxruntime-gpu wheel (a CUDA 13 build) is 255 MB and the device tool carries 64 MiB a call,
# so carry one part a call while the machine is warm (`run` with command "true" and carry
# [".gpu/wheels.tar.part-aa"], then -ab, ...), then call `run` once with this script's `run`.
# Dry run here, the CPU standing in for CUDA:  OUT=/tmp/gpu-dry bash scripts/gpu-check.sh run --dry-run
set -eu
WHEELS=.gpu/wheels
PACKAGES="onnxruntime-gpu==1.31.1 onnx==1.23.2 ml_dtypes==0.7.0 constriction==0.5.0
  opencv-python-headless==5.1.0.95"
case ${1:-} in
prep)
  rm -rf $WHEELS .gpu/wheels.tar.part-* && mkdir -p $WHEELS
  # shellcheck disable=SC2086  # one word per package
  pip download --no-deps --only-binary=:all: --python-version 3.12 -d $WHEELS $PACKAGES
  tar -cf - -C $WHEELS . | split -b "${PART:-60m}" - .gpu/wheels.tar.part-
  rm -rf $WHEELS
  ls -la .gpu/wheels.tar.part-*
  exit ;;
run) shift ;;
*) echo "usage: $0 prep | run [--dry-run] [--images N] [--image-mp MP]" >&2; exit 2 ;;
esac
export PYTHONUNBUFFERED=1
if ls .gpu/wheels.tar.part-* > /dev/null 2>&1; then
  rm -rf $WHEELS .gpu/site && mkdir -p $WHEELS
  cat .gpu/wheels.tar.part-* | tar -xf - -C $WHEELS
  python3 -m pip install --quiet --no-deps --no-index --target .gpu/site $WHEELS/*.whl
  export PYTHONPATH=$PWD/.gpu/site:$PWD
  # onnxruntime-gpu finds cuBLAS/cuDNN in the nvidia wheels torch brought along
  python3 -c "import onnxruntime as o; o.preload_dlls(); print(o.__version__, o.get_available_providers())"
fi
nvidia-smi -L || true
python3 -c "import aepipe.tools.bench.gpu" || { echo "aepipe's run-time imports fail here" >&2; exit 1; }
# preload_dlls() must run in the checking process too: sitecustomize is not ours to write,
# so the module is started from a one-liner that preloads first.
python3 -c "
import sys, onnxruntime
if hasattr(onnxruntime, 'preload_dlls'):
    onnxruntime.preload_dlls()
from aepipe.tools.bench.gpu import main
sys.exit(main(sys.argv[1:]))" "${OUT:?set OUT to the folder the results go to}" "$@"
