"""Your own captioned images: a folder of images, each with a caption file of the same name beside it."""

from __future__ import annotations

import logging
from pathlib import Path

from t2i.data.captions import read_caption_file
from t2i.data.records import ImageRecord
from t2i.errors import DatasetError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def load_folder(root: str | Path) -> tuple[list[ImageRecord], list[str]]:
    """Read `root/**/x.jpg` with captions in `x.txt` (one a line); the sub-folder name, if any, is the class.

    Images directly in `root` have no class (label -1) unless others sit in sub-folders, in which case
    they form a class named after `root`. An image without captions is skipped and named in a warning.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} not found; pass the folder that contains the images and their .txt captions")
    images = sorted(path for path in root.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
    if not images:
        raise DatasetError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {root}; put each image beside a caption file"
            " of the same name, for example bird.jpg and bird.txt"
        )

    class_folders = sorted({path.parent.relative_to(root).as_posix() for path in images})
    has_classes = class_folders != ["."]
    class_names = []
    if has_classes:
        # Images directly in root form a class of their own, named after root.
        class_names = [root.name if folder == "." else folder for folder in class_folders]
    records, missing, fixes = [], [], 0
    for path in images:
        caption_file = path.with_suffix(".txt")
        captions, fixed = read_caption_file(caption_file) if caption_file.is_file() else ([], 0)
        fixes += fixed
        if not captions:
            missing.append(path.relative_to(root).as_posix())
            continue
        label = class_folders.index(path.parent.relative_to(root).as_posix()) if has_classes else -1
        key = path.relative_to(root).with_suffix("").as_posix()
        records.append(ImageRecord(key=key, captions=captions, label=label, path=path))

    if missing:
        named = ", ".join(missing[:10])
        if len(missing) > 10:
            named += f" and {len(missing) - 10} more"
        logger.warning("Skipped %d images with no caption file or an empty one: %s", len(missing), named)
    if not records:
        raise DatasetError(f"none of the {len(images)} images under {root} has a caption file (x.txt beside x.jpg)")
    logger.info(
        "Read %d captioned images (%d classes, %d caption lines fixed, %d skipped) from %s",
        len(records), len(class_names), fixes, len(missing), root,
    )
    return records, class_names
