"""Callbacks that tests load into `t2i fit` subprocesses by class path."""

import os
import signal

import lightning as L


class KillAfterBatches(L.Callback):
    """SIGKILL the training process at the end of batch `batches`, as a crash or an out-of-memory kill would."""

    def __init__(self, batches: int):
        self.batches = batches

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.batches_trained >= self.batches:
            os.kill(os.getpid(), signal.SIGKILL)


class NanBatches(L.Callback):
    """Fill the images of the given batch numbers (or of every batch from `from_batch` on) with NaN."""

    def __init__(self, batches: list[int] | None = None, from_batch: int | None = None):
        self.batches = set(batches or [])
        self.from_batch = from_batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        number = pl_module.batches_trained
        if number in self.batches or (self.from_batch is not None and number >= self.from_batch):
            batch["image"].fill_(float("nan"))


class SaveRankWeights(L.Callback):
    """Save every process's parameters (weights, not batch-norm statistics) to weights_rank<N>.pt in the working folder."""

    def on_train_end(self, trainer, pl_module) -> None:
        import torch

        weights = {name: value.detach().cpu() for name, value in pl_module.named_parameters()}
        torch.save(weights, f"weights_rank{trainer.global_rank}.pt")
