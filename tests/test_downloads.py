"""Downloads against a local HTTP server: cached by URL, checksums, no partial files, timeouts."""

from __future__ import annotations

import hashlib
import http.server
import io
import pickle
import tarfile
import threading
import time
import urllib.error

import numpy as np
import pytest

from infonas import download as D
from infonas.data.images import load_source
from infonas.errors import InfonasError
from infonas.searchspace.store import fetch_if_url

FILES = {
    "/a/data.bin": b"first file " * 1000,
    "/b/data.bin": b"another file with the same name " * 100,
    "/big.bin": bytes(range(256)) * (3 * D.CHUNK_BYTES // 256 + 7),  # several chunks
}


class Server:
    """http.server on 127.0.0.1 in a thread: serves FILES, counts requests, can stall or truncate."""

    def __init__(self):
        self.requests: list[str] = []
        self.release = threading.Event()
        self.files = dict(FILES)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                if self.path.startswith("/stall"):
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"x" * 10)
                    self.wfile.flush()
                    server.release.wait(30)
                    return
                if self.path.startswith("/short"):
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"x" * 10)
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.close()


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_download_is_cached_by_url_not_by_file_name(server, tmp_path):
    first = fetch_if_url(server.url("/a/data.bin"), tmp_path, timeout_s=5)
    second = fetch_if_url(server.url("/b/data.bin"), tmp_path, timeout_s=5)
    assert first.read_bytes() == FILES["/a/data.bin"]
    assert second.read_bytes() == FILES["/b/data.bin"]
    assert first != second and first.name == second.name == "data.bin"
    again = fetch_if_url(server.url("/a/data.bin"), tmp_path, timeout_s=5)
    assert again == first and server.requests == ["/a/data.bin", "/b/data.bin"]
    assert first == D.cache_path(server.url("/a/data.bin"), tmp_path)


def test_large_download_streams_in_chunks_and_verifies(server, tmp_path, monkeypatch):
    url, body = server.url("/big.bin"), FILES["/big.bin"]
    monkeypatch.setitem(D.KNOWN_CHECKSUMS, url, D.Checksum("sha256", hashlib.sha256(body).hexdigest(), "this test"))
    assert fetch_if_url(url, tmp_path, timeout_s=5).read_bytes() == body


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_published_checksum_mismatch_names_url_and_leaves_no_file(server, tmp_path, monkeypatch, algorithm):
    url = server.url("/a/data.bin")
    wrong = D.Checksum(algorithm, hashlib.new(algorithm, b"something else").hexdigest(), "the test's list")
    monkeypatch.setitem(D.KNOWN_CHECKSUMS, url, wrong)
    with pytest.raises(InfonasError, match=f"searchspace.tfrecord: {url} has {algorithm} .* as published in the test's list"):
        fetch_if_url(url, tmp_path, timeout_s=5)
    assert _files(tmp_path) == []


def test_official_nb101_urls_have_published_sha256():
    for name in ("nasbench_full.tfrecord", "nasbench_only108.tfrecord"):
        checksum = D.KNOWN_CHECKSUMS[f"https://storage.googleapis.com/nasbench/{name}"]
        assert checksum.algorithm == "sha256" and len(checksum.hexdigest) == 64


def test_stalled_server_times_out_within_seconds_and_leaves_no_file(server, tmp_path):
    url = server.url("/stall/nasbench_only108.tfrecord")
    started = time.monotonic()
    with pytest.raises(InfonasError, match=f"searchspace.tfrecord: download of {url} stalled: no data for 0.5 s"):
        fetch_if_url(url, tmp_path, timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert _files(tmp_path) == []


def test_connection_closed_early_leaves_no_file(server, tmp_path):
    url = server.url("/short/file.bin")
    with pytest.raises(InfonasError, match="connection closed after 10 of 1000 bytes"):
        fetch_if_url(url, tmp_path, timeout_s=5)
    assert _files(tmp_path) == []


def test_http_error_names_url_and_status(server, tmp_path):
    url = server.url("/missing.bin")
    with pytest.raises(InfonasError, match=f"searchspace.tfrecord: cannot download {url}: HTTP 404"):
        fetch_if_url(url, tmp_path, timeout_s=5)


# ------------------------------------------------------------------------------ CIFAR-10


def _fake_cifar_archive() -> tuple[bytes, dict]:
    """A tar.gz in the layout of torchvision's CIFAR-10 archive: one train and one test batch."""
    rng = np.random.default_rng(0)
    members = {
        "data_batch_1": {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]},
        "test_batch": {"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), "labels": [4, 5]},
        "batches.meta": {"label_names": [str(i) for i in range(10)]},
    }
    payloads = {name: pickle.dumps(entry) for name, entry in members.items()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in payloads.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    md5s = {name: hashlib.md5(payload).hexdigest() for name, payload in payloads.items()}
    return buffer.getvalue(), md5s


@pytest.fixture
def fake_cifar(server, monkeypatch):
    """torchvision's CIFAR10 pointed at the local server's fake archive, with the fake's md5s."""
    from torchvision.datasets import CIFAR10

    archive, md5s = _fake_cifar_archive()
    server.files["/cifar/cifar-10-python.tar.gz"] = archive
    monkeypatch.setattr(CIFAR10, "url", server.url("/cifar/cifar-10-python.tar.gz"))
    monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(archive).hexdigest())
    monkeypatch.setattr(CIFAR10, "train_list", [["data_batch_1", md5s["data_batch_1"]]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5s["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names", "md5": md5s["batches.meta"]})
    return CIFAR10


def test_cifar10_is_downloaded_once_verified_and_unpacked(server, fake_cifar, tmp_path):
    data = load_source("cifar10", tmp_path, download_timeout_s=5)
    assert data.train_images.shape == (4, 32, 32, 3) and data.test_labels.tolist() == [4, 5]
    assert (tmp_path / "cifar-10-batches-py" / "data_batch_1").is_file()
    assert D.cache_path(fake_cifar.url, tmp_path).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no unpack leftovers
    load_source("cifar10", tmp_path, download_timeout_s=5)
    assert server.requests == ["/cifar/cifar-10-python.tar.gz"]


def test_cifar10_archive_with_wrong_md5_is_refused(server, fake_cifar, tmp_path, monkeypatch):
    monkeypatch.setattr(fake_cifar, "tgz_md5", "0" * 32)
    with pytest.raises(InfonasError, match="images.root .*has md5 .* as published in torchvision.datasets.CIFAR10"):
        load_source("cifar10", tmp_path, download_timeout_s=5)
    assert _files(tmp_path) == []


def test_cifar10_stalled_download_times_out(server, fake_cifar, tmp_path, monkeypatch):
    monkeypatch.setattr(fake_cifar, "url", server.url("/stall/cifar-10-python.tar.gz"))
    started = time.monotonic()
    with pytest.raises(InfonasError, match="stalled: no data for 0.5 s"):
        load_source("cifar10", tmp_path, download_timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert _files(tmp_path) == []


def test_cifar10_offline_names_root_and_url(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(D.urllib.request, "urlopen", offline)
    with pytest.raises(InfonasError, match=f"images.root \\({tmp_path}\\): cannot download .*cifar-10-python.tar.gz \\(no network\\)"):
        load_source("cifar10", tmp_path)
