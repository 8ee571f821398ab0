"""Export a trained network to a self-contained ONNX file with its model card, and prove it.

    python -m aepipe.training.export runs/denoise/last.pt --name denoise-unet-s \
        --task denoise --zoo aepipe/zoo --default

Every export is verified, not assumed: ``onnx.checker`` (full check), then ONNX Runtime's
output is compared with torch's on an input whose size differs from the traced one, and the
export fails when they disagree by more than ``tolerance``.

An autoencoder exported for ``--task embed`` or ``generate`` is also written as its two
halves, one zoo entry with three parts (a VQ-VAE's prior joins as a fourth,
``aepipe train-prior``):

    NAME.onnx          x -> x_hat (the whole model)
    NAME.encoder.onnx  x -> code | (mu, logvar) | (indices, z_e)
    NAME.decoder.onnx  code | z | indices -> x_hat

The encoder's first output is what the decoder takes, so decoder(encoder(x)[0]) is the whole
model's deterministic reconstruction; the runtime embeds with the encoder and generates with
the decoder. Both halves carry the card and ``aepipe.part``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from aepipe.runtime.anomaly.domain import DOMAIN_CHECK_TASK
from aepipe.runtime.model.cache import file_sha256
from aepipe.runtime.model.card import CARD_METADATA_KEY, PART_METADATA_KEY, WHOLE_MODEL, ModelCard
from aepipe.training.calibrate import calibrate_anomaly, calibrate_domain
from aepipe.training.data import load_rgb_images, split_holdout
from aepipe.training.networks import create_model, model_kwargs

PARITY_TOLERANCE = 1e-4
#: Tasks whose models work on whole images at the training patch's size (their card's
#: ``thumbnail``): an embedding's input, a generator's output. Their autoencoders are also
#: exported as encoder and decoder parts (the runtime embeds with one, generates with the
#: other).
THUMBNAIL_TASKS = ("embed", "generate")
Inputs = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sha256: str
    max_abs_diff: float


def example_inputs(card: ModelCard, n: int, height: int, width: int) -> Inputs:
    generator = torch.Generator().manual_seed(0)
    inputs = {"x": torch.rand(n, card.in_channels, height, width, generator=generator)}
    if card.noise_level_input:
        inputs["noise_level"] = torch.full((n, 1, 1, 1), 25 / 255)
    return inputs


def _dynamic_shapes(inputs: Inputs) -> dict[str, dict[int, object]]:
    """Batch and spatial axes of image/latent maps are dynamic, channels are not.

    Axes traced at size 1 (a per-image noise level's H and W) stay static: they broadcast.
    """
    shapes: dict[str, dict[int, object]] = {}
    for name, tensor in inputs.items():
        axes = (0, 2, 3) if tensor.ndim == 4 else range(tensor.ndim)
        shapes[name] = {a: torch.export.Dim.DYNAMIC for a in axes if tensor.shape[a] > 1}
    return shapes


def max_output_diff(module: nn.Module, path: Path, inputs: Inputs) -> float:
    """Max |torch - onnxruntime| over every output (integer outputs: any mismatch is >= 1)."""
    with torch.no_grad():
        expected = module(**inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    pairs = zip(expected, got, strict=True)
    return float(max(np.max(np.abs(e.numpy().astype(np.float64) - g)) for e, g in pairs))


def export_verified(
    module: nn.Module, traced: Inputs, check: Inputs, metadata: dict[str, str], path: Path
) -> ExportResult:
    """Trace ``module`` on ``traced`` (dynamic axes), save with ``metadata``, prove on ``check``.

    ``check`` should differ from ``traced`` in batch and size, so the dynamic axes are tested.
    """
    module.eval()
    program = torch.onnx.export(
        module,
        kwargs=traced,
        dynamic_shapes=_dynamic_shapes(traced),
        dynamo=True,
        external_data=False,
    )
    if program is None:
        raise RuntimeError(f"{path}: torch.onnx.export returned no program")
    proto = program.model_proto
    onnx.helper.set_model_props(proto, metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, path)
    onnx.checker.check_model(str(path), full_check=True)
    diff = max_output_diff(module, path, check)
    if diff > PARITY_TOLERANCE:
        raise RuntimeError(f"{path}: ONNX differs from torch by {diff:.2e} > {PARITY_TOLERANCE}")
    return ExportResult(path, file_sha256(path), diff)


def export_onnx(model: nn.Module, card: ModelCard, path: Path) -> ExportResult:
    """Export a whole image-to-image model with its card; see :func:`export_verified`."""
    m = card.pad_multiple
    traced, check = example_inputs(card, 2, 8 * m, 8 * m), example_inputs(card, 3, 5 * m, 7 * m)
    return export_verified(model, traced, check, {CARD_METADATA_KEY: card.to_json()}, path)


@runtime_checkable
class TwoPartModel(Protocol):
    pad_multiple: int

    def eval(self) -> nn.Module: ...

    def export_parts(self) -> tuple[nn.Module, nn.Module]: ...

    def latent_inputs(
        self, n: int, height: int, width: int, generator: torch.Generator | None = None
    ) -> Inputs: ...


def export_parts(model: TwoPartModel, card: ModelCard, folder: Path) -> dict[str, ExportResult]:
    """Write ``folder/NAME.encoder.onnx`` and ``folder/NAME.decoder.onnx``; results by part."""
    model.eval()
    encoder, decoder = model.export_parts()
    multiple = card.pad_multiple
    generator = torch.Generator().manual_seed(0)
    traced_size, check_size = (2, 8 * multiple, 8 * multiple), (3, 5 * multiple, 7 * multiple)
    parts = {
        "encoder": (encoder, example_inputs(card, *traced_size), example_inputs(card, *check_size)),
        "decoder": (
            decoder,
            model.latent_inputs(*traced_size, generator=generator),
            model.latent_inputs(*check_size, generator=generator),
        ),
    }
    return {
        part: export_verified(
            module,
            traced,
            check,
            {CARD_METADATA_KEY: card.to_json(), PART_METADATA_KEY: part},
            folder / f"{card.name}.{part}.onnx",
        )
        for part, (module, traced, check) in parts.items()
    }


#: The zoo field through which a model of this task serves others (``--companion-of``).
COMPANION_ROLES = {DOMAIN_CHECK_TASK: "domain_check", "segment": "detector", "denoise": "denoiser"}


def update_manifest(
    zoo: Path,
    card: ModelCard,
    parts: Mapping[str, ExportResult],
    default: bool,
    companion_of: Sequence[str] = (),
    companions_from: str = "",
) -> None:
    """Add or replace the entry named ``card.name`` (one entry, whatever its parts); with
    ``default``, it becomes the only default of its task and scale; the entries named in
    ``companion_of`` get it as their trust check, detector or refit's denoiser (by its task);
    it gets those of the entry named ``companions_from`` (a successor of that model)."""
    manifest = zoo / "manifest.json"
    data = json.loads(manifest.read_text()) if manifest.exists() else {"models": []}
    previous: dict[str, Any] = next(
        (m for m in data["models"] if m["card"]["name"] == card.name), {}
    )
    models = [m for m in data["models"] if m["card"]["name"] != card.name]
    if default:  # one default per task and scale (superres has one per factor)
        for m in models:
            if (m["card"]["task"], m["card"]["scale"]) == (card.task, card.scale):
                m["default"] = False
    files = {
        name: {
            "file": result.path.name,
            "sha256": result.sha256,
            "parity_max_abs_diff": result.max_abs_diff,
        }
        for name, result in parts.items()
    }
    entry = {"default": default, "parts": files, "card": json.loads(card.to_json())}
    paired = previous  # a re-export keeps the models paired with it
    if companions_from:
        paired = next((m for m in models if m["card"]["name"] == companions_from), {})
        if not paired:
            raise ValueError(f"--companions-from {companions_from}: no such model in {manifest}")
    for role in COMPANION_ROLES.values():
        if paired.get(role):
            entry[role] = paired[role]
    models.append(entry)
    if companion_of:
        if card.task not in COMPANION_ROLES:
            roles = ", ".join(COMPANION_ROLES)
            raise ValueError(f"a '{card.task}' model serves no other ({roles} models do)")
        named = {m["card"]["name"]: m for m in models}
        for name in companion_of:
            if name not in named:
                raise ValueError(f"--companion-of {name}: no such model in {manifest}")
            named[name][COMPANION_ROLES[card.task]] = card.name
    data["models"] = sorted(models, key=lambda m: m["card"]["name"])
    manifest.write_text(json.dumps(data, indent=2) + "\n")


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """The network and training config saved by ``aepipe.training.train``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    config = json.loads(state["config"])
    model = create_model(config["model"], **model_kwargs(config.get("model_args", "")))
    model.load_state_dict(state["model"])
    return model, {**config, "step": state["step"]}


def save_weights(model: nn.Module, config: dict, path: Path) -> None:
    """Weights-only checkpoint of a shipped model (no optimiser): parity tests and fine-tuning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "step": config["step"], "config": json.dumps(config)}
    torch.save(state, path)


def card_for(model: nn.Module, config: dict, args: argparse.Namespace) -> ModelCard:
    command = (
        f"python -m aepipe.training.train --model {config['model']} --task {config['task']} "
        f"--data {config['data']} --steps {config['steps']} --batch {config['batch']} "
        f"--patch {config['patch']} --lr {config['lr']} --seed {config['seed']}"
    )
    if config.get("model_args"):
        command += f" --model-args '{config['model_args']}'"
    if config.get("loss", "l1") != "l1":
        command += f" --loss {config['loss']}"
    if config.get("clip_grad"):
        command += f" --clip-grad {config['clip_grad']}"
    for flag in ("masks", "negatives", "init_from"):  # the data beside --data, the start
        if config.get(flag):
            command += f" --{flag.replace('_', '-')} {config[flag]}"
    if config.get("device", "auto") != "auto":
        command += f" --device {config['device']}"
    if config.get("minutes"):
        command += f" --minutes {config['minutes']}"
    if args.training_note:
        command += f"  # {args.training_note}"
    quality = dict(q.split("=", 1) for q in args.quality or [])
    return ModelCard(
        name=args.name,
        task=args.task,
        version=args.version,
        architecture=config["model"],
        scale=getattr(model, "scale", 1),
        pad_multiple=getattr(model, "pad_multiple", 1),
        in_channels=getattr(model, "in_channels", 3),
        noise_level_input=bool(getattr(model, "noise_level_input", False)),
        thumbnail=config["patch"] if args.task in THUMBNAIL_TASKS else 0,
        code_shape=thumbnail_code_shape(model, config["patch"])
        if args.task in THUMBNAIL_TASKS
        else (),
        training_command=f"{command}  # trained {config['step']} steps",
        training_data=args.training_data or config["data"],
        data_terms=args.data_terms,
        quality={label: float(value) for label, value in quality.items()},
    )


def thumbnail_code_shape(model: nn.Module, side: int) -> tuple[int, ...]:
    """The shape of one ``side``² thumbnail's code: what the exported decoder takes per image."""
    if not isinstance(model, TwoPartModel):
        raise ValueError(f"{type(model).__name__} has no encoder and decoder to export apart")
    encoder, _ = model.export_parts()
    with torch.no_grad():
        code = encoder.eval()(torch.zeros(1, 3, side, side))
    return tuple((code[0] if isinstance(code, tuple) else code).shape[1:])


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """What every export command takes: checkpoint, name, zoo, card facts, weights folder."""
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", default="1")
    parser.add_argument("--zoo", type=Path, default=Path("aepipe/zoo"))
    parser.add_argument("--default", action="store_true", help="make it the task's default")
    parser.add_argument("--training-data", help="describes the data (default: the run's --data)")
    parser.add_argument(
        "--data-terms", default="BSDS images: non-commercial research and educational use"
    )
    parser.add_argument("--quality", nargs="*", help="measured figures, KEY=VALUE")
    parser.add_argument("--training-note", default="", help="appended to the card's command")
    parser.add_argument(
        "--weights", type=Path, default=Path("checkpoints"), help="folder for <name>.pt"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="aepipe export", description="Export a checkpoint to the model zoo."
    )
    add_export_arguments(parser)
    parser.add_argument("--task", required=True)
    parser.add_argument(
        "--calibrate",
        help="anomaly: folder or s3:// prefix of held-out normal images (default: the images the "
        "run held out)",
    )
    parser.add_argument(
        "--out", type=Path, help="write one self-contained .onnx here instead of into the zoo"
    )
    parser.add_argument(
        "--companion-of",
        nargs="*",
        default=(),
        help="zoo models this one serves: a domain-check model becomes their trust check, a "
        "segment model the detector that gates them, a denoise model their refit's denoiser",
    )
    parser.add_argument(
        "--companions-from",
        default="",
        help="a zoo model whose companions (trust check, detector, denoiser) this one gets too "
        "(its successor)",
    )
    args = parser.parse_args(argv)
    model, config = load_checkpoint(args.checkpoint)
    card = card_for(model, config, args)
    path = args.out or args.zoo / f"{args.name}.onnx"
    parts = {WHOLE_MODEL: export_onnx(model, card, path)}
    calibrated = CALIBRATIONS.get(args.task)
    if calibrated:
        card = calibrated(model, card, parts[WHOLE_MODEL].path, args.calibrate, config)
        parts[WHOLE_MODEL] = rewrite_card(parts[WHOLE_MODEL], card)
        scoring = card.anomaly
        print(f"threshold {scoring['threshold']:.4g}: {scoring['threshold_rule']}")
    if args.task in THUMBNAIL_TASKS and isinstance(model, TwoPartModel) and not args.out:
        parts |= export_parts(model, card, args.zoo)
    if not args.out:
        update_manifest(
            args.zoo, card, parts, args.default, args.companion_of, args.companions_from
        )
        save_weights(model, config, args.weights / f"{args.name}.pt")
    for result in parts.values():
        print(f"{result.path}  sha256 {result.sha256}  parity max|diff| {result.max_abs_diff:.2e}")


def anomaly_card(
    model: nn.Module, card: ModelCard, path: Path, calibrate: str | None, config: dict
) -> ModelCard:
    """``card`` with its anomaly scoring calibrated on normal images, and the code's size."""
    if calibrate:
        images, source = load_rgb_images(calibrate), calibrate
    else:
        images = split_holdout(load_rgb_images(config["data"]), config["holdout"])[1]
        source = f"the last {len(images)} images of {config['data']} (held out from training)"
    scoring = calibrate_anomaly(path, card, images)
    code = code_size(model)
    return dataclasses.replace(
        card,
        anomaly={
            **scoring.to_dict(),
            "calibration_data": source,
            "code_block": code[0],
            "code_channels": code[1],
        },
    )


def domain_card(
    model: nn.Module, card: ModelCard, path: Path, calibrate: str | None, config: dict
) -> ModelCard:
    """``card`` with its trust check calibrated: statistics from the photos the network
    trained on, at full resolution; threshold from the held-out ones (or ``calibrate``)."""
    images = load_rgb_images(config["data"])
    fit, held_out = split_holdout(images, config["holdout"])
    if calibrate:
        held_out = load_rgb_images(calibrate)
    scoring = calibrate_domain(path, card, fit, held_out)
    return dataclasses.replace(card, anomaly=scoring.to_dict())


#: Tasks whose card carries a calibration, and how it is made.
CALIBRATIONS = {"anomaly": anomaly_card, DOMAIN_CHECK_TASK: domain_card}


def code_size(model: nn.Module) -> tuple[int, int]:
    """(block side, code values per block) of a conv autoencoder: what PCA is compared at."""
    block = int(getattr(model, "pad_multiple", 1))
    with torch.no_grad():
        x = torch.zeros(1, 3, 4 * block, 4 * block)
        encoder = getattr(model, "g_a", None) or getattr(model, "encoder", None)
        if encoder is None:
            raise ValueError(f"{type(model).__name__} has no encoder to size its code")
        code = encoder(x)
    code = code[0] if isinstance(code, tuple) else code
    return block, int(code.shape[1])


def rewrite_card(result: ExportResult, card: ModelCard) -> ExportResult:
    """Store ``card`` in the exported file's metadata (the graph is untouched)."""
    proto = onnx.load(str(result.path))
    props = {p.key: p.value for p in proto.metadata_props}
    props[CARD_METADATA_KEY] = card.to_json()
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(result.path))
    return ExportResult(result.path, file_sha256(result.path), result.max_abs_diff)


if __name__ == "__main__":
    main()
