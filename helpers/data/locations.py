"""Where an input lies: a path on this machine, or a URL on shared storage (`s3a://`,
`hdfs://`, `gs://`, `abfs://`, `file://`) that Spark reads where it lies. Here, on the batch's
machine, a URL is listed, its Parquet schema read and any file pandas must read copied
through pyarrow's filesystems, which take the same URLs (`s3a://` as `s3://`) and find
credentials where Hadoop's connectors do (the AWS_* variables, ~/.aws, the cloud's own)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from helpers.core.config import is_url

Location = Path | str  # a URL is a str
ARROW_SCHEMES = {"s3a": "s3", "s3n": "s3"}  # Hadoop's names for what pyarrow calls s3


def name_of(location: Location) -> str:
    """The file's name, without its folder."""
    return PurePosixPath(str(location)).name


def suffix_of(location: Location) -> str:
    """The file's extension in lower case ('.csv'), or '' without one."""
    return PurePosixPath(str(location)).suffix.lower()


def joined(folder: Location, name: str) -> Location:
    """A file named in the params (`files.<table>`), in `folder` unless it is an absolute
    path or a URL."""
    if is_url(name):
        return name
    if Path(name).is_absolute():
        return Path(name)
    if isinstance(folder, Path):
        return folder / name
    return f"{folder.rstrip('/')}/{name}"


def files_in(folder: Location) -> list[Location]:
    """The files in a folder (not in its subfolders), in name order."""
    if isinstance(folder, Path):
        return [path for path in sorted(folder.iterdir()) if path.is_file()]
    system, path = _arrow(folder)
    found = system.get_file_info(fs.FileSelector(path))
    names = sorted(info.base_name for info in found if info.type == fs.FileType.File)
    return [f"{folder.rstrip('/')}/{name}" for name in names]


def is_file(location: Location) -> bool:
    """Whether a file (not a folder) lies there."""
    if isinstance(location, Path):
        return location.is_file()
    system, path = _arrow(location)
    return system.get_file_info(path).type == fs.FileType.File


def parquet_schema(location: Location) -> pa.Schema:
    """A Parquet file's schema, from its footer only."""
    if isinstance(location, Path):
        return pq.read_schema(location)
    system, path = _arrow(location)
    return pq.read_schema(path, filesystem=system)


@contextmanager
def on_this_machine(location: Location) -> Iterator[Path]:
    """A local path to the file: itself, or a temporary copy of a URL's file (removed after)."""
    if isinstance(location, Path):
        yield location
        return
    system, path = _arrow(location)
    with tempfile.TemporaryDirectory(prefix="opsreport-input-") as folder:
        copy = Path(folder) / name_of(location)
        fs.copy_files(path, str(copy), source_filesystem=system)
        yield copy


def _arrow(url: str) -> tuple[fs.FileSystem, str]:
    """pyarrow's filesystem for a URL, and the path within it."""
    return fs.FileSystem.from_uri(arrow_url(url))


def arrow_url(url: str) -> str:
    """A URL as pyarrow names it: Hadoop's s3a:// and s3n:// are its s3://."""
    scheme, rest = url.split("://", 1)
    return f"{ARROW_SCHEMES.get(scheme.lower(), scheme)}://{rest}"
