"""Read Reed et al. `text_c10` caption files and write fallback captions from class names."""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path

from t2i.errors import DatasetError

# CSI sequences such as "\x1b[0m" or "\x1b[1;31m", then the two-character escape sequences
# (ESC followed by one byte in @..Z, \, ], ^, _), then any ESC left on its own.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\x1b")

_CLASS_NAME_TEMPLATES = (
    "a photo of {a} {name}",
    "this flower is {a} {name}",
    "{a} {name} in bloom",
    "a close-up photo of {a} {name} flower",
    "the flower in this picture is {a} {name}",
    "{a} {name} with its petals open",
    "a single {name} flower",
    "this is a picture of {a} {name}",
    "{a} {name} flower seen from above",
    "a photograph of {a} {name} blossom",
)

logger = logging.getLogger(__name__)


def read_caption_file(path: str | Path) -> tuple[list[str], int]:
    """Read one caption a line and return the cleaned captions and the number of fixes.

    Bytes that are not valid UTF-8 are dropped with a warning that names the file. Cleaning removes
    U+FFFD characters (from such bytes, or present in Reed et al.'s files) and ANSI escape
    sequences, collapses runs of whitespace to one space, strips each line and drops lines left
    blank. A fix is counted for each line changed or dropped. Line endings (LF, CRLF or CR) and a
    UTF-8 byte order mark are not counted as fixes.

    Raises:
        DatasetError: the file cannot be read.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"failed to read caption file {path}: {error}") from error

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # Reed et al.'s files contain stray invalid bytes, which are dropped. A file in another encoding
        # (Latin-1, say) loses its accented letters the same way, so the warning names the file.
        logger.warning(
            "Caption file %s is not valid UTF-8 (%s); its undecodable bytes were dropped. Save it as UTF-8 to keep"
            " every letter", path, error.reason,
        )
        text = data.decode("utf-8-sig", errors="replace")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        # The empty piece after the final line break is not a line of the file.
        lines.pop()

    captions = []
    fixes = 0
    for line in lines:
        cleaned = clean_caption(line)
        if cleaned:
            captions.append(cleaned)
        if cleaned != line or not cleaned:
            fixes += 1
    return captions, fixes


def clean_caption(line: str) -> str:
    """Remove U+FFFD characters and ANSI escape sequences, collapse whitespace and strip."""
    line = line.replace("\ufffd", "")
    line = _ANSI_ESCAPE.sub("", line)
    return " ".join(line.split())


def find_caption_file(
    captions_root: str | Path, class_folder: str | None, image_stem: str
) -> Path | None:
    """Find `<image_stem>.txt` in `captions_root/<class_folder>/`, else in any class folder.

    The search over all class folders covers layouts whose class folder names differ from the
    expected ones. When several folders contain the file, the first in sorted order wins.
    Returns None when no caption file exists.
    """
    captions_root = Path(captions_root)
    file_name = f"{image_stem}.txt"

    if class_folder:
        expected = captions_root / class_folder / file_name
        if expected.is_file():
            return expected

    matches = sorted(path for path in captions_root.glob(f"*/{file_name}") if path.is_file())
    if matches:
        return matches[0]
    return None


def class_name_captions(class_name: str, count: int = 10, seed: int = 0) -> list[str]:
    """Write `count` captions that name the class, for datasets without real captions.

    Each of the ten templates is used once before any repeats, in an order shuffled by `seed`,
    so the same seed always gives the same captions.

    Raises:
        ValueError: `class_name` is blank or `count` is negative.
    """
    name = " ".join(class_name.split())
    if not name:
        raise ValueError("class_name must not be blank")
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")

    # NOTE: the article follows the first letter only, so a name such as "hour flower" gets "a".
    article = "an" if name[0].lower() in "aeiou" else "a"
    rng = random.Random(seed)
    captions: list[str] = []
    while len(captions) < count:
        templates = list(_CLASS_NAME_TEMPLATES)
        rng.shuffle(templates)
        for template in templates[: count - len(captions)]:
            captions.append(template.format(a=article, name=name))
    return captions
