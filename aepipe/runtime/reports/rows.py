"""One report row per input image: what happened to it, how long each stage took, and
how much the model changed it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: The field of a row that holds its image's vector (``--task embed``) in memory, on its way
#: to ``embeddings.parquet``; never written to the row files.
VECTOR_FIELD = "embedding"
#: The checks' flags a row may carry (anomaly task, trust check): a flagged row asks for a look.
FLAGS = ("anomalous", "out_of_domain")


class RowStatus(StrEnum):
    OK = "ok"
    ERROR = "error"  # this image failed; the batch went on
    SKIPPED = "skipped"  # output already present with the same provenance
    PLANNED = "planned"  # dry run: would be processed


@dataclass
class ReportRow:
    key: str
    status: RowStatus = RowStatus.OK
    error: str = ""
    width: int | None = None
    height: int | None = None
    mode: str = ""
    output_key: str = ""
    bytes_in: int | None = None
    bytes_out: int | None = None
    seconds_fetch: float = 0.0
    seconds_decode: float = 0.0
    seconds_infer: float = 0.0
    seconds_encode: float = 0.0
    seconds_upload: float = 0.0
    mse: float | None = None  # input vs output at input resolution, on the 0–1 scale
    psnr: float | None = None  # dB; inf when the output equals the input
    warnings: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # task-specific (noise level, ...)

    @property
    def flagged(self) -> bool:
        """Whether any check flagged this row's image."""
        return any(self.extra.get(flag) is True for flag in FLAGS)

    def to_dict(self) -> dict[str, Any]:
        """Flat dict: ``extra`` fields become top-level columns."""
        data = dataclasses.asdict(self)
        data["status"] = str(self.status)
        extra = data.pop("extra")  # popped first: a dict display would still hold it
        return {**data, **extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportRow:
        known = {f.name for f in dataclasses.fields(cls)}
        extra = {k: v for k, v in data.items() if k not in known}
        base = {k: v for k, v in data.items() if k in known and k != "extra"}
        return cls(**{**base, "status": RowStatus(base.get("status", "ok"))}, extra=extra)
