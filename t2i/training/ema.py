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
def update_average(average: nn.Module, module: nn.Module, decay: float, *inputs: torch.Tensor) -> None:
    """Set each averaged parameter to decay * average + (1 - decay) * current, then update the buffers.

    With `inputs`, the average runs on them in training mode, so that its batch-norm running statistics
    follow its own activations. Without them, the buffers are copied from `module`, whose statistics
    were gathered with different weights.
    """
    for averaged, current in zip(average.parameters(), module.parameters()):
        averaged.lerp_(current.detach(), 1.0 - decay)
    if not inputs:
        for averaged, current in zip(average.buffers(), module.buffers()):
            averaged.copy_(current)
        return
    was_training = average.training
    average.train()
    average(*inputs)
    average.train(was_training)


def warmed_up_decay(decay: float, updates: int) -> float:
    """Return min(decay, (1 + updates) / (10 + updates)), so early averages do not keep the random start."""
    return min(decay, (1.0 + updates) / (10.0 + updates))
