"""A visible watermark as a flat overlay: a few layers, each of one opacity and one colour.

Under a layer of opacity α and colour c every pixel shows ``(1 - α)·B + α·c``, an affine map
of the photo ``B`` beneath; where two layers overlap (a text body over its outline) the
composite is affine again, as are multiply and screen blends. A mark is therefore a handful
of *states* (affine maps; the identity for pixels it does not cover) and every masked pixel
is in one state or, on the antialiased rim between two, a mixture of them. A remover
network's matte errs in shape (docs/quality.md, "Which half of the matte holds the fill
back"); :func:`refit_flat_overlay` keeps what it gets right, roughly which state each pixel
is in, and takes the states' exact maps from the image itself:

1. states: RANSAC over the masked pixels for ``marked = gain·removed + offset`` (one gain for
   all channels), the remover's output standing in for the photo; at most two. Where the
   remover failed (a busy photo under a strong mark: its pixels follow no state), a
   Navier-Stokes fill of the whole mask stands in instead: exact along the strokes' edges.
   Given a denoiser, the fill stands in as well, and steps 2-6 run once per stand-in;
2. refined: each state's map again from its pixels paired with the nearest pixel outside the
   mask, the same photo a few pixels away, by reduced major axis (both sides carry texture),
   kept when the pairs agree better under it; a state whose colour no overlay has
   (:func:`possible`) is dropped while another remains. Given a denoiser, each state is also
   *searched* for over a grid of gains (the pairs' offset, a colour in gamut), steps 3-6 run
   with both sets of states, and the picture the denoiser would change least is kept: a wrong state
   leaves a ghost of the strokes, edges no photo has. The fill's picture must be clearly less
   changed than the remover's (``FILL_CLEARLY``) to be kept. Given the detector too, the
   choice stands unless the detector still sees the mark in it where another refit took
   the mark out (:class:`Sightings`): then the choice is made again among the refits it
   does not still see the mark in;
3. extended: what the detector doubted outside the mask (:class:`Doubts`: pixels near a lower
   probability, a faint copy of a tiled mark, a rim it cut short; and the regions its rule
   turned down, letters over busy texture) joins it where the same states prove themselves
   there; a state found in the mask is evidence a state found in texture is not;
4. inverted: per pixel the mixture of two states that explains it best given a guess of the
   photo, then ``B = (marked - offset(t)) / gain(t)`` exactly. The guess is first the mean of
   step 1's stand-in (a Navier-Stokes fill in the joined regions) and a Navier-Stokes fill of
   the mark's strokes (their errors differ), then, twice, the median of the photo so
   recovered (a pixel mixed wrongly stands out);
5. guided, given a denoiser: the pixels still between two states (the rims) are placed again,
   round after round, against the photo so recovered, denoised at a σ falling from coarse to
   fine: a network trained on photos keeps the texture a median flattens, and each round's
   better photo guides the next;
6. consistent with the rounding: the marked image stores ``gain·B + offset`` rounded to a
   level, so ``B`` lies within half a level / ``gain`` of its inverted value; each inverted
   pixel moves to the point of that interval nearest the photo so recovered, denoised once
   more. Under a strong mark (a gain of 0.1) the interval is ten levels wide, and the
   denoiser's guess, inside it, is nearer the photo than its middle.

Where the remover left a pixel of the mask's grown rim as it was (a false part of the mask:
the pixels step 1 already counts as the identity's) or no mixture comes near the pixel (a state
RANSAC missed), the remover's own pixel stays (in a joined region, the marked pixel, unless a
mixture explains it within ``INLIER_LEVEL``); deeper in the mask, where the detector was sure,
a pixel the remover left is its failure, not the photo, and the states decide (the refits
are compared as if it had been kept: :class:`Refit`). A pixel no mixture comes near but which
is nearest one of the mark's states *alone* is inverted all the same in the picture delivered:
its inverse needs no guess of the photo, whose error (over texture) is what put it far from
every mixture; a mixture's share, or the identity, is only as good as that guess. Not under a
near-opaque state (``ALONE_GAIN``), often a wrong one, which multiplies what it misses. When
no state explains enough pixels under either stand-in, the remover's pixels come back
unchanged. Dense marks are inverted too: a body over its outline may leave a tenth of the
photo, yet its rounding times ten beat the remover's fill on average on every set measured
(docs/quality.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from aepipe.images.fill import grow, inpaint_classical
from aepipe.images.pixels import from_float, quantum, to_float

INLIER_LEVEL = 10 / 255  # a pixel fits a state within this much in every channel
MIN_SHARE = 0.1  # a state explains at least this share of the masked pixels ...
MIN_PIXELS = 100  # ... and at least this many
MIN_STATE_GAIN = 0.05  # a body over its outline, both at 0.7 opacity, shows 0.09 of the photo
MAX_STATE_GAIN = 0.95  # an opacity under 5 % is no overlay
MAX_STATES = 2  # a body and its outline
HYPOTHESES = 300  # RANSAC draws per state, scored on at most SCORED pixels
SCORED = 20_000
PAIR_DISTANCE = 6.0  # a state's pixel pairs with the nearest unmasked pixel this close
REFINE_ROUNDS = 2
MEDIAN_ROUNDS = 2  # guesses of the photo from its own 5 x 5 median
EXPLAINED = 30 / 255  # a pixel farther than this from every mixture keeps the remover's value
ALONE_GAIN = 0.3  # ... unless in one state alone that leaves at least this much of the photo
UNTOUCHED = 4 / 255  # a pixel the remover left this close to the input is not the mark's
PURE = 0.95  # a mixture this far towards one state counts as that state's pixel
LUMINANCE_WEIGHT = 0.25  # of a guess's brightness against its colour, finding a mixture
PROOF_SHARE = 0.1  # a doubtful region is the mark's when this share of its changed pixels ...
MIN_PROOF = 3  # ... and this many are in one of the mark's states alone
GRAY_SPREAD = 3 / 255  # a pixel whose channels differ less is gray: no proof of a colour
# Rims placed again against the photo so far, denoised at each σ (0-255) in turn, falling
# log-spaced from 12 to 4: begun at 15 or more, the denoiser moves a clear sky's rims wrongly.
GUESS_NOISE_LEVELS = tuple(float(sigma) for sigma in np.geomspace(12.0, 4.0, 10))
CONTEXT_MARGIN = 32  # a network judging masked pixels sees their bounding box and this much more
GAIN_GRID = np.linspace(0.03, 0.97, 95)  # the gains a state's search tries
COLOUR_SLACK = 0.1  # a state's colour lies this close to [0, 1] (:func:`possible`)
GHOST_SIGMA = 8.0  # the σ at which the denoiser judges which refit leaves less of the mark
CLEARLY = 0.95  # the searched states win when the denoiser changes their refit less than this share
FILL_CLEARLY = 0.75  # ... and the fill's refit wins over the remover's below this share
STILL_SEEN = 0.1  # a refit the detector still sees the mark in this much (mean probability) ...
SEEN_RATIO = 0.2  # ... is not kept when another brought that under this share of it

#: An image (native dtype) and a noise level σ (0-255) -> the image denoised.
Denoiser = Callable[[np.ndarray, float], np.ndarray]
#: An image (native dtype) -> H x W float, the probability that each pixel shows a mark.
MarkProbability = Callable[[np.ndarray], np.ndarray]
#: Per pixel, the distance to the nearest unmasked pixel and that pixel's flat index.
Pairs = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Doubts:
    """What a detector was unsure of outside its mask, for the mark's own states to prove."""

    pixels: np.ndarray  # H x W bool: near a lower probability, grown as the mask is
    turned_down: np.ndarray  # H x W bool: regions as sure as the mask's that its rule refused
    rim: int  # pixels the mask was grown by; a proven turned-down region joins grown as much


@dataclass(frozen=True)
class OverlayState:
    """A pixel in this state shows ``gain·B + offset`` of the photo ``B`` under it."""

    gain: float  # 1 - opacity
    offset: np.ndarray  # (C,) opacity x colour, in [0, 1] units

    def shows(self, photo: np.ndarray) -> np.ndarray:
        return self.gain * photo + self.offset


#: A state, the image (float), its pairs, the mask and the state's pixels -> a better state.
Refinement = Callable[[OverlayState, np.ndarray, Pairs, np.ndarray, np.ndarray], OverlayState]


@dataclass(frozen=True)
class Unblended:
    """Every masked pixel explained as a mixture of two states, and inverted."""

    photo: np.ndarray  # (N, C) the photo under the mark
    state: np.ndarray  # (N,) the index (0: the identity) of the state a pixel is mostly in
    pure: np.ndarray  # (N,) bool: in that state alone (not on a rim)
    residual: np.ndarray  # (N,) how far (largest channel) the pixel is from that mixture
    gain: np.ndarray  # (N,) that mixture's gain, which the photo was divided by

    def replaced(self, where: np.ndarray, other: Unblended) -> Unblended:
        """This fit with the pixels ``where`` (N bool) taken from ``other``."""
        return Unblended(
            np.where(where[:, None], other.photo, self.photo),
            np.where(where, other.state, self.state),
            np.where(where, other.pure, self.pure),
            np.where(where, other.residual, self.residual),
            np.where(where, other.gain, self.gain),
        )

    def nearest_consistent(self, guesses: np.ndarray, level: float) -> Unblended:
        """This fit with each photo pixel the point nearest ``guesses`` (N, C) among those its
        marked value, rounded to ``level``, allows: within ``level / 2 / gain``."""
        width = (level / 2 / self.gain)[:, None]
        photo = np.clip(guesses, self.photo - width, self.photo + width)
        return Unblended(photo, self.state, self.pure, self.residual, self.gain)


def refit_flat_overlay(
    marked: np.ndarray,
    removed: np.ndarray,
    mask: np.ndarray,
    doubts: Doubts | None = None,
    denoise: Denoiser | None = None,
    mark_probability: MarkProbability | None = None,
) -> np.ndarray:
    """``marked`` (H x W x C) with the mark taken out: inside ``mask`` the pixels of
    ``removed`` (a remover's output) recomputed as the inverse of a flat overlay, or as the
    remover left them when no overlay fits; the regions of ``doubts`` in which that overlay
    proves itself (:func:`proven_doubts`) inverted with it; every other pixel as in
    ``marked``. With ``denoise``, the rims are placed again against the photo so recovered,
    denoised (:func:`guided_rims`), and every inverted pixel then moves, within what its
    rounding allows, towards that photo denoised once more
    (:meth:`Unblended.nearest_consistent`); the states are searched for too (:func:`searched`),
    and with each of the two stand-ins (:func:`stand_ins`): :func:`least_marked` keeps one
    picture of the refits, chosen again among the others where ``mark_probability`` (a
    detector) still sees the mark in it (:class:`Sightings`)."""
    out = marked.copy()
    out[mask] = removed[mask]
    if not mask.any() or mask.all():
        return out
    seen = to_float(marked).astype(np.float64)
    pixels, remover = seen[mask], to_float(removed)[mask].astype(np.float64)
    untouched = np.abs(pixels - remover).max(axis=1) < UNTOUCHED
    rim = in_grown_rim(mask, doubts)
    pairs = nearest_unmasked(mask)
    per_stand_in: list[list[Refit]] = []
    for guide in stand_ins(marked, mask, remover):
        states = find_states(pixels, guide)
        if not states:
            continue
        scene = Scene(marked, out, seen, mask, guide, untouched, rim)
        per_stand_in.append(scene.refits(states, pairs, doubts, denoise))
        if denoise is None:  # nothing to judge a second refit by: the first stand-in that fits
            break
    if not per_stand_in:
        return out
    if denoise is None:
        return per_stand_in[0][0].picture
    choice = least_ghosted(per_stand_in, denoise)
    if mark_probability is None:
        return choice.picture
    sightings = Sightings(per_stand_in, mark_probability)
    if not sightings.still_marked(choice):
        return choice.picture
    unseen = [
        [refit for refit in group if not sightings.still_marked(refit)] for group in per_stand_in
    ]
    return least_ghosted(unseen, denoise).picture


def stand_ins(marked: np.ndarray, mask: np.ndarray, remover: np.ndarray) -> Iterator[np.ndarray]:
    """What stands in for the photo under the mark (N x C over ``mask``) while its states are
    sought: the ``remover``'s pixels, then a Navier-Stokes fill of the mask, computed only when
    asked for. The fill is wrong in the middle of a wide stroke but right along its edges and
    on a flat photo, where the remover may have failed (busy texture under a strong mark,
    an outline and its body taken for one state, a sky saturated to white)."""
    yield remover
    yield fill_of(marked, mask)


@dataclass(frozen=True)
class Refit:
    """One inverse of the overlay: the pixels it inverted, the picture, and the picture refits
    are compared by (:func:`least_marked`), in which every masked pixel the remover left as it
    was keeps its value, deep in the mask too. There the states alone speak, and a choice
    between refits judged with those pixels turns on them (docs/quality.md)."""

    inverted: np.ndarray  # H x W bool
    picture: np.ndarray
    judged: np.ndarray


@dataclass(frozen=True)
class Scene:
    """What every refit of one image starts from."""

    marked: np.ndarray  # the input, native dtype
    out: np.ndarray  # the input with the remover's pixels in the mask
    seen: np.ndarray  # the input as float64
    mask: np.ndarray
    guide: np.ndarray  # (N, C) over the mask: the stand-in the states were found against
    untouched: np.ndarray  # (N,) over the mask: pixels the remover left as they were
    rim: np.ndarray  # (N,) over the mask: in the rim it was grown by (:func:`in_grown_rim`)

    def refined(
        self, states: list[OverlayState], refine: Refinement, pairs: Pairs
    ) -> list[OverlayState]:
        """``states`` refined ``REFINE_ROUNDS`` times, each on the pixels it explains alone;
        those no overlay can show then dropped (:func:`overlays`)."""
        pixels = self.seen[self.mask]
        for _ in range(REFINE_ROUNDS):
            fit = unblend(pixels, self.guide, states)
            states = [
                refine(state, self.seen, pairs, self.mask, fit.pure & (fit.state == k))
                for k, state in enumerate(states, start=1)
            ]
        return overlays(states)

    def refits(
        self,
        states: list[OverlayState],
        pairs: Pairs,
        doubts: Doubts | None,
        denoise: Denoiser | None,
    ) -> list[Refit]:
        """Steps 2-6: the ``states`` refined and inverted; given a denoiser, also searched
        for and inverted, when that finds other states."""
        first = self.refined(states, refined, pairs)
        refits = [self.inverse(first, doubts, denoise)]
        if denoise is None:
            return refits
        searched_states = self.refined(states, searched, pairs)
        if not same_states(searched_states, first):
            refits.append(self.inverse(searched_states, doubts, denoise))
        return refits

    def inverse(
        self, states: list[OverlayState], doubts: Doubts | None, denoise: Denoiser | None
    ) -> Refit:
        """Steps 3-6 with these ``states``."""
        marked, out, seen, mask = self.marked, self.out, self.seen, self.mask
        # 3. what the detector doubted joins the mask where the states prove it
        proven = np.zeros_like(mask) if doubts is None else proven_doubts(out, seen, doubts, states)
        proven &= ~mask
        inverted = mask | proven
        joined = proven[inverted]  # over the inverted pixels: those of a proven region
        pixels, guess = seen[inverted], np.empty((int(inverted.sum()), seen.shape[2]))
        guess[~joined] = self.guide
        if proven.any():
            guess[joined] = fill_of(out, proven)
        kept = np.zeros_like(joined)
        kept[~joined] = self.untouched
        # 4. inverted against the stand-in and a fill of the strokes, then the photo's median
        fit = unblend(pixels, guess, states)
        fit = unblend(pixels, (guess + filled_strokes(marked, inverted, fit)) / 2, states)
        for _ in range(MEDIAN_ROUNDS):
            guess = median_guess(composed(out, inverted, fit, strict=joined), inverted)
            fit = unblend(pixels, guess, states)
        if denoise is not None:  # 5. the rims guided; 6. every pixel within its rounding
            fit = guided_rims(out, inverted, pixels, fit, states, denoise, joined)
            picture = composed(out, inverted, fit, strict=joined)
            guess = denoised_guess(picture, inverted, denoise, GUESS_NOISE_LEVELS[-1])
            fit = fit.nearest_consistent(guess, quantum(marked.dtype))
        judged = composed(out, inverted, fit, kept, joined)
        kept[~joined] &= self.rim
        alone = fit.pure & (fit.state != 0) & (fit.gain >= ALONE_GAIN) & ~joined
        return Refit(inverted, composed(out, inverted, fit, kept, joined, alone), judged)


def least_marked(refits: list[Refit], denoise: Denoiser, margin: float) -> Refit:
    """The refit the denoiser would change least at ``GHOST_SIGMA`` (in its ``judged``
    picture) over the pixels any of them inverted: a wrong state leaves a ghost of the mark's
    strokes there, an edge no photo has, which the denoiser takes out. The first refit is kept
    unless another is changed less than ``margin`` times as much: nearly level, the measure is
    texture, not the mark."""
    first, *others = refits
    if not others:
        return first
    where = np.logical_or.reduce([refit.inverted for refit in refits])

    def ghost(refit: Refit) -> float:
        shown = to_float(refit.judged)[where].astype(np.float64)
        change = shown - denoised_guess(refit.judged, where, denoise, GHOST_SIGMA)
        return float(np.mean(np.abs(change).max(axis=1) ** 2))

    ghosts = [ghost(refit) for refit in refits]
    best = int(np.argmin(ghosts))
    return refits[best] if ghosts[best] < margin * ghosts[0] else first


def least_ghosted(per_stand_in: list[list[Refit]], denoise: Denoiser) -> Refit:
    """The refit :func:`least_marked` keeps of each stand-in's (the searched states' only
    where ``CLEARLY`` less ghosted), then of those (the fill's only ``FILL_CLEARLY``)."""
    picks = [least_marked(refits, denoise, CLEARLY) for refits in per_stand_in if refits]
    return least_marked(picks, denoise, FILL_CLEARLY)


class Sightings:
    """How much of the mark a detector still sees in each refit's picture: its mean
    probability over the pixels any refit inverted, each computed when first asked for.
    The ghost measure weighs the photo's texture as much as the mark and may keep a refit
    that left the mark whole (its states wrong); the detector sees the mark itself, but is
    no finer a judge than that: a near-exact picture can look more marked to it than one
    15 dB worse (docs/quality.md)."""

    def __init__(self, per_stand_in: list[list[Refit]], mark_probability: MarkProbability):
        self.refits = [refit for group in per_stand_in for refit in group]
        self.where = np.logical_or.reduce([refit.inverted for refit in self.refits])
        self.box = context_box(self.where)
        self.mark_probability = mark_probability
        self.seen: dict[int, float] = {}

    def __call__(self, refit: Refit) -> float:
        if id(refit) not in self.seen:
            probability = self.mark_probability(refit.picture[self.box])
            self.seen[id(refit)] = float(probability[self.where[self.box]].mean())
        return self.seen[id(refit)]

    def still_marked(self, refit: Refit) -> bool:
        """Whether the detector sees the mark in ``refit`` more than ``STILL_SEEN`` while
        another refit brought that under ``SEEN_RATIO`` of it."""
        seen = self(refit)
        return seen > STILL_SEEN and min(map(self, self.refits)) < SEEN_RATIO * seen


def same_states(one: Sequence[OverlayState], other: Sequence[OverlayState]) -> bool:
    return len(one) == len(other) and all(
        a.gain == b.gain and np.array_equal(a.offset, b.offset)
        for a, b in zip(one, other, strict=True)
    )


def guided_rims(
    fallback: np.ndarray,
    inverted: np.ndarray,
    pixels: np.ndarray,
    fit: Unblended,
    states: list[OverlayState],
    denoise: Denoiser,
    strict: np.ndarray,
) -> Unblended:
    """``fit`` with the ``inverted`` ``pixels`` it leaves between two states placed again,
    once for each of ``GUESS_NOISE_LEVELS``, against the photo as the fit so far recovers it
    (:func:`composed` with ``fallback`` and ``strict``), denoised at that σ. Pixels in one
    state alone keep their place."""
    for sigma in GUESS_NOISE_LEVELS:
        picture = composed(fallback, inverted, fit, strict=strict)
        guess = denoised_guess(picture, inverted, denoise, sigma)
        fit = fit.replaced(~fit.pure, unblend(pixels, guess, states))
    return fit


def proven_doubts(
    restored: np.ndarray, seen: np.ndarray, doubts: Doubts, states: list[OverlayState]
) -> np.ndarray:
    """H x W bool: the regions of ``doubts`` the mark's ``states`` prove (:func:`proven_regions`).
    A turned-down region is judged on its own pixels, then joins grown by the mask's rim: grown
    first, it would merge with the texture around it and dilute the proof."""
    proven = np.zeros(doubts.pixels.shape, dtype=bool)
    if doubts.pixels.any():
        proven |= proven_regions(restored, seen, doubts.pixels, states)
    if doubts.turned_down.any():
        proven |= grow(proven_regions(restored, seen, doubts.turned_down, states), doubts.rim)
    return proven


def proven_regions(
    restored: np.ndarray, seen: np.ndarray, doubtful: np.ndarray, states: list[OverlayState]
) -> np.ndarray:
    """H x W bool: the connected regions of ``doubtful`` in which the mark's ``states``
    prove themselves: of their coloured pixels that differ from a Navier-Stokes fill of the
    region, at least ``PROOF_SHARE`` (and ``MIN_PROOF``) are in one state alone within
    ``INLIER_LEVEL``. Photo texture fits a mixture with the identity anywhere (any pixel lies
    a little towards the mark's colour), pure states seldom; and on gray pixels any
    brightening fits a gray state, so they prove nothing."""
    import cv2

    count, labels = cv2.connectedComponents(doubtful.view(np.uint8), connectivity=8)
    label = labels[doubtful]
    pixels = seen[doubtful]
    guess = fill_of(restored, doubtful)
    fit = unblend(pixels, guess, states)
    changed = np.abs(pixels - guess).max(axis=1) >= INLIER_LEVEL
    coloured = np.ptp(pixels, axis=1) >= GRAY_SPREAD
    explained = changed & (fit.residual < INLIER_LEVEL) & (fit.state != 0)
    proof = np.bincount(label, explained & fit.pure & coloured, count)
    needed = np.maximum(MIN_PROOF, PROOF_SHARE * np.bincount(label, changed & coloured, count))
    taken = proof >= needed
    taken[0] = False
    return taken[labels]


def composed(
    fallback: np.ndarray,
    inverted: np.ndarray,
    fit: Unblended,
    kept: np.ndarray | None = None,
    strict: np.ndarray | None = None,
    alone: np.ndarray | None = None,
) -> np.ndarray:
    """``fallback`` with the ``inverted`` pixels the fit can be trusted with replaced by its
    photo: within ``EXPLAINED`` of their mixture, or ``INLIER_LEVEL`` where ``strict`` (over
    the inverted pixels: a doubtful region's, which no remover vouched for), and ``alone``
    however far; ``kept`` keep the fallback's value whatever the fit says."""
    level = EXPLAINED if strict is None else np.where(strict, INLIER_LEVEL, EXPLAINED)
    trusted = fit.residual < level
    if alone is not None:
        trusted |= alone
    if kept is not None:
        trusted &= ~kept
    out = fallback.copy()
    unblended = from_float(np.clip(fit.photo, 0.0, 1.0), fallback.dtype)
    out[inverted] = np.where(trusted[:, None], unblended, out[inverted])
    return out


def fill_of(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """(N, C) float over ``region``: ``image`` filled there from around it by Navier-Stokes."""
    return to_float(inpaint_classical(image, region))[region].astype(np.float64)


def filled_strokes(marked: np.ndarray, mask: np.ndarray, fit: Unblended) -> np.ndarray:
    """(N, C) over the masked pixels: ``marked`` with the pixels the fit puts in a state
    (grown 1 px) filled from around them by Navier-Stokes, thin holes it fills well."""
    strokes = np.zeros_like(mask)
    strokes[mask] = fit.state != 0
    return to_float(inpaint_classical(marked, grow(strokes, 1) & mask))[mask].astype(np.float64)


def median_guess(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N, C) over the masked pixels: the 5 x 5 median of ``image``, channel by channel."""
    import cv2

    planes = to_float(image).astype(np.float32)
    median = [
        cv2.medianBlur(np.ascontiguousarray(planes[..., c]), 5) for c in range(planes.shape[2])
    ]
    return np.stack(median, axis=-1)[mask].astype(np.float64)


def denoised_guess(
    image: np.ndarray, mask: np.ndarray, denoise: Denoiser, sigma: float
) -> np.ndarray:
    """(N, C) over the masked pixels: ``image`` denoised at ``sigma``, the denoiser shown
    only the mask's :func:`context_box`."""
    box = context_box(mask)
    return to_float(denoise(image[box], sigma))[mask[box]].astype(np.float64)


def context_box(mask: np.ndarray) -> tuple[slice, slice]:
    """The bounding box of ``mask`` and ``CONTEXT_MARGIN`` around it: what a network judging
    the masked pixels needs to see of the image, however large the image."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, left = max(rows[0] - CONTEXT_MARGIN, 0), max(columns[0] - CONTEXT_MARGIN, 0)
    bottom, right = rows[-1] + 1 + CONTEXT_MARGIN, columns[-1] + 1 + CONTEXT_MARGIN
    return slice(top, bottom), slice(left, right)


def fit_state(pixels: np.ndarray, photo: np.ndarray) -> OverlayState:
    """Least squares ``pixels = gain·photo + offset`` over (N, C) samples."""
    n, channels = pixels.shape
    design = np.zeros((n * channels, 1 + channels))
    design[:, 0] = photo.T.ravel()
    for c in range(channels):
        design[c * n : (c + 1) * n, 1 + c] = 1.0
    solution, *_ = np.linalg.lstsq(design, pixels.T.ravel(), rcond=None)
    return OverlayState(float(solution[0]), solution[1:])


def plausible(state: OverlayState) -> bool:
    return MIN_STATE_GAIN < state.gain < MAX_STATE_GAIN


def possible(state: OverlayState) -> bool:
    """Whether an overlay can show ``state``: its colour, ``offset / (1 - gain)``, lies within
    ``COLOUR_SLACK`` of [0, 1]."""
    opacity = 1 - state.gain
    low, high = -COLOUR_SLACK * opacity, (1 + COLOUR_SLACK) * opacity
    return bool(((state.offset >= low) & (state.offset <= high)).all())


def overlays(states: list[OverlayState]) -> list[OverlayState]:
    """The ``states`` an overlay can show (:func:`possible`), or all of them when none can. A
    state of colour -1.4 or 1.7 fits texture the remover left, not a mark; inverted beside
    the mark's own state it places the mark's pixels between the two."""
    return [state for state in states if possible(state)] or states


def fits(state: OverlayState, pixels: np.ndarray, photo: np.ndarray) -> np.ndarray:
    return np.abs(pixels - state.shows(photo)).max(axis=1) < INLIER_LEVEL


def find_states(pixels: np.ndarray, guesses: np.ndarray) -> list[OverlayState]:
    """Up to ``MAX_STATES`` overlay states, each the map most of the remaining masked pixels
    follow (RANSAC, seeded: the same image gives the same states); pixels the remover left
    as they were are the identity's and take no part."""
    rng = np.random.default_rng(0)
    left = np.abs(pixels - guesses).max(axis=1) >= INLIER_LEVEL
    enough = max(MIN_PIXELS, MIN_SHARE * len(pixels))
    states: list[OverlayState] = []
    while len(states) < MAX_STATES and left.sum() >= MIN_PIXELS:
        candidates = np.flatnonzero(left)
        scored = rng.choice(candidates, min(SCORED, len(candidates)), replace=False)
        best: OverlayState | None = None
        best_count = 0
        for _ in range(HYPOTHESES):
            drawn = rng.choice(candidates, 3, replace=False)
            state = fit_state(pixels[drawn], guesses[drawn])
            if not plausible(state):
                continue
            count = int(fits(state, pixels[scored], guesses[scored]).sum())
            if count > best_count:
                best, best_count = state, count
        if best is None:
            break
        for _ in range(2):  # refit on its inliers, which gathers the state's other pixels
            inliers = left & fits(best, pixels, guesses)
            again = fit_state(pixels[inliers], guesses[inliers])
            if not plausible(again):
                break
            best = again
        inliers = left & fits(best, pixels, guesses)
        if inliers.sum() < enough or not plausible(best):
            break
        states.append(best)
        left &= ~inliers
    return states


def in_grown_rim(mask: np.ndarray, doubts: Doubts | None) -> np.ndarray:
    """(N,) bool over the masked pixels: those within the rim the detector grew its mask by
    (``doubts.rim`` square steps from the outside; every masked pixel when no detector says).
    The remover leaving such a pixel as it was is evidence it is the photo; inside the
    detector's sure core, where the remover failed on part of a mark (busy texture, a dark
    outline), it is not."""
    import cv2

    if doubts is None:
        return np.ones(int(mask.sum()), dtype=bool)
    steps = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_C, 3)
    return steps[mask] <= doubts.rim


def nearest_unmasked(mask: np.ndarray) -> Pairs:
    """Per pixel: the distance to the nearest pixel outside ``mask`` and that pixel's flat index."""
    import cv2

    outside = ~mask
    distance, labels = cv2.distanceTransformWithLabels(
        mask.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    where = np.zeros(int(labels.max()) + 1, dtype=np.int64)
    flat = np.flatnonzero(outside)
    where[labels.ravel()[flat]] = flat
    return distance, where[labels]


def paired(
    seen: np.ndarray, pairs: Pairs, mask: np.ndarray, members: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(shown, photo): the ``members`` (over the masked pixels) within ``PAIR_DISTANCE`` of
    the mask's edge and the nearest unmasked pixel of each, the same photo a few pixels
    away; None when too few."""
    distance, nearest = pairs
    chosen = np.zeros_like(mask)
    chosen[mask] = members
    chosen &= distance <= PAIR_DISTANCE
    if chosen.sum() < MIN_PIXELS // 2:
        return None
    return seen[chosen], seen.reshape(-1, seen.shape[2])[nearest[chosen]]


def disagreement(candidate: OverlayState, shown: np.ndarray, photo: np.ndarray) -> float:
    """How far, typically, a pixel inverted by ``candidate`` is from its pair's photo."""
    inverted = (shown - candidate.offset) / candidate.gain
    return float(np.median(np.abs(inverted - photo).max(axis=1)))


def refined(
    state: OverlayState, seen: np.ndarray, pairs: Pairs, mask: np.ndarray, members: np.ndarray
) -> OverlayState:
    """``state`` fitted again on the image alone: its pixels (``members``, over the masked
    ones) against the nearest unmasked pixels, by reduced major axis; unchanged when too few
    pairs, an implausible gain, or when the pairs agree no better under the new fit."""
    found = paired(seen, pairs, mask, members)
    if found is None:
        return state
    shown, photo = found
    spread_shown = ((shown - shown.mean(axis=0)) ** 2).sum()
    spread_photo = ((photo - photo.mean(axis=0)) ** 2).sum()
    if spread_shown <= 0 or spread_photo <= 0:
        return state
    gain = float(np.sqrt(spread_shown / spread_photo))
    if not MIN_STATE_GAIN < gain <= 1.0:  # fainter than RANSAC admits is allowed here
        return state
    fitted = OverlayState(gain, shown.mean(axis=0) - gain * photo.mean(axis=0))
    better = disagreement(fitted, shown, photo) < disagreement(state, shown, photo)
    return fitted if better else state


def searched(
    state: OverlayState, seen: np.ndarray, pairs: Pairs, mask: np.ndarray, members: np.ndarray
) -> OverlayState:
    """The state whose inverse its pixels (``members``) agree with their pairs best, of
    ``state`` and one per gain of ``GAIN_GRID`` (each with the pairs' median offset, kept
    when its colour lies within ``COLOUR_SLACK`` of [0, 1]): RANSAC against a remover's
    pixels can settle on a near-opaque state where the mark is faint, which no refinement
    of that state leaves. The pairs' texture makes the search noisy, so a refit with its
    states must still beat the first one (:func:`least_marked`)."""
    found = paired(seen, pairs, mask, members)
    if found is None:
        return state
    shown, photo = found
    best, lowest = state, disagreement(state, shown, photo)
    for gain in GAIN_GRID:
        candidate = OverlayState(float(gain), np.median(shown - gain * photo, axis=0))
        if not possible(candidate):
            continue
        score = disagreement(candidate, shown, photo)
        if score < lowest:
            best, lowest = candidate, score
    return best


def mixture_metric(channels: int) -> np.ndarray:
    """C x C: the inner product a pixel's place between two states is projected in, the
    brightness (the channels' mean) weighted ``LUMINANCE_WEIGHT`` against the colour; on a
    gray image it only scales both sides of the projection."""
    return np.eye(channels) - (1 - LUMINANCE_WEIGHT) / channels


def unblend(pixels: np.ndarray, guesses: np.ndarray, states: list[OverlayState]) -> Unblended:
    """Each pixel as the mixture ``(1 - t)·one + t·other`` of two states (or one alone) that
    best explains it given ``guesses`` of the photo, then inverted exactly. ``t`` is the
    projection onto the step between the two, with the guess's brightness weighted
    ``LUMINANCE_WEIGHT`` against its colour: a photo's colour varies more smoothly than its
    brightness, so a guess from around a pixel errs more in the latter."""
    channels = pixels.shape[1]
    metric = mixture_metric(channels)
    every = [OverlayState(1.0, np.zeros(channels)), *states]
    n = len(pixels)
    best = np.full(n, np.inf)
    photo, gain = pixels.copy(), np.ones(n)
    state, pure = np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    for j, one in enumerate(every):
        for k in range(j, len(every)):
            other = every[k]
            shown_one, shown_other = one.shows(guesses), other.shows(guesses)
            step = shown_other - shown_one
            t = np.zeros(n)
            if k != j:
                weighted = step @ metric
                along = ((pixels - shown_one) * weighted).sum(axis=1)
                t = np.clip(along / np.maximum((step * weighted).sum(axis=1), 1e-12), 0.0, 1.0)
            mixed_gain = (1 - t) * one.gain + t * other.gain
            mixed_offset = (1 - t)[:, None] * one.offset + t[:, None] * other.offset
            residual = np.abs(pixels - (mixed_gain[:, None] * guesses + mixed_offset)).max(axis=1)
            better = residual < best
            best[better] = residual[better]
            gain[better] = np.maximum(mixed_gain[better], 1e-3)
            photo[better] = (pixels[better] - mixed_offset[better]) / gain[better][:, None]
            state[better] = k
            pure[better] = (k == j) | (t[better] > PURE)
    return Unblended(photo, state, pure, best, gain)
