"""Text-conditional DCGAN generator G(z, phi(t)) of Reed et al. (2016)."""

from __future__ import annotations

import torch
from torch import nn

from t2i.models.blocks import Residual, check_image_size, init_dcgan_weights
from t2i.errors import ConfigError


class Generator(nn.Module):
    """Map noise `z` [B, noise_dim] and a text embedding [B, embedding_dim] to images [B, 3, S, S] in [-1, 1].

    The text embedding is projected to `projection_dim` by a linear layer and LeakyReLU(0.2),
    concatenated with z and decoded from 4x4 by transposed convolutions that double the side, with
    residual blocks at 4x4 and 8x8 (Reed et al. 2016, released Torch code, ngf = 128).
    """

    def __init__(
        self,
        embedding_dim: int = 384,
        noise_dim: int = 100,
        projection_dim: int = 128,
        ngf: int = 128,
        image_size: int = 64,
    ):
        super().__init__()
        check_image_size(image_size)
        if ngf < 4:
            raise ConfigError(f"ngf must be at least 4 so that the residual bottlenecks have channels, got {ngf}")
        self.embedding_dim = embedding_dim
        self.noise_dim = noise_dim
        self.image_size = image_size

        self.projection = nn.Sequential(nn.Linear(embedding_dim, projection_dim), nn.LeakyReLU(0.2))
        relu = nn.ReLU()
        # Widths from 4x4 upwards: ngf*8, ngf*4, ngf*2, ngf for 64 pixels; 32 pixels drops the last stage.
        widths = [ngf * 8, ngf * 4, ngf * 2, ngf][: 4 if image_size == 64 else 3]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(noise_dim + projection_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            Residual(widths[0], widths[0] // 4, relu),
            nn.ConvTranspose2d(widths[0], widths[1], 4, 2, 1, bias=False),
            nn.BatchNorm2d(widths[1]),
            Residual(widths[1], widths[1] // 4, relu),
        ]
        for width_in, width_out in zip(widths[1:], widths[2:]):
            layers += [nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=False), nn.BatchNorm2d(width_out), relu]
        layers += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, z: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
        condition = self.projection(text_embedding)
        x = torch.cat([z, condition], dim=1)
        return self.decoder(x[:, :, None, None])
