"""Small ONNX models the tests build without torch: a fixed-weight "autoencoder" that blurs.

A depthwise 3 x 3 box blur reconstructs smooth images well and sharp details badly, which is
all an anomaly score or a trust check needs to be exercised end to end through the runtime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from aepipe.runtime.model.card import CARD_METADATA_KEY, ModelCard


def blur_autoencoder(path: Path, card: ModelCard) -> Path:
    """Write an ONNX model x (N x 3 x H x W) -> 3 x 3 box blur of x, with ``card``."""
    weight = np.full((3, 1, 3, 3), 1 / 9, dtype=np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=3, pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node],
        "blur",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [numpy_helper.from_array(weight, "w")],
    )
    return _save(graph, card, path)


def white_mark_segmenter(path: Path, card: ModelCard) -> Path:
    """Write an ONNX mask model x (N x 3 x H x W) -> N x 1 x H x W probability that a pixel is
    near-white in every channel (a stand-in for a white watermark), with ``card``."""
    nodes = [
        helper.make_node("ReduceMin", ["x"], ["darkest"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["darkest", "level"], ["above"]),
        helper.make_node("Mul", ["above", "steepness"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "white-marks",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        [
            numpy_helper.from_array(np.array(0.9, np.float32), "level"),
            numpy_helper.from_array(np.array(60.0, np.float32), "steepness"),
        ],
    )
    return _save(graph, card, path)


def grey_filler(path: Path, card: ModelCard) -> Path:
    """Write an ONNX inpainting model x (N x 4 x H x W: RGB blanked in the hole, the hole) ->
    N x 3 x H x W: the image, mid-grey inside the hole, with ``card`` (in_channels 4)."""
    nodes = [
        helper.make_node("Split", ["x", "sizes"], ["rgb", "hole"], axis=1),
        helper.make_node("Mul", ["hole", "grey"], ["fill"]),
        helper.make_node("Add", ["rgb", "fill"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "grey-fill",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [
            numpy_helper.from_array(np.array([3, 1], np.int64), "sizes"),
            numpy_helper.from_array(np.array(0.5, np.float32), "grey"),
        ],
    )
    return _save(graph, card, path)


def _save(graph: onnx.GraphProto, card: ModelCard, path: Path) -> Path:
    """``graph`` as an opset-17 model carrying ``card``, written to ``path``."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {CARD_METADATA_KEY: card.to_json()})
    onnx.save(model, str(path))
    return path


def photo_like(rng: np.random.Generator, height: int = 64, width: int = 64) -> np.ndarray:
    """Smooth gradients and soft discs with mild grain: H x W x 3 uint8, unlike any defect."""
    yy, xx = (np.mgrid[0:height, 0:width].astype(np.float32) + 0.5) / max(height, width)
    image = np.empty((height, width, 3), np.float32)
    for channel in range(3):
        gx, gy, phase = rng.uniform(-0.3, 0.3, 3)
        image[..., channel] = 0.5 + gx * (xx - 0.5) + gy * (yy - 0.5) + 0.1 * np.sin(6 * xx + phase)
    image += rng.normal(0, 3 / 255, image.shape).astype(np.float32)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
