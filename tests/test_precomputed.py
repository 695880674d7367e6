"""Tests of training on StackGAN's precomputed char-CNN-RNN embeddings, in a CUB tree with StackGAN's pickles."""

import os
import pickle

import numpy as np
import pytest
import torch

from t2i.data.prepare import DatasetSpec, prepare_images
from t2i.data.prepared import load_prepared, prepare_embeddings
from t2i.errors import DatasetError, ModelNotFoundError
from t2i.text.precomputed import find_embedding_files, precomputed_embeddings
from tests.conftest import CONFIGS


def _write_part(folder, keys, arrays):
    """Write a StackGAN part folder: a protocol-0 filenames.pickle with CRLF endings and a protocol-2 embeddings pickle."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "filenames.pickle").write_bytes(pickle.dumps(keys, protocol=0).replace(b"\n", b"\r\n"))
    (folder / "char-CNN-RNN-embeddings.pickle").write_bytes(pickle.dumps(arrays, protocol=2))


def _embedding(seed):
    return np.random.default_rng(seed).standard_normal((10, 1024)).astype(np.float32)


@pytest.fixture
def stackgan_tree(cub_tree):
    """The CUB tree with StackGAN's train/ and test/ folders; the last test image has no embedding."""
    root, chosen = cub_tree
    keys = [relative[: -len(".jpg")] for relative in chosen]
    _write_part(root / "train", keys[3:], [_embedding(index) for index in range(3, 6)])
    _write_part(root / "test", keys[:2], [_embedding(index) for index in range(2)])
    return root, keys


def test_embeddings_follow_filenames(stackgan_tree):
    root, keys = stackgan_tree
    stems = [key.split("/")[1] for key in keys]
    embeddings, counts = precomputed_embeddings(root, stems)
    assert counts.tolist() == [10, 10, 0, 10, 10, 10]
    assert torch.equal(embeddings[4].float(), torch.from_numpy(_embedding(4)).half().float())


def test_image_without_embedding_left_out(stackgan_tree, tmp_path, caplog):
    root, keys = stackgan_tree
    folder = prepare_images(DatasetSpec(name="cub", root=str(root), load_size=20), tmp_path / "cache")
    path = prepare_embeddings(folder, tmp_path / "cache", "precomputed", None, "auto", root=str(root))
    data = load_prepared(folder, path)
    assert keys[2].split("/")[1] not in data.keys
    assert len(data.keys) == 5
    assert "Left out 1 images that have no caption embedding" in caplog.text


def test_found_in_birds_folder(cub_tree, tmp_path):
    root, chosen = cub_tree
    _write_part(root / "birds" / "train", [chosen[0][:-4]], [_embedding(0)])
    assert find_embedding_files(root) == [
        (root / "birds" / "train" / "filenames.pickle", root / "birds" / "train" / "char-CNN-RNN-embeddings.pickle")
    ]


def test_missing_pickles_named(tmp_path):
    with pytest.raises(DatasetError, match="char-CNN-RNN-embeddings.pickle"):
        find_embedding_files(tmp_path)


def test_count_mismatch_rejected(tmp_path):
    _write_part(tmp_path / "train", ["001.A/a_1", "001.A/a_2"], [_embedding(0)])
    with pytest.raises(DatasetError, match="contains 1 images but .* lists 2"):
        precomputed_embeddings(tmp_path, ["a_1"])


def test_wrong_width_rejected(tmp_path):
    _write_part(tmp_path / "train", ["001.A/a_1"], [np.zeros((10, 300), dtype=np.float32)])
    with pytest.raises(DatasetError, match=r"shape \(10, 300\), expected \[captions, 1024\]"):
        precomputed_embeddings(tmp_path, ["a_1"])


def test_foreign_pickles_rejected(tmp_path):
    _write_part(tmp_path / "train", ["001.A/a_1"], [_embedding(0)])
    with pytest.raises(DatasetError, match="none of the 1 prepared images"):
        precomputed_embeddings(tmp_path, ["image_00001"])


def test_text_encoder_has_no_model():
    from t2i.text.encoder import TextEncoder

    with pytest.raises(ModelNotFoundError, match="new text cannot be encoded"):
        TextEncoder("precomputed")


def test_fit_on_precomputed(stackgan_tree, tmp_path):
    from t2i.cli import main

    root, _ = stackgan_tree
    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(
            ["fit", "--config", str(CONFIGS / "cub.yaml"), "--data.root", str(root), "--data.cache_dir", "cache",
             "--data.encoder", "precomputed", "--data.split", "all", "--model.ngf", "4", "--model.ndf", "4",
             "--data.batch_size", "2", "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false"]
        )
    finally:
        os.chdir(previous)
    assert code == 0
    checkpoint = torch.load(tmp_path / "runs/cub/checkpoints/last.ckpt", weights_only=True)
    assert checkpoint["t2i"]["text_encoder"]["name"] == "precomputed"
    assert checkpoint["t2i"]["generator"]["embedding_dim"] == 1024
    # Five of the six images have embeddings: two batches of two.
    assert checkpoint["t2i"]["batches_trained"] == 2
