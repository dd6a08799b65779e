"""Learning-rate schedulers against torch.optim.lr_scheduler."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ndconv as nc
from ndconv import optim


def _pair(torch, ours_opt_cls, theirs_opt_cls, **kw):
    pn = nc.tensor(np.zeros(2, np.float32), requires_grad=True)
    pt = torch.zeros(2, requires_grad=True)
    return ours_opt_cls([pn], **kw), theirs_opt_cls([pt], **kw)


def _check(torch, opt_n, opt_t, sched_n, sched_t, steps, keys=("lr",)):
    for _ in range(steps):
        for key in keys:
            vn, vt = opt_n.param_groups[0][key], opt_t.param_groups[0][key]
            np.testing.assert_allclose(np.asarray(vn, float), np.asarray(vt, float), rtol=1e-12, atol=1e-15)
        assert sched_n.get_last_lr() == pytest.approx(sched_t.get_last_lr(), rel=1e-12)
        opt_n.step()
        opt_t.step()
        sched_n.step()
        sched_t.step()


def test_steplr(torch):
    opt_n, opt_t = _pair(torch, optim.SGD, torch.optim.SGD, lr=0.3)
    _check(torch, opt_n, opt_t, optim.StepLR(opt_n, 3, gamma=0.5),
           torch.optim.lr_scheduler.StepLR(opt_t, 3, gamma=0.5), 20)


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_cosine(torch, eta_min):
    opt_n, opt_t = _pair(torch, optim.SGD, torch.optim.SGD, lr=0.3)
    _check(torch, opt_n, opt_t, optim.CosineAnnealingLR(opt_n, 7, eta_min),
           torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, 7, eta_min), 25)


@pytest.mark.parametrize(
    "kw",
    [dict(max_lr=0.5, total_steps=23),
     dict(max_lr=0.5, epochs=3, steps_per_epoch=7, anneal_strategy="linear", pct_start=0.4),
     dict(max_lr=0.5, total_steps=30, three_phase=True, div_factor=10.0, final_div_factor=100.0)],
)
def test_onecycle_sgd(torch, kw):
    opt_n, opt_t = _pair(torch, optim.SGD, torch.optim.SGD, lr=0.1, momentum=0.9)
    n = kw.get("total_steps") or kw["epochs"] * kw["steps_per_epoch"]
    _check(torch, opt_n, opt_t, optim.OneCycleLR(opt_n, **kw),
           torch.optim.lr_scheduler.OneCycleLR(opt_t, **kw), n, keys=("lr", "momentum"))


def test_onecycle_adam_cycles_beta1(torch):
    opt_n, opt_t = _pair(torch, optim.Adam, torch.optim.Adam, lr=0.1)
    _check(torch, opt_n, opt_t, optim.OneCycleLR(opt_n, max_lr=0.01, total_steps=15),
           torch.optim.lr_scheduler.OneCycleLR(opt_t, max_lr=0.01, total_steps=15), 15,
           keys=("lr", "betas"))


def test_onecycle_too_many_steps():
    p = nc.tensor(np.zeros(1, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    s = optim.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        s.step()
    with pytest.raises(ValueError, match="total_steps=3"):
        s.step()


def test_scheduler_state_dict_resume():
    p = nc.tensor(np.zeros(1, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    s = optim.CosineAnnealingLR(opt, 10)
    for _ in range(4):
        s.step()
    state = json.loads(json.dumps(s.state_dict()))
    opt_state = opt.state_dict()
    lrs = []
    for _ in range(3):
        s.step()
        lrs.append(opt.param_groups[0]["lr"])
    q = nc.tensor(np.zeros(1, np.float32), requires_grad=True)
    opt2 = optim.SGD([q], lr=1.0)
    opt2.load_state_dict(opt_state)
    s2 = optim.CosineAnnealingLR(opt2, 10, last_epoch=state["last_epoch"])
    s2.load_state_dict(state)
    opt2.load_state_dict(opt_state)
    lrs2 = []
    for _ in range(3):
        s2.step()
        lrs2.append(opt2.param_groups[0]["lr"])
    assert lrs == lrs2


def test_scheduler_errors():
    p = nc.tensor(np.zeros(1, np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="`step_size` must be an int >= 1"):
        optim.StepLR(optim.SGD([p], lr=0.1), 0)
    with pytest.raises(ValueError, match="momentum or betas"):
        optim.OneCycleLR(optim.Optimizer([p], {"lr": 0.1}), max_lr=1.0, total_steps=5)
    with pytest.raises(ValueError, match="total_steps"):
        optim.OneCycleLR(optim.SGD([p], lr=0.1), max_lr=1.0)
    with pytest.raises(TypeError, match="Optimizer"):
        optim.StepLR(object(), 2)  # type: ignore[arg-type]
