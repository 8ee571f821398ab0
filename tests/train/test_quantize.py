"""`aepipe quantize`: an int8 copy of a zoo model, in a zoo, within a fraction of a dB."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from aepipe.degrade import noisy_file
from aepipe.demo import SAMPLES
from aepipe.images import decode
from aepipe.metrics.error import reconstruction_error
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.model.zoo import ZOO_DIR
from aepipe.training.quantize import float_convolutions
from aepipe.training.quantize import main as quantize_main

pytestmark = pytest.mark.train


def test_the_int8_copy_joins_the_zoo_and_denoises_about_as_well(tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    for name in ("denoise-unet-s.onnx", "manifest.json"):
        shutil.copy(ZOO_DIR / name, zoo / name)
    photos = tmp_path / "photos"
    photos.mkdir()
    for path in sorted(SAMPLES.glob("*.png"))[:2]:
        shutil.copy(path, photos / path.name)
    quantize_main(
        ["denoise-unet-s", "--name", "fast", "--data", str(photos), "--crops", "6", "--side",
         "64", "--zoo", str(zoo), "--quality", "CBSD68 sigma25 PSNR=1.5"]
    )  # fmt: skip
    entry = next(m for m in json.loads((zoo / "manifest.json").read_text())["models"]
                 if m["card"]["name"] == "fast")  # fmt: skip
    assert entry["card"]["quantized_from"] == "denoise-unet-s" and not entry["default"]
    assert entry["card"]["training_command"].startswith("aepipe quantize denoise-unet-s")
    graph = onnx.load(str(zoo / "fast.onnx")).graph
    kinds = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= kinds
    first, last = float_convolutions(ZOO_DIR / "denoise-unet-s.onnx")
    weights_of = {n.name: n.input[1] for n in graph.node if n.op_type == "Conv"}
    int8_weights = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    assert weights_of[first] not in int8_weights and weights_of[last] not in int8_weights
    assert len(int8_weights & set(weights_of.values())) >= 20  # the rest run in int8

    fast, slow = OnnxModel(zoo / "fast.onnx"), OnnxModel(ZOO_DIR / "denoise-unet-s.onnx")
    assert fast.card.name == "fast" and fast.card.quality == {"CBSD68 sigma25 PSNR": 1.5}
    clean = decode((sorted(SAMPLES.glob("*.png"))[2]).read_bytes(), "photo").pixels[:128, :128]
    noisy = noisy_file(clean, 25, np.random.default_rng(0))
    x = noisy.astype(np.float32).transpose(2, 0, 1)[None] / 255
    level = np.full((1, 1, 1, 1), 25 / 255, np.float32)
    results = [m.run(x, noise_level=level)[0].transpose(1, 2, 0) for m in (fast, slow)]
    gains = [reconstruction_error(clean, np.clip(r * 255, 0, 255))[1] for r in results]
    assert gains[0] > gains[1] - 0.5, gains  # 6 calibration crops; the shipped copy: 48
