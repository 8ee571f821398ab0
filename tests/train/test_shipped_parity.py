"""Every shipped ONNX model computes what its torch checkpoint computes."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from aepipe.runtime.registry import load_manifest
from aepipe.training.export import (
    PARITY_TOLERANCE,
    example_inputs,
    load_checkpoint,
    max_output_diff,
)

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"

pytestmark = pytest.mark.train


@pytest.mark.parametrize("entry", load_manifest(), ids=lambda e: e.card.name)
def test_shipped_onnx_matches_its_torch_checkpoint(entry):
    checkpoint = CHECKPOINTS / f"{entry.card.name}.pt"
    assert checkpoint.exists(), f"{checkpoint} (weights of the shipped model) is missing"
    model, config = load_checkpoint(checkpoint)
    assert config["model"] == entry.card.architecture
    model.eval()
    multiple = entry.card.pad_multiple
    diff = max_output_diff(
        model, entry.path, example_inputs(entry.card, 2, 24 * multiple, 17 * multiple)
    )
    assert diff < PARITY_TOLERANCE
    assert np.isfinite(diff)
