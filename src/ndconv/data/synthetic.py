"""Generated datasets: small, exact, reproducible by seed, and made on the spot.

- `volumes`: 3-D volumes of one solid each -- a sphere, a cube or a torus -- at a random
  position, size and orientation, under Gaussian noise: a classification task for 3-D CNNs.
- `shapes_segmentation`: 2-D images of a few non-overlapping circles, squares and triangles
  with a per-pixel class mask: a segmentation task for a U-Net.

Both draw everything from ``np.random.default_rng(seed)``, so a seed gives the same arrays
on every machine, and both label classes in equal shares.
"""

from __future__ import annotations

import numpy as np

__all__ = ["VOLUME_CLASSES", "SHAPE_CLASSES", "volumes", "shapes_segmentation"]

VOLUME_CLASSES = ("sphere", "cube", "torus")
"""Label ``i`` of `volumes` is the solid ``VOLUME_CLASSES[i]``."""

SHAPE_CLASSES = ("background", "circle", "square", "triangle")
"""Mask value ``i`` of `shapes_segmentation` is ``SHAPE_CLASSES[i]``; 0 is the background."""


def _check(op: str, **kwargs: tuple[object, int]) -> None:
    for name, (v, lo) in kwargs.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{op}: `{name}` must be an int >= {lo}; got {name}={v!r}.")


def _check_noise(op: str, noise: float) -> float:
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.floating)) or not noise >= 0:
        raise ValueError(f"{op}: `noise` must be a float >= 0; got noise={noise!r}.")
    return float(noise)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def volumes(n: int, size: int = 16, seed: int = 0, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Generate `n` noisy volumes of a sphere (label 0), a cube (1) or a torus (2).

    Each solid has a random centre (within a quarter of the volume's half-width of the
    middle), a random size, a random orientation (cube and torus) and a random brightness in
    [0.7, 1.3] over a zero background; then i.i.d. Gaussian noise of std `noise` is added.
    The labels are balanced (``n // 3`` or one more of each) and in random order.

    Args:
        n: number of volumes, >= 1.
        size: edge of the cubic volume in voxels, >= 4.
        seed: seed of ``np.random.default_rng``.
        noise: standard deviation of the additive Gaussian noise, >= 0.

    Returns:
        `(x, y)`: volumes float32 `(n, 1, size, size, size)`, labels int64 `(n,)`.

    Raises:
        ValueError: an argument out of range.

    Examples:
        >>> x, y = volumes(6, size=8, seed=0)
        >>> x.shape, x.dtype, y.dtype, sorted(y.tolist())
        ((6, 1, 8, 8, 8), dtype('float32'), dtype('int64'), [0, 0, 1, 1, 2, 2])
    """
    _check("volumes", n=(n, 1), size=(size, 4), seed=(seed, 0))
    noise = _check_noise("volumes", noise)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 3).astype(np.int64)
    axis = (np.arange(size) + 0.5) / size * 2 - 1  # voxel centres in [-1, 1]
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)  # (D, H, W, 3)
    x = np.empty((n, 1, size, size, size), np.float32)
    for i, label in enumerate(y):
        centre = rng.uniform(-0.25, 0.25, 3)
        scale = rng.uniform(0.45, 0.65)
        p = (grid - centre) @ _rotation(rng)  # coordinates in the solid's own frame
        if label == 0:
            inside = np.linalg.norm(p, axis=-1) <= scale
        elif label == 1:
            inside = np.abs(p).max(axis=-1) <= 0.8 * scale  # half the edge: similar volume
        else:
            ring = np.hypot(p[..., 0], p[..., 1]) - 0.7 * scale  # distance from the core circle
            inside = ring**2 + p[..., 2] ** 2 <= (0.35 * scale) ** 2
        x[i, 0] = inside * rng.uniform(0.7, 1.3)
    if noise:
        x += rng.normal(0.0, noise, x.shape).astype(np.float32)
    return x, y


def _place(rng: np.random.Generator, boxes: list[tuple[float, float, float]], size: int,
           half: float) -> tuple[float, float] | None:
    """A centre for a shape of half-extent `half` that keeps clear of `boxes`, or None."""
    for _ in range(50):
        cy, cx = rng.uniform(half + 1, size - half - 1, 2)
        # Chebyshev distance: the bounding squares (plus a 1-pixel gap) must not overlap.
        if all(max(abs(cy - by), abs(cx - bx)) > half + bh + 1 for by, bx, bh in boxes):
            return cy, cx
    return None


def shapes_segmentation(n: int, size: int = 32, seed: int = 0, max_shapes: int = 3,
                        noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Generate `n` images of non-overlapping shapes and their per-pixel class masks.

    Each image holds 1 to `max_shapes` shapes, each a circle (mask value 1), an axis-aligned
    square (2) or an upright or upside-down triangle (3), of random size (half-extent 3.5 to
    ``size / 4`` pixels, so 3.5-8 at the default 32) and random brightness in [0.5, 1.0] on
    a zero background, so only the outline tells the classes apart. A pixel belongs to a
    shape when its centre lies inside. Bounding squares keep at least one pixel apart, so
    the mask is exact; then Gaussian noise of std `noise` is added to the image (with
    ``noise=0`` the image is nonzero exactly where the mask is). Shape classes are drawn
    uniformly. For the U-Net pick `size` divisible by ``2**depth``.

    Args:
        n: number of images, >= 1.
        size: height and width in pixels, >= 16.
        seed: seed of ``np.random.default_rng``.
        max_shapes: most shapes per image, >= 1.
        noise: standard deviation of the additive Gaussian noise, >= 0.

    Returns:
        `(x, mask)`: images float32 `(n, 1, size, size)`, masks int64 `(n, size, size)` with
        values in ``0..3`` (see `SHAPE_CLASSES`).

    Raises:
        ValueError: an argument out of range.

    Examples:
        >>> x, mask = shapes_segmentation(4, size=32, seed=0)
        >>> x.shape, mask.shape, x.dtype, mask.dtype, int(mask.max()) <= 3
        ((4, 1, 32, 32), (4, 32, 32), dtype('float32'), dtype('int64'), True)
    """
    _check("shapes_segmentation", n=(n, 1), size=(size, 16), seed=(seed, 0), max_shapes=(max_shapes, 1))
    noise = _check_noise("shapes_segmentation", noise)
    rng = np.random.default_rng(seed)
    c = np.arange(size) + 0.5  # pixel centres
    yy, xx = np.meshgrid(c, c, indexing="ij")  # (H, W)
    x = np.zeros((n, 1, size, size), np.float32)
    mask = np.zeros((n, size, size), np.int64)
    for i in range(n):
        boxes: list[tuple[float, float, float]] = []
        for _ in range(rng.integers(1, max_shapes + 1)):
            label = int(rng.integers(1, 4))
            half = rng.uniform(3.5, size / 4)
            centre = _place(rng, boxes, size, half)
            if centre is None:  # no room left in this image
                break
            cy, cx = centre
            boxes.append((cy, cx, half))
            dy, dx = yy - cy, xx - cx
            if label == 1:
                inside = dy**2 + dx**2 <= half**2
            elif label == 2:
                inside = np.maximum(np.abs(dy), np.abs(dx)) <= 0.85 * half  # similar area
            else:
                # Apex at -half (or +half when flipped), base at +half: |dx| <= half*(v+1)/2
                # with v = dy/half running from -1 at the apex to 1 at the base.
                v = dy / half * (1.0 if rng.random() < 0.5 else -1.0)
                inside = (np.abs(v) <= 1) & (np.abs(dx) <= half * (v + 1) / 2)
            mask[i][inside] = label
            x[i, 0][inside] = rng.uniform(0.5, 1.0)
    if noise:
        x += rng.normal(0.0, noise, x.shape).astype(np.float32)
    return x, mask
