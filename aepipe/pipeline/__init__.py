"""The batch path: plan keys, process chunks (fetch → decode → infer → encode → upload)."""

from aepipe.pipeline.chunk import ChunkSettings, process_chunk
from aepipe.pipeline.plan import chunked, output_key

__all__ = ["ChunkSettings", "chunked", "output_key", "process_chunk"]
