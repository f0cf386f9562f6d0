"""Outputs that appear whole or not at all.

Every command writes its outputs to a temporary path next to the target and renames it
when complete: a failed run leaves no half-written or empty file behind, and an existing
output stays as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from patdnn.errors import PatdnnError

__all__ = ["OutputError", "PendingFile", "atomic_file", "check_writable", "staged_directory"]


class OutputError(PatdnnError, OSError):
    """An output path cannot be written; the message names it."""


def check_writable(path: str | Path, *, directory: bool = False) -> Path:
    """`path` as a Path after checking, before any work, that it can be written: its
    parent is an existing directory and it is not a directory (a file if `directory`)."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{target}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{target}: the directory {parent} is not writable")
    if directory and target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a directory")
    if not directory and target.is_dir():
        raise OutputError(f"{target}: is a directory, expected a file name")
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class PendingFile:
    """An output written at a temporary name next to its target: `commit()` renames it to
    the target, `discard()` removes it. For writers that own the stream (`patdnn-opt`)."""

    def __init__(self, path: str | Path, mode: str = "w") -> None:
        self.target = check_writable(path)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.target.name}.", suffix=".tmp", dir=self.target.parent
        )
        self.path = Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # the mode a plain open() would give
        self.stream: IO[Any] = os.fdopen(fd, mode)

    def commit(self) -> None:
        self.stream.close()
        os.replace(self.path, self.target)

    def discard(self) -> None:
        self.stream.close()
        self.path.unlink(missing_ok=True)


@contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file open for writing at a temporary name next to `path`, renamed to `path` when
    the block completes and removed when it raises."""
    pending = PendingFile(path, mode)
    try:
        yield pending.stream
    except BaseException:
        pending.discard()
        raise
    pending.commit()


@contextmanager
def staged_directory(path: str | Path, *, last: Sequence[str] = ()) -> Iterator[Path]:
    """A scratch directory next to `path` to write outputs into. When the block completes
    its files move into `path` (created if missing; the names in `last` move last, e.g. a
    manifest); when it raises, the scratch directory is removed and `path` is untouched."""
    target = check_writable(path, directory=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(stage, 0o777 & ~_umask())
        yield stage
        if not target.exists():
            os.replace(stage, target)
            return
        names = sorted(p.name for p in stage.iterdir())
        for name in [n for n in names if n not in last] + [n for n in last if n in names]:
            os.replace(stage / name, target / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
