"""The learned codec at run time: ONNX transforms, per-rate gains, integer tables; no torch.

    compress:   pixels ─► pad to 16 ─► encoder.onnx ─► y · gain[q] ─► round ─► ANS ─► .aec
    decompress: .aec ─► header checks ─► ANS ─► symbols · inverse_gain[q] ─► decoder.onnx ─► crop

Gray images are coded as three equal channels and averaged back; 16-bit images are coded on
the same [0, 1] scale and written back at 16 bits (the codec's precision is what the model
reaches, not 16 bits); alpha is stored losslessly (zlib) beside the latents. The header names
the decoder by name and sha256 prefix, and both are checked before any symbol is decoded.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from aepipe.errors import BitstreamError, ImageError, ModelError
from aepipe.images import DecodedImage, ImageInfo, as_rgb, from_float, to_float
from aepipe.runtime.codec.container import AecHeader, pack, unpack
from aepipe.runtime.codec.priors import ENTROPY_METADATA_KEY, RatePoint, read_entropy_model
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.model.zoo import load_model, part_spec
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tiling import compute_padding

BIT_DEPTHS = {"uint8": 8, "uint16": 16}


class LearnedCodec:
    """Encoder (optional: decoding needs only the decoder) + decoder + rate points."""

    def __init__(
        self, decoder: OnnxModel, decoder_sha256: str, encoder: OnnxModel | None = None
    ) -> None:
        self.decoder = decoder
        self.encoder = encoder
        self.name = decoder.card.name
        self.fingerprint = decoder_sha256[:16]
        self.multiple = decoder.card.pad_multiple
        self.rates, self.entropy = read_entropy_model(decoder.metadata, self.name)

    def rate_point(self, rate: int) -> RatePoint:
        """Gains of rate point ``rate``; an unknown rate names the valid ones."""
        if not 0 <= rate < len(self.rates):
            raise ModelError(f"rate {rate}: {self.name} has rates 0..{len(self.rates) - 1}")
        return self.rates[rate]

    def compress(self, image: DecodedImage, rate: int, key: str = "") -> bytes:
        """One image -> ``.aec`` bytes at rate point ``rate`` (0 = smallest files)."""
        info = image.info
        bit_depth = BIT_DEPTHS.get(info.dtype)
        if bit_depth is None:
            raise ImageError(key, f"{info.mode} ({info.dtype}) images cannot be compressed")
        y, pad = self.scaled_latents(image, rate)
        streams = list(self.entropy.encode(y, rate))
        if image.alpha is not None:
            streams.append(zlib.compress(np.ascontiguousarray(image.alpha).tobytes(), 9))
        header = AecHeader(
            model_name=self.name,
            model_sha256=self.fingerprint,
            rate=rate,
            width=info.width,
            height=info.height,
            mode=("L" if info.channels == 1 else "RGB") + ("A" if image.alpha is not None else ""),
            bit_depth=bit_depth,
            has_alpha=image.alpha is not None,
            pad=pad,
            latent_shape=(y.shape[0], y.shape[1], y.shape[2]),
        )
        return pack(header, streams)

    def scaled_latents(self, image: DecodedImage, rate: int) -> tuple[np.ndarray, tuple[int, int]]:
        """(y · gain[rate], (C, h, w) float32; the padding added): what the entropy model codes."""
        if self.encoder is None:
            raise ModelError(f"codec {self.name}: loaded for decoding only")
        point = self.rate_point(rate)
        x, pad = padded_rgb(image.pixels, self.multiple)
        return self.encoder.run(x)[0] * point.gain[:, None, None], pad

    def decompress(self, data: bytes, key: str = "") -> DecodedImage:
        """``.aec`` bytes -> pixels in the original mode and bit depth (+ alpha)."""
        header, streams = _unpack(data, key)
        point = self._check(header, streams, key)
        scaled = self.entropy.decode(streams[0], streams[1], header.latent_shape, header.rate)
        latents = scaled * point.inverse_gain[:, None, None]
        x_hat = self.decoder.run(latents[None])[0].transpose(1, 2, 0)
        x_hat = x_hat[: header.height, : header.width]
        dtype = np.uint8 if header.bit_depth == 8 else np.uint16
        channels = 1 if header.mode.startswith("L") else 3
        if channels == 1:
            x_hat = x_hat.mean(axis=2, keepdims=True)
        pixels = from_float(x_hat, np.dtype(dtype))
        alpha = _alpha(streams, header, dtype, key) if header.has_alpha else None
        return DecodedImage(pixels, alpha, _info(header, channels, np.dtype(dtype).name))

    def _check(self, header: AecHeader, streams: list[bytes], key: str) -> RatePoint:
        """Refuse, with the reason, a stream this decoder cannot decode exactly."""
        where = f"{key}: " if key else ""
        if (header.model_name, header.model_sha256) != (self.name, self.fingerprint):
            raise BitstreamError(
                f"{where}coded with model {header.model_name} ({header.model_sha256}), "
                f"not {self.name} ({self.fingerprint}); decode it with that model"
            )
        if not 0 <= header.rate < len(self.rates):
            raise BitstreamError(f"{where}rate {header.rate} does not exist in {self.name}")
        if len(streams) != 2 + header.has_alpha:
            raise BitstreamError(f"{where}expected {2 + header.has_alpha} streams")
        expected = _latent_shape(header, len(self.rates[0].gain), self.multiple)
        if header.latent_shape != expected:
            raise BitstreamError(f"{where}latent shape {header.latent_shape} != {expected}")
        return self.rates[header.rate]


def read_header(data: bytes, key: str = "") -> AecHeader:
    """The header of an ``.aec`` stream (CRC checked), errors naming ``key``."""
    return _unpack(data, key)[0]


def _unpack(data: bytes, key: str) -> tuple[AecHeader, list[bytes]]:
    try:
        return unpack(data)
    except BitstreamError as error:
        raise BitstreamError(f"{key}: {error}" if key else str(error)) from None


def padded_rgb(pixels: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """NCHW float32 RGB padded (edge) to a multiple of the transforms' stride."""
    x = as_rgb(to_float(pixels))
    pad = compute_padding(x.shape[0], x.shape[1], multiple)
    x = np.pad(x, ((0, pad[0]), (0, pad[1]), (0, 0)), mode="edge")
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), pad


def _latent_shape(header: AecHeader, channels: int, multiple: int) -> tuple[int, int, int]:
    """What the header's image size implies, so a forged shape cannot drive allocation."""
    height, width = header.height + header.pad[0], header.width + header.pad[1]
    if height % multiple or width % multiple:
        raise BitstreamError(f"padded size {height}x{width} is not a multiple of {multiple}")
    return channels, height // multiple, width // multiple


def _alpha(streams: list[bytes], header: AecHeader, dtype: type, key: str) -> np.ndarray:
    size = header.height * header.width * np.dtype(dtype).itemsize
    try:
        raw = zlib.decompressobj().decompress(streams[2], size + 1)
    except zlib.error as error:
        raise BitstreamError(f"{key}: alpha stream: {error}") from None
    if len(raw) != size:
        raise BitstreamError(f"{key}: alpha stream holds {len(raw)} bytes, expected {size}")
    return np.frombuffer(raw, dtype=dtype).reshape(header.height, header.width).copy()


def _info(header: AecHeader, channels: int, dtype: str) -> ImageInfo:
    return ImageInfo(
        format="PNG",
        mode=header.mode,
        width=header.width,
        height=header.height,
        dtype=dtype,
        channels=channels,
        has_alpha=header.has_alpha,
        icc_profile=None,
        exif=None,
        warnings=(),
    )


def load_codec(
    spec: str | None,
    *,
    with_encoder: bool = True,
    threads: int = 0,
    providers: Sequence[str] | None = None,
) -> LearnedCodec:
    """A codec by zoo name or encoder/decoder path; the decoder alone for decoding.

    A zoo codec is one entry with an ``encoder`` and a ``decoder`` part. The two halves must
    carry the same entropy model, or the encoder would write streams its decoder reads as
    garbage.
    """
    encoder_spec, decoder_spec = part_spec(spec, "encoder"), part_spec(spec, "decoder")
    decoder, sha256 = load_model(
        decoder_spec, TaskName.COMPRESS, part="decoder", threads=threads, providers=providers
    )
    encoder = None
    if with_encoder:
        encoder = load_model(
            encoder_spec, TaskName.COMPRESS, part="encoder", threads=threads, providers=providers
        )[0]
    if encoder and encoder.metadata.get(ENTROPY_METADATA_KEY) != decoder.metadata.get(
        ENTROPY_METADATA_KEY
    ):
        raise ModelError(f"codec {spec}: encoder and decoder carry different entropy models")
    return LearnedCodec(decoder, sha256, encoder)
