"""What ``aepipe bench`` measures and how: its options, declared once for the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from aepipe.parameters import option
from aepipe.tools.bench.timing import BenchError


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    threads: int = option("ORT/torch threads (0: every CPU this process may use)", 0)
    tile: int | None = option(
        "model input side and the pipeline's tile in pixels (default: the model's)", None
    )
    batch_size: int = option("tiles per model call (the model bench also times batch 1)", 4)
    images: int = option("synthetic images per pass (few: a pass must stay short)", 8)
    size: int = option("synthetic image side in pixels", 512)
    repeats: int = option("timed samples per measurement (the median is shown)", 3)
    skip_s3: bool = option("no SeaweedFS end-to-end run", False)
    flow: bool = option("also time one process_images flow (Prefect start-up included)", False)
    skip_codec: bool = option("no learned codec measurement", False)
    report_keys: int = option(
        "also measure planning's and the report merge's peak memory at 10,000 keys and at this "
        "many (e.g. 1000000; 0: skip)",
        0,
    )
    image_mp: float = option(
        "also measure peak memory of one synthetic image this many megapixels large through "
        "the identity and denoise tasks (e.g. 64; 0: skip)",
        0.0,
    )
    startup: bool = option(
        "also time an ad-hoc `aepipe run` of one small image with Prefect's temporary API, "
        "with a background server it reuses, and with PREFECT_API_URL (fresh processes)",
        False,
    )
    peers: bool = option(
        "also run one S3 -> S3 denoise job as `aepipe run`, through Ray Data and as a naive "
        "boto3 + Pillow + onnxruntime loop (fresh processes; peak RSS of each process tree)",
        False,
    )
    scale_out: bool = option(
        "also time the same job in one process, on 1 and 2 Dask workers and as 2 shard runs "
        "(each a whole `aepipe run`)",
        False,
    )

    def __post_init__(self) -> None:
        counts = ("batch_size", "images", "size", "repeats")
        bad = [f"--{name.replace('_', '-')}" for name in counts if getattr(self, name) < 1]
        if self.tile is not None and self.tile < 1:
            bad.append("--tile")
        if bad:
            raise BenchError(f"{', '.join(bad)} must be at least 1")
        if self.image_mp < 0:
            raise BenchError("--image-mp must be at least 0 (0: skip)")
        if self.threads < 0:
            raise BenchError("--threads must be at least 0 (0: every usable CPU)")
