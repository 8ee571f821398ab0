"""Deployment entrypoint of the generation job (``deploy/prefect.yaml``: this file's
``generate_images``). The flow lives in :mod:`aepipe.runtime.generation.flow`; this file
only names it for Prefect, which loads entrypoints by file path."""

from aepipe.runtime.generation.flow import generate_images

__all__ = ["generate_images"]

if __name__ == "__main__":
    generate_images(dest="out/generated", count=16)
