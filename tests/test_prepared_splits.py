"""Tests of split membership in the prepared cache: one cache serves every split and part."""

import datasets
import pytest

from t2i.data.cub import load_cub
from t2i.data.prepare import DatasetSpec, prepare_images
from t2i.data.prepared import load_prepared, prepare_embeddings
from t2i.errors import DatasetError


@pytest.fixture
def prepared_cub(cub_tree, cache_dir):
    root, chosen = cub_tree
    folder = prepare_images(DatasetSpec(name="cub", root=str(root), load_size=20), cache_dir)
    embeddings = prepare_embeddings(folder, cache_dir, "all-MiniLM-L6-v2", None, "auto")
    return root, folder, embeddings


def test_cache_key_ignores_split(tmp_path):
    keys = {DatasetSpec(name="cub", root=str(tmp_path), split=split).key() for split in ("all", "official", "zero-shot")}
    assert len(keys) == 1


def test_cache_stores_every_split(prepared_cub):
    _, folder, _ = prepared_cub
    table = datasets.load_from_disk(str(folder / "images"))
    assert set(table["split_zero_shot"]) == {"train", "test"}
    assert set(table["split_official"]) <= {"train", "test"}


def test_zero_shot_parts_are_class_disjoint(prepared_cub):
    _, folder, embeddings = prepared_cub
    train = load_prepared(folder, embeddings, split="zero-shot", part="train")
    test = load_prepared(folder, embeddings, split="zero-shot", part="test")
    # Class 1 (Black-footed Albatross) is a test class of the 150 / 50 split; class 2 is a training class.
    assert set(train.labels.tolist()) == {1}
    assert set(test.labels.tolist()) == {0}


@pytest.mark.parametrize("part", ["train", "test"])
def test_official_parts_match_reader(prepared_cub, part):
    root, folder, embeddings = prepared_cub
    expected, _ = load_cub(root, split="official", part=part)
    loaded = load_prepared(folder, embeddings, split="official", part=part)
    assert loaded.keys == [record.key for record in expected]


def test_selected_rows_keep_their_embeddings(prepared_cub):
    _, folder, embeddings = prepared_cub
    everything = load_prepared(folder, embeddings)
    test = load_prepared(folder, embeddings, split="zero-shot", part="test")
    first = everything.keys.index(test.keys[0])
    assert test.embeddings[0].equal(everything.embeddings[first])


def test_all_split_has_no_test_part(prepared_cub):
    _, folder, embeddings = prepared_cub
    with pytest.raises(DatasetError, match="no image of the test part"):
        load_prepared(folder, embeddings, split="all", part="test")


def test_unknown_part_rejected(prepared_cub):
    _, folder, embeddings = prepared_cub
    with pytest.raises(DatasetError, match="unknown split part 'validation'"):
        load_prepared(folder, embeddings, split="official", part="validation")


def test_split_missing_from_cache(tmp_path, cache_dir):
    from PIL import Image

    root = tmp_path / "mine"
    root.mkdir()
    for index in range(2):
        Image.new("RGB", (24, 24), (40 * index, 90, 200)).save(root / f"photo{index}.jpg")
        (root / f"photo{index}.txt").write_text("a blue square\n")
    folder = prepare_images(DatasetSpec(name="folder", root=str(root), load_size=20), tmp_path / "cache")
    embeddings = prepare_embeddings(folder, cache_dir, "all-MiniLM-L6-v2", None, "auto")
    with pytest.raises(DatasetError, match="has no 'official' split"):
        load_prepared(folder, embeddings, split="official")


def test_real_oxford_official_test_part(real_oxford, tmp_path):
    from t2i.data.oxford102 import load_oxford102_splits

    folder = prepare_images(DatasetSpec(name="oxford102", root=str(real_oxford), load_size=16), tmp_path)
    table = datasets.load_from_disk(str(folder / "images"))
    test_numbers = load_oxford102_splits(real_oxford)["test"]
    for key, part in zip(table["key"], table["split_official"]):
        assert (part == "test") == (int(key.split("_")[-1]) in test_numbers), key


def test_images_match_datasets_decoding(prepared_cub):
    import numpy as np

    _, folder, embeddings = prepared_cub
    table = datasets.load_from_disk(str(folder / "images"))
    test = load_prepared(folder, embeddings, split="zero-shot", part="test")
    rows = [table["key"][:].index(key) for key in test.keys]
    expected = np.stack([np.asarray(table[row]["image"], dtype=np.uint8) for row in rows])
    assert np.array_equal(test.images.permute(0, 2, 3, 1).numpy(), expected)
