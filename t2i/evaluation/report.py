"""`t2i evaluate`: generate from a split's captions, score the images, and record how the scores were made."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from t2i.data.prepare import DatasetSpec
from t2i.errors import T2IError
from t2i.evaluation.fidelity import FID_MIN_SAMPLES, fidelity_metrics, reference_features
from t2i.evaluation.inception import extract_features, file_sha256, load_inception, resolve_inception_weights
from t2i.model_files import WEIGHTS_NAME

logger = logging.getLogger(__name__)

FIDELITY_MODES = ("auto", "on", "off")
# The training run's data settings that describe the dataset; others (batch size, encoder) are left out.
SPEC_FIELDS = {field.name for field in dataclasses.fields(DatasetSpec)}


def dataset_spec(config: dict, overrides: dict):
    """Return the DatasetSpec to evaluate on: the model's training data settings, then the given overrides."""
    settings = dict(config.get("training", {}).get("data_settings") or {})
    settings["name"] = overrides.pop("dataset", None) or settings.pop("dataset", None) or config["training"].get("dataset")
    settings.pop("dataset", None)
    settings.update({key: value for key, value in overrides.items() if value is not None})
    if not settings.get("name"):
        raise T2IError("the model does not record its training dataset; pass --dataset NAME and --root PATH")
    spec = DatasetSpec(**{key: value for key, value in settings.items() if key in SPEC_FIELDS})
    spec.validate()
    return spec


def real_images(spec, cache_dir: Path, image_size: int) -> tuple[torch.Tensor, list[list[str]], str]:
    """Return the evaluated part's real images centre-cropped to `image_size`, their captions, and the part's name."""
    import datasets

    from t2i.data.prepare import prepare_images
    from t2i.data.prepared import read_rows, select_rows

    folder = prepare_images(spec, cache_dir)
    table = datasets.load_from_disk(str(folder / "images"))
    # A split other than "all" is scored on its test part, which training never saw.
    part = "train" if spec.split == "all" else "test"
    indices = torch.nonzero(select_rows(table, spec.split, part, folder)).flatten()
    if len(indices) == 0:
        raise T2IError(f"the {part} part of split {spec.split!r} of {spec.name} has no images to evaluate against")
    images, captions, _, _ = read_rows(table, indices)
    offset = (images.shape[-1] - image_size) // 2
    return images[:, :, offset : offset + image_size, offset : offset + image_size].contiguous(), captions, part


def choose_captions(captions: list[list[str]], count: int, seed: int) -> list[str]:
    """Pick `count` captions: images in a seeded order (cycling when count exceeds them), one seeded caption each."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(captions), generator=generator).tolist()
    chosen = []
    for index in range(count):
        image_captions = captions[order[index % len(order)]]
        chosen.append(image_captions[int(torch.randint(len(image_captions), (1,), generator=generator))])
    return chosen


def clip_score(images: torch.Tensor, captions: list[str], clip_model: str | None) -> dict:
    """Return torchmetrics' CLIP score (Hessel et al. 2021) of the images and captions, or why it was not computed."""
    if not clip_model:
        return {"computed": False, "reason": "no CLIP model given; pass --clip-model with a Hugging Face CLIP id or folder"}
    from torchmetrics.multimodal.clip_score import CLIPScore

    try:
        metric = CLIPScore(model_name_or_path=clip_model)
    except (OSError, ValueError) as error:
        return {"computed": False, "reason": f"failed to load CLIP model {clip_model}: {error}"}
    # NOTE: no test runs a real CLIP model, because none is available offline on the test machine.
    for start in range(0, len(images), 64):
        metric.update(images[start : start + 64], captions[start : start + 64])
    return {"computed": True, "model": clip_model, "score": float(metric.compute())}


def _feature_extractor(fidelity: str, inception_weights, feature_extractor) -> tuple[object, dict, str]:
    """Return (extractor, its identity, None), or (None, {}, the reason) when FID, KID and IS are skipped."""
    if fidelity == "off":
        return None, {}, "turned off with --fidelity off"
    if feature_extractor is not None:
        return feature_extractor, {"name": feature_extractor.get_name(), "file": None, "sha256": None}, None
    try:
        extractor, identity = load_inception(resolve_inception_weights(inception_weights))
    except T2IError as error:
        if fidelity == "on":
            raise
        logger.warning("FID, KID and Inception Score are not computed: %s", error)
        return None, {}, str(error)
    return extractor, identity, None


def model_hash(path: Path) -> str:
    return file_sha256(path / WEIGHTS_NAME if path.is_dir() else path)


def versions() -> dict:
    import t2i

    found = {"t2i": t2i.__version__, "python": platform.python_version()}
    for package in ("torch", "torch-fidelity", "torchmetrics", "transformers", "numpy", "scipy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def evaluate_model(
    model: str | Path,
    overrides: dict | None = None,
    num_samples: int = 1000,
    seed: int = 0,
    cache_dir: str | Path = "data/cache",
    captions_path: str | Path | None = None,
    fidelity: str = "auto",
    inception_weights: str | Path | None = None,
    feature_extractor=None,
    clip_model: str | None = None,
    toy_samples: int = 200,
    batch_size: int = 64,
) -> dict:
    """Generate `num_samples` images from the evaluated split's captions and return the report as a dict.

    `feature_extractor` replaces the Inception network with another torch-fidelity FeatureExtractorBase
    that provides the features "2048" and "logits_unbiased" (tests use a small one).
    """
    from t2i.pipeline import Text2ImagePipeline

    if fidelity not in FIDELITY_MODES:
        raise T2IError(f"--fidelity must be one of {', '.join(FIDELITY_MODES)}, got {fidelity!r}")
    if num_samples < 2:
        raise T2IError(f"--num-samples must be at least 2, got {num_samples}")
    model, cache_dir = Path(model), Path(cache_dir)
    # The Inception weights are found first, so that a missing file stops the run before any image is drawn.
    extractor, identity, fidelity_reason = _feature_extractor(fidelity, inception_weights, feature_extractor)
    pipe = Text2ImagePipeline.from_pretrained(model)
    spec = dataset_spec(pipe.config, dict(overrides or {}))
    size = pipe.generator.image_size
    real, real_captions, part = real_images(spec, cache_dir, size)
    captions = choose_captions(real_captions, num_samples, seed)
    captions_text = "\n".join(captions) + "\n"
    if captions_path is not None:
        Path(captions_path).parent.mkdir(parents=True, exist_ok=True)
        Path(captions_path).write_text(captions_text, encoding="utf-8")
    generated = pipe(captions, num_images_per_prompt=1, seed=seed, batch_size=batch_size)
    fake = torch.from_numpy(np.stack([np.asarray(image) for image in generated])).permute(0, 3, 1, 2).contiguous()

    warnings: list[str] = []
    protocol = {
        "num_samples": num_samples,
        "seed": seed,
        "dataset": spec.name,
        "root": spec.root,
        "split": spec.split,
        "part": part,
        "real_images": len(real),
        "captions_file": str(captions_path) if captions_path else None,
        "captions_sha256": hashlib.sha256(captions_text.encode("utf-8")).hexdigest(),
        "image_size": size,
        "real_image_processing": f"stored at {spec.load_size} px (bicubic resize), centre crop to {size} px",
        "feature_resize": "torch-fidelity: TensorFlow-1-compatible bilinear resize to 299 x 299",
        "model": str(model),
        "model_sha256": model_hash(model),
        "versions": versions(),
    }
    report = {"protocol": protocol, "warnings": warnings}

    if extractor is None:
        report["fidelity"] = {"computed": False, "reason": fidelity_reason}
    else:
        real_features, reference_hash = reference_features(extractor, identity, real, cache_dir, batch_size)
        fake_features = extract_features(extractor, fake, batch_size, desc="Inception features of generated images")
        report["fidelity"] = {"computed": True, **fidelity_metrics(real_features, fake_features, seed)}
        protocol.update(feature_extractor=identity, reference_features_sha256=reference_hash)
        if num_samples < FID_MIN_SAMPLES:
            warnings.append(
                f"FID from {num_samples} samples is biased and not comparable with FIDs from more samples;"
                f" pass --num-samples {FID_MIN_SAMPLES} or more, and compare models only at the same count"
            )

    report["clip_score"] = clip_score(fake, captions, clip_model)
    if spec.name == "toy-flowers":
        from t2i.evaluation.toy_accuracy import evaluate_toy

        report["toy_flowers"] = evaluate_toy(pipe, toy_samples, seed)
    for warning in warnings:
        logger.warning("%s", warning)
    return report
