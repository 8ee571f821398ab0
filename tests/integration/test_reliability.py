"""Runs under faults: a real SeaweedFS (killed and restarted for real), a fault-injecting proxy
in front of it, real worker processes killed and signalled. Every case ends by checking the
final state of the bucket and the report: nothing lost, nothing duplicated, nothing partial.
docs/reliability.md holds the table these tests fill.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from imagefactory import save
from modelfactory import photo_like

from aepipe.cli import main
from aepipe.images import decode
from aepipe.runtime.flow import process_images
from aepipe.runtime.options import ChunkOptions, TaskOptions
from aepipe.runtime.pipeline import process_chunk
from aepipe.runtime.pipeline.chunk import CONCURRENT_WRITE
from aepipe.runtime.reports import RowStatus
from aepipe.runtime.tasks.build import build_task
from aepipe.storage import open_storage
from aepipe.tools.faultproxy import Fault, FaultProxy
from aepipe.tools.seaweedfs import SeaweedServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
IMAGES = 12
RUN_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def weed():
    """A server of these tests' own: they kill it."""
    with SeaweedServer() as server:
        yield server
        server.kill()  # its data is throwaway: no need for a graceful stop (~15 s)


@pytest.fixture(scope="module")
def proxy(weed):
    with FaultProxy("127.0.0.1", int(weed.endpoint_url.rsplit(":", 1)[1])) as running:
        yield running


@pytest.fixture
def bucket(weed, proxy, monkeypatch):
    """A fresh bucket with IMAGES photos under in/; boto3 (and aepipe) go through the proxy."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        **weed.env(),
        "AWS_ENDPOINT_URL": proxy.url,
        "AWS_MAX_ATTEMPTS": "4",
    }.items():
        monkeypatch.setenv(name, value)
    proxy.clear()
    proxy.exchanges.clear()
    name = f"rel-{time.monotonic_ns() % 10**12}"
    client = weed.client()
    client.create_bucket(Bucket=name)
    rng = np.random.default_rng(0)
    for i in range(IMAGES):
        client.put_object(Bucket=name, Key=f"in/{i:02d}.png", Body=save(photo_like(rng, 64, 64)))
    return name


def outputs(weed: SeaweedServer, bucket: str) -> dict[str, bytes]:
    """Every output object (not the report), read straight from the server."""
    client = weed.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="out/")
    keys = [
        o["Key"] for page in pages for o in page.get("Contents", ()) if "/_reports/" not in o["Key"]
    ]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def assert_complete_outputs(weed: SeaweedServer, bucket: str) -> dict[str, bytes]:
    """Every output decodes and equals its input's pixels (identity task): none is partial."""
    client = weed.client()
    found = outputs(weed, bucket)
    for key, data in found.items():
        source = client.get_object(Bucket=bucket, Key=key.replace("out/", "in/", 1))["Body"].read()
        assert np.array_equal(decode(data, key).pixels, decode(source, key).pixels), key
    return found


def figures(case: str, **values: object) -> None:
    """One line per case for docs/reliability.md (``pytest -rP`` shows them)."""
    print(json.dumps({"case": case, **values}))


def run(bucket: str, **options) -> dict:
    return process_images(
        f"s3://{bucket}/in",
        f"s3://{bucket}/out",
        **{"task": "identity", "chunk_size": 2, **options},
    )


def worker_env(**extra: str) -> dict[str, str]:
    """A worker process's environment: this one's (S3 via the proxy, the harness's API)."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), **extra}


def start_worker(args: list[str], max_file_bytes: int | None = None) -> subprocess.Popen[str]:
    """``aepipe run`` in a process of its own, as a shell would start it in the foreground."""

    def prepare() -> None:
        # A background job's shell starts it with SIGINT ignored, and Python keeps an ignored
        # SIGINT ignored: give the worker the default, so that Ctrl-C reaches it as for a user.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if max_file_bytes is not None:  # what a full disk does to a writer
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.Popen(
        [sys.executable, "-m", "aepipe.cli", "run", *args],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=prepare,
    )


# --- storage faults ------------------------------------------------------------------------------


def test_storage_killed_mid_run_restarted_and_run_again(prefect_harness, weed, bucket):
    """Every input is done exactly once across the two runs; no partial object at any time."""
    result: dict = {}

    def first_run() -> None:
        try:
            result.update(run(bucket, chunks_in_flight=1))
        except Exception as error:  # the outage may fail the run: it must fail cleanly
            result["failed"] = str(error)

    first = threading.Thread(target=first_run)
    first.start()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while len(outputs(weed, bucket)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    weed.kill()
    time.sleep(1.0)
    weed.restart()
    assert_complete_outputs(weed, bucket)
    first.join(RUN_TIMEOUT_S)
    done_first = len(assert_complete_outputs(weed, bucket))
    if "counts" in result:  # the first run ended with a report: its rows tell the truth
        assert result["counts"]["ok"] == done_first
    second = run(bucket)
    assert_complete_outputs(weed, bucket)
    assert done_first + second["counts"]["ok"] == IMAGES
    assert second["counts"]["skipped"] == done_first and second["counts"]["error"] == 0
    assert len(outputs(weed, bucket)) == IMAGES
    figures(
        "storage killed",
        first_run=result.get("counts", result.get("failed")),
        second_run=second["counts"],
        lost=IMAGES - len(outputs(weed, bucket)),
        duplicated=0,
    )


def test_slowdown_storm_is_absorbed_by_retries(prefect_harness, weed, proxy, bucket, monkeypatch):
    """Five 503 answers in a row, whatever the clients' back-off (botocore's adaptive mode
    spaces its attempts differently from one release to the next, so a storm measured in
    seconds hits a varying number of requests)."""
    monkeypatch.delenv("AWS_MAX_ATTEMPTS")  # the product's own retry budget
    proxy.arm(Fault("status", status=503, count=5))
    started = time.monotonic()
    summary = run(bucket)
    assert summary["counts"]["ok"] == IMAGES
    refused = sum(e.status == 503 for e in proxy.exchanges)
    assert refused == 5
    assert_complete_outputs(weed, bucket)
    seconds = round(time.monotonic() - started, 1)
    figures("503 storm", answered_503=refused, run_seconds=seconds, counts=summary["counts"])


def test_resets_truncated_and_damaged_bodies_never_give_a_corrupt_output(
    prefect_harness, weed, proxy, bucket
):
    for kind, method in [
        ("reset_request", "GET"),
        ("reset_response", "GET"),
        ("truncate", "GET"),
        ("reset_request", "PUT"),
        ("reset_response", "PUT"),
        ("corrupt_body", "PUT"),
    ]:
        proxy.arm(Fault(kind, method=method, path="/in/" if method == "GET" else "/out/", count=2))
    summary = run(bucket)
    applied = [e.fault for e in proxy.exchanges if e.fault]
    assert len(applied) == 12, applied
    assert summary["counts"]["ok"] + summary["counts"]["error"] == IMAGES
    assert summary["counts"]["ok"] == IMAGES, summary["errors"]  # every fault was retried
    assert_complete_outputs(weed, bucket)
    puts = [e for e in proxy.exchanges if e.method == "PUT"]
    assert puts and all(any(h.startswith("x-amz-checksum-") for h in e.headers) for e in puts)
    assert any(e.status == 400 for e in puts), "the store refused the damaged body"
    figures(
        "resets, truncation, damaged body",
        faults=applied,
        refused_by_checksum=sum(e.status == 400 for e in puts),
        counts=summary["counts"],
    )


def test_source_deleted_between_listing_and_reading_is_an_error_row(weed, bucket):
    source, dest = open_storage(f"s3://{bucket}/in"), open_storage(f"s3://{bucket}/out")
    keys = list(source.list())
    weed.client().delete_object(Bucket=bucket, Key="in/03.png")
    rows = process_chunk(
        keys, source, dest, build_task(TaskOptions(task="identity")), ChunkOptions()
    )
    failed = [r for r in rows if r.status is RowStatus.ERROR]
    assert [r.key for r in failed] == ["03.png"] and "03.png" in failed[0].error
    assert len(outputs(weed, bucket)) == IMAGES - 1
    figures("source deleted", error=failed[0].error)


# --- worker processes ----------------------------------------------------------------------------


def wait_for_outputs(
    weed: SeaweedServer, bucket: str, count: int, worker: subprocess.Popen[str]
) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while len(outputs(weed, bucket)) < count:
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline, "the worker wrote nothing"
        time.sleep(0.05)


SLOW_IMAGES = 8


def slow_inputs(weed: SeaweedServer, bucket: str, count: int = SLOW_IMAGES) -> None:
    """Enough denoise work that a worker can be stopped mid-run."""
    rng = np.random.default_rng(1)
    for i in range(count):
        weed.client().put_object(
            Bucket=bucket, Key=f"in/s{i:02d}.png", Body=save(photo_like(rng, 128, 128))
        )


WORKER_ARGS = [
    "--task",
    "denoise",
    "--noise-level",
    "10",
    "--chunk-size",
    "2",
    "--chunks-in-flight",
    "1",
]


def test_worker_killed_mid_chunk_next_run_continues_it(prefect_harness, weed, bucket):
    """SIGKILL leaves no report, only the parts of the chunks that finished. The next run of
    the same job continues that run: its parts are reused, the rest is done, and the one
    complete report lists every key exactly once."""
    slow_inputs(weed, bucket)
    total = IMAGES + SLOW_IMAGES
    worker = start_worker([f"s3://{bucket}/in", f"s3://{bucket}/out", *WORKER_ARGS])
    wait_for_outputs(weed, bucket, 6, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    finished = outputs(weed, bucket)
    for key, data in finished.items():
        decode(data, key)  # complete, or it would not decode
    client = weed.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix="out/_reports/")["Contents"]
    [killed_run] = {o["Key"].split("/")[2] for o in listed}
    # the next run, in this process (a second worker start would only cost time)
    summary = run(bucket, task="denoise", noise_level=10.0, chunks_in_flight=1)
    counts, reused = summary["counts"], summary["chunks_reused"]
    assert summary["run_id"] == killed_run and summary["complete"] and reused >= 2
    body = client.get_object(Bucket=bucket, Key=f"out/_reports/{killed_run}/rows.jsonl")["Body"]
    keys = [json.loads(line)["key"] for line in body.read().splitlines()]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == total
    # outputs of reused chunks are their earlier rows; of the chunk cut short, skips now
    assert counts["ok"] + counts["skipped"] == total
    assert counts["skipped"] == len(finished) - 2 * reused
    figures("worker SIGKILLed", done_before_kill=len(finished), reused_chunks=reused, counts=counts)


@pytest.mark.parametrize(
    ("stop", "exit_statuses", "reason"),
    [
        # Prefect, once the flow's partial report is written, dies by the signal itself
        (signal.SIGTERM, {-signal.SIGTERM, 128 + signal.SIGTERM}, "SIGTERM"),
        (signal.SIGINT, {128 + signal.SIGINT}, "interrupt (Ctrl-C)"),
    ],
)
def test_sigterm_or_ctrl_c_ends_cleanly_with_a_partial_report(
    prefect_harness, weed, bucket, stop, exit_statuses, reason
):
    slow_inputs(weed, bucket)
    worker = start_worker([f"s3://{bucket}/in", f"s3://{bucket}/out", *WORKER_ARGS])
    wait_for_outputs(weed, bucket, 4, worker)
    worker.send_signal(stop)
    _, stderr = worker.communicate(timeout=RUN_TIMEOUT_S)
    assert worker.returncode in exit_statuses, stderr[-2000:]
    assert f"{reason}: partial report at" in stderr
    client = weed.client()
    reports = [
        o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="out/_reports/")["Contents"]
    ]
    summary_key = next(k for k in reports if k.endswith("summary.json"))
    summary = json.loads(client.get_object(Bucket=bucket, Key=summary_key)["Body"].read())
    assert summary["complete"] is False and summary["interrupted"] == reason
    # the chunk in flight finished within the grace: the report lists every output there is
    assert 0 < summary["counts"]["ok"] == len(outputs(weed, bucket)) < IMAGES + SLOW_IMAGES
    for key, data in outputs(weed, bucket).items():
        decode(data, key)
    figures(reason, partial_counts=summary["counts"], outputs=len(outputs(weed, bucket)))


def test_two_runs_on_one_dest_write_each_output_once(prefect_harness, weed, proxy, bucket):
    args = [f"s3://{bucket}/in", f"s3://{bucket}/out", "--task", "identity", "--chunk-size", "2"]
    workers = [start_worker(args), start_worker(args)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=RUN_TIMEOUT_S * 2)
        assert worker.returncode == 0, stderr[-2000:]
    written = [
        e.path
        for e in proxy.exchanges
        if e.method == "PUT" and e.status == 200 and "/out/" in e.path and "_reports" not in e.path
    ]
    assert sorted(written) == sorted(set(written)) and len(written) == IMAGES, written
    assert_complete_outputs(weed, bucket)
    lost_races = sum(e.method == "PUT" and e.status == 412 for e in proxy.exchanges)
    figures("two runs, one DEST", outputs_written=len(written), refused_412=lost_races)


def test_two_runs_racing_for_the_same_outputs_write_each_once(weed, proxy, bucket):
    """Both runs find every output absent (PUTs are held 0.5 s, the checks are not), so both
    upload each image: If-None-Match lets one PUT per key through, the other gets 412 and
    its row becomes a skip that says so."""
    proxy.arm(Fault("delay", method="PUT", path="/out/", count=None, seconds=0.5))
    source, dest = open_storage(f"s3://{bucket}/in"), open_storage(f"s3://{bucket}/out")
    keys, task = list(source.list()), build_task(TaskOptions(task="identity"))
    with ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(lambda _: process_chunk(keys, source, dest, task, ChunkOptions()), "ab")
        )
    proxy.clear()
    for rows in zip(*runs, strict=True):
        assert sorted(r.status for r in rows) == [RowStatus.OK, RowStatus.SKIPPED], rows
        assert any(CONCURRENT_WRITE in r.warnings for r in rows) or any(
            r.status is RowStatus.SKIPPED and not r.warnings for r in rows
        )
    puts = [e for e in proxy.exchanges if e.method == "PUT" and "/out/" in e.path]
    refused = sum(e.status == 412 for e in puts)
    assert sum(e.status == 200 for e in puts) == IMAGES and refused > 0
    assert_complete_outputs(weed, bucket)
    figures("racing runs, same outputs", puts=len(puts), refused_412=refused)


# --- refused before any image work ---------------------------------------------------------------


def test_unusable_dest_or_credentials_fail_before_any_image_work(
    prefect_harness, weed, proxy, bucket, monkeypatch, capsys, tmp_path
):
    source = f"s3://{bucket}/in"
    assert main(["run", source, "s3://no-such-bucket-aepipe/out", "--task", "identity"]) == 1
    assert "no such bucket" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["run", source, str(blocker / "out"), "--task", "identity"]) == 1
    assert "is not a folder" in capsys.readouterr().err
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    assert main(["run", source, f"s3://{bucket}/out", "--task", "identity"]) == 1
    assert "access refused" in capsys.readouterr().err
    assert not any(e.method == "GET" and "/in/" in e.path for e in proxy.exchanges)
    assert outputs(weed, bucket) == {}


def test_missing_source_is_an_error_not_an_empty_run(prefect_harness, bucket, capsys, tmp_path):
    assert (
        main(["run", str(tmp_path / "no-such-folder"), str(tmp_path / "out"), "--task", "identity"])
        == 1
    )
    assert "no objects" in capsys.readouterr().err
    assert main(["run", f"s3://{bucket}/typo", str(tmp_path / "out"), "--task", "identity"]) == 1
    assert "no objects" in capsys.readouterr().err


def test_disk_full_on_a_local_dest_gives_error_rows_and_no_partial_files(prefect_harness, tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    rng = np.random.default_rng(2)
    for i in range(3):
        (source / f"small{i}.png").write_bytes(save(photo_like(rng, 64, 64)))
    for i in range(2):
        (source / f"big{i}.png").write_bytes(
            save(rng.integers(0, 256, (700, 700, 3), dtype=np.uint8))
        )

    worker = start_worker([str(source), str(dest), "--task", "identity"], max_file_bytes=1 << 20)
    stdout, stderr = worker.communicate(timeout=RUN_TIMEOUT_S)
    assert worker.returncode == 0, stderr[-2000:]
    summary = json.loads(
        Path(json.loads(stdout.strip().splitlines()[-1])["report"], "summary.json").read_text()
    )
    assert summary["counts"] == {"ok": 3, "error": 2, "skipped": 0, "planned": 0}
    assert all("big" in e["key"] and "File too large" in e["error"] for e in summary["errors"])
    leftovers = [
        p for p in dest.rglob("*") if p.name.startswith(".tmp-") or p.name.startswith("big")
    ]
    assert leftovers == []
    figures("disk full", counts=summary["counts"], errors=summary["errors"], leftovers=0)
