"""`t2i export`: a checkpoint to a self-contained model folder with a model card and a sample grid."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from t2i import __version__
from t2i.errors import T2IError
from t2i.images import save_grid
from t2i.model_files import CONFIG_NAME, WEIGHTS_NAME, read_checkpoint, replace_folder
from t2i.pipeline import Text2ImagePipeline

logger = logging.getLogger(__name__)

SAMPLES_NAME = "samples.png"
CARD_NAME = "README.md"
SAMPLE_NOISE = 8
EXPORT_FILES = frozenset({CONFIG_NAME, WEIGHTS_NAME, SAMPLES_NAME, CARD_NAME})


def export_checkpoint(checkpoint: str | Path, out: str | Path, metrics: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write config.json, generator.safetensors, samples.png and a README.md model card for `checkpoint` into `out`.

    `metrics` is a JSON file of scores (such as the one `t2i evaluate --out` writes) for the card. An `out`
    folder that already contains an export is replaced only with `overwrite`, and a folder with any other file is
    never written to, so a user's files are not lost.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    if not checkpoint.is_file():
        raise T2IError(f"checkpoint {checkpoint} not found; pass a file written by `t2i fit`, such as .../checkpoints/last.ckpt")
    _check_out_folder(out, overwrite)
    scores = _read_metrics(Path(metrics)) if metrics is not None else {}

    config, weights, raw = read_checkpoint(checkpoint)
    config["t2i_version"] = __version__
    if scores:
        config["metrics"] = scores
    pipe = Text2ImagePipeline.from_weights(config, weights, source=checkpoint)

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    pipe.save_pretrained(tmp)
    captions = _draw_samples(pipe, raw, tmp / SAMPLES_NAME)
    (tmp / CARD_NAME).write_text(model_card(config, captions, out.name), encoding="utf-8")
    replace_folder(tmp, out)
    logger.info("Exported %s to %s", checkpoint, out)
    return out


def _check_out_folder(out: Path, overwrite: bool) -> None:
    """Allow writing to `out` when it is new or empty, or with `overwrite` when it holds only an earlier export."""
    if not out.exists():
        return
    if not out.is_dir():
        raise T2IError(f"{out} is a file; choose a folder path for --out")
    entries = sorted(path.name for path in out.iterdir())
    if not entries:
        return
    foreign = [name for name in entries if name not in EXPORT_FILES]
    if foreign:
        raise T2IError(
            f"{out} contains files that are not part of a t2i export ({', '.join(foreign[:5])}), so nothing was written"
            " there; choose a new or empty folder for --out"
        )
    if not overwrite:
        raise T2IError(f"{out} already contains an exported model; pass --overwrite to replace it, or choose another --out")


def _read_metrics(path: Path) -> dict:
    if not path.is_file():
        raise T2IError(f"metrics file {path} not found; write one with `t2i evaluate --out FILE`")
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise T2IError(f"metrics file {path} is not valid JSON: {error}") from error
    if not isinstance(scores, dict):
        raise T2IError(f"metrics file {path} must contain a JSON object of named scores, got {type(scores).__name__}")
    return scores


def _draw_samples(pipe: Text2ImagePipeline, checkpoint: dict, path: Path) -> list[str]:
    """Draw the training run's sample captions (rows) with 8 fixed noise vectors (columns); return the captions."""
    samples = checkpoint.get("t2i_samples")
    if samples:
        captions, embeddings = samples["captions"], samples["embeddings"]
    elif pipe.config["training"].get("dataset") == "toy-flowers":
        from t2i.data.toy_flowers import SAMPLE_CAPTIONS

        captions = list(SAMPLE_CAPTIONS[:6])
        embeddings = pipe.encode(captions)
    else:
        logger.warning("The checkpoint has no sample captions, so the model card has no sample grid")
        return []
    noise = torch.randn(SAMPLE_NOISE, pipe.generator.noise_dim, generator=torch.Generator().manual_seed(0))
    images = pipe(
        embeddings=embeddings.repeat_interleave(SAMPLE_NOISE, dim=0), noise=noise.repeat(len(captions), 1)
    )
    save_grid(images, path, columns=SAMPLE_NOISE)
    return captions


def model_card(config: dict, captions: list[str], folder_name: str) -> str:
    """Return the README.md model card: what the model is, its training data and settings, metrics and usage."""
    generator, encoder, training = config["generator"], config["text_encoder"], config["training"]
    size = generator["image_size"]
    lines = [
        f"# t2i text-to-image model: GAN-INT-CLS on {training.get('dataset') or 'an unknown dataset'}",
        "",
        f"A text-conditional DCGAN trained with the matching-aware discriminator loss and embedding interpolation"
        f" (GAN-INT-CLS, Reed et al. 2016) by t2i {config.get('t2i_version', '')}. It draws {size} x {size} RGB"
        f" images from captions encoded by the frozen text encoder `{encoder.get('name')}`.",
        "",
    ]
    if captions:
        lines += [f"![Sample grid]({SAMPLES_NAME})", "", "Rows, top to bottom (columns: 8 noise vectors, seed 0):", ""]
        lines += [f"{row}. {caption}" for row, caption in enumerate(captions, start=1)] + [""]

    lines += ["## Training", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in _training_rows(config) if value is not None]

    lines += ["", "## Metrics", ""]
    metrics = config.get("metrics") or {}
    if metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {name} | {_format_value(value)} |" for name, value in _flatten(metrics)]
    else:
        lines.append("No evaluation was recorded. Run `t2i evaluate --out FILE` and export with `--metrics FILE`.")
    losses = training.get("last_losses") or {}
    if losses:
        lines += ["", "Last logged losses: " + ", ".join(f"{name} {value:.3f}" for name, value in losses.items()) + "."]

    example = captions[0] if captions else "a caption in the style of the training data"
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from t2i import Text2ImagePipeline",
        "",
        f'pipe = Text2ImagePipeline.from_pretrained("{folder_name}")',
        f'images = pipe("{example}", num_images_per_prompt=4, seed=0)',
        'images[0].save("sample.png")',
        "```",
        "",
        f"Files: `{CONFIG_NAME}` (architecture, text encoder, training settings), `{WEIGHTS_NAME}` (generator"
        " weights, safetensors)" + (f", `{SAMPLES_NAME}`." if captions else "."),
        "",
    ]
    return "\n".join(lines)


def _training_rows(config: dict) -> list[tuple[str, object]]:
    generator, encoder, training = config["generator"], config["text_encoder"], config["training"]
    model_settings, data_settings = training.get("model_settings", {}), training.get("data_settings", {})
    encoder_text = (
        f"{encoder.get('name')} (revision {encoder.get('revision') or 'default'}, pooling {encoder.get('pooling')},"
        f" {generator['embedding_dim']} dimensions)"
    )
    return [
        ("dataset", training.get("dataset")),
        ("split", data_settings.get("split")),
        ("batches trained", training.get("batches_trained")),
        ("batch size", data_settings.get("batch_size")),
        ("image size", f"{generator['image_size']} pixels"),
        ("generator width ngf", generator["ngf"]),
        ("discriminator width ndf", model_settings.get("ndf")),
        ("noise size", generator["noise_dim"]),
        ("learning rate", model_settings.get("lr")),
        ("captions averaged per embedding", data_settings.get("captions_per_embedding")),
        ("GAN-INT weight", model_settings.get("interpolation_weight")),
        ("options beyond Reed et al.", _improvements(model_settings)),
        ("generator weights", training.get("generator_weights", "trained")),
        ("text encoder", encoder_text),
        ("source checkpoint", training.get("checkpoint")),
    ]


def _improvements(model_settings: dict) -> str:
    """Return the options beyond Reed et al. that the run turned on, or "none"."""
    names = []
    if model_settings.get("conditioning_augmentation"):
        names.append(f"conditioning augmentation (KL weight {model_settings.get('kl_weight')})")
    if model_settings.get("minibatch", "none") != "none":
        names.append(f"minibatch {model_settings['minibatch']}")
    if model_settings.get("spectral_norm"):
        names.append("spectral normalisation in D")
    if model_settings.get("loss", "bce") != "bce":
        names.append(f"{model_settings['loss']} loss")
    if model_settings.get("gradient_penalty_weight"):
        names.append(f"matching-aware gradient penalty (weight {model_settings['gradient_penalty_weight']})")
    if model_settings.get("ema_decay"):
        names.append(f"weight average (decay {model_settings['ema_decay']})")
    return ", ".join(names) or "none"


def _flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Return (dotted name, value) pairs of a nested dict, such as ("chance.petal_colour", 0.17)."""
    pairs = []
    for name, value in values.items():
        if isinstance(value, dict):
            pairs += _flatten(value, f"{prefix}{name}.")
        else:
            pairs.append((f"{prefix}{name}", value))
    return pairs


def _format_value(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
