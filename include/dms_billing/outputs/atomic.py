"""Atomic writes: a reader sees the old file or the whole new one, never a partial one.

On a local disk the file is written beside its target and renamed over it. On an object store
an object becomes visible only when its upload completes (one PUT, or a multipart upload that
is completed last), so the whole content is uploaded in one write; a library that must write to
a file name (pyarrow's writer, WeasyPrint, GX's Data Docs) writes to a local temporary file first.

Every output holds personal data (names, logins), so local files are created owner/group-readable
only (0640), never world-readable.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from include.dms_billing.outputs.storage import StoragePath, is_local, remove_tree

FILE_MODE = 0o640


@contextmanager
def _local_temporary(folder: Path | None, name: str) -> Iterator[Path]:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(target: StoragePath) -> Iterator[Path]:
    """Yield a local temporary path; on success its content replaces ``target`` whole.

    For a local target the temporary file lives in the same folder so the rename is atomic; on
    error it is removed and ``target`` is untouched.
    """
    local = is_local(target)
    with _local_temporary(target.parent if local else None, target.name) as tmp:
        yield tmp
        if local:
            os.chmod(tmp, FILE_MODE)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        else:
            write_bytes(target, tmp.read_bytes())


def write_bytes(target: StoragePath, data: bytes) -> StoragePath:
    if not is_local(target):
        target.write_bytes(data)  # one upload: the object appears whole or not at all
        return target
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def write_text(target: StoragePath, text: str) -> StoragePath:
    return write_bytes(target, text.encode("utf-8"))


def copy_tree(source: Path, target: StoragePath) -> None:
    """Write every file of a local folder under ``target``, each one atomically."""
    for file in sorted(source.rglob("*")):
        if file.is_file() and not file.is_symlink():
            write_bytes(target.joinpath(*file.relative_to(source).parts), file.read_bytes())


def replace_tree(source: Path, target: StoragePath) -> None:
    """Replace the folder ``target`` with a copy of the local folder ``source`` (GX's Data Docs).

    Locally the copy is made beside ``target`` and swapped in by renames, so the folder holds
    the old tree or the new one; on an object store the old objects are removed first.
    """
    if not is_local(target):
        remove_tree(target)
        copy_tree(source, target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    old = staging.with_name(staging.name + ".old")
    try:
        copy_tree(source, staging)
        if target.exists():
            target.rename(old)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
