"""Safe reading of legacy pickles from StackGAN / AttnGAN data folders, which are Python 2 pickles."""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path

from t2i.errors import DatasetError

# The only globals a legacy data pickle may reference: numpy arrays, scalars and dtypes, the
# protocol-0 helper that rebuilds them, and the codec call that Python 3 pickles use for byte
# buffers. Anything else (os.system, subprocess, eval) is rejected.
ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("__builtin__", "object"),
    ("builtins", "object"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
}
# Python 2 module names, mapped to their Python 3 names. numpy 1 paths (numpy.core) are mapped in find_class.
_RENAMED_MODULES = {"copy_reg": "copyreg", "__builtin__": "builtins"}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only ALLOWED_GLOBALS and raises UnpicklingError for any other global."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a legacy data pickle (only plain containers and numpy arrays)"
            )
        module = _RENAMED_MODULES.get(module, module)
        if module.startswith("numpy.core"):
            try:
                return getattr(importlib.import_module(module.replace("numpy.core", "numpy._core", 1)), name)
            except ImportError:
                pass
        return getattr(importlib.import_module(module), name)


def load_legacy_pickle(path: str | Path) -> object:
    """Load a Python 2 or 3 pickle of plain containers and numpy arrays without running any other code.

    Protocol-0 pickles are text, so CRLF line endings (as in copies that went through a Windows
    checkout) are turned back into LF first. A plain pickle.load would keep a stray "\\r" on every
    string. Python 2 byte strings are decoded as Latin-1, which numpy needs for array buffers.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"failed to read legacy pickle {path}: {error}") from error
    if not data.startswith(b"\x80"):
        data = data.replace(b"\r\n", b"\n")
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as error:
        raise DatasetError(f"rejected legacy pickle {path}: {error}") from error
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise DatasetError(f"legacy pickle {path} is truncated or malformed: {error}") from error


def read_split_filenames(path: str | Path) -> list[str]:
    """Read a StackGAN / AttnGAN `filenames.pickle`: image keys such as "002.Laysan_Albatross/Laysan_Albatross_0002_1027"."""
    keys = load_legacy_pickle(path)
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise DatasetError(f"{path} must contain a list of image keys, but it contains a {type(keys).__name__}")
    return [key.strip() for key in keys]


def read_class_info(path: str | Path) -> list[int]:
    """Read a StackGAN / AttnGAN `class_info.pickle`: one class id per key of the matching filenames.pickle."""
    ids = load_legacy_pickle(path)
    if not isinstance(ids, list):
        raise DatasetError(f"{path} must contain a list of class ids, but it contains a {type(ids).__name__}")
    try:
        return [int(class_id) for class_id in ids]
    except (TypeError, ValueError) as error:
        raise DatasetError(f"{path} contains an invalid class id (not an integer): {error}") from error
