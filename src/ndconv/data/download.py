"""Download a file with a SHA-256 check, atomically (for users with internet access)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = ["download", "sha256_file"]

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB chunks.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = pathlib.Path(d) / "f"
        ...     _ = p.write_bytes(b"abc")
        ...     sha256_file(p)[:16]
        'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: str | os.PathLike[str], sha256: str, timeout: float = 60.0) -> Path:
    """Download `url` to the file `dest`, verifying its SHA-256 digest.

    If `dest` already exists with the right digest nothing is fetched. Otherwise the data
    is streamed into a temporary file in `dest`'s folder, hashed on the way, flushed to
    disk, and moved onto `dest` with `os.replace` only if the digest matches — so `dest`
    is never a partial or unverified file. On any failure the temporary file is removed.

    Args:
        url: an ``http://`` or ``https://`` URL.
        dest: destination file path; its folder is created if needed.
        sha256: the expected digest, 64 hex characters (case-insensitive).
        timeout: socket timeout in seconds.

    Returns:
        `dest` as a `Path`.

    Raises:
        ValueError: bad `url` scheme or `sha256` format, or the downloaded data's digest
            differs from `sha256` (the message gives both).
        OSError: the request or the write failed (`urllib.error.URLError` is an OSError).
    """
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"download: `url` must be http:// or https://; got {url!r}.")
    expected = sha256.lower() if isinstance(sha256, str) else ""
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ValueError(f"download: `sha256` must be 64 hex characters; got {sha256!r}.")
    dest = Path(dest)
    if dest.is_file() and sha256_file(dest) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != expected:
            raise ValueError(
                f"download: SHA-256 mismatch for {url}: expected {expected}, got {got}; "
                f"the download was discarded and {dest} left unchanged."
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest
