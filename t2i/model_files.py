"""Model files: the exported folder (config.json and safetensors weights) and `t2i fit` checkpoints.

An exported folder contains no pickle: the config is JSON and the weights are safetensors, so loading one
runs no code from the file. Checkpoints are read with `torch.load(weights_only=True)`, which also
refuses pickled code.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from t2i.errors import ModelNotFoundError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "generator.safetensors"
# Bump when config.json changes in a way older t2i versions cannot read.
MODEL_FORMAT = 1
HOW_TO_TRAIN = (
    "train one with `scripts/demo.sh` or `t2i fit --config configs/toy-flowers.yaml`, then pass its checkpoint"
    " (for example runs/toy-flowers/checkpoints/last.ckpt) or a folder written by `t2i export`"
)
GENERATOR_KEYS = ("embedding_dim", "noise_dim", "projection_dim", "ngf", "image_size")


def read_checkpoint(path: Path) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """Return the model config, the generator weights and the raw checkpoint of a `t2i fit` checkpoint."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise ModelNotFoundError(
            f"failed to read checkpoint {path} ({error}); the file may be truncated or not a PyTorch checkpoint"
        ) from error
    meta = checkpoint.get("t2i") if isinstance(checkpoint, dict) else None
    if not meta or not meta.get("text_encoder"):
        raise ModelNotFoundError(f"{path} is not a t2i training checkpoint (it has no 't2i' entry); {HOW_TO_TRAIN}")
    state = checkpoint["state_dict"]
    # A run with --model.ema_decay stores the weight average beside the trained generator; samples use the average.
    averaged = any(key.startswith("ema_generator.") for key in state)
    prefix = "ema_generator." if averaged else "generator."
    weights = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    config = {
        "format": MODEL_FORMAT,
        "generator": dict(meta["generator"]),
        "text_encoder": dict(meta["text_encoder"]),
        "training": {
            "dataset": meta.get("dataset"),
            "batches_trained": meta.get("batches_trained"),
            "epochs": checkpoint.get("epoch"),
            "model_settings": dict(checkpoint.get("hyper_parameters") or {}),
            "data_settings": dict(checkpoint.get("datamodule_hyper_parameters") or {}),
            "last_losses": dict(meta.get("last_losses") or {}),
            "generator_weights": "exponential moving average" if averaged else "trained",
            "checkpoint": str(path),
        },
    }
    return config, weights, checkpoint


def read_model_folder(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Return the config and generator weights of a folder written by `save_pretrained` or `t2i export`."""
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ModelNotFoundError(
                f"model file {path} not found; a t2i model folder contains {CONFIG_NAME} and {WEIGHTS_NAME}."
                " Export one with `t2i export --ckpt CHECKPOINT --out FOLDER`"
            )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelNotFoundError(f"model file {config_path} is not valid JSON ({error}); export the model again") from error
    missing = [key for key in ("generator", "text_encoder") if not isinstance(config.get(key), dict)]
    missing += [f"generator.{key}" for key in GENERATOR_KEYS if key not in config.get("generator", {})]
    if missing:
        raise ModelNotFoundError(f"model file {config_path} lacks {', '.join(missing)}; export the model again")
    model_format = config.get("format", MODEL_FORMAT)
    if not isinstance(model_format, int) or model_format > MODEL_FORMAT:
        raise ModelNotFoundError(
            f"model file {config_path} has format {model_format!r}, but this t2i reads formats up to {MODEL_FORMAT};"
            " upgrade t2i"
        )
    try:
        weights = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelNotFoundError(
            f"model file {weights_path} is not a valid safetensors file ({error}); export the model again"
        ) from error
    return config, weights


def write_model_folder(folder: Path, config: dict, weights: dict[str, torch.Tensor]) -> None:
    """Write config.json and the weights into `folder`, each through a temporary file renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    weights_tmp = folder / f".{WEIGHTS_NAME}.tmp-{os.getpid()}"
    save_file({key: value.detach().cpu().contiguous() for key, value in weights.items()}, str(weights_tmp))
    os.replace(weights_tmp, folder / WEIGHTS_NAME)
    config_tmp = folder / f".{CONFIG_NAME}.tmp-{os.getpid()}"
    config_tmp.write_text(json.dumps(config, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(config_tmp, folder / CONFIG_NAME)
    # safetensors creates its file readable by the owner only; give it the same mode as the JSON file.
    os.chmod(folder / WEIGHTS_NAME, (folder / CONFIG_NAME).stat().st_mode & 0o777)


def replace_folder(tmp: Path, final: Path) -> None:
    """Move the finished folder `tmp` to `final`, replacing a previous export there."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
