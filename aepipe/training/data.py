"""Random training patches from a folder of clean images, held in memory as uint8.

CBSD432 is ~140 MB decoded, so keeping it in RAM beats re-decoding JPEGs every step on
a 2-core machine.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from PIL import Image

from aepipe.images import IMAGE_SUFFIXES
from aepipe.images.resample import resize_bicubic
from aepipe.runtime.tasks.names import MASK_EXTENSION
from aepipe.storage import open_storage


def load_rgb_images(location: str, short_side: int = 0) -> list[np.ndarray]:
    """Every image under a folder or ``s3://`` prefix as H x W x 3 uint8, in key order;
    with ``short_side``, box-downscaled so that its shorter side is at most that."""
    return [image for _, image in _load_images(location, short_side, "RGB")]


def load_masked_images(images: str, masks: str, short_side: int = 0) -> list[np.ndarray]:
    """Images with their masks as a fourth channel (H x W x 4 uint8, 255 = in the mask), so a
    patch and its mask are cropped and turned together. A mask is ``<stem>.png`` or
    ``<stem>.mask.png`` under ``masks``, the image's size; every image needs one."""
    found = {
        PurePosixPath(key).name.removesuffix(MASK_EXTENSION).rsplit(".", 1)[0]: mask
        for key, mask in _load_images(masks, short_side, "L", Image.Resampling.NEAREST)
    }
    pairs = []
    for key, image in _load_images(images, short_side, "RGB"):
        stem = PurePosixPath(key).stem
        mask = found.get(stem)
        if mask is None or mask.shape != image.shape[:2]:
            problem = "no mask" if mask is None else f"a {mask.shape} mask for {image.shape[:2]}"
            raise ValueError(f"{images}/{key}: {problem} under {masks} (<stem>.png or .mask.png)")
        pairs.append(np.dstack([image, np.where(mask > 127, 255, 0).astype(np.uint8)]))
    return pairs


def _load_images(
    location: str,
    short_side: int,
    mode: str,
    resample: Image.Resampling = Image.Resampling.BOX,
) -> list[tuple[str, np.ndarray]]:
    """(key, pixels in ``mode``) of every image under ``location``, in key order."""
    storage = open_storage(location)
    keys = [k for k in storage.list() if PurePosixPath(k).suffix.lower() in IMAGE_SUFFIXES]
    if not keys:
        raise FileNotFoundError(f"no images under {location}")
    images = []
    for key in keys:
        image = Image.open(io.BytesIO(storage.read(key))).convert(mode)
        if short_side and min(image.size) > short_side:
            scale = short_side / min(image.size)
            size = (round(image.size[0] * scale), round(image.size[1] * scale))
            image = image.resize(size, resample)
        images.append((key, np.asarray(image)))
    return images


def split_holdout(images: Sequence[np.ndarray], holdout: int) -> tuple[list, list]:
    """The last ``holdout`` images validate; the rest train (deterministic, no test sets)."""
    return list(images[:-holdout]), list(images[-holdout:])


@dataclass
class PatchSampler:
    """Draws batches of augmented patches (random crop, flips, 90° rotations), with every
    channel the images have (a mask stacked as a fourth one comes along).

    ``zoom`` = (low, high) rescales each patch by a factor drawn log-uniformly between them:
    its region is ``patch / zoom`` pixels a side, resized to ``patch`` (bicubic, antialiased
    when it shrinks). A network then sees the detail of scans both larger and smaller than
    its training photos. (1, 1) cuts patches as they are and draws nothing for the scale.
    """

    images: Sequence[np.ndarray]
    patch: int
    rng: np.random.Generator
    zoom: tuple[float, float] = (1.0, 1.0)

    def batch(self, size: int) -> np.ndarray:
        """N x C x patch x patch float32 in [0, 1]."""
        channels = self.images[0].shape[2]
        out = np.empty((size, channels, self.patch, self.patch), dtype=np.float32)
        for i in range(size):
            out[i] = self._one().transpose(2, 0, 1) / 255.0
        return out

    def _one(self) -> np.ndarray:
        image = self.images[int(self.rng.integers(len(self.images)))]
        side = self._region_side(image)
        top = self.rng.integers(image.shape[0] - side + 1)
        left = self.rng.integers(image.shape[1] - side + 1)
        crop = image[top : top + side, left : left + side]
        if side != self.patch:
            crop = resize_bicubic(crop, (self.patch, self.patch))
        if self.rng.random() < 0.5:
            crop = crop[:, ::-1]
        return np.rot90(crop, k=int(self.rng.integers(4)))

    def _region_side(self, image: np.ndarray) -> int:
        """Side of the region a patch is cut from: ``patch / zoom``, within the image."""
        low, high = self.zoom
        if low == high == 1:
            return self.patch
        zoom = math.exp(self.rng.uniform(math.log(low), math.log(high)))
        return min(round(self.patch / zoom), *image.shape[:2])


def center_crops(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Fixed validation crops: N x 3 x size x size float32."""
    crops = []
    for image in images:
        top = (image.shape[0] - size) // 2
        left = (image.shape[1] - size) // 2
        crops.append(image[top : top + size, left : left + size].transpose(2, 0, 1) / 255.0)
    return np.stack(crops).astype(np.float32)
