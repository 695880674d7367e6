"""Tests of the performance options: bf16 mixed precision, channels-last memory format and torch.compile."""

import torch

from t2i.training.module import TextToImageGAN
from tests.conftest import fit


def test_bf16_mixed_precision_trains(tmp_path, cache_dir):
    assert fit(tmp_path, cache_dir, "--trainer.max_steps", "4", "--trainer.precision", "bf16-mixed") == 0
    checkpoint = torch.load(tmp_path / "runs/toy-flowers/checkpoints/last.ckpt", weights_only=True)
    assert checkpoint["t2i"]["batches_trained"] == 2
    assert all(torch.isfinite(value).all() for value in checkpoint["state_dict"].values() if value.is_floating_point())


def test_channels_last_trains(tmp_path, cache_dir):
    assert fit(tmp_path, cache_dir, "--trainer.max_steps", "4", "--model.channels_last", "true") == 0


def test_channels_last_weights_layout():
    module = TextToImageGAN(ngf=8, ndf=8, image_size=32, channels_last=True)
    convolutions = [m for m in module.discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(conv.weight.is_contiguous(memory_format=torch.channels_last) for conv in convolutions)


def test_compile_keeps_parameter_names():
    plain = TextToImageGAN(ngf=8, ndf=8, image_size=32)
    compiled = TextToImageGAN(ngf=8, ndf=8, image_size=32, compile=True)
    compiled.configure_model()
    assert list(compiled.state_dict()) == list(plain.state_dict())
    assert compiled.generator._compiled_call_impl is not None


def test_images_on_device_trains_identically(tmp_path, cache_dir):
    # On this CPU-only machine the device is the CPU, so the option must leave every weight unchanged.
    plain, on_device = tmp_path / "plain", tmp_path / "on-device"
    plain.mkdir()
    on_device.mkdir()
    assert fit(plain, cache_dir, "--trainer.max_steps", "4", "--trainer.deterministic", "true") == 0
    assert fit(on_device, cache_dir, "--trainer.max_steps", "4", "--trainer.deterministic", "true", "--data.images_on_device", "true") == 0
    expected = torch.load(plain / "runs/toy-flowers/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    actual = torch.load(on_device / "runs/toy-flowers/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert expected.keys() == actual.keys()
    for key, value in expected.items():
        assert torch.equal(value, actual[key]), key
