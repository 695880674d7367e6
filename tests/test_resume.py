"""Tests of exact resume after SIGKILL, and of checkpoint writes that a kill cannot leave half done."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import CONFIGS, TINY

# Batches between checkpoints: 5 is mid-epoch (48 training images make 3 batches of 16), and the full run
# trains twice as many.
BATCHES = 5


def write_config(folder: Path) -> Path:
    """The toy-flowers config with a checkpoint every BATCHES batches and no sample grids in between."""
    config = yaml.safe_load((CONFIGS / "toy-flowers.yaml").read_text())
    for callback in config["trainer"]["callbacks"]:
        if callback["class_path"].endswith("ModelCheckpoint"):
            callback["init_args"]["every_n_train_steps"] = 2 * BATCHES
        else:
            callback["init_args"]["every_n_batches"] = 1000
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def fit_command(config: Path, cache_dir: Path, max_steps: int, *extra: str) -> list[str]:
    return [
        str(Path(sys.executable).with_name("t2i")), "fit", "--config", str(config), *TINY,
        "--data.cache_dir", str(cache_dir), "--trainer.max_steps", str(max_steps), "--trainer.deterministic", "true",
        "--trainer.enable_progress_bar", "false", *extra,
    ]


def weights(run: Path, name: str = "last.ckpt") -> dict:
    checkpoint = torch.load(run / "runs/toy-flowers/checkpoints" / name, weights_only=True)
    return {"state_dict": checkpoint["state_dict"], "optimizers": checkpoint["optimizer_states"]}


def flatten(value, prefix=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}{key}.")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}{index}.")
    elif isinstance(value, torch.Tensor):
        yield prefix, value


IMPROVED = (
    "--model.conditioning_augmentation", "true", "--model.minibatch", "stddev", "--model.spectral_norm", "true",
    "--model.loss", "hinge", "--model.gradient_penalty_weight", "2.0", "--model.ema_decay", "0.999",
)


@pytest.mark.parametrize("options", [(), IMPROVED], ids=["faithful", "improved"])
def test_resume_after_kill_is_exact(tmp_path, cache_dir, trained, options):
    env = dict(os.environ, WANDB_MODE="offline", HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).parents[1]))
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    straight.mkdir()
    killed.mkdir()
    config = write_config(tmp_path)
    total_steps = 4 * BATCHES  # two optimiser steps a batch

    subprocess.run(fit_command(config, cache_dir, total_steps, *options), cwd=straight, env=env, check=True, capture_output=True)

    # Kill the process 2 batches after the first checkpoint, so that it dies mid-epoch with unsaved progress.
    killer = ["--trainer.callbacks+=tests.helpers.KillAfterBatches", f"--trainer.callbacks.batches={BATCHES + 2}"]
    process = subprocess.run(
        fit_command(config, cache_dir, 100 * total_steps, *options, *killer), cwd=killed, env=env, capture_output=True
    )
    assert process.returncode == -signal.SIGKILL
    checkpoints = killed / "runs/toy-flowers/checkpoints"
    assert sorted(path.name for path in checkpoints.iterdir()) == ["last.ckpt", f"step{2 * BATCHES:07d}.ckpt"]

    subprocess.run(
        fit_command(config, cache_dir, total_steps, *options, "--ckpt_path", "last"), cwd=killed, env=env, check=True,
        capture_output=True,
    )
    expected, resumed = dict(flatten(weights(straight))), dict(flatten(weights(killed)))
    assert expected.keys() == resumed.keys()
    for key, value in expected.items():
        assert torch.equal(value, resumed[key]), key


KILL_WRITER = """
import sys, torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
print("writing", flush=True)
TorchCheckpointIO().save_checkpoint({"weights": torch.ones(150_000_000)}, sys.argv[1])
"""


def test_killed_checkpoint_write_keeps_previous(tmp_path):
    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

    path = tmp_path / "last.ckpt"
    TorchCheckpointIO().save_checkpoint({"weights": torch.zeros(3)}, path)
    process = subprocess.Popen([sys.executable, "-c", KILL_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    # torch.save of 600 MB takes over a second here, so the kill lands while the new file is being written.
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.zeros(3))
