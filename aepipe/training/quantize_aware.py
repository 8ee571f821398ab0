"""Fine-tune a float network so that its int8 copy loses less: distillation through ORT's rounding.

Post-training quantisation of the denoiser lost 0.11 dB at σ 15 however it was calibrated:
uint8 activations per tensor on the full-resolution residual stream (docs/benchmarks.md). Here
the network trains against its own float outputs (the teacher, frozen) while it sees the
rounding ONNX Runtime will apply, at the places it will apply it, read from a first int8 copy:

- the activations ORT's QDQ graph quantises (a convolution's output, a ReLU's output, an
  addition feeding convolutions), with the scales and zero points ORT calibrated;
- the weights of every int8 convolution, per output channel, symmetric, as ORT stores them.

Rounding passes gradients straight through (``torch.fake_quantize_*``). The float weights
that come out are then quantised again by the usual recipe, so the shipped copy is made the
same way as before, from weights that have learnt to tolerate it.
"""

from __future__ import annotations

import ast
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn
from torch.nn.utils import parametrize

from aepipe.runtime.model.card import ModelCard
from aepipe.training.data import PatchSampler
from aepipe.training.export import export_onnx, load_checkpoint, save_weights
from aepipe.training.task_batches import Degradation
from aepipe.training.train import DEGRADATIONS

#: What ORT's uint8 activations span, and its symmetric int8 weights.
ACTIVATION_LEVELS = (0, 255)
WEIGHT_LEVEL = 127
WEIGHT_SUFFIX = ".weight_quantized"  # ORT's name for a weight's int8 copy
NAME_SCOPES = "pkg.torch.onnx.name_scopes"


@dataclass(frozen=True)
class ActivationScale:
    scale: float
    zero_point: int


@dataclass
class QuantPoints:
    """Where the int8 graph rounds, by module path: a module's output, a module's input, a
    convolution's weight (with its channel axis)."""

    outputs: dict[str, ActivationScale] = field(default_factory=dict)
    inputs: dict[str, ActivationScale] = field(default_factory=dict)
    weight_axes: dict[str, int] = field(default_factory=dict)


def _module_scopes(node: onnx.NodeProto) -> list[str]:
    """The module paths a node of a ``torch.onnx`` (dynamo) export ran in, outermost first."""
    scopes = next((p.value for p in node.metadata_props if p.key == NAME_SCOPES), None)
    if scopes is None:
        raise ValueError(f"{node.name}: no {NAME_SCOPES}; export the model with torch.onnx again")
    return ast.literal_eval(scopes)[1:-1]  # without the root module and the op itself


def quant_points(float_model: onnx.ModelProto, int8_model: onnx.ModelProto) -> QuantPoints:
    """Read ORT's QDQ placement in ``int8_model`` as hooks on the network's modules.

    ORT rounds a quantised tensor for every reader, so the rounding goes where the tensor is
    one module's output (a convolution, a ReLU, a residual block's addition), or else where it
    is the input of the innermost module that holds all its readers (an addition in the
    U-Net's own forward feeding a decoder stage). ``float_model`` names the modules
    (``pkg.torch.onnx.name_scopes``).
    """
    graph = float_model.graph
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    constants = {i.name: numpy_helper.to_array(i) for i in int8_model.graph.initializer}
    points = QuantPoints()
    for node in int8_model.graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0].endswith(WEIGHT_SUFFIX):
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            points.weight_axes[node.input[0].removesuffix(WEIGHT_SUFFIX)] = axis
        if node.op_type != "QuantizeLinear" or node.input[0] in constants:
            continue
        tensor = node.input[0]
        scale = ActivationScale(float(constants[node.input[1]]), int(constants[node.input[2]]))
        owner = _module_scopes(producer[tensor])
        reader_scopes = [_module_scopes(r) for r in readers[tensor]]
        if owner and all(owner[-1] not in scopes for scopes in reader_scopes):
            points.outputs[owner[-1]] = scale
            continue
        shared = [s for s in reader_scopes[0] if all(s in other for other in reader_scopes)]
        if not shared or shared[-1] in owner:
            raise ValueError(f"{tensor}: no module of the network makes or takes it whole")
        points.inputs[shared[-1]] = scale
    return points


def _round_activation(x: torch.Tensor, scale: ActivationScale) -> torch.Tensor:
    return torch.fake_quantize_per_tensor_affine(
        x, scale.scale, scale.zero_point, *ACTIVATION_LEVELS
    )


class _RoundWeight(nn.Module):
    """Per output channel, symmetric int8 at the weight's own largest magnitude."""

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        dims = [d for d in range(weight.dim()) if d != self.axis]
        scale = (weight.detach().abs().amax(dim=dims) / WEIGHT_LEVEL).clamp_min(1e-12)
        zero = torch.zeros_like(scale, dtype=torch.int32)
        return torch.fake_quantize_per_channel_affine(
            weight, scale, zero, self.axis, -WEIGHT_LEVEL, WEIGHT_LEVEL
        )


@contextmanager
def rounded_like_int8(network: nn.Module, points: QuantPoints) -> Iterator[nn.Module]:
    """``network`` with int8 rounding at ``points`` while the block runs, float again after."""
    modules = dict(network.named_modules())
    hooks = []
    for name, scale in points.inputs.items():
        hooks.append(
            modules[name].register_forward_pre_hook(
                lambda _m, args, s=scale: (_round_activation(args[0], s), *args[1:])
            )
        )
    for name, scale in points.outputs.items():
        hooks.append(
            modules[name].register_forward_hook(
                lambda _m, _args, out, s=scale: _round_activation(out, s)
            )
        )
    for name, axis in points.weight_axes.items():
        parametrize.register_parametrization(modules[name], "weight", _RoundWeight(axis))
    try:
        yield network
    finally:
        for hook in hooks:
            hook.remove()
        for name in points.weight_axes:
            parametrize.remove_parametrizations(modules[name], "weight", leave_parametrized=False)


@dataclass(frozen=True)
class DistilConfig:
    minutes: float
    lr: float = 1e-5
    batch: int = 8
    patch: int = 96
    seed: int = 11


def distil_through_int8(
    network: nn.Module,
    teacher: nn.Module,
    points: QuantPoints,
    images: list[np.ndarray],
    degrade: Degradation,
    config: DistilConfig,
) -> int:
    """Train ``network`` in place, rounded at ``points``, to match the float ``teacher``;
    return the steps taken.

    Adam with a cosine decay over ``config.minutes`` of wall time: the budget, not a step
    count, is what a CPU machine can promise.
    """
    teacher.eval().requires_grad_(False)
    sampler = PatchSampler(images, config.patch, np.random.default_rng(config.seed))
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.Adam(network.parameters(), lr=config.lr)
    budget, start, step = config.minutes * 60, time.monotonic(), 0
    with rounded_like_int8(network.train(), points) as student:
        while (elapsed := time.monotonic() - start) < budget:
            inputs = degrade(torch.from_numpy(sampler.batch(config.batch)), generator)
            with torch.no_grad():
                target = teacher(**inputs)
            loss = torch.mean((student(**inputs) - target) ** 2)
            for group in optimiser.param_groups:
                group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step += 1
            if step % 100 == 0:
                rms = math.sqrt(float(loss)) * 255
                note = f"step {step}  {elapsed / 60:.1f} min  int8 vs float {rms:.3f} levels rms"
                print(note, flush=True)
    network.eval()
    return step


def tuned_float_model(
    weights: Path,
    teacher: Path,
    source: Path,
    card: ModelCard,
    first_copy: Path,
    images: list[np.ndarray],
    config: DistilConfig,
    save_to: Path,
    export_to: Path,
) -> Path:
    """Tune the checkpoint ``weights`` through the rounding of ``first_copy`` (an int8 copy of
    ``source``) to match the float checkpoint ``teacher`` (``weights`` itself on a first leg,
    the original on a later one); save the tuned weights to ``save_to`` and export them, with
    ``source``'s ``card``, to ``export_to``."""
    network, train_config = load_checkpoint(weights)
    float_network, _ = load_checkpoint(teacher)
    points = quant_points(onnx.load(str(source)), onnx.load(str(first_copy)))
    degrade = DEGRADATIONS[train_config["task"]]
    steps = distil_through_int8(network, float_network, points, images, degrade, config)
    save_weights(network, {**train_config, "step": train_config["step"] + steps}, save_to)
    return export_onnx(network, card, export_to).path
