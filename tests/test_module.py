"""Tests of the GAN-INT-CLS LightningModule: which pairs each player's step scores, optimisers and schedule."""

import lightning as L
import torch
from torch.utils.data import DataLoader

from t2i.training.losses import interpolate_embeddings
from t2i.training.module import TextToImageGAN

BATCH = 8
DIM = 16


def _batches(count: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [
        {
            "image": torch.rand(BATCH, 3, 32, 32, generator=generator) * 2 - 1,
            "embedding": torch.randn(BATCH, DIM, generator=generator),
            "mismatched_embedding": torch.randn(BATCH, DIM, generator=generator),
        }
        for _ in range(count)
    ]


def _trainer(**kwargs) -> L.Trainer:
    return L.Trainer(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, **kwargs
    )


def _record_discriminator_calls(module: TextToImageGAN, batch: dict[str, torch.Tensor]) -> list[tuple[str, str, bool]]:
    calls = []
    original = module.discriminator.forward

    def recording_forward(image, text_embedding):
        image_kind = "real" if torch.equal(image, batch["image"]) else "generated"
        if torch.equal(text_embedding, batch["embedding"]):
            text_kind = "matching"
        elif torch.equal(text_embedding, batch["mismatched_embedding"]):
            text_kind = "mismatched"
        elif torch.allclose(text_embedding, interpolate_embeddings(batch["embedding"])):
            text_kind = "interpolated"
        else:
            text_kind = "unknown"
        discriminator_trains = next(module.discriminator.parameters()).requires_grad
        calls.append((image_kind, text_kind, discriminator_trains))
        return original(image, text_embedding)

    module.discriminator.forward = recording_forward
    return calls


def test_each_step_scores_expected_pairs():
    torch.manual_seed(0)
    module = TextToImageGAN(embedding_dim=DIM, image_size=32, ngf=4, ndf=4)
    batch = _batches(1)[0]
    calls = _record_discriminator_calls(module, batch)
    _trainer(max_steps=2).fit(module, DataLoader([batch], batch_size=None))
    discriminator_step = sorted(call[:2] for call in calls if call[2])
    generator_step = sorted(call[:2] for call in calls if not call[2])
    assert discriminator_step == [("generated", "matching"), ("real", "matching"), ("real", "mismatched")]
    assert generator_step == [("generated", "interpolated"), ("generated", "matching")]


def test_interpolation_weight_zero_skips_gan_int():
    torch.manual_seed(0)
    module = TextToImageGAN(embedding_dim=DIM, image_size=32, ngf=4, ndf=4, interpolation_weight=0.0)
    batch = _batches(1)[0]
    calls = _record_discriminator_calls(module, batch)
    _trainer(max_steps=2).fit(module, DataLoader([batch], batch_size=None))
    assert [call[:2] for call in calls if not call[2]] == [("generated", "matching")]


def test_adam_settings_of_reed():
    module = TextToImageGAN(embedding_dim=DIM, image_size=32, ngf=4, ndf=4)
    optimizers, _ = module.configure_optimizers()
    for optimizer in optimizers:
        assert optimizer.defaults["lr"] == 2e-4
        assert optimizer.defaults["betas"] == (0.5, 0.999)


def test_learning_rate_halves_on_schedule():
    module = TextToImageGAN(embedding_dim=DIM, image_size=32, ngf=4, ndf=4, lr_decay_every=2)
    trainer = _trainer(max_epochs=4)
    trainer.fit(module, DataLoader(_batches(2), batch_size=None))
    learning_rates = [optimizer.param_groups[0]["lr"] for optimizer in trainer.optimizers]
    assert learning_rates == [5e-5, 5e-5]

