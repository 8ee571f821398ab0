"""``compress`` (image -> ``.aec``) and ``decompress`` (``.aec`` -> PNG) as pipeline tasks.

A compress row says what the file cost and what it kept: bytes, bpp, PSNR/MS-SSIM of the
decoded result (decoded from the written bytes, so the figure is what a reader will get) and
the PSNR that JPEG and WebP reach on the same image at the same bpp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from posixpath import splitext

from aepipe.errors import ImageTooLargeError, ModelError
from aepipe.images import (
    DecodedImage,
    ImageInfo,
    as_dtype,
    as_rgb,
    extension_for,
    written_format,
)
from aepipe.runtime.anomaly.domain import DomainCheck
from aepipe.runtime.codec.anchors import psnr_at_bpp
from aepipe.runtime.codec.learned import LearnedCodec, load_codec, read_header
from aepipe.runtime.codec.targets import CodedFile, QualityTarget
from aepipe.runtime.options import ChunkOptions
from aepipe.runtime.tasks.base import ImageIO, TaskOutput, TaskRuntime, provenance_of
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.restore import domain_thresholds

AEC_EXTENSION = ".aec"
ANCHOR_CODECS = ("jpeg", "webp")


@dataclass
class CompressTask(ImageIO):
    """Codes each image at rate point ``rate``; rows compare it with JPEG/WebP at equal bpp."""

    codec: LearnedCodec
    rate: int
    anchors: bool = True
    name: TaskName = TaskName.COMPRESS
    domain: DomainCheck | None = None  # trust check: rows get domain_score, out_of_domain
    target: QualityTarget | None = None  # each image's rate chosen to meet it instead

    @property
    def provenance(self) -> Mapping[str, str]:
        target = self.target
        choice = {"target": f"{target.measure}={target.value}"} if target else {"rate": self.rate}
        return provenance_of(self.codec.fingerprint, {"task": str(self.name), **choice})

    @property
    def runtime(self) -> TaskRuntime:
        encoder = self.codec.encoder
        providers = encoder.providers if encoder else []
        return TaskRuntime(self.codec.name, providers, domain_thresholds(self.domain))

    def apply(self, image: DecodedImage) -> TaskOutput:
        fields: dict[str, object] = self.domain.fields(image.pixels) if self.domain else {}
        if self.target is None:
            coded = self._coded(image, self.rate)
        else:
            rates = len(self.codec.rates)
            coded, met = self.target.search(rates, lambda rate: self._coded(image, rate))
            fields[f"target_{self.target.measure}"] = self.target.value
            fields["target_met"] = met
        bpp = coded.measures["bpp"]
        fields.update(
            rate=coded.rate, bpp=round(bpp, 5), ms_ssim=round(coded.measures["ms_ssim"], 6)
        )
        if self.anchors:
            fields.update(_anchor_fields(image, coded.measures["psnr"], bpp))
        return TaskOutput(coded.decoded.pixels, coded.decoded.alpha, fields, payload=coded.data)

    def _coded(self, image: DecodedImage, rate: int) -> CodedFile:
        """``image`` coded at ``rate`` and decoded from the bytes, as a reader will get it."""
        data = self.codec.compress(image, rate)
        return CodedFile.measured(rate, data, image, self.codec.decompress(data))

    def write(self, output: TaskOutput, info: ImageInfo, options: ChunkOptions) -> bytes:
        assert output.payload is not None  # apply always sets it
        return output.payload

    def output_extension(self, info: ImageInfo, options: ChunkOptions) -> str:
        return AEC_EXTENSION

    def predicted_extension(self, key: str, options: ChunkOptions) -> str | None:
        return AEC_EXTENSION


def _anchor_fields(image: DecodedImage, ours: float, bpp: float) -> dict[str, object]:
    """PSNR of JPEG and WebP at this bpp, and how far the learned codec's (``ours``) is above.

    Anchors code the 8-bit RGB view of the image (gray replicated), which is also what the
    codec's PSNR is measured against for 8-bit inputs.
    """
    rgb = as_rgb(as_dtype(image.pixels, "uint8"))
    fields: dict[str, object] = {}
    for codec in ANCHOR_CODECS:
        anchor = psnr_at_bpp(rgb, codec, bpp)
        fields[f"{codec}_psnr_at_bpp"] = None if anchor is None else round(anchor, 3)
        fields[f"gain_vs_{codec}_db"] = None if anchor is None else round(ours - anchor, 3)
    return fields


@dataclass
class DecompressTask(ImageIO):
    """Decodes ``.aec`` streams with the model each header names (or the one given)."""

    model: str | None = None
    threads: int = 0
    name: TaskName = TaskName.DECOMPRESS
    _codecs: dict[str, LearnedCodec] = field(default_factory=dict, repr=False)

    @property
    def provenance(self) -> Mapping[str, str]:
        model = self.model or "named-by-stream"
        return provenance_of(model, {"task": str(self.name)})

    @property
    def runtime(self) -> TaskRuntime:
        providers = sorted({p for c in self._codecs.values() for p in c.decoder.providers})
        return TaskRuntime(self.model or sorted(self._codecs), providers)

    def read(
        self, data: bytes, key: str, max_pixels: int, sibling: bytes | None = None
    ) -> DecodedImage:
        header = read_header(data, key)
        if header.width * header.height > max_pixels:
            size = f"{header.width}x{header.height}"
            raise ImageTooLargeError(key, f"{size} is more than the {max_pixels}-pixel limit")
        return self._codec(header.model_name).decompress(data, key)

    def apply(self, image: DecodedImage) -> TaskOutput:
        return TaskOutput(image.pixels, image.alpha, compare_to_input=False)

    def predicted_extension(self, key: str, options: ChunkOptions) -> str | None:
        if splitext(key)[1].lower() != AEC_EXTENSION:
            return None
        return extension_for(written_format("PNG", options.format))

    def _codec(self, name: str) -> LearnedCodec:
        spec = self.model or name
        if spec not in self._codecs:
            try:
                self._codecs[spec] = load_codec(spec, with_encoder=False, threads=self.threads)
            except ModelError as error:
                raise ModelError(f"stream needs codec {name!r}: {error}") from None
        return self._codecs[spec]
