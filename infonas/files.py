"""Files a job writes, resumes and holds: atomic outputs, full-disk errors, resume state, the directory lock.

One place for each, so that every stage, the workflow and the benchmarks write files the same way.
Light on purpose (no torch at import): the workflow uses it while it builds the DAG.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

from infonas.errors import InfonasError

_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# how a full disk reads once h5py (HDF5's error stack), torch or pandas have wrapped the OSError
_DISK_FULL_TEXTS = ("no space left on device", "disk quota exceeded", "errno = 28")


def is_disk_full(error: BaseException | None) -> bool:
    """Whether `error`, or an exception it was raised from or during, says the disk (or quota) is full."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
            return True
        if any(text in str(error).lower() for text in _DISK_FULL_TEXTS):
            return True
        error = error.__cause__ or error.__context__
    return False


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds.

    A killed or failing job therefore never leaves a file that looks complete.
    A full disk, however the writer inside reports it, becomes one InfonasError naming `path`.
    """
    final = Path(path)
    tmp = final.with_name(f".{final.name}.tmp{os.getpid()}")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, final)
    except Exception as error:
        if is_disk_full(error):
            raise InfonasError(f"{final}: no space left on device (the partial file was removed)") from error
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def save_torch(obj, path: str | os.PathLike) -> None:
    """torch.save atomically through a Python file object.

    Why the file object: given a path, torch writes with its own C++ stream and a full disk comes
    out as "unexpected pos"; through a Python file the OSError (errno 28) stays in the chain.
    """
    import torch  # lazy: the workflow imports this module while it builds the DAG

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


_WORKDIR_LOCK = None  # the open file whose flock marks this directory as in use by this process


def hold_directory_lock(path: str | os.PathLike = ".snakemake/infonas.lock") -> None:
    """Mark the working directory as used by this Snakemake run for the life of the process.

    Snakemake lets two runs share a directory when their outputs do not overlap, but the first to
    finish deletes `.snakemake/locks` as a whole, so a third run could then start a job the second
    is still running. Digest-keyed outputs are shared by every run, so two runs in one directory
    are refused outright: run several targets or variants (a sweep) in one invocation instead.
    """
    global _WORKDIR_LOCK
    if _WORKDIR_LOCK is not None:
        return
    lock = Path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise InfonasError(
            f"{lock}: another Snakemake run is active in this directory ({holder}); run one invocation "
            "with several targets or a sweep instead of two at once (Snakemake would delete its locks)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
    handle.flush()
    _WORKDIR_LOCK = handle


#: name of the content-hash cache in cache_dir (`content_fingerprint`)
FINGERPRINT_CACHE = "fingerprints.json"


def content_fingerprint(path: str | os.PathLike | None, cache_dir: str | os.PathLike | None = None) -> str | None:
    """SHA-256 (16 hex digits) of a local file's content, or of every file's name and content under a folder.

    Part of a stage's digest, so that an input file changed in place gives new outputs, even when its
    size and modification time were kept (`touch -r`, `rsync -t`, `cp -p`). Each file's hash is kept in
    `<cache_dir>/fingerprints.json` under its path, size, mtime, inode and ctime, so a large tfrecord
    is read once, not at every DAG build; ctime, which no tool can set back, catches a same-size edit
    whose mtime was restored. URLs and absent paths have none (downloads are cached by URL and
    verified; a missing file is the stage's own error).
    """
    if not path or "://" in str(path) or not os.path.exists(path):
        return None
    cache = _HashCache(Path(cache_dir) / FINGERPRINT_CACHE if cache_dir else None)
    if os.path.isfile(path):
        digest = cache.hash(Path(path))
    else:
        h = hashlib.sha256()
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = Path(root, name)
                h.update(f"{full.relative_to(path)}:{cache.hash(full)}\n".encode())
        digest = h.hexdigest()[:16]
    cache.save()
    return digest


class _HashCache:
    """Content hashes by absolute path, valid while (size, mtime_ns, inode, ctime_ns) stay the same.

    Many processes read it at once (every job builds the plan): it is replaced atomically and a
    write lost to another writer only means hashing that file again.
    """

    def __init__(self, path: Path | None):
        self.path, self.entries, self.changed = path, {}, False
        if path is not None and path.is_file():
            try:
                self.entries = json.loads(path.read_text())
            except ValueError:  # a damaged cache is rebuilt, never trusted
                self.entries = {}

    def hash(self, file: Path) -> str:
        st = file.stat()
        key, name = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns], str(file.resolve())
        entry = self.entries.get(name)
        if isinstance(entry, list) and entry[:4] == key:
            return entry[4]
        h = hashlib.sha256()
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
        self.entries[name], self.changed = key + [h.hexdigest()[:16]], True
        return self.entries[name][4]

    def save(self) -> None:
        if self.path is not None and self.changed:
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps(self.entries, sort_keys=True))


def input_stamp(paths, settings=None) -> dict:
    """Identity of a job's inputs (size and mtime of each file) and settings, for resume checks."""
    stats = {path: os.stat(path) for path in sorted(map(str, paths))}
    return {"inputs": {path: [st.st_size, st.st_mtime_ns] for path, st in stats.items()}, "settings": settings}


@contextlib.contextmanager
def resume_state(state_path, stamp: dict) -> Iterator[Path]:
    """Keep resume state (a checkpoint file or folder) only if it was written for these inputs.

    Resume state is never a declared output, so it survives a failed job; but when a setting or an
    upstream file changed, Snakemake reruns the job and the old state must not be resumed. The
    stamp sits beside the state and goes when the job has consumed its state.
    """
    state = Path(state_path)
    sidecar = state.with_name(state.name + ".inputs.json")
    fresh = json.loads(json.dumps(stamp))
    if state.exists() and (not sidecar.is_file() or json.loads(sidecar.read_text()) != fresh):
        logging.getLogger(__name__).info("discarding resume state %s: inputs changed", state)
        shutil.rmtree(state) if state.is_dir() else state.unlink()
    state.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(sidecar) as tmp:
        tmp.write_text(json.dumps(fresh))
    yield state
    if not state.exists():
        sidecar.unlink(missing_ok=True)
