"""Deployment entrypoint of the main batch job (``deploy/prefect.yaml``: this file's
``process_images``). The flow itself lives in :mod:`aepipe.runtime.flow`; this file only names
it for Prefect, which loads entrypoints by file path. Nothing in ``aepipe`` imports it."""

from aepipe.runtime.flow import process_images

__all__ = ["process_images"]

if __name__ == "__main__":
    process_images(source="aepipe/samples", dest="out/samples", task="identity")
