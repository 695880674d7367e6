"""Hugging Face `datasets` datasets with an image column and a caption column, from a save_to_disk folder or the Hub."""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from t2i.data.captions import clean_caption
from t2i.data.records import ImageRecord
from t2i.errors import DatasetError

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

# Tried in this order when no caption column is given.
CAPTION_COLUMNS = ("captions", "caption", "text", "texts", "sentences", "description")
# A string column with one of these names gives the record keys. Without one, the key is the row index.
KEY_COLUMNS = ("key", "id", "filename", "file_name")


@dataclass
class DatasetImageRecord(ImageRecord):
    """An ImageRecord whose image stays encoded in a `datasets` row until load_image decodes it.

    `rows` contains only the image column, cast to `datasets.Image(decode=False)`, so each row is a
    dict with the file's `bytes` or its `path`. Decoding late keeps memory small, and an image that
    cannot be decoded raises OSError or ValueError from load_image instead of failing the reader.
    """

    rows: datasets.Dataset | None = field(default=None, repr=False)
    row: int = -1

    def load_image(self) -> Image.Image:
        if self.rows is None:
            return super().load_image()
        encoded = self.rows[self.row][self.rows.column_names[0]]
        if encoded and encoded.get("bytes") is not None:
            source = io.BytesIO(encoded["bytes"])
        elif encoded and encoded.get("path"):
            # Datasets built from local image files may keep only the path, but save_to_disk embeds the bytes.
            source = encoded["path"]
        else:
            raise ValueError(f"row {self.row} (key {self.key!r}) has no image")
        with Image.open(source) as opened:
            image = opened.convert("RGB")
        return image.crop(self.crop_box) if self.crop_box is not None else image


def load_hf_dataset(
    source: str,
    split: str = "train",
    image_column: str | None = None,
    caption_column: str | None = None,
    label_column: str | None = None,
) -> tuple[list[DatasetImageRecord], list[str]]:
    """Read a folder written by `save_to_disk`, or a Hub dataset id, as records and class names.

    Columns not given are detected: the one `datasets.Image` column, the first caption column named
    in CAPTION_COLUMNS, and a `datasets.ClassLabel` column for the classes (none gives label -1).
    A caption value is a string or a list of strings, each split into one caption a line and cleaned
    like caption files. A row with no caption left is skipped and named in a warning. The key is the
    value of the first KEY_COLUMNS string column when its values are unique and not empty, else the row index.

    Raises:
        DatasetError: the dataset cannot be loaded, a column is missing or of the wrong type, or no row has a caption.
    """
    import datasets

    dataset = _open_dataset(source, split)
    features = dataset.features
    for given in (image_column, caption_column, label_column):
        if given is not None and given not in features:
            raise DatasetError(f"column {given!r} not found in {source}. Its columns are: {_describe_columns(features)}")

    image_column = image_column or _detect_image_column(features, source)
    if not isinstance(features[image_column], datasets.Image):
        raise DatasetError(
            f"column {image_column!r} of {source} is {features[image_column]}, not datasets.Image. Cast it with"
            f" dataset.cast_column({image_column!r}, datasets.Image()) before save_to_disk"
        )
    caption_column = caption_column or _detect_caption_column(features, source)
    if not _is_text(features[caption_column]) and not _is_text(getattr(features[caption_column], "feature", None)):
        raise DatasetError(
            f"caption column {caption_column!r} of {source} is {features[caption_column]}, but it must contain strings"
            " or lists of strings"
        )
    if label_column is None:
        label_column = _detect_label_column(features, source)
    key_column = next((name for name in KEY_COLUMNS if _is_text(features.get(name))), None)

    text_columns = [caption_column] + [name for name in (label_column, key_column) if name is not None]
    values = dataset.select_columns(list(dict.fromkeys(text_columns))).to_dict()
    labels, class_names = [-1] * len(dataset), []
    if label_column is not None:
        labels, class_names = _read_labels(features[label_column], label_column, values[label_column], source)
    keys = values[key_column] if key_column else None
    if keys is not None and (len(set(keys)) != len(keys) or not all(keys)):
        logger.warning("Column %r of %s has empty or repeated values, so row indices are used as keys", key_column, source)
        keys = None

    rows = dataset.select_columns([image_column]).cast_column(image_column, datasets.Image(decode=False))
    records, skipped = [], []
    for index, value in enumerate(values[caption_column]):
        captions = _split_captions(value)
        if not captions:
            skipped.append(index)
            continue
        key = keys[index] if keys is not None else f"{index:06d}"
        records.append(DatasetImageRecord(key=key, captions=captions, label=labels[index], rows=rows, row=index))

    if skipped:
        named = ", ".join(str(index) for index in skipped[:10])
        if len(skipped) > 10:
            named += f" and {len(skipped) - 10} more"
        logger.warning(
            "Skipped %d rows of %s with no caption in column %r: rows %s", len(skipped), source, caption_column, named
        )
    if not records:
        raise DatasetError(f"none of the {len(dataset)} rows of {source} has a caption in column {caption_column!r}")
    logger.info(
        "Read %d rows of %s: %d captioned images, %d captions, %d classes, %d rows skipped",
        len(dataset), source, len(records), sum(len(record.captions) for record in records), len(class_names), len(skipped),
    )
    return records, class_names


def _open_dataset(source: str, split: str) -> datasets.Dataset:
    """Load a save_to_disk folder when `source` looks like a local path, else the Hub dataset `source`."""
    import datasets

    path = Path(source).expanduser()
    if not path.exists() and not source.startswith((".", "/", "~")):
        return _load_from_hub(source, split)
    if not path.exists():
        raise DatasetError(f"dataset folder {path} not found. Pass a folder written by save_to_disk or a Hub dataset id")
    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as error:
        raise DatasetError(
            f"{path} is not a dataset saved with save_to_disk: it is {_describe_path(path)} ({error})"
        ) from error
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DatasetError(f"split {split!r} not found in {path}. Its splits are: {', '.join(loaded)}")
        return loaded[split]
    if loaded.split is not None and str(loaded.split) != split:
        logger.warning(
            "%s contains only the split %r, which is read although split %r was requested", path, str(loaded.split), split
        )
    return loaded


def _load_from_hub(source: str, split: str) -> datasets.Dataset:
    import datasets

    try:
        return datasets.load_dataset(source, split=split)
    except ConnectionError as error:
        # NOTE: datasets 5.2 reads HF_HUB_OFFLINE and HF_DATASETS_OFFLINE once, at import, so variables set
        # later do not stop it from trying the Hub, and huggingface_hub retries failed requests before this error.
        reason = "the Hub cannot be reached"
        if datasets.config.HF_HUB_OFFLINE:
            reason = "offline mode is on (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE)"
        raise DatasetError(
            f"Hub dataset {source!r} could not be loaded offline: {reason} and it is not in the local cache ({error})."
            f" On a machine with internet access, run"
            f" datasets.load_dataset({source!r}, split={split!r}).save_to_disk(FOLDER),"
            " then copy FOLDER here and pass it as the dataset"
        ) from error
    except (FileNotFoundError, ValueError) as error:
        raise DatasetError(f"failed to load Hub dataset {source!r} (split {split!r}): {error}") from error


def _detect_image_column(features: datasets.Features, source: str) -> str:
    import datasets

    found = [name for name, feature in features.items() if isinstance(feature, datasets.Image)]
    if len(found) == 1:
        return found[0]
    problem = f"{len(found)} image columns ({', '.join(found)})" if found else "no column with the datasets.Image feature"
    raise DatasetError(f"found {problem} in {source}. Its columns are: {_describe_columns(features)}. Pass image_column")


def _detect_caption_column(features: datasets.Features, source: str) -> str:
    for name in CAPTION_COLUMNS:
        if name in features:
            return name
    raise DatasetError(
        f"no caption column ({', '.join(CAPTION_COLUMNS)}) found in {source}. Its columns are:"
        f" {_describe_columns(features)}. Pass caption_column"
    )


def _detect_label_column(features: datasets.Features, source: str) -> str | None:
    import datasets

    found = [name for name, feature in features.items() if isinstance(feature, datasets.ClassLabel)]
    if len(found) > 1:
        raise DatasetError(f"found {len(found)} ClassLabel columns ({', '.join(found)}) in {source}. Pass label_column")
    return found[0] if found else None


def _read_labels(feature: Any, column: str, values: list, source: str) -> tuple[list[int], list[str]]:
    """Return one label a row (-1 where the value is missing) and the class names."""
    import datasets

    if isinstance(feature, datasets.ClassLabel):
        return [-1 if value is None else value for value in values], list(feature.names)
    if not (isinstance(feature, datasets.Value) and feature.dtype.startswith(("int", "uint"))):
        raise DatasetError(
            f"label column {column!r} of {source} is {feature}, but it must be a ClassLabel or an integer column"
        )
    classes = sorted({value for value in values if value is not None})
    index_of = {value: index for index, value in enumerate(classes)}
    return [-1 if value is None else index_of[value] for value in values], [str(value) for value in classes]


def _split_captions(value: Any) -> list[str]:
    """Split a string, or each string of a list, into cleaned captions, one a line, and drop lines left blank."""
    texts = [value] if isinstance(value, str) else [text for text in value or [] if text is not None]
    captions = []
    for text in texts:
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            cleaned = clean_caption(line)
            if cleaned:
                captions.append(cleaned)
    return captions


def _is_text(feature: Any) -> bool:
    import datasets

    return isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")


def _describe_columns(features: datasets.Features) -> str:
    return ", ".join(f"{name} ({feature})" for name, feature in features.items())


def _describe_path(path: Path) -> str:
    if not path.is_dir():
        return "a file"
    entries = sorted(os.listdir(path))
    if not entries:
        return "an empty folder"
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    return f"a folder containing {shown}"
