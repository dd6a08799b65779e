"""Tests for download() against a local HTTP server on 127.0.0.1 serving generated files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import urllib.error

import pytest

from ndconv.data import download, sha256_file

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB: more than one read chunk
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/'srv' on 127.0.0.1 (port chosen by the OS); yield (base_url, requests)."""
    root = tmp_path / "srv"
    root.mkdir()
    (root / "blob.bin").write_bytes(PAYLOAD)
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_download_success(server, tmp_path):
    base, requests = server
    dest = tmp_path / "out" / "blob.bin"
    assert download(f"{base}/blob.bin", dest, SHA.upper()) == dest
    assert dest.read_bytes() == PAYLOAD
    assert requests == ["/blob.bin"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["blob.bin"]  # no temp file left


def test_checksum_mismatch_removes_partial_file(server, tmp_path):
    base, _ = server
    dest = tmp_path / "blob.bin"
    wrong = "0" * 64
    with pytest.raises(ValueError, match=f"SHA-256 mismatch .*expected {wrong}, got {SHA}"):
        download(f"{base}/blob.bin", dest, wrong)
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["srv"]


def test_already_present_file_is_not_fetched(server, tmp_path):
    base, requests = server
    dest = tmp_path / "blob.bin"
    dest.write_bytes(PAYLOAD)
    mtime = dest.stat().st_mtime_ns
    assert download(f"{base}/blob.bin", dest, SHA) == dest
    assert requests == []
    assert dest.stat().st_mtime_ns == mtime


def test_stale_file_is_replaced(server, tmp_path):
    base, requests = server
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"old and wrong")
    download(f"{base}/blob.bin", dest, SHA)
    assert requests == ["/blob.bin"]
    assert sha256_file(dest) == SHA


def test_http_error_leaves_nothing_behind(server, tmp_path):
    base, _ = server
    with pytest.raises(urllib.error.HTTPError, match="404"):
        download(f"{base}/missing.bin", tmp_path / "d" / "x.bin", SHA)
    assert list((tmp_path / "d").iterdir()) == []


@pytest.mark.parametrize(
    "url, sha, match",
    [
        ("file:///etc/passwd", SHA, "`url` must be http:// or https://; got 'file:///etc/passwd'"),
        ("http://127.0.0.1:9/x", "abc", "`sha256` must be 64 hex characters; got 'abc'"),
        ("http://127.0.0.1:9/x", "g" * 64, "`sha256` must be 64 hex characters"),
    ],
)
def test_argument_errors(tmp_path, url, sha, match):
    with pytest.raises(ValueError, match=match):
        download(url, tmp_path / "x", sha)
    assert list(tmp_path.iterdir()) == []
