"""Toy-flowers scores: colour accuracy on new phrasings, on held-out colour pairs, and diversity per caption."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image

from t2i.data.toy_checker import read_colours
from t2i.data.toy_flowers import (
    CENTRE_COLOURS,
    EVAL_TEMPLATES,
    HELD_OUT_COMBINATIONS,
    PETAL_COLOURS,
    FlowerAttributes,
    caption,
    draw_flower,
    is_held_out,
    sample_attributes,
)

# Diversity is measured on this many captions with this many noise vectors each.
DIVERSITY_CAPTIONS = 16
DIVERSITY_SAMPLES = 8
# A model whose images of one caption vary less than half as much as real images of those colours is
# flagged as mode-collapsed.
MODE_COLLAPSE_BELOW = 0.5


def sample_flowers(count: int, rng: random.Random, held_out: bool) -> list[FlowerAttributes]:
    """Draw `count` random attribute sets whose colour pair is held out (or, with held_out False, seen in training)."""
    flowers = []
    while len(flowers) < count:
        flower = sample_attributes(rng)
        if is_held_out(flower) == held_out:
            flowers.append(flower)
    return flowers


def colour_scores(pipe, flowers: list[FlowerAttributes], seed: int) -> dict:
    """Generate one image per flower, captioned with the held-out templates, and score its colours."""
    captions = [caption(flower, EVAL_TEMPLATES[index % len(EVAL_TEMPLATES)]) for index, flower in enumerate(flowers)]
    images = pipe(captions, num_images_per_prompt=1, seed=seed)
    readings = [read_colours(image) for image in images]
    petal_hits = [petal == flower.petal_colour for (petal, _), flower in zip(readings, flowers)]
    centre_hits = [centre == flower.centre_colour for (_, centre), flower in zip(readings, flowers)]
    return {
        "num_samples": len(flowers),
        "petal_colour_accuracy": sum(petal_hits) / len(flowers),
        "centre_colour_accuracy": sum(centre_hits) / len(flowers),
        "both_colours_accuracy": sum(p and c for p, c in zip(petal_hits, centre_hits)) / len(flowers),
    }


def mean_pairwise_distance(images: list[Image.Image]) -> float:
    """Return the mean absolute pixel difference (0 to 1) over all pairs of images."""
    pixels = np.stack([np.asarray(image, dtype=np.float32) / 255.0 for image in images])
    flat = pixels.reshape(len(pixels), -1)
    distances = [np.abs(flat[i] - flat[j]).mean() for i in range(len(flat)) for j in range(i + 1, len(flat))]
    return float(np.mean(distances))


def diversity(pipe, seed: int) -> dict:
    """Compare the spread of images drawn for one caption with the spread of real flowers of those colours.

    The real flowers share the caption's petal and centre colours, and their count, shape and background
    vary, so a ratio near 1 means the model varies as much as the data does.
    """
    rng = random.Random(f"diversity:{seed}")
    size = pipe.generator.image_size
    generated, real = [], []
    for index in range(DIVERSITY_CAPTIONS):
        flower = sample_attributes(rng)
        text = caption(flower, EVAL_TEMPLATES[index % len(EVAL_TEMPLATES)])
        generated.append(mean_pairwise_distance(pipe(text, num_images_per_prompt=DIVERSITY_SAMPLES, seed=seed + index)))
        references = []
        for _ in range(DIVERSITY_SAMPLES):
            other = sample_attributes(rng)
            same_colours = FlowerAttributes(
                flower.petal_colour, flower.centre_colour, other.petal_count, other.petal_shape, other.background
            )
            references.append(draw_flower(same_colours, size, rng))
        real.append(mean_pairwise_distance(references))
    ratio = float(np.mean(generated) / np.mean(real))
    return {
        "captions": DIVERSITY_CAPTIONS,
        "images_per_caption": DIVERSITY_SAMPLES,
        "generated_mean_pairwise_distance": float(np.mean(generated)),
        "real_mean_pairwise_distance": float(np.mean(real)),
        "ratio": ratio,
        "mode_collapse": ratio < MODE_COLLAPSE_BELOW,
    }


def evaluate_toy(pipe, num_samples: int = 200, seed: int = 0) -> dict:
    """Score a toy-flowers model: colours on seen and on held-out colour pairs, and diversity.

    The captions use EVAL_TEMPLATES, which no training caption uses, so the scores also measure how well
    the model follows new phrasings. Petal count and shape are not scored: the checker reads colours only.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    rng = random.Random(seed)
    report = {
        "seen_combinations": colour_scores(pipe, sample_flowers(num_samples, rng, held_out=False), seed),
        "held_out_combinations": colour_scores(pipe, sample_flowers(num_samples, rng, held_out=True), seed),
        "held_out_pairs": sorted(f"{petal} petals, {centre} center" for petal, centre in HELD_OUT_COMBINATIONS),
        "chance": {"petal_colour": 1 / len(PETAL_COLOURS), "centre_colour": 1 / len(CENTRE_COLOURS)},
        "diversity": diversity(pipe, seed),
    }
    return report
