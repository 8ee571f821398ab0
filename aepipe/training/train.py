"""Train a registered network on random patches, with checkpoints that resume exactly.

    python -m aepipe.training.train --model denoise-unet-s --task denoise \
        --data ../shared/data/CBSD432 --out runs/denoise --steps 20000
    python -m aepipe.training.train --model ae-vae --task reconstruct \
        --data ../shared/data/CBSD432 --out runs/ae-vae --steps 20000

Rerunning the same command resumes from ``OUT/last.pt`` (model, optimiser, schedule and
random state), so a long CPU run can be stopped and continued at any time. Models with their
own ``training_loss`` (the autoencoder families) are trained on it and log its terms; the
others on L1 between their output and the clean batch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from torch import nn

from aepipe.images.resample import square_thumbnail
from aepipe.metrics import psnr_from_mse
from aepipe.parameters import add_arguments, from_namespace, option
from aepipe.training.data import (
    PatchSampler,
    center_crops,
    load_masked_images,
    load_rgb_images,
    split_holdout,
)
from aepipe.training.networks import create_model, model_kwargs
from aepipe.training.networks.losses import (
    INPUT_AWARE_LOSSES,
    RECONSTRUCTION_LOSSES,
    HasValidationMetrics,
    InitialisedFromData,
    model_inputs,
    training_loss,
)
from aepipe.training.task_batches import (
    Degradation,
    ForeignPatches,
    GaussianNoise,
    ModelInputs,
    SuperResolution,
    fixed_noise,
    given_masks,
    guided_marks,
    inpainting_holes,
    mark_segmentation,
    wide_marks,
    with_negatives,
)

#: The network a task trains when ``--model`` is not given (docs/quality.md says why).
DEFAULT_NETWORKS = {
    "anomaly": "anomaly-ae-m",
    "segment": "mark-segment-unet-s",
    "inpaint": "inpaint-unet-s",
    "unwatermark-guided": "unwatermark-guided-unet-s",
}


def reconstruct(clean: torch.Tensor, generator: torch.Generator) -> ModelInputs:
    """No degradation: autoencoders learn to reproduce (or corrupt, in their loss) the input."""
    return {"x": clean}


DEGRADATIONS: dict[str, Degradation] = {
    "denoise": GaussianNoise(0.0, 50.0),
    "reconstruct": reconstruct,
    "anomaly": ForeignPatches(),  # a model of normal images that removes what is not normal
    "superres-x2": SuperResolution(2),
    "superres-x4": SuperResolution(4),
    "unwatermark": wide_marks,  # the mark's matte, inverted (networks/unet.WatermarkMatteUNet)
    # ... told where the detector found it (networks/guided_matte.GuidedMatteUNet)
    "unwatermark-guided": guided_marks,
    "segment": mark_segmentation,  # where a watermark is: its alpha, thresholded
    "inpaint": inpainting_holes,  # fill a hole (brush strokes, mark shapes) from around it
    "embed": reconstruct,  # whole scenes at thumbnail size (PATCH_ZOOM): what --task embed sees
}
#: Tasks whose patches are rescaled (``PatchSampler.zoom``): a mark detector or remover must
#: not take the detail of a larger or smaller scan than its training photos for a mark.
PATCH_ZOOM = {
    "segment": (0.5, 2.0),
    "unwatermark": (0.5, 2.0),
    "unwatermark-guided": (0.5, 2.0),
    "embed": (0.125, 1.0),
}


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    model: str = option(
        "registered network name (aepipe.training.networks); default for "
        + ", ".join(f"{task}: {name}" for task, name in DEFAULT_NETWORKS.items()),
        "",
    )
    model_args: str = option(
        "JSON object of the network's keyword arguments, e.g. '{\"code_channels\": 4}'", ""
    )
    task: str = option("what the network learns", choices=tuple(DEGRADATIONS))
    data: str = option("folder or s3:// prefix of clean training images")
    masks: str = option(
        "segment: folder or s3:// prefix of the images' own masks (<stem>.png or "
        "<stem>.mask.png, white = in the mask; default: synthetic watermarks and their masks)",
        "",
    )
    negatives: str = option(
        "segment: folder or s3:// prefix of photos with no mark (hard negatives, e.g. from "
        "scripts/mine_hard_negatives.py); a quarter of every batch is drawn from them, unmarked",
        "",
    )
    short_side: int = option("box-downscale images to this shorter side first (0: as they are)", 0)
    out: str = option("run folder: last.pt (resumable) and log.jsonl")
    steps: int = option("optimiser steps (a cap when --minutes is given)", 20_000)
    batch: int = option("patches per step (16 x 64²: ~60 steps/min for 1M params, 2 cores)", 16)
    patch: int = option("patch side in pixels", 64)
    lr: float = option("peak learning rate (cosine decay after a 1% warm-up)", 2e-4)
    min_lr: float = option("learning rate at the end of the schedule", 1e-6)
    weight_decay: float = option("AdamW weight decay", 1e-4)
    seed: int = option("seed of sampling, degradations and initialisation", 0)
    threads: int = option("torch CPU threads", 2)
    holdout: int | None = option(
        "last N images validate (default 8; anomaly: 20 %, at least 1, kept for calibration)", None
    )
    val_every: int = option("validate, log and checkpoint every N steps", 500)
    val_sigma: float = option("denoise: σ of the validation noise (0–255)", 25.0)
    loss: str = option(
        "l1 | l2 | charbonnier | l1-changed (families with their own objective ignore it)", "l1"
    )
    init_from: str = option("weights-only checkpoint to start from (fine-tuning)", "")
    clip_grad: float = option("max gradient norm, 0: off (GDN codecs spike without it)", 0.0)
    device: str = option("auto: CUDA when torch sees a GPU, else CPU; or a torch device", "auto")
    # Wall-clock seconds inside training steps (validation is not counted): > 0 runs the
    # schedule on time instead of steps, so a run fits a lease on a borrowed GPU and still
    # ends with its learning rate decayed.
    minutes: float = option("time budget in minutes for the schedule (0: by steps)", 0.0)


def resolved(config: TrainConfig, image_count: int) -> TrainConfig:
    """``config`` with its task's defaults filled in: the network, and how many images validate
    (an anomaly run keeps a fifth of its few normal images for calibration)."""
    model = config.model or DEFAULT_NETWORKS.get(config.task, "")
    if not model:
        raise ValueError(f"--model is required for --task {config.task}")
    holdout = config.holdout
    if holdout is None:
        holdout = max(1, round(0.2 * image_count)) if config.task == "anomaly" else 8
    if not 0 < holdout < image_count:
        raise ValueError(f"--holdout {holdout}: {image_count} images leave none to train on")
    return dataclasses.replace(config, model=model, holdout=holdout)


def validation_images(images: Sequence[np.ndarray], config: TrainConfig) -> np.ndarray:
    """N x 3 x S x S float32 the run validates on: whole-image thumbnails for ``embed``
    (what the task embeds), centred crops (:func:`validation_side`) for the rest."""
    if config.task == "embed":
        thumbnails = [square_thumbnail(image, config.patch) for image in images]
        return np.stack(thumbnails).transpose(0, 3, 1, 2).copy()
    return center_crops(images, validation_side(images))


def validation_side(images: Sequence[np.ndarray], largest: int = 128) -> int:
    """Side of the centred validation crops: 128 px, or what the smallest image allows."""
    smallest = min(min(image.shape[:2]) for image in images)
    return max(16, min(largest, smallest) // 16 * 16)


def cosine_lr(config: TrainConfig, progress: float) -> float:
    """Cosine decay from ``lr`` to ``min_lr`` as ``progress`` goes 0 -> 1, after a 1% warm-up."""
    warmup = 0.01
    if progress < warmup:
        # The first step already learns; a run of under 100 steps never goes above ``lr``.
        return config.lr * min(1.0, max(progress, 1 / max(1, config.steps)) / warmup)
    decayed = min(1.0, (progress - warmup) / (1 - warmup))
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * decayed))


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when torch sees a GPU; anything else is passed to torch as is."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [0, 1] (outputs clipped as they will be at run time)."""
    return psnr_from_mse(max(torch.mean((a.clamp(0, 1) - b) ** 2).item(), 1e-12))  # finite: JSON


class Trainer:
    """Owns the model, optimiser, sampler and checkpoint file of one run."""

    def __init__(self, config: TrainConfig) -> None:
        losses = [*RECONSTRUCTION_LOSSES, *INPUT_AWARE_LOSSES]
        if config.loss not in losses:
            raise ValueError(f"--loss {config.loss!r}: choose from {', '.join(losses)}")
        for flag, given in (("--masks", config.masks), ("--negatives", config.negatives)):
            if given and config.task != "segment":
                raise ValueError(f"{flag} is for --task segment")
        images = (
            load_masked_images(config.data, config.masks, config.short_side)
            if config.masks
            else load_rgb_images(config.data, config.short_side)
        )
        config = resolved(config, len(images))
        self.config = config
        self.out = Path(config.out)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed)
        torch.set_num_threads(config.threads)
        self.device = resolve_device(config.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed patch sizes: fastest kernels, once
        assert config.holdout is not None  # resolved above
        train_images, val_images = split_holdout(images, config.holdout)
        self.sampler = PatchSampler(
            train_images,
            config.patch,
            np.random.default_rng(config.seed),
            zoom=PATCH_ZOOM.get(config.task, (1.0, 1.0)),
        )
        # Hard negatives are cut at the scale where the segmenter failed: no zoom. They share
        # the sampler's random state, so a resumed run draws the same patches.
        self.negatives = (
            PatchSampler(
                load_rgb_images(config.negatives, config.short_side), config.patch, self.sampler.rng
            )
            if config.negatives
            else None
        )
        self.generator = torch.Generator().manual_seed(config.seed)
        self.degrade = given_masks if config.masks else DEGRADATIONS[config.task]
        val_clean = torch.from_numpy(validation_images(val_images, config))
        self.val_inputs = self._on_device(self._validation_inputs(val_clean))
        self.val_clean = val_clean.to(self.device)
        self.model = create_model(config.model, **model_kwargs(config.model_args)).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.step = 0
        self.seconds = 0.0  # training time of earlier segments of this run
        self._resume(train_images)

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "last.pt"

    def _resume(self, train_images: Sequence[np.ndarray]) -> None:
        """Continue ``OUT/last.pt`` exactly; else start from ``init_from``'s weights if given,
        or from what the network computes from the training images, if it does."""
        if not self.checkpoint_path.exists():
            if self.config.init_from:
                weights = torch.load(
                    self.config.init_from, map_location=self.device, weights_only=True
                )["model"]
                self.model.load_state_dict(weights)
                print(f"initialised from {self.config.init_from}")
            elif isinstance(self.model, InitialisedFromData):
                self.model.initialise_from(train_images)
                print(f"initialised from {len(train_images)} training images")
            return
        state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.seconds = state.get("seconds", 0.0)  # absent in checkpoints older than --minutes
        self.sampler.rng.bit_generator.state = json.loads(state["numpy_rng"])
        self.generator.set_state(state["torch_rng"])
        if "torch_global_rng" in state:  # absent in checkpoints older than training_loss
            torch.set_rng_state(state["torch_global_rng"])
        print(f"resumed {self.checkpoint_path} at step {self.step}")

    def save(self) -> None:
        """Atomic checkpoint: a crash mid-save never leaves a corrupt ``last.pt``."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "seconds": self.seconds,
            "numpy_rng": json.dumps(self.sampler.rng.bit_generator.state),
            "torch_rng": self.generator.get_state(),
            # Stochastic training losses (corruption, VAE sampling, codebook restarts) draw here.
            "torch_global_rng": torch.get_rng_state(),
            "config": json.dumps(dataclasses.asdict(self.config)),
        }
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    def train_step(self) -> dict[str, float]:
        """One optimiser step; returns the loss and the model's logged loss terms."""
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = cosine_lr(self.config, self.progress())
        clean, inputs = self._batch()
        inputs = self._on_device(inputs)
        clean = clean.to(self.device)
        loss, terms = training_loss(self.model, inputs, clean, self.config.loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.clip_grad > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad)
        self.optimizer.step()
        self.step += 1
        return {"loss": loss.item(), **terms}

    def _batch(self) -> tuple[torch.Tensor, ModelInputs]:
        """The clean batch and the model's inputs: the task's degradation of sampled patches,
        and with ``--negatives`` a quarter of the batch from those, left unmarked."""
        size = self.config.batch
        hard = size // 4 if self.negatives else 0
        clean = torch.from_numpy(self.sampler.batch(size - hard))
        inputs = self.degrade(clean, self.generator)
        if self.negatives and hard:
            negatives = torch.from_numpy(self.negatives.batch(hard))
            clean = torch.cat([clean, negatives])
            inputs = with_negatives(inputs, negatives)
        return clean, inputs

    def progress(self) -> float:
        """How far the schedule is, 0 -> 1: by wall-clock time under ``--minutes``, else steps."""
        if self.config.minutes > 0:
            return self.seconds / (self.config.minutes * 60)
        return self.step / self.config.steps

    def _on_device(self, inputs: ModelInputs) -> ModelInputs:
        """Degradations run on the CPU (numpy, Pillow); the model's inputs go to its device."""
        return {name: tensor.to(self.device) for name, tensor in inputs.items()}

    def _validation_inputs(self, clean: torch.Tensor) -> ModelInputs:
        """Fixed σ noise for denoising; the task's own degradation, with a fixed seed, else.

        Made once, on the CPU where the degradations run: every validation sees the same inputs.
        """
        if self.config.task == "denoise":
            return fixed_noise(clean, self.config.val_sigma)
        return self.degrade(clean.clone(), torch.Generator().manual_seed(0))

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        inputs = self.val_inputs
        if isinstance(self.model, HasValidationMetrics):
            return self.model.validation_metrics(inputs, self.val_clean)
        return {
            "val_psnr_in": psnr(_upscaled_like(inputs["x"], self.val_clean), self.val_clean),
            "val_psnr": psnr(self.model(**model_inputs(inputs)), self.val_clean),
        }

    def run(self) -> None:
        """Train to ``steps``; every ``val_every`` steps validate, log a JSON row, checkpoint."""
        started, losses = time.monotonic(), []
        with (self.out / "log.jsonl").open("a") as log, _progress() as progress:
            # percent of the schedule: of the steps, or of the time budget under --minutes
            bar = progress.add_task("training", total=100, completed=int(100 * self.progress()))
            while self.step < self.config.steps and self.progress() < 1:
                step_started = time.monotonic()
                losses.append(self.train_step())
                self.seconds += time.monotonic() - step_started
                progress.update(
                    bar, completed=100 * self.progress(), description=f"step {self.step}"
                )
                done = self.step == self.config.steps or self.progress() >= 1
                if self.step % self.config.val_every == 0 or done:
                    means = {k: float(np.mean([t[k] for t in losses])) for k in losses[0]}
                    row = {"step": self.step, **means, **self.validate()}
                    row["minutes"] = round((time.monotonic() - started) / 60, 2)
                    row["train_minutes"] = round(self.seconds / 60, 2)  # in steps, all segments
                    progress.console.print(json.dumps(row))
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    losses.clear()
                    self.save()


def _progress() -> Progress:
    """A progress bar on terminals; log files get only the JSON rows."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        disable=not sys.stderr.isatty(),
    )


def _upscaled_like(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A super-resolution input brought to the target's size: its PSNR is the bicubic baseline."""
    if x.shape == target.shape:
        return x
    return nn.functional.interpolate(x, size=target.shape[-2:], mode="bicubic")


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="aepipe train", description=__doc__.split("\n\n")[0])
    add_arguments(parser, TrainConfig)
    return from_namespace(TrainConfig, parser.parse_args(argv))


def main(argv: list[str] | None = None) -> None:
    Trainer(parse_args(argv)).run()


if __name__ == "__main__":
    main()
