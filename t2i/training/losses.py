"""GAN-CLS and GAN-INT losses of Reed et al. (2016) on discriminator logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def gan_cls_loss(
    real_logits: torch.Tensor,
    mismatched_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    mismatch_weight: float = 0.5,
    fake_weight: float = 0.5,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Return the matching-aware discriminator loss and its terms.

    (real image, matching text) is scored real; (real image, mismatched text) and (generated image,
    matching text) are scored fake. Reed et al.'s released code weights the last two terms 0.5 each.
    """
    terms = {
        "d_real": _bce(real_logits, 1.0),
        "d_mismatched": _bce(mismatched_logits, 0.0),
        "d_fake": _bce(fake_logits, 0.0),
    }
    total = terms["d_real"] + mismatch_weight * terms["d_mismatched"] + fake_weight * terms["d_fake"]
    return total, terms


def generator_loss(
    fake_logits: torch.Tensor,
    interpolated_logits: torch.Tensor | None = None,
    interpolation_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Return the non-saturating generator loss, plus the GAN-INT term when interpolated logits are given."""
    terms = {"g_fake": _bce(fake_logits, 1.0)}
    total = terms["g_fake"]
    if interpolated_logits is not None:
        terms["g_interpolated"] = _bce(interpolated_logits, 1.0)
        total = total + interpolation_weight * terms["g_interpolated"]
    return total, terms


def interpolate_embeddings(text_embedding: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """Return beta * t1 + (1 - beta) * t2, pairing each caption with the next one in the batch (GAN-INT)."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"interpolation beta must lie in [0, 1], got {beta}")
    return beta * text_embedding + (1.0 - beta) * text_embedding.roll(1, dims=0)
