"""Building blocks shared by the generator and the discriminator."""

from __future__ import annotations

from torch import nn

from t2i.errors import ConfigError

SUPPORTED_IMAGE_SIZES = (32, 64)


class Residual(nn.Module):
    """Bottleneck residual block (1x1 down, 3x3, 3x3 up, batch norm) as in Reed et al.'s released code.

    The activation after the sum is part of the block, so the block fits in an `nn.Sequential`.
    """

    def __init__(self, channels: int, bottleneck: int, activation: nn.Module):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, bottleneck, 1, bias=False),
            nn.BatchNorm2d(bottleneck),
            activation,
            nn.Conv2d(bottleneck, bottleneck, 3, padding=1, bias=False),
            nn.BatchNorm2d(bottleneck),
            activation,
            nn.Conv2d(bottleneck, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
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
    """Return `image_size` when the models support it, else raise a ValueError that lists the choices."""
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ConfigError(f"image_size must be one of {SUPPORTED_IMAGE_SIZES}, got {image_size}")
    return image_size
