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
