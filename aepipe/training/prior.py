"""Train the autoregressive prior of a VQ-VAE (``networks/prior.py``) and add it to the zoo.

    aepipe train-prior runs/embed/vqvae-8x8/last.pt --data ../shared/data/CBSD432 \
        --out runs/prior --minutes 6 --export gen-vqvae-s

The VQ-VAE codes a fixed pool of thumbnails (cut as ``--task embed`` training cuts them) once;
the prior learns their index maps in raster order. Validation reports bits per image of the
held-out images' maps under the prior and under the code frequencies alone (the baseline a
sampler without a prior has). Rerunning resumes ``OUT/last.pt``. ``--export NAME`` writes
``NAME.prior.onnx`` (with the training code frequencies in its metadata) and adds it as the
``prior`` part of the zoo entry NAME, which must be this VQ-VAE's export.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from aepipe.runtime.generation.samplers import FREQUENCIES_METADATA_KEY
from aepipe.runtime.model.card import CARD_METADATA_KEY, PART_METADATA_KEY, ModelCard
from aepipe.training.data import PatchSampler, load_rgb_images, split_holdout
from aepipe.training.export import (
    ExportResult,
    export_verified,
    load_checkpoint,
    update_manifest,
)
from aepipe.training.networks.prior import CodePrior
from aepipe.training.networks.vqvae import VQVAE
from aepipe.training.train import PATCH_ZOOM


def code_maps(
    model: VQVAE, images: list[np.ndarray], count: int, side: int, seed: int
) -> torch.Tensor:
    """``count`` thumbnails of ``images`` coded by ``model``: N x L int64 in raster order."""
    sampler = PatchSampler(images, side, np.random.default_rng(seed), zoom=PATCH_ZOOM["embed"])
    maps = []
    model.eval()
    with torch.no_grad():
        for start in range(0, count, 512):
            batch = torch.from_numpy(sampler.batch(min(512, count - start)))
            maps.append(model.quantizer.nearest(model.g_a(batch)).flatten(1))
    return torch.cat(maps)


def frequencies(codes: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Code frequencies with add-one smoothing (no code has probability 0)."""
    counts = torch.bincount(codes.flatten(), minlength=num_codes).double() + 1
    return counts / counts.sum()


def bits_per_map(prior: CodePrior, codes: torch.Tensor) -> float:
    with torch.no_grad():
        return prior.loss(codes).item() * codes.shape[1] / math.log(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="aepipe train-prior", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("vqvae", type=Path, help="the VQ-VAE's checkpoint (last.pt)")
    parser.add_argument("--data", required=True, help="its training images")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=5.0, help="training time budget")
    parser.add_argument("--maps", type=int, default=40_000, help="training thumbnails coded")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--export", metavar="NAME", help="add the prior to the zoo entry NAME")
    parser.add_argument("--zoo", type=Path, default=Path("aepipe/zoo"))
    parser.add_argument(
        "--weights",
        type=Path,
        default=Path("checkpoints"),
        help="with --export: where NAME.prior.pt (weights only; copy it to OUT/last.pt to "
        "continue training) goes",
    )
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    vqvae, config = load_checkpoint(args.vqvae)
    assert isinstance(vqvae, VQVAE), f"{args.vqvae} is not a VQ-VAE"
    train_images, val_images = split_holdout(load_rgb_images(args.data), config["holdout"])
    side = config["patch"]
    codes = code_maps(vqvae, train_images, args.maps, side, args.seed)
    val_codes = code_maps(vqvae, val_images, 2_000, side, args.seed + 1)
    num_codes = vqvae.quantizer.num_codes
    freq = frequencies(codes, num_codes)
    unigram_bits = float(-torch.log2(freq[val_codes]).sum(dim=1).mean())
    prior = CodePrior(num_codes, codes.shape[1])
    optimizer = torch.optim.AdamW(prior.parameters(), lr=args.lr, weight_decay=0.01)
    step, seconds = _resume(args.out / "last.pt", prior, optimizer)
    budget = args.minutes * 60
    rng = torch.Generator().manual_seed(args.seed + step)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "log.jsonl").open("a") as log:
        while seconds < budget:
            started = time.monotonic()
            for group in optimizer.param_groups:  # cosine decay over the time budget
                group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, seconds / budget)))
            prior.train()
            batch = codes[torch.randint(len(codes), (args.batch,), generator=rng)]
            loss = prior.loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            seconds += time.monotonic() - started
            if step % 250 == 0 or seconds >= budget:
                prior.eval()
                row = {
                    "step": step,
                    "minutes": round(seconds / 60, 2),
                    "train_nats_per_code": loss.item(),
                    "val_bits_per_map": bits_per_map(prior, val_codes),
                    "val_bits_per_map_frequencies": unigram_bits,
                }
                print(json.dumps(row), flush=True)
                log.write(json.dumps(row) + "\n")
                log.flush()
                _save(args.out / "last.pt", prior, optimizer, step, seconds)
    if args.export:
        export_prior(prior, freq, args.export, args.zoo)
        weights = {
            "model": prior.state_dict(),
            "config": {"num_codes": prior.num_codes, "length": prior.length},
            "step": step,
            "seconds": seconds,
        }
        args.weights.mkdir(parents=True, exist_ok=True)
        torch.save(weights, args.weights / f"{args.export}.prior.pt")


def export_prior(prior: CodePrior, freq: torch.Tensor, name: str, zoo: Path) -> None:
    """``zoo/NAME.prior.onnx`` (verified against torch) as the ``prior`` part of entry NAME."""
    entry = _zoo_entry(zoo, name)
    card = ModelCard.from_dict(entry["card"])
    prior.eval()
    codes = torch.randint(
        prior.num_codes, (3, prior.length), generator=torch.Generator().manual_seed(0)
    )
    traced = {"tokens": prior.tokens(codes[:2])}
    check = {"tokens": prior.tokens(codes)}
    metadata = {
        CARD_METADATA_KEY: card.to_json(),
        PART_METADATA_KEY: "prior",
        FREQUENCIES_METADATA_KEY: json.dumps([round(float(p), 8) for p in freq]),
    }
    result = export_verified(prior, traced, check, metadata, zoo / f"{name}.prior.onnx")
    parts = {
        part: ExportResult(
            zoo / found["file"], found["sha256"], found.get("parity_max_abs_diff", 0)
        )
        for part, found in entry["parts"].items()
        if part != "prior"
    }
    update_manifest(zoo, card, {**parts, "prior": result}, entry.get("default", False))
    print(f"{result.path}  sha256 {result.sha256}  parity max|diff| {result.max_abs_diff:.2e}")


def _zoo_entry(zoo: Path, name: str) -> dict:
    manifest = zoo / "manifest.json"
    models = json.loads(manifest.read_text())["models"] if manifest.exists() else []
    for entry in models:
        if entry["card"]["name"] == name:
            return entry
    raise SystemExit(
        f"{manifest}: no model {name!r}; export the VQ-VAE first "
        f"(aepipe export VQVAE/last.pt --name {name} --task generate)"
    )


def _resume(path: Path, prior: CodePrior, optimizer: torch.optim.Optimizer) -> tuple[int, float]:
    if not path.exists():
        return 0, 0.0
    state = torch.load(path, map_location="cpu", weights_only=True)
    prior.load_state_dict(state["model"])
    if "optimizer" in state:  # absent in the weights-only checkpoint a zoo export keeps
        optimizer.load_state_dict(state["optimizer"])
    print(f"resumed {path} at step {state['step']}")
    return int(state["step"]), float(state["seconds"])


def _save(
    path: Path, prior: CodePrior, optimizer: torch.optim.Optimizer, step: int, seconds: float
) -> None:
    state = {
        "model": prior.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "seconds": seconds,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
