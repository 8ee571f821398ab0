"""Per-image quality targets: pick each image's rate point so that its file meets the target.

Batch users ask for "every file at least 32 dB" or "no file above 0.5 bpp", not for rate point
2. Quality and size both grow with the rate point, so the rate is found by bisection over the
model's points (at most ⌈log2(R + 1)⌉ encodes and decodes per image):

- ``psnr`` / ``ms_ssim``: the *lowest* rate whose decoded image reaches the target (the
  smallest file that does); if none does, the highest rate, and the row says it was missed;
- ``bpp``: the *highest* rate whose file stays within the budget; if none does, rate 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aepipe.images import DecodedImage
from aepipe.metrics.error import reconstruction_error
from aepipe.metrics.msssim import ms_ssim

Measure = Literal["psnr", "ms_ssim", "bpp"]


@dataclass(frozen=True)
class CodedFile:
    """One image coded at one rate: the bytes, and what they decode to, measured."""

    rate: int
    data: bytes
    decoded: DecodedImage
    measures: dict[Measure, float]

    @classmethod
    def measured(
        cls, rate: int, data: bytes, original: DecodedImage, decoded: DecodedImage
    ) -> CodedFile:
        """``data`` (decoded as ``decoded``) measured against ``original``: bpp, PSNR, MS-SSIM."""
        measures: dict[Measure, float] = {
            "bpp": 8 * len(data) / (original.info.width * original.info.height),
            "psnr": reconstruction_error(original.pixels, decoded.pixels)[1],
            "ms_ssim": ms_ssim(original.pixels, decoded.pixels),
        }
        return cls(rate, data, decoded, measures)


@dataclass(frozen=True)
class QualityTarget:
    measure: Measure
    value: float

    def passes(self, coded: CodedFile) -> bool:
        """Quality at least the target; size at most the budget."""
        achieved = coded.measures[self.measure]
        return achieved <= self.value if self.measure == "bpp" else achieved >= self.value

    def search(self, rates: int, code: Callable[[int], CodedFile]) -> tuple[CodedFile, bool]:
        """(the file chosen, whether it meets the target), coding at most log2 of the rates."""
        coded: dict[int, CodedFile] = {}

        def at(rate: int) -> CodedFile:
            if rate not in coded:
                coded[rate] = code(rate)
            return coded[rate]

        # The first rate where "too big" (bpp) or "good enough" (quality) becomes true.
        def flips(rate: int) -> bool:
            passes = self.passes(at(rate))
            return not passes if self.measure == "bpp" else passes

        low, high = 0, rates
        while low < high:
            middle = (low + high) // 2
            if flips(middle):
                high = middle
            else:
                low = middle + 1
        # bpp: the rate before the first too-big one; quality: the first good-enough one.
        chosen = at(max(low - 1, 0)) if self.measure == "bpp" else at(min(low, rates - 1))
        return chosen, self.passes(chosen)
