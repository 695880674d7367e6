"""Tests of the GAN-CLS and GAN-INT loss terms and their weights."""

import math

import pytest
import torch

from t2i.training.losses import gan_cls_loss, generator_loss, interpolate_embeddings


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_gan_cls_real_term():
    total, terms = gan_cls_loss(torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([0.0]))
    assert terms["d_real"].item() == pytest.approx(_softplus(-2.0))


def test_gan_cls_uses_mismatched_pairs():
    _, low = gan_cls_loss(torch.tensor([0.0]), torch.tensor([-3.0]), torch.tensor([0.0]))
    _, high = gan_cls_loss(torch.tensor([0.0]), torch.tensor([3.0]), torch.tensor([0.0]))
    assert high["d_mismatched"].item() == pytest.approx(_softplus(3.0))
    assert low["d_mismatched"].item() == pytest.approx(_softplus(-3.0))


def test_gan_cls_weights_half_each():
    real, mismatched, fake = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([-0.5])
    total, _ = gan_cls_loss(real, mismatched, fake)
    expected = _softplus(-1.0) + 0.5 * _softplus(2.0) + 0.5 * _softplus(-0.5)
    assert total.item() == pytest.approx(expected)


def test_gan_cls_custom_weights():
    real, mismatched, fake = torch.tensor([0.3]), torch.tensor([0.7]), torch.tensor([0.2])
    total, _ = gan_cls_loss(real, mismatched, fake, mismatch_weight=0.25, fake_weight=2.0)
    expected = _softplus(-0.3) + 0.25 * _softplus(0.7) + 2.0 * _softplus(0.2)
    assert total.item() == pytest.approx(expected)


def test_generator_loss_without_interpolation():
    total, terms = generator_loss(torch.tensor([0.5]))
    assert total.item() == pytest.approx(_softplus(-0.5))
    assert "g_interpolated" not in terms


def test_generator_loss_adds_interpolation_at_weight_one():
    total, _ = generator_loss(torch.tensor([0.5]), torch.tensor([-1.0]))
    assert total.item() == pytest.approx(_softplus(-0.5) + _softplus(1.0))


def test_generator_loss_interpolation_weight():
    total, _ = generator_loss(torch.tensor([0.5]), torch.tensor([-1.0]), interpolation_weight=0.3)
    assert total.item() == pytest.approx(_softplus(-0.5) + 0.3 * _softplus(1.0))


def test_interpolation_midpoint_of_neighbours():
    embeddings = torch.tensor([[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]])
    mixed = interpolate_embeddings(embeddings, beta=0.5)
    assert torch.equal(mixed[1], torch.tensor([2.0, 4.0]))
    assert torch.equal(mixed[0], torch.tensor([4.0, 6.0]))


def test_interpolation_rejects_beta_outside_unit_interval():
    with pytest.raises(ValueError, match="beta"):
        interpolate_embeddings(torch.zeros(2, 3), beta=1.5)
