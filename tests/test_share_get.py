"""`noisebench get` against a loopback HTTP server started by the test (no outside network)."""

from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from official_format_fixtures import build_tiny_image_files  # noqa: E402


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.files; honours Range; can cut the body short (server.cut = [bytes, ...] per request)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *a):  # keep test output clean
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append(dict(self.headers))
        data = srv.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        start = 0
        m = re.match(r"bytes=(\d+)-$", self.headers.get("Range", "")) if srv.ranges else None
        if m:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.cut.pop(0) if srv.cut else None
        self.wfile.write(body[:cut] if cut is not None else body)
        if srv.stall:
            self.wfile.flush()
            srv.release.wait(10)
        if cut is not None:
            self.close_connection = True


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr("noisebench.share.fetch.RETRY_DELAY_S", 0.0)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.cut, srv.ranges, srv.stall = {}, [], [], True, False
    srv.release = threading.Event()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A tiny ψ file, its bytes and sha256."""
    paths = build_tiny_image_files(tmp_path_factory.mktemp("pub"), n_cifar_train=20, n_cifar_test=5,
                                   n_mnist_train=12, n_mnist_test=6)
    p = paths["cifar10-psi16"]
    data = p.read_bytes()
    return p, data, hashlib.sha256(data).hexdigest()


def test_get_success(server, published, tmp_path, cli):
    p, data, sha = published
    server.files["d/cifar10-psi16.h5"] = data
    r = cli("get", f"{server.url}/d/cifar10-psi16.h5", "--sha256", sha, "--out", tmp_path)
    assert r.code == 0, r.err
    assert (tmp_path / "cifar10-psi16.h5").read_bytes() == data
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cifar10-psi16.h5"]  # no .part or lock left
    r = cli("get", f"{server.url}/d/cifar10-psi16.h5", "--sha256", sha, "--out", tmp_path)
    assert r.code != 0 and "--force" in r.err  # no overwrite without --force
    assert cli("get", f"{server.url}/d/cifar10-psi16.h5", "--sha256", sha.upper(), "--out", tmp_path, "--force").code == 0


def test_truncated_download_is_resumed(server, published, tmp_path):
    from noisebench.share.fetch import fetch

    p, data, sha = published
    server.files["f.h5"] = data
    server.cut = [len(data) // 3]  # the first response stops a third of the way in
    out = fetch(f"{server.url}/f.h5", sha, out=tmp_path)
    assert out.read_bytes() == data
    assert "Range" not in server.requests[0] and server.requests[1]["Range"] == f"bytes={len(data) // 3}-"


def test_truncation_without_range_support_restarts(server, published, tmp_path):
    from noisebench.share.fetch import fetch

    _, data, sha = published
    server.files["f.h5"] = data
    server.ranges = False
    server.cut = [100]
    assert fetch(f"{server.url}/f.h5", sha, out=tmp_path).read_bytes() == data


def test_persistent_truncation_is_a_clear_error_then_resumes(server, published, tmp_path, cli):
    _, data, sha = published
    server.files["f.h5"] = data
    server.cut = [1000] * 2
    r = cli("get", f"{server.url}/f.h5", "--sha256", sha, "--out", tmp_path)
    # 4 attempts: the first two are cut, the next two complete the download
    assert r.code == 0 and (tmp_path / "f.h5").read_bytes() == data
    server.cut = [10] * 10
    r = cli("get", f"{server.url}/f.h5", "--sha256", sha, "--out", tmp_path / "b")
    assert r.code != 0 and r.err.startswith("error:") and "download failed after 4 attempts" in r.err
    assert "resume" in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "b" / "f.h5").exists() and (tmp_path / "b" / "f.h5.part").stat().st_size == 40
    server.cut = []
    r = cli("get", f"{server.url}/f.h5", "--sha256", sha, "--out", tmp_path / "b")  # rerun: resumes from byte 40
    assert r.code == 0 and (tmp_path / "b" / "f.h5").read_bytes() == data
    assert server.requests[-1]["Range"] == "bytes=40-"


def test_wrong_checksum_leaves_nothing(server, published, tmp_path, cli):
    _, data, sha = published
    server.files["f.h5"] = data
    wrong = hashlib.sha256(b"other").hexdigest()
    r = cli("get", f"{server.url}/f.h5", "--sha256", wrong, "--out", tmp_path)
    assert r.code == 1 and "sha256 mismatch" in r.err and "nothing was saved" in r.err  # README: 1 = verification mismatch
    assert len(r.err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_internal_checksum_mismatch_leaves_nothing(server, published, tmp_path, cli):
    """A file whose outer sha256 is as published but whose data no longer matches its own checksums."""
    p, _, _ = published
    bad = tmp_path / "src.h5"
    shutil.copy(p, bad)
    with h5py.File(bad, "a") as f:
        x = f["train/x"][:]
        x[0, 0, 0, 0] ^= 1
        f["train/x"][:] = x
    data = bad.read_bytes()
    server.files["bad.h5"] = data
    out = tmp_path / "out"
    r = cli("get", f"{server.url}/bad.h5", "--sha256", hashlib.sha256(data).hexdigest(), "--out", out)
    assert r.code != 0 and "internal checksum" in r.err and "train/x" in r.err
    assert list(out.iterdir()) == []


def test_file_url_and_bad_input(published, tmp_path, cli):
    p, data, sha = published
    r = cli("get", p.resolve().as_uri(), "--sha256", sha, "--out", tmp_path, "--name", "copy.h5")
    assert r.code == 0 and (tmp_path / "copy.h5").read_bytes() == data
    for args, msg in [((p.as_uri(), "--sha256", "abc"), "64 hexadecimal"),
                      (("ftp://example.org/x.h5", "--sha256", sha), "only http"),
                      ((p.as_uri(), "--sha256", sha, "--max-bytes", "1000"), "over the limit"),
                      (((tmp_path / "nope.h5").as_uri(), "--sha256", sha), "no such file"),
                      ((p.as_uri(), "--sha256", sha, "--name", "../x.h5"), "file name")]:
        r = cli("get", *args, "--out", tmp_path / "o")
        assert r.code != 0 and msg in r.err and len(r.err.strip().splitlines()) == 1, (args, r.err)


def test_http_errors_and_size_limit(server, published, tmp_path, cli):
    _, data, sha = published
    server.files["f.h5"] = data
    r = cli("get", f"{server.url}/missing.h5", "--sha256", sha, "--out", tmp_path)
    assert r.code != 0 and "HTTP 404" in r.err
    r = cli("get", f"{server.url}/f.h5", "--sha256", sha, "--out", tmp_path, "--max-bytes", str(len(data) - 1))
    assert r.code != 0 and "over the limit" in r.err
    assert not (tmp_path / "f.h5").exists()


def test_not_a_noisebench_file(server, tmp_path, cli):
    data = np.arange(1000, dtype=np.uint8).tobytes()
    server.files["x.h5"] = data
    r = cli("get", f"{server.url}/x.h5", "--sha256", hashlib.sha256(data).hexdigest(), "--out", tmp_path)
    assert r.code != 0 and "not a valid noisebench file" in r.err and list(tmp_path.iterdir()) == []


@pytest.mark.timeout(300)  # a hang guard, not a speed bound
def test_stalled_server_times_out(server, published, tmp_path, cli):
    """A server that sends part of the body and then goes silent: bounded by --timeout, no hang."""
    _, data, sha = published
    server.files["f.h5"] = data
    server.cut = [500] * 10
    server.stall = True
    r = cli("get", f"{server.url}/f.h5", "--sha256", sha, "--out", tmp_path, "--timeout", "0.3")
    assert r.code != 0 and "download failed" in r.err and not (tmp_path / "f.h5").exists()


def test_concurrent_get_of_the_same_file_is_refused(published, tmp_path, cli):
    import fcntl

    p, _, sha = published
    with open(tmp_path / ".x.h5.lock", "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = cli("get", p.resolve().as_uri(), "--sha256", sha, "--out", tmp_path, "--name", "x.h5")
    assert r.code != 0 and "another `noisebench get`" in r.err and not (tmp_path / "x.h5").exists()
    assert (tmp_path / ".x.h5.lock").exists()  # the other downloader's lock is left alone


def test_stale_part_of_other_content_is_redownloaded(server, published, tmp_path):
    from noisebench.share.fetch import fetch

    _, data, sha = published
    server.files["f.h5"] = data
    (tmp_path / "f.h5.part").write_bytes(b"x" * 100)  # left by a download of something else
    assert fetch(f"{server.url}/f.h5", sha, out=tmp_path).read_bytes() == data
    assert server.requests[0]["Range"] == "bytes=100-" and "Range" not in server.requests[1]
