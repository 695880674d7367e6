"""Tests of the evaluation: FID, KID and IS through torch-fidelity's code, reports, toy scores and offline errors.

The Inception weights cannot be downloaded here, so the FID, KID and IS tests pass a small feature
extractor through torch-fidelity's documented hook (a FeatureExtractorBase subclass) in their place.
"""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_fidelity import FeatureExtractorBase

from t2i.data.toy_flowers import ToyFlowers
from t2i.errors import T2IError
from t2i.evaluation.fidelity import fidelity_metrics
from t2i.evaluation.inception import INCEPTION_FILE, INCEPTION_URL, extract_features
from t2i.evaluation.report import evaluate_model


class TinyExtractor(FeatureExtractorBase):
    """Stand-in for Inception: 4 x 4 average-pooled pixels as features, and fixed random logits over 10 classes."""

    def __init__(self, name="t2i-test-tiny", features_list=("2048", "logits_unbiased")):
        super().__init__(name, list(features_list))
        self.classifier = torch.nn.Linear(48, 10)
        torch.nn.init.normal_(self.classifier.weight, generator=torch.Generator().manual_seed(0))
        torch.nn.init.zeros_(self.classifier.bias)

    @staticmethod
    def get_provided_features_list():
        return "2048", "logits_unbiased"

    def forward(self, x):
        features = F.adaptive_avg_pool2d(x.float() / 255.0, 4).flatten(1)
        return features, self.classifier(features) * 4


def toy_images(count, seed=0):
    flowers = ToyFlowers(num_images=count, size=32, seed=seed)
    return torch.stack([torch.from_numpy(np.array(flowers.item(index)[0])).permute(2, 0, 1) for index in range(count)])


@pytest.fixture(scope="module")
def real():
    return toy_images(60)


def features(images):
    return extract_features(TinyExtractor(), images, batch_size=16)


def test_fid_of_set_with_itself_is_zero(real):
    scores = fidelity_metrics(features(real), features(real), seed=0)
    assert abs(scores["fid"]) < 1e-6


def test_fid_grows_with_noise(real):
    generator = torch.Generator().manual_seed(1)
    fids = []
    for sigma in (10.0, 40.0, 80.0):
        noisy = (real.float() + sigma * torch.randn(real.shape, generator=generator)).clamp(0, 255).to(torch.uint8)
        fids.append(fidelity_metrics(features(real), features(noisy), seed=0)["fid"])
    assert fids[0] < fids[1] < fids[2]


def test_kid_small_for_same_set(real):
    same = fidelity_metrics(features(real), features(real), seed=0)
    different = fidelity_metrics(features(real), features(255 - real), seed=0)
    # The unbiased MMD estimate of a set against itself is close to 0 and may be slightly negative.
    assert abs(same["kid_mean"]) < different["kid_mean"] / 10
    assert same["kid_subset_size"] == 60


def test_inception_score_of_identical_images_is_one(real):
    same = real[:1].repeat(40, 1, 1, 1)
    scores = fidelity_metrics(features(real), features(same), seed=0)
    assert scores["inception_score_mean"] == pytest.approx(1.0, abs=1e-9)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    from t2i.export import export_checkpoint

    folder, _ = trained
    return export_checkpoint(folder / "checkpoints" / "last.ckpt", tmp_path_factory.mktemp("eval") / "model")


def run_evaluation(exported, cache_dir, tmp_path, **options):
    return evaluate_model(
        exported, num_samples=24, seed=3, cache_dir=cache_dir, captions_path=tmp_path / "captions.txt",
        fidelity="on", feature_extractor=TinyExtractor(), toy_samples=12, **options,
    )


def test_report_records_protocol(exported, cache_dir, tmp_path):
    report = run_evaluation(exported, cache_dir, tmp_path)
    protocol = report["protocol"]
    assert protocol["split"] == "compositional"
    assert protocol["part"] == "test"
    assert protocol["feature_extractor"]["name"] == "t2i-test-tiny"
    assert len(protocol["captions_sha256"]) == 64
    assert len(protocol["model_sha256"]) == 64
    assert protocol["versions"]["torch-fidelity"]
    assert report["fidelity"]["computed"]
    assert any("is biased" in warning for warning in report["warnings"])


def test_same_seed_same_report(exported, cache_dir, tmp_path):
    first = run_evaluation(exported, cache_dir, tmp_path)
    second = run_evaluation(exported, cache_dir, tmp_path)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_reference_features_cached(exported, cache_dir, tmp_path, caplog):
    run_evaluation(exported, cache_dir, tmp_path)
    caplog.clear()
    run_evaluation(exported, cache_dir, tmp_path)
    assert "Using cached reference features" in caplog.text


def test_captions_file_written(exported, cache_dir, tmp_path):
    import hashlib

    report = run_evaluation(exported, cache_dir, tmp_path)
    text = (tmp_path / "captions.txt").read_text(encoding="utf-8")
    assert len(text.splitlines()) == 24
    assert hashlib.sha256(text.encode()).hexdigest() == report["protocol"]["captions_sha256"]


def test_toy_scores_present(exported, cache_dir, tmp_path):
    toy = run_evaluation(exported, cache_dir, tmp_path)["toy_flowers"]
    assert toy["held_out_combinations"]["num_samples"] == 12
    assert 0.0 <= toy["seen_combinations"]["both_colours_accuracy"] <= 1.0
    assert toy["diversity"]["ratio"] > 0


def test_clip_score_not_computed_without_model(exported, cache_dir, tmp_path):
    clip = run_evaluation(exported, cache_dir, tmp_path)["clip_score"]
    assert not clip["computed"]
    assert "--clip-model" in clip["reason"]


def test_missing_weights_offline_error(exported, cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    with pytest.raises(T2IError) as raised:
        evaluate_model(exported, num_samples=4, cache_dir=cache_dir, fidelity="on", toy_samples=2)
    message = str(raised.value)
    assert INCEPTION_FILE in message
    assert INCEPTION_URL in message
    assert "--inception-weights" in message
    assert str(tmp_path / "torch-home") in message


def test_missing_weights_auto_reports_reason(exported, cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    report = evaluate_model(exported, num_samples=4, cache_dir=cache_dir, fidelity="auto", toy_samples=2)
    assert not report["fidelity"]["computed"]
    assert INCEPTION_FILE in report["fidelity"]["reason"]


def test_unsafe_weights_file_rejected(tmp_path):
    from t2i.evaluation.inception import load_inception

    path = tmp_path / INCEPTION_FILE
    marker = tmp_path / "command-ran"
    path.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(T2IError, match="not a plain PyTorch tensor file"):
        load_inception(path)
    assert not marker.exists()


def test_given_weights_path_missing(tmp_path):
    from t2i.evaluation.inception import resolve_inception_weights

    with pytest.raises(T2IError, match="nothing.pth not found"):
        resolve_inception_weights(tmp_path / "nothing.pth")
