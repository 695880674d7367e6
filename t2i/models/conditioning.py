"""Conditioning augmentation (Zhang et al. 2017, StackGAN): the text condition as a Gaussian sample."""

from __future__ import annotations

import torch
from torch import nn


class ConditioningAugmentation(nn.Module):
    """Map a text embedding to mean and log-variance of a Gaussian over `condition_dim`, and sample from it.

    Zhang et al. (2017) sample the condition c = mu + sigma * eps during training, which fills the space
    between the few captions seen per image, and penalise KL(N(mu, sigma^2) || N(0, I)) to keep it smooth.
    In eval mode the condition is the mean, so the same prompt and noise give the same image.
    """

    def __init__(self, embedding_dim: int, condition_dim: int):
        super().__init__()
        self.condition_dim = condition_dim
        # Sentence encoders often return unit-norm embeddings (about 0.05 per dimension at 384 dimensions).
        # Standardised, they give a mean on eps's scale of 1 from the start, so the text is not lost in the noise.
        self.standardise = nn.LayerNorm(embedding_dim, elementwise_affine=False)
        self.moments = nn.Linear(embedding_dim, 2 * condition_dim)

    def mean_and_log_variance(self, text_embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_variance = self.moments(self.standardise(text_embedding)).chunk(2, dim=1)
        return mean, log_variance

    def forward(self, text_embedding: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        mean, log_variance = self.mean_and_log_variance(text_embedding)
        if not self.training:
            return mean
        if eps is None:
            eps = torch.randn_like(mean)
        return mean + torch.exp(0.5 * log_variance) * eps

    def kl_divergence(self, text_embedding: torch.Tensor) -> torch.Tensor:
        """Return KL(N(mu, sigma^2) || N(0, I)) summed over dimensions and averaged over the batch."""
        mean, log_variance = self.mean_and_log_variance(text_embedding)
        return 0.5 * (mean.pow(2) + log_variance.exp() - 1.0 - log_variance).sum(dim=1).mean()
