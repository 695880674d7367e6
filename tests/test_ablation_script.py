"""scripts/ablation.py: the fit configs it writes and the runs it plans, without training."""

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ablation.py"


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plan_args(**overrides) -> argparse.Namespace:
    settings = dict(repeat=None, seeds=[0, 1], variants=["ema", "faithful", "improved"])
    settings.update(overrides)
    return argparse.Namespace(**settings)


def test_timed_run_has_time_limit(ablation, tmp_path):
    config = ablation.run_config(tmp_path / "run", {"minibatch": "stddev"}, seed=3, seconds=300)
    assert config["trainer"]["max_time"] == {"seconds": 300}
    assert config["trainer"]["max_steps"] == -1
    assert config["model"]["minibatch"] == "stddev"
    assert config["seed_everything"] == 3
    assert config["model"]["noise_seed"] == 3
    assert config["data"]["seed"] == 3
    checkpoint = next(c for c in config["trainer"]["callbacks"] if c["class_path"].endswith("ModelCheckpoint"))
    assert checkpoint["init_args"]["dirpath"] == str(tmp_path / "run" / "checkpoints")


def test_repeated_run_has_batch_limit(ablation, tmp_path):
    config = ablation.run_config(tmp_path / "run", {}, seed=0, batches=1234)
    assert config["trainer"]["max_time"] is None
    assert config["trainer"]["max_steps"] == 2 * 1234


@pytest.mark.parametrize("limits", [{}, {"seconds": 300, "batches": 10}])
def test_run_config_needs_exactly_one_limit(ablation, tmp_path, limits):
    with pytest.raises(ValueError, match="pass exactly one of seconds and batches"):
        ablation.run_config(tmp_path / "run", {}, seed=0, **limits)


def test_finished_run_with_same_settings_reused(ablation, tmp_path):
    config = ablation.run_config(tmp_path / "run", {"spectral_norm": True}, seed=1, seconds=300)
    ablation.write_config(tmp_path / "run", config)
    ablation.check_finished_run(tmp_path / "run", config)


def test_finished_run_with_other_budget_rejected(ablation, tmp_path):
    ablation.write_config(tmp_path / "run", ablation.run_config(tmp_path / "run", {}, seed=0, seconds=20))
    with pytest.raises(SystemExit, match=r"other settings \(its limits: \{'max_time': \{'seconds': 20\}"):
        ablation.check_finished_run(tmp_path / "run", ablation.run_config(tmp_path / "run", {}, seed=0, seconds=300))


def test_faithful_and_improved_pairs_train_first(ablation):
    runs = ablation.planned_runs(plan_args())
    assert runs[:4] == [("faithful", 0, None), ("improved", 0, None), ("faithful", 1, None), ("improved", 1, None)]
    assert runs[4:] == [("ema", 0, None), ("ema", 1, None)]


def test_repeat_reads_batch_counts(ablation, tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"variant": "faithful", "seed": 1, "batches": 1400}, {"variant": "ema", "seed": 0, "batches": 1300}]))
    assert ablation.planned_runs(plan_args(repeat=results)) == [("faithful", 1, 1400), ("ema", 0, 1300)]


def test_repeat_missing_file_rejected(ablation, tmp_path):
    with pytest.raises(SystemExit, match="missing.json: file not found"):
        ablation.planned_runs(plan_args(repeat=tmp_path / "missing.json"))


def test_repeat_unknown_variant_rejected(ablation, tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"variant": "dropout", "seed": 0, "batches": 10}]))
    with pytest.raises(SystemExit, match=r"unknown variants \['dropout'\]"):
        ablation.planned_runs(plan_args(repeat=results))
