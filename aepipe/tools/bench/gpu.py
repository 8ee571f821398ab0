"""The GPU check: proof that aepipe runs on a GPU, and its figures there, in one short run.

    python -m aepipe.tools.bench.gpu OUT [--dry-run] [--images 100] [--image-mp 12]

(``scripts/gpu-check.sh`` installs onnxruntime-gpu from carried wheels first, then calls it.)

1. Provider proof: every shipped image model's session runs on ``CUDAExecutionProvider``;
   ORT falls back to CPU with a log line only, so a fallback fails the check here.
2. Parity: each model's CUDA output against its CPU output (fp32, max abs diff ≤ 1e-3), and an
   fp16 copy of each (ORT's float16 converter, fp32 inputs and outputs kept): its output against
   fp32's in dB, and the denoiser's PSNR change on the bundled photos at σ 25.
3. Model-only throughput of the denoiser with IOBinding (inputs and outputs stay on the
   device), batches of 256² tiles, fp32 and fp16, against torch eager on CUDA with the same
   weights.
4. The learned codec: a file coded on the CPU decodes to the same pixels on the GPU.
5. The pipeline's own model calls: one photo of ``--image-mp`` megapixels through
   ``run_tiled`` as a task runs it, each call timed by shape (first pass and second), then the
   commonest shape with IOBinding and, on CUDA, with cuDNN's exhaustive algorithm search: where
   the pipeline's inference loses to the model alone (on the first H200, with the exhaustive
   search, its calls of 284² tiles ran ~50x slower than 256² tiles with IOBinding).
6. The whole pipeline (``process_chunk``, local folders) over synthetic JPEG photos of
   ``--image-mp`` megapixels: wall time, where the time goes (decode, infer, encode, I/O) and
   GPU utilisation sampled by ``nvidia-smi``.

Writes ``OUT/gpu-check.json`` and ``OUT/gpu-check.md`` after every step, so that a run cut off
at its time limit keeps the steps it finished. ``--dry-run`` does all of it with the
CPU provider standing in for CUDA at toy sizes: how CI keeps this script working between
the rare runs on a lent GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from aepipe.degrade import noisy_file
from aepipe.images import decode, from_float, to_float
from aepipe.metrics import psnr
from aepipe.runtime.codec.learned import load_codec
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.model.providers import (
    CPU,
    CUDA,
    CUDA_OPTIONS,
    ProviderSpec,
    with_options,
)
from aepipe.runtime.model.session import OnnxModel, session_options
from aepipe.runtime.model.zoo import find_model, load_manifest
from aepipe.runtime.options import ChunkOptions, TaskOptions
from aepipe.runtime.pipeline import process_chunk
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.tiled import run_tiled
from aepipe.storage import open_storage
from aepipe.tools.bench.models import BENCH_SIGMA, model_inputs, torch_network
from aepipe.tools.bench.pipeline import stage_seconds, synthetic_image
from aepipe.tools.bench.timing import megapixels
from aepipe.tools.machine import machine_info

PARITY_TOLERANCE = 1e-3
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


class ProviderFallbackError(RuntimeError):
    """A session asked for the GPU runs on the CPU (a library failed to load)."""


@dataclass(frozen=True)
class Plan:
    """What one check measures: full sizes on a GPU, toy sizes in a dry run."""

    provider: str  # the provider under test
    device: str  # where IOBinding keeps tensors and torch runs: "cuda" or "cpu"
    parity_side: int
    batches: tuple[int, ...]
    tile: int
    calls: int  # timed calls per batch size
    images: int
    image_mp: float

    @classmethod
    def of(cls, dry_run: bool, images: int, image_mp: float) -> Plan:
        if dry_run:
            return cls(CPU, "cpu", 64, (1, 2), 64, 2, 2, 0.05)
        return cls(CUDA, "cuda", 256, (1, 2, 4, 8, 16, 32, 64), 256, 20, images, image_mp)


def require_provider(session: ort.InferenceSession, provider: str, what: str) -> None:
    """Refuse a session that does not run on ``provider`` first (a silent fallback)."""
    got = session.get_providers()
    if not got or got[0] != provider:
        raise ProviderFallbackError(f"{what}: asked for {provider}, the session runs on {got}")


def shipped_parts() -> Iterator[tuple[str, Path]]:
    """(label, path) of every shipped ONNX part."""
    for entry in load_manifest():
        for name, part in entry.parts.items():
            label = entry.card.name if name == "model" else f"{entry.card.name} ({name})"
            yield label, part.path


class NotAFloatModel(TypeError):
    """A part that takes integers (a VQ-VAE's code map): no float arithmetic to compare."""


def random_feeds(session: ort.InferenceSession, side: int) -> dict[str, np.ndarray]:
    """One deterministic input per graph input: images at ``side``², latents at side / 16."""
    rng = np.random.default_rng(0)
    feeds = {}
    for arg in session.get_inputs():
        if arg.type != "tensor(float)":
            raise NotAFloatModel(f"takes {arg.name} as {arg.type}")
        if arg.name == "noise_level":
            feeds[arg.name] = np.full((1, 1, 1, 1), BENCH_SIGMA / 255, dtype=np.float32)
            continue
        channels = arg.shape[1] if isinstance(arg.shape[1], int) else 3
        spatial = side if channels <= 4 else max(1, side // 16)
        dims = [d if isinstance(d, int) else spatial for d in arg.shape[2:]]
        feeds[arg.name] = rng.random((1, channels, *dims), dtype=np.float32)
    return feeds


@cache  # parity, the quality check and the throughput all ask for the denoiser's
def float16_bytes(path: Path) -> bytes:
    """The model with fp16 weights and arithmetic, fp32 at its inputs and outputs."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    # Where one value is cast back for two consumers (a graph output used inside the graph
    # too), the converter adds the same Cast node twice, which ORT refuses: keep the first.
    kept, made = [], set()
    for node in half.graph.node:
        outputs = tuple(node.output)
        if outputs not in made:
            kept.append(node)
            made.add(outputs)
    del half.graph.node[:]
    half.graph.node.extend(kept)
    return bytes(half.SerializeToString())


def session(
    model: Path | bytes, provider: str, options: dict[str, str] | None = None
) -> ort.InferenceSession:
    """A session on ``provider`` with the options aepipe runs it with (or ``options``), the
    CPU behind it."""
    source = str(model) if isinstance(model, Path) else model
    providers: list[ProviderSpec] = (
        with_options([provider]) if options is None else [(provider, options)]
    )
    if provider != CPU:
        providers.append(CPU)
    return ort.InferenceSession(source, session_options(), providers=providers)


def parity(plan: Plan) -> list[dict[str, Any]]:
    """Steps 1 and 2 for every part: provider proof, fp32 parity with CPU, fp16 against fp32."""
    rows = []
    for label, path in shipped_parts():
        row: dict[str, Any] = {"model": label}
        try:
            cpu = session(path, CPU)
            feeds = random_feeds(cpu, plan.parity_side)
            reference = cpu.run(None, feeds)[0]
            target = session(path, plan.provider)
            require_provider(target, plan.provider, label)
            fp32 = target.run(None, feeds)[0]
            row["fp32_max_abs_diff"] = float(np.max(np.abs(fp32 - reference)))
            row["fp32_parity"] = row["fp32_max_abs_diff"] <= PARITY_TOLERANCE
            if plan.provider == CUDA:
                row.update(_without_tf32(path, feeds, reference))
            fp16 = session(float16_bytes(path), plan.provider).run(None, feeds)[0]
            if np.issubdtype(fp32.dtype, np.floating):
                row["fp16_vs_fp32_db"] = psnr(fp32, fp16)
            else:  # codes: how many come out the same
                row["fp16_same_outputs"] = float(np.mean(fp16 == fp32))
        except NotAFloatModel as reason:
            row["skipped"] = str(reason)
        except Exception as error:  # one part's failure is its row; the check goes on
            row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
        rows.append(row)
    return rows


def _without_tf32(
    path: Path, feeds: dict[str, np.ndarray], reference: np.ndarray
) -> dict[str, Any]:
    """fp32 parity with TF32 convolutions and matrix products off (ORT's CUDA default is on):
    whether a parity miss is TF32's rounding or something else."""
    try:
        exact = session(path, CUDA, {**CUDA_OPTIONS, "use_tf32": "0"}).run(None, feeds)[0]
    except Exception as error:  # an option this ORT does not know: say so, keep the row
        return {"fp32_no_tf32_error": f"{type(error).__name__}: {str(error)[:200]}"}
    return {"fp32_no_tf32_max_abs_diff": float(np.max(np.abs(exact - reference)))}


def denoiser_fp16_quality(plan: Plan) -> dict[str, float]:
    """PSNR of the shipped denoiser in fp32 and fp16 on the bundled photos at σ 25."""
    path = find_model(None, TaskName.DENOISE).path
    model = OnnxModel(path, providers=[plan.provider])
    fp16 = session(float16_bytes(path), plan.provider)
    multiple = model.card.pad_multiple
    scores: dict[str, list[float]] = {"fp32": [], "fp16": []}
    for index, file in enumerate(sorted(SAMPLES.glob("*.png"))):
        clean = decode(file.read_bytes(), file.name).pixels
        if plan.provider == CPU:  # a dry run: a corner is enough
            clean = clean[: plan.parity_side, : plan.parity_side]
        noisy = noisy_file(clean, BENCH_SIGMA, np.random.default_rng(index))
        height, width = noisy.shape[:2]
        padding = ((0, -height % multiple), (0, -width % multiple), (0, 0))
        x = np.pad(to_float(noisy), padding, mode="reflect")
        feeds = model_inputs(model.card, 1, 1)  # the noise level; x replaced below
        feeds["x"] = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        for name, sess in (("fp32", model.session), ("fp16", fp16)):
            out = sess.run(None, feeds)[0][0].transpose(1, 2, 0)[:height, :width]
            scores[name].append(psnr(clean, from_float(out, clean.dtype)))
    result = {name: float(np.mean(values)) for name, values in scores.items()}
    return {**result, "delta_db": result["fp16"] - result["fp32"]}


def _no_sync() -> None:
    """ORT's ``run_with_iobinding`` returns when the outputs are ready."""


def _timed(call: Callable[[], object], sync: Callable[[], object], calls: int) -> float:
    """Seconds per call after one warm-up call."""
    call()
    sync()
    started = time.perf_counter()
    for _ in range(calls):
        call()
    sync()
    return (time.perf_counter() - started) / calls


def throughput(plan: Plan) -> list[dict[str, Any]]:
    """Step 3: megapixels per second of the denoiser, ORT with IOBinding vs torch eager."""
    path = find_model(None, TaskName.DENOISE).path
    model = OnnxModel(path, providers=[plan.provider])
    engines = {
        "onnxruntime fp32": model.session,
        "onnxruntime fp16": session(float16_bytes(path), plan.provider),
    }
    net = _torch_network_on(path, model.card, plan.device)
    rows = []
    for batch in plan.batches:
        feeds = model_inputs(model.card, batch, plan.tile, seed=batch)
        work = megapixels(plan.tile, plan.tile, batch)
        for label, sess in engines.items():
            milliseconds = _ms_per_call(sess, feeds, plan, bound=True)
            rows.append({"engine": label, "batch": batch, "mp_per_s": 1e3 * work / milliseconds})
        if net is not None:
            reference = model.session.run(None, feeds)[0]
            rows += _torch_rows(net, feeds, reference, work, plan)
    return rows


def _torch_network_on(path: Path, card: ModelCard, device: str) -> Any:
    """The network in torch eager on ``device`` with the ONNX file's weights; None where
    torch is not installed."""
    try:
        import torch  # noqa: F401  # only whether it is there
    except ImportError:
        return None
    return torch_network(path, card).to(device)


def _torch_rows(
    net: Any, feeds: dict[str, np.ndarray], reference: np.ndarray, work: float, plan: Plan
) -> list[dict[str, Any]]:
    """torch eager on one batch: fp32, and fp16 under autocast; each row says how far its
    output is from ORT's fp32 ``reference`` (the same computation, or not)."""
    import torch

    inputs = {k: torch.from_numpy(v).to(plan.device) for k, v in feeds.items()}
    sync = torch.cuda.synchronize if plan.device == "cuda" else _no_sync
    rows = []
    for label, autocast in (("torch eager fp32", False), ("torch eager fp16", True)):
        if autocast and plan.device != "cuda":
            continue  # CPU autocast is bfloat16: not the comparison asked for

        def call(autocast: bool = autocast) -> object:
            with torch.inference_mode(), torch.autocast("cuda", enabled=autocast):
                return net(**inputs)

        seconds = _timed(call, sync, plan.calls)
        output = call().float().cpu().numpy()  # type: ignore[attr-defined]
        rows.append(
            {
                "engine": label,
                "batch": int(feeds["x"].shape[0]),
                "mp_per_s": work / seconds,
                "max_abs_diff_vs_onnxruntime_fp32": float(np.max(np.abs(output - reference))),
            }
        )
    return rows


def _write_photo(args: tuple[Path, int, int]) -> None:
    folder, side, seed = args
    Image.fromarray(synthetic_image(side, seed)).save(folder / f"photo-{seed:03d}.jpg", quality=92)


@contextmanager
def gpu_sampler(period_ms: int = 250) -> Iterator[list[tuple[float, float]]]:
    """(utilisation %, memory MiB) samples from ``nvidia-smi`` while the block runs; none
    where there is no nvidia-smi (a dry run)."""
    samples: list[tuple[float, float]] = []
    query = "--query-gpu=utilization.gpu,memory.used"
    try:
        smi = subprocess.Popen(
            ["nvidia-smi", query, "--format=csv,noheader,nounits", f"-lms={period_ms}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except FileNotFoundError:
        yield samples
        return

    def read() -> None:
        assert smi.stdout is not None
        for line in smi.stdout:
            fields = line.split(",")
            if len(fields) == 2:
                samples.append((float(fields[0]), float(fields[1])))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield samples
    finally:
        smi.terminate()
        reader.join(timeout=5)


class _TimedModel(OnnxModel):
    """The task's model with every call's input shape and seconds recorded."""

    calls: list[tuple[tuple[int, ...], float]]

    def run(self, x: np.ndarray, noise_level: np.ndarray | None = None) -> np.ndarray:
        started = time.perf_counter()
        y = super().run(x, noise_level)
        self.calls.append((x.shape, time.perf_counter() - started))
        return y


def pipeline_calls(plan: Plan) -> dict[str, Any]:
    """Step 5: one photo through ``run_tiled`` as the denoise task runs it, each model call
    timed (two passes: the first pays for any algorithm search), then the commonest call shape
    alone with IOBinding and, on CUDA, with cuDNN's exhaustive search (ORT's default)."""
    path = find_model(None, TaskName.DENOISE).path
    model = _TimedModel(path, providers=[plan.provider])
    options = TaskOptions(task=TaskName.DENOISE, noise_level=BENCH_SIGMA)
    pixels = synthetic_image(_photo_side(plan), 0)
    passes = []
    for _ in range(2):
        model.calls = []
        started = time.perf_counter()
        run_tiled(model, pixels, options, BENCH_SIGMA)
        passes.append((time.perf_counter() - started, list(model.calls)))
    counts = Counter(shape for shape, _ in passes[1][1])
    by_shape = [
        {
            "shape": list(shape),
            "calls": count,
            "ms_per_call": [_mean_ms(calls, shape) for _, calls in passes],
        }
        for shape, count in sorted(counts.items())
    ]
    batch, _, side, _ = counts.most_common(1)[0][0]
    feeds = model_inputs(model.card, batch, side)
    alone = {"numpy in and out": _ms_per_call(model.session, feeds, plan, bound=False)}
    alone["IOBinding"] = _ms_per_call(model.session, feeds, plan, bound=True)
    if plan.provider == CUDA:  # ORT's default, which aepipe's sessions leave (CUDA_OPTIONS)
        exhaustive = session(path, CUDA, {"cudnn_conv_algo_search": "EXHAUSTIVE"})
        alone["numpy in and out, cuDNN exhaustive search"] = _ms_per_call(
            exhaustive, feeds, plan, bound=False
        )
    return {
        "megapixels": round(pixels.shape[0] * pixels.shape[1] / 1e6, 2),
        "seconds_per_pass": [seconds for seconds, _ in passes],
        "model_seconds_per_pass": [sum(t for _, t in calls) for _, calls in passes],
        "calls_by_shape": by_shape,
        "commonest_shape_alone_ms": alone,
    }


def _mean_ms(calls: list[tuple[tuple[int, ...], float]], shape: tuple[int, ...]) -> float:
    return 1e3 * float(np.mean([seconds for s, seconds in calls if s == shape]))


def _ms_per_call(
    sess: ort.InferenceSession, feeds: dict[str, np.ndarray], plan: Plan, *, bound: bool
) -> float:
    if not bound:
        return 1e3 * _timed(partial(sess.run, None, feeds), _no_sync, plan.calls)
    binding = sess.io_binding()
    for name, array in feeds.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, plan.device, 0))
    binding.bind_output(sess.get_outputs()[0].name, plan.device)
    return 1e3 * _timed(partial(sess.run_with_iobinding, binding), _no_sync, plan.calls)


def _photo_side(plan: Plan) -> int:
    return round(math.sqrt(plan.image_mp * 1e6))


def pipeline(plan: Plan) -> dict[str, Any]:
    """Step 6: the denoise task over a folder of large JPEGs, as ``aepipe run`` processes it
    (in a temporary folder: thousands of megapixels of output are not the check's result)."""
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as workdir:
        return _pipeline_in(plan, Path(workdir))


def _pipeline_in(plan: Plan, workdir: Path) -> dict[str, Any]:
    source, out = workdir / "photos", workdir / "denoised"
    source.mkdir(parents=True)
    side = _photo_side(plan)
    with ProcessPoolExecutor() as pool:
        list(pool.map(_write_photo, [(source, side, seed) for seed in range(plan.images)]))
    task = build_task(TaskOptions(task=TaskName.DENOISE, noise_level=BENCH_SIGMA))
    providers = task.runtime.providers
    if providers[0] != plan.provider:
        raise ProviderFallbackError(f"pipeline: the task runs on {providers}")
    keys = sorted(p.name for p in source.iterdir())
    storage_in, storage_out = open_storage(str(source)), open_storage(str(out))
    with gpu_sampler() as samples:
        started = time.perf_counter()
        rows = process_chunk(keys, storage_in, storage_out, task, ChunkOptions(overwrite=True))
        wall = time.perf_counter() - started
    failed = [row.error for row in rows if row.error]
    utilisation = [u for u, _ in samples]
    return {
        "images": plan.images,
        "megapixels_each": round(side * side / 1e6, 2),
        "providers": providers,
        "wall_s": wall,
        "mp_per_s": plan.images * side * side / 1e6 / wall,
        "stage_seconds": stage_seconds(rows),
        "errors": failed,
        "gpu_utilisation_mean": float(np.mean(utilisation)) if utilisation else None,
        "gpu_utilisation_max": max(utilisation) if utilisation else None,
        "gpu_memory_max_mib": max((m for _, m in samples), default=None),
    }


def codec_exactness(plan: Plan) -> dict[str, Any]:
    """Step 4: one ``.aec`` file coded on the CPU, decoded on the CPU and on the target."""
    file = sorted(SAMPLES.glob("*.png"))[0]
    image = decode(file.read_bytes(), file.name)
    cpu = load_codec(None, providers=[CPU])
    target = load_codec(None, providers=[plan.provider])
    require_provider(target.decoder.session, plan.provider, "codec decoder")
    data = cpu.compress(image, rate=2)
    on_cpu, on_target = cpu.decompress(data).pixels, target.decompress(data).pixels
    differing = on_cpu.astype(np.int32) != on_target
    return {
        "image": file.name,
        "identical_pixels": not differing.any(),
        "pixels_differing": int(differing.sum()),
        "max_abs_diff": int(np.max(np.abs(on_cpu.astype(np.int32) - on_target))),
        "same_file_from_target_encoder": target.compress(image, rate=2) == data,
    }


def environment(plan: Plan) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "onnxruntime": ort.__version__,
        "available_providers": ort.get_available_providers(),
        "provider_under_test": plan.provider,
    }
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
        info["gpus"] = listed.stdout.strip().splitlines()
    except FileNotFoundError:
        info["gpus"] = []
    return info


def run_check(plan: Plan, out: Path) -> dict[str, Any]:
    """Every step; a step that fails records why and the others still run."""
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"dry_run": plan.provider == CPU, "environment": environment(plan)}
    steps: dict[str, Callable[[], Any]] = {
        "parity": lambda: parity(plan),
        "denoiser_fp16": lambda: denoiser_fp16_quality(plan),
        "throughput": lambda: throughput(plan),
        "codec": lambda: codec_exactness(plan),
        "pipeline_calls": lambda: pipeline_calls(plan),
        "pipeline": lambda: pipeline(plan),
    }
    for name, step in steps.items():
        print(f"gpu check: {name}", file=sys.stderr, flush=True)
        try:
            result[name] = step()
        except Exception as error:  # whatever broke, the rest and the report still come out
            result[name] = {"error": f"{type(error).__name__}: {error}"}
        (out / "gpu-check.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        (out / "gpu-check.md").write_text(markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    """The check as the tables docs/benchmarks.md takes."""
    env = result["environment"]
    lines = [
        f"# GPU check ({'dry run, CPU standing in' if result['dry_run'] else 'GPU'})",
        "",
        f"{env['date']}; {', '.join(env['gpus']) or 'no GPU listed'}; onnxruntime "
        f"{env['onnxruntime']}, provider under test {env['provider_under_test']}.",
        "",
        "| model | fp32 max abs diff vs CPU | the same, TF32 off | fp16 vs fp32 (dB) | note |",
        "|---|---|---|---|---|",
    ]
    for row in _rows(result.get("parity")):
        diff, exact = row.get("fp32_max_abs_diff"), row.get("fp32_no_tf32_max_abs_diff")
        fp16 = row.get("fp16_vs_fp32_db")
        lines.append(
            f"| {row['model']} | {'' if diff is None else f'{diff:.1e}'} | "
            f"{'' if exact is None else f'{exact:.1e}'} | "
            f"{'' if fp16 is None else f'{fp16:.1f}'} | {_note(row)} |"
        )
    lines += ["", f"Denoiser fp16 on the bundled photos, σ 25: {result.get('denoiser_fp16')}", ""]
    lines += [
        "| engine | batch of 256² tiles | MP/s | max abs diff vs ORT fp32 |",
        "|---|---|---|---|",
    ]
    for row in _rows(result.get("throughput")):
        diff = row.get("max_abs_diff_vs_onnxruntime_fp32")
        lines.append(
            f"| {row['engine']} | {row['batch']} | {row['mp_per_s']:.2f} | "
            f"{'' if diff is None else f'{diff:.1e}'} |"
        )
    lines += ["", f"Codec: {json.dumps(result.get('codec'), default=str)}", ""]
    lines += [f"Pipeline calls: {json.dumps(result.get('pipeline_calls'), default=str)}", ""]
    lines += [f"Pipeline: {json.dumps(result.get('pipeline'), default=str)}", ""]
    return "\n".join(lines)


def _note(row: dict[str, Any]) -> str:
    if "fp16_same_outputs" in row:
        return f"integer codes: {row['fp16_same_outputs']:.1%} the same in fp16"
    return str(row.get("error") or row.get("skipped") or row.get("fp32_no_tf32_error") or "")


def _rows(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aepipe.tools.bench.gpu", description=__doc__)
    parser.add_argument("out", type=Path, help="folder for gpu-check.json and gpu-check.md")
    parser.add_argument("--dry-run", action="store_true", help="the CPU provider, toy sizes")
    parser.add_argument("--images", type=int, default=12, help="pipeline: how many photos")
    parser.add_argument("--image-mp", type=float, default=12.0, help="pipeline: their size")
    args = parser.parse_args(argv)
    result = run_check(Plan.of(args.dry_run, args.images, args.image_mp), args.out)
    print((args.out / "gpu-check.md").read_text())
    failed = [
        name for name, value in result.items() if isinstance(value, dict) and "error" in value
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
