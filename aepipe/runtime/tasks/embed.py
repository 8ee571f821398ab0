"""``embed``: every image as one vector from an autoencoder's encoder, and how well it decodes.

    image ─► square thumbnail (card.thumbnail px, whole scene) ─► encoder ─► vector
                                                                    └─► decoder ─► error

The vector is the encoder's first floating-point output, flattened (a VAE's mean, a VQ-VAE's
continuous code before the codebook, a plain autoencoder's code). The decoder (the zoo
entry's ``decoder`` part, or ``<name>.decoder.onnx`` beside a given encoder file) rebuilds the
thumbnail from the code, so each row says how much of the image the vector kept:
``reconstruction_psnr`` against the thumbnail. Nothing is written per image: the vectors travel
in the rows (``VECTOR_FIELD``) to the run's ``embeddings.parquet`` (``reports/vectors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from aepipe.errors import ModelError
from aepipe.images import DecodedImage
from aepipe.images.resample import square_thumbnail
from aepipe.metrics import reconstruction_error
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.options import ChunkOptions
from aepipe.runtime.reports.rows import VECTOR_FIELD
from aepipe.runtime.tasks.base import ImageIO, TaskOutput, TaskRuntime, provenance_of
from aepipe.runtime.tasks.names import TaskName


@dataclass
class EmbedTask(ImageIO):
    encoder: OnnxModel
    decoder: OnnxModel | None
    model_sha256: str  # the encoder's: it alone makes the vectors
    name: TaskName = TaskName.EMBED
    writes_output: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.encoder.card.thumbnail <= 0:
            raise ModelError(
                f"model {self.encoder.card.name} has no thumbnail size in its card; export it "
                "with `aepipe export RUN/last.pt --task embed`"
            )

    @property
    def provenance(self) -> Mapping[str, str]:
        return provenance_of(self.model_sha256, {"task": str(self.name)})

    @property
    def runtime(self) -> TaskRuntime:
        return TaskRuntime(self.encoder.card.name, self.encoder.providers)

    def predicted_extension(self, key: str, options: ChunkOptions) -> str | None:
        return None  # nothing written per image, so nothing to skip

    @property
    def side(self) -> int:
        """The thumbnail side the encoder takes."""
        return self.encoder.card.thumbnail

    def apply(self, image: DecodedImage) -> TaskOutput:
        thumbnail = square_thumbnail(image.pixels, self.side)
        vector, rebuilt = self.embed(thumbnail)
        fields: dict[str, object] = {VECTOR_FIELD: vector, "embedding_dim": vector.size}
        if rebuilt is not None:
            mse, psnr = reconstruction_error(thumbnail, rebuilt)
            fields |= {"reconstruction_mse": mse, "reconstruction_psnr": psnr}
        return TaskOutput(image.pixels, None, fields, compare_to_input=False)

    def embed(self, thumbnail: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(vector, the decoder's rebuilt thumbnail clipped to [0, 1] or None) of one
        ``side`` x ``side`` x 3 float thumbnail."""
        outputs = self.encoder.run_all(x=thumbnail.transpose(2, 0, 1)[None])
        vector = next(o for o in outputs if o.dtype.kind == "f").reshape(-1)
        if self.decoder is None:
            return vector, None
        (code_input,) = self.decoder.input_names
        rebuilt = self.decoder.run_all(**{code_input: outputs[0]})[0][0].transpose(1, 2, 0)
        return vector, np.clip(rebuilt, 0, 1)
