"""Prefect flows: thin wrappers that put aepipe's library functions in order."""
