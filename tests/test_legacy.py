"""Tests of the restricted reader for StackGAN / AttnGAN Python 2 pickles."""

import pickle

import numpy as np
import pytest

from t2i.data.legacy import load_legacy_pickle, read_class_info, read_split_filenames
from t2i.errors import DatasetError
from tests.conftest import REAL_DATA

CUB = REAL_DATA / "cub"


@pytest.fixture(scope="module")
def real_cub():
    if not (CUB / "train" / "filenames.pickle").is_file():
        pytest.skip(f"real CUB split pickles not found at {CUB}")
    return CUB


def test_train_keys_read_without_carriage_returns(real_cub):
    keys = read_split_filenames(real_cub / "train" / "filenames.pickle")
    assert len(keys) == 8855
    assert not any("\r" in key for key in keys)
    assert keys[0] == "002.Laysan_Albatross/Laysan_Albatross_0002_1027"


def test_test_split_has_2933_keys(real_cub):
    assert len(read_split_filenames(real_cub / "test" / "filenames.pickle")) == 2933


def test_class_info_with_numpy_scalars(real_cub):
    class_ids = read_class_info(real_cub / "train" / "class_info.pickle")
    assert len(class_ids) == 8855
    assert len(set(class_ids)) == 150


def test_test_classes_disjoint_from_train(real_cub):
    train = set(read_class_info(real_cub / "train" / "class_info.pickle"))
    test = set(read_class_info(real_cub / "test" / "class_info.pickle"))
    assert len(test) == 50
    assert not train & test


def test_numpy_array_round_trip(tmp_path):
    path = tmp_path / "embeddings.pickle"
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    path.write_bytes(pickle.dumps(array, protocol=2))
    assert np.array_equal(load_legacy_pickle(path), array)


def test_crafted_pickle_rejected_without_running(tmp_path):
    marker = tmp_path / "command-ran"
    path = tmp_path / "evil.pickle"
    path.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(DatasetError, match="os.system is not allowed"):
        load_legacy_pickle(path)
    assert not marker.exists()


def test_truncated_pickle_names_file(tmp_path):
    path = tmp_path / "cut.pickle"
    path.write_bytes(pickle.dumps(["a", "b"], protocol=0)[:-4])
    with pytest.raises(DatasetError, match="cut.pickle"):
        load_legacy_pickle(path)
