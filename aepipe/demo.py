"""What ``make run`` does: denoise bundled samples end to end and say where everything is.

Without a source it adds σ=25 Gaussian noise to the bundled clean Kodak samples, runs the
``process_images`` flow (local folders, Prefect's embedded API, the shipped denoiser) and
prints PSNR against the clean originals before and after. With a source (a folder or
``s3://`` URI of the user's own images) it simply runs the flow there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aepipe.degrade import noisy_file
from aepipe.images import decode, encode
from aepipe.metrics import reconstruction_error
from aepipe.storage import Storage, open_storage

if TYPE_CHECKING:
    from aepipe.runtime.reports.summary import RunSummary

SAMPLES = Path(__file__).resolve().parent / "samples"
DEMO_SIGMA = 25.0
DEFAULT_DEST = "out/demo"


def add_noise(clean: Storage, noisy: Storage, sigma: float, seed: int = 0) -> list[str]:
    """Write a noisy copy of every PNG in ``clean`` to ``noisy``; returns the keys."""
    rng = np.random.default_rng(seed)
    keys = list(clean.list("*.png"))
    for key in keys:
        image = decode(clean.read(key), key)
        noisy.write(key, encode(noisy_file(image.pixels, sigma, rng), image.info))
    return keys


def psnr_against(clean: Storage, other: Storage, keys: list[str]) -> float:
    """Mean PSNR (dB) of ``other``'s images against the clean originals."""
    values = [
        reconstruction_error(decode(clean.read(k), k).pixels, decode(other.read(k), k).pixels)[1]
        for k in keys
    ]
    return float(np.mean(values))


def run_demo(source: str | None = None, dest: str | None = None) -> RunSummary:
    from aepipe.runtime.flow import process_images

    dest = dest or DEFAULT_DEST
    if source is not None:
        summary = process_images(source=source, dest=dest, task="denoise")
        _print_summary(summary, dest)
        return summary
    clean = open_storage(str(SAMPLES))
    noisy_uri, denoised_uri = f"{dest}/noisy", f"{dest}/denoised"
    keys = add_noise(clean, open_storage(noisy_uri), DEMO_SIGMA)
    summary = process_images(source=noisy_uri, dest=denoised_uri, task="denoise", overwrite=True)
    before = psnr_against(clean, open_storage(noisy_uri), keys)
    after = psnr_against(clean, open_storage(denoised_uri), keys)
    _print_summary(summary, denoised_uri)
    print(f"PSNR vs clean originals (σ={DEMO_SIGMA:g}):")
    print(f"         noisy {before:.2f} dB -> denoised {after:.2f} dB")
    return summary


def _print_summary(summary: RunSummary, outputs: str) -> None:
    print(f"images: {summary['counts']}")
    print(f"outputs: {outputs}")
    print(f"report:  {summary['report']}")
    for name, uri in summary["files"].items():
        print(f"         {name}: {uri}")
