"""CUB-200-2011 birds in the official layout, with Reed et al.'s or StackGAN-style captions."""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image

from t2i.data.captions import class_name_captions, find_caption_file, read_caption_file
from t2i.data.legacy import read_split_filenames
from t2i.data.records import ImageRecord
from t2i.errors import DatasetError

logger = logging.getLogger(__name__)

DOWNLOAD_URL = "https://www.vision.caltech.edu/datasets/cub_200_2011/"
METADATA_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")
# StackGAN (Zhang et al. 2017) crops each bird to a square of 1.5 times the longer box side.
BOX_SCALE = 1.5
# The 50 test classes (1-based CUB ids) of the class-disjoint split of Reed et al. (2016), as listed
# in StackGAN's test/class_info.pickle; used when that pickle is not in the dataset folder.
ZERO_SHOT_TEST_CLASSES = frozenset(
    {
        1, 4, 6, 8, 9, 14, 23, 29, 31, 33, 34, 35, 36, 37, 38, 43, 49, 51, 53, 66, 72, 79, 83, 84, 86,
        91, 95, 96, 98, 101, 102, 103, 112, 114, 119, 121, 130, 135, 138, 147, 156, 163, 165, 166, 180,
        183, 185, 186, 187, 197,
    }
)
SPLITS = ("all", "official", "zero-shot")


def find_cub_folder(root: str | Path) -> Path:
    """Return the folder with images.txt: `root` itself or `root/CUB_200_2011`, else raise a DatasetError."""
    root = Path(root)
    for folder in (root, root / "CUB_200_2011"):
        if (folder / "images.txt").is_file():
            return folder
    if not root.exists():
        found = "the folder does not exist"
    else:
        entries = sorted(entry.name for entry in root.iterdir())[:8]
        found = f"it contains {', '.join(entries) if entries else 'nothing'}"
    raise DatasetError(
        f"{root} is not a CUB-200-2011 folder: expected images/ and {', '.join(METADATA_FILES)} in it or in "
        f"{root / 'CUB_200_2011'}, but {found}. Download CUB_200_2011.tgz from {DOWNLOAD_URL}, extract it, "
        "and pass the folder that contains CUB_200_2011/ as --data.root"
    )


def _read_table(path: Path) -> dict[int, list[str]]:
    """Read an `id value ...` metadata file into {id: [values]}; CRLF line endings are accepted."""
    if not path.is_file():
        raise DatasetError(f"CUB metadata file {path} not found; it ships in CUB_200_2011.tgz from {DOWNLOAD_URL}")
    table = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            table[int(fields[0])] = fields[1:]
        except ValueError as error:
            raise DatasetError(f"{path} line {number} does not start with an image id: {line!r}") from error
    return table


def square_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """Return the (left, top, right, bottom) square of side 1.5 * max(w, h) centred on box (x, y, w, h), clipped to the image."""
    x, y, w, h = box
    centre_x, centre_y = x + w / 2, y + h / 2
    half = BOX_SCALE * max(w, h) / 2
    left, top = max(0, int(centre_x - half)), max(0, int(centre_y - half))
    right, bottom = min(width, int(centre_x + half)), min(height, int(centre_y + half))
    return left, top, right, bottom


def _crop_box(path: Path, box: list[str] | None) -> tuple[int, int, int, int] | None:
    """Return the square around the bird, or the centred square when the image has no box.

    Returns None for an unreadable file, which is then skipped and counted when the images are prepared.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError):
        return None
    if box is not None:
        return square_box(tuple(float(value) for value in box), width, height)
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2


def _find_captions_root(cub: Path, captions_dir: str | Path | None) -> Path | None:
    if captions_dir is not None:
        if not Path(captions_dir).is_dir():
            raise DatasetError(f"captions folder {captions_dir} not found; pass the folder that contains text_c10/'s class folders")
        return Path(captions_dir)
    for candidate in (cub / "text_c10", cub.parent / "text_c10", cub.parent / "birds" / "text", cub.parent / "text"):
        if candidate.is_dir():
            return candidate
    return None


def zero_shot_test_classes(cub: Path) -> set[int]:
    """Return the 1-based test classes of the 150 / 50 split, from StackGAN's test/filenames.pickle when present."""
    for folder in (cub, cub.parent):
        pickle_path = folder / "test" / "filenames.pickle"
        if pickle_path.is_file():
            keys = read_split_filenames(pickle_path)
            return {int(key.split(".", 1)[0]) for key in keys}
    return set(ZERO_SHOT_TEST_CLASSES)


def load_cub(
    root: str | Path, captions_dir: str | Path | None = None, crop: bool = True, split: str = "all", part: str = "train"
) -> tuple[list[ImageRecord], list[str]]:
    """Return the records of one part ("train" or "test") of a CUB split, and the 200 class names.

    Splits: "all" (every image; part is ignored), "official" (train_test_split.txt) and "zero-shot"
    (150 train / 50 test classes). With `crop`, each image is cut to the square around its bird.
    """
    if split not in SPLITS:
        raise DatasetError(f"unknown CUB split {split!r}; choose one of {', '.join(SPLITS)}")
    if part not in ("train", "test"):
        raise DatasetError(f"unknown split part {part!r}; choose train or test")
    cub = find_cub_folder(root)
    images = _read_table(cub / "images.txt")
    labels = _read_table(cub / "image_class_labels.txt")
    classes = _read_table(cub / "classes.txt")
    class_folders = [classes[class_id][0] for class_id in sorted(classes)]
    class_names = [folder.split(".", 1)[-1].replace("_", " ") for folder in class_folders]
    boxes = _read_table(cub / "bounding_boxes.txt") if (cub / "bounding_boxes.txt").is_file() else {}
    is_train = _read_table(cub / "train_test_split.txt")
    test_classes = zero_shot_test_classes(cub)
    captions_root = _find_captions_root(cub, captions_dir)
    if captions_root is None:
        logger.info(
            "No CUB caption folder (text_c10/ or birds/text/) found near %s, so captions are written from class names;"
            " pass --data.captions_dir to use Reed et al.'s captions", cub,
        )

    records, missing_images, missing_captions, missing_boxes = [], [], [], 0
    for image_id, (relative,) in sorted(images.items()):
        class_id = int(labels[image_id][0])
        subsets = {
            "official": "train" if is_train[image_id][0] == "1" else "test",
            "zero-shot": "test" if class_id in test_classes else "train",
        }
        if split != "all" and subsets.get(split) != part:
            continue
        path = cub / "images" / relative
        if not path.is_file():
            missing_images.append(relative)
            continue
        class_folder, stem = relative.split("/")[0], Path(relative).stem
        if captions_root is None:
            captions = class_name_captions(class_names[class_id - 1], seed=image_id)
        else:
            caption_file = find_caption_file(captions_root, class_folder, stem)
            captions = read_caption_file(caption_file)[0] if caption_file is not None else []
            if not captions:
                missing_captions.append(relative)
                continue
        crop_box = None
        if crop:
            crop_box = _crop_box(path, boxes.get(image_id))
            missing_boxes += image_id not in boxes
        records.append(
            ImageRecord(key=stem, captions=captions, label=class_id - 1, path=path, crop_box=crop_box, subsets=subsets)
        )

    if missing_images:
        logger.warning(
            "Skipped %d of %d images listed in images.txt that are missing under %s (first: %s)",
            len(missing_images), len(images), cub / "images", missing_images[0],
        )
    if missing_captions:
        logger.warning("Skipped %d images with no caption (first: %s)", len(missing_captions), missing_captions[0])
    if missing_boxes:
        logger.warning("%d images have no bounding box in bounding_boxes.txt, so they are centre-cropped", missing_boxes)
    if not records:
        raise DatasetError(f"no usable CUB images found under {cub / 'images'} for split {split!r} ({part})")
    logger.info("Read %d CUB images (%s split, %s part) from %s", len(records), split, part, cub)
    return records, class_names
