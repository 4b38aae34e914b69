"""Optimizers, clipping and the schedule against torch.optim (float64, 1e-10)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import wavelearn
from wavelearn.nn import Linear, Parameter
from wavelearn.training.optim import (
    SGD,
    AdamW,
    WarmupCosineSchedule,
    clip_grad_norm,
    decoupled_adamw,
)

SHAPES = [(3, 4), (4,), (2, 2, 3)]


def make_params(seed: int = 0) -> list[Parameter]:
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(s)) for s in SHAPES]


def grads_for_step(step: int) -> list[np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(s) for s in SHAPES]


def run_ours(opt, params: list[Parameter], steps: int, start: int = 0) -> None:
    for k in range(start, start + steps):
        for p, g in zip(params, grads_for_step(k), strict=True):
            p.grad = g
        opt.step()


def run_torch(make_opt, steps: int) -> list[np.ndarray]:
    tparams = [torch.tensor(p.data, requires_grad=True) for p in make_params()]
    opt = make_opt(tparams)
    for k in range(steps):
        for p, g in zip(tparams, grads_for_step(k), strict=True):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in tparams]


def assert_params_close(params: list[Parameter], expected: list[np.ndarray]) -> None:
    for p, e in zip(params, expected, strict=True):
        np.testing.assert_allclose(wavelearn.to_numpy(p.data), e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kwargs", [
    {},
    {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
    {"lr": 0.01, "weight_decay": 0.0},
])
def test_adamw_matches_torch(kwargs) -> None:
    params = make_params()
    run_ours(AdamW(params, **kwargs), params, 5)
    assert_params_close(params, run_torch(lambda ps: torch.optim.AdamW(ps, **kwargs), 5))


@pytest.mark.parametrize("kwargs", [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1},
])
def test_sgd_matches_torch(kwargs) -> None:
    params = make_params()
    run_ours(SGD(params, **kwargs), params, 5)
    assert_params_close(params, run_torch(lambda ps: torch.optim.SGD(ps, **kwargs), 5))


def test_sgd_nesterov_needs_momentum() -> None:
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(make_params(), lr=0.1, nesterov=True)


def test_params_without_grad_are_skipped_like_torch() -> None:
    params = make_params()
    opt = AdamW(params, lr=0.1)
    before = params[1].data.copy()
    for k in range(3):
        for i, (p, g) in enumerate(zip(params, grads_for_step(k), strict=True)):
            p.grad = None if (i == 1 and k < 2) else g
        opt.step()
    tparams = [torch.tensor(p.data, requires_grad=True) for p in make_params()]
    topt = torch.optim.AdamW(tparams, lr=0.1)
    for k in range(3):
        for i, (p, g) in enumerate(zip(tparams, grads_for_step(k), strict=True)):
            p.grad = None if (i == 1 and k < 2) else torch.tensor(g)
        topt.step()
    assert_params_close(params, [p.detach().numpy() for p in tparams])
    assert opt.state[1]["step"] == 1 and not np.array_equal(params[1].data, before)


def test_module_accepted_and_torch_backend_matches_numpy() -> None:
    ref = Linear(4, 3, dtype=np.float64, rng=0)
    with wavelearn.use_backend("torch"):
        layer = Linear(4, 3, dtype=np.float64, rng=0)
    opts = [AdamW(ref, lr=0.1), AdamW(layer, lr=0.1)]
    for k in range(3):
        rng = np.random.default_rng(k)
        x, dy = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
        for lay, to in [(ref, np.asarray), (layer, torch.tensor)]:
            lay.zero_grad()
            lay(to(x))
            lay.backward(to(dy))
        for opt in opts:
            opt.step()
    for a, b in zip(ref.parameters(), layer.parameters(), strict=True):
        assert torch.is_tensor(b.data)
        np.testing.assert_allclose(b.data.numpy(), a.data, rtol=1e-10, atol=1e-12)


def test_optimizer_state_dict_resume_is_exact() -> None:
    straight = make_params()
    run_ours(AdamW(straight, lr=0.05), straight, 5)
    params = make_params()
    opt = AdamW(params, lr=0.05)
    run_ours(opt, params, 3)
    state = opt.state_dict()
    assert set(state) == {"lr"} | {f"{n}.{i}" for n in ("step", "exp_avg", "exp_avg_sq")
                                   for i in range(3)}
    resumed_params = [Parameter(p.data.copy()) for p in params]
    resumed = AdamW(resumed_params, lr=0.05)
    resumed.load_state_dict(state)
    run_ours(resumed, resumed_params, 2, start=3)
    assert_params_close(resumed_params, [p.data for p in straight])


def test_sgd_state_dict_to_torch_backend() -> None:
    params = make_params()
    opt = SGD(params, lr=0.1, momentum=0.9)
    run_ours(opt, params, 2)
    with wavelearn.use_backend("torch"):
        tparams = [Parameter(wavelearn.asarray(p.data)) for p in params]
    topt = SGD(tparams, lr=0.1, momentum=0.9)
    topt.load_state_dict(opt.state_dict())
    assert torch.is_tensor(topt.state[0]["momentum_buffer"])
    run_ours(opt, params, 2, start=2)
    for p, g in zip(tparams, grads_for_step(2), strict=True):
        p.grad = torch.tensor(g)
    topt.step()
    for p, g in zip(tparams, grads_for_step(3), strict=True):
        p.grad = torch.tensor(g)
    topt.step()
    assert_params_close(tparams, [p.data for p in params])


def test_optimizer_load_state_dict_errors() -> None:
    params = make_params()
    opt = AdamW(params)
    run_ours(opt, params, 1)
    state = opt.state_dict()
    state["exp_avg.0"] = np.zeros((4, 3))
    del state["exp_avg_sq.2"]
    state["momentum_buffer.0"] = np.zeros((3, 4))
    state["exp_avg.7"] = np.zeros(1)
    fresh = AdamW(make_params())
    with pytest.raises(ValueError) as info:
        fresh.load_state_dict(state)
    msg = str(info.value)
    for part in ["exp_avg.0: expected shape (3, 4), got (4, 3)", "'exp_avg_sq.2'",
                 "'momentum_buffer.0'", "'exp_avg.7'"]:
        assert part in msg
    assert fresh.state == [{}, {}, {}]


def test_clip_grad_norm_matches_torch() -> None:
    for max_norm in [0.5, 100.0]:
        params, tparams = make_params(), [torch.tensor(p.data) for p in make_params()]
        for p, tp, g in zip(params, tparams, grads_for_step(0), strict=True):
            p.grad, tp.grad = g, torch.tensor(g)
        params[1].grad = None
        tparams[1].grad = None
        total = clip_grad_norm(params, max_norm)
        ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm)
        assert abs(total - ttotal.item()) < 1e-12
        for p, tp in zip(params, tparams, strict=True):
            if p.grad is not None:
                np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)
    assert clip_grad_norm(make_params(), 1.0) == 0.0


def test_warmup_cosine_schedule_values() -> None:
    opt = SGD(make_params(), lr=1.0)
    sched = WarmupCosineSchedule(opt, warmup_steps=4, total_steps=14, min_lr_ratio=0.1)
    assert opt.lr == 0.25
    lrs = [opt.lr]
    for _ in range(16):
        sched.step()
        lrs.append(opt.lr)
    np.testing.assert_allclose(lrs[:5], [0.25, 0.5, 0.75, 1.0, 1.0])
    assert math.isclose(lrs[9], 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    np.testing.assert_allclose(lrs[14:], [0.1, 0.1, 0.1])
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:], strict=False))
    assert sched.get_lr(0) == 0.25 and sched.get_lr(9) == lrs[9]
    other = WarmupCosineSchedule(SGD(make_params(), lr=5.0), 4, 14, min_lr_ratio=0.1)
    other.load_state_dict(sched.state_dict())
    assert other.optimizer.lr == opt.lr and other.step_count == 16
    with pytest.raises(ValueError):
        WarmupCosineSchedule(opt, warmup_steps=5, total_steps=3)


def test_schedule_without_warmup_starts_at_base_lr() -> None:
    opt = AdamW(make_params(), lr=3e-4)
    WarmupCosineSchedule(opt, warmup_steps=0, total_steps=10)
    assert opt.lr == 3e-4


def test_one_schedule_drives_both_optimizers_of_decoupled_adamw() -> None:
    params = make_params()
    decay, plain = decoupled_adamw(params, params[:1], lr=0.5, weight_decay=0.1)
    assert decay.params == params[:1] and plain.params == params[1:]
    assert (decay.weight_decay, plain.weight_decay) == (0.1, 0.0)
    sched = WarmupCosineSchedule([decay, plain], warmup_steps=2, total_steps=6)
    for _ in range(4):
        assert decay.lr == plain.lr == sched.get_lr()
        sched.step()
    restored = [AdamW(make_params(), lr=0.5), AdamW(make_params(), lr=0.5)]
    WarmupCosineSchedule(restored, 2, 6).load_state_dict(sched.state_dict())
    assert restored[0].lr == restored[1].lr == decay.lr
    with pytest.raises(ValueError, match="same lr"):
        WarmupCosineSchedule([AdamW(params, lr=0.1), AdamW(params, lr=0.2)], 1, 2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adamw_compiled_pass_gives_the_plain_codes_bits(dtype, monkeypatch) -> None:
    """One compiled pass (NumPy arrays, torch CPU tensors) against the plain array code
    of AdamW.update, bit for bit over a few steps; new arrays each step, as before."""
    from wavelearn.nn import compiled

    calls = []
    real = compiled.adamw
    monkeypatch.setattr(compiled, "adamw", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(0)
    data = [rng.standard_normal(s).astype(dtype) for s in [(7, 5), (5,), ()]]
    grads = [[rng.standard_normal(d.shape).astype(dtype) for d in data] for _ in range(3)]
    runs = {}
    for fast in (True, False):
        monkeypatch.setattr(compiled, "USE_COMPILED", fast)
        params = [Parameter(d.copy()) for d in data]
        opt = AdamW(params, lr=0.01, weight_decay=0.1)
        for step in grads:
            before = [p.data for p in params]
            for p, g in zip(params, step, strict=True):
                p.grad = g
            opt.step()
            assert all(p.data is not b for p, b in zip(params, before, strict=True))
        runs[fast] = [p.data for p in params] + [opt.state[i]["exp_avg_sq"] for i in range(3)]
    assert len(calls) == 9  # three parameters, three steps, all compiled
    for a, b in zip(runs[True], runs[False], strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    monkeypatch.setattr(compiled, "USE_COMPILED", True)
    calls.clear()
    with wavelearn.use_backend("torch"):  # the same loop over the tensors' memory
        params = [Parameter(torch.from_numpy(d.copy())) for d in data]
        opt = AdamW(params, lr=0.01, weight_decay=0.1)
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = torch.from_numpy(g)
            opt.step()
    assert len(calls) == 9
    for p, want in zip(params, runs[False][:3], strict=True):
        assert torch.is_tensor(p.data) and np.array_equal(p.data.numpy(), want)
