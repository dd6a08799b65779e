"""Optimisers against torch.optim, step for step, and their state dicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ndconv as nc
from ndconv import optim


def _run_both(torch, make_ours, make_theirs, steps=6, dtype=np.float32, groups=False):
    rng = np.random.default_rng(7)
    shapes = [(4, 3), (5,), (2, 3, 3)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [nc.tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    if groups:
        opt_n = make_ours([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.03}])
        opt_t = make_theirs([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.03}])
    else:
        opt_n, opt_t = make_ours(ours), make_theirs(theirs)
    for step in range(steps):
        for pn, pt in zip(ours, theirs):
            g = rng.standard_normal(pn.shape).astype(dtype)
            if step == 2 and pn.ndim == 1:  # a parameter without gradient is skipped by both
                pn.grad, pt.grad = None, None
                continue
            pn.grad = g.copy()
            pt.grad = torch.from_numpy(g.copy())
        opt_n.step()
        opt_t.step()
        for pn, pt in zip(ours, theirs):
            np.testing.assert_allclose(pn.data, pt.detach().numpy(), rtol=1e-6, atol=1e-6)
    return opt_n, opt_t, ours


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-2),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=5e-3),
    dict(lr=0.05, momentum=0.5, maximize=True),
]


@pytest.mark.parametrize("kw", SGD_CASES)
def test_sgd_matches_torch(torch, kw):
    _run_both(torch, lambda p: optim.SGD(p, **kw), lambda p: torch.optim.SGD(p, **kw))


ADAM_CASES = [
    dict(lr=1e-2),
    dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2),
    dict(lr=3e-3, amsgrad=True),
    dict(lr=1e-2, maximize=True),
]


@pytest.mark.parametrize("kw", ADAM_CASES)
def test_adam_matches_torch(torch, kw):
    _run_both(torch, lambda p: optim.Adam(p, **kw), lambda p: torch.optim.Adam(p, **kw), steps=8)


@pytest.mark.parametrize("kw", [dict(lr=1e-2), dict(lr=1e-2, weight_decay=0.1, amsgrad=True)])
def test_adamw_matches_torch(torch, kw):
    _run_both(torch, lambda p: optim.AdamW(p, **kw), lambda p: torch.optim.AdamW(p, **kw), steps=8)


def test_param_groups_match_torch(torch):
    _run_both(torch, lambda g: optim.SGD(g, lr=0.1, momentum=0.9),
              lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9), groups=True)
    _run_both(torch, lambda g: optim.Adam(g, lr=0.01), lambda g: torch.optim.Adam(g, lr=0.01),
              groups=True)


def test_float64(torch):
    _run_both(torch, lambda p: optim.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01),
              dtype=np.float64)


@pytest.mark.parametrize("cls, kw", [(optim.SGD, dict(lr=0.1, momentum=0.9)),
                                     (optim.Adam, dict(lr=0.01, amsgrad=True)),
                                     (optim.AdamW, dict(lr=0.01))])
def test_state_dict_round_trip_through_json_and_arrays(cls, kw):
    """Split into arrays + JSON, restore into a fresh optimiser: the next steps agree."""
    rng = np.random.default_rng(0)
    a = [nc.tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
         for _ in range(2)]
    b = [nc.tensor(p.data.copy(), requires_grad=True) for p in a]
    opt_a = cls(a, **kw)
    for _ in range(3):
        for p in a:
            p.grad = rng.standard_normal(p.shape).astype(np.float32)
        opt_a.step()
    for pa, pb in zip(a, b):
        pb.data[...] = pa.data
    arrays, meta = optim.flatten_state(opt_a.state_dict())
    meta = json.loads(json.dumps(meta))
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    opt_b = cls(b, lr=123.0)
    opt_b.load_state_dict(optim.unflatten_state(arrays, meta))
    assert opt_b.param_groups[0]["lr"] == kw["lr"]
    for _ in range(2):
        for pa, pb in zip(a, b):
            g = rng.standard_normal(pa.shape).astype(np.float32)
            pa.grad, pb.grad = g, g.copy()
        opt_a.step()
        opt_b.step()
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_state_dict_is_a_copy_and_indexed():
    p = nc.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3, np.float32)
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0]
    sd["state"][0]["momentum_buffer"][...] = 99
    assert opt.state[p]["momentum_buffer"][0] == 1


def test_load_state_dict_mismatch_errors():
    p = nc.tensor(np.ones(3, np.float32), requires_grad=True)
    q = nc.tensor(np.ones(4, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3, np.float32)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="group 0 has 1 parameters"):
        optim.SGD([p, q], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"expected shape \(4,\), got shape \(3,\)"):
        optim.SGD([q], lr=0.1, momentum=0.9).load_state_dict(sd)


def test_zero_grad_and_errors():
    p = nc.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.Adam([p])
    p.grad = np.ones(3, np.float32)
    opt.zero_grad(set_to_none=False)
    assert (p.grad == 0).all()
    opt.zero_grad()
    assert p.grad is None
    with pytest.raises(ValueError, match="`lr` must be a finite number >= 0; got lr=-1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        optim.SGD([{"params": [p], "betas": (0.9, 0.99)}], lr=0.1)


def test_frozen_parameters_are_not_updated():
    p = nc.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(3, np.float32)
    p.requires_grad_(False)
    opt.step()
    assert (p.data == 1).all()


def test_closure():
    p = nc.tensor(np.array([2.0], np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0
    assert p.item() == 1.0
