"""What every task promises the pipeline: bytes in, a result and report fields out.

A task reads its input (an image, or an ``.aec`` stream), transforms it and writes its
output (an image, or an ``.aec`` stream). Tasks hold their model (loaded once per worker)
and know nothing about storage or reports; that keeps them testable with plain arrays.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from posixpath import splitext
from typing import ClassVar, Protocol

import numpy as np
from PIL import Image

from aepipe.images import (
    DecodedImage,
    ImageInfo,
    decode,
    encode,
    extension_for,
    output_format,
    written_format,
)
from aepipe.runtime.options import ChunkOptions
from aepipe.runtime.tasks.names import TaskName


@dataclass(frozen=True)
class TaskOutput:
    pixels: np.ndarray  # H' x W' x C, the input's native dtype
    alpha: np.ndarray | None  # passed through (resized when the task changes the size)
    fields: Mapping[str, object] = field(default_factory=dict)  # task-specific report fields
    payload: bytes | None = None  # already-encoded output (an .aec stream); None: encode pixels
    compare_to_input: bool = True  # the row has MSE/PSNR against the input pixels ...
    reconstruction: np.ndarray | None = None  # ... of this, when not of the output pixels


#: Provenance metadata every output carries: the model file's sha256 and the parameters' digest.
MODEL_SHA256_METADATA = "aepipe-model-sha256"
PARAMS_METADATA = "aepipe-params"


@dataclass(frozen=True)
class TaskRuntime:
    """What actually ran, for the run's summary."""

    model: str | list[str] | None  # the model's name (decompress: every codec streams named)
    providers: list[str]  # execution providers the session really got (CPU after a fallback)
    thresholds: dict[str, float] = field(default_factory=dict)  # row field -> decision threshold


def provenance_of(model_sha256: str, params: Mapping[str, object]) -> dict[str, str]:
    """The metadata an output of a task with this model and these parameters carries."""
    return {MODEL_SHA256_METADATA: model_sha256, PARAMS_METADATA: params_digest(params)}


def params_digest(params: Mapping[str, object]) -> str:
    """Short, stable hash of a task's parameters: part of every output's provenance."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


class Task(Protocol):
    name: TaskName
    #: The row field that also names the output's key (anomaly: ``anomaly_map_key``), or None.
    output_key_field: ClassVar[str | None]
    #: False for a task whose result is all in its row (embed): no object is written per
    #: image, so nothing is skipped either; a resumed run still reuses finished chunks.
    writes_output: ClassVar[bool]

    @property
    def provenance(self) -> Mapping[str, str]:
        """Stored on every output; a later run skips an image whose output carries the same."""
        ...

    @property
    def runtime(self) -> TaskRuntime:
        """What actually ran (model name, execution providers), for the run's summary."""
        ...

    def read(
        self, data: bytes, key: str, max_pixels: int, sibling: bytes | None = None
    ) -> DecodedImage:
        """The input object's bytes (and its sibling's, for tasks in ``SIBLING_SUFFIXES``)
        -> pixels; typed errors name ``key``."""
        ...

    def apply(self, image: DecodedImage) -> TaskOutput: ...

    def write(self, output: TaskOutput, info: ImageInfo, options: ChunkOptions) -> bytes:
        """The output object's bytes."""
        ...

    def output_extension(self, info: ImageInfo, options: ChunkOptions) -> str: ...

    def predicted_extension(self, key: str, options: ChunkOptions) -> str | None:
        """The output extension from the input key alone (skip checks before downloading)."""
        ...


class ImageIO:
    """Image in, image out, in the input's format unless ``--format`` says otherwise."""

    output_key_field: ClassVar[str | None] = None
    writes_output: ClassVar[bool] = True

    def read(
        self, data: bytes, key: str, max_pixels: int, sibling: bytes | None = None
    ) -> DecodedImage:
        return decode(data, key, max_pixels=max_pixels)

    def write(self, output: TaskOutput, info: ImageInfo, options: ChunkOptions) -> bytes:
        return encode(
            output.pixels,
            info,
            alpha=output.alpha,
            format=output_format(info, options.format),
            jpeg_quality=options.jpeg_quality,
        )

    def output_extension(self, info: ImageInfo, options: ChunkOptions) -> str:
        return extension_for(output_format(info, options.format))

    def predicted_extension(self, key: str, options: ChunkOptions) -> str | None:
        input_format = Image.registered_extensions().get(splitext(key)[1].lower())
        if input_format is None:
            return None
        return extension_for(written_format(input_format, options.format))


class MapIO(ImageIO):
    """Image in, a map derived from it out (an anomaly heatmap, a mark mask): an 8-bit PNG
    (RGB or gray, as the map is) named ``<stem>`` + ``map_extension``, whatever the input was."""

    map_extension: ClassVar[str]

    def write(self, output: TaskOutput, info: ImageInfo, options: ChunkOptions) -> bytes:
        channels = output.pixels.shape[2]
        return encode(output.pixels, _map_png_info(info, channels=channels), format="PNG")

    def output_extension(self, info: ImageInfo, options: ChunkOptions) -> str:
        return self.map_extension

    def predicted_extension(self, key: str, options: ChunkOptions) -> str | None:
        return self.map_extension


def _map_png_info(info: ImageInfo, *, channels: int) -> ImageInfo:
    """What a map derived from an image is (an anomaly heatmap: RGB; a mask: gray), whatever
    the image was: an 8-bit PNG of its size without its metadata."""
    return ImageInfo(
        format="PNG",
        mode="RGB" if channels == 3 else "L",
        width=info.width,
        height=info.height,
        dtype="uint8",
        channels=channels,
        has_alpha=False,
        icc_profile=None,
        exif=None,
        warnings=(),
    )
