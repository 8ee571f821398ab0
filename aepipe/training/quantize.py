"""``aepipe quantize``: a static int8 copy of a zoo model, the CPU fast path (issue 20).

Convolutions, transposed convolutions and ReLUs run in int8: weights per output channel,
activations per tensor (uint8), their ranges the ``--percentile`` of what calibration crops
produce. Additions and concatenations stay float, and so do the first and the last
convolution (they see and make pixels) and any node named with ``--keep-float``: quantising
every node cost the denoiser 0.57–0.88 dB (docs/benchmarks.md). ONNX Runtime's quantiser
rewrites the shipped file, so no torch is needed; the copy's card names its float source
(``quantized_from``) and the command that made it.

``--aware-minutes M --weights CKPT`` first fine-tunes the float model's training checkpoint for
M minutes so that it tolerates the first copy's rounding (``quantize_aware``, torch), then
quantises the tuned weights by the same recipe; the tuned checkpoint is kept beside ``CKPT`` as
``<name>.pt`` so that a later leg can continue from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from aepipe.degrade import noisy_file
from aepipe.runtime.model.cache import file_sha256
from aepipe.runtime.model.card import CARD_METADATA_KEY, WHOLE_MODEL, ModelCard
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.model.zoo import load_manifest
from aepipe.training.data import load_rgb_images
from aepipe.training.export import ExportResult, update_manifest

INT8_OPS = ("Conv", "ConvTranspose", "Relu")
#: Noise levels calibration crops get when the model takes one (in turn): the ranges of every
#: level a user may pass, not just the one the card's headline figure uses.
CALIBRATION_SIGMAS = (15.0, 25.0, 50.0)


class _Feeds(CalibrationDataReader):
    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def calibration_feeds(
    card: ModelCard,
    images: Sequence[np.ndarray],
    crops: int,
    side: int,
    sigmas: Sequence[float] = CALIBRATION_SIGMAS,
    seed: int = 0,
) -> list[dict[str, np.ndarray]]:
    """``crops`` random ``side``-pixel crops of ``images`` in the model's input layout; noisy
    8-bit crops with their noise level for a model that takes one."""
    rng = np.random.default_rng(seed)
    feeds = []
    for i in range(crops):
        image = images[i % len(images)]
        height, width = (
            min(side, n) // card.pad_multiple * card.pad_multiple for n in image.shape[:2]
        )
        top = int(rng.integers(0, image.shape[0] - height + 1))
        left = int(rng.integers(0, image.shape[1] - width + 1))
        crop = image[top : top + height, left : left + width]
        feed = {}
        if card.noise_level_input:
            sigma = sigmas[i % len(sigmas)]
            crop = noisy_file(crop, sigma, rng)
            feed["noise_level"] = np.full((1, 1, 1, 1), sigma / 255, dtype=np.float32)
        pixels = crop.astype(np.float32) / 255
        feed["x"] = np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])
        feeds.append(feed)
    return feeds


def float_convolutions(path: Path) -> list[str]:
    """The first and the last convolution of the graph: they see and make pixels."""
    convolutions = [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"]
    return [convolutions[0], convolutions[-1]] if convolutions else []


def quantize(
    source: Path,
    target: Path,
    feeds: Sequence[dict[str, np.ndarray]],
    metadata: dict[str, str],
    keep_float: Sequence[str] = (),
    percentile: float = 99.99,
) -> None:
    """Write the int8 copy of the model at ``source`` to ``target``, with ``metadata``."""
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(target),
            _Feeds(feeds),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(INT8_OPS),
            nodes_to_exclude=[*float_convolutions(source), *keep_float],
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": percentile},
        )
    model = onnx.load(str(target))
    onnx.helper.set_model_props(model, metadata)
    onnx.save(model, str(target))


def max_difference(
    source: OnnxModel, copy: OnnxModel, feeds: Sequence[dict[str, np.ndarray]]
) -> float:
    """Largest output difference between the float model and its int8 copy on ``feeds``."""

    def run(model: OnnxModel, feed: dict[str, np.ndarray]) -> np.ndarray:
        return model.run(feed["x"], noise_level=feed.get("noise_level"))

    return max(float(np.max(np.abs(run(source, f) - run(copy, f)))) for f in feeds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="aepipe quantize", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="zoo name of the float model")
    parser.add_argument("--name", required=True, help="the int8 copy's zoo name")
    parser.add_argument("--data", required=True, help="folder or s3:// prefix of photos")
    parser.add_argument("--crops", type=int, default=48, help="calibration crops")
    parser.add_argument("--side", type=int, default=128, help="calibration crop side")
    parser.add_argument("--percentile", type=float, default=99.99, help="activation range")
    parser.add_argument(
        "--noise-levels",
        type=float,
        nargs="+",
        default=list(CALIBRATION_SIGMAS),
        help="σ of the calibration crops, in turn (models with a noise-level input)",
    )
    parser.add_argument("--keep-float", nargs="*", default=[], help="node names left float")
    parser.add_argument(
        "--aware-minutes",
        type=float,
        default=0.0,
        help="fine-tune the float weights against the int8 rounding this long first (torch)",
    )
    parser.add_argument(
        "--weights", type=Path, help="the float model's training checkpoint (--aware-minutes)"
    )
    parser.add_argument(
        "--teacher",
        type=Path,
        help="the float checkpoint to match (default --weights; a later leg gives the original)",
    )
    parser.add_argument("--aware-lr", type=float, default=1e-5, help="peak learning rate")
    parser.add_argument("--quality", nargs="*", default=[], help="measured figures, KEY=VALUE")
    parser.add_argument("--zoo", type=Path, default=Path("aepipe/zoo"))
    args = parser.parse_args(argv)
    if args.aware_minutes and args.weights is None:
        parser.error("--aware-minutes needs --weights, the float model's training checkpoint")
    entry = next(
        (e for e in load_manifest(args.zoo / "manifest.json") if e.card.name == args.model), None
    )
    if entry is None or WHOLE_MODEL not in entry.parts:
        raise SystemExit(f"aepipe quantize: {args.model} is no one-file model in {args.zoo}")
    source_path = args.zoo / entry.part(WHOLE_MODEL).file
    source = OnnxModel(source_path)
    quality = {k: float(v) for k, v in (item.split("=", 1) for item in args.quality)}
    card = dataclasses.replace(
        entry.card,
        name=args.name,
        quantized_from=entry.card.name,
        training_command=shlex.join(
            ["aepipe", "quantize", *(sys.argv[1:] if argv is None else argv)]
        ),
        quality=quality,
    )
    images = load_rgb_images(args.data)
    feeds = calibration_feeds(card, images, args.crops, args.side, args.noise_levels)
    target = args.zoo / f"{args.name}.onnx"
    metadata = {**source.metadata, CARD_METADATA_KEY: card.to_json()}
    quantize(source_path, target, feeds, metadata, args.keep_float, args.percentile)
    if args.aware_minutes:
        from aepipe.training.quantize_aware import DistilConfig, tuned_float_model  # torch

        with tempfile.TemporaryDirectory() as scratch:
            tuned = tuned_float_model(
                args.weights,
                args.teacher or args.weights,
                source_path,
                entry.card,
                target,
                images,
                DistilConfig(minutes=args.aware_minutes, lr=args.aware_lr),
                args.weights.with_name(f"{args.name}.pt"),
                Path(scratch) / "tuned.onnx",
            )
            quantize(tuned, target, feeds, metadata, args.keep_float, args.percentile)
    check = calibration_feeds(card, images, 4, args.side, args.noise_levels, seed=1)
    difference = max_difference(source, OnnxModel(target), check)
    result = ExportResult(target, file_sha256(target), difference)
    update_manifest(args.zoo, card, {WHOLE_MODEL: result}, default=False)
    print(f"{target}  sha256 {result.sha256}  max|diff| vs {entry.card.name} {difference:.2e}")


if __name__ == "__main__":
    main()
