"""A user's own model passed as an s3:// URI is fetched, verified by its card and used."""

import boto3
import pytest

from aepipe.errors import ModelError
from aepipe.runtime.registry import load_manifest, load_model

pytestmark = pytest.mark.integration


def test_model_from_s3_uri_loads_with_its_card(s3_env, s3_bucket):
    entry = next(e for e in load_manifest() if e.default)
    client = boto3.client("s3")
    client.put_object(Bucket=s3_bucket, Key="models/mine.onnx", Body=entry.path.read_bytes())
    model, sha256 = load_model(f"s3://{s3_bucket}/models/mine.onnx", entry.card.task)
    assert sha256 == entry.sha256 and model.card == entry.card

    client.put_object(Bucket=s3_bucket, Key="models/junk.onnx", Body=b"not a model")
    with pytest.raises(ModelError, match="cannot load ONNX model"):
        load_model(f"s3://{s3_bucket}/models/junk.onnx", entry.card.task)
