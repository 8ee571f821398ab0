"""The batch path: plan keys, process chunks (fetch → decode → infer → encode → upload)."""

from aepipe.runtime.pipeline.chunk import process_chunk
from aepipe.runtime.pipeline.keys import chunked, input_keys, output_key

__all__ = ["chunked", "input_keys", "output_key", "process_chunk"]
