"""StackGAN's precomputed char-CNN-RNN caption embeddings, for results comparable with the literature.

StackGAN (Zhang et al. 2017) and AttnGAN data folders ship `<part>/char-CNN-RNN-embeddings.pickle`: for
each key of `<part>/filenames.pickle`, in the same order, an array [captions, 1024] from Reed et al.'s
(2016) char-CNN-RNN text encoder, one row per line of the image's caption file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from t2i.data.legacy import load_legacy_pickle, read_split_filenames
from t2i.errors import DatasetError
from t2i.text.encoder import PRECOMPUTED_DIM

logger = logging.getLogger(__name__)

EMBEDDINGS_FILE = "char-CNN-RNN-embeddings.pickle"
# Folders searched for StackGAN's train/ and test/, relative to the dataset root: the root itself (beside
# CUB_200_2011/ or jpg/), StackGAN's data folders birds/ and flowers/, and the root's parent.
SEARCH_FOLDERS = (".", "birds", "flowers", "..")


def find_embedding_files(root: str | Path) -> list[tuple[Path, Path]]:
    """Return the (filenames.pickle, embeddings pickle) pairs of every part (train, test) found near `root`."""
    root = Path(root)
    pairs = []
    for folder in SEARCH_FOLDERS:
        for part in ("train", "test"):
            embeddings = root / folder / part / EMBEDDINGS_FILE
            if embeddings.is_file():
                pairs.append((embeddings.parent / "filenames.pickle", embeddings))
        if pairs:
            return pairs
    searched = ", ".join(str(root / folder / "{train,test}" / EMBEDDINGS_FILE) for folder in SEARCH_FOLDERS)
    raise DatasetError(
        f"the 'precomputed' encoder needs StackGAN's {EMBEDDINGS_FILE} files, but none was found; searched {searched}."
        " Put StackGAN's train/ and test/ folders in the dataset root, or choose a Hugging Face encoder"
    )


def read_embedding_file(filenames_path: Path, embeddings_path: Path) -> dict[str, np.ndarray]:
    """Read one part's embeddings into {image file stem: float32 array [captions, 1024]}."""
    if not filenames_path.is_file():
        raise DatasetError(f"{embeddings_path} has no filenames.pickle beside it to say which image each row belongs to")
    keys = read_split_filenames(filenames_path)
    data = load_legacy_pickle(embeddings_path)
    try:
        arrays = [np.asarray(item, dtype=np.float32) for item in data]
    except (TypeError, ValueError) as error:
        raise DatasetError(f"{embeddings_path} must hold one numeric array per image: {error}") from error
    if len(arrays) != len(keys):
        raise DatasetError(
            f"{embeddings_path} contains {len(arrays)} images but {filenames_path} lists {len(keys)}; the two files must"
            " list the same images in the same order"
        )
    for key, array in zip(keys, arrays):
        if array.ndim != 2 or array.shape[1] != PRECOMPUTED_DIM:
            raise DatasetError(
                f"{embeddings_path}: the embeddings of {key} have shape {array.shape}, expected [captions, {PRECOMPUTED_DIM}]"
            )
    return {key.replace("\\", "/").rsplit("/", 1)[-1]: array for key, array in zip(keys, arrays)}


def precomputed_embeddings(root: str | Path, image_keys: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Return embeddings [images, captions, 1024] float16 and caption counts for `image_keys`, in their order.

    An image that no pickle covers gets a count of 0 and zero embeddings; training leaves it out.
    """
    table: dict[str, np.ndarray] = {}
    for filenames_path, embeddings_path in find_embedding_files(root):
        table.update(read_embedding_file(filenames_path, embeddings_path))
    stems = [key.rsplit("/", 1)[-1] for key in image_keys]
    found = [table.get(stem) for stem in stems]
    slots = max((len(array) for array in found if array is not None), default=0)
    if slots == 0:
        raise DatasetError(
            f"none of the {len(image_keys)} prepared images (for example {stems[0]}) has a precomputed embedding;"
            " check that the pickles belong to this dataset"
        )
    embeddings = torch.zeros(len(image_keys), slots, PRECOMPUTED_DIM, dtype=torch.float16)
    counts = torch.zeros(len(image_keys), dtype=torch.long)
    for index, array in enumerate(found):
        if array is not None:
            embeddings[index, : len(array)] = torch.from_numpy(array)
            counts[index] = len(array)
    missing = [stem for stem, array in zip(stems, found) if array is None]
    if missing:
        logger.warning(
            "%d of %d images have no precomputed embedding and are left out of training (first: %s)",
            len(missing), len(image_keys), missing[0],
        )
    return embeddings, counts
