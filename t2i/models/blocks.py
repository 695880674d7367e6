"""Building blocks shared by the generator and the discriminator."""

from __future__ import annotations

from torch import nn

from t2i.errors import ConfigError

SUPPORTED_IMAGE_SIZES = (32, 64, 128, 256)


class Residual(nn.Module):
    """Bottleneck residual block (1x1 down, 3x3, 3x3 up, batch norm) as in Reed et al.'s released code.

    The activation after the sum is part of the block, so the block fits in an `nn.Sequential`.
    `norm` builds the normalisation layer for a channel count (batch norm unless given).
    """

    def __init__(self, channels: int, bottleneck: int, activation: nn.Module, norm=nn.BatchNorm2d):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, bottleneck, 1, bias=False),
            norm(bottleneck),
            activation,
            nn.Conv2d(bottleneck, bottleneck, 3, padding=1, bias=False),
            norm(bottleneck),
            activation,
            nn.Conv2d(bottleneck, channels, 3, padding=1, bias=False),
            norm(channels),
        )
        self.activation = activation

    def forward(self, x):
        return self.activation(x + self.body(x))


def init_dcgan_weights(module: nn.Module) -> None:
    """Initialise weights from N(0, 0.02) and batch-norm scales from N(1, 0.02), as in DCGAN (Radford et al. 2016)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def check_image_size(image_size: int) -> int:
    """Return `image_size` when the models support it, else raise a ConfigError that lists the choices."""
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ConfigError(f"image_size must be one of {SUPPORTED_IMAGE_SIZES}, got {image_size}")
    return image_size


def generator_widths(ngf: int, image_size: int) -> list[int]:
    """Return the generator's channel widths from 4x4 up to half the output side.

    64 pixels use ngf * (8, 4, 2, 1) as Reed et al. do and 32 pixels drop the last stage; 128 and 256
    pixels add stages of ngf * 8 at the low resolutions, so the last stages keep Reed et al.'s widths.
    """
    stages = check_image_size(image_size).bit_length() - 3
    multipliers = [8, 4, 2, 1][:stages] if stages <= 4 else [8] * (stages - 4) + [8, 4, 2, 1]
    return [ngf * multiplier for multiplier in multipliers]


def discriminator_widths(ndf: int, image_size: int) -> list[int]:
    """Return the discriminator's channel widths from half the input side down to 4x4.

    64 pixels use ndf * (1, 2, 4, 8) as Reed et al. do and 32 pixels start at ndf * 2; 128 and 256
    pixels add stages of ndf * 8 before 4x4.
    """
    stages = check_image_size(image_size).bit_length() - 3
    multipliers = [1, 2, 4, 8][4 - stages :] if stages <= 4 else [1, 2, 4, 8] + [8] * (stages - 4)
    return [ndf * multiplier for multiplier in multipliers]


def apply_spectral_norm(module: nn.Module) -> None:
    """Normalise every convolution and linear weight of `module` by its largest singular value (Miyato et al. 2018)."""
    for child in list(module.modules()):
        if isinstance(child, (nn.Conv2d, nn.Linear)):
            nn.utils.parametrizations.spectral_norm(child)
