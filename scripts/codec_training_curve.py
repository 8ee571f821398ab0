"""A codec's training curve on real files: BD-rate against JPEG at each kept checkpoint.

The trainer's validation logs ideal code lengths on small crops, where JPEG's ~600-byte header
would distort any comparison; this exports each checkpoint kept under ``RUN/snapshots/``
(``<step>.pt`` copies of ``last.pt``) plus the run's step-0 state (the network initialised as
the trainer initialises it), codes whole images into real ``.aec`` files, and compares them
with JPEG on the same images, in one run:

    python scripts/codec_training_curve.py runs/aec-lapped ../shared/data/Kodak24 --limit 6 \
        --every 1000

Prints one row per checkpoint: step, training minutes (in steps, 2 threads), the log's
validation PSNR at the top rate, and BD-rate / BD-PSNR against JPEG on the images.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from aepipe.tools.evaluation.compression import CompressEvalConfig, run_compress_eval
from aepipe.training.data import load_rgb_images, split_holdout
from aepipe.training.export import load_checkpoint, save_weights
from aepipe.training.export_codec import main as export_codec_main
from aepipe.training.networks import create_model, model_kwargs
from aepipe.training.networks.losses import InitialisedFromData


def save_step_zero(run: Path, path: Path) -> Path:
    """The run's network as its first step saw it (initialised from the same training
    images), saved as a checkpoint at ``path``."""
    config = load_checkpoint(run / "last.pt")[1]
    fresh = create_model(config["model"], **model_kwargs(config.get("model_args", "")))
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
    args = parser.parse_args()
    kept = sorted((args.run / "snapshots").glob("*.pt"), key=lambda p: int(p.stem))
    rows = log_rows(args.run)
    print("| step | training minutes | val PSNR (top rate) | BD-rate vs JPEG | BD-PSNR |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        zero = save_step_zero(args.run, Path(scratch) / "0.pt")
        for path in [zero, *(p for p in kept if int(p.stem) % args.every == 0)]:
            print(
                curve_row(path, rows.get(int(path.stem), {}), args.images, args.limit), flush=True
            )


def curve_row(checkpoint: Path, row: dict, images: Path, limit: int) -> str:
    """One table row: the checkpoint exported (as ``aepipe export-codec`` does) and evaluated."""
    with tempfile.TemporaryDirectory() as folder:
        name = f"curve-{checkpoint.stem}"
        export_codec_main([str(checkpoint), "--name", name, "--zoo", folder, "--weights", folder])
        encoder = str(Path(folder) / f"{name}.encoder.onnx")
        report = run_compress_eval(
            CompressEvalConfig(images, encoder, limit, ("jpeg",)), log=lambda _: None
        )
    rate, psnr = report.bd_rates()["jpeg"], report.bd_psnrs()["jpeg"]
    minutes, val = row.get("train_minutes", row.get("minutes", 0.0)), row.get("val_psnr")
    return (
        f"| {checkpoint.stem} | {minutes:.1f} | {'-' if val is None else f'{val:.2f}'} | "
        f"{'-' if rate is None else f'{rate:+.1f} %'} | "
        f"{'-' if psnr is None else f'{psnr:+.2f} dB'} |"
    )


if __name__ == "__main__":
    main()
