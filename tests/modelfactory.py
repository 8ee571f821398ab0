"""Small ONNX models the tests build without torch: a fixed-weight "autoencoder" that blurs.

A depthwise 3 x 3 box blur reconstructs smooth images well and sharp details badly, which is
all an anomaly score or a trust check needs to be exercised end to end through the runtime.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from aepipe.runtime.generation.samplers import FREQUENCIES_METADATA_KEY
from aepipe.runtime.model.card import CARD_METADATA_KEY, PART_METADATA_KEY, ModelCard


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
    """Write an ONNX model of RGB and a mask in (N x 4 x H x W: an inpainting filler's hole or
    a guided remover's mark) -> N x 3 x H x W: the image, mid-grey inside the mask, with
    ``card`` (in_channels 4)."""
    nodes = [
        helper.make_node("Split", ["x", "sizes"], ["rgb", "hole"], axis=1),
        helper.make_node("Sub", ["one", "hole"], ["outside"]),
        helper.make_node("Mul", ["rgb", "outside"], ["kept"]),
        helper.make_node("Mul", ["hole", "grey"], ["fill"]),
        helper.make_node("Add", ["kept", "fill"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "grey-fill",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [
            numpy_helper.from_array(np.array([3, 1], np.int64), "sizes"),
            numpy_helper.from_array(np.array(0.5, np.float32), "grey"),
            numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        ],
    )
    return _save(graph, card, path)


def block_mean_embedder(stem: Path, card: ModelCard, block: int = 8) -> Path:
    """Write ``stem.encoder.onnx`` (x -> its ``block`` x ``block`` means: a linear code) and
    ``stem.decoder.onnx`` (code -> the means repeated), the two parts of an embedding model
    with ``card``; returns the encoder's path."""
    pool = helper.make_node(
        "AveragePool", ["x"], ["code"], kernel_shape=[block, block], strides=[block, block]
    )
    encoder = helper.make_graph(
        [pool],
        "block-mean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("code", TensorProto.FLOAT, ["n", 3, "a", "b"])],
    )
    scales = np.array([1, 1, block, block], np.float32)
    decoder = helper.make_graph(
        [helper.make_node("Resize", ["z", "", "scales"], ["y"], mode="nearest")],
        "repeat",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 3, "a", "b"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [numpy_helper.from_array(scales, "scales")],
    )
    path = _save(encoder, card, stem.with_suffix(".encoder.onnx"), part="encoder")
    _save(decoder, card, stem.with_suffix(".decoder.onnx"), part="decoder")
    return path


def _save(
    graph: onnx.GraphProto,
    card: ModelCard,
    path: Path,
    part: str | None = None,
    extra: dict[str, str] | None = None,
) -> Path:
    """``graph`` as an opset-17 model carrying ``card`` (``part``, ``extra`` metadata),
    written to ``path``."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = {CARD_METADATA_KEY: card.to_json(), **(extra or {})}
    if part:
        props[PART_METADATA_KEY] = part
    helper.set_model_props(model, props)
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


def gaussian_decoder(path: Path, card: ModelCard, channels: int = 4) -> Path:
    """Write a VAE-like ``decoder`` part: z (N x channels x h x w) -> sigmoid of its first three
    channels, repeated ``card.pad_multiple`` times each way (N x 3 x H x W)."""
    scale = float(card.pad_multiple)
    nodes = [
        helper.make_node("Slice", ["z", "starts", "ends", "axes"], ["rgb"]),
        helper.make_node("Sigmoid", ["rgb"], ["unit"]),
        helper.make_node("Resize", ["unit", "", "scales"], ["y"], mode="nearest"),
    ]
    graph = helper.make_graph(
        nodes,
        "gaussian-decoder",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", channels, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "H", "W"])],
        [
            numpy_helper.from_array(np.array([0], np.int64), "starts"),
            numpy_helper.from_array(np.array([3], np.int64), "ends"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
            numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales"),
        ],
    )
    return _save(graph, card, path, part="decoder")


def counting_code_model(stem: Path, card: ModelCard, codes: int = 4) -> Path:
    """Write a VQ-VAE-like ``decoder`` part (indices N x h x w -> the gray level index / (codes
    - 1), repeated ``card.pad_multiple`` times each way) and a ``prior`` part whose next code
    is always the last one plus 1 (mod ``codes``; after START: 0), with the code frequencies
    in its metadata. Returns the decoder's path."""
    levels = np.linspace(0, 1, codes, dtype=np.float32)[:, None].repeat(3, axis=1)  # K x 3
    scale = float(card.pad_multiple)
    decoder = helper.make_graph(
        [
            helper.make_node("Gather", ["levels", "indices"], ["nhwc"]),
            helper.make_node("Transpose", ["nhwc"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("Resize", ["nchw", "", "scales"], ["y"], mode="nearest"),
        ],
        "code-decoder",
        [helper.make_tensor_value_info("indices", TensorProto.INT64, ["n", "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "H", "W"])],
        [
            numpy_helper.from_array(levels, "levels"),
            numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales"),
        ],
    )
    table = np.full((codes + 1, codes), -30.0, np.float32)  # token -> logits of the next code
    for token in range(codes + 1):
        table[token, 0 if token == codes else (token + 1) % codes] = 30.0
    prior = helper.make_graph(
        [helper.make_node("Gather", ["table", "tokens"], ["logits"])],
        "counting-prior",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["n", "length"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", "length", codes])],
        [numpy_helper.from_array(table, "table")],
    )
    path = _save(decoder, card, stem.with_suffix(".decoder.onnx"), part="decoder")
    frequencies = {FREQUENCIES_METADATA_KEY: json.dumps([1 / codes] * codes)}
    _save(prior, card, stem.with_suffix(".prior.onnx"), part="prior", extra=frequencies)
    return path
