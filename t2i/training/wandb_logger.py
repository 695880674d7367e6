"""A WandbLogger that logs offline when no W&B credentials are configured, and logs how to upload the run."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path

from lightning.pytorch.loggers import WandbLogger

logger = logging.getLogger(__name__)


def wandb_credentials_found() -> bool:
    """Return True when an API key is set in WANDB_API_KEY or stored in ~/.netrc by `wandb login`."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


class RunLogger(WandbLogger):
    """WandbLogger that writes into `save_dir` and goes offline when there are no credentials.

    Args:
        save_dir: Run folder; W&B files go to `<save_dir>/wandb`.
        project: W&B project name.
        name: W&B run name.
        offline: Log offline; None decides from the credentials and WANDB_MODE.
        **kwargs: Passed on to `lightning.pytorch.loggers.WandbLogger`.
    """

    def __init__(self, save_dir: str = "runs/t2i", project: str = "t2i", name: str | None = None, offline: bool | None = None, **kwargs):
        if offline is None:
            offline = os.environ.get("WANDB_MODE") in ("offline", "dryrun") or not wandb_credentials_found()
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        super().__init__(save_dir=save_dir, project=project, name=name, offline=offline, **kwargs)
        self._offline_announced = not offline

    @property
    def experiment(self):
        experiment = WandbLogger.experiment.fget(self)
        # Ranks other than 0 get Lightning's DummyExperiment, whose attributes are methods, not a run folder.
        if not self._offline_announced and isinstance(getattr(experiment, "dir", None), str):
            self._offline_announced = True
            run_dir = Path(experiment.dir).parent
            logger.info("No W&B credentials found, so W&B logs offline to %s; upload it later with: wandb sync %s", run_dir, run_dir)
        return experiment

    def finalize(self, status: str) -> None:
        super().finalize(status)
        # Close the run so that a later fit in the same process starts its own run instead of reusing this one.
        if self._experiment is not None and hasattr(self._experiment, "finish"):
            self._experiment.finish(exit_code=0 if status == "success" else 1)
            self._experiment = None
