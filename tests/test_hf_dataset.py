"""Tests of the Hugging Face `datasets` reader, on real datasets written with save_to_disk."""

import io
import socket

import datasets
import pytest
from PIL import Image

from t2i.data.hf_dataset import load_hf_dataset
from t2i.errors import DatasetError


def encode(image: Image.Image, format: str = "PNG") -> dict:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return {"bytes": buffer.getvalue(), "path": None}


def red_square() -> dict:
    return encode(Image.new("RGB", (16, 16), (200, 20, 40)))


def save(folder, columns: dict, features: dict) -> str:
    """Write `columns` with `features` to `folder` with save_to_disk and return the folder as a string."""
    dataset = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    dataset.save_to_disk(str(folder))
    return str(folder)


def captioned(folder, captions: list, feature=None, **extra) -> str:
    """Save one red square a caption, with `extra` columns given as (values, feature) pairs."""
    columns = {"image": [red_square() for _ in captions], "caption": captions}
    features = {"image": datasets.Image(), "caption": feature or datasets.Value("string")}
    for name, (values, extra_feature) in extra.items():
        columns[name] = values
        features[name] = extra_feature
    return save(folder, columns, features)


@pytest.fixture
def no_network(monkeypatch):
    """Record every name lookup and connection, and fail them, so a test can check none was tried."""
    attempts = []

    def fail_lookup(host, *args, **kwargs):
        attempts.append(host)
        raise OSError(f"test blocked a name lookup of {host}")

    def fail_connect(sock, address):
        attempts.append(address)
        raise OSError(f"test blocked a connection to {address}")

    monkeypatch.setattr(socket, "getaddrinfo", fail_lookup)
    monkeypatch.setattr(socket.socket, "connect", fail_connect)
    return attempts


def test_list_of_captions_cleaned(tmp_path):
    source = captioned(
        tmp_path / "saved",
        [["a red\ufffd rose", "  \x1b[1;31mtwo  petals\x1b[0m ", "", "   "]],
        feature=datasets.List(datasets.Value("string")),
    )
    records, _ = load_hf_dataset(source, caption_column="caption")
    assert records[0].captions == ["a red rose", "two petals"]


def test_caption_column_detected(tmp_path):
    columns = {"image": [red_square()], "notes": ["not a caption"], "captions": [["a rose"]]}
    source = save(
        tmp_path / "saved",
        columns,
        {"image": datasets.Image(), "notes": datasets.Value("string"), "captions": datasets.List(datasets.Value("string"))},
    )
    records, _ = load_hf_dataset(source)
    assert records[0].captions == ["a rose"]


def test_newline_separated_caption_string(tmp_path):
    source = captioned(tmp_path / "saved", ["a red rose\r\n\nthree  petals\rseen from above\n"])
    records, _ = load_hf_dataset(source)
    assert records[0].captions == ["a red rose", "three petals", "seen from above"]


def test_keys_are_row_indices(tmp_path):
    records, _ = load_hf_dataset(captioned(tmp_path / "saved", ["one", "two"]))
    assert [record.key for record in records] == ["000000", "000001"]


def test_keys_from_file_name_column(tmp_path):
    names = (["rose.jpg", "tulip.jpg"], datasets.Value("string"))
    records, _ = load_hf_dataset(captioned(tmp_path / "saved", ["one", "two"], file_name=names))
    assert [record.key for record in records] == ["rose.jpg", "tulip.jpg"]


def test_repeated_keys_fall_back_to_indices(tmp_path):
    ids = (["same", "same"], datasets.Value("string"))
    records, _ = load_hf_dataset(captioned(tmp_path / "saved", ["one", "two"], id=ids))
    assert [record.key for record in records] == ["000000", "000001"]


def test_no_label_column_means_no_classes(tmp_path):
    records, class_names = load_hf_dataset(captioned(tmp_path / "saved", ["one"]))
    assert records[0].label == -1
    assert class_names == []


def test_class_label_detected(tmp_path):
    labels = ([1, 0, 1], datasets.ClassLabel(names=["rose", "tulip"]))
    records, class_names = load_hf_dataset(captioned(tmp_path / "saved", ["a", "b", "c"], species=labels))
    assert [record.label for record in records] == [1, 0, 1]
    assert class_names == ["rose", "tulip"]


def test_given_int_label_column(tmp_path):
    labels = ([7, 3, 7, None], datasets.Value("int64"))
    records, class_names = load_hf_dataset(
        captioned(tmp_path / "saved", ["a", "b", "c", "d"], group=labels), label_column="group"
    )
    assert [record.label for record in records] == [1, 0, 1, -1]
    assert class_names == ["3", "7"]


def test_string_label_column_rejected(tmp_path):
    labels = (["rose"], datasets.Value("string"))
    source = captioned(tmp_path / "saved", ["a"], species=labels)
    with pytest.raises(DatasetError, match="ClassLabel or an integer column"):
        load_hf_dataset(source, label_column="species")


@pytest.fixture
def dataset_dict(tmp_path):
    features = datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string")})
    splits = {
        name: datasets.Dataset.from_dict({"image": [red_square()], "caption": [f"a {name} rose"]}, features=features)
        for name in ("train", "test")
    }
    datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "saved"))
    return str(tmp_path / "saved")


def test_dataset_dict_split_selected(dataset_dict):
    records, _ = load_hf_dataset(dataset_dict, split="test")
    assert records[0].captions == ["a test rose"]


def test_dataset_dict_missing_split_names_splits(dataset_dict):
    with pytest.raises(DatasetError, match="split 'validation' not found.*train, test"):
        load_hf_dataset(dataset_dict, split="validation")


def test_no_image_column_error(tmp_path):
    source = save(tmp_path / "saved", {"caption": ["a rose"]}, {"caption": datasets.Value("string")})
    with pytest.raises(DatasetError, match=r"no column with the datasets.Image feature.*caption \(Value.*Pass image_column"):
        load_hf_dataset(source)


def test_two_image_columns_error(tmp_path):
    source = save(
        tmp_path / "saved",
        {"photo": [red_square()], "mask": [red_square()], "caption": ["a rose"]},
        {"photo": datasets.Image(), "mask": datasets.Image(), "caption": datasets.Value("string")},
    )
    with pytest.raises(DatasetError, match=r"2 image columns \(photo, mask\).*Pass image_column"):
        load_hf_dataset(source)


def test_two_image_columns_with_given_column(tmp_path):
    mask = encode(Image.new("RGB", (16, 16), (0, 0, 255)))
    source = save(
        tmp_path / "saved",
        {"photo": [red_square()], "mask": [mask], "caption": ["a rose"]},
        {"photo": datasets.Image(), "mask": datasets.Image(), "caption": datasets.Value("string")},
    )
    records, _ = load_hf_dataset(source, image_column="mask")
    assert records[0].load_image().getpixel((0, 0)) == (0, 0, 255)


def test_no_caption_column_error(tmp_path):
    source = save(tmp_path / "saved", {"image": [red_square()], "notes": ["x"]}, {"image": datasets.Image(), "notes": datasets.Value("string")})
    with pytest.raises(DatasetError, match="no caption column .*notes.*Pass caption_column"):
        load_hf_dataset(source)


@pytest.mark.parametrize("argument", ["image_column", "caption_column", "label_column"])
def test_unknown_column_lists_columns(tmp_path, argument):
    source = captioned(tmp_path / "saved", ["a rose"])
    with pytest.raises(DatasetError, match=r"column 'petals' not found.*image \(Image.*caption \(Value"):
        load_hf_dataset(source, **{argument: "petals"})


def test_non_image_column_given_as_image(tmp_path):
    source = captioned(tmp_path / "saved", ["a rose"])
    with pytest.raises(DatasetError, match=r"column 'caption' .* not datasets.Image"):
        load_hf_dataset(source, image_column="caption")


def test_empty_caption_row_skipped(tmp_path, caplog):
    source = captioned(tmp_path / "saved", ["a rose", " \n\x1b[0m ", None, "a tulip"])
    records, _ = load_hf_dataset(source)
    assert [record.key for record in records] == ["000000", "000003"]
    assert "Skipped 2 rows" in caplog.text
    assert "rows 1, 2" in caplog.text


def test_skip_warning_names_ten_rows(tmp_path, caplog):
    load_hf_dataset(captioned(tmp_path / "saved", ["a rose"] + [""] * 12))
    assert "rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more" in caplog.text


def test_no_captions_at_all_error(tmp_path):
    with pytest.raises(DatasetError, match="none of the 2 rows"):
        load_hf_dataset(captioned(tmp_path / "saved", ["", " "]))


def test_summary_logged(tmp_path, caplog):
    caplog.set_level("INFO", logger="t2i.data.hf_dataset")
    load_hf_dataset(captioned(tmp_path / "saved", ["a\nb", ""]))
    assert "2 rows" in caplog.text
    assert "1 captioned images, 2 captions, 0 classes, 1 rows skipped" in caplog.text


def test_truncated_jpeg_fails_on_load(tmp_path):
    jpeg = encode(Image.effect_noise((64, 64), 40).convert("RGB"), format="JPEG")["bytes"]
    truncated = {"bytes": jpeg[: len(jpeg) * 3 // 4], "path": None}
    source = save(
        tmp_path / "saved",
        {"image": [red_square(), truncated], "caption": ["good", "truncated"]},
        {"image": datasets.Image(), "caption": datasets.Value("string")},
    )
    records, _ = load_hf_dataset(source)
    assert len(records) == 2
    with pytest.raises(OSError, match="truncated"):
        records[1].load_image()


def test_non_image_bytes_fail_on_load(tmp_path):
    broken = {"bytes": b"\xff\xd8\xff\xe0 not really a JPEG", "path": None}
    source = save(
        tmp_path / "saved",
        {"image": [broken], "caption": ["broken"]},
        {"image": datasets.Image(), "caption": datasets.Value("string")},
    )
    records, _ = load_hf_dataset(source)
    with pytest.raises(OSError):
        records[0].load_image()


def test_missing_image_fails_on_load(tmp_path):
    source = save(
        tmp_path / "saved",
        {"image": [None], "caption": ["no picture"]},
        {"image": datasets.Image(), "caption": datasets.Value("string")},
    )
    records, _ = load_hf_dataset(source)
    with pytest.raises(ValueError, match="has no image"):
        records[0].load_image()


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_load_image_returns_rgb(tmp_path, mode):
    source = save(
        tmp_path / "saved",
        {"image": [encode(Image.new(mode, (12, 10)))], "caption": ["a grey square"]},
        {"image": datasets.Image(), "caption": datasets.Value("string")},
    )
    records, _ = load_hf_dataset(source)
    image = records[0].load_image()
    assert image.mode == "RGB"
    assert image.size == (12, 10)


def test_not_a_saved_dataset_names_contents(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "rose.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="not a dataset saved with save_to_disk: it is a folder containing rose.jpg"):
        load_hf_dataset(str(tmp_path / "photos"))


def test_missing_local_path_not_found(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_hf_dataset("./no-such-folder-for-t2i-tests")


def test_offline_hub_id_not_cached(monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # datasets reads the variables when it is imported, so the test sets the value it uses as well.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(DatasetError, match="could not be loaded offline.*save_to_disk"):
        load_hf_dataset("t2i-tests/no-such-dataset")
    assert no_network == []


def test_prepare_and_fit_from_saved_dataset(tmp_path, cache_dir):
    """`t2i prepare huggingface` skips the corrupt row, and `t2i fit` trains on the prepared cache."""
    import os

    import torch

    from t2i.cli import main
    from tests.conftest import CONFIGS

    colours = [(200, 20, 40), (240, 200, 30), (30, 90, 220), (20, 160, 60)]
    images = [encode(Image.new("RGB", (40, 30), colour)) for colour in colours]
    images.append({"bytes": images[0]["bytes"][:60], "path": None})
    source = captioned(
        tmp_path / "saved",
        [f"a flower of colour {index}\nround petals" for index in range(5)],
        label=([0, 0, 1, 1, 1], datasets.ClassLabel(names=["warm", "cool"])),
        **{"image": (images, datasets.Image())},
    )
    assert main(["prepare", "huggingface", "--root", source, "--out", str(cache_dir), "--load-size", "38"]) == 0

    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(
            ["fit", "--config", str(CONFIGS / "toy-flowers.yaml"), "--data.dataset", "huggingface", "--data.split", "all", "--data.root", source,
             "--data.cache_dir", str(cache_dir), "--model.ngf", "4", "--model.ndf", "4", "--data.batch_size", "2",
             "--trainer.max_epochs", "1", "--trainer.max_steps", "-1", "--trainer.enable_progress_bar", "false"]
        )
    finally:
        os.chdir(previous)
    assert code == 0
    checkpoint = torch.load(tmp_path / "runs/toy-flowers/checkpoints/last.ckpt", weights_only=True)
    # Four decodable images in batches of two.
    assert checkpoint["t2i"]["batches_trained"] == 2
