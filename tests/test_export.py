"""Tests of `t2i export`, the model card, and `t2i generate` on exported folders."""

import json

import numpy as np
import pytest
from PIL import Image

from t2i.cli import main
from t2i.pipeline import Text2ImagePipeline

PROMPT = "a flower with pink petals and a yellow center"


@pytest.fixture(scope="module")
def checkpoint(trained):
    folder, _ = trained
    return folder / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / "toy-model"
    metrics = folder.parent / "evaluation.json"
    metrics.write_text(json.dumps({"petal_colour_accuracy": 0.5, "centre_colour_accuracy": 0.25}))
    assert main(["export", "--ckpt", str(checkpoint), "--out", str(folder), "--metrics", str(metrics)]) == 0
    return folder


def test_export_writes_files_without_pickles(exported):
    names = sorted(path.name for path in exported.iterdir())
    assert names == ["README.md", "config.json", "generator.safetensors", "samples.png"]


def test_export_config_describes_model(exported):
    import t2i

    config = json.loads((exported / "config.json").read_text())
    assert config["generator"]["image_size"] == 32
    assert config["text_encoder"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert config["training"]["dataset"] == "toy-flowers"
    assert config["training"]["batches_trained"] == 4
    assert config["t2i_version"] == t2i.__version__


def test_export_round_trip_same_pixels(exported, checkpoint):
    from_checkpoint = Text2ImagePipeline.from_pretrained(checkpoint)(PROMPT, num_images_per_prompt=4, seed=0)
    from_folder = Text2ImagePipeline.from_pretrained(exported)(PROMPT, num_images_per_prompt=4, seed=0)
    assert np.array_equal(np.stack([np.asarray(i) for i in from_checkpoint]), np.stack([np.asarray(i) for i in from_folder]))


def test_model_card_contents(exported):
    card = (exported / "README.md").read_text()
    assert "GAN-INT-CLS on toy-flowers" in card
    assert "| batches trained | 4 |" in card
    assert "![Sample grid](samples.png)" in card
    assert "| petal_colour_accuracy | 0.5 |" in card
    assert 'Text2ImagePipeline.from_pretrained("toy-model")' in card


def test_sample_grid_rows_are_card_captions(exported):
    card = (exported / "README.md").read_text()
    rows = [line for line in card.splitlines() if line[:2] in {f"{n}." for n in range(1, 10)}]
    # Each row is 32 pixels plus 2 of padding, and the grid has 8 noise columns.
    assert Image.open(exported / "samples.png").size == (8 * 34 + 2, len(rows) * 34 + 2)


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_export_keeps_user_files(checkpoint, tmp_path, caplog, overwrite):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    assert main(["export", "--ckpt", str(checkpoint), "--out", str(out), *overwrite]) == 1
    assert "not part of a t2i export (notes.txt)" in caplog.text
    assert (out / "notes.txt").read_text() == "my notes"
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt"]


def test_export_existing_needs_overwrite(checkpoint, exported, tmp_path, caplog):
    import shutil

    out = shutil.copytree(exported, tmp_path / "copy")
    assert main(["export", "--ckpt", str(checkpoint), "--out", str(out)]) == 1
    assert "pass --overwrite" in caplog.text


def test_export_overwrite_replaces_export(checkpoint, exported, tmp_path):
    import shutil

    out = shutil.copytree(exported, tmp_path / "copy")
    (out / "README.md").write_text("old card")
    assert main(["export", "--ckpt", str(checkpoint), "--out", str(out), "--overwrite"]) == 0
    assert (out / "README.md").read_text() != "old card"


def test_export_missing_checkpoint(tmp_path, caplog):
    assert main(["export", "--ckpt", str(tmp_path / "none.ckpt"), "--out", str(tmp_path / "out")]) == 1
    assert "none.ckpt not found" in caplog.text


def test_export_invalid_metrics(checkpoint, tmp_path, caplog):
    metrics = tmp_path / "scores.json"
    metrics.write_text("[1, 2]")
    assert main(["export", "--ckpt", str(checkpoint), "--out", str(tmp_path / "out"), "--metrics", str(metrics)]) == 1
    assert "must contain a JSON object" in caplog.text


def test_cli_generate_from_export(exported, tmp_path):
    out = tmp_path / "images"
    assert main(["generate", PROMPT, "--model", str(exported), "--num-images", "2", "--out", str(out)]) == 0
    assert Image.open(out / "grid.png").size == (2 * 34 + 2, 36)


def test_cli_generate_interpolate(exported, tmp_path):
    out = tmp_path / "strip"
    code = main(["generate", "a red flower", "a blue flower", "--interpolate", "--steps", "5", "--model", str(exported),
                 "--out", str(out)])
    assert code == 0
    assert Image.open(out / "interpolation.png").size == (5 * 34 + 2, 36)
    assert len(list(out.glob("interpolation_step*.png"))) == 5


def test_cli_interpolate_needs_two_captions(exported, tmp_path, caplog):
    code = main(["generate", "a", "b", "c", "--interpolate", "--model", str(exported), "--out", str(tmp_path)])
    assert code == 1
    assert "exactly two captions" in caplog.text


def test_generate_function_with_export(exported):
    import t2i

    assert len(t2i.generate(PROMPT, model=exported, num_images=3)) == 3


def test_cli_generate_refuses_earlier_output(exported, tmp_path, caplog):
    out = tmp_path / "images"
    assert main(["generate", PROMPT, "--model", str(exported), "--num-images", "3", "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    assert main(["generate", "a blue flower", "--model", str(exported), "--num-images", "1", "--out", str(out)]) == 1
    assert "already contains generated images" in caplog.text
    assert main(["generate", "a blue flower", "--model", str(exported), "--num-images", "1", "--out", str(out),
                 "--overwrite"]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["caption000_sample00.png", "captions.txt", "grid.png", "notes.txt"]


def test_cli_empty_prompt_one_line(exported, tmp_path, caplog, capsys):
    out = tmp_path / "never"
    assert main(["generate", "  ", "--model", str(exported), "--out", str(out)]) == 1
    assert "prompt 0 is empty" in caplog.text
    assert "Traceback" not in capsys.readouterr().err
    assert not out.exists()


def test_cli_interpolate_one_step(exported, tmp_path, caplog):
    code = main(["generate", "a", "b", "--interpolate", "--steps", "1", "--model", str(exported), "--out", str(tmp_path)])
    assert code == 1
    assert "steps must be at least 2" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "is a folder"), (b"", "has no caption"), (b" \n\n", "has no caption"), (b"\xa2\xff\x00", "is not UTF-8 text")],
)
def test_cli_prompts_file_errors(exported, tmp_path, caplog, content, message):
    path = tmp_path / "prompts"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    code = main(["generate", "--prompts-file", str(path), "--model", str(exported), "--out", str(tmp_path / "out")])
    assert code == 1
    assert message in caplog.text


def test_bytes_prompt_rejected(exported):
    import t2i

    with pytest.raises(TypeError, match="got bytes"):
        t2i.generate(b"a red flower", model=exported)
