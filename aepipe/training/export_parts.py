"""Export a generative autoencoder's encoder and decoder as two proved ONNX files.

    ae-vae:   NAME.encoder.onnx  x -> (mu, logvar)      NAME.decoder.onnx  z -> x_hat
    ae-vqvae: NAME.encoder.onnx  x -> (indices, z_e)    NAME.decoder.onnx  indices -> x_hat

The runtime embeds with the encoder and generates (decodes prior draws or edited codes) with
the decoder; the encoder's first output is what the decoder takes, so decoder(encoder(x)[0])
is the whole model's deterministic reconstruction.

Each file is checked as :func:`aepipe.training.export.export_onnx` checks a whole model:
dynamic batch and spatial axes, ``onnx.checker`` full check, then every output compared with
torch on a batch and size that differ from the traced ones. Both files carry the model card
(``pad_multiple`` is the image-to-code downsampling) and ``aepipe.part``.

"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from aepipe.runtime.card import CARD_METADATA_KEY, ModelCard
from aepipe.training.export import ExportResult, Inputs, example_inputs, export_verified

PART_METADATA_KEY = "aepipe.part"


class TwoPartModel(Protocol):
    pad_multiple: int

    def eval(self) -> nn.Module: ...

    def export_parts(self) -> tuple[nn.Module, nn.Module]: ...

    def latent_inputs(
        self, n: int, height: int, width: int, generator: torch.Generator | None = None
    ) -> Inputs: ...


def export_parts(model: TwoPartModel, card: ModelCard, folder: Path) -> dict[str, ExportResult]:
    """Write ``folder/NAME.encoder.onnx`` and ``folder/NAME.decoder.onnx``; results by part."""
    model.eval()
    encoder, decoder = model.export_parts()
    multiple = card.pad_multiple
    generator = torch.Generator().manual_seed(0)
    traced_size, check_size = (2, 8 * multiple, 8 * multiple), (3, 5 * multiple, 7 * multiple)
    parts = {
        "encoder": (encoder, example_inputs(card, *traced_size), example_inputs(card, *check_size)),
        "decoder": (
            decoder,
            model.latent_inputs(*traced_size, generator=generator),
            model.latent_inputs(*check_size, generator=generator),
        ),
    }
    return {
        part: export_verified(
            module,
            traced,
            check,
            {CARD_METADATA_KEY: card.to_json(), PART_METADATA_KEY: part},
            folder / f"{card.name}.{part}.onnx",
        )
        for part, (module, traced, check) in parts.items()
    }
