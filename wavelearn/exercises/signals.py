"""Graders of the exercises of tutorials 01-04: the Haar transform, filter banks,
denoising, backpropagation through the DWT (see :mod:`wavelearn.exercises`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pywt

from wavelearn.exercises.grading import (
    Fail,
    as_array,
    call_user,
    check_gradient,
    compare,
    fmt,
    seeded_rng,
    unpack,
)


def grade_haar_step(fn: Callable) -> str:
    for x in (np.array([4.0, 6.0, 10.0, 12.0, 8.0, 6.0, 5.0, 5.0]),
              seeded_rng(1).standard_normal(16)):
        a, d = unpack("haar_step(x)", call_user(fn, f"haar_step(x) with len(x) = {x.size}", x), 2)
        ea, ed = pywt.dwt(x, "haar")
        for what, exp, got, other in [("a", ea, a, ed), ("d", ed, d, ea)]:
            compare(what, exp, got, context=f"for x = {np.round(x, 3).tolist()}", mistakes=[
                (other, f"you returned the other band as {what}: return (a, d), averages first"),
                (exp * math.sqrt(2) / 2, "you divided by 2: divide by sqrt(2) to keep the energy"),
                (-exp, f"{what} has the wrong sign: d_k = (x[2k] - x[2k+1]) / sqrt(2)"),
            ])
    return "a and d match pywt.dwt(x, 'haar') on two signals."


def grade_haar_inverse(fn: Callable) -> str:
    x = seeded_rng(2).standard_normal(12)
    a, d = pywt.dwt(x, "haar")
    got = call_user(fn, "haar_inverse(a, d)", a, d)
    compare("haar_inverse(a, d)", x, got, [
        (np.concatenate([(a + d) / math.sqrt(2), (a - d) / math.sqrt(2)]),
         "interleave: x[2k] = (a_k + d_k)/sqrt(2) goes to position 2k, x[2k+1] to 2k+1"),
        (x * math.sqrt(2) / 2, "divide by sqrt(2), not by 2"),
    ])
    return "haar_inverse(*pywt.dwt(x, 'haar')) gives x back."


def dwt_matrix_of(n: int, wavelet: str, mode: str) -> np.ndarray:
    """The matrix of one DWT level, rows = [cA, cD] (wavelearn.dwt of the unit vectors)."""
    import wavelearn as wl

    ca, cd = wl.dwt(np.eye(n), wavelet, mode, axis=-1)  # row i: dwt(e_i)
    return np.concatenate([ca, cd], axis=-1).T


def grade_haar_matrix(fn: Callable) -> str:
    for n in (2, 8):
        W = dwt_matrix_of(n, "haar", "periodization")
        got = call_user(fn, f"haar_matrix({n})", n)
        compare(f"haar_matrix({n})", W, got, [
            (W.T, "your matrix is the transpose: row k of W holds the weights that coefficient "
                  "k gives to the samples (averages in the first n/2 rows)"),
            (np.vstack([W[n // 2:], W[: n // 2]]), "put the averages first, the differences "
                                                   "second"),
        ])
    return "haar_matrix(n) @ x == concatenate(pywt.dwt(x, 'haar')) for n = 2 and 8."


# ---------------------------------------------------------------------------
# 02: filter banks
# ---------------------------------------------------------------------------


def grade_alternating_flip(fn: Callable) -> str:
    for name in ("db2", "db4", "sym5"):
        w = pywt.Wavelet(name)
        h, g = np.array(w.dec_lo), np.array(w.dec_hi)
        n = np.arange(h.size)
        got = call_user(fn, f"alternating_flip(h) with h = {name}'s dec_lo", h)
        compare("g", g, got, context=f"for h = {name}'s dec_lo", mistakes=[
            ((-1.0) ** (n + 1) * h, "reverse h as well: g[n] = (-1)^(n+1) h[F-1-n]"),
            (-g, "the signs are the wrong way round: g[n] = (-1)^(n+1) h[F-1-n], so "
                 "g[0] = -h[F-1]"),
            (h[::-1], "alternate the signs too: g[n] = (-1)^(n+1) h[F-1-n]"),
        ])
    return "g equals PyWavelets' dec_hi for db2, db4 and sym5."


def grade_symmetric_extension(fn: Callable) -> str:
    x = np.array([1.0, 1.5, 2.5, 2.2, 1.8, 2.0, 2.8, 3.5])
    for p in (1, 3, 6):
        got = call_user(fn, f"symmetric_extension(x, {p})", x, p)
        compare(f"symmetric_extension(x, {p})", pywt.pad(x, p, "symmetric"), got,
                 context=f"for x = {x.tolist()}", mistakes=[
                     (pywt.pad(x, p, "reflect"), "that is `reflect` (mirror through the edge "
                      "sample); `symmetric` repeats the edge sample: ..., x1, x0 | x0, x1, ..."),
                     (pywt.pad(x, p, "antisymmetric"), "no sign flip: that is `antisymmetric`"),
                 ])
    return "matches pywt.pad(x, p, 'symmetric') for p = 1, 3, 6."


def grade_coeff_len(fn: Callable) -> str:
    for mode in ("symmetric", "zero", "periodization"):
        for F in (2, 4, 8):
            for n in (7, 8, 33, 64):
                got = call_user(fn, f"coeff_len({n}, {F}, {mode!r})", n, F, mode)
                expected = pywt.dwt_coeff_len(n, F, mode)
                if got != expected:
                    hint = ""
                    if mode == "periodization":
                        hint = "\nhint: periodization keeps ceil(N / 2) coefficients per band"
                    elif got == (n + F) // 2:
                        hint = "\nhint: the padded signal has N + 2(F-1) samples: floor((N+F-1)/2)"
                    raise Fail(f"coeff_len({n}, {F}, {mode!r}): expected {expected}, got "
                                f"{fmt(got)}{hint}")
    return "right for symmetric, zero and periodization, F = 2, 4, 8 and four lengths."


# ---------------------------------------------------------------------------
# 03: denoising
# ---------------------------------------------------------------------------


def grade_soft_threshold(fn: Callable) -> str:
    c, tau = np.linspace(-3, 3, 13), 1.2
    got = call_user(fn, "soft_threshold(c, 1.2)", c, tau)
    compare("soft_threshold(c, 1.2)", pywt.threshold(c, tau, "soft"), got,
             context=f"for c = {c.tolist()}", mistakes=[
        (pywt.threshold(c, tau, "hard"), "that is hard thresholding: also shrink the kept "
         "coefficients towards zero by tau"),
        (np.maximum(np.abs(c) - tau, 0), "keep the sign: sign(c) * max(|c| - tau, 0)"),
    ])
    return "matches pywt.threshold(c, tau, 'soft')."


def grade_universal_threshold(fn: Callable) -> str:
    cd1 = np.concatenate([0.3 * seeded_rng(3).standard_normal(70), [4.0, -5.0]])
    n = 140
    got = call_user(fn, "universal_threshold(cD1, 140)", cd1, n)
    sigma = np.median(np.abs(cd1)) / 0.6745
    expected = sigma * math.sqrt(2 * math.log(n))
    compare("universal_threshold(cD1, 140)", expected, got, [
        (np.std(cd1) * math.sqrt(2 * math.log(n)), "estimate sigma with median(|cD1|) / 0.6745: "
         "the standard deviation is pulled up by the few large coefficients of the signal"),
        (np.median(np.abs(cd1)) * math.sqrt(2 * math.log(n)), "divide the median by 0.6745"),
        (sigma * math.sqrt(2 * math.log10(n)), "use the natural logarithm"),
        (sigma * math.sqrt(2 * math.log(cd1.size)), "N is the length of the signal, not of cD1"),
    ])
    return f"tau = {fmt(expected)} for the test coefficients."


# ---------------------------------------------------------------------------
# 04: backpropagation through the DWT
# ---------------------------------------------------------------------------


def grade_dwt_matrix(fn: Callable) -> str:
    for n, wavelet, mode in [(8, "haar", "periodization"), (16, "db2", "periodization"),
                             (12, "db2", "symmetric")]:
        A = dwt_matrix_of(n, wavelet, mode)
        got = call_user(fn, f"dwt_matrix({n}, {wavelet!r}, {mode!r})", n, wavelet, mode)
        compare(f"dwt_matrix({n}, {wavelet!r}, {mode!r})", A, got, [
            (A.T, "your matrix is the transpose: column i is dwt(e_i), so stack the transforms "
                  "of the unit vectors as columns (or transpose what you built)"),
        ])
    return "equals the matrix of wavelearn.dwt for haar and db2, periodization and symmetric."


def extension_matrix(n: int, p: int) -> np.ndarray:
    """``E`` with ``E @ x == pywt.pad(x, p, 'symmetric')``: (n + 2p, n)."""
    return np.stack([pywt.pad(e, p, "symmetric") for e in np.eye(n)], axis=1)


def grade_extension_adjoint(fn: Callable) -> str:
    for n, p in [(8, 3), (5, 5)]:
        E = extension_matrix(n, p)
        g = seeded_rng(4 + p).standard_normal(n + 2 * p)
        got = call_user(fn, f"symmetric_extension_adjoint(g, {n}, {p})", g, n, p)
        try:
            compare(f"symmetric_extension_adjoint(g, n={n}, p={p})", E.T @ g, got, [
                (g[p:p + n], "the padding's gradient is missing: every padded sample is a copy of "
                 "a real one, so its gradient must be added back (folded) onto that sample: "
                 "g[p-1] onto x0, g[p-2] onto x1, ..., and likewise at the right edge"),
                (E.T @ g - g[p:p + n] + g[p:p + n][::-1], "the middle part is not reversed"),
            ])
        except Fail as fail:
            x = seeded_rng(9).standard_normal(n)
            yours = float(np.dot(x, as_array("the adjoint", got)))
            raise Fail(f"{fail}\ndot-product test with a random x (shape ({n},)): <E x, g> = "
                        f"{fmt(np.dot(E @ x, g))}, <x, yours> = {fmt(yours)}") from None
    return "passes for (n, p) = (8, 3) and (5, 5), where the mirror reaches the far edge."


def grade_tanh_loss_gradient(fn: Callable) -> str:
    import wavelearn as wl

    n, wavelet, level = 37, "db2", 2
    x = seeded_rng(5).standard_normal(n)
    weights = [seeded_rng(6 + k).standard_normal(c.shape)
               for k, c in enumerate(wl.wavedec(x, wavelet, "symmetric", level=level))]

    def loss(v: np.ndarray) -> float:
        c = wl.wavedec(v, wavelet, "symmetric", level=level)
        return float(sum(np.sum(w * np.tanh(ck)) for w, ck in zip(weights, c, strict=True)))

    c = wl.wavedec(x, wavelet, "symmetric", level=level)
    cbar = [w * (1 - np.tanh(ck) ** 2) for w, ck in zip(weights, c, strict=True)]
    expected = wl.wavedec_adjoint(cbar, wavelet, "symmetric", length=n)
    got = call_user(fn, "tanh_loss_gradient(x, weights, 'db2', 2)", x, weights, wavelet, level)
    check_gradient("dx", expected, got, loss, x, [
        (wl.waverec(cbar, wavelet, "symmetric")[:n], "you used waverec, the inverse; in "
         "symmetric mode the backward pass is the adjoint, wavelearn.wavedec_adjoint"),
        (wl.wavedec_adjoint(weights, wavelet, "symmetric", length=n), "multiply by tanh' = "
         "1 - tanh(c)^2 before going back through the transform"),
    ])
    return "matches the adjoint and passes three random-direction gradient checks."
