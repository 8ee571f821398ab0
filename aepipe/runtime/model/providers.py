"""Choosing ONNX Runtime execution providers once, from what the machine really has.

``onnxruntime-gpu`` lists CUDA and TensorRT as available even on a machine without a GPU
and then falls back to CPU with error lines in the log. So the choice looks at the driver
libraries themselves, and the session reports the providers it actually got.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from functools import cache

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

#: cuDNN picks each convolution's algorithm by heuristic, not by timing every algorithm
#: (ORT's default, EXHAUSTIVE) for every new input shape. A run feeds many shapes (whole
#: images of each size, tiles whose side follows the image's, a short last batch a row), and
#: ORT >= 1.20 searches again when shapes interleave (microsoft/onnxruntime#23006): on the
#: first H200 the pipeline's calls took ~160 ms each against ~3 ms for the model alone
#: (docs/benchmarks.md, "On a GPU: first figures").
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC"}

ProviderSpec = str | tuple[str, dict[str, str]]


def _loadable(*names: str) -> bool:
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


@cache
def cuda_driver_present() -> bool:
    """True where the NVIDIA driver library loads, i.e. a GPU can be used at all."""
    return _loadable("libcuda.so.1", "libcuda.so", "nvcuda.dll")


@cache
def tensorrt_present() -> bool:
    """True where TensorRT's runtime library loads (it is an optional extra of the image)."""
    return _loadable("libnvinfer.so.10", "libnvinfer.so")


def select_providers(
    available: Sequence[str],
    *,
    cuda_driver: bool,
    tensorrt: bool,
    requested: Sequence[str] | None = None,
) -> list[str]:
    """Providers to ask for, best first; CPU always last as the fallback.

    ``requested`` overrides the automatic choice (names must be available); otherwise
    TensorRT when its library loads, CUDA when the driver loads, then CPU.
    """
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise ValueError(f"providers not available in this onnxruntime: {missing}")
        chosen = list(requested)
    else:
        wanted = [(TENSORRT, cuda_driver and tensorrt), (CUDA, cuda_driver)]
        chosen = [name for name, usable in wanted if usable and name in available]
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def with_options(chosen: Sequence[str]) -> list[ProviderSpec]:
    """``chosen`` as ONNX Runtime takes it, each provider with the options aepipe runs it with."""
    return [(name, dict(CUDA_OPTIONS)) if name == CUDA else name for name in chosen]
