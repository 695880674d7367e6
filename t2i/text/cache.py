"""On-disk cache of caption embeddings, keyed by text encoder and caption text."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from t2i.text.encoder import DEFAULT_ENCODER, TextEncoder, embedding_dim_for, encoder_cache_key

logger = logging.getLogger(__name__)

EMBEDDINGS_FILE = "embeddings.safetensors"
CAPTIONS_FILE = "captions.json"
ENCODER_FILE = "encoder.json"


class EmbeddingCache:
    """Caption embeddings stored under `root/<encoder_cache_key>/`, encoding only captions not seen before.

    The folder contains embeddings.safetensors (float16 [U, dim] under the key "embeddings"), captions.json
    (the U captions in row order) and encoder.json (the encoder identity). The encoder is loaded only when a
    caption is missing. `encoder_calls` counts calls to TextEncoder.encode.
    NOTE: two processes that add captions to the same folder at once do not corrupt it, but the last
    writer wins, so the other process's new captions are encoded again next time.
    """

    def __init__(
        self,
        root: str | Path,
        name: str = DEFAULT_ENCODER,
        revision: str | None = None,
        pooling: str = "auto",
        device: str | torch.device = "cpu",
    ) -> None:
        self.name = name
        self.revision = revision
        self.pooling = pooling
        self.device = device
        self.key = encoder_cache_key(name, revision, pooling)
        self.folder = Path(root) / self.key
        self.encoder_calls = 0
        self._encoder: TextEncoder | None = None
        self._captions: list[str] = []
        self._rows: dict[str, int] = {}
        self._embeddings: torch.Tensor | None = None
        self._load()

    @property
    def embedding_dim(self) -> int:
        """Size of each embedding, read from the cache file or else from the encoder's configs."""
        if self._embeddings is not None:
            return self._embeddings.shape[1]
        return embedding_dim_for(self.name, self.revision, self.pooling)

    @property
    def encoder(self) -> TextEncoder:
        """Text encoder, loaded on first use."""
        if self._encoder is None:
            self._encoder = TextEncoder(self.name, self.revision, self.pooling, self.device)
        return self._encoder

    def __len__(self) -> int:
        return len(self._captions)

    def __contains__(self, caption: object) -> bool:
        return caption in self._rows

    def _load(self) -> None:
        embeddings_path = self.folder / EMBEDDINGS_FILE
        captions_path = self.folder / CAPTIONS_FILE
        if not (embeddings_path.is_file() and captions_path.is_file()):
            return
        captions = json.loads(captions_path.read_text(encoding="utf-8"))
        embeddings = load_file(embeddings_path)["embeddings"]
        # _save() writes the embeddings before the captions, so after an interrupted save the
        # embeddings can have extra rows at the end. Those rows have no caption and are dropped.
        if embeddings.shape[0] < len(captions):
            logger.warning(
                "Ignoring embedding cache %s because it has %d embeddings for %d captions.",
                self.folder,
                embeddings.shape[0],
                len(captions),
            )
            return
        self._captions = captions
        self._rows = {caption: row for row, caption in enumerate(captions)}
        self._embeddings = embeddings[: len(captions)]

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        """Return float32 embeddings [len(captions), dim] in input order, encoding and saving missing captions."""
        for index, caption in enumerate(captions):
            if not isinstance(caption, str):
                raise TypeError(f"captions[{index}] must be a str, got {type(caption).__name__}.")
        missing = [caption for caption in dict.fromkeys(captions) if caption not in self._rows]

        if missing:
            start = time.perf_counter()
            new_embeddings = self.encoder.encode(missing).to(torch.float16)
            self.encoder_calls += 1
            if self._embeddings is None:
                self._embeddings = new_embeddings
            else:
                self._embeddings = torch.cat([self._embeddings, new_embeddings])
            for caption in missing:
                self._rows[caption] = len(self._captions)
                self._captions.append(caption)
            self._save()
            logger.info(
                "Encoded %d new captions in %.1f s and saved them to %s (%d cached).",
                len(missing),
                time.perf_counter() - start,
                self.folder,
                len(self._captions),
            )
        elif captions:
            logger.info("All %d captions were cached in %s.", len(captions), self.folder)

        if not captions:
            return torch.zeros(0, self.embedding_dim, dtype=torch.float32)
        rows = torch.tensor([self._rows[caption] for caption in captions])
        return self._embeddings[rows].float()

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _replace_atomically(self.folder / EMBEDDINGS_FILE, lambda path: save_file({"embeddings": self._embeddings}, path))
        _replace_atomically(self.folder / ENCODER_FILE, lambda path: _write_json(path, self.encoder.identity()))
        _replace_atomically(self.folder / CAPTIONS_FILE, lambda path: _write_json(path, self._captions))


def _write_json(path: str, value: object) -> None:
    Path(path).write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


def _replace_atomically(target: Path, write) -> None:
    """Call write(temporary_path) in target's folder, then rename the file to target with os.replace."""
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(descriptor)
    try:
        write(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
