"""``aepipe`` command line: run, models, demo, bench, eval, and train/export (training side).

``main(argv)`` takes its arguments explicitly and returns the exit status, so tests call it
directly. Prefect and onnxruntime are imported by the commands that need them, keeping
``aepipe --help`` and ``aepipe models`` quick.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aepipe.errors import AepipeError, RunInterrupted
from aepipe.parameters import add_arguments, from_namespace
from aepipe.runtime.options import GenerateOptions, RunOptions, TaskOptions

if TYPE_CHECKING:
    from aepipe.runtime.reports.summary import RunSummary

#: Commands that run a Prefect flow (and so need an API, a background server's or a temporary
#: one), and the module that defines it: imported while a temporary server starts.
FLOW_COMMANDS = {
    "run": "aepipe.runtime.flow",
    "generate": "aepipe.runtime.generation.flow",
    "demo": "aepipe.runtime.flow",
}
#: What a flow's first call imports (Prefect's engines; fastapi to serialise its parameters).
FLOW_CALL_MODULES = ("prefect.flow_engine", "prefect.task_engine", "fastapi.encoders")
#: Training-side commands: their modules own their arguments and need the ``train`` extra.
TRAINING_COMMANDS = {
    "train": ("aepipe.training.train", "train a registered network (resumable)"),
    "export": ("aepipe.training.export", "export a checkpoint to ONNX + card + manifest"),
    "train-prior": (
        "aepipe.training.prior",
        "train a VQ-VAE's autoregressive code prior and add it to the zoo entry",
    ),
    "quantize": (
        "aepipe.training.quantize",
        "make a static int8 copy of a zoo model (the CPU fast path)",
    ),
    "export-codec": (
        "aepipe.training.export_codec",
        "export a compressive autoencoder: encoder + decoder ONNX with integer CDF tables",
    ),
}


def _add_file_codec_arguments(parser: argparse.ArgumentParser, compress: bool) -> None:
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    compress_options = ("model", "rate", "target_psnr", "target_ms_ssim", "target_bpp", "anchors")
    add_arguments(parser, TaskOptions, only=compress_options if compress else ("model",))


def _add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    from aepipe.tools.evaluation.protocol import EvalConfig

    add_arguments(parser, EvalConfig)
    parser.add_argument("--per-image", action="store_true", help="one table row per image")
    parser.add_argument("--plot", type=Path, help="compress: write the RD curves as a PNG")
    parser.add_argument(
        "--defects",
        default="synthetic",
        help="anomaly: 'synthetic' or a folder of defective images",
    )
    parser.add_argument(
        "--fit",
        type=Path,
        help="anomaly: normal images PCA is fitted on (default: training data); embed, "
        "generate: the models' training images (PCA; nearest neighbours), required",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        help="embed, generate: the models compared (zoo names or .encoder.onnx / "
        ".decoder.onnx paths; default: --model, else the shipped one)",
    )
    parser.add_argument(
        "--views",
        type=int,
        default=8,
        help="embed, generate: crops per held-out image (distractors; references)",
    )
    parser.add_argument(
        "--features", help="generate: the embedding model whose vectors are compared"
    )
    parser.add_argument(
        "--count", type=int, default=1000, help="generate: images generated per model"
    )
    parser.add_argument(
        "--defects-per-kind",
        type=int,
        default=2,
        help="anomaly: synthetic defects per kind and image",
    )
    parser.add_argument("--domain-check", help="trust: the check to evaluate (default: --model's)")
    parser.add_argument(
        "--far-per-kind",
        type=int,
        default=40,
        help="trust: synthetic far-from-photo images per kind",
    )
    parser.add_argument("--json", type=Path, help="write every value, config and machine here")
    parser.add_argument("--markdown", type=Path, help="also write the table here")


def build_parser() -> argparse.ArgumentParser:
    from aepipe.tools.bench.options import BenchOptions

    parser = argparse.ArgumentParser(prog="aepipe", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add_arguments(
        commands.add_parser("run", help="run a task over a folder or bucket prefix"), RunOptions
    )
    add_arguments(
        commands.add_parser("generate", help="write N new images from a generative model"),
        GenerateOptions,
    )
    commands.add_parser("models", help="list shipped models with their cards")
    _add_file_codec_arguments(
        commands.add_parser("compress", help="one image file -> .aec (learned codec)"), True
    )
    _add_file_codec_arguments(commands.add_parser("decompress", help="one .aec file -> PNG"), False)
    demo = commands.add_parser("demo", help="denoise the bundled samples (what `make run` does)")
    demo.add_argument("--source", help="run on this folder/URI instead of the bundled samples")
    demo.add_argument("--dest", help="where outputs and the report go (default out/demo)")
    bench = commands.add_parser("bench", help="measure model and pipeline throughput (MP/s)")
    add_arguments(bench, BenchOptions)
    bench.add_argument("--json", type=Path, help="also write every sample and fact as JSON")
    _add_eval_arguments(
        commands.add_parser("eval", help="PSNR/SSIM and s/MP of a model vs classical baselines")
    )
    for name, (_, help_text) in TRAINING_COMMANDS.items():
        commands.add_parser(name, help=f"{help_text} (see: aepipe {name} --help)")
    return parser


def run_command(options: RunOptions) -> RunSummary:
    """Run the flow with a progress bar; returns its summary. Ctrl-C ends it with
    RunInterrupted after the flow has written its partial report (on SIGTERM Prefect, once the
    report is written, ends the process by the signal itself, as the shell expects)."""
    try:
        return _run_with_progress(options)
    except KeyboardInterrupt as stop:
        raise RunInterrupted("interrupted; the partial report says what was done", 130) from stop


def _run_with_progress(options: RunOptions) -> RunSummary:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from aepipe.runtime.flow import process_images
    from aepipe.runtime.pipeline.progress import listening

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
            summary: RunSummary = process_images(**asdict(options))
            return summary


def models_command() -> None:
    from aepipe.runtime.model.zoo import load_manifest

    for entry in load_manifest():
        card = entry.card
        marker = " (default)" if entry.default else ""
        print(f"{card.name}{marker}  task={card.task} scale={card.scale}")
        for part_name, part in entry.parts.items():
            print(f"    {part_name}: {part.file}  sha256={part.sha256}")
        for label, value in card.quality.items():
            print(f"    {label}: {value}")
        print(f"    trained: {card.training_command}")
        print(f"    data: {card.training_data} ({card.data_terms})")


def file_codec_command(args: argparse.Namespace) -> dict[str, Any]:
    """One file through the same task code as ``aepipe run`` (so outputs are identical)."""
    from aepipe.runtime.options import ChunkOptions
    from aepipe.runtime.tasks.build import build_task
    from aepipe.storage.local import atomic_write

    task = build_task(from_namespace(TaskOptions, args, task=args.command))
    output_options = ChunkOptions(format="PNG")
    try:
        data = args.input.read_bytes()
    except OSError as error:
        raise AepipeError(f"{args.input}: {error.strerror}") from None
    image = task.read(data, str(args.input), output_options.max_pixels)
    result = task.apply(image)
    output = task.write(result, image.info, output_options)
    atomic_write(args.output, output)
    return {
        "input": str(args.input),
        "output": str(args.output),
        "bytes": len(output),
        **result.fields,
    }


def bench_command(args: argparse.Namespace) -> None:
    """Print the markdown report; ``--json`` also keeps every sample; exit 1 if one failed."""
    from aepipe.tools.bench.options import BenchOptions
    from aepipe.tools.bench.suite import run_bench
    from aepipe.tools.bench.timing import BenchError

    report = run_bench(from_namespace(BenchOptions, args))
    print(report.markdown())
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    if report.failures:
        raise BenchError(f"measurement failed: {', '.join(report.failures)} (see the table)")


def eval_command(args: argparse.Namespace) -> None:
    """Print the markdown table; ``--json``/``--markdown`` also write the report to files."""
    from aepipe.tools.evaluation.compression import CompressEvalConfig, run_compress_eval
    from aepipe.tools.evaluation.protocol import EvalConfig
    from aepipe.tools.evaluation.restoration import run_eval

    report: Any
    if args.task == "trust":
        from aepipe.tools.evaluation.trust import TrustEvalConfig, run_trust_eval

        trust = TrustEvalConfig(
            args.data_dir, args.model, args.domain_check, args.far_per_kind, args.seed, args.limit
        )
        report = run_trust_eval(trust)
        table = report.markdown()
    elif args.task == "anomaly":
        from aepipe.tools.evaluation.anomaly import AnomalyEvalConfig, run_anomaly_eval

        anomaly = AnomalyEvalConfig(
            args.data_dir,
            args.model,
            args.defects,
            args.fit,
            args.defects_per_kind,
            args.seed,
            args.limit,
        )
        report = run_anomaly_eval(anomaly)
        table = report.markdown()
    elif args.task in ("embed", "generate"):
        report = _latent_eval(args)
        table = report.markdown()
    elif args.task == "inpaint":
        from aepipe.tools.evaluation.inpaint import run_inpaint_eval

        report = run_inpaint_eval(from_namespace(EvalConfig, args))
        table = report.markdown()
    elif args.task == "segment":
        from aepipe.tools.evaluation.segment import run_segment_eval

        report = run_segment_eval(from_namespace(EvalConfig, args))
        table = report.markdown()
    elif args.task == "compress":
        if args.self_ensemble:
            raise AepipeError("--self-ensemble is for restoration tasks, not compress")
        config = CompressEvalConfig(args.data_dir, args.model, args.limit, plot=args.plot)
        report = run_compress_eval(config)
        table = report.markdown()
    else:
        report = run_eval(from_namespace(EvalConfig, args))
        table = report.markdown(per_image=args.per_image)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")


def _latent_eval(args: argparse.Namespace) -> Any:
    """``eval --task embed`` (vectors vs PCA) or ``generate`` (samples vs held-out photos)."""
    if args.fit is None:
        raise AepipeError(f"eval --task {args.task} needs --fit: the models' training images")
    models = args.models or [args.model]
    if args.task == "embed":
        from aepipe.tools.evaluation.embed import EmbedEvalConfig, run_embed_eval

        return run_embed_eval(
            EmbedEvalConfig(args.data_dir, models, args.fit, args.seed, args.limit, args.views)
        )
    from aepipe.tools.evaluation.generate import GenerateEvalConfig, run_generate_eval

    config = GenerateEvalConfig(
        args.data_dir, models, args.fit, args.features, args.count, args.seed, args.views
    )
    return run_generate_eval(config)


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
        with _flow_api(args.command):
            return _dispatch(args)
    except AepipeError as error:  # no API to report to (the command's own errors: _dispatch)
        print(f"aepipe: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # outside a flow (a flow's own: RunInterrupted, with its report)
        print("aepipe: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


@contextmanager
def _flow_api(command: str) -> Iterator[None]:
    """Commands that run a flow report to the API ``runtime.api`` chooses; the flow's module
    is imported while a temporary server starts."""
    if command not in FLOW_COMMANDS:
        yield
        return
    import importlib

    from aepipe.runtime.api import prefect_api

    def imports() -> None:
        for module in (FLOW_COMMANDS[command], *FLOW_CALL_MODULES):
            importlib.import_module(module)

    with ExitStack() as stack:
        with _interrupts_kept():  # the setup only: the flow has its own (RunInterrupted)
            api = stack.enter_context(prefect_api(meanwhile=imports))
        if line := api.describe():
            print(f"aepipe: {line}", file=sys.stderr)
        yield


@contextmanager
def _interrupts_kept() -> Iterator[None]:
    """Within, Ctrl-C ends the block as KeyboardInterrupt even when a library on the way lost
    it: pydantic's serialiser turns it into an error of its own, which a caller may swallow
    (a test run once ran to the end after a SIGINT in this phase)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    seen: list[int] = []

    def remember(signum: int, frame: object) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, remember)
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        if seen:
            raise KeyboardInterrupt from error
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    if seen:
        raise KeyboardInterrupt


def _dispatch(args: argparse.Namespace) -> int:
    try:
        if args.command == "run":
            summary = run_command(from_namespace(RunOptions, args))
            shown = ("report", "counts", "mean_psnr", "estimate")  # estimate: --dry-run only
            print(json.dumps({k: v for k, v in summary.items() if k in shown}))
        elif args.command == "generate":
            from aepipe.runtime.generation.flow import generate_images

            summary = generate_images(**asdict(from_namespace(GenerateOptions, args)))
            print(json.dumps({"report": summary["report"], "counts": summary["counts"]}))
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
    except RunInterrupted as error:
        print(f"aepipe: {error}", file=sys.stderr)
        return error.exit_status
    except AepipeError as error:
        print(f"aepipe: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
