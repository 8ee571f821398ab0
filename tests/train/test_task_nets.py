"""The task networks (super-resolution, watermark removal) learn their task and export to ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from aepipe.degrade import imresize
from aepipe.runtime.model.card import ModelCard
from aepipe.training.export import PARITY_TOLERANCE, export_onnx
from aepipe.training.networks import create_model
from aepipe.training.networks.losses import training_loss
from aepipe.training.task_batches import GaussianNoise, Watermark, fixed_noise
from aepipe.training.train import DEGRADATIONS

pytestmark = pytest.mark.train

SAMPLES = Path(__file__).resolve().parents[2] / "aepipe" / "samples"
TASKS = {
    "sr-x2-srnet": "superres-x2",
    "sr-x4-srnet": "superres-x4",
    "unwatermark-unet-s": "unwatermark",
    "unwatermark-guided-unet-s": "unwatermark-guided",
}


@pytest.fixture(scope="module")
def clean() -> torch.Tensor:
    """Four 32 x 32 crops of the sample photos: N x 3 x H x W in [0, 1]."""
    crops = []
    for path in sorted(SAMPLES.glob("*.png")):
        image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        crops.append(image[100:132, 100:132].transpose(2, 0, 1))
    return torch.from_numpy(np.stack(crops))


def train_losses(name: str, clean: torch.Tensor, steps: int = 10) -> list[float]:
    """The trainer's loss over Adam steps on one batch with ``name``'s task degradation."""
    torch.manual_seed(0)
    inputs = DEGRADATIONS[TASKS[name]](clean.clone(), torch.Generator().manual_seed(0))
    return loss_curve(create_model(name), inputs, clean, steps)


def loss_curve(
    model: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    clean: torch.Tensor,
    steps: int = 10,
    lr: float = 1e-3,
) -> list[float]:
    """The trainer's loss (the model's own, else L1) over Adam steps on one degraded batch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss, _ = training_loss(model, inputs, clean)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # as `--clip-grad 1` trains
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", TASKS)
def test_a_few_steps_lower_the_loss(name: str, clean: torch.Tensor) -> None:
    losses = train_losses(name, clean)
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.9 * losses[0], losses


@pytest.mark.parametrize("scale", [2, 4])
def test_srnet_output_is_input_times_scale(scale: int) -> None:
    model = create_model(f"sr-x{scale}-srnet")
    assert (model.scale, model.pad_multiple, model.in_channels) == (scale, 1, 3)
    assert not model.noise_level_input
    assert sum(p.numel() for p in model.parameters()) < 300_000
    with torch.no_grad():
        assert model(torch.rand(2, 3, 11, 6)).shape == (2, 3, 11 * scale, 6 * scale)


@pytest.mark.parametrize("scale", [2, 4])
def test_superres_degradation_is_numpy_imresize(scale: int, clean: torch.Tensor) -> None:
    low = DEGRADATIONS[f"superres-x{scale}"](clean.clone(), torch.Generator())["x"]
    assert low.shape == (4, 3, 32 // scale, 32 // scale)
    for image, got in zip(clean.numpy(), low.numpy(), strict=True):
        expected = imresize(image.transpose(1, 2, 0), 1 / scale).transpose(2, 0, 1)
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_superres_rejects_patches_not_divisible_by_scale() -> None:
    with pytest.raises(ValueError, match="multiple"):
        DEGRADATIONS["superres-x4"](torch.rand(1, 3, 30, 32), torch.Generator())


def test_noise_degradation_gives_what_an_8_bit_file_holds(clean: torch.Tensor) -> None:
    """Clipped to [0, 1] and on the 1/255 grid, as `aepipe eval` and real files give it."""
    bright = torch.full_like(clean, 0.98)
    for inputs in (
        GaussianNoise(40.0, 50.0)(bright.clone(), torch.Generator().manual_seed(0)),
        fixed_noise(bright, 50.0),
    ):
        x = inputs["x"]
        assert x.min() >= 0 and x.max() == 1.0
        assert torch.allclose(x * 255, torch.round(x * 255), atol=1e-4)
        assert x.mean() < 0.98 - 0.01  # clipping at white biases the mean down
    float_noise = GaussianNoise(40.0, 50.0, file_like=False)
    assert float_noise(bright, torch.Generator().manual_seed(0))["x"].max() > 1.0


def test_watermark_degradation_follows_the_generator(clean: torch.Tensor) -> None:
    degrade = DEGRADATIONS["unwatermark"]
    first = degrade(clean.clone(), torch.Generator().manual_seed(3))["x"]
    again = degrade(clean.clone(), torch.Generator().manual_seed(3))["x"]
    other = degrade(clean.clone(), torch.Generator().manual_seed(4))["x"]
    assert first.shape == clean.shape and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_watermark_degradation_leaves_a_fraction_unmarked(clean: torch.Tensor) -> None:
    """Clean patches (alpha 0) teach the net that texture alone is no mark."""
    batch = clean.repeat(16, 1, 1, 1)
    generator = torch.Generator().manual_seed(0)
    inputs = Watermark(unmarked_fraction=0.5)(batch.clone(), generator)
    unmarked = (inputs["target_alpha"] == 0).flatten(1).all(dim=1)
    assert 16 <= int(unmarked.sum()) <= 48
    assert torch.equal(inputs["x"][unmarked], batch[unmarked])
    always = Watermark(unmarked_fraction=0.0)(batch.clone(), generator)
    # (a mark is centred in the patch, but a few centres fall between its strokes)
    assert int((always["target_alpha"] > 0).flatten(1).any(dim=1).sum()) >= 56


def test_watermark_degradation_returns_the_true_alpha(clean: torch.Tensor) -> None:
    """Where the target alpha is 0 the patch is untouched; elsewhere the mark shows."""
    inputs = DEGRADATIONS["unwatermark"](clean.clone(), torch.Generator().manual_seed(3))
    alpha = inputs["target_alpha"]
    assert alpha.shape == (4, 1, 32, 32) and alpha.dtype == torch.float32
    unmarked = (alpha == 0).expand_as(clean)
    assert torch.equal(inputs["x"][unmarked], clean[unmarked])
    assert (inputs["x"] - clean).abs().amax(dim=1, keepdim=True)[alpha > 0.2].min() > 0


def test_matte_remover_inverts_a_known_blend() -> None:
    """Given the true alpha and colour, unblending returns the photo; with none, the input."""
    model = create_model("unwatermark-unet-s")
    photo, colour = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    alpha = torch.rand(1, 1, 8, 8) * 0.8
    marked = (1 - alpha) * photo + alpha * colour
    residual = torch.zeros_like(photo)
    logit = torch.logit(alpha / model.max_alpha)
    torch.testing.assert_close(model.unblend(marked, logit, colour, residual), photo)
    no_mark = torch.full_like(alpha, -torch.inf)
    torch.testing.assert_close(model.unblend(marked, no_mark, colour, residual), marked)


def test_matte_remover_starts_near_the_identity(clean: torch.Tensor) -> None:
    """An untrained remover changes no pixel by more than ~1/255: it cannot start by repainting."""
    torch.manual_seed(0)
    with torch.no_grad():
        assert (create_model("unwatermark-unet-s")(clean) - clean).abs().max() < 1.5 / 255


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_exports_with_parity_and_scale(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model(name)
    scale = getattr(model, "scale", 1)
    card = ModelCard(
        name=name,
        task=TASKS[name].split("-")[0],
        architecture=name,
        scale=scale,
        in_channels=model.in_channels,
        pad_multiple=model.pad_multiple,
    )
    result = export_onnx(model, card, tmp_path / f"{name}.onnx")
    assert result.max_abs_diff < PARITY_TOLERANCE
    metadata = {p.key: p.value for p in onnx.load(result.path).metadata_props}
    assert ModelCard.from_metadata(metadata) == card
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    side = 3 * model.pad_multiple
    x = np.zeros((1, model.in_channels, side, 2 * side), np.float32)
    (output,) = session.run(None, {"x": x})
    assert output.shape == (1, 3, side * scale, 2 * side * scale)
