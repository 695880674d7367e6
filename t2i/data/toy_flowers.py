"""Toy flowers: a procedural captioned dataset drawn with PIL, the default that needs no download."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

from t2i.data.records import ImageRecord

# Colours are chosen far apart in RGB so that the attribute checker can read them back from
# a 32-pixel image, and the backgrounds are kept away from every petal colour. Orange petals were
# dropped because models trained for minutes drew them half red, half yellow.
PETAL_COLOURS = {
    "red": (215, 35, 45),
    "yellow": (245, 215, 40),
    "pink": (245, 135, 190),
    "purple": (165, 45, 190),
    "blue": (35, 85, 230),
    "white": (245, 245, 240),
}
CENTRE_COLOURS = {
    "yellow": (250, 205, 30),
    "black": (25, 20, 20),
    "white": (250, 250, 250),
    "green": (110, 190, 60),
}
BACKGROUND_COLOURS = {
    "leaf green": (35, 85, 45),
    "sand": (205, 185, 145),
    "slate": (70, 85, 105),
    "soil": (95, 70, 50),
}
PETAL_COUNTS = {4: "four", 5: "five", 6: "six", 8: "eight"}
PETAL_SHAPES = ("rounded", "pointed")

# Geometry as fractions of the image side. The centre disc is large (about a third of the image
# across) because a GAN trained for minutes at 32 pixels does not learn a disc of 4 to 8 pixels.
FLOWER_RADIUS = (0.40, 0.46)
CENTRE_FRACTION = (0.40, 0.46)
POSITION_JITTER = 0.05
COLOUR_JITTER = 12
SUPERSAMPLE = 4
# Bump when draw_flower changes in a way the constants above do not show, so that old caches are not reused.
DRAWING_VERSION = 1

TRAIN_TEMPLATES = (
    "this flower has {n} {p} petals and a {c} center",
    "this flower has {p} petals and a {c} center",
    "the petals of this flower are {p} and the center is {c}",
    "a flower with {n} {s} {p} petals surrounding a {c} center",
    "this flower is {p} in color, with {s} petals and a {c} center",
    "the flower has {s} petals that are {p} with a {c} middle",
    "a {p} flower with a {c} center",
    "this {p} flower has {n} petals around a {c} disc",
    "{n} {p} petals spread out from a {c} center",
    "this flower has {s} {p} petals and a large {c} center",
    "the center of this flower is {c} and its petals are {p}",
    "a {c} center is surrounded by {p} petals",
    "this flower has {p} petals that are {s} and a {c} pistil",
    "the flower shown has {n} {p} petals with a round {c} center",
    "petals are {p} and {s}, and the center is {c}",
    "this is a {p} flower with {n} petals and a {c} center",
    "{p} petals with a {c} centre",
    "the flower is {p} with a {c} middle",
    "a {s} {p} flower whose center is {c}",
    "this plant has a {c} center and {n} {s} petals colored {p}",
    "the bloom has {p} petals and its middle is {c}",
    "a flower with a {c} middle and {p} petals",
    "{p} flower, {c} center, {n} petals",
    "there are {n} {p} petals around the {c} center of this flower",
    "this flower's petals are {p} and its center is {c}",
    "its petals are {p} and the disc in the middle is {c}",
    "a flower that has {s} {p} petals and a {c} stigma",
    "the {p} petals of this flower surround a {c} center",
    "this blossom is {p} with a {c} center",
    "a {c}-centered flower with {p} petals",
    "this flower has {c} in the center and {p} petals",
    "{n} {s} petals, all {p}, around a {c} center",
)

# Held out from training: used to check that a model follows captions it has never seen phrased this way.
EVAL_TEMPLATES = (
    "a picture of a blossom with {p} petals whose middle is {c}",
    "{p} petals on this bloom, and {c} in its middle",
    "i see a {p} flower and the part in the middle is {c}",
    "look at this flower: its petals are colored {p} while the center is colored {c}",
    "a single bloom made of {p} petals arranged around {c}",
    "drawing of a flower, {p} petals, {c} center",
)


@dataclass(frozen=True)
class FlowerAttributes:
    """Attributes of one toy flower: those its captions name, plus the background."""

    petal_colour: str
    centre_colour: str
    petal_count: int
    petal_shape: str
    background: str


ATTRIBUTE_COMBINATIONS = tuple(itertools.product(PETAL_COLOURS, CENTRE_COLOURS, PETAL_COUNTS, PETAL_SHAPES))
# The "compositional" split keeps these (petal colour, centre colour) pairs out of training: 6 of the 24
# pairs, one per petal colour. Every colour is still seen in training with other partners, so the test
# part measures how well a model combines known attributes in a new way.
HELD_OUT_COMBINATIONS = frozenset(
    {("red", "white"), ("yellow", "green"), ("pink", "black"), ("purple", "yellow"), ("blue", "black"), ("white", "green")}
)


def is_held_out(attributes: FlowerAttributes) -> bool:
    return (attributes.petal_colour, attributes.centre_colour) in HELD_OUT_COMBINATIONS


def class_of(attributes: FlowerAttributes) -> int:
    """Return the class id: the index of the flower's attribute combination (background excluded)."""
    combination = (attributes.petal_colour, attributes.centre_colour, attributes.petal_count, attributes.petal_shape)
    return ATTRIBUTE_COMBINATIONS.index(combination)


def sample_attributes(rng: random.Random) -> FlowerAttributes:
    """Draw one flower's attributes uniformly."""
    return FlowerAttributes(
        petal_colour=rng.choice(list(PETAL_COLOURS)),
        centre_colour=rng.choice(list(CENTRE_COLOURS)),
        petal_count=rng.choice(list(PETAL_COUNTS)),
        petal_shape=rng.choice(PETAL_SHAPES),
        background=rng.choice(list(BACKGROUND_COLOURS)),
    )


def caption(attributes: FlowerAttributes, template: str) -> str:
    """Fill one caption template with the flower's attributes."""
    return template.format(
        p=attributes.petal_colour,
        c=attributes.centre_colour,
        n=PETAL_COUNTS[attributes.petal_count],
        s=attributes.petal_shape,
    )


def captions_for(attributes: FlowerAttributes, rng: random.Random, count: int = 10) -> list[str]:
    """Return `count` captions of one flower from distinct training templates."""
    templates = rng.sample(TRAIN_TEMPLATES, k=min(count, len(TRAIN_TEMPLATES)))
    return [caption(attributes, template) for template in templates]


def _jitter(colour: tuple[int, int, int], rng: random.Random) -> tuple[int, int, int]:
    return tuple(min(255, max(0, value + rng.randint(-COLOUR_JITTER, COLOUR_JITTER))) for value in colour)


def _petal_polygon(length: float, width: float, shape: str) -> list[tuple[float, float]]:
    """Outline of one petal pointing along +x from the origin, as (x, y) points."""
    points = []
    steps = 24
    for i in range(steps + 1):
        t = i / steps
        # Rounded petals are widest two thirds out, pointed ones taper to a tip.
        profile = math.sin(math.pi * t) if shape == "pointed" else math.sin(math.pi * t**0.7)
        points.append((length * t, width * profile))
    points += [(x, -y) for x, y in reversed(points)]
    return points


def draw_flower(attributes: FlowerAttributes, size: int, rng: random.Random) -> Image.Image:
    """Draw one flower of `size` x `size` pixels; position, size, rotation and colours jitter with `rng`."""
    canvas = size * SUPERSAMPLE
    background = _jitter(BACKGROUND_COLOURS[attributes.background], rng)
    image = Image.new("RGB", (canvas, canvas), background)
    draw = ImageDraw.Draw(image)

    # Faint blotches give the background some texture without adding a colour the checker could read.
    for _ in range(6):
        x, y = rng.uniform(0, canvas), rng.uniform(0, canvas)
        radius = rng.uniform(0.1, 0.3) * canvas
        shade = rng.randint(-14, 14)
        blotch = tuple(min(255, max(0, value + shade)) for value in background)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=blotch)
    image = image.filter(ImageFilter.GaussianBlur(canvas * 0.04))
    draw = ImageDraw.Draw(image)

    centre_x = canvas * (0.5 + rng.uniform(-POSITION_JITTER, POSITION_JITTER))
    centre_y = canvas * (0.5 + rng.uniform(-POSITION_JITTER, POSITION_JITTER))
    radius = canvas * rng.uniform(*FLOWER_RADIUS)
    rotation = rng.uniform(0, 2 * math.pi)
    count = attributes.petal_count
    petal_width = radius * min(0.42, 0.95 * math.sin(math.pi / count))
    petal_colour = _jitter(PETAL_COLOURS[attributes.petal_colour], rng)
    outline = tuple(int(value * 0.75) for value in petal_colour)

    for k in range(count):
        angle = rotation + 2 * math.pi * k / count
        cos, sin = math.cos(angle), math.sin(angle)
        polygon = [
            (centre_x + x * cos - y * sin, centre_y + x * sin + y * cos)
            for x, y in _petal_polygon(radius, petal_width, attributes.petal_shape)
        ]
        draw.polygon(polygon, fill=petal_colour, outline=outline)

    centre_radius = radius * rng.uniform(*CENTRE_FRACTION)
    centre_colour = _jitter(CENTRE_COLOURS[attributes.centre_colour], rng)
    draw.ellipse(
        (centre_x - centre_radius, centre_y - centre_radius, centre_x + centre_radius, centre_y + centre_radius),
        fill=centre_colour,
    )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def fingerprint() -> str:
    """Return a short hash of everything that shapes the drawn images and captions, for cache keys."""
    import hashlib

    settings = (
        PETAL_COLOURS, CENTRE_COLOURS, BACKGROUND_COLOURS, PETAL_COUNTS, PETAL_SHAPES, FLOWER_RADIUS,
        CENTRE_FRACTION, POSITION_JITTER, COLOUR_JITTER, SUPERSAMPLE, TRAIN_TEMPLATES, DRAWING_VERSION,
    )
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:12]


class ToyFlowers:
    """A deterministic set of `num_images` captioned toy flowers drawn at `size` pixels from `seed`."""

    def __init__(self, num_images: int = 4000, size: int = 64, seed: int = 0, captions_per_image: int = 10):
        if num_images < 1:
            raise ValueError(f"num_images must be at least 1, got {num_images}")
        if size < 16:
            raise ValueError(f"size must be at least 16 pixels for the flowers to be readable, got {size}")
        if not 1 <= captions_per_image <= len(TRAIN_TEMPLATES):
            raise ValueError(
                f"captions_per_image must be between 1 and {len(TRAIN_TEMPLATES)}, got {captions_per_image}"
            )
        self.num_images = num_images
        self.size = size
        self.seed = seed
        self.captions_per_image = captions_per_image

    def __len__(self) -> int:
        return self.num_images

    def item(self, index: int) -> tuple[Image.Image, FlowerAttributes, list[str]]:
        """Return image `index` with its attributes and captions; each index has its own random stream."""
        if not 0 <= index < self.num_images:
            raise IndexError(f"index {index} is out of range for {self.num_images} toy flowers")
        rng = random.Random(f"{self.seed}:{index}")
        attributes = sample_attributes(rng)
        captions = captions_for(attributes, rng, self.captions_per_image)
        return draw_flower(attributes, self.size, rng), attributes, captions

    def records(self) -> list[ImageRecord]:
        """Return every flower as an in-memory record whose label is its attribute combination.

        Each record's part of the "compositional" split is "test" when its colour pair is in HELD_OUT_COMBINATIONS.
        """
        records = []
        for index in range(self.num_images):
            image, attributes, captions = self.item(index)
            subsets = {"compositional": "test" if is_held_out(attributes) else "train"}
            records.append(
                ImageRecord(
                    key=f"flower_{index:06d}", captions=captions, label=class_of(attributes), image=image, subsets=subsets
                )
            )
        return records

    @staticmethod
    def class_names() -> list[str]:
        """Return a readable name for each attribute combination, indexed by class id."""
        return [
            f"{petal} petals, {centre} center, {count} {shape}"
            for petal, centre, count, shape in ATTRIBUTE_COMBINATIONS
        ]


# Fixed captions for the sample grids of toy-flowers runs: one row each, chosen to cover every colour.
SAMPLE_CAPTIONS = (
    "this flower has five pink petals and a yellow center",
    "a flower with pointed blue petals surrounding a black center",
    "this flower has rounded red petals and a white center",
    "the petals of this flower are yellow and the center is green",
    "this flower has eight purple petals and a yellow center",
    "a white flower with a black center",
    "this pink flower has six petals around a green disc",
)
