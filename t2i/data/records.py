"""The record every dataset reader returns: one image with its captions and class."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass
class ImageRecord:
    """One training image, given either as a file path or as an in-memory PIL image.

    `label` is the class id (0-based) or -1 when the dataset has no classes. `key` is a stable,
    unique id inside the dataset (the image file's stem for file-based datasets). `crop_box`, when
    set, is the (left, top, right, bottom) pixel box cut out of the image before resizing. `subsets`
    maps a split name ("official", "zero-shot") to the image's part of it ("train", "val" or "test").
    """

    key: str
    captions: list[str]
    label: int = -1
    path: Path | None = None
    image: Image.Image | None = field(default=None, repr=False)
    crop_box: tuple[int, int, int, int] | None = None
    subsets: dict[str, str] = field(default_factory=dict)

    def load_image(self) -> Image.Image:
        """Return the image as RGB, decoding the file when the record has a path."""
        if self.image is not None:
            image = to_rgb(self.image)
        elif self.path is None:
            raise ValueError(f"record {self.key!r} has neither an image nor a path")
        else:
            with Image.open(self.path) as opened:
                image = to_rgb(opened)
        return image.crop(self.crop_box) if self.crop_box is not None else image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; 16- and 32-bit grayscale are scaled down instead of clipped at 255."""
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image, dtype=np.uint32)
        # PIL reads 16-bit PNGs as mode "I" or "I;16": values up to 65535, which convert("L") would clip.
        shift = 8 if values.max(initial=0) > 255 else 0
        image = Image.fromarray((values >> shift).astype(np.uint8), mode="L")
    return image.convert("RGB")
