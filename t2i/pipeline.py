"""Text2ImagePipeline and generate(): text to images with a trained generator, without importing Lightning."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image
from tqdm.auto import tqdm

from t2i.errors import ModelNotFoundError
from t2i.images import save_grid, to_pil
from t2i.model_files import HOW_TO_TRAIN, MODEL_FORMAT, read_checkpoint, read_model_folder, write_model_folder
from t2i.models.generator import Generator

logger = logging.getLogger(__name__)


def _check_prompts(prompts: str | Sequence[str]) -> list[str]:
    if isinstance(prompts, (bytes, bytearray)):
        raise TypeError(f"prompts must be a string or a list of strings, got {type(prompts).__name__}; decode it first")
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, Sequence):
        raise TypeError(f"prompts must be a string or a list of strings, got {type(prompts).__name__}")
    checked = []
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise TypeError(f"prompt {index} must be a string, got {type(prompt).__name__}: {prompt!r}")
        if not prompt.strip():
            raise ValueError(f"prompt {index} is empty; describe the image to generate, e.g. 'a flower with pink petals'")
        checked.append(prompt)
    if not checked:
        raise ValueError("no prompts given; pass at least one caption")
    return checked


def slerp(start: torch.Tensor, end: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Interpolate spherically between two noise vectors, one row per weight in [0, 1].

    White (2016, "Sampling Generative Networks") showed that straight lines between Gaussian samples pass
    through low-density regions near the origin, while great-circle paths keep a typical norm.
    """
    cosine = torch.dot(start, end) / (start.norm() * end.norm())
    angle = torch.acos(cosine.clamp(-1.0, 1.0))
    if angle.abs() < 1e-6:
        return torch.lerp(start.expand(len(weights), -1), end.expand(len(weights), -1), weights[:, None])
    sine = torch.sin(angle)
    return (torch.sin((1 - weights) * angle)[:, None] * start + torch.sin(weights * angle)[:, None] * end) / sine


class Text2ImagePipeline:
    """A trained generator with its text encoder: prompts or embeddings in, PIL images out.

    Load one with `from_pretrained` from a folder written by `t2i export` / `save_pretrained`, or from a
    `t2i fit` checkpoint. `config` describes the generator, the text encoder and the training run.
    """

    def __init__(self, generator: Generator, config: dict):
        self.generator = generator.eval().requires_grad_(False)
        self.config = config
        self._encoder = None

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> "Text2ImagePipeline":
        """Load a model folder (config.json and generator.safetensors) or a `t2i fit` checkpoint file."""
        path = Path(path)
        if path.is_dir():
            config, weights = read_model_folder(path)
            config.setdefault("source", str(path))
        elif path.is_file():
            config, weights, _ = read_checkpoint(path)
            config["source"] = str(path)
        else:
            raise ModelNotFoundError(f"model {path} not found; {HOW_TO_TRAIN}")
        return cls.from_weights(config, weights, source=path).to(device)

    @classmethod
    def from_weights(cls, config: dict, weights: dict[str, torch.Tensor], source: str | Path = "") -> "Text2ImagePipeline":
        """Build the generator that `config` describes and load `weights` into it (`source` names them in errors)."""
        generator = Generator(**{key: int(value) for key, value in config["generator"].items()})
        try:
            generator.load_state_dict(weights)
        except RuntimeError as error:
            raise ModelNotFoundError(
                f"the weights in {source} do not fit the generator its config describes: {error}"
            ) from error
        return cls(generator, config)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write config.json and generator.safetensors into `folder` (created if needed); return the folder."""
        folder = Path(folder)
        config = {key: value for key, value in self.config.items() if key != "source"}
        config["format"] = MODEL_FORMAT
        write_model_folder(folder, config, self.generator.state_dict())
        return folder

    def to(self, device: str | torch.device) -> "Text2ImagePipeline":
        """Move the generator to `device`; the text encoder stays on the CPU and its embeddings are moved."""
        self.generator.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @property
    def text_encoder_identity(self) -> dict:
        return self.config["text_encoder"]

    @property
    def encoder(self):
        if self._encoder is None:
            from t2i.text.encoder import TextEncoder

            identity = self.text_encoder_identity
            self._encoder = TextEncoder(identity["name"], identity.get("revision"), identity.get("pooling", "auto"))
        return self._encoder

    def encode(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Return the text embeddings [n, dim] the generator is conditioned on; add or subtract them freely."""
        return self.encoder.encode(_check_prompts(texts))

    @torch.no_grad()
    def __call__(
        self,
        prompts: str | Sequence[str] | None = None,
        num_images_per_prompt: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        batch_size: int = 64,
        embeddings: torch.Tensor | None = None,
        progress: bool | None = None,
    ) -> list[Image.Image]:
        """Generate `num_images_per_prompt` images for each prompt (or each embedding row), prompt by prompt.

        Args:
            prompts: A caption or a list of captions; leave None when passing `embeddings`.
            num_images_per_prompt: Images per caption, each from its own noise vector.
            seed: Seed of the noise; the same seed gives the same pixels. Ignored when `generator` or `noise` is given.
            generator: A torch.Generator to draw the noise from.
            noise: Noise vectors [images, noise_dim], or one vector [noise_dim] for every image.
            batch_size: Images per generator forward pass; the result does not depend on it.
            embeddings: Text embeddings [n, dim] (or [dim]) to draw instead of prompts, e.g. from `encode`.
            progress: Show a progress bar; None shows one when there is more than one batch.
        """
        if num_images_per_prompt < 1:
            raise ValueError(f"num_images_per_prompt must be at least 1, got {num_images_per_prompt}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        conditions = self._conditions(prompts, embeddings).repeat_interleave(num_images_per_prompt, dim=0)
        z = self._noise(len(conditions), seed, generator, noise)
        return to_pil(self._draw(z, conditions, batch_size, progress))

    def interpolate(
        self, caption_a: str, caption_b: str, steps: int = 8, seed: int = 0, strip_path: str | Path | None = None
    ) -> list[Image.Image]:
        """Draw `steps` images moving from caption_a's embedding to caption_b's with one fixed noise vector.

        This is GAN-INT (Reed et al. 2016) at inference: the straight line between two text embeddings.
        With `strip_path`, the images are also saved side by side as one PNG.
        """
        _check_steps(steps)
        start, end = self.encode([caption_a, caption_b])
        weights = torch.linspace(0, 1, steps)
        embeddings = torch.lerp(start.expand(steps, -1), end.expand(steps, -1), weights[:, None])
        z = self._noise(1, seed, None, None).expand(steps, -1)
        return self._finish_strip(to_pil(self._draw(z, embeddings, steps, False)), strip_path)

    def interpolate_noise(
        self, caption: str, steps: int = 8, seed: int = 0, strip_path: str | Path | None = None
    ) -> list[Image.Image]:
        """Draw `steps` images of one caption, moving along a great circle between two noise vectors (style).

        With `strip_path`, the images are also saved side by side as one PNG.
        """
        _check_steps(steps)
        embedding = self.encode(caption).expand(steps, -1)
        start, end = self._noise(2, seed, None, None)
        z = slerp(start, end, torch.linspace(0, 1, steps))
        return self._finish_strip(to_pil(self._draw(z, embedding, steps, False)), strip_path)

    def _conditions(self, prompts, embeddings) -> torch.Tensor:
        if (prompts is None) == (embeddings is None):
            raise ValueError("pass either prompts or embeddings, not both and not neither")
        if embeddings is None:
            return self.encode(prompts)
        if not isinstance(embeddings, torch.Tensor):
            raise TypeError(f"embeddings must be a torch.Tensor, got {type(embeddings).__name__}")
        embeddings = embeddings.detach().float().cpu()
        embeddings = embeddings[None] if embeddings.dim() == 1 else embeddings
        expected = self.generator.embedding_dim
        if embeddings.dim() != 2 or embeddings.shape[1] != expected or len(embeddings) == 0:
            raise ValueError(f"embeddings must have shape [n, {expected}] for this model, got {list(embeddings.shape)}")
        return embeddings

    def _noise(self, count: int, seed, generator, noise) -> torch.Tensor:
        noise_dim = self.generator.noise_dim
        if noise is not None:
            given = list(noise.shape)
            noise = noise.detach().float().cpu()
            noise = noise[None].expand(count, -1) if noise.dim() == 1 else noise
            if noise.shape != (count, noise_dim):
                raise ValueError(
                    f"noise must have shape [{count}, {noise_dim}] (one row per image) or [{noise_dim}], got {given}"
                )
            return noise
        if generator is None:
            generator = torch.Generator().manual_seed(seed) if seed is not None else torch.Generator()
            if seed is None:
                generator.seed()
        return torch.randn(count, noise_dim, generator=generator)

    def _draw(self, z: torch.Tensor, embeddings: torch.Tensor, batch_size: int, progress: bool | None) -> torch.Tensor:
        batches = math.ceil(len(z) / batch_size)
        show = batches > 1 if progress is None else progress
        images = []
        for start in tqdm(range(0, len(z), batch_size), total=batches, desc="Generating", unit="batch", disable=not show):
            stop = start + batch_size
            images.append(self.generator(z[start:stop].to(self.device), embeddings[start:stop].to(self.device)).cpu())
        return torch.cat(images)

    @staticmethod
    def _finish_strip(images: list[Image.Image], strip_path: str | Path | None) -> list[Image.Image]:
        if strip_path is not None:
            save_grid(images, strip_path, columns=len(images))
        return images


def _check_steps(steps: int) -> None:
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two ends), got {steps}")


_PIPELINES: dict[tuple[str, float], Text2ImagePipeline] = {}


def generate(
    prompt: str | Sequence[str], model: str | Path | None = None, num_images: int = 4, seed: int | None = 0
) -> list[Image.Image]:
    """Generate `num_images` images per prompt with `model`: a `t2i export` folder or a `t2i fit` checkpoint.

    Loaded models are kept per path and modification time, so repeated calls do not reload them.
    """
    if model is None:
        raise ModelNotFoundError(f"no model given: generate() needs a trained model; {HOW_TO_TRAIN}")
    path = Path(model).resolve()
    if not path.exists():
        raise ModelNotFoundError(f"model {model} not found; {HOW_TO_TRAIN}")
    key = (str(path), path.stat().st_mtime)
    if key not in _PIPELINES:
        _PIPELINES[key] = Text2ImagePipeline.from_pretrained(path)
    return _PIPELINES[key](prompt, num_images_per_prompt=num_images, seed=seed)
