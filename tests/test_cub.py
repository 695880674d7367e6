"""Tests of the CUB-200-2011 reader on the real metadata and on small trees in the official layout."""


import pytest
from PIL import Image

from t2i.data.cub import ZERO_SHOT_TEST_CLASSES, find_cub_folder, load_cub, square_box
from t2i.data.legacy import read_class_info
from t2i.errors import DatasetError



@pytest.fixture
def tree(cub_tree):
    return cub_tree


def test_real_zero_shot_list_matches_stackgan(real_cub):
    test_classes = set(read_class_info(real_cub / "test" / "class_info.pickle"))
    assert test_classes == set(ZERO_SHOT_TEST_CLASSES)


def test_reads_images_present_with_crlf_metadata(tree):
    root, chosen = tree
    records, class_names = load_cub(root)
    assert [record.key for record in records] == [relative.split("/")[1][:-4] for relative in chosen]
    assert len(class_names) == 200
    assert class_names[0] == "Black footed Albatross"


def test_class_name_captions_without_text(tree, caplog):
    root, _ = tree
    with caplog.at_level("INFO"):
        records, _ = load_cub(root)
    assert "albatross" in records[0].captions[0].lower()
    assert "written from class names" in caplog.text


def test_reed_captions_read(tree):
    root, chosen = tree
    class_folder, name = chosen[0].split("/")
    caption_folder = root / "text_c10" / class_folder
    caption_folder.mkdir(parents=True)
    (caption_folder / name.replace(".jpg", ".txt")).write_bytes(b"a bird with a white belly\r\n\r\nits wings are black\r\n")
    records, _ = load_cub(root)
    assert records[0].captions == ["a bird with a white belly", "its wings are black"]
    assert len(records) == 1


def test_bounding_box_crop_of_first_image(tree):
    root, _ = tree
    records, _ = load_cub(root)
    # Box 60 27 325 304: a square of side 487.5 centred at (222.5, 179.5), clipped to 500 x 400.
    assert records[0].crop_box == (0, 0, 466, 400)
    assert records[0].load_image().size == (466, 400)


def test_square_box_centred_and_clipped():
    assert square_box((100, 100, 40, 20), 1000, 1000) == (90, 80, 150, 140)
    assert square_box((0, 0, 100, 100), 120, 120) == (0, 0, 120, 120)


def test_no_crop_option(tree):
    root, _ = tree
    records, _ = load_cub(root, crop=False)
    assert records[0].crop_box is None
    assert records[0].load_image().size == (500, 400)


def test_missing_box_falls_back_to_centre_crop(tree, caplog):
    root, _ = tree
    boxes = root / "CUB_200_2011" / "bounding_boxes.txt"
    boxes.write_text("\n".join(boxes.read_text().splitlines()[1:]))
    records, _ = load_cub(root)
    assert records[0].crop_box == (50, 0, 450, 400)
    assert "centre-cropped" in caplog.text


def test_official_split_parts(tree):
    root, chosen = tree
    train, _ = load_cub(root, split="official", part="train")
    test, _ = load_cub(root, split="official", part="test")
    assert len(train) + len(test) == len(chosen)
    assert not {record.key for record in train} & {record.key for record in test}


def test_zero_shot_puts_class_1_in_test(tree):
    root, _ = tree
    test, _ = load_cub(root, split="zero-shot", part="test")
    assert {record.label for record in test} == {0}


def test_wrong_root_says_what_was_expected(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(DatasetError, match="images.txt") as error:
        find_cub_folder(tmp_path)
    assert "photos" in str(error.value)


def test_unknown_split_rejected(tree):
    root, _ = tree
    with pytest.raises(DatasetError, match="unknown CUB split"):
        load_cub(root, split="random")


def test_fit_on_cub_tree(tree, tmp_path, cache_dir):
    import os

    import torch

    from t2i.cli import main
    from tests.conftest import CONFIGS

    root, _ = tree
    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(
            ["fit", "--config", str(CONFIGS / "cub.yaml"), "--data.root", str(root), "--data.cache_dir", str(cache_dir),
             "--model.ngf", "4", "--model.ndf", "4", "--data.batch_size", "2", "--trainer.max_epochs", "1",
             "--trainer.enable_progress_bar", "false"]
        )
    finally:
        os.chdir(previous)
    assert code == 0
    checkpoint = torch.load(tmp_path / "runs/cub/checkpoints/last.ckpt", weights_only=True)
    # The zero-shot split trains on the 3 images of class 2; class 1 is a test class.
    assert checkpoint["t2i"]["batches_trained"] == 1


def _truncate_first_image(root, chosen):
    path = root / "CUB_200_2011" / "images" / chosen[3]
    path.write_bytes(path.read_bytes()[:300])
    return path


def test_prepare_skips_corrupt_image(tree, tmp_path, caplog):
    from t2i.data.prepare import DatasetSpec, prepare_images

    root, chosen = tree
    broken = _truncate_first_image(root, chosen)
    spec = DatasetSpec(name="cub", root=str(root), load_size=20, split="all")
    folder = prepare_images(spec, tmp_path / "cache")
    assert broken.name in caplog.text
    assert "skipped 1 undecodable images" in caplog.text
    import datasets

    assert len(datasets.load_from_disk(str(folder / "images"))) == len(chosen) - 1


def test_prepare_strict_raises_on_corrupt_image(tree, tmp_path):
    from t2i.data.prepare import DatasetSpec, prepare_images

    root, chosen = tree
    broken = _truncate_first_image(root, chosen)
    spec = DatasetSpec(name="cub", root=str(root), load_size=20, split="all")
    with pytest.raises(DatasetError, match=broken.name):
        prepare_images(spec, tmp_path / "cache", strict=True)


@pytest.mark.parametrize(("mode", "suffix"), [("L", ".jpg"), ("CMYK", ".jpg"), ("RGBA", ".png"), ("P", ".png")])
def test_image_modes_become_rgb(tmp_path, mode, suffix):
    from t2i.data.records import ImageRecord

    path = tmp_path / f"image{suffix}"
    Image.new(mode, (8, 6)).save(path)
    assert ImageRecord(key="image", captions=["a"], path=path).load_image().mode == "RGB"


def test_sixteen_bit_grayscale_scaled(tmp_path):
    import numpy as np

    from t2i.data.records import ImageRecord

    gradient = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    path = tmp_path / "gray16.png"
    Image.fromarray(gradient).save(path)
    pixels = np.asarray(ImageRecord(key="gray16", captions=["a"], path=path).load_image())
    assert abs(pixels.mean() - 127.5) < 2
    assert pixels.max() == 255
