"""One small wrapper around an ONNX Runtime session: load once, then ``run(batch)``.

Heavy set-up (provider choice, graph optimisation) happens in ``__init__``; ``run`` is what
the tiler calls for every batch of tiles.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from aepipe.errors import ModelError
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.model.providers import (
    cuda_driver_present,
    select_providers,
    tensorrt_present,
    with_options,
)


def session_options(threads: int = 0) -> ort.SessionOptions:
    """Full graph optimisation; ``threads=0`` lets ``OMP_NUM_THREADS`` or ORT decide."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: CPU fallback warnings are expected
    # The memory pattern pre-plans one block per input shape on top of the arena: the second
    # 512² call of the denoiser grew RSS by 176 MB with it, by nothing without, at the same
    # speed (docs/benchmarks.md); whole images of many sizes would each keep a block.
    options.enable_mem_pattern = False
    threads = threads or int(os.environ.get("OMP_NUM_THREADS", "0"))
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options


class OnnxModel:
    """An exported aepipe model: its card plus an inference session.

    ``run`` takes NCHW float32 in the card's input range and returns NCHW float32. Calls take
    turns: a run's two chunk tasks share the process's session, and concurrent calls each took
    ONNX Runtime's whole thread pool (more threads than cores) and arena blocks of their own
    (96 images: peak RSS 597 -> 432 MB, 80.2 -> 78.6 s; docs/benchmarks.md).
    """

    def __init__(
        self,
        path: Path,
        *,
        providers: Sequence[str] | None = None,
        threads: int = 0,
        card: ModelCard | None = None,
    ) -> None:
        chosen = select_providers(
            ort.get_available_providers(),
            cuda_driver=cuda_driver_present(),
            tensorrt=tensorrt_present(),
            requested=providers,
        )
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=session_options(threads), providers=with_options(chosen)
            )
        except Exception as error:  # ORT raises its own Fail/InvalidGraph types
            raise ModelError(f"{path}: cannot load ONNX model: {error}") from error
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, str] = dict(metadata)  # the card and any part-specific data
        found = card or ModelCard.from_metadata(metadata)
        if found is None:
            raise ModelError(f"{path}: the ONNX file carries no aepipe model card")
        self.card: ModelCard = found
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name
        self._one_call = threading.Lock()

    @property
    def providers(self) -> list[str]:
        """The providers the session really runs on (CPU after a silent GPU fallback)."""
        return self.session.get_providers()

    def run(self, x: np.ndarray, noise_level: np.ndarray | None = None) -> np.ndarray:
        """Run one batch. ``noise_level`` (N x 1 x 1 x 1, σ/255) only for cards that take it."""
        feeds = {self.input_names[0]: np.ascontiguousarray(x, dtype=np.float32)}
        if self.card.noise_level_input:
            if noise_level is None:
                raise ModelError(f"model {self.card.name} needs a noise level")
            feeds["noise_level"] = noise_level.astype(np.float32)
        with self._one_call:
            return self.session.run([self.output_name], feeds)[0]

    def run_all(self, **feeds: np.ndarray) -> list[np.ndarray]:
        """Every output, for graphs with named inputs and several outputs (an encoder's
        ``(mu, logvar)``, a decoder's ``z``)."""
        with self._one_call:
            return self.session.run(None, feeds)
