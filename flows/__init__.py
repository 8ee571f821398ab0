"""Prefect deployment entrypoints, loaded by file path (not installed with the package)."""
