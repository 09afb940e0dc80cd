"""Files that hold findings are the council's records: folders 0700, files 0600, whatever the umask.

Reports, the findings CSV and JSON, and the SQLite store name people and quote (masked) what
they wrote, so only the account that runs correspondence-guard may read them.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and any missing parents) as 0700 folders; an existing folder is left as it is."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is cut by the umask
    return path


def create_private(path: Path) -> None:
    """Make ``path`` an empty 0600 file if it does not exist (before a library opens it)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))


def open_private(path: Path, encoding: str = "utf-8", newline: str | None = None):  # type: ignore[no-untyped-def]
    """Open ``path`` for writing text, created or truncated, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # an existing file keeps its old mode otherwise
    return open(fd, "w", encoding=encoding, newline=newline)  # noqa: PTH123


def write_private(path: Path, text: str, encoding: str = "utf-8") -> None:
    with open_private(path, encoding=encoding) as f:
        f.write(text)
