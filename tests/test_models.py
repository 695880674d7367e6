"""Tests of the generator, the discriminator and their building blocks."""

import pytest
import torch

from t2i.models.discriminator import Discriminator
from t2i.models.generator import Generator


@pytest.mark.parametrize("size", [32, 64])
def test_generator_output_shape(size):
    generator = Generator(embedding_dim=16, ngf=8, image_size=size)
    images = generator(torch.randn(3, 100), torch.randn(3, 16))
    assert images.shape == (3, 3, size, size)


def test_generator_output_range():
    generator = Generator(embedding_dim=16, ngf=8, image_size=32)
    images = generator(torch.randn(4, 100) * 10, torch.randn(4, 16) * 10)
    assert images.abs().max() <= 1.0


@pytest.mark.parametrize("size", [32, 64])
def test_discriminator_returns_one_logit_per_image(size):
    discriminator = Discriminator(embedding_dim=16, ndf=8, image_size=size)
    assert discriminator(torch.randn(5, 3, size, size), torch.randn(5, 16)).shape == (5,)


def test_reed_widths_by_default():
    generator = Generator()
    discriminator = Discriminator()
    assert generator.decoder[0].out_channels == 1024
    assert discriminator.encoder[0].out_channels == 64
    assert discriminator.joint[0].out_channels == 512


def test_text_projection_is_128_dims():
    generator = Generator(embedding_dim=384, ngf=8)
    assert generator.projection[0].out_features == 128


def test_discriminator_depends_on_text():
    torch.manual_seed(0)
    discriminator = Discriminator(embedding_dim=16, ndf=8, image_size=32).eval()
    image = torch.randn(2, 3, 32, 32)
    first = discriminator(image, torch.randn(2, 16))
    second = discriminator(image, torch.randn(2, 16))
    assert not torch.allclose(first, second)


def test_weights_initialised_dcgan_style():
    torch.manual_seed(0)
    generator = Generator(ngf=32)
    weight = generator.decoder[0].weight
    assert abs(weight.std().item() - 0.02) < 0.002


@pytest.mark.parametrize("size", [16, 48, 96, 512])
def test_unsupported_size_rejected(size):
    with pytest.raises(ValueError, match="image_size must be one of"):
        Generator(image_size=size)
