"""Attribute checker: read a toy flower's petal and centre colour back from its pixels."""

from __future__ import annotations

from collections import Counter

import numpy as np
from PIL import Image

from t2i.data.toy_flowers import (
    BACKGROUND_COLOURS,
    CENTRE_COLOURS,
    FLOWER_RADIUS,
    PETAL_COLOURS,
    POSITION_JITTER,
)

# The checker looks at fixed regions around the image centre. The centre disc has a radius of at
# least 0.40 * 0.40 = 0.16 of the side and moves at most POSITION_JITTER, so a disc of radius
# CENTRE_PROBE always lies inside it. Petals span from the disc to at least 0.40 of the side.
CENTRE_PROBE = 0.07
PETAL_RING = (0.27, 0.36)

_PETAL_NAMES = list(PETAL_COLOURS) + [f"background:{name}" for name in BACKGROUND_COLOURS]
_PETAL_PALETTE = np.array(list(PETAL_COLOURS.values()) + list(BACKGROUND_COLOURS.values()), dtype=np.float32)
_CENTRE_NAMES = list(CENTRE_COLOURS)
_CENTRE_PALETTE = np.array(list(CENTRE_COLOURS.values()), dtype=np.float32)

assert CENTRE_PROBE + POSITION_JITTER < 0.40 * FLOWER_RADIUS[0], "centre probe must stay inside the smallest disc"


def _as_array(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float32)
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (height, width, 3), got shape {array.shape}")
    return array


def _region(height: int, width: int, inner: float, outer: float) -> np.ndarray:
    """Boolean mask of pixels whose distance from the image centre lies in [inner, outer) of the side."""
    ys, xs = np.mgrid[0:height, 0:width]
    distance = np.hypot((ys + 0.5) / height - 0.5, (xs + 0.5) / width - 0.5)
    return (distance >= inner) & (distance < outer)


def _nearest(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    distances = ((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1)


def read_colours(image: Image.Image | np.ndarray) -> tuple[str | None, str]:
    """Return (petal colour, centre colour) read from an RGB toy-flower image.

    Each probed pixel votes for its nearest palette colour. Petal pixels that look like a background
    colour are ignored; the petal colour is None when no pixel of the ring looks like a petal.
    """
    array = _as_array(image)
    height, width, _ = array.shape

    centre_pixels = array[_region(height, width, 0.0, CENTRE_PROBE)]
    centre_votes = Counter(_nearest(centre_pixels, _CENTRE_PALETTE).tolist())
    centre = _CENTRE_NAMES[centre_votes.most_common(1)[0][0]]

    ring_pixels = array[_region(height, width, *PETAL_RING)]
    petal_votes = Counter(
        _PETAL_NAMES[index]
        for index in _nearest(ring_pixels, _PETAL_PALETTE).tolist()
        if not _PETAL_NAMES[index].startswith("background:")
    )
    petal = petal_votes.most_common(1)[0][0] if petal_votes else None
    return petal, centre


def colour_accuracy(
    images: list[Image.Image | np.ndarray], petal_colours: list[str], centre_colours: list[str]
) -> dict[str, float]:
    """Return the fraction of images whose petal and centre colours read back as expected."""
    if not len(images) == len(petal_colours) == len(centre_colours):
        raise ValueError(
            f"got {len(images)} images, {len(petal_colours)} petal colours and {len(centre_colours)} centre colours;"
            " pass one of each per image"
        )
    if not images:
        raise ValueError("no images to check")
    readings = [read_colours(image) for image in images]
    petal_hits = sum(petal == expected for (petal, _), expected in zip(readings, petal_colours))
    centre_hits = sum(centre == expected for (_, centre), expected in zip(readings, centre_colours))
    return {"petal_colour": petal_hits / len(images), "centre_colour": centre_hits / len(images)}
