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
from PIL import Image
from tqdm.auto import tqdm

from t2i.data.records import ImageRecord
from t2i.errors import DatasetError

logger = logging.getLogger(__name__)

DATASETS = ("toy-flowers", "oxford102", "cub", "folder", "huggingface")
SPLITS = {
    "toy-flowers": ("all", "compositional"),
    "oxford102": ("all", "official", "zero-shot"),
    "cub": ("all", "official", "zero-shot"),
    "folder": ("all",),
    "huggingface": ("all",),
}
# t2i's own class-disjoint split of Oxford-102, used when Reed et al.'s testclasses.txt is not in the
# dataset folder: every fifth class (1-based) is held out, giving 82 training and 20 test classes.
OXFORD_ZERO_SHOT_TEST_CLASSES = frozenset(range(5, 103, 5))
# The splits whose parts every prepared cache stores, one column each, and the parts a split selects.
STORED_SPLITS = ("official", "zero-shot", "compositional")
SPLIT_PARTS = {"train": ("train", "val"), "test": ("test",)}
# Bump when the prepared layout or the image processing changes, so that old caches are not reused.
CACHE_VERSION = 3


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
    hf_split: str = "train"
    image_column: str | None = None
    caption_column: str | None = None
    label_column: str | None = None

    def validate(self) -> None:
        if self.name not in DATASETS:
            raise DatasetError(f"unknown dataset {self.name!r}; choose one of {', '.join(DATASETS)}")
        if self.split not in SPLITS[self.name]:
            raise DatasetError(
                f"split {self.split!r} is not available for {self.name}; choose one of {', '.join(SPLITS[self.name])}"
            )
        if self.name != "toy-flowers" and not self.root:
            raise DatasetError(
                f"dataset {self.name!r} needs a root: pass --data.root PATH"
                + (" (a save_to_disk folder or a Hub dataset id)" if self.name == "huggingface" else "")
            )
        if self.name == "toy-flowers" and self.num_images < 1:
            raise DatasetError(f"num_images must be at least 1, got {self.num_images}")
        if self.load_size < 16:
            raise DatasetError(f"load_size must be at least 16 pixels, got {self.load_size}")

    def key(self) -> str:
        """Return the cache folder name: readable, with a hash of every setting that changes the images."""
        settings = {"version": CACHE_VERSION, "name": self.name, "load_size": self.load_size}
        if self.name == "toy-flowers":
            from t2i.data.toy_flowers import fingerprint

            settings.update(num_images=self.num_images, seed=self.seed, drawing=fingerprint())
        elif self.name == "huggingface":
            source = str(Path(self.root).resolve()) if Path(self.root).exists() else self.root
            settings.update(
                root=source, hf_split=self.hf_split, image_column=self.image_column,
                caption_column=self.caption_column, label_column=self.label_column,
            )
        else:
            settings.update(root=str(Path(self.root).resolve()))
            if self.name == "folder":
                # A user's folder changes between runs; its files' names, sizes and times make a new cache.
                settings["files"] = folder_fingerprint(Path(self.root))
            if self.captions_dir:
                settings["captions_dir"] = str(Path(self.captions_dir).resolve())
            if self.name == "cub":
                settings["crop"] = self.crop
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.name}-{self.load_size}px-{digest}"


def folder_fingerprint(root: Path) -> str:
    """Hash the relative path, size and modification time of every file under `root`."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def read_dataset(spec: DatasetSpec) -> tuple[list[ImageRecord], list[str]]:
    """Read every record of the dataset with its reader, each marked with its part of every split, and the class names."""
    spec.validate()
    if spec.name == "toy-flowers":
        from t2i.data.toy_flowers import ToyFlowers

        flowers = ToyFlowers(num_images=spec.num_images, size=spec.load_size, seed=spec.seed)
        return flowers.records(), flowers.class_names()
    if spec.name == "folder":
        from t2i.data.folder import load_folder

        return load_folder(spec.root)
    if spec.name == "huggingface":
        from t2i.data.hf_dataset import load_hf_dataset

        return load_hf_dataset(spec.root, spec.hf_split, spec.image_column, spec.caption_column, spec.label_column)
    if spec.name == "cub":
        from t2i.data.cub import load_cub

        return load_cub(spec.root, spec.captions_dir, crop=spec.crop, split="all")
    return _read_oxford102(spec)


def _read_oxford102(spec: DatasetSpec) -> tuple[list[ImageRecord], list[str]]:
    from t2i.data.oxford102 import load_oxford102, load_oxford102_splits

    records, class_names = load_oxford102(spec.root, spec.captions_dir)
    test_classes = oxford_zero_shot_test_classes(spec.root)
    try:
        official = load_oxford102_splits(spec.root)
    except DatasetError as error:
        if spec.split == "official":
            raise
        logger.warning("The official split is not available, so only the others are prepared: %s", error)
        official = {}
    for record in records:
        number = int(record.key.split("_")[-1])
        record.subsets["zero-shot"] = "test" if record.label + 1 in test_classes else "train"
        part = next((part for part, numbers in official.items() if number in numbers), None)
        if part is not None:
            record.subsets["official"] = part
    return records, class_names


def in_split(subset: str, split: str, part: str) -> bool:
    """Return whether an image whose part of `split` is `subset` belongs to `part` ("train" or "test").

    The training part of the official Oxford-102 split is its train and validation sets together, as in
    Reed et al.'s code and torchvision. With split "all" every image is in the training part.
    """
    if part not in SPLIT_PARTS:
        raise DatasetError(f"unknown split part {part!r}; choose one of {', '.join(SPLIT_PARTS)}")
    if split == "all":
        return part == "train"
    return subset in SPLIT_PARTS[part]


def load_records(spec: DatasetSpec, part: str = "train") -> tuple[list[ImageRecord], list[str]]:
    """Read the records of one part of the split `spec.split`, and the class names."""
    records, class_names = read_dataset(spec)
    return [record for record in records if in_split(record.subsets.get(spec.split, ""), spec.split, part)], class_names


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


def split_column(split: str) -> str:
    return "split_" + split.replace("-", "_")


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
        skipped_file = folder / "skipped.json"
        skipped = json.loads(skipped_file.read_text()) if skipped_file.is_file() else []
        if strict and skipped:
            raise DatasetError(
                f"the cache {folder} was prepared without --strict and skipped {len(skipped)} undecodable images"
                f" (first: {skipped[0]}); fix or remove them, or delete that folder and prepare again with --strict"
            )
        return folder

    start = time.perf_counter()
    records, class_names = read_dataset(spec)
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
            **{split_column(split): datasets.Value("string") for split in STORED_SPLITS},
        }
    )
    table = datasets.Dataset.from_dict(
        {
            "key": [record.key for record in records],
            "image": pixels,
            "captions": [record.captions for record in records],
            "label": [record.label for record in records],
            **{split_column(split): [record.subsets.get(split, "") for record in records] for split in STORED_SPLITS},
        },
        features=features,
    )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"images.tmp-{os.getpid()}"
    table.save_to_disk(str(tmp))
    (folder / "classes.json").write_text(json.dumps(class_names, indent=0))
    (folder / "skipped.json").write_text(json.dumps([str(record.path or record.key) for record in skipped], indent=0))
    _atomic_replace_dir(tmp, images_dir)
    logger.info(
        "Prepared %d images (%d captions, %d classes) of %s at %d px in %.1f s into %s; skipped %d undecodable images",
        len(records), sum(len(r.captions) for r in records), len(class_names), spec.name, size,
        time.perf_counter() - start, folder, len(skipped),
    )
    return folder
