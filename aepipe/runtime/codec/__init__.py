"""Learned image codec run time: entropy coding of latents and the ``.aec`` container.

Numpy and constriction only (no torch): the transforms run as ONNX, and the integer CDF
tables exported with the model make encoder and decoder agree bit for bit on any machine.
"""

from aepipe.runtime.codec.container import FORMAT_VERSION, MAGIC, AecHeader, pack, unpack
from aepipe.runtime.codec.entropy import (
    EntropyTables,
    decode_symbols,
    dequantize,
    encode_symbols,
    quantize,
    throughput,
)

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "AecHeader",
    "EntropyTables",
    "decode_symbols",
    "dequantize",
    "encode_symbols",
    "pack",
    "quantize",
    "throughput",
    "unpack",
]
