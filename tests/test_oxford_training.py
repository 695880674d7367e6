"""`t2i fit` on the real Oxford-102 images, with captions written from class names."""

import os

import numpy as np
import torch
from PIL import Image

from t2i.cli import main
from tests.conftest import CONFIGS


def test_fit_on_real_oxford_images(tmp_path, cache_dir, real_oxford, caplog):
    """`t2i prepare` first, then `t2i fit` trains on that cache without preparing again."""
    assert main(["prepare", "oxford102", "--root", str(real_oxford), "--out", str(cache_dir)]) == 0
    caplog.clear()
    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(
            ["fit", "--config", str(CONFIGS / "oxford102.yaml"), "--data.root", str(real_oxford),
             "--data.cache_dir", str(cache_dir), "--model.ngf", "8", "--model.ndf", "8",
             "--data.batch_size", "32", "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false"]
        )
    finally:
        os.chdir(previous)
    assert code == 0
    assert "Image cache" in caplog.text
    assert "already prepared; nothing to do" in caplog.text
    folder = tmp_path / "runs" / "oxford102"
    checkpoint = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    # 191 images in batches of 32 with the last partial batch dropped: 5 batches in the epoch.
    assert checkpoint["t2i"]["batches_trained"] == 5
    assert checkpoint["t2i"]["dataset"] == "oxford102"
    grid = np.asarray(Image.open(sorted((folder / "samples").glob("*.png"))[-1]))
    assert grid.shape == (6 * 66 + 2, 8 * 66 + 2, 3)


def test_official_split_keeps_train_and_val(real_oxford):
    from t2i.data.oxford102 import load_oxford102_splits
    from t2i.data.prepare import DatasetSpec, load_records

    records, _ = load_records(DatasetSpec(name="oxford102", root=str(real_oxford), split="official"))
    splits = load_oxford102_splits(real_oxford)
    numbers = {int(record.key.split("_")[-1]) for record in records}
    assert numbers
    assert numbers <= splits["train"] | splits["val"]
    assert not numbers & splits["test"]


def test_prepare_command_real_oxford(tmp_path, real_oxford, capsys, caplog):
    out = tmp_path / "cache"
    assert main(["prepare", "oxford102", "--root", str(real_oxford), "--out", str(out)]) == 0
    assert "oxford102 is ready" in capsys.readouterr().out
    import datasets

    folder = next(out.glob("oxford102-76px-*"))
    assert len(datasets.load_from_disk(str(folder / "images"))) == 191
    caplog.clear()
    assert main(["prepare", "oxford102", "--root", str(real_oxford), "--out", str(out)]) == 0
    assert "already prepared; nothing to do" in caplog.text


def test_zero_shot_split_holds_out_t2i_classes(real_oxford):
    from t2i.data.prepare import OXFORD_ZERO_SHOT_TEST_CLASSES, DatasetSpec, load_records

    records, _ = load_records(DatasetSpec(name="oxford102", root=str(real_oxford), split="zero-shot"))
    all_records, _ = load_records(DatasetSpec(name="oxford102", root=str(real_oxford), split="all"))
    held_out = [record for record in all_records if record.label + 1 in OXFORD_ZERO_SHOT_TEST_CLASSES]
    assert held_out
    assert len(records) == len(all_records) - len(held_out)
    assert len(OXFORD_ZERO_SHOT_TEST_CLASSES) == 20


def test_zero_shot_reads_reed_testclasses(real_oxford, tmp_path):
    from t2i.data.prepare import oxford_zero_shot_test_classes

    (tmp_path / "testclasses.txt").write_text("class_00001\nclass_00017\n")
    assert oxford_zero_shot_test_classes(tmp_path) == {1, 17}


def test_prepare_wrong_root_one_error(tmp_path, capsys, caplog):
    (tmp_path / "photos").mkdir()
    assert main(["prepare", "oxford102", "--root", str(tmp_path)]) == 1
    assert "expected a folder that contains jpg/ and imagelabels.mat" in caplog.text
    assert "photos/" in caplog.text
    assert "Traceback" not in capsys.readouterr().err
