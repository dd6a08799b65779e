"""conv_matrix: the explicit matrix of a convolution, ranks 1-4, every padding form and mode.

The two identities that define it are checked on hypothesis-generated configurations
(channels with groups, kernel, stride, dilation, int / per-axis / (lo, hi) pairs / "valid" /
"same" (also strided) padding, zeros / reflect / replicate / circular), in float64 to 1e-10:

* ``M @ x.ravel() == F.conv(x, w, ...).ravel()``;
* ``M.T @ y.ravel() == F.conv_transpose(y, w, ...).ravel()`` -- the transposed convolution is
  the adjoint of the convolution, for every padding mode.

Then the structure the docstring promises (Toeplitz, doubly-block-Toeplitz, circulant), taps
that fold onto one input pixel adding up, the backprop gradient, a PyTorch cross-check, the
sparse path and the error messages.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ndconv as nc
import ndconv.nn.functional as F
from ndconv.analysis import conv_matrix
from ndconv.shapes import normalize_padding

MODES = ("zeros", "reflect", "replicate", "circular")
FORMS = ("int", "tuple", "pairs", "valid", "same")
TOL = 1e-10
EXAMPLES = 100  # per rank
# Extra input size beyond the minimum that fits, per rank: keeps a rank-4 matrix ~500 x 500.
EXTRA = {1: 5, 2: 3, 3: 2, 4: 1}


@st.composite
def conv_case(draw: Any, n: int) -> dict[str, Any]:
    """Draw one valid convolution configuration of rank ``n`` (and whether to go sparse)."""
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    form = draw(st.sampled_from(FORMS))
    mode = draw(st.sampled_from(MODES))
    if form == "int":
        p = draw(st.integers(0, 2))
        padding: Any = p
        pairs = [(p, p)] * n
    elif form == "tuple":
        padding = tuple(draw(st.integers(0, 2)) for _ in range(n))
        pairs = [(p, p) for p in padding]
    elif form == "pairs":
        pairs = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(n)]
        padding = pairs
    else:
        padding = form
        pairs = [(0, 0)] * n
    size = []
    for i in range(n):
        e = dilation[i] * (kernel[i] - 1) + 1
        lo, hi = pairs[i]
        if form == "same":  # its hi <= e // 2, so size > e // 2 fits every mode
            need = e // 2 + 1
        else:
            need = max(1, e - lo - hi)
            if mode == "reflect":
                need = max(need, lo + 1, hi + 1)
            elif mode == "circular":
                need = max(need, lo, hi)
        size.append(need + draw(st.integers(0, EXTRA[n])))
    return dict(
        groups=groups,
        c_in=c_in,
        c_out=c_out,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
        form=form,
        mode=mode,
        size=tuple(size),
        sparse=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def check_identities(c: dict[str, Any]) -> None:
    rng = np.random.default_rng(c["seed"])
    w = rng.standard_normal((c["c_out"], c["c_in"] // c["groups"]) + c["kernel"])
    x = rng.standard_normal((c["c_in"],) + c["size"])
    kw = dict(stride=c["stride"], dilation=c["dilation"], groups=c["groups"], padding_mode=c["mode"])
    m = conv_matrix(x.shape, w, padding=c["padding"], **kw)
    y = F.conv(x, w, None, padding=c["padding"], **kw).numpy()  # (C_out, *O), unbatched
    assert isinstance(m, np.ndarray) and m.dtype == np.float64
    assert m.shape == (y.size, x.size)
    np.testing.assert_allclose(m @ x.ravel(), y.ravel(), rtol=TOL, atol=TOL)

    # The adjoint: the transposed convolution with the same arguments. 'same' and (lo, hi)
    # pairs go in as explicit pairs; output_padding restores the input pixels that no window
    # reached (the floor in the output-size formula).
    n = len(c["size"])
    pairs = normalize_padding(c["padding"], n, "test", c["kernel"], c["stride"], c["dilation"], c["size"])
    out_pad = tuple(
        (s + lo + hi - d * (k - 1) - 1) % st
        for s, (lo, hi), d, k, st in zip(c["size"], pairs, c["dilation"], c["kernel"], c["stride"])
    )
    padding_t = c["padding"] if c["form"] in ("int", "tuple", "valid") else pairs  # torch-style args too
    g = rng.standard_normal(y.shape)
    xt = F.conv_transpose(g, w, None, padding=padding_t, output_padding=out_pad, **kw).numpy()
    assert xt.shape == x.shape
    np.testing.assert_allclose(m.T @ g.ravel(), xt.ravel(), rtol=TOL, atol=TOL)

    if c["sparse"]:
        s = conv_matrix(x.shape, w, padding=c["padding"], sparse=True, **kw)
        assert s.format == "csr" and s.shape == m.shape
        np.testing.assert_allclose(s.toarray(), m, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_matrix_is_the_convolution_and_its_transpose_the_transposed_convolution(n: int) -> None:
    settings(max_examples=EXAMPLES)(given(conv_case(n))(check_identities))()


# --- structure ----------------------------------------------------------------------------


def test_1d_stride_1_is_toeplitz() -> None:
    w = np.array([[[1.0, 2.0, 3.0]]])
    m = conv_matrix((1, 6), w, padding=1)
    np.testing.assert_array_equal(m[1:, 1:], m[:-1, :-1])  # constant along every diagonal
    np.testing.assert_array_equal(m[2], [0, 1, 2, 3, 0, 0])


def test_1d_stride_keeps_every_stride_th_row_and_dilation_spreads_taps() -> None:
    w = np.array([[[1.0, 2.0, 3.0]]])
    full = conv_matrix((1, 9), w)
    np.testing.assert_array_equal(conv_matrix((1, 9), w, stride=2), full[::2])
    np.testing.assert_array_equal(conv_matrix((1, 9), w, dilation=2)[0], [1, 0, 2, 0, 3, 0, 0, 0, 0])


def test_2d_is_doubly_block_toeplitz() -> None:
    w = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    h, wd = 5, 4
    m = conv_matrix((1, h, wd), w, padding=1)  # (h*wd, h*wd): an h x h grid of wd x wd blocks
    blocks = m.reshape(h, wd, h, wd).transpose(0, 2, 1, 3)  # (block row, block col, wd, wd)
    for r in range(1, h):
        np.testing.assert_array_equal(blocks[r, 1:], blocks[r - 1, :-1])  # Toeplitz in blocks
    for b in blocks.reshape(-1, wd, wd):
        np.testing.assert_array_equal(b[1:, 1:], b[:-1, :-1])  # each block Toeplitz
    np.testing.assert_array_equal(blocks[0, 0], conv_matrix((1, wd), w[:, :, 1], padding=1))


def test_circular_1d_is_circulant() -> None:
    w = np.array([[[1.0, 2.0, 3.0]]])
    m = conv_matrix((1, 5), w, padding=1, padding_mode="circular")
    for i in range(1, 5):
        np.testing.assert_array_equal(m[i], np.roll(m[0], i))


@pytest.mark.parametrize("mode", ["reflect", "circular"])
@pytest.mark.parametrize("sparse", [False, True])
def test_taps_folding_onto_one_pixel_add_up(mode: str, sparse: bool) -> None:
    # Size 2, kernel 3, padding 1: the window of output 0 reads input (1, 0, 1) under both
    # reflect and circular padding, so taps a and c both land on input 1.
    a, b, c = 2.0, 3.0, 5.0
    m = conv_matrix((1, 2), np.array([[[a, b, c]]]), padding=1, padding_mode=mode, sparse=sparse)
    dense = m.toarray() if sparse else m
    np.testing.assert_array_equal(dense, [[b, a + c], [a + c, b]])


def test_transpose_is_the_input_gradient() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2, 3, 2))
    x = nc.tensor(rng.standard_normal((1, 2, 6, 5)), requires_grad=True)
    g = rng.standard_normal((1, 3, 3, 3))
    y = F.conv(x, w, stride=2, padding="same", padding_mode="reflect")
    (y * nc.tensor(g)).sum().backward()
    m = conv_matrix((2, 6, 5), w, stride=2, padding="same", padding_mode="reflect")
    np.testing.assert_allclose(m.T @ g.ravel(), x.grad.ravel(), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("mode", MODES)
def test_against_torch(torch: Any, mode: str) -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 1, 3, 2))
    x = rng.standard_normal((2, 5, 6))
    m = conv_matrix(x.shape, w, stride=(1, 2), padding=1, dilation=(2, 1), groups=2, padding_mode=mode)
    conv = torch.nn.Conv2d(
        2, 4, (3, 2), stride=(1, 2), padding=1, dilation=(2, 1), groups=2, bias=False, padding_mode=mode
    ).double()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w))
        expected = conv(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(m @ x.ravel(), expected.ravel(), rtol=TOL, atol=TOL)


def test_dtype_follows_the_weight() -> None:
    assert conv_matrix((1, 4), np.ones((1, 1, 2), np.float32)).dtype == np.float32
    m = conv_matrix((1, 4), np.ones((1, 1, 2), np.int64))
    assert m.dtype == np.float64
    np.testing.assert_array_equal(m, [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]])
    assert conv_matrix((1, 4), nc.tensor(np.ones((1, 1, 2)))).shape == (3, 4)  # a Tensor weight


def test_sparse_stores_no_zeros_and_scales() -> None:
    w = np.ones((8, 8, 3, 3))
    s = conv_matrix((8, 32, 32), w, padding=1, sparse=True)  # dense would be 8192 x 8192
    assert s.shape == (8 * 32 * 32, 8 * 32 * 32)
    assert s.nnz == 8 * 8 * (30 * 30 * 9 + 4 * 30 * 6 + 4 * 4)  # interior, edges, corners


def test_sparse_without_scipy_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    with pytest.raises(ImportError, match="sparse=True needs SciPy"):
        conv_matrix((1, 4), np.ones((1, 1, 2)), sparse=True)
    conv_matrix((1, 4), np.ones((1, 1, 2)))  # the dense path never imports scipy


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(input_shape=(1, 4, 4)), ValueError, r"`input_shape` must be \(C_in, \*S\) with 1 spatial"),
        (dict(input_shape=4), TypeError, "`input_shape` must be a sequence"),
        (dict(input_shape=(1, 0)), ValueError, "`input_shape` entries must be >= 1"),
        (dict(weight=np.ones((1, 3))), ValueError, "at least one spatial axis"),
        (dict(weight=np.array([[["a", "b"]]])), TypeError, "`weight` must hold real numbers"),
        (dict(input_shape=(2, 4)), ValueError, "in_channels // groups = 2"),
        (dict(groups=2), ValueError, "`groups` must be >= 1 and divide"),
        (dict(groups=1.0), TypeError, "`groups` must be an int"),
        (dict(padding_mode="mirror"), ValueError, "`padding_mode` must be one of"),
        (dict(padding=4, padding_mode="reflect"), ValueError, "reflect padding must be smaller"),
        (dict(padding="full"), ValueError, "'valid' or 'same'"),
        (dict(stride=0), ValueError, "`stride` entries must be >= 1"),
        (dict(weight=np.ones((1, 1, 9))), ValueError, "the kernel does not fit"),
    ],
)
def test_errors_name_the_argument(kwargs: dict[str, Any], error: type, match: str) -> None:
    args: dict[str, Any] = dict(input_shape=(1, 4), weight=np.ones((1, 1, 2)))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        conv_matrix(**args)
