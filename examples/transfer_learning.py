"""Transfer learning: features learned on digits 0-4 help to learn digits 5-9 from a few images.

1. Pre-train LeNet-5 on the 2,000 training images of digits 0-4 of ``mnist_5k`` (random
   shifts of up to 2 pixels, which make the features more general).
2. Transfer: freeze the convolutional trunk (``requires_grad_(False)``) and train only a new
   linear head, 400 features -> 5 classes, on `shots` labelled images per digit 5-9.
3. Baseline: the same LeNet-5, randomly initialised, trained end to end on the same images.

Both are scored on the 500 test images of digits 5-9, for each number of shots: transfer
wins most where labels are scarcest, and the gap closes as labels grow.

    python examples/transfer_learning.py                 # 5, 10 and 20 images per class
    python examples/transfer_learning.py --shots 20      # one setting
    python examples/transfer_learning.py --quick         # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

import ndconv as nc
from ndconv import nn, optim
from ndconv.data import ArrayDataset, DataLoader, RandomShift, Transform, mnist_5k
from ndconv.models import lenet5
from ndconv.train import Trainer, evaluate


def fit(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float, seed: int,
        batch_size: int = 32, transform: Transform | None = None, verbose: bool = False) -> None:
    """Train the parameters of `model` that require gradients (only those) with Adam."""
    params = [p for p in model.parameters() if p.requires_grad]
    loader = DataLoader(ArrayDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed,
                        transform=transform)
    Trainer(model, optim.Adam(params, lr=lr), train_loader=loader, epochs=epochs, progress=False,
            log=None if verbose else io.StringIO()).fit()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return evaluate(model, DataLoader(ArrayDataset(x, y), batch_size=500))["acc"]


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10, help="pre-training epochs on digits 0-4")
    p.add_argument("--few-shot-epochs", type=int, default=40, help="epochs over the few images")
    p.add_argument("--shots", type=int, nargs="+", default=[5, 10, 20],
                   help="labelled images per class of digits 5-9 (one run each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    x_train, y_train, x_test, y_test = mnist_5k()
    if args.quick:
        x_train, y_train = x_train[::10], y_train[::10]
        args.epochs, args.few_shot_epochs, args.shots = 1, 2, [5]
    old, old_test, new_test = y_train < 5, y_test < 5, y_test >= 5
    x_new_test, y_new_test = x_test[new_test], y_test[new_test] - 5  # labels 5..9 -> 0..4

    # 1. Pre-train on digits 0-4.
    nc.manual_seed(args.seed)
    pretrained = lenet5(num_classes=5)
    print(f"pre-training LeNet-5 ({pretrained.num_parameters():,} parameters) on "
          f"{old.sum()} images of digits 0-4")
    fit(pretrained, x_train[old], y_train[old], args.epochs, 2e-3, args.seed,
        transform=RandomShift(2), verbose=True)
    pre_acc = accuracy(pretrained, x_test[old_test], y_test[old_test])
    print(f"  digits 0-4 test accuracy: {pre_acc:.2%}")
    trunk = pretrained.features.requires_grad_(False)  # conv layers: (N, 1, 28, 28) -> (N, 16, 5, 5)

    result: dict[str, float] = {"pretrain_acc": pre_acc}
    rng = np.random.default_rng(args.seed)
    print(f"digits 5-9, {len(y_new_test)} test images:")
    for shots in args.shots:
        # `shots` images of each digit 5..9, drawn by the seed. Labels 0..4.
        few = np.concatenate([rng.choice(np.flatnonzero(y_train == d), shots, replace=False)
                              for d in range(5, 10)])
        x_few, y_few = x_train[few], y_train[few] - 5

        # 2. Transfer: the frozen trunk and a new linear head (the only trainable part).
        nc.manual_seed(args.seed + shots)
        transfer = nn.Sequential(trunk, nn.Flatten(), nn.Linear(16 * 5 * 5, 5))
        fit(transfer, x_few, y_few, args.few_shot_epochs, 1e-2, args.seed, batch_size=20)
        trainable = sum(p.size for p in transfer.parameters() if p.requires_grad)
        transfer_acc = accuracy(transfer, x_new_test, y_new_test)

        # 3. Baseline: the same network from scratch, every parameter trained.
        scratch = lenet5(num_classes=5)
        fit(scratch, x_few, y_few, args.few_shot_epochs, 2e-3, args.seed, batch_size=20)
        scratch_acc = accuracy(scratch, x_new_test, y_new_test)

        print(f"  {shots:>3} per class ({len(few)} images): transfer {transfer_acc:.2%} "
              f"({trainable:,} trained parameters)  from scratch {scratch_acc:.2%} "
              f"({scratch.num_parameters():,})  -> {100 * (transfer_acc - scratch_acc):+.1f} points")
        result[f"transfer_acc_{shots}"], result[f"scratch_acc_{shots}"] = transfer_acc, scratch_acc
    result["seconds"] = time.perf_counter() - t0
    print(f"wall time {result['seconds']:.0f} s")
    return result


if __name__ == "__main__":
    main()
