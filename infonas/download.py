"""Downloads that a run may need (the NB-101 tfrecord by URL, the CIFAR-10 archive), done once.

Every download goes through `cached_download`: it is cached under a folder named by a digest of
the URL (two URLs that end in the same file name never share a file), streamed to disk in chunks
(the 2 GB tfrecord never sits in memory), checked against a published checksum where one is
known, and renamed into place only when complete and verified. A server that sends nothing for
`timeout_s` seconds ends the download with a one-line error instead of a hung job.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.files import atomic_path

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
DEFAULT_TIMEOUT_S = 60.0


class Checksum(NamedTuple):
    """An expected digest of a file and where it was published (quoted when it does not match)."""

    algorithm: str  # a hashlib name: "sha256", "md5"
    hexdigest: str
    source: str


_NB101_README = "google-research/nasbench README.md, 'Download the dataset'"
#: Checksums published for the official NAS-Bench-101 files (the README gives sizes only roughly:
#: ~1.95 GB and ~499 MB), so a mirror of these URLs needs its own `checksum` argument.
KNOWN_CHECKSUMS: dict[str, Checksum] = {
    "https://storage.googleapis.com/nasbench/nasbench_full.tfrecord": Checksum(
        "sha256", "3d64db8180fb1b0207212f9032205064312b6907a3bbc81eabea10db2f5c7e9c", _NB101_README),
    "https://storage.googleapis.com/nasbench/nasbench_only108.tfrecord": Checksum(
        "sha256", "4c39c3936e36a85269881d659e44e61a245babcb72cb374eacacf75d0e5f4fd1", _NB101_README),
}


def is_url(location: str) -> bool:
    return str(location).startswith(("http://", "https://"))


def cache_path(url: str, cache_dir: str | os.PathLike) -> Path:
    """`cache_dir/downloads/<16 hex digits of sha256(url)>/<file name of the URL>`."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    name = Path(urllib.parse.urlsplit(url).path).name or "download"
    return Path(cache_dir) / "downloads" / digest / name


def cached_download(
    url: str,
    cache_dir: str | os.PathLike,
    *,
    checksum: Checksum | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    what: str = "download",
    progress: bool = False,
) -> Path:
    """Local path of `url`, downloaded into `cache_path(url, cache_dir)` on first use.

    `checksum` defaults to the published one of a known URL (`KNOWN_CHECKSUMS`). A mismatch, a
    short body, an HTTP error or a stall longer than `timeout_s` raises an InfonasError that starts
    with `what` (the config key the URL came from) and leaves no file behind.
    """
    target = cache_path(url, cache_dir)
    if target.is_file():
        log.info("%s: using %s (cached download of %s)", what, target, url)
        return target
    checksum = checksum or KNOWN_CHECKSUMS.get(url)
    log.info("%s: downloading %s to %s (%s)", what, url, target,
             f"{checksum.algorithm} checked" if checksum else "no published checksum")
    try:
        with atomic_path(target) as tmp:
            digest = _stream(url, tmp, checksum, timeout_s, progress)
            if checksum and digest != checksum.hexdigest.lower():
                raise InfonasError(
                    f"{what}: {url} has {checksum.algorithm} {digest}, not {checksum.hexdigest} "
                    f"as published in {checksum.source}; nothing kept"
                )
    except TimeoutError:
        raise InfonasError(f"{what}: download of {url} stalled: no data for {timeout_s:g} s "
                           "(config key download_timeout_s)") from None
    except urllib.error.HTTPError as error:
        raise InfonasError(f"{what}: cannot download {url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise InfonasError(f"{what}: cannot connect to {url} within {timeout_s:g} s "
                               "(config key download_timeout_s)") from None
        raise InfonasError(f"{what}: cannot download {url} ({error.reason})") from None
    except OSError as error:
        raise InfonasError(f"{what}: cannot download {url} ({error})") from None
    return target


def _stream(url: str, out: Path, checksum: Checksum | None, timeout_s: float, progress: bool) -> str | None:
    """Copy the response body to `out` in chunks, hashing as it goes; returns the hex digest.

    A body shorter than the announced Content-Length (a dropped connection) is an error here, so
    a truncated file is never cached even when no checksum is known.
    """
    hasher = hashlib.new(checksum.algorithm) if checksum else None
    with urllib.request.urlopen(url, timeout=timeout_s) as response, open(out, "wb") as handle:
        announced = response.headers.get("Content-Length")
        total = int(announced) if announced and announced.isdigit() else None
        received = 0
        name = Path(urllib.parse.urlsplit(url).path).name
        with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not progress) as bar:
            while chunk := response.read(CHUNK_BYTES):
                handle.write(chunk)
                if hasher:
                    hasher.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise OSError(f"connection closed after {received} of {total} bytes")
    return hasher.hexdigest() if hasher else None


def download_and_extract(
    url: str,
    dest_dir: str | os.PathLike,
    member: str,
    *,
    checksum: Checksum | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    what: str = "download",
    progress: bool = False,
) -> Path:
    """Download a tar archive (cached under `dest_dir`) and unpack its top folder `member` there.

    The archive is unpacked into a temporary sibling first and renamed onto `dest_dir/member`,
    replacing an older (e.g. corrupt) copy, so an interrupted unpack never looks complete.
    """
    dest = Path(dest_dir)
    archive = cached_download(url, dest, checksum=checksum, timeout_s=timeout_s, what=what, progress=progress)
    staging = dest / f".{member}.unpack{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        if not (staging / member).is_dir():
            raise InfonasError(f"{what}: {archive} holds no folder {member!r}")
        final = dest / member
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging / member, final)
    except (tarfile.TarError, OSError) as error:
        raise InfonasError(f"{what}: cannot unpack {archive} ({error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest / member
