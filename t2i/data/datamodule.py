"""LightningDataModule: prepared uint8 images and cached caption embeddings to GAN-CLS training batches."""

from __future__ import annotations

import dataclasses

import logging
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import Dataset

from t2i.data.batches import SeededBatches
from t2i.data.prepare import DatasetSpec, prepare_images
from t2i.data.prepared import PreparedDataset, load_prepared, prepare_embeddings
from t2i.errors import ConfigError, DatasetError
from t2i.images import from_uint8
from t2i.models.blocks import check_image_size
from t2i.text.encoder import DEFAULT_ENCODER, embedding_dim_for, encoder_cache_key

logger = logging.getLogger(__name__)

# Rejection sampling of a mismatched image stops after this many rounds and keeps any clash left.
# A clash survives all rounds only when one class contains nearly every image.
MAX_MISMATCH_ROUNDS = 32


class CaptionedImages(Dataset):
    """Batches of uint8 images with averaged matching and mismatched caption embeddings.

    Every random choice draws from one seeded `torch.Generator`. The loader requests whole batches
    through `__getitems__`, so the sampling below is vectorised over the batch.
    """

    def __init__(self, data: PreparedDataset, captions_per_embedding: int = 4, seed: int = 0):
        self.data = data
        self.captions_per_embedding = captions_per_embedding
        self.generator = torch.Generator().manual_seed(seed)
        self.has_classes = bool((data.labels >= 0).all()) and len(torch.unique(data.labels)) > 1

    def __len__(self) -> int:
        return len(self.data.images)

    def average_embeddings(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Average `captions_per_embedding` distinct random captions of each image (Reed et al.'s released code uses 4)."""
        generator = generator or self.generator
        counts = self.data.caption_counts[indices]
        slots = self.data.embeddings.shape[1]
        scores = torch.rand(len(indices), slots, generator=generator)
        scores[torch.arange(slots)[None, :] >= counts[:, None]] = float("inf")
        chosen = scores.argsort(dim=1)[:, : self.captions_per_embedding]
        used_counts = torch.minimum(counts, torch.tensor(self.captions_per_embedding))
        valid = torch.arange(chosen.shape[1])[None, :] < used_counts[:, None]
        # The embeddings may sit on a GPU (images_on_device); the choices above stay on the CPU generator.
        embeddings = self.data.embeddings[indices[:, None], chosen]
        valid, used_counts = valid.to(embeddings.device), used_counts.to(embeddings.device)
        return (embeddings * valid[:, :, None]).sum(dim=1) / used_counts[:, None]

    def mismatched_indices(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw for each image another image of a different class, or any other image when classes are unknown."""
        generator = generator or self.generator
        labels = self.data.labels
        others = torch.randint(len(self), (len(indices),), generator=generator)
        for _ in range(MAX_MISMATCH_ROUNDS):
            clash = labels[others] == labels[indices] if self.has_classes else others == indices
            if not clash.any():
                break
            others[clash] = torch.randint(len(self), (int(clash.sum()),), generator=generator)
        return others

    def sample(self, indices: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Return the batch of `indices`, drawing its captions and mismatches from `generator`."""
        return {
            "image": self.data.images[indices],
            "embedding": self.average_embeddings(indices, generator),
            "mismatched_embedding": self.average_embeddings(self.mismatched_indices(indices, generator), generator),
            "label": self.data.labels[indices],
        }

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return self.sample(torch.as_tensor(indices), self.generator)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.__getitems__([index]).items()}


class TextImageDataModule(L.LightningDataModule):
    """Prepare a dataset on first use and serve GAN-CLS batches, cropped and flipped on the batch's device.

    Args:
        dataset: Dataset name: "toy-flowers" (procedural, no download), "oxford102", "cub", "folder"
            (your images, each with a caption file of the same name, classes from sub-folder names) or
            "huggingface" (a `datasets` dataset with an image column and a caption column).
        root: Dataset folder, or for "huggingface" a save_to_disk folder or a Hub dataset id; not needed for toy-flowers.
        split: Which images to train on: "all"; "official" (Oxford-102 train and validation sets from
            setid.mat, CUB train_test_split.txt); "zero-shot" (the training classes of a class-disjoint
            split: CUB 150 of 200, Oxford-102 82 of 102); "compositional" (toy-flowers without the colour
            pairs in HELD_OUT_COMBINATIONS of t2i.data.toy_flowers).
        crop: CUB only: cut each image to the square of 1.5 times its bounding box, as StackGAN does.
        captions_dir: Folder with Reed et al.'s text_c10 class folders, when it is not inside root.
        hf_split: "huggingface" only: the dataset split to read, such as "train".
        image_column: "huggingface" only: the image column; None picks the one `datasets.Image` column.
        caption_column: "huggingface" only: the caption column (a string or a list of strings a row); None
            picks the first of captions, caption, text, texts, sentences and description.
        label_column: "huggingface" only: the class column; None picks a `datasets.ClassLabel` column if any.
        image_size: Training image side in pixels (32, 64, 128 or 256).
        load_size: Side images are stored at before the random crop; default image_size * 76 / 64 as in Reed et al.
        batch_size: Images per batch.
        num_images: Number of toy flowers to draw (toy-flowers only).
        seed: Seed of the toy flowers and of every sampling choice (caption averaging, mismatches, crops, flips, order).
        encoder: Hugging Face text encoder id or local folder.
        encoder_revision: Hub revision of the encoder; None for the default branch or a local folder.
        pooling: Text pooling: "auto" (as the model prescribes), "mean", "mean_normalized", "cls" or "clip".
        captions_per_embedding: Caption embeddings averaged per image and step (4 in Reed et al.'s released code).
        cache_dir: Folder for the prepared image caches and the caption-embedding cache.
        images_on_device: Keep the uint8 images and the caption embeddings on the training device (a GPU), so
            that each batch is gathered, cropped and flipped there with no copy from host memory. The cache
            must fit in device memory: 10,000 images at 76 pixels take 173 MB.
    """

    def __init__(
        self,
        dataset: str = "toy-flowers",
        root: str | None = None,
        split: str = "all",
        crop: bool = True,
        captions_dir: str | None = None,
        hf_split: str = "train",
        image_column: str | None = None,
        caption_column: str | None = None,
        label_column: str | None = None,
        image_size: int = 64,
        load_size: int | None = None,
        batch_size: int = 64,
        num_images: int = 4000,
        seed: int = 0,
        encoder: str = DEFAULT_ENCODER,
        encoder_revision: str | None = None,
        pooling: str = "auto",
        captions_per_embedding: int = 4,
        cache_dir: str = "data/cache",
        images_on_device: bool = False,
    ):
        super().__init__()
        if batch_size < 2:
            raise ConfigError(f"batch_size must be at least 2 (GAN-INT pairs captions within a batch), got {batch_size}")
        check_image_size(image_size)
        load_size = load_size if load_size is not None else round(image_size * 76 / 64)
        if load_size < image_size:
            raise ConfigError(f"load_size ({load_size}) must be at least image_size ({image_size})")
        if captions_per_embedding < 1:
            raise ConfigError(f"captions_per_embedding must be at least 1, got {captions_per_embedding}")
        self.save_hyperparameters()
        self.spec = DatasetSpec(
            name=dataset, root=root, load_size=load_size, num_images=num_images, seed=seed, split=split, crop=crop,
            captions_dir=captions_dir, hf_split=hf_split, image_column=image_column, caption_column=caption_column,
            label_column=label_column,
        )
        self.spec.validate()
        self.dataset_name = dataset
        self.image_size = image_size
        self.batch_size = batch_size
        self.crop_generator = torch.Generator().manual_seed(seed + 1)
        self.data: PreparedDataset | None = None
        self.prepared_paths: tuple[Path, Path] | None = None
        self.embedding_dim = embedding_dim_for(encoder, encoder_revision, pooling)
        self.encoder_identity = {"name": encoder, "revision": encoder_revision, "pooling": pooling}

    def prepare_data(self) -> None:
        hp = self.hparams
        folder = prepare_images(self.spec, hp.cache_dir)
        embeddings = prepare_embeddings(folder, hp.cache_dir, hp.encoder, hp.encoder_revision, hp.pooling, root=hp.root)
        self.prepared_paths = (folder, embeddings)

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        # Lightning runs prepare_data on one process only, so other processes of a distributed run find the caches here.
        if self.prepared_paths is None:
            self.prepare_data()
        self.data = load_prepared(*self.prepared_paths, split=self.spec.split, part="train")
        hp = self.hparams
        if len(self.data.images) < self.batch_size:
            raise DatasetError(
                f"the dataset has {len(self.data.images)} images, fewer than batch_size {self.batch_size};"
                " lower --data.batch_size"
            )
        self.encoder_identity["cache_key"] = encoder_cache_key(hp.encoder, hp.encoder_revision, hp.pooling)
        logger.info(
            "Loaded %d images and %d caption embeddings of %s",
            len(self.data.images), int(self.data.caption_counts.sum()), self.dataset_name,
        )

    def train_dataloader(self) -> SeededBatches:
        """Return the training batches; they resume exactly where a restored run left off (see SeededBatches)."""
        trainer = self.trainer
        if self.hparams.images_on_device:
            device = trainer.strategy.root_device
            self.data = dataclasses.replace(self.data, images=self.data.images.to(device), embeddings=self.data.embeddings.to(device))
            logger.info("Moved %d training images and their embeddings to %s", len(self.data.images), device)
        dataset = CaptionedImages(self.data, self.hparams.captions_per_embedding, self.hparams.seed)
        return SeededBatches(
            dataset, self.batch_size, self.hparams.seed, batches_done=lambda: trainer.lightning_module.batches_trained,
            rank=trainer.global_rank, world_size=trainer.world_size,
        )

    def on_after_batch_transfer(self, batch: dict[str, torch.Tensor], dataloader_idx: int) -> dict[str, torch.Tensor]:
        """Crop every image at its own random offset and flip half of them, on the whole batch at once."""
        images = batch["image"]
        batch_size, _, load_size, _ = images.shape
        size = self.image_size
        seed = batch.pop("augment_seed", None)
        generator = self.crop_generator if seed is None else torch.Generator().manual_seed(int(seed))
        offsets = torch.randint(load_size - size + 1, (2, batch_size), generator=generator)
        flips = torch.rand(batch_size, generator=generator) < 0.5
        steps = torch.arange(size)
        rows = (offsets[0][:, None] + steps).to(images.device)
        columns = offsets[1][:, None] + torch.where(flips[:, None], steps.flip(0), steps)
        columns = columns.to(images.device)
        samples = torch.arange(batch_size, device=images.device)[:, None, None]
        cropped = images.permute(0, 2, 3, 1)[samples, rows[:, :, None], columns[:, None, :]]
        batch["image"] = from_uint8(cropped.permute(0, 3, 1, 2).contiguous())
        return batch

    def sample_captions(self, count: int = 6) -> list[str]:
        """Return fixed captions for sample grids: the first caption of images from distinct classes (or images)."""
        if self.dataset_name == "toy-flowers":
            from t2i.data.toy_flowers import SAMPLE_CAPTIONS

            return list(SAMPLE_CAPTIONS[:count])
        captions, seen = [], set()
        has_classes = bool((self.data.labels >= 0).any())
        for index, (image_captions, label) in enumerate(zip(self.data.captions, self.data.labels.tolist())):
            # Without classes, every image counts as its own class.
            group = label if has_classes else index
            if group not in seen and image_captions:
                seen.add(group)
                captions.append(image_captions[0])
            if len(captions) == count:
                break
        return captions

    def encode_captions(self, captions: list[str]) -> torch.Tensor:
        """Encode captions through the on-disk embedding cache (the encoder loads only for unseen captions).

        With precomputed embeddings only the dataset's own captions have one, so they are looked up there.
        """
        from t2i.text.cache import EmbeddingCache
        from t2i.text.encoder import PRECOMPUTED

        hp = self.hparams
        if hp.encoder == PRECOMPUTED:
            return self._look_up_embeddings(captions)
        cache = EmbeddingCache(Path(hp.cache_dir) / "text-embeddings", hp.encoder, hp.encoder_revision, hp.pooling)
        return cache.encode(captions)

    def _look_up_embeddings(self, captions: list[str]) -> torch.Tensor:
        positions = {}
        for image, (image_captions, count) in enumerate(zip(self.data.captions, self.data.caption_counts.tolist())):
            for slot, caption in enumerate(image_captions[:count]):
                positions.setdefault(caption, (image, slot))
        missing = [caption for caption in captions if caption not in positions]
        if missing:
            raise DatasetError(
                f"caption {missing[0]!r} has no precomputed embedding: with --data.encoder precomputed only the"
                " dataset's own captions can be drawn"
            )
        return torch.stack([self.data.embeddings[positions[caption]] for caption in captions])
