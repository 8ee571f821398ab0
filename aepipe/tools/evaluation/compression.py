"""``aepipe eval --task compress``: rate–distortion of the learned codec against JPEG/WebP/AVIF.

Every image of the folder (8-bit, full size; Kodak24 is the standard set) is coded at each of
the codec's rate points and at a quality ladder of each classical codec, in the same run.
Curves are averaged point by point over images (mean bpp, mean PSNR, mean MS-SSIM), as
published Kodak curves are; BD-rate (Bjøntegaard, PSNR) compares the mean curves.
Learned-codec bytes are whole ``.aec`` files (header and CRC included); the codec's PSNR is
measured on what ``decompress`` returns from those bytes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aepipe.images import DecodedImage
from aepipe.runtime.codec.anchors import RdPoint, rd_curve
from aepipe.runtime.codec.entropy import throughput
from aepipe.runtime.codec.learned import LearnedCodec, load_codec
from aepipe.runtime.codec.targets import CodedFile
from aepipe.tools.evaluation.dataset import list_images, load_clean
from aepipe.tools.evaluation.protocol import EvalError
from aepipe.tools.evaluation.rd import bd_psnr, bd_rate, mean_curve, ms_ssim_db, plot_rd
from aepipe.tools.tables import markdown_table

Pairs = list[tuple[float, float]]
BdDelta = Callable[[Sequence[tuple[float, float]], Sequence[tuple[float, float]]], float]
#: Quality ladders spanning ~0.1 to ~2 bpp on Kodak for each classical codec.
ANCHOR_QUALITIES = {
    "jpeg": (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95),
    "webp": (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
    "avif": (10, 20, 30, 40, 50, 60, 70, 80, 90),
}
#: CompressAI's published WebP figures on Kodak (bpp -> PSNR), quoted by the issue.
PUBLISHED_WEBP = {0.25: 28.55, 0.5: 31.32, 1.0: 35.11}


@dataclass(frozen=True)
class CompressEvalConfig:
    data_dir: Path
    model: str | None = None  # codec name or encoder path; None: the shipped default
    limit: int | None = None
    anchors: tuple[str, ...] = ("jpeg", "webp", "avif")
    plot: Path | None = None  # PNG of the RD curves


@dataclass
class CompressEvalReport:
    config: CompressEvalConfig
    codec: dict[str, Any]
    images: list[dict[str, Any]] = field(default_factory=list)  # name, size, curves
    entropy_coding: dict[str, float] = field(default_factory=dict)

    def curves(self) -> dict[str, list[RdPoint]]:
        """The mean curve of every codec, learned codec first."""
        labels = self.images[0]["curves"] if self.images else {}
        return {
            label: mean_curve([row["curves"][label] for row in self.images]) for label in labels
        }

    def bd_rates(self) -> dict[str, float | None]:
        """BD-rate (%, PSNR) of the learned codec against each anchor's mean curve.

        None where the curves share no PSNR range (a Bjøntegaard delta does not exist).
        """
        return self._deltas(bd_rate)

    def bd_psnrs(self) -> dict[str, float | None]:
        """BD-PSNR (dB at equal rate) of the learned codec against each anchor's mean curve."""
        return self._deltas(bd_psnr)

    def bd_rates_ms_ssim(self) -> dict[str, float | None]:
        """BD-rate (%) at equal MS-SSIM, measured on its dB scale -10·log10(1 - MS-SSIM)."""
        return self._deltas(bd_rate, _ms_ssim_pairs)

    def _deltas(
        self, delta: BdDelta, pairs: Callable[[Sequence[RdPoint]], Pairs] | None = None
    ) -> dict[str, float | None]:
        pairs = pairs or _pairs
        curves = self.curves()
        ours = pairs(curves[self.codec["name"]])
        return {
            label: _delta_or_none(delta, pairs(curve), ours)
            for label, curve in curves.items()
            if label != self.codec["name"]
        }

    def speeds(self) -> dict[str, float]:
        """Encode/decode megapixels per second of the learned codec, over all images and rates."""
        rows = self.images
        return {
            key: sum(r["megapixels"] * len(r["curves"][self.codec["name"]]) for r in rows)
            / sum(r[key + "_seconds"] for r in rows)
            for key in ("encode", "decode")
        }

    def to_dict(self) -> dict[str, Any]:
        curves = self.curves() if self.images else {}
        return {
            "task": "compress",
            "config": {
                k: str(v) if isinstance(v, Path) else v for k, v in vars(self.config).items()
            },
            "codec": self.codec,
            "mean_curves": {k: [vars(p) for p in v] for k, v in curves.items()},
            "bd_rate_psnr_percent": self.bd_rates() if self.images else {},
            "bd_psnr_db": self.bd_psnrs() if self.images else {},
            "bd_rate_ms_ssim_percent": self.bd_rates_ms_ssim() if self.images else {},
            "speed_mp_per_s": self.speeds() if self.images else {},
            "entropy_coding": self.entropy_coding,
            "images": [
                {**row, "curves": {k: [vars(p) for p in v] for k, v in row["curves"].items()}}
                for row in self.images
            ],
        }

    def markdown(self) -> str:
        curves = self.curves()
        name = self.codec["name"]
        rows = [
            [label, str(p.quality), f"{p.bpp:.3f}", f"{p.psnr:.2f}", _msssim_cell(p)]
            for label, curve in curves.items()
            for p in curve
        ]
        table = markdown_table(["codec", "rate/quality", "bpp", "PSNR (dB)", "MS-SSIM"], rows)
        bd = "; ".join(
            f"vs {k}: "
            + ("no common range" if v is None else f"{v:+.1f}% bits")
            + ("" if d is None else f", {d:+.2f} dB")
            for (k, v), d in zip(self.bd_rates().items(), self.bd_psnrs().values(), strict=True)
        )
        bd_ms_ssim = "; ".join(
            f"vs {k}: " + ("no common range" if v is None else f"{v:+.1f}% bits")
            for k, v in self.bd_rates_ms_ssim().items()
        )
        speed = self.speeds()
        ours = _interpolate_psnr(curves[name])
        published = "; ".join(
            f"{bpp} bpp: {_fmt(ours(bpp))} dB (WebP published {psnr})"
            for bpp, psnr in PUBLISHED_WEBP.items()
        )
        coding = self.entropy_coding
        return "\n\n".join(
            [
                f"**aepipe eval** `compress` with {name} (sha256 {self.codec['sha256'][:12]}…) "
                f"on `{self.config.data_dir}`, {len(self.images)} images, mean curves",
                table,
                f"BD-rate and BD-PSNR of {name} (negative rate = fewer bits): {bd}",
                f"BD-rate of {name} at equal MS-SSIM (dB scale): {bd_ms_ssim}",
                f"{name} at {published}",
                f"{name}: encode {speed['encode']:.2f} MP/s, decode {speed['decode']:.2f} MP/s "
                f"(whole codec: transforms + entropy coding); entropy coding alone "
                f"{coding.get('encode_mb_s', 0):.0f} MB/s encode, "
                f"{coding.get('decode_mb_s', 0):.0f} MB/s decode of int32 symbols",
            ]
        )


def _delta_or_none(
    delta: BdDelta, anchor: Sequence[tuple[float, float]], test: Sequence[tuple[float, float]]
) -> float | None:
    try:
        return delta(anchor, test)
    except ValueError:
        return None


def _pairs(curve: Sequence[RdPoint]) -> Pairs:
    return [(p.bpp, p.psnr) for p in curve]


def _ms_ssim_pairs(curve: Sequence[RdPoint]) -> Pairs:
    return [(p.bpp, ms_ssim_db(p.ms_ssim)) for p in curve if p.ms_ssim is not None]


def _msssim_cell(point: RdPoint) -> str:
    return "-" if point.ms_ssim is None else f"{point.ms_ssim:.4f}"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _interpolate_psnr(curve: Sequence[RdPoint]) -> Callable[[float], float | None]:
    """PSNR at a bpp by linear interpolation on the curve; None outside its range."""
    bpps = np.array([p.bpp for p in curve])
    psnrs = np.array([p.psnr for p in curve])
    order = np.argsort(bpps)

    def at(bpp: float) -> float | None:
        if not bpps.min() <= bpp <= bpps.max():
            return None
        return float(np.interp(bpp, bpps[order], psnrs[order]))

    return at


def learned_curve(codec: LearnedCodec, image: DecodedImage) -> tuple[list[RdPoint], float, float]:
    """(one point per rate, encode seconds, decode seconds) for one image."""
    points, encode_seconds, decode_seconds = [], 0.0, 0.0
    for rate in range(len(codec.rates)):
        started = time.perf_counter()
        data = codec.compress(image, rate)
        encoded = time.perf_counter()
        decoded = codec.decompress(data)
        encode_seconds += encoded - started
        decode_seconds += time.perf_counter() - encoded
        measures = CodedFile.measured(rate, data, image, decoded).measures
        point = RdPoint(codec.name, rate, measures["bpp"], measures["psnr"], measures["ms_ssim"])
        points.append(point)
    return points, encode_seconds, decode_seconds


def run_compress_eval(
    config: CompressEvalConfig, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)
) -> CompressEvalReport:
    """Code every image with the learned codec and each anchor; write the plot if asked."""
    unknown = set(config.anchors) - set(ANCHOR_QUALITIES)
    if unknown:
        raise EvalError(f"unknown anchors {sorted(unknown)}; choose from {list(ANCHOR_QUALITIES)}")
    codec = load_codec(config.model)
    identity = {"name": codec.name, "sha256": codec.fingerprint, "rates": len(codec.rates)}
    report = CompressEvalReport(config, identity, entropy_coding=throughput())
    for path in list_images(config.data_dir, config.limit):
        image = load_clean(path)
        if image.pixels.shape[2] != 3:
            raise EvalError(f"{path.name}: compress eval is defined on RGB images")
        ours, encode_seconds, decode_seconds = learned_curve(codec, image)
        curves = {codec.name: ours}
        for anchor in config.anchors:
            curves[anchor] = rd_curve(image.pixels, anchor, ANCHOR_QUALITIES[anchor])
        report.images.append(
            {
                "name": path.name,
                "megapixels": image.info.width * image.info.height / 1e6,
                "encode_seconds": encode_seconds,
                "decode_seconds": decode_seconds,
                "curves": curves,
            }
        )
        summary = ", ".join(f"{p.bpp:.2f} bpp {p.psnr:.2f} dB" for p in ours)
        log(f"[{len(report.images)}] {path.name}: {summary}")
    if config.plot and report.images:
        plot_rd(
            report.curves(),
            config.plot,
            f"{codec.name} vs classical codecs, mean over "
            f"{len(report.images)} images of {config.data_dir.name}",
        )
    return report
