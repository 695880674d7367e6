"""Matching-aware text-conditional DCGAN discriminator D(x, phi(t)) of Reed et al. (2016)."""

from __future__ import annotations

import torch
from torch import nn

from t2i.models.blocks import Residual, check_image_size, init_dcgan_weights
from t2i.errors import ConfigError


class Discriminator(nn.Module):
    """Score how real an image [B, 3, S, S] looks and how well it matches a text embedding; returns logits [B].

    Strided convolutions reduce the image to 4x4, where a residual block follows. The text is projected
    to `projection_dim` by linear + batch norm + LeakyReLU(0.2), replicated over the 4x4 grid and
    concatenated with the image features. A 1x1 then a 4x4 convolution give one logit (Reed et al.
    2016, ndf = 64).
    """

    def __init__(self, embedding_dim: int = 384, projection_dim: int = 128, ndf: int = 64, image_size: int = 64):
        super().__init__()
        check_image_size(image_size)
        if ndf < 4:
            raise ConfigError(f"ndf must be at least 4 so that the residual bottleneck has channels, got {ndf}")
        self.embedding_dim = embedding_dim
        self.image_size = image_size
        leaky = nn.LeakyReLU(0.2)

        # Widths down to 4x4: ndf, ndf*2, ndf*4, ndf*8 for 64 pixels; 32 pixels starts at ndf*2.
        widths = [ndf, ndf * 2, ndf * 4, ndf * 8][4 - (4 if image_size == 64 else 3) :]
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 2, 1), leaky]
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(width_in, width_out, 4, 2, 1, bias=False), nn.BatchNorm2d(width_out), leaky]
        layers.append(Residual(widths[-1], widths[-1] // 4, leaky))
        self.encoder = nn.Sequential(*layers)

        self.projection = nn.Sequential(nn.Linear(embedding_dim, projection_dim), nn.BatchNorm1d(projection_dim), leaky)
        self.joint = nn.Sequential(
            nn.Conv2d(widths[-1] + projection_dim, widths[-1], 1, bias=False),
            nn.BatchNorm2d(widths[-1]),
            leaky,
            nn.Conv2d(widths[-1], 1, 4),
        )
        self.apply(init_dcgan_weights)

    def forward(self, image: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
        features = self.encoder(image)
        condition = self.projection(text_embedding)[:, :, None, None].expand(-1, -1, *features.shape[2:])
        return self.joint(torch.cat([features, condition], dim=1)).flatten()
