"""Credentials never leave the process: not in outputs, rows, reports, logs, Prefect's
records of the run (parameters, logs, artifacts), nor in the message of a refused login.

The run goes through the CLI in a worker process, as in production, with an S3 secret key
that no code path may print; then every byte the run left anywhere is searched for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from imagefactory import save
from modelfactory import photo_like

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aepipe.cli", "run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def prefect_records() -> str:
    """Everything Prefect's API stored about runs: parameters, logs, artifacts."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        records = [repr(run.parameters) for run in runs]
        records += [log.message for log in client.read_logs()]
        records += [repr(a.data) + repr(a.description) for a in client.read_artifacts()]
    return "\n".join(records)


def test_the_secret_key_appears_in_no_output_of_a_run(prefect_harness, s3_env, s3_bucket):
    from prefect.settings import PREFECT_API_URL

    client = s3_env.client()
    rng = np.random.default_rng(3)
    for i in range(3):
        client.put_object(Bucket=s3_bucket, Key=f"in/{i}.png", Body=save(photo_like(rng, 32, 32)))
    client.put_object(Bucket=s3_bucket, Key="in/broken.png", Body=b"not an image")
    secret = s3_env.secret_key
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_LOGGING_LEVEL": "DEBUG",
    }
    source, dest = f"s3://{s3_bucket}/in", f"s3://{s3_bucket}/out"

    done = run_cli([source, dest, "--task", "denoise", "--noise-level", "10"], env)
    assert done.returncode == 0, done.stderr[-2000:]
    refused = run_cli(
        [source, dest, "--task", "identity"], {**env, "AWS_SECRET_ACCESS_KEY": "W" + secret}
    )
    assert refused.returncode == 1 and "access refused" in refused.stderr

    pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix="out/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", ())]
    assert any(k.endswith("report.html") for k in keys) and any(
        k.endswith(".parquet") for k in keys
    )
    stored = {
        key: client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        + repr(client.head_object(Bucket=s3_bucket, Key=key)["Metadata"]).encode()
        for key in keys
    }
    places = {
        **stored,
        "stdout+stderr": (done.stdout + done.stderr + refused.stdout + refused.stderr).encode(),
        "prefect": prefect_records().encode(),
    }
    for needle in (secret, "W" + secret):
        leaks = [place for place, data in places.items() if needle.encode() in data]
        assert leaks == [], f"secret key found in {leaks}"
    assert "broken.png" in places["prefect"].decode()  # the search did see the run's records


def test_a_credentials_block_replaces_the_environment_and_stays_secret(
    prefect_harness, s3_server, s3_bucket, monkeypatch
):
    """``--credentials-block NAME``: the keys come from a prefect-aws block, the process has
    none in its environment, and the secret still appears in no output of the run."""
    from prefect.settings import PREFECT_API_URL
    from prefect_aws import AwsClientParameters, AwsCredentials

    server_env = s3_server.env()
    name = f"seaweed-{uuid.uuid4().hex[:8]}"
    AwsCredentials(
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        region_name=server_env["AWS_DEFAULT_REGION"],
        aws_client_parameters=AwsClientParameters(endpoint_url=server_env["AWS_ENDPOINT_URL"]),
    ).save(name)
    client = s3_server.client()
    rng = np.random.default_rng(4)
    for i in range(2):
        client.put_object(Bucket=s3_bucket, Key=f"in/{i}.png", Body=save(photo_like(rng, 32, 32)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_LOGGING_LEVEL": "DEBUG",
        "AWS_CONFIG_FILE": os.devnull,  # nothing of a developer's own AWS set-up either
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    source, dest = f"s3://{s3_bucket}/in", f"s3://{s3_bucket}/out"

    without = run_cli([source, dest, "--task", "identity"], env)
    assert without.returncode == 1, without.stdout[-2000:]
    done = run_cli([source, dest, "--task", "identity", "--credentials-block", name], env)
    assert done.returncode == 0, done.stderr[-2000:]
    missing = run_cli([source, dest, "--task", "identity", "--credentials-block", "nope"], env)
    assert missing.returncode == 1 and "'nope'" in missing.stderr

    pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix="out/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", ())]
    assert {"out/0.png", "out/1.png"} <= set(keys)
    stored = b"".join(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() for key in keys)
    records = prefect_records()
    assert name in records  # the block's name is in the run's parameters; its secret is not
    for place, data in {
        "outputs": stored,
        "stdout+stderr": (done.stdout + done.stderr + without.stderr + missing.stderr).encode(),
        "prefect": records.encode(),
    }.items():
        assert s3_server.secret_key.encode() not in data, f"secret key found in {place}"
