"""Tests of the captioned-image folder source."""

import os

import pytest
import torch
from PIL import Image

from t2i.cli import main
from t2i.data.folder import load_folder
from t2i.errors import DatasetError
from tests.conftest import CONFIGS


@pytest.fixture
def folder(tmp_path):
    """Two class folders with two captioned images each, and one image without captions."""
    root = tmp_path / "mine"
    for class_name, colour in (("roses", (200, 20, 40)), ("tulips", (240, 200, 30))):
        (root / class_name).mkdir(parents=True)
        for index in range(2):
            Image.new("RGB", (40, 30), colour).save(root / class_name / f"photo{index}.jpg")
            (root / class_name / f"photo{index}.txt").write_text(f"a {class_name[:-1]} in a garden\r\n\r\nred and green\n")
    Image.new("RGBA", (20, 20)).save(root / "roses" / "uncaptioned.png")
    return root


def test_reads_captioned_images(folder):
    records, class_names = load_folder(folder)
    assert [record.key for record in records] == ["roses/photo0", "roses/photo1", "tulips/photo0", "tulips/photo1"]
    assert class_names == ["roses", "tulips"]


def test_class_from_subfolder(folder):
    records, _ = load_folder(folder)
    assert [record.label for record in records] == [0, 0, 1, 1]


def test_captions_cleaned(folder):
    records, _ = load_folder(folder)
    assert records[0].captions == ["a rose in a garden", "red and green"]


def test_uncaptioned_image_skipped_and_named(folder, caplog):
    load_folder(folder)
    assert "roses/uncaptioned.png" in caplog.text


def test_flat_folder_has_no_classes(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    (tmp_path / "a.txt").write_text("a small square\n")
    records, class_names = load_folder(tmp_path)
    assert records[0].label == -1
    assert class_names == []


def test_empty_folder_explains_layout(tmp_path):
    with pytest.raises(DatasetError, match="bird.jpg and bird.txt"):
        load_folder(tmp_path)


def test_fit_on_folder(folder, tmp_path, cache_dir):
    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(
            ["fit", "--config", str(CONFIGS / "oxford102.yaml"), "--data.dataset", "folder", "--data.root", str(folder),
             "--data.cache_dir", str(cache_dir), "--model.ngf", "4", "--model.ndf", "4", "--data.batch_size", "2",
             "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false"]
        )
    finally:
        os.chdir(previous)
    assert code == 0
    checkpoint = torch.load(tmp_path / "runs/oxford102/checkpoints/last.ckpt", weights_only=True)
    assert checkpoint["t2i"]["batches_trained"] == 2


def test_training_loop_decodes_no_image(folder, tmp_path, cache_dir, monkeypatch):
    """After `t2i prepare`, training reads only the uint8 cache: PIL opens no image file."""
    import PIL.Image

    assert main(["prepare", "folder", "--root", str(folder), "--out", str(cache_dir)]) == 0
    opened = []
    original_open = PIL.Image.open

    def counting_open(*args, **kwargs):
        opened.append(args[0])
        return original_open(*args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", counting_open)
    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(
            ["fit", "--config", str(CONFIGS / "oxford102.yaml"), "--data.dataset", "folder", "--data.root", str(folder),
             "--data.cache_dir", str(cache_dir), "--data.load_size", "76", "--model.ngf", "4", "--model.ndf", "4",
             "--data.batch_size", "2", "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false"]
        )
    finally:
        os.chdir(previous)
    assert code == 0
    assert opened == []


def test_changed_folder_prepares_again(folder, tmp_path):
    from t2i.data.prepare import DatasetSpec

    before = DatasetSpec(name="folder", root=str(folder)).key()
    (folder / "roses" / "photo0.txt").write_text("a rose with a new caption\n")
    assert DatasetSpec(name="folder", root=str(folder)).key() != before


def test_strict_rejects_cache_with_skipped_images(folder, tmp_path, caplog):
    (folder / "roses" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (folder / "roses" / "broken.txt").write_text("a broken rose\n")
    out = tmp_path / "cache"
    assert main(["prepare", "folder", "--root", str(folder), "--out", str(out), "--load-size", "34"]) == 0
    assert main(["prepare", "folder", "--root", str(folder), "--out", str(out), "--load-size", "34", "--strict"]) == 1
    assert "prepared without --strict and skipped 1 undecodable images" in caplog.text
