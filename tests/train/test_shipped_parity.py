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
from aepipe.training.export_codec import PART_TASKS, codec_parts

PART_OF_TASK = {task: part for part, task in PART_TASKS.items()}
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
    if entry.card.task in PART_OF_TASK:  # a codec half: compare that half
        module, inputs = codec_parts(model)[PART_OF_TASK[entry.card.task]]
        diff = max_output_diff(module, entry.path, inputs(2, 24, 17))
    else:
        diff = max_output_diff(
            model, entry.path, example_inputs(entry.card, 2, 24 * multiple, 17 * multiple)
        )
    assert diff < PARITY_TOLERANCE
    assert np.isfinite(diff)
