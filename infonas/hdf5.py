"""HDF5 files written and read one way everywhere: atomic, checksummed, damage reported in one line.

Why each choice:
- the HDF5 1.10 file format (`LIBVER`) puts checksums on the superblock, the object headers (shape,
  dtype, layout, filters, attributes) and the chunk indexes, so damaged metadata fails to open
  instead of describing a different array;
- every dataset is chunked with the Fletcher-32 filter, so a damaged chunk fails its checksum when
  read instead of returning other numbers (a bit flip in an unchecksummed IO shard could change
  values silently);
- text attributes are stored as fixed-length UTF-8 (`set_attrs`), inside the checksummed object
  header; h5py's default variable-length strings live in the global heap, which has no checksum;
- no chunk cache while writing (`rdcc_nbytes=0`): with HDF5 2.0 / h5py 3.16 a cached chunk whose
  flush fails on a full disk crashes the interpreter when the file closes; without the cache the
  failing write raises an OSError in `create_dataset`, which `atomic_path` reports in one line;
- h5py reports damage as OSError, RuntimeError, KeyError, ValueError or TypeError with multi-line
  texts; readers get one InfonasError naming the file (and the dataset where known).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from infonas.errors import InfonasError, one_line
from infonas.files import atomic_path

LIBVER = ("v110", "latest")
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)
_REQUIRED = object()  # get_attr's "no default given"


@contextlib.contextmanager
def write_h5(path: str | os.PathLike) -> Iterator:
    """Open a new HDF5 file for writing at a temporary name, renamed onto `path` when complete."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w", libver=LIBVER, rdcc_nbytes=0) as handle:
        yield handle


def add_dataset(group, name: str, data, chunks: tuple[int, ...] | bool = True, **filters):
    """Create dataset `name` in `group`, chunked and Fletcher-32 checksummed.

    `chunks` is a chunk shape (clamped to the data's shape) or True for h5py's guess; an array with
    a zero-length axis always takes the guess, since an explicit chunk may not exceed the shape.
    `filters` are h5py's compression options (compression, compression_opts, shuffle).
    """
    data = np.asarray(data)
    if chunks is not True and all(data.shape):
        chunks = tuple(max(1, min(c, n)) for c, n in zip(chunks, data.shape))
    elif not all(data.shape):
        chunks = True
    return group.create_dataset(name, data=data, chunks=chunks, fletcher32=True, **filters)


def set_attrs(obj, **values) -> None:
    """Set attributes of a file, group or dataset; text is stored fixed-length (see module docstring)."""
    for key, value in values.items():
        obj.attrs[key] = np.bytes_(value.encode()) if isinstance(value, str) else value


def get_attr(obj, key: str, default=_REQUIRED):
    """An attribute as written by `set_attrs` (text back as str); absent: `default`, or a KeyError
    (which `read_h5` reports as an unreadable file) when no default is given."""
    if key not in obj.attrs and default is _REQUIRED:
        raise KeyError(f"attribute '{key}' missing")
    value = obj.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else value


@contextlib.contextmanager
def read_h5(path: str | os.PathLike, what: str) -> Iterator:
    """Open `path` for reading; a missing, foreign or damaged file is one InfonasError naming it.

    `what` names the kind of file in messages ("IO shard", "scaler file"). Errors raised by h5py
    anywhere inside the block (reading attributes, opening groups, failing checksums) are wrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise InfonasError(f"{path}: {what} not found")
    try:
        handle = h5py.File(path, "r")
    except H5_ERRORS as error:
        raise InfonasError(f"{path}: not a readable {what} ({one_line(error)})") from error
    try:
        with handle:
            yield handle
    except H5_ERRORS as error:
        raise InfonasError(f"{path}: not a readable {what} ({one_line(error)})") from error


def read_dataset(group, name: str) -> np.ndarray:
    """The whole dataset `name` of an open group; missing or damaged, the message names file and dataset."""
    where = f"{group.file.filename}:{posixpath.join(group.name, name)}"
    try:
        if name not in group:
            raise InfonasError(f"{where}: dataset missing")
        return group[name][()]
    except H5_ERRORS as error:
        raise InfonasError(f"{where}: cannot read ({one_line(error)})") from error
