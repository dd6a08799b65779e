"""Semantic segmentation with a U-Net: label every pixel as background, circle, square or triangle.

The images come from :func:`ndconv.data.synthetic.shapes_segmentation`: 32x32 pixels, one to
three non-overlapping shapes of random size and brightness, Gaussian noise. The U-Net
(``ndconv.models.unet``) maps ``(N, 1, 32, 32)`` to per-pixel logits ``(N, 4, 32, 32)``,
trained with per-pixel cross-entropy; the score is the intersection over union (IoU) of each
shape class on held-out images, averaged over the three shape classes.

The training loop is written out (no Trainer) to show the four steps of every iteration.

    python examples/unet_shapes.py            # the full run (see docs/examples.md)
    python examples/unet_shapes.py --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ndconv as nc
import ndconv.nn.functional as F
from ndconv import nn, optim
from ndconv.data import SHAPE_CLASSES, shapes_segmentation
from ndconv.models import unet


def predict(model: nn.Module, x: np.ndarray, batch_size: int = 200) -> np.ndarray:
    """Per-pixel class predictions ``(N, H, W)`` in eval mode, without building a graph."""
    model.eval()
    with nc.no_grad():
        out = [np.asarray(model(nc.tensor(x[i:i + batch_size]))).argmax(axis=1)
               for i in range(0, len(x), batch_size)]
    model.train()
    return np.concatenate(out)


def iou_per_class(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """``|pred == c and target == c| / |pred == c or target == c|`` for every class ``c``."""
    ious = np.full(num_classes, np.nan)
    for c in range(num_classes):
        union = np.count_nonzero((pred == c) | (target == c))
        if union:
            ious[c] = np.count_nonzero((pred == c) & (target == c)) / union
    return ious


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0, help="data, initialisation and shuffling seed")
    p.add_argument("--train", type=int, default=600, help="training images")
    p.add_argument("--test", type=int, default=300, help="held-out images")
    p.add_argument("--base", type=int, default=8, help="channels of the U-Net's first level")
    p.add_argument("--depth", type=int, default=3, help="number of 2x down-samplings")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-2, help="peak learning rate (one-cycle)")
    p.add_argument("--quick", action="store_true", help="tiny smoke run: 64 images, 1 epoch")
    args = p.parse_args(argv)
    if args.quick:
        args.train, args.test, args.epochs, args.base, args.depth = 64, 32, 1, 4, 2

    t0 = time.perf_counter()
    x_train, m_train = shapes_segmentation(args.train, seed=2 * args.seed)
    x_test, m_test = shapes_segmentation(args.test, seed=2 * args.seed + 1)
    k = len(SHAPE_CLASSES)
    print(f"shapes {SHAPE_CLASSES}: train {x_train.shape}, test {x_test.shape}, "
          f"pixel share {np.bincount(m_train.ravel(), minlength=k) / m_train.size}")

    nc.manual_seed(args.seed)
    model = unet(in_channels=1, num_classes=k, base=args.base, depth=args.depth)
    print(f"U-Net base={args.base} depth={args.depth}: {model.num_parameters():,} parameters")
    steps = -(-args.train // args.batch_size)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    sched = optim.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps)
    rng = np.random.default_rng(args.seed)
    for epoch in range(1, args.epochs + 1):
        t1, total = time.perf_counter(), 0.0
        order = rng.permutation(args.train)
        for i in range(0, args.train, args.batch_size):
            idx = order[i:i + args.batch_size]
            logits = model(nc.tensor(x_train[idx]))        # (B, 4, H, W)
            loss = F.cross_entropy(logits, m_train[idx])    # mean over B*H*W pixels
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        ious = iou_per_class(predict(model, x_test), m_test, k)
        print(f"epoch {epoch:>3}/{args.epochs}  train loss {total / args.train:.4f}  "
              f"test IoU {' '.join(f'{n} {v:.3f}' for n, v in zip(SHAPE_CLASSES[1:], ious[1:]))}  "
              f"{time.perf_counter() - t1:.1f}s", flush=True)

    miou = float(np.nanmean(ious[1:]))
    pixel_acc = float(np.mean(predict(model, x_test) == m_test))
    result = {"mean_iou": miou, "pixel_acc": pixel_acc, "seconds": time.perf_counter() - t0}
    print(f"final mean IoU over {k - 1} shape classes {miou:.3f}, pixel accuracy {pixel_acc:.2%}, "
          f"wall time {result['seconds']:.0f} s")
    return result


if __name__ == "__main__":
    main()
