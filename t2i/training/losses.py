"""GAN-CLS and GAN-INT losses of Reed et al. (2016) on discriminator logits."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _weighted_discriminator_loss(
    terms: dict[str, torch.Tensor], mismatch_weight: float, fake_weight: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    total = terms["d_real"] + mismatch_weight * terms["d_mismatched"] + fake_weight * terms["d_fake"]
    return total, terms


def _generator_terms(
    term: Callable[[torch.Tensor], torch.Tensor],
    fake_logits: torch.Tensor,
    interpolated_logits: torch.Tensor | None,
    interpolation_weight: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Apply `term` to the fake logits and, for GAN-INT, add it on the interpolated logits with its weight."""
    terms = {"g_fake": term(fake_logits)}
    total = terms["g_fake"]
    if interpolated_logits is not None:
        terms["g_interpolated"] = term(interpolated_logits)
        total = total + interpolation_weight * terms["g_interpolated"]
    return total, terms


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
    return _weighted_discriminator_loss(terms, mismatch_weight, fake_weight)


def generator_loss(
    fake_logits: torch.Tensor,
    interpolated_logits: torch.Tensor | None = None,
    interpolation_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Return the non-saturating generator loss, plus the GAN-INT term when interpolated logits are given."""
    return _generator_terms(lambda logits: _bce(logits, 1.0), fake_logits, interpolated_logits, interpolation_weight)


def interpolate_embeddings(text_embedding: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """Return beta * t1 + (1 - beta) * t2, pairing each caption with the next one in the batch (GAN-INT)."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"interpolation beta must lie in [0, 1], got {beta}")
    return beta * text_embedding + (1.0 - beta) * text_embedding.roll(1, dims=0)


def hinge_discriminator_loss(
    real_logits: torch.Tensor,
    mismatched_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    mismatch_weight: float = 0.5,
    fake_weight: float = 0.5,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Return the matching-aware hinge loss of DF-GAN (Tao et al. 2022) and its terms.

    The pairs are those of GAN-CLS: (real image, matching text) is pushed above +1, (real image,
    mismatched text) and (generated image, matching text) below -1, with the same weights.
    """
    terms = {
        "d_real": F.relu(1.0 - real_logits).mean(),
        "d_mismatched": F.relu(1.0 + mismatched_logits).mean(),
        "d_fake": F.relu(1.0 + fake_logits).mean(),
    }
    return _weighted_discriminator_loss(terms, mismatch_weight, fake_weight)


def hinge_generator_loss(
    fake_logits: torch.Tensor,
    interpolated_logits: torch.Tensor | None = None,
    interpolation_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Return the hinge generator loss -D(G(z, t), t), plus the same term on interpolated text for GAN-INT."""
    return _generator_terms(lambda logits: -logits.mean(), fake_logits, interpolated_logits, interpolation_weight)


def matching_aware_gradient_penalty(
    real_logits: torch.Tensor, images: torch.Tensor, text_embedding: torch.Tensor, power: float = 6.0
) -> torch.Tensor:
    """Return mean(||(dD/dx, dD/de)||_2 ** power) on (real image, matching text) pairs (Tao et al. 2022, MA-GP).

    The penalty is zero-centred: it pulls the gradient with respect to both the image and the sentence
    embedding towards zero at real, matching data. `images` and `text_embedding` must require gradients
    and be the inputs that produced `real_logits`. DF-GAN weights it by 2 with power 6.
    """
    image_gradient, text_gradient = torch.autograd.grad(
        real_logits.sum(), (images, text_embedding), create_graph=True
    )
    gradient = torch.cat([image_gradient.flatten(1), text_gradient.flatten(1)], dim=1)
    return gradient.norm(2, dim=1).pow(power).mean()
