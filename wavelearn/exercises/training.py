"""Graders of the exercises of tutorials 06-08: training, causal decoding, data
parallelism (see :mod:`wavelearn.exercises`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from wavelearn.exercises.grading import Fail, call_user, compare, fmt, seeded_rng, unpack


def grade_lr_schedule(fn: Callable) -> str:
    from wavelearn.nn import Parameter
    from wavelearn.training.optim import SGD, WarmupCosineSchedule

    base, warm, total, ratio = 3e-3, 4, 20, 0.1
    sched = WarmupCosineSchedule(SGD([Parameter(np.zeros(1))], lr=base), warm, total, ratio)
    for s in range(total + 2):
        expected = sched.get_lr(s)
        got = call_user(fn, f"lr_schedule({s}, {base}, {warm}, {total}, {ratio})",
                    s, base, warm, total, ratio)
        if not math.isclose(float(got), expected, rel_tol=1e-9, abs_tol=1e-15):
            hint = ""
            if s < warm and math.isclose(float(got), base * s / warm):
                hint = "\nhint: off by one step: the first step (s = 0) already uses lr0 / W"
            raise Fail(f"lr_schedule at step {s} (lr0 = {base}, W = {warm}, T = {total}, "
                        f"r = {ratio}): expected {fmt(expected)}, got {fmt(float(got))}{hint}")
    return "matches wavelearn.training.optim.WarmupCosineSchedule at every step."


def grade_adamw_update(fn: Callable) -> str:
    from wavelearn.nn import Parameter
    from wavelearn.training.optim import AdamW

    rng = seeded_rng(15)
    theta0 = rng.standard_normal(5)
    p = Parameter(theta0.copy())
    opt = AdamW([p], lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    theta, m, v = theta0.copy(), np.zeros(5), np.zeros(5)
    for t in range(1, 4):
        g = rng.standard_normal(5)
        p.grad = g.copy()
        opt.step()
        got = unpack("adamw_update(...)", call_user(
            fn, f"adamw_update(theta, g, m, v, t={t}, lr=0.1, betas=(0.9, 0.99), eps=1e-8, "
                "weight_decay=0.1)", theta, g, m, v, t, 0.1, (0.9, 0.99), 1e-8, 0.1), 3)
        state = opt.state[0]
        m_exp, v_exp = state["exp_avg"], state["exp_avg_sq"]
        compare(f"m after step {t}", m_exp, got[1])
        compare(f"v after step {t}", v_exp, got[2])
        no_decay = theta - 0.1 / (1 - 0.9**t) * m_exp / (np.sqrt(v_exp / (1 - 0.99**t)) + 1e-8)
        compare(f"theta after step {t}", p.data, got[0], [
            (no_decay, "the decoupled weight decay theta <- theta (1 - lr wd) is missing"),
            (theta * (1 - 0.01) - 0.1 * m_exp / (np.sqrt(v_exp) + 1e-8),
             "the bias corrections 1 - beta1^t and 1 - beta2^t are missing"),
        ])
        theta, m, v = (np.asarray(a, dtype=np.float64) for a in got)
    return "three steps match wavelearn.training.optim.AdamW (and torch.optim.AdamW)."


# ---------------------------------------------------------------------------
# 07: causal decoding
# ---------------------------------------------------------------------------


def grade_receptive_field(fn: Callable) -> str:
    for F in (2, 4, 8):
        for J in (1, 2, 3, 4):
            expected = 1 + (F - 1) * (2**J - 1)
            got = call_user(fn, f"receptive_field({F}, {J})", F, J)
            if got != expected:
                hint = ""
                if got == expected - 1:
                    hint = "\nhint: off by one: count the sample at t itself"
                elif got == (F - 1) * 2**J + 1 or got == F * 2**J:
                    hint = ("\nhint: level j dilates the filter by 2^(j-1), so the reaches "
                            "(F-1)(1 + 2 + ... + 2^(J-1)) add up")
                raise Fail(f"receptive_field(F={F}, J={J}): expected {expected} samples "
                            f"(t and the {expected - 1} before it), got {fmt(got)}{hint}")
    return "right for F = 2, 4, 8 and J = 1..4: 1 + (F - 1)(2^J - 1)."


def grade_causal_filter(fn: Callable) -> str:
    rng = seeded_rng(16)
    x, h = rng.standard_normal(20), np.array([0.5, 0.3, 0.2])
    for dilation in (1, 2, 4):
        expected = np.zeros_like(x)
        for i, hi in enumerate(h):
            expected[i * dilation:] += hi * x[: x.size - i * dilation]
        delayed = np.concatenate([[0.0], expected[:-1]])
        ahead = np.zeros_like(x)
        for i, hi in enumerate(h):
            ahead[: x.size - i * dilation] += hi * x[i * dilation:]
        got = call_user(fn, f"causal_filter(x, h, {dilation})", x, h, dilation)
        compare(f"causal_filter(x, h, {dilation})", expected, got,
                 context="for h = [0.5, 0.3, 0.2]", mistakes=[
            (delayed, "your output is the right one delayed by one sample (off by one): tap i "
                      "reads x[t - i * dilation], so tap 0 reads x[t] itself"),
            (ahead, "your filter reads the future, x[t + i * dilation]: a causal filter reads "
                    "x[t - i * dilation]"),
        ])
    return "matches s[t] = sum_i h[i] x[t - i d] (zeros before the start) for d = 1, 2, 4."


# ---------------------------------------------------------------------------
# 08: data parallelism
# ---------------------------------------------------------------------------


def grade_shard(fn: Callable) -> str:
    batch = np.arange(12)
    for world in (2, 3, 4):
        for rank in range(world):
            got = call_user(fn, f"shard(batch, rank={rank}, world={world})", batch, rank, world)
            compare(f"shard(arange(12), rank={rank}, world={world})", batch[rank::world], got, [
                (np.array_split(batch, world)[rank], "wavelearn deals the examples out like "
                 "cards: rank r takes r, r + W, r + 2W, ..."),
            ])
    return "rank r takes examples r, r + W, ... as wavelearn.training.distributed does."


def grade_data_parallel_gradient(fn: Callable) -> str:
    rng = seeded_rng(17)
    X, y, w = rng.standard_normal((12, 3)), rng.standard_normal(12), rng.standard_normal(3)

    def grad_fn(Xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Gradient of the mean squared error of a linear model over the given examples."""
        return 2 * Xs.T @ (Xs @ w - ys) / len(ys)

    expected = grad_fn(X, y)
    for world in (2, 3, 4):
        got = call_user(fn, f"data_parallel_gradient(grad_fn, X, y, {world})", grad_fn, X, y, world)
        compare("the gradient", expected, got, context=f"with world = {world} processes",
                 mistakes=[
            (world * expected, "average the per-process gradients (all_reduce, then divide by "
                               "W): you summed them"),
        ])
    return "the mean of the shards' mean gradients equals the full batch's gradient."
