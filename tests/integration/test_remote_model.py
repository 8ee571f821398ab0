"""A user's own model passed as an s3:// URI: fetched once into the user's cache, verified by
content on every use, fetched again when the object changes."""

import boto3
import pytest

from aepipe.errors import ModelError
from aepipe.runtime.model import cache
from aepipe.runtime.model.card import WHOLE_MODEL
from aepipe.runtime.model.zoo import load_manifest, load_model

pytestmark = pytest.mark.integration


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AEPIPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def count_reads(monkeypatch) -> list[str]:
    """Keys read from object storage through aepipe (the downloads the cache must avoid)."""
    from aepipe.storage.s3 import S3Storage

    reads: list[str] = []
    original = S3Storage.read

    def read(self, key):
        reads.append(key)
        return original(self, key)

    monkeypatch.setattr(S3Storage, "read", read)
    return reads


def test_model_from_s3_uri_loads_with_its_card(s3_env, s3_bucket, user_cache, monkeypatch):
    entry = next(e for e in load_manifest() if e.default and WHOLE_MODEL in e.parts)
    part = entry.parts[WHOLE_MODEL]
    client = boto3.client("s3")
    client.put_object(Bucket=s3_bucket, Key="models/mine.onnx", Body=part.path.read_bytes())
    uri = f"s3://{s3_bucket}/models/mine.onnx"
    reads = count_reads(monkeypatch)
    model, sha256 = load_model(uri, entry.card.task)
    assert sha256 == part.sha256 and model.card == entry.card
    assert (user_cache / "models" / "sha256" / f"{sha256}.onnx").is_file()
    assert load_model(uri, entry.card.task)[1] == sha256
    assert reads == ["mine.onnx"], "an unchanged object is served from the cache"

    (user_cache / "models" / "sha256" / f"{sha256}.onnx").write_bytes(b"damaged")
    assert load_model(uri, entry.card.task)[1] == sha256  # a damaged copy is fetched again
    assert len(reads) == 2

    client.put_object(Bucket=s3_bucket, Key="models/mine.onnx", Body=b"not a model")
    with pytest.raises(ModelError, match="cannot load ONNX model"):
        load_model(uri, entry.card.task)  # a changed object is fetched again
    assert len(reads) == 3


def test_missing_remote_model_is_a_clear_error(s3_env, s3_bucket, user_cache):
    with pytest.raises(ModelError, match="no such object"):
        load_model(f"s3://{s3_bucket}/models/none.onnx", "denoise")


def test_cache_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("AEPIPE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "aepipe"
