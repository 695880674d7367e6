"""Conversions between model images (float, [-1, 1], NCHW) and uint8 RGB images at file and screen boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Convert float images in [-1, 1] to uint8 in [0, 255], clamping before the cast; keeps the layout."""
    return ((images.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """Convert uint8 images in [0, 255] to float32 in [-1, 1]; keeps the layout."""
    return images.float().div_(127.5).sub_(1.0)


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """Convert a float batch [B, 3, H, W] in [-1, 1] to RGB PIL images."""
    pixels = to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(pixel_array)) for pixel_array in pixels]


def to_hwc_uint8(image: torch.Tensor) -> np.ndarray:
    """Convert one float image [3, H, W] in [-1, 1] to a uint8 RGB array [H, W, 3], as wandb and PIL expect."""
    return to_uint8(image).permute(1, 2, 0).cpu().numpy()


def grid_image(images: list[Image.Image], columns: int, padding: int = 2) -> Image.Image:
    """Lay same-sized PIL images out in rows of `columns` with white padding, using torchvision's make_grid."""
    from torchvision.utils import make_grid

    batch = torch.stack([torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1) for image in images])
    grid = make_grid(from_uint8(batch), nrow=columns, padding=padding, pad_value=1.0)
    return Image.fromarray(to_hwc_uint8(grid))


def save_grid(images: list[Image.Image], path: str | Path, columns: int) -> Path:
    """Save `images` as one PNG grid with `columns` images a row (a strip when columns = len(images))."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_image(images, columns).save(path)
    return path
