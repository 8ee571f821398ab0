"""Every shipped ONNX model computes what its torch checkpoint computes."""

from pathlib import Path

import numpy as np
import pytest
import torch

from aepipe.runtime.model.card import WHOLE_MODEL
from aepipe.runtime.model.zoo import load_manifest
from aepipe.training.export import (
    PARITY_TOLERANCE,
    TwoPartModel,
    example_inputs,
    load_checkpoint,
    max_output_diff,
)
from aepipe.training.export_codec import codec_parts
from aepipe.training.networks.prior import CodePrior

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"

pytestmark = pytest.mark.train


#: int8 copies (aepipe quantize) compute something else on purpose; test_shipped_quality
#: holds them within a fraction of a dB of their float models instead.
SHIPPED = [
    (entry, part)
    for entry in load_manifest()
    if not entry.card.quantized_from
    for part in entry.parts
]


@pytest.mark.parametrize(("entry", "part"), SHIPPED, ids=[f"{e.card.name}-{p}" for e, p in SHIPPED])
def test_shipped_onnx_matches_its_torch_checkpoint(entry, part):
    checkpoint = CHECKPOINTS / f"{entry.card.name}.pt"
    assert checkpoint.exists(), f"{checkpoint} (weights of the shipped model) is missing"
    model, config = load_checkpoint(checkpoint)
    assert config["model"] == entry.card.architecture
    model.eval()
    multiple = entry.card.pad_multiple
    path = entry.part(part).path
    if part == WHOLE_MODEL:
        diff = max_output_diff(
            model, path, example_inputs(entry.card, 2, 24 * multiple, 17 * multiple)
        )
    elif part == "prior":  # a VQ-VAE's code prior: its own weights file
        state = torch.load(CHECKPOINTS / f"{entry.card.name}.prior.pt", weights_only=True)
        prior = CodePrior(**state["config"])
        prior.load_state_dict(state["model"])
        codes = torch.randint(prior.num_codes, (2, prior.length))
        diff = max_output_diff(prior.eval(), path, {"tokens": prior.tokens(codes)})
    elif isinstance(model, TwoPartModel):  # an embedding or generative model's half
        side = entry.card.thumbnail
        encoder, decoder = model.export_parts()
        inputs = (
            example_inputs(entry.card, 2, side, side)
            if part == "encoder"
            else model.latent_inputs(2, side, side)
        )
        diff = max_output_diff(encoder if part == "encoder" else decoder, path, inputs)
    else:  # a codec half: compare that half
        module, inputs = codec_parts(model)[part]
        diff = max_output_diff(module, path, inputs(2, 24, 17))
    assert diff < PARITY_TOLERANCE
    assert np.isfinite(diff)
