"""The same S3 → S3 job three ways, side by side (issue 20 item 7): aepipe against what a user
would otherwise write.

    aepipe run    the CLI (denoise, σ 25), reporting to a background Prefect server the bench
                  starts (the start-up a user with one running pays; docs/benchmarks.md)
    Ray Data      read_images → map_batches(an onnxruntime actor) → PNG encode + boto3 put,
                  on a local Ray started by the job
    naive loop    boto3 get → Pillow decode → onnxruntime (whole image) → encode → boto3 put

Same images in one SeaweedFS bucket, same model file, same onnxruntime thread count; each way
a fresh process whose whole process tree's RSS is sampled every 0.1 s for its peak. Ray is
optional (``pip install 'ray[data]'``): without it its row says so.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from aepipe.tools.bench.startup import background_server, bench_env
from aepipe.tools.bench.timing import BenchError, Sample, Timing, megapixels_of

SIGMA = 25.0
WAYS = ("aepipe run", "Ray Data", "naive loop")
SAMPLE_S = 0.1
#: A way that takes longer has hung (Ray waiting for CPUs it will never get, say).
WAY_TIMEOUT_S = 1800


def peers(pngs: dict[str, bytes], model: Path, threads: int, workdir: Path) -> list[Timing]:
    """One timed run of each way over ``pngs`` (in a bucket of a SeaweedFS it starts)."""
    from aepipe.tools.seaweedfs import SeaweedServer, free_ports

    work = megapixels_of(pngs)
    [port] = free_ports(1)
    prefect_env = bench_env(workdir / "peers-prefect-home", port)
    rows = []
    with SeaweedServer() as server, background_server(prefect_env, port):
        client = server.client()
        client.create_bucket(Bucket="peers")
        for key, data in pngs.items():
            client.put_object(Bucket="peers", Key=f"in/{key}", Body=data)
        env = {**prefect_env, **server.env()}
        for way in WAYS:
            prefix = f"out-{way.split()[0].lower()}"
            rows.append(_timed(way, env, str(model), threads, prefix, work, len(pngs), client))
    return rows


def _timed(
    way: str,
    env: dict[str, str],
    model: str,
    threads: int,
    prefix: str,
    work: float,
    images: int,
    client: Any,
) -> Timing:
    if way == "Ray Data" and not _has_ray():
        return Timing(way, "not installed", work, images, error="pip install 'ray[data]'")
    if way == "aepipe run":
        command = [sys.executable, "-c", "from aepipe.cli import main; raise SystemExit(main())"]
        command += ["run", "s3://peers/in", f"s3://peers/{prefix}", "--task", "denoise"]
        command += ["--noise-level", str(SIGMA), "--threads", str(threads), "--overwrite"]
    else:
        code = f"from {__name__} import _child; _child()"
        command = [sys.executable, "-c", code, way, model, str(threads), prefix]
    wall, cpu, peak = _run_measured(command, env, way)
    listed = client.list_objects_v2(Bucket="peers", Prefix=f"{prefix}/")
    written = sum(key["Key"].endswith(".png") for key in listed.get("Contents", []))
    if written != images:
        raise BenchError(f"{way}: {written} of {images} outputs written")
    note = f"peak RSS {peak:,.0f} MB (process tree)"
    return Timing(
        way, f"S3 -> S3, {threads} ORT threads", work, images, [Sample(wall, cpu)], note=note
    )


def _run_measured(command: list[str], env: dict[str, str], way: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds of the process tree, and its peak RSS in MB."""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    peak = 0.0
    seen: dict[int, float] = {}  # pid -> its last CPU seconds: a finished child keeps them
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree) / 2**20)
                for p in tree:
                    times = p.cpu_times()
                    seen[p.pid] = times.user + times.system
            except psutil.Error:
                pass
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, err = proc.communicate(timeout=WAY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # with every process it started (Ray's too)
        proc.communicate()
        done.set()
        raise BenchError(f"{way}: no end after {WAY_TIMEOUT_S} s") from None
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise BenchError(f"{way} exited {proc.returncode}: {err.decode(errors='replace')[-800:]}")
    return wall, sum(seen.values()), peak


def _has_ray() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


# --- the two peers, as their users would write them (run in a fresh process) ----------------


def _child() -> None:
    way, model, threads, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if way == "naive loop":
        _naive_loop(model, threads, prefix)
    else:
        _ray_data(model, threads, prefix)
    print(json.dumps({"done": way}))


def _session(model: str, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _denoise(session: Any, pixels: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
    level = np.full((1, 1, 1, 1), SIGMA / 255.0, dtype=np.float32)
    (y,) = session.run(None, {"x": x, "noise_level": level})
    return np.clip(np.rint(y[0].transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _naive_loop(model: str, threads: int, prefix: str) -> None:
    import boto3
    from PIL import Image

    s3 = boto3.client("s3")
    session = _session(model, threads)
    for item in s3.list_objects_v2(Bucket="peers", Prefix="in/")["Contents"]:
        data = s3.get_object(Bucket="peers", Key=item["Key"])["Body"].read()
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        name = item["Key"].split("/", 1)[1]
        s3.put_object(Bucket="peers", Key=f"{prefix}/{name}", Body=_png(_denoise(session, pixels)))


def _ray_data(model: str, threads: int, prefix: str) -> None:
    import pyarrow.fs
    import ray

    filesystem = pyarrow.fs.S3FileSystem(
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        endpoint_override=os.environ["AWS_ENDPOINT_URL"],
        region=os.environ["AWS_DEFAULT_REGION"],
    )
    # Ray's CPUs are scheduling slots: one for the model actor (which runs ``threads`` ORT
    # threads), the rest for reading and writing; with the actor on every slot they would wait.
    ray.init(num_cpus=threads + 1, include_dashboard=False, log_to_driver=False)
    try:
        _ray_pipeline(filesystem, model, threads, prefix)
    finally:
        ray.shutdown()


def _ray_pipeline(filesystem: Any, model: str, threads: int, prefix: str) -> None:
    import ray

    class Denoiser:
        def __init__(self) -> None:
            self.session = _session(model, threads)

        def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            outputs = [_denoise(self.session, image) for image in batch["image"]]
            return {"image": np.array(outputs, dtype=object), "path": batch["path"]}

    def put(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import boto3

        s3 = boto3.client("s3")
        for image, path in zip(batch["image"], batch["path"], strict=True):
            name = str(path).rsplit("/", 1)[1]
            pixels = np.asarray(image).astype(np.uint8)  # Arrow may widen the samples
            s3.put_object(Bucket="peers", Key=f"{prefix}/{name}", Body=_png(pixels))
        return {"written": np.array([len(batch["path"])])}

    images = ray.data.read_images("peers/in", filesystem=filesystem, mode="RGB", include_paths=True)
    denoised = images.map_batches(Denoiser, concurrency=1, batch_size=4, num_cpus=1)
    written = denoised.map_batches(put, batch_size=4).sum("written")
    if written is None:
        raise RuntimeError("Ray Data wrote nothing")
