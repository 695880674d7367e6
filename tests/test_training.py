"""End-to-end tests: `t2i fit` on toy flowers with tiny widths, checkpoints, resume, sample grids, W&B offline."""

import numpy as np
import pytest
import torch
from PIL import Image

from t2i.cli import main
from tests.conftest import CONFIGS, fit


def test_fit_writes_last_checkpoint(trained):
    folder, _ = trained
    assert (folder / "checkpoints" / "last.ckpt").is_file()


def test_checkpoint_counts_batches(trained):
    folder, _ = trained
    checkpoint = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["t2i"]["batches_trained"] == 4


def test_checkpoint_loads_weights_only(trained):
    folder, _ = trained
    checkpoint = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["t2i"]["text_encoder"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_sample_grid_png_shows_samples(trained):
    folder, _ = trained
    grids = sorted((folder / "samples").glob("batch_*.png"))
    pixels = np.asarray(Image.open(grids[-1]))
    assert pixels.shape == (7 * 34 + 2, 8 * 34 + 2, 3)
    assert pixels.std() > 10


def test_sample_captions_listed_beside_grids(trained):
    folder, _ = trained
    captions = (folder / "samples" / "captions.txt").read_text().splitlines()
    assert captions[0] == "this flower has five pink petals and a yellow center"
    assert len(captions) == 7


def test_wandb_offline_run_in_run_folder(trained):
    folder, _ = trained
    assert list((folder / "wandb").glob("offline-run-*"))


def test_wandb_grid_is_not_black(trained):
    folder, _ = trained
    media = list((folder / "wandb").glob("offline-run-*/files/media/images/samples/grid_*.png"))
    pixels = np.asarray(Image.open(media[-1]).convert("RGB"))
    assert pixels.mean() > 30


def test_wandb_table_of_captions_logged(trained):
    folder, _ = trained
    tables = list((folder / "wandb").glob("offline-run-*/files/media/table/**/*.table.json"))
    assert tables
    assert "this flower has five pink petals and a yellow center" in tables[-1].read_text()


def test_wandb_sync_hint_logged_once(trained):
    _, messages = trained
    assert sum("wandb sync" in message for message in messages) == 1


def test_resume_from_last(tmp_path, cache_dir):
    assert fit(tmp_path, cache_dir, "--trainer.max_steps", "4") == 0
    assert fit(tmp_path, cache_dir, "--trainer.max_steps", "8", "--ckpt_path", "last") == 0
    checkpoint = torch.load(tmp_path / "runs/toy-flowers/checkpoints/last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 8
    assert checkpoint["t2i"]["batches_trained"] == 4


def test_print_config_lists_options(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(CONFIGS / "toy-flowers.yaml"), "--print_config"])
    printed = capsys.readouterr().out
    assert "mismatch_weight: 0.5" in printed
    assert "dataset: toy-flowers" in printed


def test_fit_help_explains_options(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    printed = " ".join(capsys.readouterr().out.split())
    assert "Weight of the (real image, mismatched text) term" in printed
    assert "Caption embeddings averaged per image" in printed


def test_unknown_dataset_fails_before_training(tmp_path, cache_dir, caplog):
    assert fit(tmp_path, cache_dir, "--data.dataset", "imagenet") == 1
    assert "unknown dataset 'imagenet'" in caplog.text
    assert not (tmp_path / "runs").exists()


def test_training_never_runs_encoder(trained, tmp_path, cache_dir, monkeypatch):
    from t2i.text.encoder import TextEncoder

    calls = []
    original = TextEncoder.encode

    def counting_encode(self, texts, *args, **kwargs):
        calls.append(len(texts))
        return original(self, texts, *args, **kwargs)

    monkeypatch.setattr(TextEncoder, "encode", counting_encode)
    # The session's first run already cached every caption of this dataset and the grid captions.
    assert fit(tmp_path, cache_dir, "--trainer.max_steps", "4") == 0
    assert calls == []
