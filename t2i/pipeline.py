"""Text2ImagePipeline and generate(): text to images with a trained generator, without importing Lightning."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from t2i.errors import ModelNotFoundError
from t2i.images import to_pil
from t2i.models.generator import Generator

logger = logging.getLogger(__name__)

HOW_TO_TRAIN = (
    "train one with `scripts/demo.sh` or `t2i fit --config configs/toy-flowers.yaml`, then pass its checkpoint,"
    " for example model='runs/toy-flowers/checkpoints/last.ckpt'"
)


def _check_prompts(prompts: str | Sequence[str]) -> list[str]:
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


class Text2ImagePipeline:
    """A trained generator with its text encoder: prompts in, PIL images out."""

    def __init__(self, generator: Generator, text_encoder: dict, info: dict | None = None):
        self.generator = generator.eval()
        self.text_encoder_identity = text_encoder
        self.info = info or {}
        self._encoder = None

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> "Text2ImagePipeline":
        """Load the generator from a `t2i fit` checkpoint, reading tensors only (weights_only=True)."""
        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"model checkpoint {path} not found; {HOW_TO_TRAIN}")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for truncated or foreign files
            raise ModelNotFoundError(
                f"failed to read checkpoint {path} ({error}); the file may be truncated or not a PyTorch checkpoint"
            ) from error
        meta = checkpoint.get("t2i") if isinstance(checkpoint, dict) else None
        if not meta or not meta.get("text_encoder"):
            raise ModelNotFoundError(f"{path} is not a t2i training checkpoint (it has no 't2i' entry); {HOW_TO_TRAIN}")
        generator = Generator(**meta["generator"])
        prefix = "generator."
        weights = {key[len(prefix) :]: value for key, value in checkpoint["state_dict"].items() if key.startswith(prefix)}
        generator.load_state_dict(weights)
        info = {"dataset": meta.get("dataset"), "batches_trained": meta.get("batches_trained"), "source": str(path)}
        return cls(generator, meta["text_encoder"], info).to(device)

    def to(self, device: str | torch.device) -> "Text2ImagePipeline":
        """Move the generator to `device`; the text encoder stays on the CPU and its embeddings are moved."""
        self.generator.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @property
    def encoder(self):
        if self._encoder is None:
            from t2i.text.encoder import TextEncoder

            identity = self.text_encoder_identity
            self._encoder = TextEncoder(identity["name"], identity.get("revision"), identity.get("pooling", "auto"))
        return self._encoder

    def encode(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Return the text embeddings [n, dim] the generator is conditioned on."""
        return self.encoder.encode(_check_prompts(texts))

    @torch.no_grad()
    def __call__(
        self,
        prompts: str | Sequence[str],
        num_images_per_prompt: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        batch_size: int = 64,
    ) -> list[Image.Image]:
        """Generate `num_images_per_prompt` images for each prompt, prompt by prompt; the same seed gives the same pixels."""
        if num_images_per_prompt < 1:
            raise ValueError(f"num_images_per_prompt must be at least 1, got {num_images_per_prompt}")
        embeddings = self.encode(prompts).repeat_interleave(num_images_per_prompt, dim=0)
        if generator is None:
            generator = torch.Generator().manual_seed(seed) if seed is not None else torch.Generator()
        noise = torch.randn(len(embeddings), self.generator.noise_dim, generator=generator)
        images = []
        for start in range(0, len(embeddings), batch_size):
            z = noise[start : start + batch_size].to(self.device)
            text_embedding = embeddings[start : start + batch_size].to(self.device)
            images += to_pil(self.generator(z, text_embedding))
        return images


_PIPELINES: dict[tuple[str, float], Text2ImagePipeline] = {}


def generate(
    prompt: str | Sequence[str], model: str | Path | None = None, num_images: int = 4, seed: int | None = 0
) -> list[Image.Image]:
    """Generate `num_images` images per prompt with the model at `model` (a `t2i fit` checkpoint).

    Loaded models are kept per path, so repeated calls do not reload them.
    """
    if model is None:
        raise ModelNotFoundError(f"no model given: generate() needs a trained model; {HOW_TO_TRAIN}")
    path = Path(model).resolve()
    if not path.is_file():
        raise ModelNotFoundError(f"model checkpoint {model} not found; {HOW_TO_TRAIN}")
    key = (str(path), path.stat().st_mtime)
    if key not in _PIPELINES:
        _PIPELINES[key] = Text2ImagePipeline.from_checkpoint(path)
    return _PIPELINES[key](prompt, num_images_per_prompt=num_images, seed=seed)
