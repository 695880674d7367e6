"""Load the Oxford-102 flowers dataset with Reed et al. captions into ImageRecords."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from t2i.data.captions import class_name_captions, find_caption_file, read_caption_file
from t2i.data.records import ImageRecord
from t2i.errors import DatasetError

logger = logging.getLogger(__name__)

DOWNLOAD_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
NUM_CLASSES = 102

# Common flower names for labels 1..102, copied from a public cat_to_name.json. Used when the
# dataset root has no cat_to_name.json.
OXFORD102_CLASS_NAMES = (
    'pink primrose', 'hard-leaved pocket orchid', 'canterbury bells', 'sweet pea',
    'english marigold', 'tiger lily', 'moon orchid', 'bird of paradise', 'monkshood',
    'globe thistle', 'snapdragon', "colt's foot", 'king protea', 'spear thistle', 'yellow iris',
    'globe-flower', 'purple coneflower', 'peruvian lily', 'balloon flower',
    'giant white arum lily', 'fire lily', 'pincushion flower', 'fritillary', 'red ginger',
    'grape hyacinth', 'corn poppy', 'prince of wales feathers', 'stemless gentian', 'artichoke',
    'sweet william', 'carnation', 'garden phlox', 'love in the mist', 'mexican aster',
    'alpine sea holly', 'ruby-lipped cattleya', 'cape flower', 'great masterwort', 'siam tulip',
    'lenten rose', 'barbeton daisy', 'daffodil', 'sword lily', 'poinsettia', 'bolero deep blue',
    'wallflower', 'marigold', 'buttercup', 'oxeye daisy', 'common dandelion', 'petunia',
    'wild pansy', 'primula', 'sunflower', 'pelargonium', 'bishop of llandaff', 'gaura', 'geranium',
    'orange dahlia', 'pink-yellow dahlia', 'cautleya spicata', 'japanese anemone',
    'black-eyed susan', 'silverbush', 'californian poppy', 'osteospermum', 'spring crocus',
    'bearded iris', 'windflower', 'tree poppy', 'gazania', 'azalea', 'water lily', 'rose',
    'thorn apple', 'morning glory', 'passion flower', 'lotus lotus', 'toad lily', 'anthurium',
    'frangipani', 'clematis', 'hibiscus', 'columbine', 'desert-rose', 'tree mallow', 'magnolia',
    'cyclamen', 'watercress', 'canna lily', 'hippeastrum', 'bee balm', 'ball moss', 'foxglove',
    'bougainvillea', 'camellia', 'mallow', 'mexican petunia', 'bromelia', 'blanket flower',
    'trumpet creeper', 'blackberry lily',
)

# At most this many image names are listed in one log line.
_MAX_NAMES_LOGGED = 10


def load_oxford102(
    root: str | Path, captions_dir: str | Path | None = None
) -> tuple[list[ImageRecord], list[str]]:
    """Load the Oxford-102 images, labels and captions found under `root`.

    `root` contains `jpg/` and `imagelabels.mat`, or is the parent of torchvision's
    `flowers-102/` folder. Captions come from `captions_dir`, else from `root/text_c10` in Reed's
    layout (`class_00001/image_06734.txt`). An image without a caption file, or with none left
    after cleaning, is skipped with a warning. When neither caption folder exists, every image
    gets 10 captions written from its class name. Labels are 0-based.

    Returns the records in image-number order and the 102 class names (index = label).

    Raises:
        DatasetError: the root lacks jpg/ or imagelabels.mat, a file is invalid, no listed image
            is in jpg/, `captions_dir` does not exist, or no image has a caption.
    """
    given_root = Path(root)
    root = _resolve_root(given_root)
    labels = _load_labels(root / "imagelabels.mat")
    class_names = _load_class_names([root, given_root])

    image_dir = root / "jpg"
    image_files = {entry.name for entry in os.scandir(image_dir) if entry.is_file()}
    numbers = [n for n in range(1, len(labels) + 1) if f"image_{n:05d}.jpg" in image_files]
    if not numbers:
        raise DatasetError(
            f"none of the {len(labels):,} images listed in imagelabels.mat is in {image_dir}. "
            f"Expected files named image_00001.jpg to image_{len(labels):05d}.jpg. "
            f"Extract 102flowers.tgz from {DOWNLOAD_URL} into {root}."
        )
    if len(numbers) < len(labels):
        logger.warning(
            "found %s of %s images listed in imagelabels.mat, so the %s missing from %s are skipped",
            f"{len(numbers):,}", f"{len(labels):,}", f"{len(labels) - len(numbers):,}", image_dir,
        )

    captions_root = _find_captions_root(captions_dir, [root, given_root])
    if captions_root is None:
        logger.info(
            "no text_c10/ caption folder in %s, so each image gets 10 captions written from "
            "its class name. To train on Reed et al.'s captions, put text_c10/ in %s or pass "
            "captions_dir.",
            root, root,
        )

    records = []
    no_file = []
    no_caption = []
    fixes = 0
    for number in numbers:
        stem = f"image_{number:05d}"
        label = int(labels[number - 1]) - 1

        if captions_root is None:
            captions = class_name_captions(class_names[label], seed=number)
        else:
            caption_file = find_caption_file(captions_root, f"class_{label + 1:05d}", stem)
            if caption_file is None:
                no_file.append(stem)
                continue
            captions, file_fixes = read_caption_file(caption_file)
            fixes += file_fixes
            if not captions:
                no_caption.append(stem)
                continue

        records.append(
            ImageRecord(key=stem, captions=captions, label=label, path=image_dir / f"{stem}.jpg")
        )

    if no_file:
        logger.warning(
            "skipped %d images with no caption file in %s: %s",
            len(no_file), captions_root, _format_names(no_file),
        )
    if no_caption:
        logger.warning(
            "skipped %d images whose caption file has no caption left after cleaning: %s",
            len(no_caption), _format_names(no_caption),
        )
    if not records:
        raise DatasetError(
            f"no image in {image_dir} has a caption in {captions_root} ({len(no_file)} without "
            f"a caption file, {len(no_caption)} with no caption left after cleaning). Expected "
            f"Reed et al.'s text_c10 layout, for example class_00077/image_00001.txt. Pass the "
            f"text_c10 folder as captions_dir, or remove it to use captions written from class names."
        )

    caption_count = sum(len(record.captions) for record in records)
    logger.info(
        "loaded Oxford-102 from %s: %d images, %d captions (%d caption lines fixed), "
        "%d of %d classes, skipped %d images (%d without a caption file, %d with no caption "
        "left after cleaning)",
        root, len(records), caption_count, fixes, len({r.label for r in records}), NUM_CLASSES,
        len(no_file) + len(no_caption), len(no_file), len(no_caption),
    )
    return records, class_names


def load_oxford102_splits(root: str | Path) -> dict[str, set[int]]:
    """Read the official splits from `setid.mat` as 1-based image numbers.

    Returns {"train": trnid, "val": valid, "test": tstid}, which contain 1,020, 1,020 and 6,149
    images in the official file. `root` is the folder that contains setid.mat or the parent of
    torchvision's `flowers-102/` folder.

    Raises:
        DatasetError: setid.mat is missing, unreadable or lacks one of the three arrays.
    """
    root = Path(root)
    candidates = [root / "setid.mat", root / "flowers-102" / "setid.mat"]
    path = next((candidate for candidate in candidates if candidate.is_file()), None)
    if path is None:
        raise DatasetError(
            f"setid.mat (the official Oxford-102 splits) was not found in {root}, and "
            f"{_describe_folder(root)}. Download setid.mat from {DOWNLOAD_URL} into {root}."
        )

    arrays = _load_mat(path, ["trnid", "valid", "tstid"])
    return {
        "train": {int(n) for n in arrays["trnid"]},
        "val": {int(n) for n in arrays["valid"]},
        "test": {int(n) for n in arrays["tstid"]},
    }


def _resolve_root(root: Path) -> Path:
    """Return the folder that contains jpg/ and imagelabels.mat: root or root/flowers-102."""
    for candidate in (root, root / "flowers-102"):
        if (candidate / "jpg").is_dir() and (candidate / "imagelabels.mat").is_file():
            return candidate

    raise DatasetError(
        f"Oxford-102 root {root} is invalid: expected a folder that contains jpg/ and "
        f"imagelabels.mat, but {_describe_folder(root)}. Point --data.root at the folder that "
        f"contains jpg/ and imagelabels.mat (or at the parent of torchvision's flowers-102/). "
        f"Download 102flowers.tgz and imagelabels.mat from {DOWNLOAD_URL}."
    )


def _describe_folder(path: Path) -> str:
    """Describe what `path` is for an error message, listing a few of its entries."""
    if not path.exists():
        return "the folder does not exist"
    if not path.is_dir():
        return "it is a file, not a folder"

    names = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in os.scandir(path))
    if not names:
        return "the folder is empty"
    listed = ", ".join(names[:8])
    more = f" and {len(names) - 8} more" if len(names) > 8 else ""
    return f"the folder contains {listed}{more}"


def _load_mat(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    """Read the named arrays from a MATLAB .mat file, flattened to 1-D."""
    try:
        contents = scipy.io.loadmat(path)
    # loadmat raises many exception types on a damaged file (IndexError on random bytes,
    # OSError when truncated, NotImplementedError for v7.3 HDF5 files).
    except (MatReadError, OSError, ValueError, IndexError, TypeError, NotImplementedError) as error:
        raise DatasetError(
            f"{path} is not a valid MATLAB .mat file ({type(error).__name__}: {error}). "
            f"Download it again from {DOWNLOAD_URL}."
        ) from error

    missing = [key for key in keys if key not in contents]
    if missing:
        found = sorted(key for key in contents if not key.startswith("__"))
        raise DatasetError(
            f"{path} is missing the array {', '.join(missing)} and contains "
            f"{', '.join(found) or 'no arrays'}. Download it again from {DOWNLOAD_URL}."
        )
    return {key: np.asarray(contents[key]).reshape(-1) for key in keys}


def _load_labels(path: Path) -> np.ndarray:
    """Read the 1-based class labels and check that they are in 1..102."""
    labels = _load_mat(path, ["labels"])["labels"]
    if labels.size == 0:
        raise DatasetError(f"{path} has an empty labels array. Download it again from {DOWNLOAD_URL}.")
    if labels.min() < 1 or labels.max() > NUM_CLASSES:
        raise DatasetError(
            f"{path} has labels from {labels.min()} to {labels.max()}, expected 1 to {NUM_CLASSES}. "
            f"Download it again from {DOWNLOAD_URL}."
        )
    return labels


def _load_class_names(folders: list[Path]) -> list[str]:
    """Read cat_to_name.json from the first folder that has it, else use the built-in names."""
    path = next((f / "cat_to_name.json" for f in folders if (f / "cat_to_name.json").is_file()), None)
    if path is None:
        return list(OXFORD102_CLASS_NAMES)

    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"failed to read {path} as JSON: {error}") from error
    if not isinstance(mapping, dict):
        raise DatasetError(f'{path} must be a JSON object mapping "1".."102" to class names')

    missing = [str(n) for n in range(1, NUM_CLASSES + 1) if not isinstance(mapping.get(str(n)), str)]
    if missing:
        raise DatasetError(
            f'{path} has no class name for label(s) {", ".join(missing[:10])}. It must map each '
            f'of "1".."102" to a name. Delete it to use the built-in Oxford-102 names.'
        )
    return [mapping[str(n)] for n in range(1, NUM_CLASSES + 1)]


def _find_captions_root(captions_dir: str | Path | None, folders: list[Path]) -> Path | None:
    """Return `captions_dir`, else the first `text_c10/` in `folders`, else None."""
    if captions_dir is not None:
        captions_root = Path(captions_dir)
        if not captions_root.is_dir():
            raise DatasetError(
                f"captions_dir {captions_root} is invalid: {_describe_folder(captions_root)}. "
                f"Pass Reed et al.'s text_c10 folder, which contains class_00001/ to class_00102/."
            )
        return captions_root

    return next((f / "text_c10" for f in folders if (f / "text_c10").is_dir()), None)


def _format_names(names: list[str]) -> str:
    """Join the first _MAX_NAMES_LOGGED names and append the count of the rest."""
    text = ", ".join(names[:_MAX_NAMES_LOGGED])
    if len(names) > _MAX_NAMES_LOGGED:
        text += f" and {len(names) - _MAX_NAMES_LOGGED} more"
    return text
