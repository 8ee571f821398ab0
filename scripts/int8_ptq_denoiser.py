"""Issue 20, CPU fast path, first measurement: static int8 (QDQ) quantisation of the shipped
denoiser, speed and PSNR against the float model.

    python scripts/int8_ptq_denoiser.py [--images 12] [--exclude-ends] [--percentile]

Calibration: 32 random 128 px crops of CBSD432 with σ = 25 noise (8-bit, as files hold it).
Speed: median of 5 calls on a 1 x 3 x 256 x 256 tile, 2 threads, both models interleaved.
Quality: whole CBSD68 images (cropped to a multiple of 4), σ = 25, PSNR of the 8-bit output.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

from aepipe.degrade import noisy_file
from aepipe.metrics import psnr_from_mse

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MODEL = ROOT / "aepipe" / "zoo" / "denoise-unet-s.onnx"
SIGMA = 25
#: The first conv (it sees the σ map), the last conv and the residual subtraction.
ENDS = ["node_conv2d", "node_conv2d_23", "node_sub_180"]


def load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def inputs(clean: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    noisy = noisy_file(clean, SIGMA, np.random.default_rng(seed)).astype(np.float32) / 255
    level = np.full((1, 1, 1, 1), SIGMA / 255, np.float32)
    return {"x": noisy.transpose(2, 0, 1)[None].copy(), "noise_level": level}


class Crops(CalibrationDataReader):
    def __init__(self, count: int = 32, side: int = 128) -> None:
        rng = np.random.default_rng(0)
        feeds = []
        for seed, path in enumerate(sorted((DATA / "CBSD432").iterdir())[:count]):
            image = load(path)
            top = int(rng.integers(0, image.shape[0] - side))
            left = int(rng.integers(0, image.shape[1] - side))
            feeds.append(inputs(image[top : top + side, left : left + side], seed))
        self.feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.feeds, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--exclude-ends", action="store_true")
    parser.add_argument("--percentile", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("/tmp/denoise-unet-s-int8.onnx"))
    args = parser.parse_args()
    prepared = args.out.with_suffix(".pre.onnx")
    quant_pre_process(str(MODEL), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(args.out),
        Crops(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=ENDS if args.exclude_ends else [],
        calibrate_method=CalibrationMethod.Percentile
        if args.percentile
        else CalibrationMethod.MinMax,
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    sessions = {
        name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for name, path in (("float32", MODEL), ("int8", args.out))
    }
    tile = {"x": np.random.rand(1, 3, 256, 256).astype(np.float32)}
    tile["noise_level"] = np.full((1, 1, 1, 1), SIGMA / 255, np.float32)
    seconds: dict[str, list[float]] = {name: [] for name in sessions}
    for session in sessions.values():
        session.run(None, tile)  # warm-up
    for _ in range(5):
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run(None, tile)
            seconds[name].append(time.perf_counter() - start)
    psnrs: dict[str, list[float]] = {name: [] for name in sessions}
    for seed, path in enumerate(sorted((DATA / "CBSD68").iterdir())[: args.images]):
        image = load(path)
        image = image[: image.shape[0] // 4 * 4, : image.shape[1] // 4 * 4]
        clean = image.astype(np.float32) / 255
        feed = inputs(image, 1000 + seed)
        for name, session in sessions.items():
            out = np.clip(session.run(None, feed)[0][0].transpose(1, 2, 0), 0, 1)
            out = np.round(out * 255) / 255
            psnrs[name].append(psnr_from_mse(float(np.mean((out - clean) ** 2))))
    for name in sessions:
        print(
            f"{name}: {1000 * statistics.median(seconds[name]):.1f} ms per 256² tile, "
            f"mean PSNR {np.mean(psnrs[name]):.3f} dB on the first {args.images} CBSD68 images"
        )


if __name__ == "__main__":
    main()
