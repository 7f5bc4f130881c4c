"""Write output files only when their bytes change, so a rebuild leaves unchanged files alone."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["check_target", "write_if_changed"]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless the file already holds it; return whether it wrote.

    The new bytes go to a temporary file that then replaces ``path``, so a reader never sees half
    a picture.
    """
    if path.is_file() and _digest(path.read_bytes()) == _digest(data):
        return False
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def check_target(path: Path) -> str | None:
    """Say why a file cannot be written at ``path`` (missing folder, a folder), or None."""
    if not path.name:
        return "the file name is empty"
    if path.is_dir():
        return f"{path} is a folder"
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist"
    return None
