"""Matching-aware text-conditional DCGAN discriminator D(x, phi(t)) of Reed et al. (2016)."""

from __future__ import annotations

import torch
from torch import nn

from t2i.errors import ConfigError
from t2i.models.blocks import Residual, apply_spectral_norm, discriminator_widths, init_dcgan_weights
from t2i.models.minibatch import minibatch_layer


class Discriminator(nn.Module):
    """Score how real an image [B, 3, S, S] looks and how well it matches a text embedding; returns logits [B].

    Strided convolutions reduce the image to 4x4, where a residual block follows. The text is projected
    to `projection_dim` by linear + batch norm + LeakyReLU(0.2), replicated over the 4x4 grid and
    concatenated with the image features. A 1x1 then a 4x4 convolution give one logit (Reed et al.
    2016, ndf = 64).

    Options beyond Reed et al.: `minibatch` appends features that compare the samples of the batch at
    4x4 ("discrimination", Salimans et al. 2016, or "stddev", Karras et al. 2018), and `spectral_norm`
    normalises every convolution and linear weight and removes batch norm, as in Miyato et al.'s (2018)
    discriminators. Batch norm rescales each layer's output to unit variance, which undoes the weight
    normalisation's bound on how fast D can change with its input.
    """

    def __init__(
        self,
        embedding_dim: int = 384,
        projection_dim: int = 128,
        ndf: int = 64,
        image_size: int = 64,
        minibatch: str = "none",
        spectral_norm: bool = False,
    ):
        super().__init__()
        if ndf < 4:
            raise ConfigError(f"ndf must be at least 4 so that the residual bottleneck has channels, got {ndf}")
        widths = discriminator_widths(ndf, image_size)
        self.embedding_dim = embedding_dim
        self.image_size = image_size
        leaky = nn.LeakyReLU(0.2)
        norm_2d = identity_norm if spectral_norm else nn.BatchNorm2d

        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 2, 1), leaky]
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(width_in, width_out, 4, 2, 1, bias=spectral_norm), norm_2d(width_out), leaky]
        layers.append(Residual(widths[-1], widths[-1] // 4, leaky, norm_2d))
        self.encoder = nn.Sequential(*layers)
        self.minibatch, extra_channels = minibatch_layer(minibatch, widths[-1], 4)

        if spectral_norm:
            # Unit-norm sentence embeddings are small per dimension, so without batch norm the projected text
            # would start more than 10 times quieter than the image features. Standardising the input fixes that.
            text_layers = [nn.LayerNorm(embedding_dim, elementwise_affine=False), nn.Linear(embedding_dim, projection_dim)]
        else:
            text_layers = [nn.Linear(embedding_dim, projection_dim), nn.BatchNorm1d(projection_dim)]
        self.projection = nn.Sequential(*text_layers, leaky)
        self.joint = nn.Sequential(
            nn.Conv2d(widths[-1] + extra_channels + projection_dim, widths[-1], 1, bias=spectral_norm),
            norm_2d(widths[-1]),
            leaky,
            nn.Conv2d(widths[-1], 1, 4),
        )
        self.apply(init_dcgan_weights)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, image: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
        features = self.minibatch(self.encoder(image))
        condition = self.projection(text_embedding)[:, :, None, None].expand(-1, -1, *features.shape[2:])
        return self.joint(torch.cat([features, condition], dim=1)).flatten()


def identity_norm(channels: int) -> nn.Module:
    """Return a layer that leaves features as they are, in place of batch norm."""
    return nn.Identity()
