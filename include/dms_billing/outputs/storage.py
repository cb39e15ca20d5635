"""Where the outputs are stored: a local folder or an object store, behind one path type.

``DMS_BILLING_DATA`` is a folder (the default, ``./data``) or an object-store URL such as
``s3://conn_id@bucket/prefix``. A folder is a ``pathlib.Path``; a URL is a universal_pathlib
path (fsspec). Inside Airflow the adapter package registers Airflow's ``ObjectStoragePath`` for
URLs (``use_remote_paths``), which takes its credentials from the Airflow connection named in
the URL's user part; elsewhere (a CLI, a test) fsspec's own credentials apply.

Every module that reads or writes an output goes through these paths and the helpers here and
in ``atomic.py``, never through a local file name, so tasks of one run may land on hosts that
share no disk.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from upath import UPath

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

StoragePath = Path | UPath

_remote_path: Callable[[str], UPath] = UPath


def use_remote_paths(factory: Callable[[str], UPath]) -> None:
    """Build object-store paths with ``factory`` from now on (the Airflow adapter's ObjectStoragePath)."""
    global _remote_path
    _remote_path = factory


def is_url(location: str) -> bool:
    return "://" in location


def storage_path(location: str | os.PathLike[str]) -> StoragePath:
    """The path for a folder name or an object-store URL, e.g. a path handed over in an XCom."""
    text = os.fspath(location)
    return _remote_path(text) if is_url(text) else Path(text)


def is_local(path: StoragePath) -> bool:
    """A path on this host's file system: renames are atomic there, and libraries may write to it."""
    return isinstance(path, Path)


@contextmanager
def readable(path: StoragePath) -> Iterator[str | IO[bytes]]:
    """What pyarrow reads: the file name of a local file (memory-mapped), else an open object."""
    if is_local(path):
        yield str(path)
    else:
        with path.open("rb") as fh:
            yield fh


def read_table(path: StoragePath, columns: Sequence[str] | None = None) -> pa.Table:
    import pyarrow.parquet as pq

    with readable(path) as source:
        return pq.read_table(source, columns=list(columns) if columns is not None else None)


def read_frame(path: StoragePath, columns: Sequence[str] | None = None) -> pd.DataFrame:
    return read_table(path, columns).to_pandas()


def parquet_rows(path: StoragePath) -> int:
    import pyarrow.parquet as pq

    with readable(path) as source:
        return pq.ParquetFile(source).metadata.num_rows


def remove_tree(path: StoragePath) -> None:
    """Remove a folder (a local one, or every object under a prefix); nothing if it is not there."""
    if is_local(path):
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.fs.rm(path.path, recursive=True)

