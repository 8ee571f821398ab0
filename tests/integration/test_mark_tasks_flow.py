"""Segment and inpaint through the flow on SeaweedFS: masks written under DEST, and masks
beside the images in SOURCE read as holes (never as inputs), a bad one an error row."""

from __future__ import annotations

import json

import boto3
import numpy as np
import pytest
from imagefactory import save
from modelfactory import photo_like, white_mark_segmenter

from aepipe.images import decode
from aepipe.runtime.model.card import ModelCard
from flows.process_images import process_images

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def marked_photo(seed: int) -> tuple[np.ndarray, np.ndarray]:
    pixels = (photo_like(np.random.default_rng(seed), 48, 64) * 0.8).astype(np.uint8)
    hole = np.zeros(pixels.shape[:2], bool)
    hole[20:26, 8:56] = True
    pixels[hole] = 255
    return pixels, hole


def rows_of(client, bucket: str, summary: dict) -> list[dict]:
    """The rows of the run ``summary`` reports (its report folder is s3://bucket/...)."""
    folder = summary["report"].removeprefix(f"s3://{bucket}/")
    body = client.get_object(Bucket=bucket, Key=f"{folder}/rows.jsonl")["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def test_segment_then_inpaint_with_sibling_masks(prefect_harness, s3_env, s3_bucket, tmp_path):
    client = boto3.client("s3")
    for i in range(3):
        pixels, _ = marked_photo(i)
        client.put_object(Bucket=s3_bucket, Key=f"in/p{i}.png", Body=save(pixels))
    model = white_mark_segmenter(
        tmp_path / "white.onnx", ModelCard(name="white", task="segment", tile=64)
    )
    base = f"s3://{s3_bucket}"
    summary = process_images(f"{base}/in", f"{base}/masks", task="segment", model=str(model))
    assert summary["counts"]["ok"] == 3
    rows = rows_of(client, s3_bucket, summary)
    assert all(r["mark_detected"] and r["mask_key"].endswith(".mask.png") for r in rows)

    # the masks go beside the images; one of them the wrong size, one image without a mask
    for i in (0, 1):
        mask = client.get_object(Bucket=s3_bucket, Key=f"masks/p{i}.mask.png")["Body"].read()
        client.put_object(Bucket=s3_bucket, Key=f"in/p{i}.mask.png", Body=mask)
    client.put_object(
        Bucket=s3_bucket, Key="in/p1.mask.png", Body=save(np.zeros((10, 10), np.uint8))
    )
    summary = process_images(f"{base}/in", f"{base}/filled", task="inpaint", detector="none")
    assert summary["counts"] == {**summary["counts"], "ok": 2, "error": 1}
    rows = {r["key"]: r for r in rows_of(client, s3_bucket, summary)}
    assert sorted(rows) == ["p0.png", "p1.png", "p2.png"]  # the masks are no inputs
    assert rows["p0.png"]["mask_source"] == "mask" and rows["p0.png"]["filled"] is True
    assert "p1.png" in rows["p1.png"]["error"] and ".mask.png is 10x10" in rows["p1.png"]["error"]
    assert rows["p2.png"]["mask_source"] == "none" and rows["p2.png"]["filled"] is False
    filled = decode(client.get_object(Bucket=s3_bucket, Key="filled/p0.png")["Body"].read(), "f")
    mask = decode(client.get_object(Bucket=s3_bucket, Key="in/p0.mask.png")["Body"].read(), "m")
    masked = mask.pixels[..., 0] > 127
    original, bar = marked_photo(0)
    assert np.array_equal(filled.pixels[~masked], original[~masked])  # only the hole changes
    assert filled.pixels[bar].mean() < 230  # and the white bar is gone

    # a mask fixed or added beside an image is a new input: that image is redone, the rest skipped
    good = client.get_object(Bucket=s3_bucket, Key="masks/p1.mask.png")["Body"].read()
    client.put_object(Bucket=s3_bucket, Key="in/p1.mask.png", Body=good)
    client.put_object(Bucket=s3_bucket, Key="in/p2.mask.png", Body=good)
    summary = process_images(f"{base}/in", f"{base}/filled", task="inpaint", detector="none")
    assert summary["counts"] == {**summary["counts"], "ok": 2, "skipped": 1, "error": 0}
    rows = {r["key"]: r for r in rows_of(client, s3_bucket, summary)}
    assert rows["p0.png"]["status"] == "skipped"
    assert rows["p1.png"]["filled"] is True and rows["p2.png"]["mask_source"] == "mask"
