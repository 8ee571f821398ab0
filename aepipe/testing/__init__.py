"""Helpers for tests and local runs (a real SeaweedFS S3 server); not used by the pipeline."""
