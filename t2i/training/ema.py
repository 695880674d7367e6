"""Exponential moving average of the generator's weights, used for samples, evaluation and export."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_average(module: nn.Module) -> nn.Module:
    """Return a frozen copy of `module` that `update_average` moves towards it."""
    average = copy.deepcopy(module)
    average.requires_grad_(False)
    return average


@torch.no_grad()
def update_average(average: nn.Module, module: nn.Module, decay: float) -> None:
    """Set each averaged parameter to decay * average + (1 - decay) * current and copy the buffers.

    Buffers (batch-norm running statistics) are copied rather than averaged, because they are already
    running averages of the current weights' activations.
    """
    for averaged, current in zip(average.parameters(), module.parameters()):
        averaged.lerp_(current.detach(), 1.0 - decay)
    for averaged, current in zip(average.buffers(), module.buffers()):
        averaged.copy_(current)


def warmed_up_decay(decay: float, updates: int) -> float:
    """Return min(decay, (1 + updates) / (10 + updates)), so early averages do not keep the random start."""
    return min(decay, (1.0 + updates) / (10.0 + updates))
