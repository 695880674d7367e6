"""Prepare a dataset once: decode and resize every image to the load size and cache the caption embeddings."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from t2i.data.records import ImageRecord
from t2i.errors import DatasetError

logger = logging.getLogger(__name__)

DATASETS = ("toy-flowers", "oxford102", "cub", "folder")
SPLITS = {
    "toy-flowers": ("all",),
    "oxford102": ("all", "official", "zero-shot"),
    "cub": ("all", "official", "zero-shot"),
    "folder": ("all",),
}
# t2i's own class-disjoint split of Oxford-102, used when Reed et al.'s testclasses.txt is not in the
# dataset folder: every fifth class (1-based) is held out, giving 82 training and 20 test classes.
OXFORD_ZERO_SHOT_TEST_CLASSES = frozenset(range(5, 103, 5))
# Bump when the prepared layout or the image processing changes, so that old caches are not reused.
CACHE_VERSION = 1


@dataclass
class DatasetSpec:
    """Dataset name and preparation settings; every setting that changes the prepared images is part of the cache key."""

    name: str = "toy-flowers"
    root: str | None = None
    load_size: int = 76
    num_images: int = 4000
    seed: int = 0
    split: str = "all"
    crop: bool = True
    captions_dir: str | None = None

    def validate(self) -> None:
        if self.name not in DATASETS:
            raise DatasetError(f"unknown dataset {self.name!r}; choose one of {', '.join(DATASETS)}")
        if self.split not in SPLITS[self.name]:
            raise DatasetError(
                f"split {self.split!r} is not available for {self.name}; choose one of {', '.join(SPLITS[self.name])}"
            )
        if self.name != "toy-flowers" and not self.root:
            raise DatasetError(f"dataset {self.name!r} needs a root folder: pass --data.root PATH")
        if self.load_size < 16:
            raise DatasetError(f"load_size must be at least 16 pixels, got {self.load_size}")

    def key(self) -> str:
        """Return the cache folder name: readable, with a hash of every setting that changes the images."""
        settings = {"version": CACHE_VERSION, "name": self.name, "load_size": self.load_size}
        if self.name == "toy-flowers":
            from t2i.data.toy_flowers import fingerprint

            settings.update(num_images=self.num_images, seed=self.seed, drawing=fingerprint())
        else:
            settings.update(root=str(Path(self.root).resolve()), split=self.split)
            if self.captions_dir:
                settings["captions_dir"] = str(Path(self.captions_dir).resolve())
            if self.name == "cub":
                settings["crop"] = self.crop
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.name}-{self.load_size}px-{digest}"


def load_records(spec: DatasetSpec) -> tuple[list[ImageRecord], list[str]]:
    """Read the dataset's records and class names with its reader."""
    spec.validate()
    if spec.name == "toy-flowers":
        from t2i.data.toy_flowers import ToyFlowers

        flowers = ToyFlowers(num_images=spec.num_images, size=spec.load_size, seed=spec.seed)
        return flowers.records(), flowers.class_names()
    if spec.name == "folder":
        from t2i.data.folder import load_folder

        return load_folder(spec.root)
    if spec.name == "cub":
        from t2i.data.cub import load_cub

        return load_cub(spec.root, spec.captions_dir, crop=spec.crop, split=spec.split, part="train")
    from t2i.data.oxford102 import load_oxford102, load_oxford102_splits

    records, class_names = load_oxford102(spec.root, spec.captions_dir)
    if spec.split == "official":
        # Reed et al. and torchvision train on the official train and validation sets together.
        splits = load_oxford102_splits(spec.root)
        keep = splits["train"] | splits["val"]
        records = [record for record in records if int(record.key.split("_")[-1]) in keep]
    elif spec.split == "zero-shot":
        test_classes = oxford_zero_shot_test_classes(spec.root)
        records = [record for record in records if record.label + 1 not in test_classes]
    return records, class_names


def oxford_zero_shot_test_classes(root: str | Path) -> set[int]:
    """Return the 1-based Oxford-102 test classes: from Reed et al.'s testclasses.txt when present, else t2i's list."""
    path = Path(root) / "testclasses.txt"
    if not path.is_file():
        logger.info("No testclasses.txt in %s, so t2i's own 20 test classes (every fifth class) are held out", root)
        return set(OXFORD_ZERO_SHOT_TEST_CLASSES)
    classes = set()
    for line in path.read_text(encoding="utf-8").split():
        try:
            classes.add(int(line.rsplit("_", 1)[-1]))
        except ValueError as error:
            raise DatasetError(f"{path} must list class folders such as class_00001, but contains {line!r}") from error
    return classes


def _atomic_replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def prepare_images(spec: DatasetSpec, cache_dir: str | Path, strict: bool = False) -> Path:
    """Write the uint8 image cache of `spec` as a `datasets` Arrow dataset, unless it exists; return its folder.

    An image that cannot be decoded is skipped with a warning, or raises a DatasetError when `strict`.
    """
    import datasets

    folder = Path(cache_dir) / spec.key()
    images_dir = folder / "images"
    if images_dir.exists():
        logger.info("Image cache %s already prepared; nothing to do", images_dir)
        return folder

    start = time.perf_counter()
    records, class_names = load_records(spec)
    if not records:
        raise DatasetError(f"dataset {spec.name!r} at {spec.root} has no usable images")
    size = spec.load_size
    pixels = np.empty((len(records), size, size, 3), dtype=np.uint8)
    decoded, skipped = [], []
    for record in tqdm(records, desc=f"Preparing {spec.name} images", unit="img"):
        try:
            # convert("RGB") inside load_image turns grayscale, CMYK, RGBA and palette images into RGB.
            image = record.load_image()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            if strict:
                raise DatasetError(f"cannot decode image {record.path or record.key}: {error}") from error
            logger.warning("Skipped image %s: cannot decode it (%s)", record.path or record.key, error)
            skipped.append(record)
            continue
        if image.size != (size, size):
            # Reed et al.'s loader scales every image to the square load size without keeping its aspect ratio.
            image = image.resize((size, size), Image.Resampling.BICUBIC)
        pixels[len(decoded)] = np.asarray(image)
        decoded.append(record)
    if not decoded:
        raise DatasetError(f"none of the {len(records)} images of {spec.name} could be decoded")
    records, pixels = decoded, pixels[: len(decoded)]

    features = datasets.Features(
        {
            "key": datasets.Value("string"),
            "image": datasets.Array3D(shape=(size, size, 3), dtype="uint8"),
            "captions": datasets.Sequence(datasets.Value("string")),
            "label": datasets.Value("int32"),
        }
    )
    table = datasets.Dataset.from_dict(
        {
            "key": [record.key for record in records],
            "image": pixels,
            "captions": [record.captions for record in records],
            "label": [record.label for record in records],
        },
        features=features,
    )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"images.tmp-{os.getpid()}"
    table.save_to_disk(str(tmp))
    (folder / "classes.json").write_text(json.dumps(class_names, indent=0))
    _atomic_replace_dir(tmp, images_dir)
    logger.info(
        "Prepared %d images (%d captions, %d classes) of %s at %d px in %.1f s into %s; skipped %d undecodable images",
        len(records), sum(len(r.captions) for r in records), len(class_names), spec.name, size,
        time.perf_counter() - start, folder, len(skipped),
    )
    return folder


@dataclass
class PreparedDataset:
    """A prepared dataset in memory: uint8 images [N, 3, L, L] and caption embeddings [N, C, D]."""

    images: torch.Tensor
    embeddings: torch.Tensor
    caption_counts: torch.Tensor
    labels: torch.Tensor
    captions: list[list[str]]
    keys: list[str]
    class_names: list[str]


def prepare_embeddings(folder: Path, cache_dir: str | Path, name: str, revision: str | None, pooling: str) -> Path:
    """Write the dataset's caption embeddings [images, captions, dim] for one text encoder, unless present."""
    import datasets

    from t2i.text.cache import EmbeddingCache
    from t2i.text.encoder import encoder_cache_key

    path = folder / "embeddings" / f"{encoder_cache_key(name, revision, pooling)}.safetensors"
    if path.exists():
        logger.info("Caption embeddings %s already prepared; nothing to do", path)
        return path

    captions = datasets.load_from_disk(str(folder / "images"))["captions"]
    counts = torch.tensor([len(image_captions) for image_captions in captions])
    flat = [caption for image_captions in captions for caption in image_captions]
    cache = EmbeddingCache(Path(cache_dir) / "text-embeddings", name=name, revision=revision, pooling=pooling)
    flat_embeddings = cache.encode(flat)
    embeddings = torch.zeros(len(captions), int(counts.max()), flat_embeddings.shape[1], dtype=torch.float16)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    for index, count in enumerate(counts.tolist()):
        embeddings[index, :count] = flat_embeddings[offsets[index] : offsets[index] + count]

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}.safetensors")
    save_file({"embeddings": embeddings.contiguous(), "caption_counts": counts}, str(tmp))
    os.replace(tmp, path)
    return path


def load_prepared(folder: Path, embeddings_path: Path) -> PreparedDataset:
    """Load a prepared image cache and its caption embeddings into memory."""
    import datasets

    table = datasets.load_from_disk(str(folder / "images"))
    images = torch.from_numpy(np.ascontiguousarray(table.with_format("numpy")["image"])).permute(0, 3, 1, 2)
    tensors = load_file(str(embeddings_path))
    return PreparedDataset(
        images=images.contiguous(),
        embeddings=tensors["embeddings"].float(),
        caption_counts=tensors["caption_counts"],
        labels=torch.tensor(table["label"], dtype=torch.long),
        captions=table["captions"],
        keys=table["key"],
        class_names=json.loads((folder / "classes.json").read_text()),
    )
