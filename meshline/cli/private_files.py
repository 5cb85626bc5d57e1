"""Files under ``.meshline/`` that hold secrets or tenant data: private from the moment they exist.

Directories are made 0700 and files 0600 at creation (``mkdir``/``os.open`` with the mode),
never written first and narrowed after, so there is no moment when another local user could
read them. ``meshline up`` and the test mesh also give every child process a 0o077 umask, so
what the services create themselves (SQLite, Chroma, logs, Redis's append-only file) is private
too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents created 0700; an existing ``path`` is narrowed to 0700.

    Narrowing an existing directory closes a home made by an older version (0755): what it
    already holds becomes unreachable to others through it.
    """
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(DIR_MODE)
    return path


def _write_new(path: Path, text: str) -> Path:
    """A new file beside ``path`` holding ``text``, 0600 from its creation."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return tmp


def write_private(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` atomically; readers see the old or the new file, both 0600."""
    os.replace(_write_new(path, text), path)
    return path


def private_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in ``path``: made by ``make`` on first use (0600), the same one afterwards.

    The new file is complete before it appears under its name (a hard link, which also fails
    if another process got there first: then its secret is the one used).
    """
    if not path.exists():
        tmp = _write_new(path, make())
        try:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink()
    return path.read_text().strip()


def new_secret() -> str:
    """A random secret safe in URLs and config files (no quoting needed)."""
    return secrets.token_urlsafe(32)


def open_private_log(path: Path) -> BinaryIO:
    """``path`` opened for appending bytes, created 0600 if new (a process's log)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE), "ab")
