"""Model inference speed: ONNX Runtime (CPU) vs torch eager on the very same weights.

The shipped ONNX file is the only weights both engines can share without a training
checkpoint (checkpoints are not committed). ``torch.onnx`` (dynamo) keeps every parameter as an
initializer named like its ``state_dict`` key, so the torch network is rebuilt from the card's
``architecture`` and loaded by name, strictly; the outputs must then agree within
``PARITY_TOLERANCE`` before anything is timed, which proves the two runs compute the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.model.providers import CPU
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.model.zoo import find_model, load_manifest, load_model
from aepipe.runtime.tasks.names import TaskName
from aepipe.tools.bench.timing import Timing, interleaved, megapixels

TASK = TaskName.DENOISE
ORT_LABEL = "onnxruntime CPU"
INT8_LABEL = "onnxruntime CPU, int8 copy"
TORCH_LABEL = "torch eager"
PARITY_TOLERANCE = 1e-4  # the bound aepipe.training.export enforces at export time
BENCH_SIGMA = 25.0  # noise level fed to noise-aware models (0–255 scale)

Feeds = dict[str, np.ndarray]
RunFn = Callable[[Feeds], np.ndarray]


class WeightMismatchError(Exception):
    """The ONNX initializers cannot be mapped one to one onto the torch network."""


def model_inputs(card: ModelCard, batch: int, side: int, seed: int = 0) -> Feeds:
    """A deterministic random batch in the card's layout, plus its noise level if it takes one."""
    rng = np.random.default_rng(seed)
    feeds = {"x": rng.random((batch, card.in_channels, side, side), dtype=np.float32)}
    if card.noise_level_input:
        feeds["noise_level"] = np.full((batch, 1, 1, 1), BENCH_SIGMA / 255.0, dtype=np.float32)
    return feeds


def default_model(threads: int) -> tuple[OnnxModel, str, Path]:
    """The shipped default denoiser on ONNX Runtime's CPU provider, its sha256 and file."""
    model, sha256 = load_model(None, TASK, providers=[CPU], threads=threads)
    return model, sha256, find_model(None, TASK).path


def bench_models(
    model: OnnxModel, path: Path, threads: int, tile: int, batch_size: int, repeats: int
) -> tuple[list[Timing], str]:
    """Time ``model`` on 1 x C x tile² and batch_size x C x tile² inputs, ORT vs torch.

    Returns the timings and where torch's weights came from (or why torch was skipped).
    """
    torch_run, weights = torch_runner(path, model.card, threads)
    int8 = int8_copy(model.card, threads)
    side = -(-tile // model.card.pad_multiple) * model.card.pad_multiple  # what the net accepts
    timings: list[Timing] = []
    for batch in sorted({1, batch_size}):
        timings += _bench_shape(model, int8, torch_run, batch, side, repeats)
    return timings, weights


def int8_copy(card: ModelCard, threads: int) -> OnnxModel | None:
    """The zoo's int8 copy of ``card``'s model (``aepipe quantize``), if one ships."""
    copy = next((e.card for e in load_manifest() if e.card.quantized_from == card.name), None)
    if copy is None:
        return None
    return load_model(copy.name, copy.task, providers=[CPU], threads=threads)[0]


def torch_runner(path: Path, card: ModelCard, threads: int) -> tuple[RunFn | None, str]:
    """The torch network on the ONNX file's weights, or None and why it cannot be measured."""
    try:
        run = _load_torch(path, card, threads)
    except ImportError as error:
        return None, f"torch eager skipped: {error.name or error} is not installed"
    except (KeyError, WeightMismatchError) as error:
        return None, f"torch eager skipped: {error}"
    return run, f"{card.architecture} rebuilt in torch, weights from {path.name}'s initializers"


def _load_torch(path: Path, card: ModelCard, threads: int) -> RunFn:
    import torch

    torch.set_num_threads(threads)
    net = torch_network(path, card)

    def run(feeds: Feeds) -> np.ndarray:
        with torch.inference_mode():
            return net(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()

    return run


def torch_network(path: Path, card: ModelCard) -> Any:
    """``card.architecture`` as a torch network in eval mode, with the ONNX file's weights."""
    import onnx
    import torch
    from onnx import numpy_helper

    from aepipe.training.networks import create_model

    net = create_model(card.architecture).eval()
    graph = onnx.load(str(path)).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    state = net.state_dict()
    unmatched = [
        name
        for name, tensor in state.items()
        if name not in weights or weights[name].shape != tuple(tensor.shape)
    ]
    if unmatched:
        raise WeightMismatchError(
            f"{len(unmatched)} of {len(state)} {card.architecture} tensors have no same-named, "
            f"same-shaped initializer in {path.name} (first: {unmatched[0]})"
        )
    net.load_state_dict({name: torch.from_numpy(weights[name].copy()) for name in state})
    return net


def _bench_shape(
    model: OnnxModel,
    int8: OnnxModel | None,
    torch_run: RunFn | None,
    batch: int,
    side: int,
    repeats: int,
) -> list[Timing]:
    """ORT, its int8 copy if any, and (when its output matches) torch, timed in alternation
    on one input shape."""
    feeds = model_inputs(model.card, batch, side)

    def call(session: OnnxModel) -> Callable[[], np.ndarray]:
        return partial(session.run, feeds["x"], noise_level=feeds.get("noise_level"))

    ort_call = call(model)
    fns: dict[str, Callable[[], object]] = {ORT_LABEL: ort_call}
    if int8 is not None:
        fns[INT8_LABEL] = call(int8)
    torch_note = "not measured (see torch_weights)"
    if torch_run is not None:
        diff = float(np.max(np.abs(torch_run(feeds) - ort_call())))
        torch_note = f"max abs diff vs ORT {diff:.1e}"
        if diff <= PARITY_TOLERANCE:
            fns[TORCH_LABEL] = lambda: torch_run(feeds)
        else:
            torch_note += f" > {PARITY_TOLERANCE:g}: not the same computation, not timed"
    samples = interleaved(fns, repeats)
    shape = f"{batch}x{model.card.in_channels}x{side}x{side}"
    work = megapixels(side, side, batch)
    timings = [
        Timing(ORT_LABEL, shape, work, samples=samples[ORT_LABEL], note=", ".join(model.providers))
    ]
    if int8 is not None:
        quality = ", ".join(f"{k} {v:g}" for k, v in int8.card.quality.items())
        note = f"{int8.card.name}" + (f": {quality}" if quality else "")
        timings.append(Timing(INT8_LABEL, shape, work, samples=samples[INT8_LABEL], note=note))
    timings.append(
        Timing(TORCH_LABEL, shape, work, samples=samples.get(TORCH_LABEL, []), note=torch_note)
    )
    return timings
