"""Tests of Text2ImagePipeline on a checkpoint trained in the test session: prompts, embeddings, noise and files."""

import json

import numpy as np
import pytest
import torch

from t2i.errors import ModelNotFoundError
from t2i.pipeline import Text2ImagePipeline

PROMPT = "a flower with pink petals and a yellow center"
PROMPTS = [
    PROMPT,
    "a blue flower with a black center",
    "this flower has six white petals and a green center",
    "a red flower with pointed petals",
    "the petals are purple and the middle is white",
]


@pytest.fixture(scope="module")
def pipe(trained):
    folder, _ = trained
    return Text2ImagePipeline.from_pretrained(folder / "checkpoints" / "last.ckpt")


def pixels(images):
    return np.stack([np.asarray(image) for image in images])


def test_encode_shape(pipe):
    assert pipe.encode(PROMPTS).shape == (5, 384)


def test_embeddings_match_prompts(pipe):
    from_prompt = pipe(PROMPT, seed=3)
    from_embeddings = pipe(embeddings=pipe.encode(PROMPT), seed=3)
    assert np.array_equal(pixels(from_prompt), pixels(from_embeddings))


def test_embedding_arithmetic(pipe):
    red, word_red, word_blue = pipe.encode(["a red flower", "red", "blue"])
    images = pipe(embeddings=red - word_red + word_blue, num_images_per_prompt=2, seed=0)
    assert [image.size for image in images] == [(32, 32)] * 2


def test_prompts_and_embeddings_exclusive(pipe):
    with pytest.raises(ValueError, match="either prompts or embeddings"):
        pipe(PROMPT, embeddings=pipe.encode(PROMPT))
    with pytest.raises(ValueError, match="either prompts or embeddings"):
        pipe()


def test_embeddings_wrong_width(pipe):
    with pytest.raises(ValueError, match=r"shape \[n, 384\] for this model, got \[2, 10\]"):
        pipe(embeddings=torch.zeros(2, 10))


def test_image_alone_equals_image_in_batch(pipe):
    noise = torch.randn(5, 100, generator=torch.Generator().manual_seed(11))
    batch = pixels(pipe(PROMPTS, noise=noise))
    for index, prompt in enumerate(PROMPTS):
        alone = pixels(pipe(prompt, noise=noise[index]))
        assert np.array_equal(alone[0], batch[index]), prompt


def test_batch_size_does_not_change_pixels(pipe):
    whole = pipe(PROMPTS, num_images_per_prompt=3, seed=5, batch_size=64)
    split = pipe(PROMPTS, num_images_per_prompt=3, seed=5, batch_size=4, progress=False)
    assert np.array_equal(pixels(whole), pixels(split))


def test_seed_and_generator_agree(pipe):
    by_seed = pipe(PROMPT, num_images_per_prompt=2, seed=9)
    by_generator = pipe(PROMPT, num_images_per_prompt=2, generator=torch.Generator().manual_seed(9))
    assert np.array_equal(pixels(by_seed), pixels(by_generator))


def test_no_seed_differs(pipe):
    assert not np.array_equal(pixels(pipe(PROMPT)), pixels(pipe(PROMPT)))


def test_noise_wrong_shape(pipe):
    with pytest.raises(ValueError, match=r"noise must have shape \[2, 100\]"):
        pipe(PROMPT, num_images_per_prompt=2, noise=torch.zeros(3, 100))


def test_progress_bar_for_several_batches(pipe, capsys):
    pipe(PROMPT, num_images_per_prompt=5, seed=0, batch_size=2)
    assert "Generating" in capsys.readouterr().err


def test_interpolate_ends_are_the_captions(pipe, tmp_path):
    start, end = "a red flower with a white center", "a blue flower with a yellow center"
    images = pipe.interpolate(start, end, steps=5, seed=4, strip_path=tmp_path / "strip.png")
    noise = torch.randn(1, 100, generator=torch.Generator().manual_seed(4))
    assert len(images) == 5
    assert np.array_equal(np.asarray(images[0]), np.asarray(pipe(start, noise=noise)[0]))
    assert np.array_equal(np.asarray(images[-1]), np.asarray(pipe(end, noise=noise)[0]))


def test_interpolate_saves_strip(pipe, tmp_path):
    from PIL import Image

    pipe.interpolate("a red flower", "a blue flower", steps=4, strip_path=tmp_path / "strip.png")
    assert Image.open(tmp_path / "strip.png").size == (4 * 34 + 2, 36)


def test_interpolate_noise_holds_caption(pipe, tmp_path):
    images = pipe.interpolate_noise(PROMPT, steps=6, seed=2, strip_path=tmp_path / "style.png")
    ends = torch.randn(2, 100, generator=torch.Generator().manual_seed(2))
    assert len(images) == 6
    assert np.array_equal(np.asarray(images[0]), np.asarray(pipe(PROMPT, noise=ends[0])[0]))
    assert np.array_equal(np.asarray(images[-1]), np.asarray(pipe(PROMPT, noise=ends[1])[0]))
    assert (tmp_path / "style.png").is_file()


def test_interpolate_needs_two_steps(pipe):
    with pytest.raises(ValueError, match="steps must be at least 2"):
        pipe.interpolate("a", "b", steps=1)


def test_long_prompt_truncated_once(pipe, caplog):
    long_prompt = " ".join(["a flower with many pink petals"] * 120)
    images = pipe([long_prompt, long_prompt], seed=0)
    assert len(images) == 2
    assert caplog.text.count("Truncated") == 1


def test_unusual_characters_work(pipe):
    prompts = ["une fleur aux pétales roses 🌸", "flower\x07 with \x1b[31mred\x1b[0m\tpetals\n", "花"]
    assert len(pipe(prompts, seed=0)) == 3


def test_whitespace_prompt_rejected(pipe):
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        pipe([PROMPT, " \n\t "])


def test_non_string_prompt_names_type(pipe):
    with pytest.raises(TypeError, match="prompt 0 must be a string, got bytes"):
        pipe([b"a flower"])


def test_save_pretrained_round_trip(pipe, tmp_path):
    folder = pipe.save_pretrained(tmp_path / "model")
    loaded = Text2ImagePipeline.from_pretrained(folder)
    assert sorted(path.name for path in folder.iterdir()) == ["config.json", "generator.safetensors"]
    assert np.array_equal(pixels(loaded(PROMPTS, seed=1)), pixels(pipe(PROMPTS, seed=1)))


def test_missing_weights_named(pipe, tmp_path):
    folder = pipe.save_pretrained(tmp_path / "model")
    (folder / "generator.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match="generator.safetensors not found"):
        Text2ImagePipeline.from_pretrained(folder)


def test_corrupt_weights_named(pipe, tmp_path):
    folder = pipe.save_pretrained(tmp_path / "model")
    (folder / "generator.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(ModelNotFoundError, match="generator.safetensors is not a valid safetensors file"):
        Text2ImagePipeline.from_pretrained(folder)


def test_corrupt_config_named(pipe, tmp_path):
    folder = pipe.save_pretrained(tmp_path / "model")
    (folder / "config.json").write_text("{ not json")
    with pytest.raises(ModelNotFoundError, match="config.json is not valid JSON"):
        Text2ImagePipeline.from_pretrained(folder)


def test_config_weights_mismatch(pipe, tmp_path):
    folder = pipe.save_pretrained(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    config["generator"]["ngf"] = 16
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelNotFoundError, match="do not fit the generator"):
        Text2ImagePipeline.from_pretrained(folder)


def test_missing_model_path(tmp_path):
    with pytest.raises(ModelNotFoundError, match="nowhere not found"):
        Text2ImagePipeline.from_pretrained(tmp_path / "nowhere")
