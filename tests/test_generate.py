"""Tests of generate(), `t2i generate` and `t2i evaluate` on a checkpoint trained in the test session."""

import json
import subprocess
import sys

import numpy as np
import pytest

import t2i
from t2i.cli import main
from t2i.errors import ModelNotFoundError
from t2i.pipeline import Text2ImagePipeline

PROMPT = "a flower with pink petals and a yellow center"


@pytest.fixture(scope="module")
def checkpoint(trained):
    folder, _ = trained
    return folder / "checkpoints" / "last.ckpt"


def test_generate_returns_pil_images(checkpoint):
    images = t2i.generate(PROMPT, model=checkpoint, num_images=4, seed=0)
    assert [image.size for image in images] == [(32, 32)] * 4


def test_generate_same_seed_same_pixels(checkpoint):
    first = t2i.generate(PROMPT, model=checkpoint, num_images=2, seed=7)
    second = t2i.generate(PROMPT, model=checkpoint, num_images=2, seed=7)
    assert np.array_equal(np.asarray(first[1]), np.asarray(second[1]))


def test_generate_other_seed_other_pixels(checkpoint):
    first = t2i.generate(PROMPT, model=checkpoint, num_images=1, seed=1)
    second = t2i.generate(PROMPT, model=checkpoint, num_images=1, seed=2)
    assert not np.array_equal(np.asarray(first[0]), np.asarray(second[0]))


def test_pipeline_generator_in_eval_mode(checkpoint):
    assert not Text2ImagePipeline.from_pretrained(checkpoint).generator.training


def test_generate_without_model_says_how_to_train():
    with pytest.raises(ModelNotFoundError, match="scripts/demo.sh"):
        t2i.generate(PROMPT)


def test_generate_missing_checkpoint_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="missing.ckpt"):
        t2i.generate(PROMPT, model=tmp_path / "missing.ckpt")


def test_generate_rejects_foreign_checkpoint(tmp_path):
    import torch

    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ModelNotFoundError, match="not a t2i training checkpoint"):
        t2i.generate(PROMPT, model=path)


def test_generate_rejects_empty_prompt(checkpoint):
    with pytest.raises(ValueError, match="empty"):
        t2i.generate("   ", model=checkpoint)


def test_generate_rejects_non_string(checkpoint):
    with pytest.raises(TypeError, match="int"):
        t2i.generate([PROMPT, 3], model=checkpoint)


def test_generate_does_not_import_lightning(checkpoint):
    code = (
        "import sys, t2i; "
        f"images = t2i.generate({PROMPT!r}, model={str(checkpoint)!r}, num_images=1, seed=0); "
        "print(len(images), any(name.split('.')[0] in ('lightning', 'pytorch_lightning') for name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["1", "False"]


def test_cli_generate_writes_images_and_grid(checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", PROMPT, "a blue flower with a black center", "--model", str(checkpoint),
                 "--num-images", "3", "--out", str(out)]) == 0
    assert len(list(out.glob("caption*_sample*.png"))) == 6
    assert (out / "grid.png").is_file()


def test_cli_evaluate_reports_accuracy(checkpoint, tmp_path, cache_dir):
    report_path = tmp_path / "report.json"
    code = main(["evaluate", "--model", str(checkpoint), "--num-samples", "20", "--toy-samples", "20", "--fidelity", "off",
                 "--cache-dir", str(cache_dir), "--out", str(report_path)])
    assert code == 0
    report = json.loads(report_path.read_text())
    assert 0.0 <= report["toy_flowers"]["seen_combinations"]["petal_colour_accuracy"] <= 1.0
    assert report["toy_flowers"]["held_out_combinations"]["num_samples"] == 20
    assert report["protocol"]["num_samples"] == 20
    assert len((tmp_path / "report.captions.txt").read_text().splitlines()) == 20
