"""Tests for reading Reed et al. caption files and writing captions from class names."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2i.data.captions import class_name_captions, find_caption_file, read_caption_file
from t2i.errors import DatasetError

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
UNPAIRED_CAPTIONS = REAL_DATA / "oxford102" / "captions_unpaired.txt"


def write_bytes(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "image_00001.txt"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "expected_captions", "expected_fixes"),
    [
        pytest.param(
            "this flower has \ufffdpink petals\n".encode(),
            ["this flower has pink petals"],
            1,
            id="replacement-character",
        ),
        pytest.param(
            b"the petals are \xffwhite\n",
            ["the petals are white"],
            1,
            id="invalid-utf8-byte",
        ),
        pytest.param(
            b"\x1b[1mthe petals are yellow\x1b[0m\n",
            ["the petals are yellow"],
            1,
            id="ansi-bold-reset",
        ),
        pytest.param(
            b"the stamen is \x1b[31;1morange\n",
            ["the stamen is orange"],
            1,
            id="ansi-color",
        ),
        pytest.param(
            b"a red flower\r\nwith long petals\r\n",
            ["a red flower", "with long petals"],
            0,
            id="crlf",
        ),
        pytest.param(
            b"a red flower\n\n   \nwith long petals\n",
            ["a red flower", "with long petals"],
            2,
            id="blank-lines",
        ),
        pytest.param(
            b"  the  petals\tare white  \n",
            ["the petals are white"],
            1,
            id="extra-whitespace",
        ),
        pytest.param(
            b"a red flower\nwith long petals",
            ["a red flower", "with long petals"],
            0,
            id="no-final-newline",
        ),
        pytest.param(b"", [], 0, id="empty-file"),
        pytest.param(b"\xef\xbf\xbd\x1b[0m\r\n", [], 1, id="only-noise"),
    ],
)
def test_read_caption_file_cleaning(tmp_path, data, expected_captions, expected_fixes):
    captions, fixes = read_caption_file(write_bytes(tmp_path, data))

    assert captions == expected_captions
    assert fixes == expected_fixes


def test_read_caption_file_all_quirks(tmp_path):
    data = (
        "this flower has \ufffd\ufffdpurple petals\r\n"
        "\r\n"
        "\x1b[1mthe petals are wide\x1b[0m\r\n"
        "a   small flower\r\n"
        "the center is yellow\r\n"
    ).encode()

    captions, fixes = read_caption_file(write_bytes(tmp_path, data))

    assert captions == [
        "this flower has purple petals",
        "the petals are wide",
        "a small flower",
        "the center is yellow",
    ]
    assert fixes == 4


def test_read_caption_file_fewer_than_ten(tmp_path):
    path = write_bytes(tmp_path, b"one caption\ntwo captions\nthree captions\n")

    captions, fixes = read_caption_file(path)

    assert len(captions) == 3
    assert fixes == 0


def test_read_caption_file_missing(tmp_path):
    missing = tmp_path / "image_09999.txt"

    with pytest.raises(DatasetError) as raised:
        read_caption_file(missing)

    assert str(missing) in str(raised.value)


def test_read_caption_file_real_captions():
    if not UNPAIRED_CAPTIONS.is_file():
        pytest.skip(f"real Oxford-102 captions not found at {UNPAIRED_CAPTIONS}")

    captions, fixes = read_caption_file(UNPAIRED_CAPTIONS)

    assert len(captions) == 39_798
    assert fixes == 0
    assert captions[0] == "the purple tint from these petals is extraordinary"


def test_find_caption_file_class_folder(tmp_path):
    expected = tmp_path / "class_00011" / "image_03095.txt"
    expected.parent.mkdir()
    expected.write_text("a snapdragon\n")

    assert find_caption_file(tmp_path, "class_00011", "image_03095") == expected


def test_find_caption_file_other_folder(tmp_path):
    expected = tmp_path / "011.snapdragon" / "image_03095.txt"
    expected.parent.mkdir()
    expected.write_text("a snapdragon\n")

    assert find_caption_file(tmp_path, "class_00011", "image_03095") == expected


def test_find_caption_file_prefers_class_folder(tmp_path):
    for folder in ("class_00001", "class_00011"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "image_03095.txt").write_text("a flower\n")

    found = find_caption_file(tmp_path, "class_00011", "image_03095")

    assert found == tmp_path / "class_00011" / "image_03095.txt"


def test_find_caption_file_no_class_folder(tmp_path):
    expected = tmp_path / "class_00011" / "image_03095.txt"
    expected.parent.mkdir()
    expected.write_text("a snapdragon\n")

    assert find_caption_file(tmp_path, None, "image_03095") == expected


def test_find_caption_file_missing(tmp_path):
    (tmp_path / "class_00011").mkdir()

    assert find_caption_file(tmp_path, "class_00011", "image_03095") is None


def test_class_name_captions_count():
    assert len(class_name_captions("snapdragon")) == 10
    assert len(class_name_captions("snapdragon", count=3)) == 3
    assert class_name_captions("snapdragon", count=0) == []


def test_class_name_captions_name_in_each():
    for caption in class_name_captions("pink primrose", count=25):
        assert "pink primrose" in caption


def test_class_name_captions_distinct():
    captions = class_name_captions("snapdragon", count=10)

    assert len(set(captions)) == 10


def test_class_name_captions_deterministic():
    first = class_name_captions("snapdragon", seed=3095)
    second = class_name_captions("snapdragon", seed=3095)

    assert first == second


def test_class_name_captions_seed_changes_order():
    orders = {tuple(class_name_captions("snapdragon", seed=seed)) for seed in range(5)}

    assert len(orders) > 1


def test_class_name_captions_templates_vary():
    captions = class_name_captions("snapdragon", count=100)

    assert len(set(captions)) >= 8


def test_class_name_captions_article():
    captions = class_name_captions("english marigold", count=10)

    assert "a english marigold" not in " ".join(captions)
    assert "this flower is an english marigold" in captions


def test_class_name_captions_whitespace():
    captions = class_name_captions("  tiger   lily ", count=10)

    assert "a photo of a tiger lily" in captions


def test_class_name_captions_blank_name():
    with pytest.raises(ValueError):
        class_name_captions("  ")


def test_class_name_captions_negative_count():
    with pytest.raises(ValueError):
        class_name_captions("snapdragon", count=-1)


def test_invalid_utf8_file_named(tmp_path, caplog):
    path = tmp_path / "latin.txt"
    path.write_bytes("une fleur rosée\n".encode("latin-1"))
    captions, _ = read_caption_file(path)
    assert captions == ["une fleur rose"]
    assert f"Caption file {path} is not valid UTF-8" in caplog.text
