"""Training-side tests run torch on one thread.

torch is imported, not ``importorskip``ped: ``make test`` installs the train extra, and a torch
that fails to import must fail the suite, not silently skip the parity checks. On a runtime-only
install run ``pytest --ignore=tests/train``.

Their batches are tiny: a second thread gains nothing and, on two shared busy cores, spends
its time in OpenMP barriers (10 steps: 0.3 s on one thread, 10-30 s on two, measured here).
"""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
