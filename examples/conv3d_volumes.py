"""A 3-D CNN that tells spheres, cubes and tori apart in noisy 16x16x16 volumes.

The volumes come from :func:`ndconv.data.synthetic.volumes`: one solid per volume, at a random
position, size, orientation and brightness, under Gaussian noise (std 0.3). The network is
three 3x3x3 conv stages, global average pooling and a linear layer.

    python examples/conv3d_volumes.py            # the full run (see docs/examples.md)
    python examples/conv3d_volumes.py --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import time

import ndconv as nc
from ndconv import nn, optim
from ndconv.data import VOLUME_CLASSES, ArrayDataset, DataLoader, volumes
from ndconv.train import Trainer


def make_model(width: int = 8) -> nn.Sequential:
    """(N, 1, 16, 16, 16) -> (N, 3)."""
    w = width
    return nn.Sequential(
        nn.Conv3d(1, w, 3, padding=1, bias=False), nn.BatchNorm3d(w), nn.ReLU(),
        nn.MaxPool3d(2),                                                    # (N, w, 8, 8, 8)
        nn.Conv3d(w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm3d(2 * w), nn.ReLU(),
        nn.MaxPool3d(2),                                                    # (N, 2w, 4, 4, 4)
        nn.Conv3d(2 * w, 4 * w, 3, padding=1, bias=False), nn.BatchNorm3d(4 * w), nn.ReLU(),
        nn.GlobalAvgPool(),                                                 # (N, 4w)
        nn.Linear(4 * w, len(VOLUME_CLASSES)),                              # (N, 3)
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--seed", type=int, default=0, help="data, initialisation and shuffling seed")
    p.add_argument("--train", type=int, default=900, help="training volumes")
    p.add_argument("--test", type=int, default=300, help="test volumes")
    p.add_argument("--lr", type=float, default=5e-3, help="peak learning rate (one-cycle)")
    p.add_argument("--quick", action="store_true", help="tiny smoke run: 60 volumes, 1 epoch")
    args = p.parse_args(argv)
    if args.quick:
        args.train, args.test, args.epochs = 60, 30, 1

    t0 = time.perf_counter()
    # Different seeds for the two sets, so no test volume repeats a training one.
    x_train, y_train = volumes(args.train, seed=2 * args.seed)
    x_test, y_test = volumes(args.test, seed=2 * args.seed + 1)
    print(f"volumes {VOLUME_CLASSES}: train {x_train.shape}, test {x_test.shape}")

    nc.manual_seed(args.seed)
    model = make_model()
    print(f"model: {model.num_parameters():,} parameters")
    train = DataLoader(ArrayDataset(x_train, y_train), batch_size=32, shuffle=True, seed=args.seed)
    test = DataLoader(ArrayDataset(x_test, y_test), batch_size=100)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    sched = optim.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(train))
    history = Trainer(model, opt, train_loader=train, test_loader=test, scheduler=sched,
                      epochs=args.epochs, progress=False).fit()

    result = {"test_acc": float(history[-1]["test_acc"]), "seconds": time.perf_counter() - t0}
    print(f"final test accuracy {result['test_acc']:.2%} on {len(y_test)} volumes, "
          f"wall time {result['seconds']:.0f} s")
    return result


if __name__ == "__main__":
    main()
