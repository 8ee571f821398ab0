#!/bin/bash
# The GPU check (issue 20 item 1: provider proof, parity, fp16, IOBinding throughput against
# torch, the whole pipeline on large photos, the codec across providers) on a lent GPU machine.
#
#   bash scripts/gpu-check.sh prep             # here: .gpu/payload.tar.part-* of 58 MiB
#                                              # (ignored): the cp312 wheels the GPU image
#                                              # lacks and the zoo's ONNX files
#   bash scripts/gpu-check.sh slim             # here: take out of the working tree what the
#                                              # parts carry and the check does not need
#   bash scripts/gpu-check.sh unslim           # here: put them back (git checkout)
#   bash scripts/gpu-check.sh run [ARGS...]    # there: unpack the parts, install the wheels
#                                              # into .gpu/site, then
#                                              # python -m aepipe.tools.bench.gpu $OUT ARGS
#
# The GPU image has torch for CUDA 13, numpy, onnx, ml_dtypes, opencv and a CPU-only
# onnxruntime (../shared/STACK.md, the device tool's KINDS.md); the onnxruntime-gpu wheel (a
# CUDA 13 build) is 255 MB. A device call carries 64 MiB in all, working tree included, and the
# tracked tree is ~97 MiB (checkpoints 51, zoo 44): so `slim` the tree to ~3 MiB, carry one
# part a call while the machine is warm (`run` with command "true" and carry
# [".gpu/payload.tar.part-aa"], then -ab, ...), call `run` with this script's `run` and the
# last part, then `unslim`.
# Dry run here, the CPU standing in for CUDA:  OUT=/tmp/gpu-dry bash scripts/gpu-check.sh run --dry-run
set -eu
WHEELS=.gpu/wheels
PACKAGES="onnxruntime-gpu==1.31.1 constriction==0.5.0"
SLIMMED="checkpoints aepipe/zoo"
case ${1:-} in
prep)
  rm -rf $WHEELS .gpu/payload.tar.part-* && mkdir -p $WHEELS
  # shellcheck disable=SC2086  # one word per package
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d $WHEELS $PACKAGES
  { git ls-files 'aepipe/zoo/*.onnx'; ls $WHEELS/*.whl; } \
    | tar -cf - -T - | split -b "${PART:-58m}" - .gpu/payload.tar.part-
  rm -rf $WHEELS
  ls -la .gpu/payload.tar.part-*
  exit ;;
slim)
  # shellcheck disable=SC2086
  git diff --quiet HEAD -- $SLIMMED || { echo "uncommitted changes under $SLIMMED" >&2; exit 1; }
  git ls-files checkpoints 'aepipe/zoo/*.onnx' | xargs rm -f
  exit ;;
unslim)
  # shellcheck disable=SC2086
  git checkout HEAD -- $SLIMMED
  exit ;;
run) shift ;;
*) echo "usage: $0 prep | slim | unslim | run [--dry-run] [--images N] [--image-mp MP]" >&2; exit 2 ;;
esac
export PYTHONUNBUFFERED=1
if ls .gpu/payload.tar.part-* > /dev/null 2>&1; then
  rm -rf $WHEELS .gpu/site
  cat .gpu/payload.tar.part-* | tar -xf -
  python3 -m pip install --quiet --no-deps --no-index --target .gpu/site $WHEELS/*.whl
  export PYTHONPATH=$PWD/.gpu/site:$PWD
  # onnxruntime-gpu finds cuBLAS/cuDNN in the nvidia wheels torch brought along
  nvidia_libs=$(python3 -c "import glob, os, nvidia
print(':'.join(sorted({os.path.dirname(p) for d in nvidia.__path__
                       for p in glob.glob(d + '/**/lib*.so*', recursive=True)})))" || true)
  export LD_LIBRARY_PATH=${nvidia_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
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
