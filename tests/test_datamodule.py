"""Tests of batch assembly: caption averaging, mismatched captions, batch-wide crop and flip."""

import torch

from t2i.data.datamodule import CaptionedImages, TextImageDataModule
from t2i.data.prepared import PreparedDataset


def _prepared(labels, counts, size=6, dim=3) -> PreparedDataset:
    count = len(labels)
    images = torch.arange(count * 3 * size * size, dtype=torch.int64).remainder(256).to(torch.uint8)
    embeddings = torch.zeros(count, max(counts), dim)
    for index, captions in enumerate(counts):
        for slot in range(captions):
            embeddings[index, slot] = 100 * index + slot
    return PreparedDataset(
        images=images.view(count, 3, size, size),
        embeddings=embeddings,
        caption_counts=torch.tensor(counts),
        labels=torch.tensor(labels),
        captions=[[f"caption {slot}" for slot in range(captions)] for captions in counts],
        keys=[f"image{index}" for index in range(count)],
        class_names=[],
    )


def test_mismatched_images_have_other_class():
    data = _prepared(labels=[0, 0, 1, 1, 2, 2] * 5, counts=[10] * 30)
    dataset = CaptionedImages(data, seed=0)
    indices = torch.arange(30).repeat(20)
    others = dataset.mismatched_indices(indices)
    assert (data.labels[others] != data.labels[indices]).all()


def test_mismatched_without_classes_other_image():
    data = _prepared(labels=[-1] * 8, counts=[10] * 8)
    dataset = CaptionedImages(data, seed=0)
    indices = torch.arange(8).repeat(50)
    assert (dataset.mismatched_indices(indices) != indices).all()


def test_average_of_four_captions():
    data = _prepared(labels=[0, 1], counts=[10, 10])
    dataset = CaptionedImages(data, captions_per_embedding=4, seed=0)
    average = dataset.average_embeddings(torch.tensor([1]))[0, 0].item()
    # The mean of 4 distinct slots of image 1 lies between the means of the lowest and highest four.
    assert 101.5 <= average <= 107.5


def test_average_uses_only_existing_captions():
    data = _prepared(labels=[0, 1], counts=[2, 10])
    dataset = CaptionedImages(data, captions_per_embedding=4, seed=0)
    average = dataset.average_embeddings(torch.tensor([0]))
    assert torch.allclose(average, torch.full((1, 3), 0.5))


def test_batch_has_training_keys():
    data = _prepared(labels=[0, 1, 2, 3], counts=[10] * 4)
    batch = CaptionedImages(data, seed=0).__getitems__([0, 2])
    assert set(batch) == {"image", "embedding", "mismatched_embedding", "label"}


def test_same_seed_same_batch():
    data = _prepared(labels=[0, 1, 2, 3], counts=[10] * 4)
    first = CaptionedImages(data, seed=5).__getitems__([0, 1, 2, 3])
    second = CaptionedImages(data, seed=5).__getitems__([0, 1, 2, 3])
    assert torch.equal(first["mismatched_embedding"], second["mismatched_embedding"])


def _datamodule_for_crops(image_size=4):
    datamodule = TextImageDataModule.__new__(TextImageDataModule)
    datamodule.image_size = image_size
    datamodule.crop_generator = torch.Generator().manual_seed(0)
    return datamodule


def test_crop_takes_windows_of_stored_image():
    data = _prepared(labels=[0] * 16, counts=[1] * 16, size=6)
    datamodule = _datamodule_for_crops()
    batch = datamodule.on_after_batch_transfer({"image": data.images.clone()}, 0)
    assert batch["image"].shape == (16, 3, 4, 4)
    for index in range(16):
        crop = ((batch["image"][index] + 1) * 127.5).round().to(torch.uint8)
        windows = data.images[index].unfold(1, 4, 1).unfold(2, 4, 1).permute(1, 2, 0, 3, 4)
        matches = [
            torch.equal(crop, windows[y, x]) or torch.equal(crop, windows[y, x].flip(-1))
            for y in range(3)
            for x in range(3)
        ]
        assert any(matches)


def test_crop_flips_about_half():
    data = _prepared(labels=[0] * 200, counts=[1] * 200, size=4)
    datamodule = _datamodule_for_crops(image_size=4)
    batch = datamodule.on_after_batch_transfer({"image": data.images.clone()}, 0)
    restored = ((batch["image"] + 1) * 127.5).round().to(torch.uint8)
    flipped = sum(torch.equal(restored[i], data.images[i].flip(-1)) for i in range(200))
    assert 70 <= flipped <= 130


def test_crop_output_in_model_range():
    data = _prepared(labels=[0] * 4, counts=[1] * 4, size=6)
    batch = _datamodule_for_crops().on_after_batch_transfer({"image": data.images.clone()}, 0)
    assert batch["image"].min() >= -1.0
    assert batch["image"].max() <= 1.0


def test_sample_captions_without_classes():
    from t2i.data.datamodule import TextImageDataModule

    module = TextImageDataModule(image_size=32, batch_size=2)
    module.data = PreparedDataset(
        images=torch.zeros(4, 3, 34, 34, dtype=torch.uint8), embeddings=torch.zeros(4, 1, 384),
        caption_counts=torch.ones(4, dtype=torch.long), labels=torch.full((4,), -1),
        captions=[["a"], ["b"], ["c"], ["d"]], keys=["0", "1", "2", "3"], class_names=[],
    )
    module.dataset_name = "folder"
    assert module.sample_captions(3) == ["a", "b", "c"]
