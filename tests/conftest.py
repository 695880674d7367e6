"""Shared test set-up: offline hubs and W&B, temporary W&B folders, and a tiny prepared toy-flowers cache."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_SILENT", "true")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "real"
CONFIGS = PROJECT_ROOT / "configs"


@pytest.fixture(autouse=True, scope="session")
def wandb_folders(tmp_path_factory):
    """Keep every W&B file inside a temporary folder: runs, media tables, cache and settings."""
    folder = tmp_path_factory.mktemp("wandb")
    for name in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        os.environ[name] = str(folder)
    yield folder


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One prepared-data cache for the whole session, so each caption is encoded once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def real_oxford() -> Path:
    folder = REAL_DATA / "oxford102"
    if not (folder / "imagelabels.mat").is_file():
        pytest.skip(f"real Oxford-102 files not found at {folder}")
    return folder


REAL_CUB = REAL_DATA / "cub"
CUB_METADATA = ("images.txt", "bounding_boxes.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")


@pytest.fixture(scope="module")
def real_cub():
    if not (REAL_CUB / "CUB_200_2011" / "images.txt").is_file():
        pytest.skip(f"real CUB metadata not found at {REAL_CUB}")
    return REAL_CUB


@pytest.fixture
def cub_tree(tmp_path, real_cub):
    """A CUB root with the real CRLF metadata and tiny JPEGs for the first three images of two classes."""
    cub = tmp_path / "CUB_200_2011"
    cub.mkdir()
    for name in CUB_METADATA:
        shutil.copy(real_cub / "CUB_200_2011" / name, cub / name)
    lines = (cub / "images.txt").read_text().splitlines()
    chosen = [line.split()[1] for line in lines[:3]] + [line.split()[1] for line in lines[60:63]]
    for relative in chosen:
        path = cub / "images" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (500, 400), (200, 30, 30)).save(path)
    return tmp_path, chosen


TINY = ["--model.ngf", "8", "--model.ndf", "8", "--data.num_images", "64", "--data.batch_size", "16"]


def fit(run_dir: Path, cache_dir: Path, *overrides: str) -> int:
    """Run `t2i fit` on toy flowers inside `run_dir` with tiny widths."""
    previous = os.getcwd()
    os.chdir(run_dir)
    try:
        from t2i.cli import main

        return main(
            ["fit", "--config", str(CONFIGS / "toy-flowers.yaml"), *TINY, "--data.cache_dir", str(cache_dir),
             "--trainer.enable_progress_bar", "false", *overrides]
        )
    finally:
        os.chdir(previous)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, cache_dir):
    """A toy-flowers run of 4 batches (8 optimiser steps), with the log lines it emitted."""
    run_dir = tmp_path_factory.mktemp("run")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger().addHandler(handler)
    try:
        assert fit(run_dir, cache_dir, "--trainer.max_steps", "8") == 0
    finally:
        logging.getLogger().removeHandler(handler)
    return run_dir / "runs" / "toy-flowers", [record.getMessage() for record in records]


