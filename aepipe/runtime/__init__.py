"""Model runtime: tiling, batching and execution of ONNX autoencoders over images."""
