"""``aepipe generate`` through its flow: images, rows and a report with a contact sheet, on
SeaweedFS and in a local folder; a rerun makes only what is missing, bit for bit the same."""

from __future__ import annotations

import json

import boto3
import numpy as np
import pytest
from modelfactory import counting_code_model, gaussian_decoder

from aepipe.cli import main
from aepipe.images import decode
from aepipe.runtime.model.card import ModelCard
from flows.generate_images import generate_images

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CARD = ModelCard(
    name="tiny-gen", task="generate", thumbnail=16, pad_multiple=4, code_shape=(4, 4, 4)
)
CODES = ModelCard(name="tiny-gen", task="generate", thumbnail=16, pad_multiple=4, code_shape=(4, 4))


def test_samples_rows_and_report_on_seaweedfs(prefect_harness, s3_env, s3_bucket, tmp_path):
    model = str(counting_code_model(tmp_path / "vq", CODES))
    base = f"s3://{s3_bucket}"
    summary = generate_images(f"{base}/gen", count=10, model=model, seed=3, chunk_size=4)
    assert summary["counts"]["ok"] == 10 and summary["model"] == "tiny-gen"
    client = boto3.client("s3")
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="gen/")["Contents"]
    samples = sorted(o["Key"] for o in listed if "/_reports/" not in o["Key"])
    assert samples == [f"gen/sample-3-{i:06d}.png" for i in range(10)]
    image = decode(client.get_object(Bucket=s3_bucket, Key=samples[0])["Body"].read(), "s")
    assert image.pixels.shape == (16, 16, 3)
    report = summary["report"].removeprefix(f"{base}/")
    rows = client.get_object(Bucket=s3_bucket, Key=f"{report}/rows.jsonl")["Body"].read()
    parsed = [json.loads(line) for line in rows.splitlines()]
    assert [(r["index"], r["seed"], r["status"]) for r in parsed] == [
        (i, 3, "ok") for i in range(10)
    ]
    sheet = client.get_object(Bucket=s3_bucket, Key=f"{report}/contact-sheet.png")["Body"].read()
    assert decode(sheet, "sheet").pixels.shape[1] > 16 * 8
    page = client.get_object(Bucket=s3_bucket, Key=f"{report}/report.html")["Body"].read()
    assert b'alt="contact sheet"' in page


def test_a_rerun_makes_only_the_missing_images_and_makes_them_the_same(
    prefect_harness, tmp_path, capsys
):
    model = str(gaussian_decoder(tmp_path / "vae.decoder.onnx", CARD))
    dest = tmp_path / "out"
    argv = ["generate", str(dest), "--count", "6", "--model", model, "--chunk-size", "4"]
    assert main(argv) == 0
    first = {p.name: p.read_bytes() for p in dest.glob("sample-*.png")}
    assert len(first) == 6
    for name in ("sample-0-000001.png", "sample-0-000004.png"):
        (dest / name).unlink()
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["counts"]["ok"] == 2 and printed["counts"]["skipped"] == 4
    again = {p.name: p.read_bytes() for p in dest.glob("sample-*.png")}
    assert again == first
    assert not np.array_equal(
        decode(first["sample-0-000000.png"], "a").pixels,
        decode(first["sample-0-000001.png"], "b").pixels,
    )
