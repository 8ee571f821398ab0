"""The process_images flow end to end: SeaweedFS in, SeaweedFS out, under a Prefect harness.

30 images, some broken, some RGBA, some 16-bit, one EXIF-rotated: every good one gets an
output, every bad one an error row, the report lands next to the outputs, a second run skips
everything done, and ``overwrite`` redoes it.
"""

from __future__ import annotations

import json

import boto3
import numpy as np
import pytest
from imagefactory import save
from PIL import Image

from aepipe.cli import main
from aepipe.images import decode
from flows.process_images import process_images

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GOOD, BROKEN = 26, 4


def photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 4 % 256, y * 5 % 256, (x + y) * 3 % 256], axis=2)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def exif_rotated_jpeg(rng: np.random.Generator) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    return save(Image.fromarray(photo(rng, 24, 40)), "JPEG", exif=exif.tobytes())


def build_inputs() -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    files = {
        f"rgb/{i:02d}.png": save(Image.fromarray(photo(rng, 32, 48)), "PNG") for i in range(16)
    }
    files |= {f"jpeg/{i}.jpg": save(Image.fromarray(photo(rng, 40, 32)), "JPEG") for i in range(3)}
    for i in range(3):
        rgba = np.dstack([photo(rng, 28, 28), rng.integers(0, 256, (28, 28), dtype=np.uint8)])
        files[f"rgba/{i}.png"] = save(Image.fromarray(rgba), "PNG")
    for i in range(3):
        deep = (photo(rng, 30, 20)[..., 0].astype(np.uint16) * 257).astype(np.uint16)
        files[f"deep/{i}.png"] = save(Image.fromarray(deep), "PNG")
    files["exif/rotated.jpg"] = exif_rotated_jpeg(rng)
    good_png = files["rgb/00.png"]
    files["bad/truncated.png"] = good_png[: len(good_png) // 2]
    files["bad/garbage.png"] = b"this is not an image" * 10
    files["bad/empty.jpg"] = b""
    files["bad/fake.jpg"] = b"\xff\xd8\xff" + bytes(64)
    assert len(files) == GOOD + BROKEN
    return files


@pytest.fixture
def loaded_bucket(s3_env, s3_bucket):
    client = boto3.client("s3")
    files = build_inputs()
    for key, data in files.items():
        client.put_object(Bucket=s3_bucket, Key=f"in/{key}", Body=data)
    return client, s3_bucket, files


def outputs(client, bucket: str) -> dict[str, dict]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="out/")
    return {o["Key"]: o for page in pages for o in page.get("Contents", ())}


def test_flow_processes_reports_resumes_and_overwrites(prefect_harness, loaded_bucket):
    client, bucket, files = loaded_bucket
    source, dest = f"s3://{bucket}/in", f"s3://{bucket}/out"
    first = process_images(source, dest, task="denoise", noise_level=20.0, chunk_size=8)
    assert first["counts"] == {"ok": GOOD, "error": BROKEN, "skipped": 0, "planned": 0}
    assert {e["key"] for e in first["errors"]} == {k for k in files if k.startswith("bad/")}
    assert all(e["error"].startswith(e["key"]) for e in first["errors"])

    written = outputs(client, bucket)
    report = f"out/_reports/{first['run_id']}/"
    assert {report + n for n in ("rows.jsonl", "rows.csv", "summary.json")} <= set(written)
    images = {k for k in written if not k.startswith("out/_reports/")}
    assert images == {f"out/{k}" for k in files if not k.startswith("bad/")}
    rows = [
        json.loads(line)
        for line in client.get_object(Bucket=bucket, Key=report + "rows.jsonl")["Body"]
        .read()
        .splitlines()
    ]
    assert len(rows) == GOOD + BROKEN
    assert all(r["psnr"] > 20 for r in rows if r["status"] == "ok")

    def fetch(key: str):
        return decode(client.get_object(Bucket=bucket, Key=f"out/{key}")["Body"].read(), key)

    rotated = fetch("exif/rotated.jpg")
    assert (rotated.info.width, rotated.info.height) == (24, 40)
    assert np.array_equal(fetch("rgba/0.png").alpha, decode(files["rgba/0.png"], "x").alpha)
    assert fetch("deep/0.png").pixels.dtype == np.uint16

    second = process_images(source, dest, task="denoise", noise_level=20.0, chunk_size=8)
    assert second["counts"]["ok"] == 0 and second["counts"]["skipped"] == GOOD
    unchanged = outputs(client, bucket)
    assert all(unchanged[k]["ETag"] == written[k]["ETag"] for k in images)

    third = process_images(
        source, dest, task="denoise", noise_level=20.0, chunk_size=8, overwrite=True
    )
    assert third["counts"]["ok"] == GOOD and third["counts"]["skipped"] == 0

    # a self-ensembled run is a different result: nothing counts as done
    fourth = process_images(
        source, dest, task="denoise", noise_level=20.0, chunk_size=8, self_ensemble=True
    )
    assert fourth["counts"]["ok"] == GOOD and fourth["counts"]["skipped"] == 0


def test_cli_run_exit_codes(prefect_harness, loaded_bucket, capsys):
    _, bucket, _ = loaded_bucket
    args = ["run", f"s3://{bucket}/in", f"s3://{bucket}/cli", "--task", "identity"]
    assert main([*args, "--glob", "rgb/*.png", "--limit", "5"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["counts"]["ok"] == 5
    assert main([*args, "--dry-run"]) == 0
    # A completed run exits 0 even with per-image errors: they are rows, not a failed job.
    assert main([*args, "--glob", "bad/*"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["counts"]["error"] == BROKEN and printed["counts"]["ok"] == 0
    assert main(["run", f"s3://{bucket}/in", f"s3://{bucket}/in/x", "--task", "identity"]) == 1
    assert "overlap" in capsys.readouterr().err
    assert main(["run", f"s3://{bucket}/in", "/tmp/x", "--task", "denoise", "--model", "nope"]) == 1
