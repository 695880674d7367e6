"""The GAN-INT-CLS LightningModule: generator and discriminator steps with manual optimisation."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch

from t2i.data.batches import batch_seed
from t2i.errors import ConfigError, TrainingError
from t2i.models.discriminator import Discriminator
from t2i.models.generator import Generator
from t2i.training.ema import make_average, update_average, warmed_up_decay
from t2i.training.losses import (
    gan_cls_loss,
    generator_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    interpolate_embeddings,
    matching_aware_gradient_penalty,
)

CHECKPOINT_FORMAT = 1
# Settings that change the networks' shapes; a checkpoint resumes only into a model with the same values.
ARCHITECTURE_KEYS = (
    "embedding_dim", "image_size", "noise_dim", "projection_dim", "ngf", "ndf",
    "conditioning_augmentation", "minibatch", "spectral_norm",
)
# Discriminator and generator loss of each `loss` choice.
LOSSES = {"bce": (gan_cls_loss, generator_loss), "hinge": (hinge_discriminator_loss, hinge_generator_loss)}

logger = logging.getLogger(__name__)


class TextToImageGAN(L.LightningModule):
    """Train G and D with the matching-aware loss (GAN-CLS) and embedding interpolation (GAN-INT).

    The options from conditioning_augmentation on go beyond Reed et al.; all are off by default, and
    `configs/*-improved.yaml` turn on those that docs/ablations.md found helpful.

    Args:
        embedding_dim: Size of the text embeddings; `t2i fit` sets it from the data's text encoder.
        image_size: Output side in pixels (32, 64, 128 or 256); `t2i fit` sets it from `--data.image_size`.
        noise_dim: Size of the noise vector z.
        projection_dim: Size the text embedding is projected to in G and D.
        ngf: Generator base width (128 in Reed et al.'s released code).
        ndf: Discriminator base width (64 in Reed et al.'s released code).
        lr: Adam learning rate for both players.
        beta1: Adam's first-moment decay.
        beta2: Adam's second-moment decay.
        mismatch_weight: Weight of the (real image, mismatched text) term of the discriminator loss.
        fake_weight: Weight of the (generated image, matching text) term of the discriminator loss.
        interpolation_weight: Weight of the GAN-INT generator term; 0 turns GAN-INT off.
        interpolation_beta: Interpolation coefficient beta of GAN-INT.
        lr_decay_every: Multiply both learning rates by `lr_decay_factor` every this many epochs.
        lr_decay_factor: Learning-rate factor applied every `lr_decay_every` epochs.
        noise_seed: Seed of the noise vectors. Each batch draws from a generator seeded with it, the batch
            number and the process rank, so a resumed run draws the same noise as an uninterrupted one.
        max_nonfinite_batches: Stop with an error after this many batches in a row whose loss is NaN or
            infinite. Each such batch is skipped (no weight update) and logged.
        channels_last: Keep weights and images in channels-last memory format, which GPU convolutions favour.
        compile: Compile both networks with torch.compile on the first step (slow to start; pays off on GPUs).
        conditioning_augmentation: Condition G on a Gaussian sample around the projected text (Zhang et al. 2017).
        kl_weight: Weight of the conditioning-augmentation KL penalty in the generator loss.
        minibatch: Features in D that compare samples of a batch: "none", "discrimination" (Salimans et al.
            2016) or "stddev" (Karras et al. 2018).
        spectral_norm: Spectrally normalise D's weights (Miyato et al. 2018).
        loss: "bce" for Reed et al.'s GAN-CLS cross-entropy terms, "hinge" for DF-GAN's hinge terms on the
            same three pairs (Tao et al. 2022).
        gradient_penalty_weight: Weight of the matching-aware zero-centred gradient penalty on (real image,
            matching text); 0 turns it off, DF-GAN uses 2.
        gradient_penalty_power: Power of the gradient norm in that penalty (DF-GAN: 6).
        ema_decay: Keep an exponential moving average of G's weights with this decay and use it for sample
            grids, evaluation and export; 0 turns it off. The first updates use a smaller decay.
    """

    def __init__(
        self,
        embedding_dim: int = 384,
        image_size: int = 64,
        noise_dim: int = 100,
        projection_dim: int = 128,
        ngf: int = 128,
        ndf: int = 64,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        mismatch_weight: float = 0.5,
        fake_weight: float = 0.5,
        interpolation_weight: float = 1.0,
        interpolation_beta: float = 0.5,
        lr_decay_every: int = 100,
        lr_decay_factor: float = 0.5,
        noise_seed: int = 0,
        max_nonfinite_batches: int = 10,
        channels_last: bool = False,
        compile: bool = False,
        conditioning_augmentation: bool = False,
        kl_weight: float = 1.0,
        minibatch: str = "none",
        spectral_norm: bool = False,
        loss: str = "bce",
        gradient_penalty_weight: float = 0.0,
        gradient_penalty_power: float = 6.0,
        ema_decay: float = 0.0,
    ):
        super().__init__()
        if lr <= 0:
            raise ConfigError(f"lr must be positive, got {lr}")
        if max_nonfinite_batches < 1:
            raise ConfigError(f"max_nonfinite_batches must be at least 1, got {max_nonfinite_batches}")
        if lr_decay_every < 1:
            raise ConfigError(f"lr_decay_every must be at least 1 epoch, got {lr_decay_every}")
        check_improvement_options(loss, kl_weight, gradient_penalty_weight, gradient_penalty_power, ema_decay)
        if gradient_penalty_weight > 0 and not spectral_norm:
            logger.warning(
                "gradient_penalty_weight=%s with batch norm in the discriminator failed to train in the toy-flowers "
                "ablation (docs/ablations.md): the penalty grew to about 30 and dominated the loss. Add "
                "--model.spectral_norm true, which removes batch norm from the discriminator.",
                gradient_penalty_weight,
            )
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = Generator(embedding_dim, noise_dim, projection_dim, ngf, image_size, conditioning_augmentation)
        self.discriminator = Discriminator(embedding_dim, projection_dim, ndf, image_size, minibatch, spectral_norm)
        if channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        self.ema_generator = make_average(self.generator) if ema_decay > 0 else None
        # Batches trained so far; Lightning's global_step counts both optimisers' steps, two per batch.
        self.batches_trained = 0
        self.nonfinite_in_a_row = 0

    def configure_model(self) -> None:
        # nn.Module.compile compiles in place, so parameter names and checkpoints stay as without it.
        if self.hparams.compile and not getattr(self, "_compiled", False):
            self.generator.compile()
            self.discriminator.compile()
            self._compiled = True

    @property
    def sampling_generator(self) -> Generator:
        """The generator that draws sample grids and is exported: the weight average when `ema_decay` is set."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def generator_config(self) -> dict[str, int]:
        """Return the arguments that rebuild the generator, as stored in checkpoints and exports."""
        keys = ("embedding_dim", "noise_dim", "projection_dim", "ngf", "image_size", "conditioning_augmentation")
        return {key: int(self.hparams[key]) for key in keys}

    def configure_optimizers(self):
        betas = (self.hparams.beta1, self.hparams.beta2)
        optimizers = [
            torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.lr, betas=betas),
            torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr, betas=betas),
        ]
        schedulers = [
            torch.optim.lr_scheduler.StepLR(optimizer, self.hparams.lr_decay_every, self.hparams.lr_decay_factor)
            for optimizer in optimizers
        ]
        return optimizers, schedulers

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        images = batch["image"]
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        text_embedding = batch["embedding"]
        mismatched_embedding = batch["mismatched_embedding"]
        batch_size = images.shape[0]
        d_optimizer, g_optimizer = self.optimizers()
        hp = self.hparams

        # Batch-norm running statistics change in every forward pass; a skipped batch puts them back.
        buffers = [(buffer, buffer.clone()) for buffer in (*self.generator.buffers(), *self.discriminator.buffers())]
        noise_generator = torch.Generator(device=self.device)
        noise_generator.manual_seed(batch_seed(hp.noise_seed, self.batches_trained, self.global_rank))

        # Discriminator step: three pairs, each through D as its own batch as in the released code.
        z = torch.randn(batch_size, hp.noise_dim, device=self.device, dtype=images.dtype, generator=noise_generator)
        condition_noise = self._condition_noise(z, noise_generator)
        fake_images = self.generator(z, text_embedding, condition_noise)
        discriminator_loss, generator_loss_fn = LOSSES[hp.loss]
        penalised = hp.gradient_penalty_weight > 0
        real_images = images.detach().requires_grad_(True) if penalised else images
        real_embedding = text_embedding.detach().requires_grad_(True) if penalised else text_embedding
        with self.toggled_optimizer(d_optimizer):
            real_logits = self.discriminator(real_images, real_embedding)
            d_loss, d_terms = discriminator_loss(
                real_logits,
                self.discriminator(images, mismatched_embedding),
                self.discriminator(fake_images.detach(), text_embedding),
                hp.mismatch_weight,
                hp.fake_weight,
            )
            if penalised:
                d_terms["d_gradient_penalty"] = matching_aware_gradient_penalty(
                    real_logits, real_images, real_embedding, hp.gradient_penalty_power
                )
                d_loss = d_loss + hp.gradient_penalty_weight * d_terms["d_gradient_penalty"]
            d_finite = bool(torch.isfinite(d_loss))
            if d_finite:
                d_optimizer.zero_grad(set_to_none=True)
                self.manual_backward(d_loss)
                d_optimizer.step()
        if not d_finite:
            self._skip_batch("discriminator", d_loss, buffers)
            return

        # Generator step: fool D on matching text and, for GAN-INT, on interpolated text with fresh noise.
        with self.toggled_optimizer(g_optimizer):
            interpolated_logits = None
            if hp.interpolation_weight > 0:
                interpolated_embedding = interpolate_embeddings(text_embedding, hp.interpolation_beta)
                z_interpolated = torch.randn(z.shape, device=z.device, dtype=z.dtype, generator=noise_generator)
                interpolated_images = self.generator(
                    z_interpolated, interpolated_embedding, self._condition_noise(z_interpolated, noise_generator)
                )
                interpolated_logits = self.discriminator(interpolated_images, interpolated_embedding)
            g_loss, g_terms = generator_loss_fn(
                self.discriminator(fake_images, text_embedding), interpolated_logits, hp.interpolation_weight
            )
            if hp.conditioning_augmentation:
                g_terms["g_kl"] = self.generator.kl_divergence(text_embedding)
                g_loss = g_loss + hp.kl_weight * g_terms["g_kl"]
            g_finite = bool(torch.isfinite(g_loss))
            if g_finite:
                g_optimizer.zero_grad(set_to_none=True)
                self.manual_backward(g_loss)
                g_optimizer.step()
        if not g_finite:
            self._skip_batch("generator", g_loss, buffers)
            return
        if self.ema_generator is not None:
            # The average's batch-norm statistics come from its own pass over this batch's noise and text.
            decay = warmed_up_decay(hp.ema_decay, self.batches_trained)
            update_average(self.ema_generator, self.generator, decay, z, text_embedding, condition_noise)

        self.batches_trained += 1
        self.nonfinite_in_a_row = 0
        self.log_dict({"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}, prog_bar=True, batch_size=batch_size)
        self.log_dict(
            {f"loss/{name}": value.detach() for name, value in {**d_terms, **g_terms}.items()},
            batch_size=batch_size,
        )

    def _condition_noise(self, z: torch.Tensor, noise_generator: torch.Generator) -> torch.Tensor | None:
        """Draw conditioning augmentation's eps from the batch's seeded generator, so that resumed runs match."""
        if not self.hparams.conditioning_augmentation:
            return None
        shape = (z.shape[0], self.hparams.projection_dim)
        return torch.randn(shape, device=z.device, dtype=z.dtype, generator=noise_generator)

    def _skip_batch(self, player: str, loss: torch.Tensor, buffers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Count a batch whose loss is not finite (its update was skipped); stop after too many in a row."""
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        self.nonfinite_in_a_row += 1
        logger.warning(
            "Skipped the %s update of batch %d: its loss is %s (%d such batches in a row)",
            player, self.batches_trained, float(loss), self.nonfinite_in_a_row,
        )
        self.batches_trained += 1
        if self.nonfinite_in_a_row >= self.hparams.max_nonfinite_batches:
            callback = self.trainer.checkpoint_callback
            last = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
            where = f"the last good checkpoint is {last}" if last else "no checkpoint was saved before"
            raise TrainingError(
                f"{self.nonfinite_in_a_row} batches in a row had a non-finite loss (the last one batch"
                f" {self.batches_trained - 1}), so training stopped; {where}. Resume from it with a lower --model.lr,"
                " or check the data for NaN values"
            )

    def on_train_epoch_end(self) -> None:
        for scheduler in self.lr_schedulers():
            scheduler.step()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        checkpoint["t2i"] = {
            "format": CHECKPOINT_FORMAT,
            "generator": self.generator_config(),
            "text_encoder": getattr(datamodule, "encoder_identity", None),
            "dataset": getattr(datamodule, "dataset_name", None),
            "batches_trained": self.batches_trained,
            "last_losses": {
                name: float(value) for name, value in self.trainer.callback_metrics.items() if name in ("d_loss", "g_loss")
            },
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning calls this before it loads the weights, so a mismatch is reported before a size error.
        saved = checkpoint.get("hyper_parameters") or {}
        different = [
            f"{key}={saved[key]} (this run: {self.hparams[key]})"
            for key in ARCHITECTURE_KEYS
            if key in saved and saved[key] != self.hparams[key]
        ]
        if bool(saved.get("ema_decay", 0)) != bool(self.hparams.ema_decay):
            different.append(f"ema_decay={saved.get('ema_decay', 0)} (this run: {self.hparams.ema_decay})")
        if different:
            raise ConfigError(
                f"the checkpoint was trained with {', '.join(different)}; pass the same --model and --data settings"
                " to resume it, or start a new run without --ckpt_path"
            )
        self.batches_trained = checkpoint.get("t2i", {}).get("batches_trained", 0)


def check_improvement_options(
    loss: str, kl_weight: float, gradient_penalty_weight: float, gradient_penalty_power: float, ema_decay: float
) -> None:
    """Raise a ConfigError naming the first invalid setting among the options beyond Reed et al."""
    if loss not in LOSSES:
        raise ConfigError(f"loss must be one of {tuple(LOSSES)}, got {loss!r}")
    if kl_weight < 0:
        raise ConfigError(f"kl_weight must be at least 0, got {kl_weight}")
    if gradient_penalty_weight < 0:
        raise ConfigError(f"gradient_penalty_weight must be at least 0 (0 turns the penalty off), got {gradient_penalty_weight}")
    if gradient_penalty_power <= 0:
        raise ConfigError(f"gradient_penalty_power must be positive, got {gradient_penalty_power}")
    if not 0 <= ema_decay < 1:
        raise ConfigError(f"ema_decay must lie in [0, 1) (0 turns the average off), got {ema_decay}")
