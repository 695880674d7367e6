"""`t2i fit` with two CPU processes under DDP: identical weights on both, grids and W&B from rank 0 only."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.conftest import CONFIGS, TINY


def test_ddp_two_processes(tmp_path, cache_dir, trained):
    env = dict(os.environ, WANDB_MODE="offline", HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).parents[1]))
    command = [
        str(Path(sys.executable).with_name("t2i")), "fit", "--config", str(CONFIGS / "toy-flowers.yaml"), *TINY,
        "--data.batch_size", "8", "--data.cache_dir", str(cache_dir), "--trainer.max_steps", "8",
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
        "--trainer.enable_progress_bar", "false", "--trainer.callbacks+=tests.helpers.SaveRankWeights",
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]

    rank0 = torch.load(tmp_path / "weights_rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "weights_rank1.pt", weights_only=True)
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), key
    run = tmp_path / "runs" / "toy-flowers"
    assert len(list((run / "wandb").glob("offline-run-*"))) == 1
    assert sorted(path.name for path in (run / "samples").iterdir()) == ["batch_0000004.png", "captions.txt"]
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["t2i"]["batches_trained"] == 4
