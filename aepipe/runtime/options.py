"""The one definition of a run: every option ``aepipe run`` and the ``process_images`` flow take.

Three groups, by who reads them:

- :class:`TaskOptions`: what to do with each image (task, model, tiling); ``build_task`` reads it;
- :class:`ChunkOptions`: how a chunk of keys is processed (resume, output format, I/O);
  ``process_chunk`` reads it;
- :class:`RunOptions`: both, plus where the images are and how the run is split into chunks.

Each field is declared once with :func:`aepipe.parameters.option`; the CLI's flags and the flow's
parameters (and so a deployment's form in Prefect's UI) are generated from these fields. To add
an option, add a field to the group whose reader needs it, and read it there.
"""

from __future__ import annotations

from dataclasses import dataclass

from aepipe.errors import AepipeError
from aepipe.images import DEFAULT_MAX_PIXELS, WRITABLE_FORMATS
from aepipe.images.fill import FILL_METHODS, FILL_MODEL
from aepipe.parameters import flag_of, option
from aepipe.runtime.codec.targets import Measure, QualityTarget
from aepipe.runtime.credentials import block_credentials
from aepipe.runtime.tasks.names import TaskName
from aepipe.storage import Storage, check_no_overlap, open_storage


class OptionError(AepipeError, ValueError):
    """An option value that cannot work (named, with the accepted range)."""


@dataclass(frozen=True, kw_only=True)
class TaskOptions:
    """What each image goes through: the task, its model and how the model is tiled."""

    task: TaskName = option("what to do with each image", choices=tuple(TaskName))
    model: str | None = option(
        "registry name, .onnx path or s3:// URI (default: the task's shipped model)", None
    )
    noise_level: float | None = option(
        "denoise: σ on the 0–255 scale; estimated per image when absent", None
    )
    scale: int | None = option("superres: upscaling factor", None, choices=(2, 4))
    rate: int | None = option("compress: rate point, 0 = smallest files (default: middle)", None)
    target_psnr: float | None = option(
        "compress: per image, the smallest file whose decoded image reaches this PSNR (dB)", None
    )
    target_ms_ssim: float | None = option(
        "compress: per image, the smallest file whose decoded image reaches this MS-SSIM", None
    )
    target_bpp: float | None = option(
        "compress: per image, the best quality within this many bits per pixel", None
    )
    anchors: bool = option(
        "compress: JPEG/WebP PSNR at the same bpp in each row (~16 extra encodes)", True
    )
    tile: int | None = option(
        "tile side in pixels (0: whole image; default: whole images within 2 x the model's "
        "tile² x batch pixels, the model's tile beyond)",
        None,
    )
    overlap: int | None = option("pixels blended between tiles (default: the model's)", None)
    batch_size: int = option("tiles per model call", 4)
    self_ensemble: bool = option(
        "restoration: average the model over 8 flips/rotations (better, 8x slower)", False
    )
    threads: int = option("ONNX Runtime threads per model (0: OMP_NUM_THREADS or all)", 0)
    domain_check: str | None = option(
        "trust check giving rows domain_score/out_of_domain: a zoo name or .onnx path, or "
        "'none' (default: the model's companion in the zoo)",
        None,
    )
    detector: str | None = option(
        "unwatermark: the mark segmentation model deciding which pixels may change (the rest "
        "come back bit for bit): a zoo name or .onnx path, or 'none' to let the remover touch "
        "every pixel (default: the remover's companion in the zoo)",
        None,
    )
    overlay_refit: bool = option(
        "unwatermark: recompute the remover's pixels as the inverse of a flat overlay (a few "
        "opacities and colours fitted to the image; where none fits, the remover's own)",
        True,
    )

    fill: str = option(
        "inpaint: how holes are filled: OpenCV (Navier-Stokes, Telea) or an inpainting "
        "network (--model, default the shipped one)",
        "ns",
        choices=(*FILL_METHODS, FILL_MODEL),
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", TaskName(self.task))
        _at_least(self, batch_size=1, threads=0)
        self.quality_target()
        if self.tile is not None:
            _at_least(self, tile=0)
        if self.overlap is not None:
            _at_least(self, overlap=0)

    def quality_target(self) -> QualityTarget | None:
        """The one ``--target-*`` given, or None; OptionError for two, or one with --rate."""
        targets: dict[Measure, float | None] = {
            "psnr": self.target_psnr,
            "ms_ssim": self.target_ms_ssim,
            "bpp": self.target_bpp,
        }
        given = [QualityTarget(m, value) for m, value in targets.items() if value is not None]
        flags = ", ".join(flag_of(TaskOptions, f"target_{t.measure}") for t in given)
        if len(given) > 1:
            raise OptionError(f"{flags}: give one quality target")
        if given and self.rate is not None:
            raise OptionError(f"{flags} chooses each image's rate; it takes no --rate")
        if given and given[0].value <= 0:
            raise OptionError(f"{flags} {given[0].value}: must be above 0")
        return given[0] if given else None


@dataclass(frozen=True, kw_only=True)
class ChunkOptions:
    """How a chunk of keys is processed: what counts as done, what is written, I/O width."""

    overwrite: bool = option("redo images whose output already exists with this provenance", False)
    dry_run: bool = option(
        "plan only: rows say what would be done, the summary's estimate the megapixels and "
        "time on this worker; nothing is written",
        False,
    )
    max_pixels: int = option(
        "refuse images with more pixels than this (decompression-bomb guard)", DEFAULT_MAX_PIXELS
    )
    format: str | None = option(
        "write images in this format (default: the input's)",
        None,
        choices=WRITABLE_FORMATS,
        flag="--format",
    )
    jpeg_quality: int = option("quality of JPEG outputs (1–100)", 95)
    io_threads: int = option("concurrent reads and writes per chunk (hides S3 latency)", 8)
    read_ahead: int = option("images fetched ahead of the model (bounds memory)", 4)

    def __post_init__(self) -> None:
        _at_least(self, max_pixels=1, io_threads=1, read_ahead=0)
        if not 1 <= self.jpeg_quality <= 100:
            raise OptionError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")


@dataclass(frozen=True, kw_only=True)
class StorageAccess:
    """How object storage is reached, for every flow that reads or writes it."""

    endpoint_url: str | None = option("S3 endpoint (default: AWS_ENDPOINT_URL / AWS)", None)
    credentials_block: str | None = option(
        "name of a prefect-aws AwsCredentials block holding the S3 keys (default: the "
        "standard AWS chain: environment, config files, roles)",
        None,
    )

    def open(self, uri: str) -> Storage:
        """The folder or ``s3://`` prefix ``uri``, with these credentials."""
        credentials = None
        if self.credentials_block is not None:
            credentials = block_credentials(self.credentials_block)
        return open_storage(uri, endpoint_url=self.endpoint_url, credentials=credentials)


@dataclass(frozen=True, kw_only=True)
class RunOptions(StorageAccess, ChunkOptions, TaskOptions):
    """A whole run: the task and chunk options, where the images are, how keys are split."""

    source: str = option("local folder or s3://bucket/prefix to read", positional=True)
    dest: str = option("local folder or s3://bucket/prefix to write", positional=True)
    glob: str | None = option("only keys matching, e.g. '**/*.png'", None)
    limit: int | None = option("process at most N images (of this shard)", None)
    shard: str | None = option(
        "I/N: only keys whose stable hash falls in shard I of N (0-based), for fan-out", None
    )
    chunk_size: int = option("images per Prefect task", 32)
    chunks_in_flight: int = option(
        "chunk tasks submitted ahead of their results (raise with the task runner's workers)", 4
    )
    resume: str | None = option(
        "continue the unfinished run RUN_ID in DEST (default: the newest unfinished run of "
        "the same parameters, if there is one; finished chunks are not redone)",
        None,
    )
    fan_out: int | None = option(
        "start N child runs of --deployment on its work pool, shard I/N each, wait for them "
        "and merge their reports into this run's",
        None,
    )
    deployment: str | None = option(
        "fan-out: the FLOW/DEPLOYMENT the children run (default: this run's own deployment)",
        None,
    )
    runner: str = option(
        "where chunk tasks run: 'threads' (this process), 'dask' (a local Dask cluster, one "
        "worker process per core), 'dask=N' (N local workers) or 'dask=tcp://HOST:PORT' (a "
        "running Dask scheduler)",
        "threads",
    )

    def __post_init__(self) -> None:
        TaskOptions.__post_init__(self)
        ChunkOptions.__post_init__(self)
        _at_least(self, chunk_size=1, chunks_in_flight=1)
        if self.limit is not None:
            _at_least(self, limit=0)
        self.shard_of()  # a malformed --shard fails before any work
        if self.fan_out is not None:
            _at_least(self, fan_out=1)
            if self.shard is not None:
                raise OptionError("--fan-out splits the run into shards; it takes no --shard")
        self.runner_of()

    def shard_of(self) -> tuple[int, int] | None:
        """(I, N) of ``--shard I/N``, or None for the whole run."""
        if self.shard is None:
            return None
        index, _, count = self.shard.partition("/")
        try:
            parsed = int(index), int(count)
        except ValueError:
            parsed = (-1, 0)
        if not 0 <= parsed[0] < parsed[1]:
            raise OptionError(f"--shard {self.shard!r}: expected I/N with 0 <= I < N, e.g. 0/4")
        return parsed

    def runner_of(self) -> tuple[str, int | str | None]:
        """('threads', None), ('dask', None | local worker count | scheduler address)."""
        kind, _, where = self.runner.partition("=")
        if kind == "threads" and not where:
            return kind, None
        if kind == "dask":
            if not where:
                return kind, None
            if where.isdigit() and int(where) > 0:
                return kind, int(where)
            if "://" in where:
                return kind, where
        raise OptionError(
            f"--runner {self.runner!r}: expected threads, dask, dask=N or dask=tcp://HOST:PORT"
        )

    def storages(self) -> tuple[Storage, Storage]:
        """The source and destination, refused when one lies inside the other."""
        check_no_overlap(self.source, self.dest)
        return self.open(self.source), self.open(self.dest)


#: How a VQ-VAE's code maps are drawn (``aepipe generate --prior``).
CODE_PRIORS = ("model", "frequencies")


@dataclass(frozen=True, kw_only=True)
class GenerateOptions(StorageAccess):
    """A generation run: N new images from a generative autoencoder into DEST."""

    dest: str = option("local folder or s3://bucket/prefix to write", positional=True)
    count: int = option("how many images to generate", 16)
    model: str | None = option(
        "a generative model: zoo name or .decoder.onnx path (default: the shipped one)", None
    )
    seed: int = option(
        "image i is drawn from the seed pair (SEED, i): the same seed and model give the same "
        "images, whatever the chunking",
        0,
    )
    prior: str = option(
        "VQ-VAE: how code maps are drawn: 'model' (its autoregressive prior) or 'frequencies' "
        "(every code independently, at its training frequency)",
        "model",
        choices=CODE_PRIORS,
    )
    chunk_size: int = option("images per Prefect task", 64)
    overwrite: bool = option("redo images whose output already exists with this provenance", False)
    threads: int = option("ONNX Runtime threads per model (0: OMP_NUM_THREADS or all)", 0)

    def __post_init__(self) -> None:
        _at_least(self, count=0, chunk_size=1, threads=0, seed=0)


def _at_least(options: object, **minimums: int) -> None:
    for name, minimum in minimums.items():
        value = getattr(options, name)
        if value < minimum:
            raise OptionError(f"{name} must be at least {minimum}, got {value}")
