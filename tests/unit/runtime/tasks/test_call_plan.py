"""How a task cuts one image for its model: as asked, or whole when it is within a budget
of pixels (from the card's tile and the batch), and in the card's tiles beyond it."""

import numpy as np
import pytest

from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.tiled import call_plan, run_tiled

CARD = ModelCard(name="net", task="denoise", tile=256, tile_overlap=16)


def test_an_explicit_tile_and_batch_are_used_as_given():
    options = TaskOptions(task="denoise", tile=128, batch_size=3)
    assert call_plan(options, CARD, 4000, 3000) == (128, 16)
    assert call_plan(TaskOptions(task="denoise", tile=0), CARD, 4000, 3000) == (0, 16)


@pytest.mark.parametrize(
    ("height", "width", "batch", "plan"),
    [
        (321, 481, 4, (0, 16)),  # CBSD68: one call
        (512, 768, 4, (0, 16)),  # Kodak: one call, not six 256-pixel tiles
        (512, 1024, 4, (0, 16)),  # exactly the budget, 2 x 4 x 256²
        (600, 1024, 4, (256, 16)),  # beyond it: the card's tiles
        (4000, 3000, 1, (256, 16)),
        (20, 26000, 4, (0, 16)),  # a long strip within the budget runs whole
    ],
)
def test_images_within_twice_the_cards_tile_times_the_batch_run_whole(height, width, batch, plan):
    options = TaskOptions(task="denoise", batch_size=batch)
    assert call_plan(options, CARD, height, width) == plan


def test_a_card_that_asks_for_whole_images_gets_them():
    whole = ModelCard(name="net", task="denoise", tile=0)
    assert call_plan(TaskOptions(task="denoise"), whole, 9000, 9000)[0] == 0


def test_identity_round_trips_whatever_the_plan():
    pixels = np.random.default_rng(0).integers(0, 256, (700, 900, 3), dtype=np.uint8)
    for tile in (None, 0, 200):
        out = run_tiled(None, pixels, TaskOptions(task="identity", tile=tile))
        np.testing.assert_array_equal(out, pixels)
