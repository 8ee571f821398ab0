"""``OnnxModel.run``: one call at a time per session, whichever threads call it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from modelfactory import blur_autoencoder

from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.model.session import OnnxModel


class CountingSession:
    """Stands in for the ORT session: counts how many calls are inside it at once."""

    def __init__(self, real: Any) -> None:
        self.real, self.inside, self.most = real, 0, 0
        self.count = threading.Lock()

    def run(self, *args: Any) -> Any:
        with self.count:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.02)  # long enough for another thread to arrive
        try:
            return self.real.run(*args)
        finally:
            with self.count:
                self.inside -= 1


def test_concurrent_calls_take_turns(tmp_path: Path) -> None:
    path = blur_autoencoder(tmp_path / "blur.onnx", ModelCard(name="blur", task="denoise"))
    model = OnnxModel(path)
    counting = CountingSession(model.session)
    model.session = counting  # type: ignore[assignment]
    x = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)

    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda _: model.run(x), range(8)))

    assert counting.most == 1
    assert all(np.array_equal(out, outputs[0]) for out in outputs)
