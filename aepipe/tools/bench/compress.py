"""Learned codec speed: whole compress/decompress calls, then entropy coding alone.

    compress        decoded image ─► encoder.onnx ─► gain, round ─► ANS ─► .aec   (whole call)
    decompress      .aec ─► ANS ─► inverse gain ─► decoder.onnx ─► pixels         (whole call)
    entropy encode  the codec's entropy model on the very latents compress coded for them
    entropy decode  the same model on the streams compress wrote for them

Everything runs at the middle rate point of the default codec, on the bench's synthetic PNGs
decoded once, the four steps timed in alternation. The issue's goal "entropy coding never the
bottleneck: >= 50 MB/s of latent symbols" is read off the entropy rows (MB/s of int32
symbols, 4 bytes each) and their share of the whole calls' time; ``throughput()`` on
Laplacian symbols stays beside them as a synthetic cross-check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from aepipe.images import DecodedImage, decode
from aepipe.runtime.codec.container import unpack
from aepipe.runtime.codec.entropy import throughput
from aepipe.runtime.codec.learned import LearnedCodec, load_codec
from aepipe.tools.bench.timing import BenchError, Timing, interleaved, megapixels, rate

COMPRESS_LABEL = "compress"
DECOMPRESS_LABEL = "decompress"
ENCODE_LABEL = "entropy encode"
DECODE_LABEL = "entropy decode"
SYMBOL_BYTES = 4  # symbols are int32: MB/s counts 4 bytes per symbol
ENTROPY_TARGET_MB_S = 50.0  # the goal for both directions


@dataclass(frozen=True)
class CodedLatents:
    """One image's scaled latents and the two streams compress wrote for them."""

    scaled: np.ndarray  # float32 (C, H, W): y · gain, before rounding
    main: bytes
    escapes: bytes

    @property
    def shape(self) -> tuple[int, int, int]:
        channels, height, width = self.scaled.shape
        return channels, height, width


def coded_latents(
    codec: LearnedCodec, image: DecodedImage, data: bytes, rate: int, key: str = ""
) -> CodedLatents:
    """The latents behind an ``.aec`` file, checked to entropy-code to exactly its streams.

    Taking them from compress's own output makes the entropy rows time the real work of
    the compress row, not a stand-in; the re-encoding check proves it.
    """
    main, escapes = unpack(data)[1][:2]
    scaled = codec.scaled_latents(image, rate)[0]
    if codec.entropy.encode(scaled, rate) != (main, escapes):
        raise BenchError(f"{key}: re-encoding the latents does not give the same streams")
    return CodedLatents(scaled, main, escapes)


def bench_codec(
    pngs: Mapping[str, bytes], repeats: int, threads: int
) -> tuple[list[Timing], dict[str, Any]]:
    """Time the default codec's four steps on ``pngs``; the rows and what they mean."""
    codec = load_codec(None, threads=threads)
    level = len(codec.rates) // 2
    images = {key: decode(data, key) for key, data in pngs.items()}
    files = {key: codec.compress(image, level, key) for key, image in images.items()}
    latents = [coded_latents(codec, images[key], data, level, key) for key, data in files.items()]
    work = sum(megapixels(i.info.width, i.info.height) for i in images.values())
    symbols = sum(c.scaled.size for c in latents)

    def compress_all() -> None:
        for key, image in images.items():
            codec.compress(image, level, key)

    def decompress_all() -> None:
        for key, data in files.items():
            codec.decompress(data, key)

    def encode_all() -> None:
        for coded in latents:
            codec.entropy.encode(coded.scaled, level)

    def decode_all() -> None:
        for coded in latents:
            codec.entropy.decode(coded.main, coded.escapes, coded.shape, level)

    fns: dict[str, Callable[[], object]] = {
        COMPRESS_LABEL: compress_all,
        DECOMPRESS_LABEL: decompress_all,
        ENCODE_LABEL: encode_all,
        DECODE_LABEL: decode_all,
    }
    samples = interleaved(fns, repeats)
    count = len(images)
    image_detail = f"{count} decoded images, {work:.3g} MP, rate {level}"
    symbol_detail = f"{symbols:,} int32 symbols of {count} images"
    timings = {
        label: Timing(label, detail, work, count, samples[label])
        for label, detail in [
            (COMPRESS_LABEL, image_detail),
            (DECOMPRESS_LABEL, image_detail),
            (ENCODE_LABEL, symbol_detail),
            (DECODE_LABEL, symbol_detail),
        ]
    }
    coded_bytes = sum(len(c.main) + len(c.escapes) for c in latents)
    info: dict[str, Any] = {
        "codec": codec.name,
        "codec_fingerprint": codec.fingerprint,
        "codec_providers": codec.decoder.providers,
        "rate": level,
        "rates": len(codec.rates),
        "lambda": codec.rates[level].lam,
        "bits_per_pixel": 8 * sum(map(len, files.values())) / (work * 1e6),
        "entropy_bits_per_symbol": 8 * coded_bytes / symbols,
        "escaped_symbols": sum(len(c.escapes) // SYMBOL_BYTES for c in latents),
        **_entropy_speed(timings, symbols),
        "synthetic_throughput": throughput(),
    }
    _annotate(timings, info)
    return list(timings.values()), info


def _entropy_speed(timings: Mapping[str, Timing], symbols: int) -> dict[str, Any]:
    """Entropy coding speed in M symbols/s and MB/s, and its share of the whole calls."""
    info: dict[str, Any] = {"latent_symbols": symbols, "entropy_target_mb_s": ENTROPY_TARGET_MB_S}
    for direction, label in (("encode", ENCODE_LABEL), ("decode", DECODE_LABEL)):
        per_second = rate(symbols, timings[label].seconds)
        info[f"entropy_{direction}_msym_s"] = per_second and per_second / 1e6
        info[f"entropy_{direction}_mb_s"] = per_second and per_second * SYMBOL_BYTES / 1e6
    for whole, label in ((COMPRESS_LABEL, ENCODE_LABEL), (DECOMPRESS_LABEL, DECODE_LABEL)):
        part = timings[label].seconds
        info[f"entropy_share_of_{whole}"] = rate(part, timings[whole].seconds) if part else None
    return info


def _annotate(timings: Mapping[str, Timing], info: Mapping[str, Any]) -> None:
    """Each row's note: bpp and entropy share for the whole calls, speed for the entropy ones."""
    for whole in (COMPRESS_LABEL, DECOMPRESS_LABEL):
        share = info[f"entropy_share_of_{whole}"]
        share_text = f"{share:.0%}" if share is not None else "-"
        timings[whole].note = f"{info['bits_per_pixel']:.3f} bpp; entropy coding {share_text}"
    for direction, label in (("encode", ENCODE_LABEL), ("decode", DECODE_LABEL)):
        msym, mb = info[f"entropy_{direction}_msym_s"], info[f"entropy_{direction}_mb_s"]
        if msym is not None:
            timings[label].note = f"{msym:.1f} M symbols/s = {mb:.1f} MB/s of int32 symbols"
