"""MNIST-1D (Greydanus, 2020): ten 1-D digit templates, padded, sheared, shifted and noised.

The benchmark is *generated*, offline, by the `mnist1d` package (``make_dataset``), so the
same arguments give the same 4,000/1,000 split as the published table (logistic regression
32%, MLP 68%, CNN 94%, GRU 91%). The package's download and pickle helpers are never used.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np

__all__ = ["mnist1d"]

Arrays4 = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

_INSTALL_HINT = 'pip install "ndconv[examples]"  (or: pip install mnist1d)'


def _import_mnist1d() -> Any:
    try:
        import mnist1d.data as mnist1d_data
    except ImportError as exc:  # the package, or one of its own dependencies (scipy, ...)
        raise ImportError(
            f"mnist1d: the `mnist1d` package is needed to generate the dataset; "
            f"install it with {_INSTALL_HINT}. ({exc})"
        ) from exc
    return mnist1d_data


@functools.lru_cache(maxsize=4)
def _generate(seed: int, num_samples: int) -> Arrays4:
    data = _import_mnist1d()
    args = data.get_dataset_args()  # an ObjectView: make_dataset reads attributes
    args.seed, args.num_samples = seed, num_samples
    # make_dataset seeds Python's and NumPy's *global* generators; put them back afterwards.
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        d = data.make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
    x_train = d["x"].astype(np.float32)[:, None, :]  # (N, 1, 40)
    x_test = d["x_test"].astype(np.float32)[:, None, :]
    return x_train, d["y"].astype(np.int64), x_test, d["y_test"].astype(np.int64)


def mnist1d(seed: int = 42, num_samples: int = 5000) -> Arrays4:
    """Generate MNIST-1D with the `mnist1d` package's default arguments.

    ``seed=42, num_samples=5000`` is the published benchmark: 4,000 training and 1,000 test
    signals of length 40, 10 classes. Generation takes about a second; the result is cached
    per process and every call returns fresh copies. The global ``random`` and
    ``np.random`` states, which the package reseeds, are restored afterwards.

    Args:
        seed: the generator seed (42 is the benchmark).
        num_samples: total signals, split 80/20 into train and test.

    Returns:
        `(x_train, y_train, x_test, y_test)`: signals float32 `(N, 1, 40)` (zero mean, unit
        standard deviation over the whole set), labels int64 `(N,)`.

    Raises:
        ImportError: `mnist1d` is not installed (``pip install "ndconv[examples]"``).
        ValueError: `seed` or `num_samples` is not a non-negative / positive int.

    Examples:
        >>> x_train, y_train, x_test, y_test = mnist1d()
        >>> x_train.shape, y_train.shape, x_test.shape, x_train.dtype
        ((4000, 1, 40), (4000,), (1000, 1, 40), dtype('float32'))
    """
    for name, v, lo in (("seed", seed, 0), ("num_samples", num_samples, 10)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"mnist1d: `{name}` must be an int >= {lo}; got {name}={v!r}.")
    arrays = _generate(int(seed), int(num_samples))
    x_train, y_train, x_test, y_test = (a.copy() for a in arrays)
    return x_train, y_train, x_test, y_test
