"""Tests of the toy-flowers scores: the compositional split, held-out colour pairs and the diversity score."""

import copy
import random

import pytest
import torch

from t2i.data.prepare import DatasetSpec, load_records
from t2i.data.toy_flowers import HELD_OUT_COMBINATIONS, PETAL_COLOURS, ToyFlowers, is_held_out
from t2i.evaluation.toy_accuracy import diversity, sample_flowers
from t2i.pipeline import Text2ImagePipeline


def colour_pair(label, class_names):
    petal, centre = class_names[label].split(", ")[:2]
    return petal.removesuffix(" petals"), centre.removesuffix(" center")


def test_held_out_pairs_cover_each_petal_colour():
    assert sorted(petal for petal, _ in HELD_OUT_COMBINATIONS) == sorted(PETAL_COLOURS)


def test_compositional_training_part_excludes_pairs():
    records, class_names = load_records(DatasetSpec(name="toy-flowers", num_images=300, load_size=32, split="compositional"))
    pairs = {colour_pair(record.label, class_names) for record in records}
    assert pairs
    assert not pairs & HELD_OUT_COMBINATIONS


def test_compositional_test_part_only_pairs():
    spec = DatasetSpec(name="toy-flowers", num_images=300, load_size=32, split="compositional")
    records, class_names = load_records(spec, part="test")
    pairs = {colour_pair(record.label, class_names) for record in records}
    assert pairs == set(HELD_OUT_COMBINATIONS)


def test_sample_flowers_respects_held_out():
    rng = random.Random(0)
    assert all(is_held_out(flower) for flower in sample_flowers(50, rng, held_out=True))
    assert not any(is_held_out(flower) for flower in sample_flowers(50, rng, held_out=False))


@pytest.fixture(scope="module")
def pipe(trained):
    folder, _ = trained
    return Text2ImagePipeline.from_pretrained(folder / "checkpoints" / "last.ckpt")


def test_mode_collapse_flagged(pipe):
    collapsed = copy.deepcopy(pipe)
    # Zeroing the first layer's weights on the noise channels makes every noise vector draw the same image.
    with torch.no_grad():
        collapsed.generator.decoder[0].weight[: collapsed.generator.noise_dim] = 0
    report = diversity(collapsed, seed=0)
    assert report["generated_mean_pairwise_distance"] == 0
    assert report["mode_collapse"]


def test_diversity_reports_real_spread(pipe):
    report = diversity(pipe, seed=0)
    assert report["real_mean_pairwise_distance"] > 0.05
    assert report["ratio"] == pytest.approx(
        report["generated_mean_pairwise_distance"] / report["real_mean_pairwise_distance"]
    )


def test_toy_items_unchanged_by_split():
    # The split only marks records; the drawing of each flower stays the same.
    assert ToyFlowers(num_images=3, size=32).item(2)[2] == ToyFlowers(num_images=5, size=32).item(2)[2]
