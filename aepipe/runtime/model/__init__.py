"""ONNX models at run time: cards, the zoo, sessions on the best execution provider."""
