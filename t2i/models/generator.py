"""Text-conditional DCGAN generator G(z, phi(t)) of Reed et al. (2016)."""

from __future__ import annotations

import torch
from torch import nn

from t2i.errors import ConfigError
from t2i.models.blocks import Residual, generator_widths, init_dcgan_weights
from t2i.models.conditioning import ConditioningAugmentation


class Generator(nn.Module):
    """Map noise `z` [B, noise_dim] and a text embedding [B, embedding_dim] to images [B, 3, S, S] in [-1, 1].

    The text embedding is projected to `projection_dim` by a linear layer and LeakyReLU(0.2),
    concatenated with z and decoded from 4x4 by transposed convolutions that double the side, with
    residual blocks at 4x4 and 8x8 (Reed et al. 2016, released Torch code, ngf = 128). With
    `conditioning_augmentation` the projection is a Gaussian sample instead (Zhang et al. 2017).
    """

    def __init__(
        self,
        embedding_dim: int = 384,
        noise_dim: int = 100,
        projection_dim: int = 128,
        ngf: int = 128,
        image_size: int = 64,
        conditioning_augmentation: bool = False,
    ):
        super().__init__()
        if ngf < 4:
            raise ConfigError(f"ngf must be at least 4 so that the residual bottlenecks have channels, got {ngf}")
        widths = generator_widths(ngf, image_size)
        self.embedding_dim = embedding_dim
        self.noise_dim = noise_dim
        self.image_size = image_size

        if conditioning_augmentation:
            self.projection = ConditioningAugmentation(embedding_dim, projection_dim)
        else:
            self.projection = nn.Sequential(nn.Linear(embedding_dim, projection_dim), nn.LeakyReLU(0.2))
        relu = nn.ReLU()
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

    @property
    def conditioning_augmentation(self) -> bool:
        return isinstance(self.projection, ConditioningAugmentation)

    def forward(self, z: torch.Tensor, text_embedding: torch.Tensor, condition_noise: torch.Tensor | None = None) -> torch.Tensor:
        """Generate images; `condition_noise` [B, projection_dim] is the eps of conditioning augmentation in training."""
        if self.conditioning_augmentation:
            condition = self.projection(text_embedding, condition_noise)
        else:
            condition = self.projection(text_embedding)
        x = torch.cat([z, condition], dim=1)
        return self.decoder(x[:, :, None, None])

    def kl_divergence(self, text_embedding: torch.Tensor) -> torch.Tensor:
        """Return the conditioning-augmentation KL penalty for these embeddings (zero without the option)."""
        if not self.conditioning_augmentation:
            return text_embedding.new_zeros(())
        return self.projection.kl_divergence(text_embedding)
