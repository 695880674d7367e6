"""Bad settings fail before training with one message, and non-finite losses are skipped or stop the run."""

import pytest
import torch

from tests.conftest import fit


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--data.batch_size", "0"], "batch_size must be at least 2"),
        (["--data.batch_size", "-4"], "got -4"),
        (["--data.image_size", "48"], "image_size must be one of (32, 64, 128, 256), got 48"),
        (["--data.dataset", "nope"], "unknown dataset 'nope'"),
        (["--data.dataset", "cub", "--data.split", "all"], "needs a root"),
        (["--data.encoder", "no-such-org/no-such-encoder"], "could not be found offline"),
        (["--model.lr", "0"], "lr must be positive"),
    ],
)
def test_bad_setting_one_message(tmp_path, cache_dir, caplog, overrides, message):
    assert fit(tmp_path, cache_dir, "--trainer.max_steps", "2", *overrides) == 1
    assert message in caplog.text
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.ckpt"))


def test_unwritable_output_folder(tmp_path, cache_dir, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = fit(tmp_path, cache_dir, "--trainer.max_steps", "2", "--trainer.default_root_dir", str(blocker / "run"))
    assert code == 1
    assert f"cannot write to the output folder {blocker / 'run'}" in caplog.text


def test_checkpoint_of_other_architecture(trained):
    from t2i.errors import ConfigError
    from t2i.training.module import TextToImageGAN

    folder, _ = trained
    checkpoint = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    # LightningCLI rebuilds the model from a checkpoint's own settings; Trainer.fit(model, ckpt_path=...) does not.
    module = TextToImageGAN(ngf=16, ndf=8, image_size=32)
    with pytest.raises(ConfigError, match=r"ngf=8 \(this run: 16\)"):
        module.on_load_checkpoint(checkpoint)


def test_nan_batch_skipped(tmp_path, cache_dir, caplog):
    code = fit(tmp_path, cache_dir, "--trainer.max_steps", "8", "--trainer.callbacks+=tests.helpers.NanBatches",
               "--trainer.callbacks.batches=[1]")
    assert code == 0
    assert "Skipped the discriminator update of batch 1" in caplog.text
    checkpoint = torch.load(tmp_path / "runs/toy-flowers/checkpoints/last.ckpt", weights_only=True)
    assert all(torch.isfinite(value).all() for value in checkpoint["state_dict"].values() if value.is_floating_point())


def test_nan_run_stops_naming_checkpoint(tmp_path, cache_dir, caplog):
    code = fit(tmp_path, cache_dir, "--trainer.max_steps", "40", "--model.max_nonfinite_batches", "3",
               "--trainer.callbacks+=tests.helpers.NanBatches", "--trainer.callbacks.from_batch=4")
    assert code == 1
    assert "3 batches in a row had a non-finite loss" in caplog.text
    assert "no checkpoint was saved before" in caplog.text


def test_zero_toy_images_one_message(tmp_path, cache_dir, caplog):
    assert fit(tmp_path, cache_dir, "--trainer.max_steps", "2", "--data.num_images", "0") == 1
    assert "num_images must be at least 1, got 0" in caplog.text
