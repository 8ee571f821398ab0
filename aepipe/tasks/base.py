"""What every task promises the pipeline: decoded image in, restored pixels + row fields out.

Tasks hold their model (loaded once per worker) and know nothing about storage or reports;
that keeps them testable with plain arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from aepipe.images import DecodedImage, ImageInfo


@dataclass(frozen=True)
class TaskOutput:
    pixels: np.ndarray  # H' x W' x C, the input's native dtype
    alpha: np.ndarray | None  # passed through (resized when the task changes the size)
    fields: Mapping[str, object] = field(default_factory=dict)  # task-specific report fields


class Task(Protocol):
    name: str

    @property
    def provenance(self) -> Mapping[str, str]:
        """Stored on every output; a later run skips an image whose output carries the same."""
        ...

    @property
    def runtime(self) -> Mapping[str, object]:
        """What actually ran (model name, execution providers), for the run's summary."""
        ...

    def output_format(self, info: ImageInfo) -> str | None:
        """Pillow format to encode with; None keeps the input's format."""
        ...

    def apply(self, image: DecodedImage) -> TaskOutput: ...
