"""Measurements that need a fresh interpreter: peak RSS only grows within a process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_child(module: str, args: list[str], what: str) -> dict[str, Any]:
    """Call ``module._child(*args)`` in a new interpreter; the JSON object it printed last."""
    code = f"import sys; from {module} import _child; _child(*sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr[-1000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def peak_mb() -> float:
    """This process's peak RSS (VmHWM). Not ``getrusage``'s ``ru_maxrss``: Linux carries
    that over from the parent through fork and exec, so a child of a big process would
    report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)  # kB
    raise RuntimeError("no VmHWM in /proc/self/status (peak memory is measured on Linux)")
