"""Toy-flowers colour accuracy of a model on captions phrased with held-out templates."""

from __future__ import annotations

import random

from t2i.data.toy_checker import colour_accuracy
from t2i.data.toy_flowers import CENTRE_COLOURS, EVAL_TEMPLATES, PETAL_COLOURS, caption, sample_attributes


def evaluate_toy_colours(pipe, num_samples: int = 200, seed: int = 0) -> dict:
    """Generate one image per random caption and return the fraction with the named petal and centre colours.

    The captions use EVAL_TEMPLATES, which no training caption uses, so the score also measures how
    well the model follows new phrasings through the text encoder.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    rng = random.Random(seed)
    attributes = [sample_attributes(rng) for _ in range(num_samples)]
    captions = [caption(flower, EVAL_TEMPLATES[index % len(EVAL_TEMPLATES)]) for index, flower in enumerate(attributes)]
    images = pipe(captions, num_images_per_prompt=1, seed=seed)
    accuracy = colour_accuracy(
        images, [flower.petal_colour for flower in attributes], [flower.centre_colour for flower in attributes]
    )
    return {
        "num_samples": num_samples,
        "seed": seed,
        "captions": "held-out templates (t2i.data.toy_flowers.EVAL_TEMPLATES)",
        "petal_colour_accuracy": accuracy["petal_colour"],
        "centre_colour_accuracy": accuracy["centre_colour"],
        "chance": {"petal_colour": 1 / len(PETAL_COLOURS), "centre_colour": 1 / len(CENTRE_COLOURS)},
    }
