"""Tests of ndconv.attacks: input gradients by finite differences, FGSM/PGD properties, and
the issue's acceptance figures on LeNet-5 trained on mnist_5k."""

from __future__ import annotations

import numpy as np
import pytest

import ndconv as nc
import ndconv.nn as nn
import ndconv.nn.functional as F
from ndconv.attacks import fgsm, frozen_eval, input_gradient, pgd, robust_accuracy
from ndconv.optim import Adam


def small_net(dtype=np.float32, seed=0) -> nn.Module:
    nc.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3), nn.Tanh(), nn.Flatten(), nn.Linear(6 * 2 * 2, 3),
    )
    if dtype != np.float32:
        for p in net.parameters():
            p.data = p.data.astype(dtype)
    return net


def blobs(n=120, seed=0):
    """Three classes of 8x8 images: a bright square in one of three places, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.uniform(0, 0.3, (n, 1, 8, 8))
    for i, c in enumerate(y):
        x[i, 0, 1 + 2 * c:4 + 2 * c, 1 + 2 * c:4 + 2 * c] += 0.6
    return np.clip(x, 0, 1).astype(np.float32), y


@pytest.fixture(scope="module")
def trained_small():
    net = small_net(seed=1)
    x, y = blobs(240)
    opt = Adam(net.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        F.cross_entropy(net(nc.tensor(x)), y).backward()
        opt.step()
    net.eval()
    return net, x, y


def test_input_gradient_matches_central_differences_float64():
    net = small_net(np.float64)
    net.eval()
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (2, 1, 8, 8))
    y = np.array([0, 2])
    loss, g = input_gradient(net, x, y)
    assert g.shape == x.shape and g.dtype == np.float64
    h = 1e-6
    for idx in [(0, 0, 1, 1), (0, 0, 4, 6), (1, 0, 7, 0), (1, 0, 3, 3), (0, 0, 6, 2)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        lp, _ = input_gradient(net, xp, y)
        lm, _ = input_gradient(net, xm, y)
        fd = (lp[idx[0]] - lm[idx[0]]) / (2 * h)
        np.testing.assert_allclose(g[idx], fd, rtol=1e-5, atol=1e-8)
    # per-example losses are the cross-entropy of each example
    ref = F.cross_entropy(net(nc.tensor(x)), y, reduction="none").data
    np.testing.assert_allclose(loss, ref)


def test_frozen_eval_leaves_weights_untouched_and_restores_mode():
    net = small_net()
    net.train()
    x, y = blobs(4)
    fgsm(net, x, y, 0.1)
    assert net.training and all(m.training for m in net.modules())
    assert all(p.grad is None and p.requires_grad for p in net.parameters())
    with frozen_eval(net):
        assert not net.training


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_pgd_perturbation_within_eps_and_clip(trained_small, norm):
    net, x, y = trained_small
    eps = 0.3 if norm == "inf" else 1.0
    x_adv = pgd(net, x[:40], y[:40], eps, steps=5, norm=norm, seed=0)
    d = (x_adv - x[:40]).reshape(40, -1)
    size = np.abs(d).max(axis=1) if norm == "inf" else np.linalg.norm(d, axis=1)
    assert np.all(size <= eps * (1 + 1e-5))
    assert x_adv.min() >= 0 and x_adv.max() <= 1 and x_adv.dtype == np.float32
    # the L2 ball is actually used (not a tiny step)
    assert size.max() > 0.5 * eps


def test_fgsm_within_eps_clip_and_no_clip(trained_small):
    net, x, y = trained_small
    x_adv = fgsm(net, x, y, 0.25)
    assert np.abs(x_adv - x).max() <= 0.25 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    free = fgsm(net, x, y, 0.25, clip=None)
    np.testing.assert_allclose(np.abs(free - x), 0.25, atol=1e-6, rtol=0)  # every value moves
    bounded = fgsm(net, x, y, 0.25, clip=(0.1, 0.7))
    assert bounded.min() >= 0.1 - 1e-7 and bounded.max() <= 0.7 + 1e-7


def test_attacks_raise_loss_and_pgd_beats_fgsm(trained_small):
    net, x, y = trained_small
    clean, _ = input_gradient(net, x, y)
    for eps in (0.05, 0.15):
        l_fgsm, _ = input_gradient(net, fgsm(net, x, y, eps), y)
        l_pgd, _ = input_gradient(net, pgd(net, x, y, eps, steps=20, seed=0), y)
        assert l_fgsm.mean() > clean.mean()
        assert l_pgd.mean() >= l_fgsm.mean()


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_targeted_moves_towards_target(trained_small, attack):
    net, x, y = trained_small
    target = (y + 1) % 3
    before, _ = input_gradient(net, x, target)
    if attack == "fgsm":
        x_adv = fgsm(net, x, target, 0.2, targeted=True)
    else:
        x_adv = pgd(net, x, target, 0.2, steps=10, targeted=True, seed=0)
    after, _ = input_gradient(net, x_adv, target)
    assert after.mean() < before.mean()
    with nc.no_grad():
        hit_before = np.mean(net(nc.tensor(x)).argmax(1) == target)
        hit_after = np.mean(net(nc.tensor(x_adv)).argmax(1) == target)
    assert hit_before == 0 and hit_after >= 0.4  # measured: FGSM 0.54, PGD 0.88


def test_pgd_seed_reproducible_and_early_stop_verdicts(trained_small):
    net, x, y = trained_small
    a = pgd(net, x, y, 0.1, steps=4, seed=5)
    np.testing.assert_array_equal(a, pgd(net, x, y, 0.1, steps=4, seed=5))
    e = pgd(net, x, y, 0.2, steps=10, seed=0, early_stop=True)
    f = pgd(net, x, y, 0.2, steps=10, seed=0)
    with nc.no_grad():
        fooled_e = net(nc.tensor(e)).argmax(1) != y
        fooled_f = net(nc.tensor(f)).argmax(1) != y
    assert fooled_e.sum() >= fooled_f.sum()
    assert np.abs(e - x).max() <= 0.2 + 1e-6


def test_robust_accuracy_eps_zero_is_clean_and_batches_agree(trained_small):
    net, x, y = trained_small
    with nc.no_grad():
        clean = np.mean(net(nc.tensor(x)).argmax(1) == y)
    acc = robust_accuracy(net, x, y, [0.0, 0.1], batch_size=7)
    assert acc[0.0] == pytest.approx(clean)
    assert acc[0.1] == pytest.approx(robust_accuracy(net, x, y, [0.1], batch_size=500)[0.1])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda n, x, y: fgsm(n, x, y, -0.1), "eps"),
        (lambda n, x, y: fgsm(n, x, y, 0.1, clip=(1, 0)), "clip"),
        (lambda n, x, y: fgsm(n, x, y[:3], 0.1), "y"),
        (lambda n, x, y: fgsm(n, x.astype(np.int64), y, 0.1), "x"),
        (lambda n, x, y: pgd(n, x, y, 0.1, norm="1"), "norm"),
        (lambda n, x, y: pgd(n, x, y, 0.1, steps=0), "steps"),
        (lambda n, x, y: pgd(n, x, y, 0.1, alpha=-1.0), "alpha"),
        (lambda n, x, y: robust_accuracy(n, x, y, [0.1], attack="cw"), "attack"),
        (lambda n, x, y: robust_accuracy(n, x, y, [0.1], batch_size=0), "batch_size"),
    ],
)
def test_bad_arguments_name_the_argument(trained_small, call, match):
    net, x, y = trained_small
    with pytest.raises((ValueError, TypeError), match=match):
        call(net, x[:5], y[:5])


# --- acceptance: LeNet-5 on mnist_5k ----------------------------------------------------------

EPS = (0.05, 0.1, 0.2, 0.3)


@pytest.fixture(scope="module")
def lenet_results():
    """Train LeNet-5 briefly on the 4,000 training digits; attack 200 test digits."""
    from ndconv.data import mnist_5k
    from ndconv.models.lenet import lenet5

    x_train, y_train, x_test, y_test = mnist_5k()
    nc.manual_seed(0)
    model = lenet5()
    opt = Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(0)
    for lr in (2e-3, 1e-3, 3e-4):
        opt.param_groups[0]["lr"] = lr
        model.train()
        perm = rng.permutation(len(x_train))
        for i in range(0, len(perm), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            F.cross_entropy(model(nc.tensor(x_train[idx])), y_train[idx]).backward()
            opt.step()
    model.eval()
    sub = np.random.default_rng(1).choice(len(x_test), 200, replace=False)
    xs, ys = x_test[sub], y_test[sub]
    fg = robust_accuracy(model, xs, ys, [0.0, *EPS], attack="fgsm")
    pg = robust_accuracy(model, xs, ys, list(EPS), attack="pgd", steps=20, seed=0)
    return fg, pg


def test_lenet_clean_accuracy(lenet_results):
    fg, _ = lenet_results
    assert fg[0.0] >= 0.9


def test_lenet_fgsm_eps_02_drops_50_points(lenet_results):
    fg, _ = lenet_results
    assert fg[0.0] - fg[0.2] >= 0.5


def test_lenet_pgd_at_least_as_strong_as_fgsm(lenet_results):
    fg, pg = lenet_results
    for eps in EPS:
        assert pg[eps] <= fg[eps], (eps, fg, pg)


def test_lenet_pgd_eps_03_below_5_percent(lenet_results):
    _, pg = lenet_results
    assert pg[0.3] < 0.05
