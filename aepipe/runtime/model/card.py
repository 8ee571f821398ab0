"""The model card: everything the runtime must know to use an ONNX model correctly.

It travels twice: inside the ONNX file (``metadata_props["aepipe.card"]``, written at export)
and in the zoo manifest next to the file's sha256. The runtime trusts neither blindly: the
manifest's sha256 is checked before a session exists.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CARD_METADATA_KEY = "aepipe.card"
#: Which part of a model a file is ("encoder", "decoder"); absent in single-file models.
PART_METADATA_KEY = "aepipe.part"
#: The part name of a model that is one ONNX file.
WHOLE_MODEL = "model"


@dataclass(frozen=True)
class ModelCard:
    name: str  # registry name; also keys report rows and output provenance
    task: str  # denoise | unwatermark | superres | identity | ...
    version: str = "1"
    architecture: str = ""  # the aepipe.training.networks registry name it was built from
    scale: int = 1  # output/input size ratio (2 or 4 for super-resolution)
    in_channels: int = 3  # colour channels the net expects (gray input is replicated), or 4:
    # RGB and a mask (``takes_mask``)
    input_range: tuple[float, float] = (0.0, 1.0)  # pixel values the net was trained on
    pad_multiple: int = 1  # H and W must be multiples of this (U-Net downsampling)
    tile: int = 256  # recommended tile side for CPU; memory grows with tile² x batch
    tile_overlap: int = 16  # >= the receptive-field radius that matters, to hide seams
    noise_level_input: bool = False  # takes a "noise_level" input (σ/255 per image)
    thumbnail: int = 0  # embed, generate: side of the square images it learned (0: any size)
    code_shape: tuple[int, ...] = ()  # embed, generate: a thumbnail's code, (C, h, w) or (h, w)
    training_command: str = ""
    training_data: str = ""
    data_terms: str = ""  # licence/terms of the training data (BSDS: research use)
    quality: Mapping[str, float] = field(default_factory=dict)  # measured, with the command
    quantized_from: str = ""  # an int8 copy (aepipe quantize): the float model it was made from
    # Anomaly models: the score definition, normal statistics and threshold (AnomalyScoring)
    anomaly: Mapping[str, Any] = field(default_factory=dict)

    @property
    def takes_mask(self) -> bool:
        """RGB and a mask in: an inpainting filler (the hole), a guided remover (the mark)."""
        return self.in_channels == 4

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """Build from JSON-like data, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("input_range", "code_shape"):  # JSON gives lists
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> ModelCard | None:
        """The card stored in an ONNX model's metadata, or None if it carries none."""
        raw = metadata.get(CARD_METADATA_KEY)
        return cls.from_dict(json.loads(raw)) if raw else None
