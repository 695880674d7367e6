"""Discriminator features that compare the samples of a minibatch, so that D can see a collapsed generator."""

from __future__ import annotations

import torch
from torch import nn

from t2i.errors import ConfigError

MINIBATCH_FEATURES = ("none", "discrimination", "stddev")


class MinibatchDiscrimination(nn.Module):
    """Add, per sample, `num_kernels` closeness scores to the other samples of the batch (Salimans et al. 2016).

    Features [B, C, H, W] are flattened and projected by a learnt tensor T to rows M_i [num_kernels, kernel_dim].
    Kernel b scores sample i by exp(-||M_i,b - M_j,b||_1) averaged over the other samples j. Salimans et al.
    sum over j; the average keeps the scale the same for every batch size. The scores become `num_kernels`
    constant feature maps appended to the input, so the output is [B, C + num_kernels, H, W].
    """

    def __init__(self, in_features: int, num_kernels: int = 32, kernel_dim: int = 8):
        super().__init__()
        if num_kernels < 1 or kernel_dim < 1:
            raise ConfigError(f"num_kernels and kernel_dim must be at least 1, got {num_kernels} and {kernel_dim}")
        self.num_kernels = num_kernels
        self.kernel_dim = kernel_dim
        self.projection = nn.Linear(in_features, num_kernels * kernel_dim, bias=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch_size = features.shape[0]
        rows = self.projection(features.flatten(1)).view(batch_size, self.num_kernels, self.kernel_dim)
        # L1 distances between every pair of samples, per kernel: [B, B, num_kernels].
        distances = (rows[:, None] - rows[None, :]).abs().sum(dim=3)
        closeness = torch.exp(-distances)
        # Each sample is at distance 0 from itself, which adds exp(0) = 1 to its own sum.
        others = max(batch_size - 1, 1)
        scores = (closeness.sum(dim=1) - 1.0) / others
        maps = scores[:, :, None, None].expand(-1, -1, *features.shape[2:]).to(features.dtype)
        return torch.cat([features, maps], dim=1)


class MinibatchStdDev(nn.Module):
    """Append one feature map: the standard deviation of the features across a group of samples (Karras et al. 2018).

    The batch is split into groups of `group_size` samples, or taken whole when it does not divide.
    Each feature's standard deviation over its group is averaged over channels and positions and given
    to every sample of the group as one more channel, so the output is [B, C + 1, H, W].
    """

    def __init__(self, group_size: int = 4):
        super().__init__()
        if group_size < 2:
            raise ConfigError(f"group_size must be at least 2 samples, got {group_size}")
        self.group_size = group_size

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch_size, channels, height, width = features.shape
        group = self.group_size if batch_size % self.group_size == 0 else batch_size
        grouped = features.float().view(group, -1, channels, height, width)
        spread = torch.sqrt(grouped.var(dim=0, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))
        maps = spread.repeat(group)[:, None, None, None].expand(-1, 1, height, width).to(features.dtype)
        return torch.cat([features, maps], dim=1)


def minibatch_layer(kind: str, channels: int, side: int) -> tuple[nn.Module, int]:
    """Return the minibatch layer named `kind` for features [B, channels, side, side] and the channels it adds."""
    if kind == "none":
        return nn.Identity(), 0
    if kind == "discrimination":
        layer = MinibatchDiscrimination(channels * side * side)
        return layer, layer.num_kernels
    if kind == "stddev":
        return MinibatchStdDev(), 1
    raise ConfigError(f"minibatch must be one of {MINIBATCH_FEATURES}, got {kind!r}")
