"""What a measurement ran on: CPU, load, versions. Benchmarks and evaluations both record it,
because timings compare only on the same machine under the same load."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from aepipe.runtime.model.providers import cuda_driver_present


def parse_cpu_model(cpuinfo: str) -> str | None:
    """The first ``model name`` of a /proc/cpuinfo text (x86), None if it has none."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name" and value.strip():
            return value.strip()
    return None


def cpu_model() -> str:
    try:
        found = parse_cpu_model(Path("/proc/cpuinfo").read_text())
    except OSError:
        found = None
    return found or platform.processor() or "unknown CPU"


def usable_cpus() -> int:
    """CPUs this process may run on (a container's cpuset), not the host's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def _version(package: str) -> str | None:
    """Installed version without importing the package (torch takes seconds to import)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "usable_cpus": usable_cpus(),
        "logical_cpus": os.cpu_count(),
        "gpu_driver": cuda_driver_present(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": ort.__version__,
        "onnxruntime_available_providers": ort.get_available_providers(),
        "torch": _version("torch"),
    }
