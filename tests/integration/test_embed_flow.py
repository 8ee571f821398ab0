"""``--task embed`` through the flow: vectors to embeddings.parquet on SeaweedFS and in local
folders, rows and report beside them, and a stopped run continued from its finished chunks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import numpy as np
import pyarrow.parquet as pq
import pytest
from imagefactory import save
from modelfactory import block_mean_embedder, photo_like

from aepipe.runtime.model.card import ModelCard
from flows.process_images import process_images

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CARD = ModelCard(name="block-mean", task="embed", thumbnail=32)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> str:
    return str(block_mean_embedder(tmp_path_factory.mktemp("embed-flow") / "blocks", CARD))


def photos(count: int) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {f"p{i}.png": save(photo_like(rng, 40 + 8 * i, 64)) for i in range(count)}


def test_vectors_rows_and_report_on_seaweedfs(prefect_harness, s3_env, s3_bucket, encoder):
    client = boto3.client("s3")
    for key, data in {**photos(5), "broken.png": b"not a png"}.items():
        client.put_object(Bucket=s3_bucket, Key=f"in/{key}", Body=data)
    base = f"s3://{s3_bucket}"
    summary = process_images(
        f"{base}/in", f"{base}/vectors", task="embed", model=encoder, chunk_size=2
    )
    assert summary["counts"] == {**summary["counts"], "ok": 5, "error": 1}
    report = summary["report"].removeprefix(f"{base}/")
    objects = client.list_objects_v2(Bucket=s3_bucket, Prefix="vectors/")["Contents"]
    listed = [o["Key"] for o in objects]
    assert all(key.startswith("vectors/_reports/") for key in listed)  # no object per image
    assert summary["files"]["embeddings.parquet"] == f"{base}/{report}/embeddings.parquet"

    def read(name: str) -> bytes:
        return client.get_object(Bucket=s3_bucket, Key=f"{report}/{name}")["Body"].read()

    table = pq.read_table(io.BytesIO(read("embeddings.parquet")))
    assert table.column("key").to_pylist() == [f"p{i}.png" for i in range(5)]
    assert {len(v) for v in table.column("vector").to_pylist()} == {48}
    rows = [json.loads(line) for line in read("rows.jsonl").splitlines()]
    assert all("embedding" not in row for row in rows)  # the vectors live in one place
    assert [r["embedding_dim"] for r in rows if r["status"] == "ok"] == [48] * 5
    assert all(r["reconstruction_psnr"] > 10 for r in rows if r["status"] == "ok")
    assert "broken.png" in next(r["error"] for r in rows if r["status"] == "error")
    page = read("report.html").decode()
    assert 'alt="embedding map"' in page and 'alt="reconstruction_psnr"' in page


def test_a_stopped_run_is_continued_and_its_vectors_are_listed_once(
    prefect_harness, tmp_path, encoder
):
    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for key, data in photos(6).items():
        (source / key).write_bytes(data)
    first = process_images(str(source), str(dest), task="embed", model=encoder, chunk_size=2)
    folder = Path(first["report"])
    # as a run killed during its last chunk leaves it: no summary, no part 2 of either kind
    for name in ("summary.json", "parts/00000002.jsonl", "vectors/00000002.parquet"):
        (folder / name).unlink()
    again = process_images(str(source), str(dest), task="embed", model=encoder, chunk_size=2)
    assert again["run_id"] == first["run_id"] and again["chunks_reused"] == 2
    assert again["counts"]["ok"] == 6 and again["complete"]
    table = pq.read_table(folder / "embeddings.parquet")
    assert table.column("key").to_pylist() == [f"p{i}.png" for i in range(6)]
