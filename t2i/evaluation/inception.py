"""The Inception network of FID, KID and Inception Score, from torch-fidelity, and feature extraction with it."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from pathlib import Path

import torch
from tqdm.auto import tqdm

from t2i.errors import T2IError

logger = logging.getLogger(__name__)

# torch-fidelity's port of the Inception-v3 graph that the TensorFlow FID code of Heusel et al. (2017) uses.
INCEPTION_NAME = "inception-v3-compat"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
# torch.hub names a checkpoint after the first 8 hex digits of its SHA-256.
INCEPTION_SHA256_PREFIX = "6726825d"
POOL_FEATURES = "2048"
LOGITS = "logits_unbiased"
DOWNLOAD_TIMEOUT_S = 30


def _offline() -> bool:
    return any(os.environ.get(name, "").lower() in {"1", "true", "yes", "on"} for name in ("HF_HUB_OFFLINE", "T2I_OFFLINE"))


def missing_weights_message(reason: str) -> str:
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    return (
        f"the Inception weights for FID, KID and Inception Score are not available ({reason}). Download {INCEPTION_URL}"
        f" and put it at {cached}, or pass its path with --inception-weights PATH"
    )


def resolve_inception_weights(path: str | Path | None = None) -> Path:
    """Return the Inception weights file: `path`, else torch's hub cache, downloading it there unless offline.

    Raises:
        T2IError: the file is missing and cannot be downloaded (offline, or the download failed or timed out).
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise T2IError(f"Inception weights file {path} not found; {missing_weights_message('no file at that path')}")
        return path
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if cached.is_file():
        return cached
    if _offline():
        raise T2IError(missing_weights_message("HF_HUB_OFFLINE or T2I_OFFLINE is set, so nothing is downloaded"))
    logger.info("Downloading the Inception weights from %s to %s", INCEPTION_URL, cached)
    cached.parent.mkdir(parents=True, exist_ok=True)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(INCEPTION_URL, str(cached), hash_prefix=INCEPTION_SHA256_PREFIX)
    except (OSError, RuntimeError) as error:
        raise T2IError(missing_weights_message(f"the download failed: {error}")) from error
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return cached


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_inception(path: Path, device: str | torch.device = "cpu"):
    """Build torch-fidelity's Inception feature extractor from a weights file checked to be a plain tensor file.

    torch-fidelity reads the file with pickle allowed, so t2i first reads it with `weights_only=True`,
    which rejects a file that would run code.
    """
    from torch_fidelity import FeatureExtractorInceptionV3

    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for unsafe, truncated or foreign files
        raise T2IError(f"Inception weights file {path} is not a plain PyTorch tensor file: {error}") from error
    digest = file_sha256(path)
    if not digest.startswith(INCEPTION_SHA256_PREFIX):
        logger.warning(
            "Inception weights %s have SHA-256 %s, not the standard file's (%s...); FID from them is not comparable"
            " with published figures", path, digest, INCEPTION_SHA256_PREFIX,
        )
    extractor = FeatureExtractorInceptionV3(INCEPTION_NAME, [POOL_FEATURES, LOGITS], feature_extractor_weights_path=str(path))
    return extractor.to(device), {"name": INCEPTION_NAME, "file": path.name, "sha256": digest}


@torch.no_grad()
def extract_features(extractor, images: torch.Tensor, batch_size: int = 64, desc: str = "Inception features") -> dict:
    """Run a torch-fidelity feature extractor over uint8 images [N, 3, H, W]; return {feature name: [N, dim] float64}."""
    device = next(extractor.parameters()).device
    names = list(extractor.features_list)
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    batches = range(0, len(images), batch_size)
    for start in tqdm(batches, desc=desc, unit="batch", disable=len(batches) < 2):
        features = extractor(images[start : start + batch_size].to(device))
        for name, value in zip(names, features):
            outputs[name].append(value.double().cpu())
    return {name: torch.cat(values) for name, values in outputs.items()}
