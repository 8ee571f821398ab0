"""S3 keys from a prefect-aws ``AwsCredentials`` block, named by a run parameter.

A deployment then carries the block's *name*, never a secret: the keys live encrypted in
Prefect's API, and each process that opens storage (the flow, every Dask worker) loads them
once. Without a block, boto3's standard chain applies (environment, config files, roles).
"""

from __future__ import annotations

from functools import cache
from typing import cast

from aepipe.errors import AepipeError
from aepipe.storage import S3Credentials


class CredentialsBlockError(AepipeError):
    """The named credentials block cannot be used (missing, or prefect-aws not installed)."""


@cache
def block_credentials(name: str) -> S3Credentials:
    """The keys, region and endpoint of the ``AwsCredentials`` block ``name``."""
    try:
        from prefect_aws import AwsCredentials
    except ImportError as missing:
        raise CredentialsBlockError(
            f"--credentials-block {name!r}: prefect-aws is not installed "
            "(pip install 'aepipe[aws]')"
        ) from missing
    try:
        block = cast(AwsCredentials, AwsCredentials.load(name))  # sync: no event loop here
    except ValueError as error:  # Prefect's "Unable to find block document named ..."
        raise CredentialsBlockError(
            f"--credentials-block {name!r}: no AwsCredentials block of that name ({error})"
        ) from None
    secret, token = block.aws_secret_access_key, block.aws_session_token
    return S3Credentials(
        access_key_id=block.aws_access_key_id or "",
        secret_access_key=secret.get_secret_value() if secret else "",
        session_token=token or None,
        region=block.region_name,
        endpoint_url=block.aws_client_parameters.endpoint_url,
    )
