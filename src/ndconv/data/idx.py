"""The IDX file format of MNIST, Fashion-MNIST and KMNIST, read with NumPy.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then `ndim`
big-endian uint32 sizes, then the values in C order, big-endian. The files are often
gzip-compressed; compression is recognised by its magic bytes, not the file name.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx", "load_idx_dataset"]

# IDX type code -> big-endian NumPy dtype (LeCun's specification).
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Read a file, decompressing it when it starts with the gzip magic bytes."""
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"read_idx: {path} is a corrupt or truncated gzip file ({exc}).") from exc


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian NumPy array.

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        The array with the header's shape and dtype (uint8 for MNIST-style files).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: bad magic number, unknown dtype code, or a size that does not match the
            header (a truncated or corrupt file); the message names `path`.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = pathlib.Path(d) / "a-idx2-ubyte"
        ...     write_idx(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
        ...     a = read_idx(p)
        >>> a
        array([[0, 1, 2],
               [3, 4, 5]], dtype=uint8)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_idx: no such file: {path}")
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"read_idx: {path} is too short to be an IDX file: {len(data)} bytes, "
            f"need at least a 4-byte magic number."
        )
    zero0, zero1, code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0 or code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(
            f"read_idx: {path} has a bad magic number 0x{data[:4].hex().upper()}; an IDX file "
            f"starts with 0x0000TTDD where TT is a dtype code ({known}) and DD the number of dims."
        )
    if ndim == 0:
        raise ValueError(f"read_idx: {path} declares 0 dimensions in its magic number; need >= 1.")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"read_idx: {path} is truncated: header needs {header} bytes for {ndim} dims, "
            f"file has {len(data)}."
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"read_idx: {path} does not match its header: shape {shape} of {dtype.name} needs "
            f"{expected} data bytes, file has {len(data) - header} (truncated or corrupt)."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def write_idx(path: str | os.PathLike[str], array: np.ndarray, compress: bool = False) -> None:
    """Write `array` as an IDX file (the inverse of `read_idx`; used to make test data).

    Args:
        path: destination file.
        array: an array of a dtype IDX can hold (uint8, int8, int16, int32, float32, float64).
        compress: gzip the file.

    Raises:
        TypeError: the dtype has no IDX type code.
        ValueError: `array` is 0-D or has more than 255 dims.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise TypeError(
            f"write_idx: `array` dtype must be one of uint8, int8, int16, int32, float32, "
            f"float64; got {array.dtype}."
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: `array` must have 1..255 dims; got shape {array.shape}.")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    Path(path).write_bytes(gzip.compress(payload) if compress else payload)


def _find_idx_file(directory: Path, stem: str) -> Path:
    """Return `directory/stem` or `directory/stem.gz`, whichever exists."""
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(
        f"load_idx_dataset: no {stem} or {stem}.gz in {directory}; the directory must hold "
        f"the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each raw or .gz)."
    )


def _load_split(directory: Path, prefix: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = _find_idx_file(directory, f"{prefix}{split}-images-idx3-ubyte")
    labels_path = _find_idx_file(directory, f"{prefix}{split}-labels-idx1-ubyte")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"load_idx_dataset: {images_path} must hold uint8 images (N, H, W); "
            f"got {images.dtype} of shape {images.shape}."
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"load_idx_dataset: {labels_path} must hold one label per image "
            f"({len(images)} in {images_path.name}); got shape {labels.shape}."
        )
    x = (images[:, None] / np.float32(255)).astype(np.float32)  # (N, 1, H, W)
    return x, labels.astype(np.int64)


def load_idx_dataset(
    directory: str | os.PathLike[str], prefix: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load an MNIST-style train/test split from the four IDX files in `directory`.

    The files are ``{prefix}train-images-idx3-ubyte``, ``{prefix}train-labels-idx1-ubyte``,
    ``{prefix}t10k-images-idx3-ubyte`` and ``{prefix}t10k-labels-idx1-ubyte``, each raw or
    with ``.gz`` — the names used by MNIST, Fashion-MNIST and KMNIST.

    Args:
        directory: folder holding the files.
        prefix: text before each file name (empty for the standard names).

    Returns:
        `(x_train, y_train, x_test, y_test)`: images float32 `(N, 1, H, W)` in [0, 1],
        labels int64 `(N,)`.

    Raises:
        FileNotFoundError: a file is missing (the message lists the expected names).
        ValueError: a file is corrupt, or images and labels do not match.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"load_idx_dataset: `directory` is not a directory: {directory}")
    x_train, y_train = _load_split(directory, prefix, "train")
    x_test, y_test = _load_split(directory, prefix, "t10k")
    return x_train, y_train, x_test, y_test
