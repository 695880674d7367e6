"""Tests of the options beyond Reed et al.: each one changes what the model computes in the stated way."""

import logging
import math

import pytest
import torch
from torch import nn

from t2i.errors import ConfigError
from t2i.model_files import read_checkpoint
from t2i.models.conditioning import ConditioningAugmentation
from t2i.models.discriminator import Discriminator
from t2i.models.generator import Generator
from t2i.models.minibatch import MinibatchDiscrimination, MinibatchStdDev
from t2i.pipeline import Text2ImagePipeline
from t2i.training.ema import make_average, update_average, warmed_up_decay
from t2i.training.losses import hinge_discriminator_loss, hinge_generator_loss, matching_aware_gradient_penalty
from t2i.training.module import TextToImageGAN
from tests.conftest import fit

IMPROVED = [
    "--model.conditioning_augmentation", "true", "--model.minibatch", "stddev", "--model.spectral_norm", "true",
    "--model.loss", "hinge", "--model.gradient_penalty_weight", "2.0", "--model.ema_decay", "0.999",
]


class InputBlind(nn.Module):
    """A discriminator whose logits depend on a parameter only, never on the image or the text."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor(0.7))

    def forward(self, image, text_embedding):
        return self.bias.expand(image.shape[0]) + 0.0 * image.sum(dim=(1, 2, 3)) + 0.0 * text_embedding.sum(dim=1)


def penalty_of(discriminator, images, text_embedding, power=6.0):
    images = images.clone().requires_grad_(True)
    text_embedding = text_embedding.clone().requires_grad_(True)
    return matching_aware_gradient_penalty(discriminator(images, text_embedding), images, text_embedding, power)


def test_gradient_penalty_zero_for_input_blind_discriminator():
    penalty = penalty_of(InputBlind(), torch.randn(4, 3, 8, 8), torch.randn(4, 5))
    assert float(penalty) == 0.0


def test_gradient_penalty_value_for_linear_discriminator():
    # D(x, e) = sum(x) + 2 * sum(e): each gradient row is ones over the image and twos over the text.
    discriminator = lambda image, text: image.sum(dim=(1, 2, 3)) + 2.0 * text.sum(dim=1)  # noqa: E731
    penalty = penalty_of(discriminator, torch.randn(3, 3, 4, 4), torch.randn(3, 5), power=6.0)
    squared_norm = 3 * 4 * 4 + 4.0 * 5
    assert math.isclose(float(penalty), squared_norm**3, rel_tol=1e-5)


def test_gradient_penalty_reaches_discriminator_weights():
    discriminator = Discriminator(embedding_dim=6, projection_dim=4, ndf=4, image_size=32, spectral_norm=True)
    penalty = penalty_of(discriminator, torch.randn(4, 3, 32, 32), torch.randn(4, 6))
    penalty.backward()
    gradient = discriminator.encoder[0].parametrizations.weight.original.grad
    assert gradient is not None
    assert float(gradient.abs().sum()) > 0


def test_hinge_losses_keep_mismatched_term():
    loss, terms = hinge_discriminator_loss(
        torch.tensor([2.0, 0.5]), torch.tensor([0.0, -3.0]), torch.tensor([-2.0, 1.0]), mismatch_weight=0.5, fake_weight=0.5
    )
    assert math.isclose(float(terms["d_real"]), 0.25)
    assert math.isclose(float(terms["d_mismatched"]), 0.5)
    assert math.isclose(float(terms["d_fake"]), 1.0)
    assert math.isclose(float(loss), 0.25 + 0.5 * 0.5 + 0.5 * 1.0)


def test_hinge_generator_loss_adds_interpolated_term():
    loss, terms = hinge_generator_loss(torch.tensor([1.0, 3.0]), torch.tensor([-1.0, -1.0]), interpolation_weight=0.5)
    assert float(terms["g_fake"]) == -2.0
    assert float(terms["g_interpolated"]) == 1.0
    assert float(loss) == -1.5


def test_average_trails_weights_by_decay():
    module = nn.Linear(3, 2)
    average = make_average(module)
    before = average.weight.clone()
    with torch.no_grad():
        module.weight.add_(1.0)
    update_average(average, module, decay=0.9)
    assert torch.allclose(average.weight, 0.9 * before + 0.1 * module.weight)
    assert not average.weight.requires_grad


def test_average_copies_batch_norm_statistics():
    module = nn.BatchNorm1d(3)
    average = make_average(module)
    module(torch.randn(8, 3) * 5 + 2)
    update_average(average, module, decay=0.99)
    assert torch.equal(average.running_mean, module.running_mean)


def test_average_gathers_own_batch_norm_statistics():
    module = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    average = make_average(module).eval()
    with torch.no_grad():
        module[0].weight.mul_(10.0)
    inputs = torch.randn(8, 3) * 5 + 2
    module(inputs)
    expected = make_average(average).train()
    expected(inputs)
    update_average(average, module, 1.0, inputs)
    assert torch.equal(average[1].running_mean, expected[1].running_mean)
    assert torch.equal(average[1].running_var, expected[1].running_var)
    assert not torch.allclose(average[1].running_mean, module[1].running_mean)
    assert not average.training


def test_warmed_up_decay_reaches_configured_decay():
    assert warmed_up_decay(0.999, 0) == pytest.approx(0.1)
    assert warmed_up_decay(0.999, 100) == pytest.approx(101 / 110)
    assert warmed_up_decay(0.999, 100_000) == 0.999


@pytest.mark.parametrize("kind", ["discrimination", "stddev"])
def test_minibatch_features_couple_samples(kind):
    torch.manual_seed(0)
    discriminator = Discriminator(embedding_dim=6, projection_dim=4, ndf=4, image_size=32, minibatch=kind).eval()
    images, text = torch.randn(4, 3, 32, 32), torch.randn(4, 6)
    changed = images.clone()
    changed[3] = torch.randn(3, 32, 32) * 3
    with torch.no_grad():
        first, second = discriminator(images, text)[0], discriminator(changed, text)[0]
    assert not torch.isclose(first, second, atol=1e-6)


def test_discriminator_without_minibatch_scores_samples_alone():
    torch.manual_seed(0)
    discriminator = Discriminator(embedding_dim=6, projection_dim=4, ndf=4, image_size=32).eval()
    images, text = torch.randn(4, 3, 32, 32), torch.randn(4, 6)
    changed = images.clone()
    changed[3] = torch.randn(3, 32, 32) * 3
    with torch.no_grad():
        assert torch.equal(discriminator(images, text)[0], discriminator(changed, text)[0])


def test_minibatch_discrimination_scores_identical_samples_one():
    layer = MinibatchDiscrimination(in_features=12, num_kernels=5, kernel_dim=3)
    features = torch.randn(1, 3, 2, 2).expand(4, -1, -1, -1)
    scores = layer(features)[:, 3:, 0, 0]
    assert torch.allclose(scores, torch.ones(4, 5))


def test_minibatch_stddev_zero_for_identical_samples():
    features = torch.randn(1, 2, 4, 4).expand(8, -1, -1, -1)
    spread = MinibatchStdDev(group_size=4)(features)[:, 2]
    assert float(spread.max()) < 1e-3


def test_minibatch_stddev_uneven_batch():
    output = MinibatchStdDev(group_size=4)(torch.randn(6, 2, 4, 4))
    assert output.shape == (6, 3, 4, 4)


def test_spectral_norm_bounds_singular_values():
    torch.manual_seed(0)
    discriminator = Discriminator(embedding_dim=6, projection_dim=4, ndf=4, image_size=32, spectral_norm=True)
    for _ in range(30):  # each training-mode pass runs one power iteration
        discriminator(torch.randn(4, 3, 32, 32), torch.randn(4, 6))
    layers = [m for m in discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    largest = [float(torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)) for layer in layers]
    assert all(math.isclose(value, 1.0, rel_tol=0.05) for value in largest), largest


def test_spectral_norm_removes_batch_norm():
    discriminator = Discriminator(embedding_dim=6, projection_dim=4, ndf=4, image_size=32, spectral_norm=True)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in discriminator.modules())


def test_conditioning_augmentation_samples_in_training_only():
    torch.manual_seed(0)
    augmentation = ConditioningAugmentation(embedding_dim=6, condition_dim=4)
    text = torch.randn(2, 6)
    mean, _ = augmentation.mean_and_log_variance(text)
    assert not torch.allclose(augmentation(text, torch.ones(2, 4)), augmentation(text, -torch.ones(2, 4)))
    augmentation.eval()
    assert torch.equal(augmentation(text), mean)


def test_conditioning_augmentation_kl_matches_formula():
    augmentation = ConditioningAugmentation(embedding_dim=2, condition_dim=1)
    with torch.no_grad():
        augmentation.moments.weight.zero_()
        augmentation.moments.bias.copy_(torch.tensor([1.0, math.log(4.0)]))  # mean 1, variance 4
    expected = 0.5 * (1.0 + 4.0 - 1.0 - math.log(4.0))
    assert math.isclose(float(augmentation.kl_divergence(torch.zeros(3, 2))), expected, rel_tol=1e-6)


def test_conditioning_augmentation_kl_zero_for_standard_normal():
    augmentation = ConditioningAugmentation(embedding_dim=2, condition_dim=3)
    with torch.no_grad():
        augmentation.moments.weight.zero_()
        augmentation.moments.bias.zero_()
    assert float(augmentation.kl_divergence(torch.randn(4, 2))) == 0.0


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_gradient_penalty_warns_without_spectral_norm(caplog, spectral_norm):
    with caplog.at_level(logging.WARNING, logger="t2i.training.module"):
        TextToImageGAN(ngf=8, ndf=8, image_size=32, loss="hinge", gradient_penalty_weight=2.0, spectral_norm=spectral_norm)
    warned = any("--model.spectral_norm true" in record.getMessage() for record in caplog.records)
    assert warned is not spectral_norm


@pytest.mark.parametrize("size", [128, 256])
def test_large_output_sizes(size):
    generator = Generator(embedding_dim=6, ngf=4, image_size=size).eval()
    discriminator = Discriminator(embedding_dim=6, projection_dim=4, ndf=4, image_size=size).eval()
    with torch.no_grad():
        images = generator(torch.randn(2, 100), torch.randn(2, 6))
        logits = discriminator(images, torch.randn(2, 6))
    assert images.shape == (2, 3, size, size)
    assert logits.shape == (2,)


def test_faithful_defaults_add_nothing():
    module = TextToImageGAN(ngf=8, ndf=8, image_size=32)
    assert module.ema_generator is None
    assert isinstance(module.discriminator.minibatch, nn.Identity)
    assert not module.generator.conditioning_augmentation
    assert any(isinstance(m, nn.BatchNorm2d) for m in module.discriminator.modules())


@pytest.mark.parametrize(
    "setting, value",
    [("loss", "wasserstein"), ("minibatch", "batch"), ("ema_decay", 1.0), ("gradient_penalty_weight", -1.0), ("kl_weight", -0.5)],
)
def test_invalid_option_named(setting, value):
    with pytest.raises(ConfigError, match=setting):
        TextToImageGAN(ngf=8, ndf=8, image_size=32, **{setting: value})


def test_improved_run_exports_averaged_weights(tmp_path, cache_dir):
    assert fit(tmp_path, cache_dir, "--trainer.max_steps", "6", *IMPROVED) == 0
    checkpoint_path = tmp_path / "runs/toy-flowers/checkpoints/last.ckpt"
    config, weights, checkpoint = read_checkpoint(checkpoint_path)
    state = checkpoint["state_dict"]
    assert config["training"]["generator_weights"] == "exponential moving average"
    assert all(torch.equal(value, state[f"ema_generator.{key}"]) for key, value in weights.items())
    trained = state["generator.decoder.0.weight"]
    assert not torch.equal(weights["decoder.0.weight"], trained)
    assert config["generator"]["conditioning_augmentation"] == 1

    pipe = Text2ImagePipeline.from_pretrained(checkpoint_path)
    assert torch.equal(pipe.generator.decoder[0].weight, weights["decoder.0.weight"])
    images = pipe(["a red flower with a yellow center"], seed=0)
    assert images[0].size == (32, 32)
