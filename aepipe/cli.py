"""``aepipe`` command line: run, models, demo, bench, eval, and train/export (training side).

``main(argv)`` takes its arguments explicitly and returns the exit status, so tests call it
directly. Prefect and onnxruntime are imported by the commands that need them, keeping
``aepipe --help`` and ``aepipe models`` quick.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aepipe.errors import AepipeError
from aepipe.tasks import TASKS

#: Training-side commands: their modules own their arguments and need the ``train`` extra.
TRAINING_COMMANDS = {
    "train": ("aepipe.training.train", "train a registered network (resumable)"),
    "export": ("aepipe.training.export", "export a checkpoint to ONNX + card + manifest"),
    "export-codec": (
        "aepipe.training.export_codec",
        "export a compressive autoencoder: encoder + decoder ONNX with integer CDF tables",
    ),
}


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="local folder or s3://bucket/prefix to read")
    parser.add_argument("dest", help="local folder or s3://bucket/prefix to write")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--model", help="registry name, .onnx path or s3:// URI")
    parser.add_argument(
        "--noise-level", type=float, help="σ on the 0–255 scale (denoise); blind when absent"
    )
    parser.add_argument("--scale", type=int, choices=(2, 4), help="super-resolution factor")
    _add_codec_arguments(parser)
    parser.add_argument("--glob", help="only keys matching, e.g. '**/*.png'")
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per model call")
    parser.add_argument(
        "--tile", type=int, help="tile side in pixels (0: whole image; default: the model's)"
    )
    _add_self_ensemble_argument(parser)
    parser.add_argument("--chunk-size", type=int, default=32, help="images per Prefect task")
    parser.add_argument("--overwrite", action="store_true", help="redo finished images")
    parser.add_argument("--dry-run", action="store_true", help="plan only; write nothing")
    parser.add_argument("--limit", type=int, help="process at most N images")
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL / AWS)")


def _add_self_ensemble_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--self-ensemble",
        action="store_true",
        help="restoration: average the model over 8 flips/rotations (better, 8x slower)",
    )


def _add_codec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate", type=int, help="compress: rate point, 0 = smallest files (default: middle)"
    )
    parser.add_argument(
        "--anchors",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compress: JPEG/WebP PSNR at the same bpp in each row (~16 extra encodes)",
    )


def _add_file_codec_arguments(parser: argparse.ArgumentParser, compress: bool) -> None:
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--model", help="codec name or path (decompress: default from the file)")
    if compress:
        _add_codec_arguments(parser)


def _add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=0, help="ORT/torch threads (0: all CPUs)")
    parser.add_argument("--tile", type=int, help="tile side in pixels (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per model call")
    parser.add_argument("--images", type=int, default=8, help="synthetic images per pass")
    parser.add_argument("--size", type=int, default=512, help="synthetic image side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed samples (median shown)")
    parser.add_argument("--skip-s3", action="store_true", help="no SeaweedFS end-to-end run")
    parser.add_argument("--flow", action="store_true", help="also time one process_images flow")
    parser.add_argument("--skip-codec", action="store_true", help="no learned codec measurement")
    parser.add_argument("--json", type=Path, help="also write every sample and fact as JSON")


def _add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    from aepipe.tasks import RESTORATION_TASKS

    parser.add_argument("data_dir", type=Path, help="folder of clean images (e.g. CBSD68)")
    parser.add_argument("--task", required=True, choices=(*RESTORATION_TASKS, "compress"))
    parser.add_argument("--model", help="registry name, .onnx path or s3:// URI")
    parser.add_argument("--noise-level", type=float, default=25.0, help="denoise: σ (0–255)")
    parser.add_argument("--blind", action="store_true", help="denoise: also run without σ")
    parser.add_argument("--scale", type=int, choices=(2, 4), default=2, help="superres factor")
    parser.add_argument("--seed", type=int, default=0, help="image i is degraded with seed + i")
    parser.add_argument("--limit", type=int, help="the first N images (sorted by name)")
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the classical baseline(s)",
    )
    parser.add_argument(
        "--tile", type=int, help="tile side in pixels (0: whole image; default: the model's)"
    )
    _add_self_ensemble_argument(parser)
    parser.add_argument("--per-image", action="store_true", help="one table row per image")
    parser.add_argument("--plot", type=Path, help="compress: write the RD curves as a PNG")
    parser.add_argument("--json", type=Path, help="write every value, config and machine here")
    parser.add_argument("--markdown", type=Path, help="also write the table here")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aepipe", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    _add_run_arguments(commands.add_parser("run", help="restore a folder or bucket prefix"))
    commands.add_parser("models", help="list shipped models with their cards")
    _add_file_codec_arguments(
        commands.add_parser("compress", help="one image file -> .aec (learned codec)"), True
    )
    _add_file_codec_arguments(commands.add_parser("decompress", help="one .aec file -> PNG"), False)
    demo = commands.add_parser("demo", help="denoise the bundled samples (what `make run` does)")
    demo.add_argument("--source", help="run on this folder/URI instead of the bundled samples")
    demo.add_argument("--dest", help="where outputs and the report go (default out/demo)")
    _add_bench_arguments(
        commands.add_parser("bench", help="measure model and pipeline throughput (MP/s)")
    )
    _add_eval_arguments(
        commands.add_parser("eval", help="PSNR/SSIM and s/MP of a model vs classical baselines")
    )
    for name, (_, help_text) in TRAINING_COMMANDS.items():
        commands.add_parser(name, help=f"{help_text} (see: aepipe {name} --help)")
    return parser


def run_command(args: argparse.Namespace) -> dict[str, Any]:
    """Run the flow with a progress bar; returns its summary."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from aepipe.pipeline.progress import listening
    from flows.process_images import process_images

    options = {k: v for k, v in vars(args).items() if k != "command"}
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        disable=not sys.stderr.isatty(),
    ) as progress:
        bar = progress.add_task("images done: 0", total=None)
        done = [0]

        def advance(count: int) -> None:
            done[0] += count
            progress.update(bar, description=f"images done: {done[0]}")

        with listening(advance):
            return process_images(**options)


def models_command() -> None:
    from aepipe.runtime.registry import load_manifest

    for entry in load_manifest():
        card = entry.card
        marker = " (default)" if entry.default else ""
        print(f"{card.name}{marker}  task={card.task} scale={card.scale}  sha256={entry.sha256}")
        for label, value in card.quality.items():
            print(f"    {label}: {value}")
        print(f"    trained: {card.training_command}")
        print(f"    data: {card.training_data} ({card.data_terms})")


def file_codec_command(args: argparse.Namespace) -> dict[str, Any]:
    """One file through the same task code as ``aepipe run`` (so outputs are identical)."""
    from aepipe.images import DEFAULT_MAX_PIXELS
    from aepipe.storage.local import atomic_write
    from aepipe.tasks import build_task
    from aepipe.tasks.base import OutputOptions

    codec_options = (
        {"rate": args.rate, "anchors": args.anchors} if args.command == "compress" else {}
    )
    task = build_task(args.command, args.model, **codec_options)
    try:
        data = args.input.read_bytes()
    except OSError as error:
        raise AepipeError(f"{args.input}: {error.strerror}") from None
    image = task.read(data, str(args.input), DEFAULT_MAX_PIXELS)
    result = task.apply(image)
    output = task.write(result, image.info, OutputOptions(format="PNG"))
    atomic_write(args.output, output)
    return {
        "input": str(args.input),
        "output": str(args.output),
        "bytes": len(output),
        **result.fields,
    }


def bench_command(args: argparse.Namespace) -> None:
    """Print the markdown report; ``--json`` also keeps every sample; exit 1 if one failed."""
    from aepipe.bench import BenchError, BenchOptions, run_bench

    options = {k: v for k, v in vars(args).items() if k not in ("command", "json")}
    report = run_bench(BenchOptions(**options))
    print(report.markdown())
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    if report.failures:
        raise BenchError(f"measurement failed: {', '.join(report.failures)} (see the table)")


def eval_command(args: argparse.Namespace) -> None:
    """Print the markdown table; ``--json``/``--markdown`` also write the report to files."""
    from aepipe.evaluation import EvalConfig, run_eval
    from aepipe.evaluation.compress import CompressEvalConfig, run_compress_eval

    report: Any
    if args.task == "compress":
        if args.self_ensemble:
            raise AepipeError("--self-ensemble is for restoration tasks, not compress")
        config = CompressEvalConfig(args.data_dir, args.model, args.limit, plot=args.plot)
        report = run_compress_eval(config)
        table = report.markdown()
    else:
        skip = ("command", "json", "markdown", "per_image", "plot")
        report = run_eval(EvalConfig(**{k: v for k, v in vars(args).items() if k not in skip}))
        table = report.markdown(per_image=args.per_image)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")


def training_command(name: str, argv: list[str]) -> int:
    """Hand ``argv`` to the training module; say which extra is missing instead of a traceback."""
    import importlib

    module_name, _ = TRAINING_COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        print(f"aepipe {name} needs {error.name}: pip install 'aepipe[train]'", file=sys.stderr)
        return 1
    module.main(argv)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TRAINING_COMMANDS:
        return training_command(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            summary = run_command(args)
            print(json.dumps({k: summary[k] for k in ("report", "counts", "mean_psnr")}))
        elif args.command == "models":
            models_command()
        elif args.command in ("compress", "decompress"):
            print(json.dumps(file_codec_command(args)))
        elif args.command == "demo":
            from aepipe.demo import run_demo

            run_demo(args.source, args.dest)
        elif args.command == "bench":
            bench_command(args)
        elif args.command == "eval":
            eval_command(args)
    except AepipeError as error:
        print(f"aepipe: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
