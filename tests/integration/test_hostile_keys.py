"""Keys as users and other tools name them, through a whole run on a local folder and on S3.

UTF-8, spaces and keys up to S3's 1,024 bytes are processed, carry their source key in the
output's metadata, and resume; control characters, ``..`` and absolute paths are refused as
error rows naming the key, and nothing is written for them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from botocore.exceptions import ClientError
from imagefactory import save
from modelfactory import photo_like

from aepipe.runtime.flow import process_images
from aepipe.runtime.pipeline.chunk import SOURCE_KEY_METADATA
from aepipe.storage import open_storage

pytestmark = pytest.mark.integration

#: 1,000 bytes, in parts of at most 255 (a file name's limit on disk and in SeaweedFS)
LONG = "/".join(["a" * 200] * 4) + "/" + "b" * 192 + ".png"
GOOD = [
    "été 2024/plage.png",
    "with spaces/a b (1).png",
    "日本/写真.png",
    "100%/done.png",
    "ü" * 120 + "/" + "é" * 120 + ".png",  # 485 bytes, 1,445 once percent-encoded
    LONG,
]
REFUSED_LOCALLY = ["tab\there.png", "new\nline.png"]
REFUSED_ON_S3 = [*REFUSED_LOCALLY, "a/../b.png", "/abs.png"]  # S3 holds these; a disk cannot


def photo_bytes(index: int) -> bytes:
    return save(photo_like(np.random.default_rng(index), 24, 24))


def check_run(source: str, dest: str, good: list[str], refused: list[str]) -> None:
    summary = process_images(source, dest, task="identity")
    assert summary["counts"]["ok"] == len(good), summary["errors"]
    assert sorted(e["key"] for e in summary["errors"]) == sorted(refused)
    assert all("unsafe storage key" in e["error"] for e in summary["errors"])
    written = open_storage(dest)
    assert sorted(k for k in written.list() if not k.startswith("_reports/")) == sorted(good)
    for key in good:
        info = written.head(key)
        assert info is not None
        recorded = info.metadata[SOURCE_KEY_METADATA]
        assert unquote(recorded) == key or recorded.startswith("sha256:"), recorded
    assert len(LONG.encode()) == 1000
    again = process_images(source, dest, task="identity")
    assert again["counts"]["skipped"] == len(good) and again["counts"]["ok"] == 0


def test_hostile_keys_on_a_local_folder(prefect_harness, tmp_path: Path) -> None:
    source = tmp_path / "in"
    for index, key in enumerate(GOOD + REFUSED_LOCALLY):
        path = source / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(photo_bytes(index))
    check_run(str(source), str(tmp_path / "out"), GOOD, REFUSED_LOCALLY)
    assert sorted(p.name for p in source.iterdir()) == sorted(
        {k.split("/")[0] for k in GOOD + REFUSED_LOCALLY}
    ), "inputs are never modified"


def test_hostile_keys_on_s3(prefect_harness, s3_env, s3_bucket) -> None:
    client = s3_env.client()
    for index, key in enumerate(GOOD):
        client.put_object(Bucket=s3_bucket, Key=f"in/{key}", Body=photo_bytes(index))
    for key in REFUSED_ON_S3:  # AWS keeps each as sent; SeaweedFS refuses some, folds '//'
        try:
            client.put_object(Bucket=s3_bucket, Key=f"in/{key}", Body=photo_bytes(0))
        except ClientError:
            continue
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix="in/")
    listed = [o["Key"][3:] for page in pages for o in page.get("Contents", ())]
    held = [key for key in REFUSED_ON_S3 if key in listed]
    assert set(REFUSED_LOCALLY) <= set(held) and set(GOOD) <= set(listed)
    good = [key for key in listed if key not in held]
    check_run(f"s3://{s3_bucket}/in", f"s3://{s3_bucket}/out", good, held)
