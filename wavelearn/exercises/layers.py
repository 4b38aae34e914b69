"""Graders of the exercises of tutorials 05 and 05b: the mixing layer, the block by
hand (see :mod:`wavelearn.exercises`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from wavelearn.exercises.grading import (
    Fail,
    all_close,
    call_user,
    check_gradient,
    compare,
    direction_checks,
    mismatch,
    seeded_rng,
    unpack,
)


def mixing_case(seed: int, level: bool = False) -> tuple[list, Any, list, list[int]]:
    """Random bands (B, n_k, D) of a 2-level decomposition, a weight and output gradients."""
    rng = seeded_rng(seed)
    B, D, lengths, repeats = 2, 3, [3, 3, 6], [4, 4, 2]
    bands = [rng.standard_normal((B, n, D)) for n in lengths]
    K = len(lengths)
    weight = rng.standard_normal((K, K, D) if level else (K, D, D))
    dout = [rng.standard_normal((B, n, D)) for n in lengths]
    return bands, weight, dout, repeats


def channel_forward(bands: list, W: np.ndarray) -> list:
    return [c @ W[k] for k, c in enumerate(bands)]


def spread(c: np.ndarray, r: int, grid: int) -> np.ndarray:
    """R: repeat each coefficient r times along axis 1, zero-fill to ``grid``."""
    u = np.repeat(c, r, axis=1)
    return np.concatenate([u, np.zeros((c.shape[0], grid - u.shape[1], c.shape[2]))], axis=1)


def level_forward(bands: list, M: np.ndarray, repeats: list[int]) -> list:
    r"""Level mixing: :math:`\tilde c_j = R_j^\top \sum_k M_{jk} \odot R_k c_k / r_j`."""
    grid = max(c.shape[1] * r for c, r in zip(bands, repeats, strict=True))
    u = [spread(c, r, grid) for c, r in zip(bands, repeats, strict=True)]
    out = []
    for j, (c, r) in enumerate(zip(bands, repeats, strict=True)):
        s = sum(M[j, k] * uk for k, uk in enumerate(u))[:, : c.shape[1] * r]
        out.append(s.reshape(c.shape[0], c.shape[1], r, -1).sum(axis=2) / r)
    return out


def pairing_loss(forward: Callable, bands: list, weight: np.ndarray, dout: list,
                  wrt: str) -> Callable[[np.ndarray], float]:
    """``L = sum_k <dout_k, out_k>`` as a function of the flat bands or of the weight."""
    shapes = [c.shape for c in bands]

    def loss(v: np.ndarray) -> float:
        if wrt == "weight":
            out = forward(bands, v)
        else:
            parts = np.split(v, np.cumsum([math.prod(s) for s in shapes])[:-1])
            out = forward([p.reshape(s) for p, s in zip(parts, shapes, strict=True)], weight)
        return float(sum(np.sum(g * o) for g, o in zip(dout, out, strict=True)))

    return loss


def check_mixing_backward(fn: Callable, name: str, forward: Callable, bands: list,
                           weight: np.ndarray, dout: list, expected: tuple[list, Any],
                           args: tuple, mistakes: dict[str, list]) -> None:
    got = unpack(f"{name}(...)", call_user(fn, f"{name}(bands, weight, ...)", *args), 2)
    dbands, dweight = got
    if not isinstance(dbands, (list, tuple)) or len(dbands) != len(bands):
        raise Fail(f"{name}: the first return value must be a list of {len(bands)} band "
                    f"gradients, got {type(dbands).__name__}")
    flat = np.concatenate([c.ravel() for c in bands])
    loss_x = pairing_loss(forward, bands, weight, dout, "bands")
    for k, (exp, g) in enumerate(zip(expected[0], dbands, strict=True)):
        problem = mismatch(f"dbands[{k}]", exp, g)
        if problem is not None:
            mine = np.concatenate([np.asarray(b, dtype=np.float64).ravel() for b in dbands]) \
                if all(np.shape(b) == c.shape for b, c in zip(dbands, bands, strict=True)) \
                else np.zeros(1)
            hints = [h for wrong, h in mistakes["dbands"] if all_close(wrong[k], g)]
            lines = [problem, *(f"hint: {h}" for h in hints)]
            lines += direction_checks(loss_x, flat, mine, "dbands (all bands, flattened)")
            raise Fail("\n".join(lines))
    loss_w = pairing_loss(forward, bands, weight, dout, "weight")
    check_gradient("dweight", expected[1], dweight, loss_w, weight, mistakes["dweight"])


def grade_channel_backward(fn: Callable) -> str:
    bands, W, dout, _ = mixing_case(7)
    dbands = [g @ W[k].T for k, g in enumerate(dout)]
    dW = np.stack([np.einsum("bnd,bne->de", c, g) for c, g in zip(bands, dout, strict=True)])
    mistakes = {
        "dbands": [([g @ W[k] for k, g in enumerate(dout)],
                    "you multiplied by W_k; the backward of c -> c W_k multiplies by W_k^T "
                    "(the transposed matrix)")],
        "dweight": [(dW.transpose(0, 2, 1), "dW_k is transposed: dW_k = sum over batch and "
                     "position of c_k^T dout_k, shape (D_in, D_out)"),
                    (dW / bands[0].shape[0], "sum over the batch, do not average")],
    }
    check_mixing_backward(fn, "channel_backward", channel_forward, bands, W, dout,
                           (dbands, dW), (bands, W, dout), mistakes)
    return "dbands and dW match, and pass random-direction gradient checks."


def level_backward_reference(bands: list, M: np.ndarray, repeats: list[int],
                              dout: list) -> tuple[list, np.ndarray]:
    grid = max(c.shape[1] * r for c, r in zip(bands, repeats, strict=True))
    u = [spread(c, r, grid) for c, r in zip(bands, repeats, strict=True)]
    ds = [spread(g, r, grid) / r for g, r in zip(dout, repeats, strict=True)]
    dM = np.stack([np.stack([np.sum(uk * s, axis=(0, 1)) for uk in u]) for s in ds])
    dbands = []
    for k, (c, r) in enumerate(zip(bands, repeats, strict=True)):
        s = sum(M[j, k] * sj for j, sj in enumerate(ds))[:, : c.shape[1] * r]
        dbands.append(s.reshape(c.shape[0], c.shape[1], r, -1).sum(axis=2))
    return dbands, dM


def grade_level_backward(fn: Callable) -> str:
    bands, M, dout, repeats = mixing_case(8, level=True)
    expected = level_backward_reference(bands, M, repeats, dout)
    no_scale = level_backward_reference(bands, M, repeats,
                                         [g * r for g, r in zip(dout, repeats, strict=True)])
    swapped = level_backward_reference(bands, M.transpose(1, 0, 2), repeats, dout)
    mistakes = {
        "dbands": [(no_scale[0], "the 1/r_j of the averaging P_j is missing"),
                   (swapped[0], "M is used transposed: band k receives sum_j M[j, k] * dS_j")],
        "dweight": [(no_scale[1], "the 1/r_j of the averaging P_j is missing"),
                    (expected[1].transpose(1, 0, 2), "dM is transposed: dM[j, k] pairs the "
                     "gradient of output band j with input band k")],
    }

    def forward(b: list, m: np.ndarray) -> list:
        return level_forward(b, m, repeats)

    check_mixing_backward(fn, "level_backward", forward, bands, M, dout, expected,
                           (bands, M, repeats, dout), mistakes)
    return "dbands and dM match, and pass random-direction gradient checks."


# ---------------------------------------------------------------------------
# 05b: the block by hand
# ---------------------------------------------------------------------------


def grade_layernorm_backward(fn: Callable) -> str:
    from wavelearn.nn import LayerNorm

    rng = seeded_rng(10)
    x, dy = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 5))
    w, b, eps = 1 + 0.3 * rng.standard_normal(5), 0.1 * rng.standard_normal(5), 1e-5
    ln = LayerNorm(5, eps=eps, dtype=np.float64)
    ln.weight.data[...], ln.bias.data[...] = w, b
    ln(x)
    ln.zero_grad()
    dx = ln.backward(dy)
    got = unpack("layernorm_backward(...)",
                  call_user(fn, "layernorm_backward(dy, x, w, eps)", dy, x, w, eps), 3)
    xhat = ln.cache["xhat"]
    naive = dy * w * ln.cache["rstd"]

    def loss(v: np.ndarray) -> float:
        return float(np.sum(dy * ln.forward(v)))

    check_gradient("dx", dx, got[0], loss, x, [
        (naive, "you treated the mean and the variance as constants: subtract the mean of g "
                "and x_hat * mean(g * x_hat) (g = dy * w)"),
        (naive - np.mean(dy * w, axis=-1, keepdims=True) * ln.cache["rstd"],
         "the term from the variance, - x_hat * mean(g * x_hat), is missing"),
    ])
    compare("dw", ln.weight.grad, got[1], [(np.sum(dy, axis=(0, 1)), "dw pairs dy with x_hat")])
    compare("db", ln.bias.grad, got[2], [(np.sum(dy * xhat, axis=(0, 1)), "dw and db swapped")])
    return "dx, dw and db match wavelearn.nn.LayerNorm, and dx passes gradient checks."


def grade_gelu_backward(fn: Callable) -> str:
    from wavelearn.nn import GELU

    rng = seeded_rng(11)
    x, dy = 2 * rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    act = GELU()
    act(x)
    expected = act.backward(dy)
    got = call_user(fn, "gelu_backward(x, dy)", x, dy)
    t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))

    def loss(v: np.ndarray) -> float:
        return float(np.sum(dy * act.forward(v)))

    check_gradient("dx", expected, got, loss, x, [
        (dy * 0.5 * (1 + t), "the product rule's second term, x/2 * (1 - tanh^2 u) * du/dx, "
                             "is missing"),
    ])
    return "matches wavelearn.nn.GELU (tanh form) and passes gradient checks."


def grade_cross_entropy_backward(fn: Callable) -> str:
    from wavelearn.nn import CrossEntropyLoss

    rng = seeded_rng(12)
    logits, targets = 3 * rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    crit = CrossEntropyLoss()
    crit(logits, targets)
    expected = crit.backward()
    got = call_user(fn, "cross_entropy_backward(logits, targets)", logits, targets)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(4)[targets]

    def loss(v: np.ndarray) -> float:
        return CrossEntropyLoss()(v, targets)

    check_gradient("dlogits", expected, got, loss, logits, [
        (p - onehot, "divide by the batch size: the loss is the mean over the examples"),
        (onehot - p, "the sign is reversed: dL/dz = (softmax(z) - onehot) / B"),
        (p / 5, "subtract the one-hot target"),
    ])
    return "matches wavelearn.nn.CrossEntropyLoss and passes gradient checks."


def grade_mean_pool_backward(fn: Callable) -> str:
    dp, n = seeded_rng(13).standard_normal((3, 4)), 6
    got = call_user(fn, f"mean_pool_backward(dp, {n})", dp, n)
    expected = np.broadcast_to(dp[:, None, :] / n, (3, n, 4))
    h0 = seeded_rng(14).standard_normal((3, n, 4))

    def loss(h: np.ndarray) -> float:
        return float(np.sum(dp * h.mean(axis=1)))

    check_gradient("dh", expected, got, loss, h0, [
        (np.broadcast_to(dp[:, None, :], (3, n, 4)), "divide by N: every position gets 1/N of "
                                                     "the pooled gradient"),
    ])
    return "every position receives dp / N."
