"""A known colour through every place t2i saves or reads images, to catch a swapped channel order (BGR)."""

import numpy as np
import pytest
import torch
from PIL import Image

from t2i.images import from_uint8, grid_image, save_grid, to_hwc_uint8, to_pil, to_uint8

COLOUR = (200, 30, 90)


@pytest.fixture
def batch():
    """Two float model images [2, 3, 8, 8] in [-1, 1] of the colour COLOUR."""
    pixels = torch.tensor(COLOUR, dtype=torch.uint8)[None, :, None, None].expand(2, 3, 8, 8)
    return from_uint8(pixels.contiguous())


def test_uint8_conversion_round_trip(batch):
    assert to_uint8(batch)[0, :, 0, 0].tolist() == list(COLOUR)


def test_png_file_round_trip(batch, tmp_path):
    to_pil(batch)[0].save(tmp_path / "image.png")
    assert Image.open(tmp_path / "image.png").getpixel((3, 3)) == COLOUR


def test_pil_to_tensor_keeps_order(batch):
    # The evaluation turns generated PIL images back into uint8 tensors [N, 3, H, W] this way.
    tensor = torch.from_numpy(np.stack([np.asarray(image) for image in to_pil(batch)])).permute(0, 3, 1, 2)
    assert tensor[1, :, 5, 5].tolist() == list(COLOUR)


def test_grid_file_round_trip(batch, tmp_path):
    save_grid(to_pil(batch), tmp_path / "grid.png", columns=2)
    grid = Image.open(tmp_path / "grid.png")
    assert grid.getpixel((4, 4)) == COLOUR
    assert grid.getpixel((0, 0)) == (255, 255, 255)


def test_sample_grid_array_round_trip(batch, tmp_path):
    from torchvision.utils import make_grid

    # SampleGrid saves and logs to_hwc_uint8(make_grid(...)) through PIL and wandb.
    array = to_hwc_uint8(make_grid(batch, nrow=2, padding=2, pad_value=1.0))
    Image.fromarray(array).save(tmp_path / "samples.png")
    assert Image.open(tmp_path / "samples.png").getpixel((4, 4)) == COLOUR


def test_wandb_image_round_trip(batch, tmp_path):
    import wandb

    image = wandb.Image(to_hwc_uint8(batch[0]))
    assert Image.open(image._path).convert("RGB").getpixel((2, 2)) == COLOUR


def test_grid_image_of_rgba_input():
    rgba = Image.new("RGBA", (4, 4), (*COLOUR, 255))
    assert grid_image([rgba], columns=1).getpixel((3, 3)) == COLOUR


def test_prepared_cache_round_trip(tmp_path):
    import datasets

    from t2i.data.prepare import DatasetSpec, prepare_images
    from t2i.data.prepared import read_rows

    root = tmp_path / "mine"
    root.mkdir()
    Image.new("RGB", (20, 20), COLOUR).save(root / "square.png")
    (root / "square.txt").write_text("a square\n")
    folder = prepare_images(DatasetSpec(name="folder", root=str(root), load_size=16), tmp_path / "cache")
    images, _, _, _ = read_rows(datasets.load_from_disk(str(folder / "images")), torch.tensor([0]))
    assert images[0, :, 8, 8].tolist() == list(COLOUR)
