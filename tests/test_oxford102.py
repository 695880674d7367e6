"""Tests for the Oxford-102 loader against the real files and small trees in the published layout."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import scipy.io

from t2i.data.oxford102 import OXFORD102_CLASS_NAMES, load_oxford102, load_oxford102_splits
from t2i.errors import DatasetError

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
REAL_OXFORD = REAL_DATA / "oxford102"
LOGGER_NAME = "t2i.data.oxford102"

# Real images and their 1-based labels in imagelabels.mat.
QUIRKY_IMAGE = ("image_03095", 11)  # every caption quirk, in the expected class folder
SHORT_IMAGE = ("image_04244", 18)  # three captions
EMPTY_IMAGE = ("image_05147", 5)  # caption file with nothing left after cleaning
UNCAPTIONED_IMAGE = ("image_06049", 14)  # no caption file
OTHER_FOLDER_IMAGE = ("image_06735", 1)  # caption file in a differently named class folder
TREE_IMAGES = (QUIRKY_IMAGE, SHORT_IMAGE, EMPTY_IMAGE, UNCAPTIONED_IMAGE, OTHER_FOLDER_IMAGE)

QUIRKY_CAPTIONS = (
    b"this flower has \xef\xbf\xbd\xef\xbf\xbdpink and white petals\r\n"
    b"\r\n"
    b"\x1b[1mthe petals are long and thin\x1b[0m\r\n"
    b"this flower has a   yellow center\r\n"
    b"\r\n"
    b"the stamen is \xffbright orange\r\n"
    b"a flower with ruffled petals\r\n"
)


def require_real_data() -> None:
    if not (REAL_OXFORD / "imagelabels.mat").is_file():
        pytest.skip(f"real Oxford-102 files not found at {REAL_OXFORD}")


@pytest.fixture(scope="module")
def real_records():
    require_real_data()
    return load_oxford102(REAL_OXFORD)


def write_caption_file(captions_root: Path, folder: str, stem: str, data: bytes) -> None:
    (captions_root / folder).mkdir(parents=True, exist_ok=True)
    (captions_root / folder / f"{stem}.txt").write_bytes(data)


def build_tree(root: Path, captions: bool = True, cat_to_name: bool = True) -> Path:
    """Copy five real images and the real .mat files into `root`, with text_c10 captions."""
    require_real_data()
    (root / "jpg").mkdir(parents=True)
    for stem, _ in TREE_IMAGES:
        shutil.copy(REAL_OXFORD / "jpg" / f"{stem}.jpg", root / "jpg")
    for name in ("imagelabels.mat", "setid.mat"):
        shutil.copy(REAL_OXFORD / name, root)
    if cat_to_name:
        shutil.copy(REAL_OXFORD / "cat_to_name.json", root)

    if captions:
        text = root / "text_c10"
        write_caption_file(text, "class_00011", QUIRKY_IMAGE[0], QUIRKY_CAPTIONS)
        write_caption_file(text, "class_00018", SHORT_IMAGE[0], b"one\ntwo\nthree\n")
        write_caption_file(text, "class_00005", EMPTY_IMAGE[0], b"\n\xef\xbf\xbd\n\x1b[0m\n")
        write_caption_file(text, "001.pink_primrose", OTHER_FOLDER_IMAGE[0], b"a pink primrose\n")
    return root


def by_key(records):
    return {record.key: record for record in records}


def test_real_record_count(real_records):
    records, _ = real_records

    assert len(records) == 191


def test_real_labels_in_range(real_records):
    records, _ = real_records

    for record in records:
        assert 0 <= record.label <= 101


def test_real_ten_captions(real_records):
    records, _ = real_records

    for record in records:
        assert len(record.captions) == 10


def test_real_captions_name_class(real_records):
    records, class_names = real_records

    for record in records:
        for caption in record.captions:
            assert class_names[record.label] in caption


def test_real_class_names(real_records):
    _, class_names = real_records

    assert len(class_names) == 102
    assert class_names[0] == "pink primrose"
    assert class_names[10] == "snapdragon"
    assert class_names[101] == "blackberry lily"


def test_real_labels_match_mat(real_records):
    records, _ = real_records
    labels = scipy.io.loadmat(REAL_OXFORD / "imagelabels.mat")["labels"][0]
    records_by_key = by_key(records)

    for stem, label in [("image_03095", 11), ("image_04244", 18), ("image_06735", 1)]:
        assert records_by_key[stem].label == label - 1
        assert records_by_key[stem].label == int(labels[int(stem[-5:]) - 1]) - 1


def test_real_paths_exist(real_records):
    records, _ = real_records

    for record in records:
        assert record.path == REAL_OXFORD / "jpg" / f"{record.key}.jpg"
        assert record.path.is_file()


def test_real_image_loads(real_records):
    records, _ = real_records

    image = records[0].load_image()

    assert image.mode == "RGB"


def test_real_captions_deterministic(real_records):
    records, _ = real_records

    again, _ = load_oxford102(REAL_OXFORD)

    assert [r.captions for r in again] == [r.captions for r in records]


def test_real_missing_images_logged(caplog):
    require_real_data()

    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        load_oxford102(REAL_OXFORD)

    assert "found 191 of 8,189 images listed in imagelabels.mat" in caplog.text


def test_real_class_name_captions_logged(caplog):
    require_real_data()

    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        load_oxford102(REAL_OXFORD)
    lines = [r.getMessage() for r in caplog.records if "text_c10/" in r.getMessage()]

    assert len(lines) == 1
    assert "captions_dir" in lines[0]


def test_splits_official_sizes():
    require_real_data()

    splits = load_oxford102_splits(REAL_OXFORD)

    assert len(splits["train"]) == 1020
    assert len(splits["val"]) == 1020
    assert len(splits["test"]) == 6149


def test_splits_cover_all_images():
    require_real_data()

    splits = load_oxford102_splits(REAL_OXFORD)

    assert splits["train"] | splits["val"] | splits["test"] == set(range(1, 8190))
    assert not splits["train"] & splits["test"]


def test_splits_missing_file(tmp_path):
    with pytest.raises(DatasetError) as raised:
        load_oxford102_splits(tmp_path)

    assert "setid.mat" in str(raised.value)
    assert str(tmp_path) in str(raised.value)


def test_wrong_root_message():
    require_real_data()

    with pytest.raises(DatasetError) as raised:
        load_oxford102(REAL_DATA)
    message = str(raised.value)

    assert str(REAL_DATA) in message
    assert "imagelabels.mat" in message
    assert "jpg/" in message
    assert "oxford102/" in message
    assert "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/" in message


def test_missing_root_message(tmp_path):
    missing = tmp_path / "flowers"

    with pytest.raises(DatasetError) as raised:
        load_oxford102(missing)
    message = str(raised.value)

    assert str(missing) in message
    assert "does not exist" in message
    assert "imagelabels.mat" in message


def test_root_without_labels(tmp_path):
    (tmp_path / "jpg").mkdir()

    with pytest.raises(DatasetError) as raised:
        load_oxford102(tmp_path)

    assert "contains jpg/" in str(raised.value)


def test_corrupt_mat(tmp_path):
    root = build_tree(tmp_path / "flowers")
    (root / "imagelabels.mat").write_bytes(b"not a mat file" * 20)

    with pytest.raises(DatasetError) as raised:
        load_oxford102(root)

    assert str(root / "imagelabels.mat") in str(raised.value)


def test_no_listed_images(tmp_path):
    root = build_tree(tmp_path / "flowers")
    for path in (root / "jpg").iterdir():
        path.unlink()

    with pytest.raises(DatasetError) as raised:
        load_oxford102(root)

    assert "image_00001.jpg" in str(raised.value)


def test_tree_quirky_captions(tmp_path):
    records, _ = load_oxford102(build_tree(tmp_path / "flowers"))

    captions = by_key(records)[QUIRKY_IMAGE[0]].captions

    assert captions == [
        "this flower has pink and white petals",
        "the petals are long and thin",
        "this flower has a yellow center",
        "the stamen is bright orange",
        "a flower with ruffled petals",
    ]


def test_tree_fixes_in_summary(tmp_path, caplog):
    root = build_tree(tmp_path / "flowers")

    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        load_oxford102(root)

    # Quirky file: 2 blank lines, U+FFFD, ANSI, spaces, invalid byte. Empty file: 3 lines dropped.
    assert "(9 caption lines fixed)" in caplog.text


def test_tree_short_captions(tmp_path):
    records, _ = load_oxford102(build_tree(tmp_path / "flowers"))

    assert by_key(records)[SHORT_IMAGE[0]].captions == ["one", "two", "three"]


def test_tree_other_class_folder(tmp_path):
    records, _ = load_oxford102(build_tree(tmp_path / "flowers"))

    assert by_key(records)[OTHER_FOLDER_IMAGE[0]].captions == ["a pink primrose"]


def test_tree_labels(tmp_path):
    records, _ = load_oxford102(build_tree(tmp_path / "flowers"))
    records_by_key = by_key(records)

    for stem, label in (QUIRKY_IMAGE, SHORT_IMAGE, OTHER_FOLDER_IMAGE):
        assert records_by_key[stem].label == label - 1


def test_tree_empty_file_skipped(tmp_path, caplog):
    root = build_tree(tmp_path / "flowers")

    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        records, _ = load_oxford102(root)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    assert EMPTY_IMAGE[0] not in by_key(records)
    assert any(EMPTY_IMAGE[0] in w and "no caption left" in w for w in warnings)


def test_tree_missing_file_skipped(tmp_path, caplog):
    root = build_tree(tmp_path / "flowers")

    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        records, _ = load_oxford102(root)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    assert UNCAPTIONED_IMAGE[0] not in by_key(records)
    assert any(UNCAPTIONED_IMAGE[0] in w and "no caption file" in w for w in warnings)


def test_tree_record_keys(tmp_path):
    records, _ = load_oxford102(build_tree(tmp_path / "flowers"))

    assert [r.key for r in records] == ["image_03095", "image_04244", "image_06735"]


def test_tree_captions_dir(tmp_path):
    root = build_tree(tmp_path / "flowers")
    captions_dir = tmp_path / "captions"
    shutil.move(root / "text_c10", captions_dir)

    records, _ = load_oxford102(root, captions_dir=captions_dir)

    assert [r.key for r in records] == ["image_03095", "image_04244", "image_06735"]


def test_tree_captions_dir_missing(tmp_path):
    root = build_tree(tmp_path / "flowers")
    missing = tmp_path / "captions"

    with pytest.raises(DatasetError) as raised:
        load_oxford102(root, captions_dir=missing)

    assert str(missing) in str(raised.value)


def test_tree_no_caption_matches(tmp_path):
    root = build_tree(tmp_path / "flowers")
    captions_dir = tmp_path / "captions"
    write_caption_file(captions_dir, "class_00001", "image_00001", b"a pink primrose\n")

    with pytest.raises(DatasetError) as raised:
        load_oxford102(root, captions_dir=captions_dir)

    assert str(captions_dir) in str(raised.value)


def test_tree_without_captions(tmp_path):
    records, _ = load_oxford102(build_tree(tmp_path / "flowers", captions=False))

    assert len(records) == len(TREE_IMAGES)
    assert "snapdragon" in by_key(records)[QUIRKY_IMAGE[0]].captions[0]


def test_tree_builtin_class_names(tmp_path):
    root = build_tree(tmp_path / "flowers", cat_to_name=False)

    _, class_names = load_oxford102(root)

    assert class_names == list(OXFORD102_CLASS_NAMES)


def test_builtin_names_match_json():
    require_real_data()
    mapping = json.loads((REAL_OXFORD / "cat_to_name.json").read_text())

    assert list(OXFORD102_CLASS_NAMES) == [mapping[str(n)] for n in range(1, 103)]


def test_tree_invalid_cat_to_name(tmp_path):
    root = build_tree(tmp_path / "flowers")
    (root / "cat_to_name.json").write_text('{"1": "pink primrose"}')

    with pytest.raises(DatasetError) as raised:
        load_oxford102(root)

    assert "cat_to_name.json" in str(raised.value)


def test_tree_torchvision_layout(tmp_path):
    build_tree(tmp_path / "flowers-102")

    records, _ = load_oxford102(tmp_path)

    assert [r.key for r in records] == ["image_03095", "image_04244", "image_06735"]
    assert load_oxford102_splits(tmp_path)["train"]
