"""FID, KID and Inception Score with torch-fidelity's metric code, and the cache of real-image features."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from t2i.evaluation.inception import LOGITS, POOL_FEATURES, extract_features

logger = logging.getLogger(__name__)

# KID (Binkowski et al. 2018) averages the MMD over random subsets; torch-fidelity's defaults are 100 of 1,000.
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
# Salimans et al. (2016) report the Inception Score as the mean over 10 splits.
ISC_SPLITS = 10
# FID from a finite sample is biased, and the bias depends on the model (Chong and Forsyth 2020), so
# scores from few samples can rank models wrongly. The threshold of the warning is t2i's own choice.
FID_MIN_SAMPLES = 10_000


def images_hash(images: torch.Tensor, extractor_identity: dict) -> str:
    """Hash the exact uint8 images and the feature extractor, to key the cache of reference features."""
    digest = hashlib.sha256()
    digest.update(repr((tuple(images.shape), extractor_identity.get("name"), extractor_identity.get("sha256"))).encode())
    digest.update(images.contiguous().numpy().tobytes())
    return digest.hexdigest()


def reference_features(extractor, extractor_identity: dict, images: torch.Tensor, cache_dir: Path, batch_size: int) -> tuple[dict, str]:
    """Return the real images' features, computed once and cached under `cache_dir` by their hash; and the hash."""
    key = images_hash(images, extractor_identity)
    path = cache_dir / "reference-features" / f"{key[:20]}.safetensors"
    if path.is_file():
        logger.info("Using cached reference features %s", path)
        return load_file(str(path)), key
    features = extract_features(extractor, images, batch_size, desc="Inception features of real images")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file({name: value.contiguous() for name, value in features.items()}, str(tmp))
    os.replace(tmp, path)
    return features, key


def fidelity_metrics(real: dict, fake: dict, seed: int) -> dict:
    """Compute FID, KID and Inception Score from features with torch-fidelity's functions; seeded where random."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    fid = fid_statistics_to_metric(
        fid_features_to_statistics(real[POOL_FEATURES]), fid_features_to_statistics(fake[POOL_FEATURES]), verbose=False
    )
    subset_size = min(KID_SUBSET_SIZE, len(real[POOL_FEATURES]), len(fake[POOL_FEATURES]))
    kid = kid_features_to_metric(
        real[POOL_FEATURES], fake[POOL_FEATURES], kid_subsets=KID_SUBSETS, kid_subset_size=subset_size,
        kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1,
        rng_seed=seed, verbose=False,
    )
    isc = isc_features_to_metric(fake[LOGITS], splits=min(ISC_SPLITS, len(fake[LOGITS])), shuffle=True, rng_seed=seed)
    return {
        "fid": fid["frechet_inception_distance"],
        "kid_mean": kid["kernel_inception_distance_mean"],
        "kid_std": kid["kernel_inception_distance_std"],
        "kid_subsets": KID_SUBSETS,
        "kid_subset_size": subset_size,
        "inception_score_mean": isc["inception_score_mean"],
        "inception_score_std": isc["inception_score_std"],
        "inception_score_splits": min(ISC_SPLITS, len(fake[LOGITS])),
    }
