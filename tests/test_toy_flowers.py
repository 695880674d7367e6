"""Tests of the procedural toy-flowers dataset and its attribute checker."""

import numpy as np
import pytest

from t2i.data.toy_checker import colour_accuracy, read_colours
from t2i.data.toy_flowers import (
    CENTRE_COLOURS,
    EVAL_TEMPLATES,
    PETAL_COLOURS,
    TRAIN_TEMPLATES,
    ToyFlowers,
    class_of,
)


def _accuracy(size: int, count: int = 400, seed: int = 11) -> dict[str, float]:
    flowers = ToyFlowers(num_images=count, size=size, seed=seed)
    items = [flowers.item(index) for index in range(count)]
    return colour_accuracy(
        [image for image, _, _ in items],
        [attributes.petal_colour for _, attributes, _ in items],
        [attributes.centre_colour for _, attributes, _ in items],
    )


@pytest.mark.parametrize("size", [32, 38, 64])
def test_checker_reads_petal_colour(size):
    assert _accuracy(size)["petal_colour"] >= 0.98


@pytest.mark.parametrize("size", [32, 38, 64])
def test_checker_reads_centre_colour(size):
    assert _accuracy(size)["centre_colour"] >= 0.98


def test_checker_near_chance_on_noise():
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(300)]
    petals = [list(PETAL_COLOURS)[i % len(PETAL_COLOURS)] for i in range(300)]
    centres = [list(CENTRE_COLOURS)[i % len(CENTRE_COLOURS)] for i in range(300)]
    accuracy = colour_accuracy(noise, petals, centres)
    assert accuracy["petal_colour"] < 0.35
    assert accuracy["centre_colour"] < 0.45


def test_same_seed_same_pixels():
    first = np.asarray(ToyFlowers(5, 32, seed=3).item(4)[0])
    second = np.asarray(ToyFlowers(5, 32, seed=3).item(4)[0])
    assert np.array_equal(first, second)


def test_other_seed_other_pixels():
    first = np.asarray(ToyFlowers(5, 32, seed=3).item(4)[0])
    second = np.asarray(ToyFlowers(5, 32, seed=4).item(4)[0])
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("size", [16, 33, 128])
def test_any_size(size):
    assert ToyFlowers(1, size).item(0)[0].size == (size, size)


def test_ten_distinct_captions():
    _, _, captions = ToyFlowers(1, 32, seed=5).item(0)
    assert len(set(captions)) == 10


def test_captions_name_both_colours():
    flowers = ToyFlowers(50, 32, seed=6)
    for index in range(50):
        _, attributes, captions = flowers.item(index)
        for text in captions:
            assert attributes.petal_colour in text
            assert attributes.centre_colour in text


def test_eval_templates_unlike_training():
    assert not set(EVAL_TEMPLATES) & set(TRAIN_TEMPLATES)


def test_labels_follow_attribute_combination():
    flowers = ToyFlowers(200, 32, seed=7)
    records = flowers.records()
    by_label = {}
    for index, record in enumerate(records):
        attributes = flowers.item(index)[1]
        assert record.label == class_of(attributes)
        by_label.setdefault(record.label, set()).add((attributes.petal_colour, attributes.centre_colour))
    assert all(len(pairs) == 1 for pairs in by_label.values())


def test_rejects_tiny_size():
    with pytest.raises(ValueError, match="size must be at least 16"):
        ToyFlowers(10, size=8)


def test_read_colours_rejects_grayscale_array():
    with pytest.raises(ValueError, match="shape"):
        read_colours(np.zeros((32, 32), dtype=np.uint8))
