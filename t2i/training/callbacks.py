"""Sample grids during training: fixed captions (rows) times fixed noise vectors (columns), saved and logged."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from PIL import Image
from torchvision.utils import make_grid

from t2i.images import to_hwc_uint8
from t2i.errors import ConfigError

logger = logging.getLogger(__name__)


class SampleGrid(L.Callback):
    """Every `every_n_batches` training batches and at the end, draw and log a grid of samples.

    The grid is saved as a PNG under `<trainer.default_root_dir>/samples/`, whose captions.txt lists
    the row captions, and, with a W&B logger,
    logged as a wandb.Image whose caption lists the row captions, plus a wandb.Table of caption and row.

    Args:
        every_n_batches: Draw a grid every this many training batches (one generator step each).
        num_captions: Rows of the grid, taken from the data module's fixed sample captions.
        num_noise: Columns of the grid: fixed noise vectors shared by every row.
        seed: Seed of the fixed noise vectors.
    """

    def __init__(self, every_n_batches: int = 500, num_captions: int = 6, num_noise: int = 8, seed: int = 0):
        if every_n_batches < 1:
            raise ConfigError(f"every_n_batches must be at least 1, got {every_n_batches}")
        self.every_n_batches = every_n_batches
        self.num_captions = num_captions
        self.num_noise = num_noise
        self.seed = seed
        self.captions: list[str] = []
        self.embeddings: torch.Tensor | None = None
        self.noise: torch.Tensor | None = None
        self.last_path: Path | None = None
        self.last_logged_batch = -1

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        self.captions = datamodule.sample_captions(self.num_captions)
        if trainer.is_global_zero:
            folder = Path(trainer.default_root_dir) / "samples"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "captions.txt").write_text("\n".join(self.captions) + "\n", encoding="utf-8")
        self.embeddings = datamodule.encode_captions(self.captions)
        noise_dim = pl_module.generator.noise_dim
        self.noise = torch.randn(self.num_noise, noise_dim, generator=torch.Generator().manual_seed(self.seed))

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        # `t2i export` draws the model card's sample grid from these, also for models whose encoder is not loadable.
        if self.embeddings is not None:
            checkpoint["t2i_samples"] = {"captions": list(self.captions), "embeddings": self.embeddings.cpu()}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.batches_trained % self.every_n_batches == 0:
            self.log_grid(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.log_grid(trainer, pl_module)
        if self.last_path is not None:
            logger.info("Last sample grid: %s", self.last_path)

    @torch.no_grad()
    def draw(self, generator: torch.nn.Module) -> torch.Tensor:
        """Return the grid as a float image [3, H, W] in [-1, 1], drawn with the generator in eval mode."""
        device = next(generator.parameters()).device
        rows = len(self.captions)
        z = self.noise.repeat(rows, 1).to(device)
        text_embedding = self.embeddings.repeat_interleave(self.num_noise, dim=0).to(device)
        was_training = generator.training
        generator.eval()
        try:
            images = generator(z, text_embedding).float()
        finally:
            generator.train(was_training)
        return make_grid(images, nrow=self.num_noise, padding=2, pad_value=1.0)

    @rank_zero_only
    def log_grid(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.embeddings is None or pl_module.batches_trained in (0, self.last_logged_batch):
            return
        self.last_logged_batch = pl_module.batches_trained
        grid = to_hwc_uint8(self.draw(getattr(pl_module, "sampling_generator", pl_module.generator)))
        step = pl_module.batches_trained
        folder = Path(trainer.default_root_dir) / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        self.last_path = folder / f"batch_{step:07d}.png"
        Image.fromarray(grid).save(self.last_path)

        for run_logger in trainer.loggers:
            if isinstance(run_logger, WandbLogger):
                self._log_to_wandb(run_logger, grid, trainer.global_step)

    def _log_to_wandb(self, run_logger: WandbLogger, grid, global_step: int) -> None:
        import wandb

        # wandb stores float images without rescaling, so the grid is passed as uint8 HWC.
        caption = " | ".join(f"row {row + 1}: {text}" for row, text in enumerate(self.captions))
        row_height = grid.shape[0] // len(self.captions)
        table = wandb.Table(columns=["caption", "samples"])
        for row, text in enumerate(self.captions):
            table.add_data(text, wandb.Image(grid[row * row_height : (row + 1) * row_height + 2]))
        run_logger.experiment.log(
            {"samples/grid": wandb.Image(grid, caption=caption), "samples/table": table, "trainer/global_step": global_step}
        )
