"""The flat-overlay refit: a mark of one or two layers, each of one opacity and colour, is
inverted from the image itself where a remover's guess of the photo is only roughly right."""

import numpy as np
import pytest
from modelfactory import photo_like

from aepipe.images import from_float, overlay, to_float
from aepipe.images.fill import grow
from aepipe.images.overlay import (
    CLEARLY,
    GHOST_SIGMA,
    GUESS_NOISE_LEVELS,
    Doubts,
    OverlayState,
    Refit,
    Sightings,
    find_states,
    least_marked,
    nearest_unmasked,
    overlays,
    possible,
    refined,
    refit_flat_overlay,
    searched,
    unblend,
)
from aepipe.metrics.error import reconstruction_error


def strokes(height: int, width: int) -> np.ndarray:
    """Coverage in [0, 1] of text-like strokes, 4 px wide with a soft rim."""
    coverage = np.zeros((height, width), np.float32)
    for row in range(20, height - 20, 24):
        coverage[row : row + 4, 16 : width - 16] = 1.0
    for column in range(24, width - 24, 18):
        coverage[24 : height - 24, column : column + 4] = 1.0
    soft = np.pad(coverage, 1, mode="edge")
    rim = (soft[:-2, 1:-1] + soft[2:, 1:-1] + soft[1:-1, :-2] + soft[1:-1, 2:]) / 4
    return np.maximum(coverage, 0.5 * rim)


def overlaid(
    photo: np.ndarray, layers: list[tuple[np.ndarray, tuple[float, ...]]], opacity: float
) -> np.ndarray:
    """``photo`` (float, H x W x C) under the layers, bottom first, each alpha-blended."""
    out = photo.copy()
    for coverage, colour in layers:
        alpha = (coverage * opacity)[..., None]
        out = (1 - alpha) * out + alpha * np.asarray(colour, np.float32)
    return out


def case(dtype=np.uint8, channels: int = 3, outlined: bool = False, seed: int = 0):
    """(photo, marked, a remover's guess, mask): the guess is right on average, but noisy
    (a network's fill misses the photo's fine texture under the mark)."""
    rng = np.random.default_rng(seed)
    photo = to_float(photo_like(rng, 128, 160))[..., :channels]
    body = strokes(128, 160)
    layers = [(body, (1.0,) * channels)]
    if outlined:  # a black outline 2 px around the body, drawn under it
        layers.insert(0, (grow(body > 0.5, 2).astype(np.float32), (0.0,) * channels))
    marked = overlaid(photo, layers, opacity=0.55)
    guess = photo + rng.normal(0, 8 / 255, photo.shape)
    mask = grow(np.any([coverage > 0 for coverage, _ in layers], axis=0), 2)
    guess = np.where(mask[..., None], guess, marked)
    as_dtype = [from_float(np.clip(x, 0, 1), dtype) for x in (photo, marked, guess)]
    return (*as_dtype, mask)


def test_the_refit_inverts_the_mark_far_better_than_the_guess():
    photo, marked, guess, mask = case()
    refit = refit_flat_overlay(marked, guess, mask)
    _, guessed = reconstruction_error(photo, guess)
    _, refitted = reconstruction_error(photo, refit)
    assert refitted > guessed + 10, (guessed, refitted)
    assert np.array_equal(refit[~mask], marked[~mask])  # outside the mask: as given
    assert np.array_equal(refit, refit_flat_overlay(marked, guess, mask))  # the same every time


def test_the_states_are_the_layers_opacity_and_colour():
    _, marked, guess, mask = case()
    pixels = to_float(marked)[mask].astype(np.float64)
    states = find_states(pixels, to_float(guess)[mask].astype(np.float64))
    assert len(states) >= 1  # 1 - 0.55 and 0.55 x white, seen through the noisy guess
    assert states[0].gain == pytest.approx(0.45, abs=0.05)
    assert states[0].offset == pytest.approx([0.55] * 3, abs=0.05)


def test_an_outline_and_the_dense_body_over_it_are_both_inverted():
    photo, marked, guess, mask = case(outlined=True)  # the body shows 0.45² of the photo
    refit = refit_flat_overlay(marked, guess, mask)
    body = strokes(*mask.shape) >= 1
    outline = mask & ~grow(strokes(*mask.shape) > 0, 1)

    def error(pixels: np.ndarray, where: np.ndarray) -> float:
        return float(np.mean((pixels[where].astype(float) - photo[where]) ** 2))

    assert error(refit, outline) < error(guess, outline) / 4
    assert error(refit, body) < error(guess, body) / 4


@pytest.mark.parametrize(("dtype", "channels", "gain"), [(np.uint16, 3, 10), (np.uint8, 1, 6)])
def test_sixteen_bit_and_gray_images_are_refit_in_their_own_type(dtype, channels, gain):
    photo, marked, guess, mask = case(dtype, channels)
    refit = refit_flat_overlay(marked, guess, mask)
    assert refit.dtype == dtype and refit.shape == marked.shape
    assert reconstruction_error(photo, refit)[1] > reconstruction_error(photo, guess)[1] + gain


def test_a_denoiser_that_knows_the_photo_places_the_rims_and_leaves_the_rest():
    """The denoised rounds re-place only the pixels left between two states, so a denoiser
    returning the photo itself (the best a denoiser could do) makes the rims exact; it is
    shown the mask's surroundings at each of ``GUESS_NOISE_LEVELS``, falling, in turn, and
    at the last once more to keep the inverted pixels within their rounding; the same again
    with the searched states; all of it once per stand-in; then once per refit at
    ``GHOST_SIGMA`` to choose between each stand-in's two, and once per stand-in's choice."""
    photo, marked, guess, mask = case()
    calls = []

    def oracle(image: np.ndarray, sigma: float) -> np.ndarray:
        calls.append(sigma)
        assert image.shape == photo.shape  # here the mask's box and margin are the image
        return photo

    plain = refit_flat_overlay(marked, guess, mask)
    guided = refit_flat_overlay(marked, guess, mask, denoise=oracle)
    one_refit = [*GUESS_NOISE_LEVELS, GUESS_NOISE_LEVELS[-1]]
    assert calls == [*one_refit * 4, *[GHOST_SIGMA] * 6]
    rims = (strokes(128, 160) > 0) & (strokes(128, 160) < 1)

    def rim_error(refit: np.ndarray) -> float:
        return float(np.abs(refit[rims].astype(int) - photo[rims]).mean())

    plain_rims, guided_rims = rim_error(plain), rim_error(guided)
    assert guided_rims < plain_rims / 2, (plain_rims, guided_rims)  # measured 1.5, 0.5 levels
    _, plain_psnr = reconstruction_error(photo, plain)
    _, guided_psnr = reconstruction_error(photo, guided)
    assert guided_psnr > plain_psnr + 3, (plain_psnr, guided_psnr)  # 47.0, 51.0 dB
    assert np.array_equal(guided[~mask], marked[~mask])


def test_a_strong_marks_rounding_leaves_room_the_denoised_photo_fills(monkeypatch):
    """Under a mark showing a tenth of the photo, the stored levels hold the photo only to
    within five levels either way; a denoiser that knows the photo finds it inside that
    interval (the mark's state, fitted, is not exact), while one that returns nonsense moves
    no pixel out of it (the states' search is left out: it would let that nonsense choose
    another state)."""
    monkeypatch.setattr("aepipe.images.overlay.searched", refined)
    rng = np.random.default_rng(3)
    photo = to_float(photo_like(rng, 128, 160))
    body = np.zeros((128, 160), np.float32)
    body[32:96, 32:128] = 1.0  # a block, its box and margin the image: one state, no rims
    marked = from_float(overlaid(photo, [(body, (1.0, 1.0, 1.0))], opacity=0.9), np.uint8)
    mask = body > 0
    truth = from_float(photo, np.uint8)
    guess = np.where(mask[..., None], truth, marked)

    def returns(image: np.ndarray):
        return lambda _pixels, _sigma: image

    plain = refit_flat_overlay(marked, guess, mask)
    oracle = refit_flat_overlay(marked, guess, mask, denoise=returns(truth))
    black = refit_flat_overlay(marked, guess, mask, denoise=returns(np.zeros_like(truth)))

    def error(image: np.ndarray) -> np.ndarray:
        return np.abs(image[mask].astype(int) - truth[mask])

    assert error(plain).mean() > 2  # the rounding times ten: measured 2.9 levels
    assert error(oracle).mean() < error(plain).mean() / 5  # measured 0.22
    moved = np.abs(black[mask].astype(int) - plain[mask])
    assert moved.max() <= 6  # half a level / 0.1, and the output's own rounding


def test_without_an_overlay_to_fit_the_removers_output_comes_back():
    photo, _, guess, mask = case()
    # no mark under the mask, the remover agreeing: nor does the photo around it fit a state
    assert np.array_equal(refit_flat_overlay(photo, photo, mask), photo)
    assert np.array_equal(refit_flat_overlay(photo, guess, np.zeros_like(mask)), photo)


def test_where_the_remover_failed_the_photo_around_the_mark_stands_in():
    photo, marked, guess, mask = case()
    painted = guess.copy()  # a remover that paints noise, no blend of the input at all
    painted[mask] = np.random.default_rng(1).integers(0, 256, painted[mask].shape)
    refit = refit_flat_overlay(marked, painted, mask)
    _, left_marked = reconstruction_error(photo, marked)
    _, refitted = reconstruction_error(photo, refit)
    assert refitted > left_marked + 10, (left_marked, refitted)


def test_rim_pixels_the_remover_left_as_they_were_are_not_inverted():
    photo, marked, guess, mask = case()
    rim = mask & (strokes(*mask.shape) == 0)  # masked, not marked: the mask's grown edge
    guess[rim] = marked[rim]  # the remover saw no mark there
    for doubts in (None, doubting(np.zeros_like(mask))):  # the detector grew its mask by 2 px
        refit = refit_flat_overlay(marked, guess, mask, doubts)
        assert np.array_equal(refit[rim], marked[rim])
        assert reconstruction_error(photo, refit)[1] > reconstruction_error(photo, guess)[1] + 10


def test_mark_pixels_the_remover_left_deeper_than_the_grown_rim_are_inverted_all_the_same():
    photo, marked, guess, mask = case()
    coverage = strokes(*mask.shape)
    faint = mask & (coverage > 0) & (coverage < 1)  # the strokes' soft edges, deeper than the rim
    faint[:, 80:] = False
    guess[faint] = marked[faint]  # the remover left half of them as they were
    refit = refit_flat_overlay(marked, guess, mask, doubting(np.zeros_like(mask)))
    left_marked = np.abs(marked[faint].astype(int) - photo[faint]).mean()
    refitted = np.abs(refit[faint].astype(int) - photo[faint]).mean()
    assert refitted < left_marked / 3, (left_marked, refitted)  # 7.8 -> 1.5 levels


def test_a_highlight_under_one_state_alone_is_inverted_though_no_guess_comes_near_it():
    """Bright specks under the strokes' cores, which the remover (like any fill) smoothed
    away: every guess of the photo is far from them, so no mixture explains them; in one
    state alone their inverse needs no guess, and they come back."""
    photo, _, guess, mask = case()
    coverage = strokes(*mask.shape)
    rows, columns = np.nonzero((coverage == 1) & ~grow(coverage < 1, 1))  # the strokes' cores
    specks = np.zeros_like(mask)
    specks[rows[::97], columns[::97]] = True
    lit = photo.copy()
    lit[specks] = 255
    marked = from_float(overlaid(to_float(lit), [(coverage, (1.0,) * 3)], 0.55), np.uint8)
    refit = refit_flat_overlay(marked, guess, mask)  # the guess: the photo without its specks
    dark = specks & (photo.max(axis=2) < 160)  # specks no mixture with the photo comes near
    assert dark.sum() >= 5
    assert refit[dark].min() >= 240, refit[dark]  # the remover left 90-153; the fitted state: 245


def halves(channels: int = 3):
    """(photo, marked, guess, mask, doubtful): the mask holds the mark's left half only, as a
    detector unsure of the rest leaves it; there a remover got the photo right."""
    photo, marked, _, full = case(channels=channels)
    left = np.zeros_like(full)
    left[:, : full.shape[1] // 2] = True
    mask, doubtful = full & left, full & ~left
    return photo, marked, np.where(mask[..., None], photo, marked), mask, doubtful


def doubting(pixels: np.ndarray, turned_down: np.ndarray | None = None) -> Doubts:
    """What a detector growing its mask by 2 px doubted: ``pixels``, and regions it refused."""
    return Doubts(pixels, np.zeros_like(pixels) if turned_down is None else turned_down, 2)


def test_doubtful_regions_the_marks_own_states_explain_are_inverted_too():
    """Proven, they join the mask: inverted with it, and the mask's own guesses of the photo
    no longer see the mark beside it."""
    photo, marked, guess, mask, doubtful = halves()
    refit = refit_flat_overlay(marked, guess, mask, doubting(doubtful))
    _, left_marked = reconstruction_error(photo[doubtful], marked[doubtful])
    _, refitted = reconstruction_error(photo[doubtful], refit[doubtful])
    assert refitted > left_marked + 10, (left_marked, refitted)  # measured 13.3, 43.2 dB
    _, mask_alone = reconstruction_error(photo[mask], refit_flat_overlay(marked, guess, mask)[mask])
    _, mask_joined = reconstruction_error(photo[mask], refit[mask])
    assert mask_joined > mask_alone, (mask_alone, mask_joined)  # measured 32.1, 45.3 dB
    outside = ~(mask | doubtful)
    assert np.array_equal(refit[outside], marked[outside])


def test_a_region_the_detector_turned_down_joins_grown_by_its_rim_once_proven():
    """Letters over busy texture the detector's rule refused: judged on their own pixels (the
    strokes' cores), and once proven inverted with the rim the mask would have had."""
    photo, marked, guess, mask, doubtful = halves()
    cores = doubtful & (strokes(*doubtful.shape) > 0.9)
    rim = doubtful & ~cores
    refit = refit_flat_overlay(marked, guess, mask, doubting(np.zeros_like(mask), cores))
    for where in (cores, rim):
        _, left_marked = reconstruction_error(photo[where], marked[where])
        _, refitted = reconstruction_error(photo[where], refit[where])
        assert refitted > left_marked + 10, (left_marked, refitted)  # rim 31.7 -> 45.7 dB
    outside = ~(mask | doubtful)
    assert np.array_equal(refit[outside], marked[outside])


def test_doubtful_photo_texture_and_gray_pixels_prove_no_mark():
    """Unmarked texture fits a mixture with the mark's state almost anywhere, a pure state
    seldom; on gray pixels any brightening fits a gray mark, so they are left as they are."""
    photo, marked, guess, mask, doubtful = halves()
    grain = np.random.default_rng(2).normal(0, 24, photo.shape)  # busier than the photo
    unmarked = marked.copy()
    unmarked[doubtful] = np.clip(photo + grain, 0, 255).astype(np.uint8)[doubtful]
    refit = refit_flat_overlay(unmarked, guess, mask, doubting(doubtful))
    assert np.array_equal(refit[doubtful], unmarked[doubtful])
    _, marked_gray, guess_gray, mask, doubtful = halves(channels=1)
    refit = refit_flat_overlay(marked_gray, guess_gray, mask, doubting(doubtful))
    assert np.array_equal(refit[doubtful], marked_gray[doubtful])


def test_a_guess_wrong_in_brightness_alone_misleads_a_coloured_marks_rims_less(monkeypatch):
    """A fill errs more in a photo's brightness than in its colour: how much of a coloured
    mark covers a rim pixel is found leaning on the guess's colour."""
    rng = np.random.default_rng(3)
    photo = rng.uniform(0.2, 0.8, (2000, 3))
    red = OverlayState(0.4, 0.6 * np.array([0.9, 0.1, 0.1]))
    coverage = rng.uniform(0.1, 0.9, (2000, 1))
    rims = (1 - coverage) * photo + coverage * red.shows(photo)
    guess = photo + rng.normal(0, 10 / 255, (2000, 1))  # the same error in R, G and B

    def error() -> float:
        return float(np.abs(unblend(rims, guess, [red]).photo - photo).mean())

    weighted = error()
    monkeypatch.setattr("aepipe.images.overlay.LUMINANCE_WEIGHT", 1.0)
    assert weighted < error() / 2


def test_a_state_searched_for_leaves_a_near_opaque_guess_for_the_marks_own():
    """RANSAC against a poor fill can settle on a near-opaque state; the pixels beside the
    mark's edge still show which gain and colour bring its strokes back to the photo."""
    _, marked, _, mask = case()
    seen = to_float(marked).astype(np.float64)
    body = (strokes(128, 160) == 1)[mask]  # the strokes' pure pixels, over the masked ones
    near_opaque = OverlayState(0.1, 0.9 * np.ones(3))
    found = searched(near_opaque, seen, nearest_unmasked(mask), mask, body)
    assert abs(found.gain - 0.45) < 0.05, found  # opacity 0.55
    assert np.allclose(found.offset / (1 - found.gain), 1.0, atol=0.1), found  # white


def test_a_state_no_overlay_can_show_is_dropped_beside_one_it_can():
    """Refined against a remover's pixels, a second state can fit texture with a colour of
    -1.4: no overlay shows that, and inverted beside the mark's own state it would place the
    mark's pixels between the two."""
    mark = OverlayState(0.5, np.full(3, 0.5))  # white at opacity 0.5
    texture = OverlayState(0.858, np.array([-0.202, -0.106, 0.002]))  # colour -1.43, -0.75, 0.01
    assert possible(mark) and not possible(texture)
    assert possible(OverlayState(0.3, np.zeros(3)))  # black
    assert possible(OverlayState(0.3, np.full(3, 0.7)))  # white at opacity 0.7
    kept = overlays([texture, mark])
    assert len(kept) == 1 and kept[0] is mark
    alone = overlays([texture])  # none possible: the states as found
    assert len(alone) == 1 and alone[0] is texture


def test_of_two_refits_the_one_without_a_ghost_of_the_strokes_is_kept():
    """A wrong state leaves the strokes' edges in the picture, which a denoiser (here a
    3 x 3 box blur standing in) changes more than the photo's own texture."""
    import cv2

    photo, _, _, mask = case()
    ghost = np.clip(photo + 12.0 * (strokes(128, 160) == 1)[..., None], 0, 255).astype(np.uint8)
    right, wrong = Refit(mask, photo, photo), Refit(mask, ghost, ghost)

    def blur(image: np.ndarray, sigma: float) -> np.ndarray:
        return cv2.blur(image, (3, 3))

    assert least_marked([wrong, right], blur, CLEARLY).picture is photo
    assert least_marked([right, wrong], blur, CLEARLY).picture is photo
    assert least_marked([wrong, right], blur, 0.0).picture is ghost  # no margin is enough


def test_a_refit_the_detector_still_sees_the_mark_in_is_not_kept_when_another_took_it_out():
    """A refit whose states were wrong may leave the mark whole, and the ghost measure, which
    weighs the photo's texture too, may still keep it; a detector (here one that sees every
    brightening of the photo, 12 levels for certain) tells that refit from one that took the
    mark out, but nothing finer: refits it sees the mark in alike, or hardly at all, pass."""
    photo, _, _, mask = case()

    def refit_seen(levels: int) -> Refit:
        picture = np.clip(photo.astype(int) + levels * mask[..., None], 0, 255).astype(np.uint8)
        return Refit(mask, picture, picture)

    def detector(image: np.ndarray) -> np.ndarray:
        assert image.shape == photo.shape  # the mask's box and margin are the image
        return np.clip((image.astype(float) - photo).max(axis=2) / 12, 0, 1)

    whole, out, alike, faint = refit_seen(12), refit_seen(1), refit_seen(6), refit_seen(4)
    sightings = Sightings([[whole, out], [faint]], detector)
    assert sightings(whole) == 1.0 and sightings(out) == 1 / 12
    assert sightings.still_marked(whole)
    assert not sightings.still_marked(faint)  # 1/12 is not under a fifth of 4/12
    assert Sightings([[alike], [out]], detector).still_marked(alike)  # but is of 6/12
    assert not Sightings([[alike], [faint]], detector).still_marked(alike)
    hardly = refit_seen(1)  # seen 1/12, under ``STILL_SEEN``
    assert not Sightings([[hardly], [refit_seen(0)]], detector).still_marked(hardly)


def test_the_ghost_measures_choice_is_made_again_when_the_detector_still_sees_the_mark_in_it(
    monkeypatch,
):
    """Where the ghost measure keeps the remover's refit (the margins favour it) but that
    refit left the mark whole, the refit the detector does not still see the mark in is
    kept; the detector is shown the kept refit only, when it sees no mark there."""
    photo, marked, guess, mask = case()
    monkeypatch.setattr(overlay, "CLEARLY", 0.0)  # the ghost measure keeps the first refit
    monkeypatch.setattr(overlay, "FILL_CLEARLY", 0.0)
    shown = []

    def denoise(image: np.ndarray, sigma: float) -> np.ndarray:
        return photo

    def left_whole(image: np.ndarray) -> np.ndarray:
        shown.append(image)
        return np.full(image.shape[:2], 0.9 if np.array_equal(image, marked) else 0.0, np.float32)

    def sees_no_mark(image: np.ndarray) -> np.ndarray:
        shown.append(image)
        return np.zeros(image.shape[:2], np.float32)

    first = refit_flat_overlay(marked, guess, mask, denoise=denoise, mark_probability=sees_no_mark)
    assert len(shown) == 1  # the choice alone
    shown.clear()
    monkeypatch.setattr(overlay.Scene, "inverse", left_mark_on_first(overlay.Scene.inverse, marked))
    again = refit_flat_overlay(marked, guess, mask, denoise=denoise, mark_probability=left_whole)
    assert len(shown) == 4  # the choice, then every refit
    assert not np.array_equal(again, marked) and np.array_equal(again[~mask], marked[~mask])
    assert not np.array_equal(first, again)


def left_mark_on_first(inverse, marked: np.ndarray):
    """``Scene.inverse`` whose first refit comes back as the marked image itself."""
    calls = []

    def patched(self, states, doubts, denoise):
        refit = inverse(self, states, doubts, denoise)
        calls.append(refit)
        return Refit(refit.inverted, marked.copy(), marked.copy()) if len(calls) == 1 else refit

    return patched


def test_where_the_remover_misleads_the_states_the_fill_s_refit_is_kept(monkeypatch):
    """A remover that washed the photo out (0.6 B + 0.2 in the mask) leads RANSAC to states
    of the washed photo; the fill of the mask, right along the strokes' edges, finds the
    layers', and a denoiser that knows the photo changes that refit clearly less."""
    photo, marked, _, mask = case(outlined=True)
    washed = marked.copy()
    washed[mask] = from_float(0.6 * to_float(photo) + 0.2, np.uint8)[mask]

    def oracle(image: np.ndarray, sigma: float) -> np.ndarray:
        return photo

    kept = refit_flat_overlay(marked, washed, mask, denoise=oracle)
    monkeypatch.setattr(overlay, "FILL_CLEARLY", 0.0)  # the remover's refit, whatever the fill's
    remover_only = refit_flat_overlay(marked, washed, mask, denoise=oracle)
    _, kept_psnr = reconstruction_error(photo, kept)
    _, remover_psnr = reconstruction_error(photo, remover_only)
    assert kept_psnr > remover_psnr + 5, (remover_psnr, kept_psnr)  # measured 47.0, 54.5 dB
