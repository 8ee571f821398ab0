"""A codec's training curve on real files: BD-rate against JPEG at each kept checkpoint.

The trainer's validation logs ideal code lengths on small crops, where JPEG's ~600-byte header
would distort any comparison; this exports each checkpoint kept under ``RUN/snapshots/``
(``<step>.pt`` copies of ``last.pt``) plus the run's step-0 state (the network initialised as
the trainer initialises it), codes whole images into real ``.aec`` files, and compares them
with JPEG on the same images, in one run:

    python scripts/codec_training_curve.py runs/aec-lapped ../shared/data/Kodak24 --limit 6 \
        --every 1000

Prints one row per checkpoint: step, training minutes (in steps, 2 threads), the log's
validation PSNR at the top rate, and BD-rate / BD-PSNR against JPEG on the images; with
``--ms-ssim`` also the BD-rate against WebP at equal MS-SSIM (WebP coded in the same run).
A run started with ``--init-from`` has that checkpoint as its step 0.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from aepipe.tools.evaluation.compression import CompressEvalConfig, run_compress_eval
from aepipe.training.data import load_rgb_images, split_holdout
from aepipe.training.export import load_checkpoint, save_weights
from aepipe.training.export_codec import main as export_codec_main
from aepipe.training.networks import create_model, model_kwargs
from aepipe.training.networks.losses import InitialisedFromData


def save_step_zero(run: Path, path: Path) -> Path:
    """The run's network as its first step saw it (the ``--init-from`` weights, or initialised
    from the same training images), saved as a checkpoint at ``path``."""
    config = load_checkpoint(run / "last.pt")[1]
    fresh = create_model(config["model"], **model_kwargs(config.get("model_args", "")))
    if config.get("init_from"):
        weights = torch.load(config["init_from"], map_location="cpu", weights_only=True)
        fresh.load_state_dict(weights["model"])
        save_weights(fresh, {**config, "step": 0}, path)
        return path
    if not isinstance(fresh, InitialisedFromData):
        raise SystemExit(f"{config['model']} starts from random weights: no step-0 state")
    images = load_rgb_images(config["data"], config.get("short_side", 0))
    fresh.initialise_from(split_holdout(images, config["holdout"])[0])
    save_weights(fresh, {**config, "step": 0}, path)
    return path


def log_rows(run: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return {row["step"]: row for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("images", type=Path)
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--every", type=int, default=1, help="only steps that are multiples")
    parser.add_argument("--ms-ssim", action="store_true", help="also vs WebP at equal MS-SSIM")
    args = parser.parse_args()
    kept = sorted((args.run / "snapshots").glob("*.pt"), key=lambda p: int(p.stem))
    rows = log_rows(args.run)
    extra = (" BD-rate vs WebP, equal MS-SSIM |", "---|") if args.ms_ssim else ("", "")
    print(
        f"| step | training minutes | val PSNR (top rate) | BD-rate vs JPEG | BD-PSNR |{extra[0]}"
    )
    print(f"|---|---|---|---|---|{extra[1]}")
    with tempfile.TemporaryDirectory() as scratch:
        zero = save_step_zero(args.run, Path(scratch) / "0.pt")
        for path in [zero, *(p for p in kept if int(p.stem) % args.every == 0)]:
            print(curve_row(path, rows.get(int(path.stem), {}), args, args.ms_ssim), flush=True)


def curve_row(checkpoint: Path, row: dict, args: argparse.Namespace, ms_ssim: bool) -> str:
    """One table row: the checkpoint exported (as ``aepipe export-codec`` does) and evaluated."""
    anchors = ("jpeg", "webp") if ms_ssim else ("jpeg",)
    with tempfile.TemporaryDirectory() as folder:
        name = f"curve-{checkpoint.stem}"
        export_codec_main([str(checkpoint), "--name", name, "--zoo", folder, "--weights", folder])
        encoder = str(Path(folder) / f"{name}.encoder.onnx")
        report = run_compress_eval(
            CompressEvalConfig(args.images, encoder, args.limit, anchors), log=lambda _: None
        )
    rate, psnr = report.bd_rates()["jpeg"], report.bd_psnrs()["jpeg"]
    minutes, val = row.get("train_minutes", row.get("minutes", 0.0)), row.get("val_psnr")
    cells = [
        checkpoint.stem,
        f"{minutes:.1f}",
        "-" if val is None else f"{val:.2f}",
        "-" if rate is None else f"{rate:+.1f} %",
        "-" if psnr is None else f"{psnr:+.2f} dB",
    ]
    if ms_ssim:
        webp = report.bd_rates_ms_ssim()["webp"]
        cells.append("-" if webp is None else f"{webp:+.1f} %")
    return f"| {' | '.join(cells)} |"


if __name__ == "__main__":
    main()
