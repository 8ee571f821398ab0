"""Provider choice: decided from the driver libraries, not from what onnxruntime-gpu lists."""

import pytest

from aepipe.runtime.model.providers import CPU, CUDA, TENSORRT, select_providers, with_options

ALL = [TENSORRT, CUDA, CPU]


def test_gpu_build_without_driver_asks_for_cpu_only():
    assert select_providers(ALL, cuda_driver=False, tensorrt=False) == [CPU]


def test_cuda_driver_selects_cuda_before_cpu():
    assert select_providers(ALL, cuda_driver=True, tensorrt=False) == [CUDA, CPU]


def test_tensorrt_first_when_its_library_loads():
    assert select_providers(ALL, cuda_driver=True, tensorrt=True) == [TENSORRT, CUDA, CPU]


def test_tensorrt_library_without_driver_is_ignored():
    assert select_providers(ALL, cuda_driver=False, tensorrt=True) == [CPU]


def test_cpu_build_never_asks_for_gpu():
    assert select_providers([CPU], cuda_driver=True, tensorrt=True) == [CPU]


def test_explicit_request_wins_and_keeps_cpu_fallback():
    assert select_providers(ALL, cuda_driver=False, tensorrt=False, requested=[CUDA]) == [CUDA, CPU]


def test_request_for_missing_provider_is_refused():
    with pytest.raises(ValueError, match="ROCMExecutionProvider"):
        select_providers(ALL, cuda_driver=True, tensorrt=False, requested=["ROCMExecutionProvider"])


def test_cuda_chooses_convolution_algorithms_by_heuristic():
    specs = with_options([TENSORRT, CUDA, CPU])
    assert specs == [TENSORRT, (CUDA, {"cudnn_conv_algo_search": "HEURISTIC"}), CPU]
