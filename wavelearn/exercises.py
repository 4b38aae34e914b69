r"""Exercises that check themselves.

Every tutorial ends with a few exercises: you write a small function, and
:func:`check` grades it against an independent oracle (PyWavelets, a
wavelearn layer, central differences or a formula) on a few fixed inputs::

    from wavelearn.exercises import check

    def haar_step(x):
        a = (x[0::2] + x[1::2]) / np.sqrt(2)
        d = (x[0::2] - x[1::2]) / np.sqrt(2)
        return a, d

    check("01.1", haar_step)   # -> "01.1 (one Haar step): passed. ..."

The feedback is specific: which output and which entry differ, the expected
and the returned value, and for backward passes which gradient-check
direction fails, i.e. for a random direction :math:`u` (seeded, so it can be
reproduced) the central difference

.. math:: \frac{L(x + \epsilon u) - L(x - \epsilon u)}{2\epsilon}
    \quad\text{against your}\quad \langle \nabla L, u \rangle .

When a wrong answer matches a common mistake (a transposed matrix, a missing
fold-back at the edge, a delay off by one sample, ...) the feedback says so.
A function that still raises ``NotImplementedError`` is reported as "not
attempted yet".

:data:`EXERCISES` lists every exercise (``exercise_id -> Exercise``);
:func:`describe` prints the task of one. Reference solutions are in
``tutorials/solutions.py`` (read them after trying). This module imports
only NumPy, PyWavelets and wavelearn's NumPy code; it is not imported by
``import wavelearn``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pywt

__all__ = ["EXERCISES", "Exercise", "Feedback", "check", "describe"]


# ---------------------------------------------------------------------------
# Results and the grading machinery
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Feedback:
    """The result of :func:`check`: ``passed``, and a ``message`` for the reader.

    Truthy when the exercise passed. Its ``repr`` is the message, so a notebook
    cell that ends with ``check(...)`` shows the feedback.
    """

    exercise_id: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id (``'NN.k'``), title, the function to write and its grader."""

    exercise_id: str
    title: str
    signature: str
    task: str
    grader: Callable[[Callable[..., Any]], str]


class _Fail(Exception):
    """Raised inside a grader with the reader-facing explanation."""


def _fmt(v: Any) -> str:
    """A number as ``1.23457`` (6 significant digits); anything else as ``repr``."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(v)


def _copy(arg: Any) -> Any:
    """A copy of an array (or of a list of arrays), so that in-place edits stay private."""
    if isinstance(arg, np.ndarray):
        return arg.copy()
    if isinstance(arg, list):
        return [_copy(a) for a in arg]
    return arg


def _call(fn: Callable[..., Any], desc: str, *args: Any) -> Any:
    """``fn(*copies of args)``; an exception becomes a :class:`_Fail` that shows the call."""
    try:
        return fn(*(_copy(a) for a in args))
    except NotImplementedError:
        raise
    except Exception as e:  # the reader's code may raise anything
        raise _Fail(f"calling {desc} raised {type(e).__name__}: {e}") from e


def _as_array(what: str, got: Any) -> np.ndarray:
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise _Fail(f"{what}: expected an array of numbers, got {type(got).__name__} "
                    f"({e})") from e
    return arr


def _unpack(what: str, got: Any, n: int) -> tuple:
    """``got`` as a tuple of ``n`` items (a function that must return ``n`` values)."""
    if not isinstance(got, (tuple, list)) or len(got) != n:
        kind = f"{len(got)} values" if isinstance(got, (tuple, list)) else type(got).__name__
        raise _Fail(f"{what}: expected {n} return values, got {kind}")
    return tuple(got)


def _mismatch(what: str, expected: Any, got: Any, context: str = "", atol: float = 1e-9,
              rtol: float = 1e-7) -> str | None:
    """``None`` when ``got`` equals ``expected`` to tolerance, else what differs (a sentence).

    ``what`` names the returned array (its first differing index is appended),
    ``context`` says for which input (e.g. ``"for x = [...]"``).
    """
    e = np.asarray(expected, dtype=np.float64)
    g = _as_array(what, got)
    ctx = f" {context}" if context else ""
    if g.shape != e.shape:
        return f"{what}{ctx}: expected shape {e.shape}, got shape {g.shape}"
    if not np.all(np.isfinite(g)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
        return f"{what}{list(idx) if idx else ''}{ctx} is {g[idx]} (not finite)"
    bad = ~np.isclose(g, e, atol=atol, rtol=rtol)
    if not bad.any():
        return None
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f"{what}{list(idx) if idx else ''}{ctx}"
    if bad.size == 1:
        return f"{where}: expected {_fmt(e[idx])}, got {_fmt(g[idx])}"
    return (f"{where}: expected {_fmt(e[idx])}, got {_fmt(g[idx])} ({int(bad.sum())} of "
            f"{bad.size} entries differ, the largest by {_fmt(np.abs(g - e).max())})")


def _matches(expected: Any, got: Any) -> bool:
    e, g = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    return e.shape == g.shape and bool(np.allclose(g, e, atol=1e-9, rtol=1e-7))


def _compare(what: str, expected: Any, got: Any,
             mistakes: Sequence[tuple[Any, str]] = (), context: str = "") -> None:
    """Raise :class:`_Fail` naming the first differing entry, plus a hint for a known mistake.

    ``mistakes``: ``(wrong_value, hint)`` pairs; when ``got`` equals a wrong value,
    its hint is added.
    """
    problem = _mismatch(what, expected, got, context)
    if problem is None:
        return
    try:
        hints = [hint for wrong, hint in mistakes if _matches(wrong, got)]
    except (TypeError, ValueError):
        hints = []
    raise _Fail(problem + "".join(f"\nhint: {h}" for h in hints))


def _direction_checks(loss: Callable[[np.ndarray], float], x: np.ndarray, grad: Any,
                      name: str, seeds: Sequence[int] = (0, 1, 2), eps: float = 1e-6) -> list[str]:
    """Sentences for the random directions along which ``grad`` fails a gradient check."""
    g = _as_array(f"the gradient {name}", grad)
    if g.shape != x.shape:
        return [f"the gradient {name} has shape {g.shape}, but {name[1:]} has shape {x.shape}"]
    failures = []
    for seed in seeds:
        u = np.random.default_rng(seed).standard_normal(x.shape)
        fd = (loss(x + eps * u) - loss(x - eps * u)) / (2 * eps)
        yours = float(np.sum(g * u))
        if not math.isclose(fd, yours, rel_tol=1e-5, abs_tol=1e-7):
            failures.append(
                f"gradient check of {name} along the random direction u (numpy seed {seed}, "
                f"standard normal, shape {x.shape}) fails: central difference "
                f"(L(x + eps u) - L(x - eps u)) / (2 eps) = {_fmt(fd)}, your <{name}, u> = "
                f"{_fmt(yours)}")
    return failures


def _gradient(what: str, expected: Any, got: Any, loss: Callable[[np.ndarray], float],
              x: np.ndarray, mistakes: Sequence[tuple[Any, str]] = ()) -> None:
    """Entry comparison *and* directional gradient checks of one gradient; raise on failure."""
    try:
        _compare(what, expected, got, mistakes)
        return
    except _Fail as fail:
        entry = str(fail)
    lines = [entry, *_direction_checks(loss, x, got, what)]
    raise _Fail("\n".join(lines))


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([2024, seed])


# ---------------------------------------------------------------------------
# 01: the Haar transform
# ---------------------------------------------------------------------------


def _grade_haar_step(fn: Callable) -> str:
    for x in (np.array([4.0, 6.0, 10.0, 12.0, 8.0, 6.0, 5.0, 5.0]), _rng(1).standard_normal(16)):
        a, d = _unpack("haar_step(x)", _call(fn, f"haar_step(x) with len(x) = {x.size}", x), 2)
        ea, ed = pywt.dwt(x, "haar")
        for what, exp, got, other in [("a", ea, a, ed), ("d", ed, d, ea)]:
            _compare(what, exp, got, context=f"for x = {np.round(x, 3).tolist()}", mistakes=[
                (other, f"you returned the other band as {what}: return (a, d), averages first"),
                (exp * math.sqrt(2) / 2, "you divided by 2: divide by sqrt(2) to keep the energy"),
                (-exp, f"{what} has the wrong sign: d_k = (x[2k] - x[2k+1]) / sqrt(2)"),
            ])
    return "a and d match pywt.dwt(x, 'haar') on two signals."


def _grade_haar_inverse(fn: Callable) -> str:
    x = _rng(2).standard_normal(12)
    a, d = pywt.dwt(x, "haar")
    got = _call(fn, "haar_inverse(a, d)", a, d)
    _compare("haar_inverse(a, d)", x, got, [
        (np.concatenate([(a + d) / math.sqrt(2), (a - d) / math.sqrt(2)]),
         "interleave: x[2k] = (a_k + d_k)/sqrt(2) goes to position 2k, x[2k+1] to 2k+1"),
        (x * math.sqrt(2) / 2, "divide by sqrt(2), not by 2"),
    ])
    return "haar_inverse(*pywt.dwt(x, 'haar')) gives x back."


def _dwt_matrix(n: int, wavelet: str, mode: str) -> np.ndarray:
    """The matrix of one DWT level, rows = [cA, cD] (wavelearn.dwt of the unit vectors)."""
    import wavelearn as wl

    ca, cd = wl.dwt(np.eye(n), wavelet, mode, axis=-1)  # row i: dwt(e_i)
    return np.concatenate([ca, cd], axis=-1).T


def _grade_haar_matrix(fn: Callable) -> str:
    for n in (2, 8):
        W = _dwt_matrix(n, "haar", "periodization")
        got = _call(fn, f"haar_matrix({n})", n)
        _compare(f"haar_matrix({n})", W, got, [
            (W.T, "your matrix is the transpose: row k of W holds the weights that coefficient "
                  "k gives to the samples (averages in the first n/2 rows)"),
            (np.vstack([W[n // 2:], W[: n // 2]]), "put the averages first, the differences "
                                                   "second"),
        ])
    return "haar_matrix(n) @ x == concatenate(pywt.dwt(x, 'haar')) for n = 2 and 8."


# ---------------------------------------------------------------------------
# 02: filter banks
# ---------------------------------------------------------------------------


def _grade_alternating_flip(fn: Callable) -> str:
    for name in ("db2", "db4", "sym5"):
        w = pywt.Wavelet(name)
        h, g = np.array(w.dec_lo), np.array(w.dec_hi)
        n = np.arange(h.size)
        got = _call(fn, f"alternating_flip(h) with h = {name}'s dec_lo", h)
        _compare("g", g, got, context=f"for h = {name}'s dec_lo", mistakes=[
            ((-1.0) ** (n + 1) * h, "reverse h as well: g[n] = (-1)^(n+1) h[F-1-n]"),
            (-g, "the signs are the wrong way round: g[n] = (-1)^(n+1) h[F-1-n], so "
                 "g[0] = -h[F-1]"),
            (h[::-1], "alternate the signs too: g[n] = (-1)^(n+1) h[F-1-n]"),
        ])
    return "g equals PyWavelets' dec_hi for db2, db4 and sym5."


def _grade_symmetric_extension(fn: Callable) -> str:
    x = np.array([1.0, 1.5, 2.5, 2.2, 1.8, 2.0, 2.8, 3.5])
    for p in (1, 3, 6):
        got = _call(fn, f"symmetric_extension(x, {p})", x, p)
        _compare(f"symmetric_extension(x, {p})", pywt.pad(x, p, "symmetric"), got,
                 context=f"for x = {x.tolist()}", mistakes=[
                     (pywt.pad(x, p, "reflect"), "that is `reflect` (mirror through the edge "
                      "sample); `symmetric` repeats the edge sample: ..., x1, x0 | x0, x1, ..."),
                     (pywt.pad(x, p, "antisymmetric"), "no sign flip: that is `antisymmetric`"),
                 ])
    return "matches pywt.pad(x, p, 'symmetric') for p = 1, 3, 6."


def _grade_coeff_len(fn: Callable) -> str:
    for mode in ("symmetric", "zero", "periodization"):
        for F in (2, 4, 8):
            for n in (7, 8, 33, 64):
                got = _call(fn, f"coeff_len({n}, {F}, {mode!r})", n, F, mode)
                expected = pywt.dwt_coeff_len(n, F, mode)
                if got != expected:
                    hint = ""
                    if mode == "periodization":
                        hint = "\nhint: periodization keeps ceil(N / 2) coefficients per band"
                    elif got == (n + F) // 2:
                        hint = "\nhint: the padded signal has N + 2(F-1) samples: floor((N+F-1)/2)"
                    raise _Fail(f"coeff_len({n}, {F}, {mode!r}): expected {expected}, got "
                                f"{_fmt(got)}{hint}")
    return "right for symmetric, zero and periodization, F = 2, 4, 8 and four lengths."


# ---------------------------------------------------------------------------
# 03: denoising
# ---------------------------------------------------------------------------


def _grade_soft_threshold(fn: Callable) -> str:
    c, tau = np.linspace(-3, 3, 13), 1.2
    got = _call(fn, "soft_threshold(c, 1.2)", c, tau)
    _compare("soft_threshold(c, 1.2)", pywt.threshold(c, tau, "soft"), got,
             context=f"for c = {c.tolist()}", mistakes=[
        (pywt.threshold(c, tau, "hard"), "that is hard thresholding: also shrink the kept "
         "coefficients towards zero by tau"),
        (np.maximum(np.abs(c) - tau, 0), "keep the sign: sign(c) * max(|c| - tau, 0)"),
    ])
    return "matches pywt.threshold(c, tau, 'soft')."


def _grade_universal_threshold(fn: Callable) -> str:
    cd1 = np.concatenate([0.3 * _rng(3).standard_normal(70), [4.0, -5.0]])
    n = 140
    got = _call(fn, "universal_threshold(cD1, 140)", cd1, n)
    sigma = np.median(np.abs(cd1)) / 0.6745
    expected = sigma * math.sqrt(2 * math.log(n))
    _compare("universal_threshold(cD1, 140)", expected, got, [
        (np.std(cd1) * math.sqrt(2 * math.log(n)), "estimate sigma with median(|cD1|) / 0.6745: "
         "the standard deviation is pulled up by the few large coefficients of the signal"),
        (np.median(np.abs(cd1)) * math.sqrt(2 * math.log(n)), "divide the median by 0.6745"),
        (sigma * math.sqrt(2 * math.log10(n)), "use the natural logarithm"),
        (sigma * math.sqrt(2 * math.log(cd1.size)), "N is the length of the signal, not of cD1"),
    ])
    return f"tau = {_fmt(expected)} for the test coefficients."


# ---------------------------------------------------------------------------
# 04: backpropagation through the DWT
# ---------------------------------------------------------------------------


def _grade_dwt_matrix(fn: Callable) -> str:
    for n, wavelet, mode in [(8, "haar", "periodization"), (16, "db2", "periodization"),
                             (12, "db2", "symmetric")]:
        A = _dwt_matrix(n, wavelet, mode)
        got = _call(fn, f"dwt_matrix({n}, {wavelet!r}, {mode!r})", n, wavelet, mode)
        _compare(f"dwt_matrix({n}, {wavelet!r}, {mode!r})", A, got, [
            (A.T, "your matrix is the transpose: column i is dwt(e_i), so stack the transforms "
                  "of the unit vectors as columns (or transpose what you built)"),
        ])
    return "equals the matrix of wavelearn.dwt for haar and db2, periodization and symmetric."


def _extension_matrix(n: int, p: int) -> np.ndarray:
    """``E`` with ``E @ x == pywt.pad(x, p, 'symmetric')``: (n + 2p, n)."""
    return np.stack([pywt.pad(e, p, "symmetric") for e in np.eye(n)], axis=1)


def _grade_extension_adjoint(fn: Callable) -> str:
    for n, p in [(8, 3), (5, 5)]:
        E = _extension_matrix(n, p)
        g = _rng(4 + p).standard_normal(n + 2 * p)
        got = _call(fn, f"symmetric_extension_adjoint(g, {n}, {p})", g, n, p)
        try:
            _compare(f"symmetric_extension_adjoint(g, n={n}, p={p})", E.T @ g, got, [
                (g[p:p + n], "the padding's gradient is missing: every padded sample is a copy of "
                 "a real one, so its gradient must be added back (folded) onto that sample: "
                 "g[p-1] onto x0, g[p-2] onto x1, ..., and likewise at the right edge"),
                (E.T @ g - g[p:p + n] + g[p:p + n][::-1], "the middle part is not reversed"),
            ])
        except _Fail as fail:
            x = _rng(9).standard_normal(n)
            yours = float(np.dot(x, _as_array("the adjoint", got)))
            raise _Fail(f"{fail}\ndot-product test with a random x (shape ({n},)): <E x, g> = "
                        f"{_fmt(np.dot(E @ x, g))}, <x, yours> = {_fmt(yours)}") from None
    return "passes for (n, p) = (8, 3) and (5, 5), where the mirror reaches the far edge."


def _grade_tanh_loss_gradient(fn: Callable) -> str:
    import wavelearn as wl

    n, wavelet, level = 37, "db2", 2
    x = _rng(5).standard_normal(n)
    weights = [_rng(6 + k).standard_normal(c.shape)
               for k, c in enumerate(wl.wavedec(x, wavelet, "symmetric", level=level))]

    def loss(v: np.ndarray) -> float:
        c = wl.wavedec(v, wavelet, "symmetric", level=level)
        return float(sum(np.sum(w * np.tanh(ck)) for w, ck in zip(weights, c, strict=True)))

    c = wl.wavedec(x, wavelet, "symmetric", level=level)
    cbar = [w * (1 - np.tanh(ck) ** 2) for w, ck in zip(weights, c, strict=True)]
    expected = wl.wavedec_adjoint(cbar, wavelet, "symmetric", length=n)
    got = _call(fn, "tanh_loss_gradient(x, weights, 'db2', 2)", x, weights, wavelet, level)
    _gradient("dx", expected, got, loss, x, [
        (wl.waverec(cbar, wavelet, "symmetric")[:n], "you used waverec, the inverse; in "
         "symmetric mode the backward pass is the adjoint, wavelearn.wavedec_adjoint"),
        (wl.wavedec_adjoint(weights, wavelet, "symmetric", length=n), "multiply by tanh' = "
         "1 - tanh(c)^2 before going back through the transform"),
    ])
    return "matches the adjoint and passes three random-direction gradient checks."


# ---------------------------------------------------------------------------
# 05: the mixing layer (channel and level modes)
# ---------------------------------------------------------------------------


def _mixing_case(seed: int, level: bool = False) -> tuple[list, Any, list, list[int]]:
    """Random bands (B, n_k, D) of a 2-level decomposition, a weight and output gradients."""
    rng = _rng(seed)
    B, D, lengths, repeats = 2, 3, [3, 3, 6], [4, 4, 2]
    bands = [rng.standard_normal((B, n, D)) for n in lengths]
    K = len(lengths)
    weight = rng.standard_normal((K, K, D) if level else (K, D, D))
    dout = [rng.standard_normal((B, n, D)) for n in lengths]
    return bands, weight, dout, repeats


def _channel_forward(bands: list, W: np.ndarray) -> list:
    return [c @ W[k] for k, c in enumerate(bands)]


def _spread(c: np.ndarray, r: int, grid: int) -> np.ndarray:
    """R: repeat each coefficient r times along axis 1, zero-fill to ``grid``."""
    u = np.repeat(c, r, axis=1)
    return np.concatenate([u, np.zeros((c.shape[0], grid - u.shape[1], c.shape[2]))], axis=1)


def _level_forward(bands: list, M: np.ndarray, repeats: list[int]) -> list:
    r"""Level mixing: :math:`\tilde c_j = R_j^\top \sum_k M_{jk} \odot R_k c_k / r_j`."""
    grid = max(c.shape[1] * r for c, r in zip(bands, repeats, strict=True))
    u = [_spread(c, r, grid) for c, r in zip(bands, repeats, strict=True)]
    out = []
    for j, (c, r) in enumerate(zip(bands, repeats, strict=True)):
        s = sum(M[j, k] * uk for k, uk in enumerate(u))[:, : c.shape[1] * r]
        out.append(s.reshape(c.shape[0], c.shape[1], r, -1).sum(axis=2) / r)
    return out


def _pairing_loss(forward: Callable, bands: list, weight: np.ndarray, dout: list,
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


def _check_mixing_backward(fn: Callable, name: str, forward: Callable, bands: list,
                           weight: np.ndarray, dout: list, expected: tuple[list, Any],
                           args: tuple, mistakes: dict[str, list]) -> None:
    got = _unpack(f"{name}(...)", _call(fn, f"{name}(bands, weight, ...)", *args), 2)
    dbands, dweight = got
    if not isinstance(dbands, (list, tuple)) or len(dbands) != len(bands):
        raise _Fail(f"{name}: the first return value must be a list of {len(bands)} band "
                    f"gradients, got {type(dbands).__name__}")
    flat = np.concatenate([c.ravel() for c in bands])
    loss_x = _pairing_loss(forward, bands, weight, dout, "bands")
    for k, (exp, g) in enumerate(zip(expected[0], dbands, strict=True)):
        problem = _mismatch(f"dbands[{k}]", exp, g)
        if problem is not None:
            mine = np.concatenate([np.asarray(b, dtype=np.float64).ravel() for b in dbands]) \
                if all(np.shape(b) == c.shape for b, c in zip(dbands, bands, strict=True)) \
                else np.zeros(1)
            hints = [h for wrong, h in mistakes["dbands"] if _matches(wrong[k], g)]
            lines = [problem, *(f"hint: {h}" for h in hints)]
            lines += _direction_checks(loss_x, flat, mine, "dbands (all bands, flattened)")
            raise _Fail("\n".join(lines))
    loss_w = _pairing_loss(forward, bands, weight, dout, "weight")
    _gradient("dweight", expected[1], dweight, loss_w, weight, mistakes["dweight"])


def _grade_channel_backward(fn: Callable) -> str:
    bands, W, dout, _ = _mixing_case(7)
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
    _check_mixing_backward(fn, "channel_backward", _channel_forward, bands, W, dout,
                           (dbands, dW), (bands, W, dout), mistakes)
    return "dbands and dW match, and pass random-direction gradient checks."


def _level_backward_reference(bands: list, M: np.ndarray, repeats: list[int],
                              dout: list) -> tuple[list, np.ndarray]:
    grid = max(c.shape[1] * r for c, r in zip(bands, repeats, strict=True))
    u = [_spread(c, r, grid) for c, r in zip(bands, repeats, strict=True)]
    ds = [_spread(g, r, grid) / r for g, r in zip(dout, repeats, strict=True)]
    dM = np.stack([np.stack([np.sum(uk * s, axis=(0, 1)) for uk in u]) for s in ds])
    dbands = []
    for k, (c, r) in enumerate(zip(bands, repeats, strict=True)):
        s = sum(M[j, k] * sj for j, sj in enumerate(ds))[:, : c.shape[1] * r]
        dbands.append(s.reshape(c.shape[0], c.shape[1], r, -1).sum(axis=2))
    return dbands, dM


def _grade_level_backward(fn: Callable) -> str:
    bands, M, dout, repeats = _mixing_case(8, level=True)
    expected = _level_backward_reference(bands, M, repeats, dout)
    no_scale = _level_backward_reference(bands, M, repeats,
                                         [g * r for g, r in zip(dout, repeats, strict=True)])
    swapped = _level_backward_reference(bands, M.transpose(1, 0, 2), repeats, dout)
    mistakes = {
        "dbands": [(no_scale[0], "the 1/r_j of the averaging P_j is missing"),
                   (swapped[0], "M is used transposed: band k receives sum_j M[j, k] * dS_j")],
        "dweight": [(no_scale[1], "the 1/r_j of the averaging P_j is missing"),
                    (expected[1].transpose(1, 0, 2), "dM is transposed: dM[j, k] pairs the "
                     "gradient of output band j with input band k")],
    }

    def forward(b: list, m: np.ndarray) -> list:
        return _level_forward(b, m, repeats)

    _check_mixing_backward(fn, "level_backward", forward, bands, M, dout, expected,
                           (bands, M, repeats, dout), mistakes)
    return "dbands and dM match, and pass random-direction gradient checks."


# ---------------------------------------------------------------------------
# 05b: the block by hand
# ---------------------------------------------------------------------------


def _grade_layernorm_backward(fn: Callable) -> str:
    from wavelearn.nn import LayerNorm

    rng = _rng(10)
    x, dy = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 5))
    w, b, eps = 1 + 0.3 * rng.standard_normal(5), 0.1 * rng.standard_normal(5), 1e-5
    ln = LayerNorm(5, eps=eps, dtype=np.float64)
    ln.weight.data[...], ln.bias.data[...] = w, b
    ln(x)
    ln.zero_grad()
    dx = ln.backward(dy)
    got = _unpack("layernorm_backward(...)",
                  _call(fn, "layernorm_backward(dy, x, w, eps)", dy, x, w, eps), 3)
    xhat = ln.cache["xhat"]
    naive = dy * w * ln.cache["rstd"]

    def loss(v: np.ndarray) -> float:
        return float(np.sum(dy * ln.forward(v)))

    _gradient("dx", dx, got[0], loss, x, [
        (naive, "you treated the mean and the variance as constants: subtract the mean of g "
                "and x_hat * mean(g * x_hat) (g = dy * w)"),
        (naive - np.mean(dy * w, axis=-1, keepdims=True) * ln.cache["rstd"],
         "the term from the variance, - x_hat * mean(g * x_hat), is missing"),
    ])
    _compare("dw", ln.weight.grad, got[1], [(np.sum(dy, axis=(0, 1)), "dw pairs dy with x_hat")])
    _compare("db", ln.bias.grad, got[2], [(np.sum(dy * xhat, axis=(0, 1)), "dw and db swapped")])
    return "dx, dw and db match wavelearn.nn.LayerNorm, and dx passes gradient checks."


def _grade_gelu_backward(fn: Callable) -> str:
    from wavelearn.nn import GELU

    rng = _rng(11)
    x, dy = 2 * rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    act = GELU()
    act(x)
    expected = act.backward(dy)
    got = _call(fn, "gelu_backward(x, dy)", x, dy)
    t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))

    def loss(v: np.ndarray) -> float:
        return float(np.sum(dy * act.forward(v)))

    _gradient("dx", expected, got, loss, x, [
        (dy * 0.5 * (1 + t), "the product rule's second term, x/2 * (1 - tanh^2 u) * du/dx, "
                             "is missing"),
    ])
    return "matches wavelearn.nn.GELU (tanh form) and passes gradient checks."


def _grade_cross_entropy_backward(fn: Callable) -> str:
    from wavelearn.nn import CrossEntropyLoss

    rng = _rng(12)
    logits, targets = 3 * rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    crit = CrossEntropyLoss()
    crit(logits, targets)
    expected = crit.backward()
    got = _call(fn, "cross_entropy_backward(logits, targets)", logits, targets)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(4)[targets]

    def loss(v: np.ndarray) -> float:
        return CrossEntropyLoss()(v, targets)

    _gradient("dlogits", expected, got, loss, logits, [
        (p - onehot, "divide by the batch size: the loss is the mean over the examples"),
        (onehot - p, "the sign is reversed: dL/dz = (softmax(z) - onehot) / B"),
        (p / 5, "subtract the one-hot target"),
    ])
    return "matches wavelearn.nn.CrossEntropyLoss and passes gradient checks."


def _grade_mean_pool_backward(fn: Callable) -> str:
    dp, n = _rng(13).standard_normal((3, 4)), 6
    got = _call(fn, f"mean_pool_backward(dp, {n})", dp, n)
    expected = np.broadcast_to(dp[:, None, :] / n, (3, n, 4))
    h0 = _rng(14).standard_normal((3, n, 4))

    def loss(h: np.ndarray) -> float:
        return float(np.sum(dp * h.mean(axis=1)))

    _gradient("dh", expected, got, loss, h0, [
        (np.broadcast_to(dp[:, None, :], (3, n, 4)), "divide by N: every position gets 1/N of "
                                                     "the pooled gradient"),
    ])
    return "every position receives dp / N."


# ---------------------------------------------------------------------------
# 06: training
# ---------------------------------------------------------------------------


def _grade_lr_schedule(fn: Callable) -> str:
    from wavelearn.nn import Parameter
    from wavelearn.training.optim import SGD, WarmupCosineSchedule

    base, warm, total, ratio = 3e-3, 4, 20, 0.1
    sched = WarmupCosineSchedule(SGD([Parameter(np.zeros(1))], lr=base), warm, total, ratio)
    for s in range(total + 2):
        expected = sched.get_lr(s)
        got = _call(fn, f"lr_schedule({s}, {base}, {warm}, {total}, {ratio})",
                    s, base, warm, total, ratio)
        if not math.isclose(float(got), expected, rel_tol=1e-9, abs_tol=1e-15):
            hint = ""
            if s < warm and math.isclose(float(got), base * s / warm):
                hint = "\nhint: off by one step: the first step (s = 0) already uses lr0 / W"
            raise _Fail(f"lr_schedule at step {s} (lr0 = {base}, W = {warm}, T = {total}, "
                        f"r = {ratio}): expected {_fmt(expected)}, got {_fmt(float(got))}{hint}")
    return "matches wavelearn.training.optim.WarmupCosineSchedule at every step."


def _grade_adamw_update(fn: Callable) -> str:
    from wavelearn.nn import Parameter
    from wavelearn.training.optim import AdamW

    rng = _rng(15)
    theta0 = rng.standard_normal(5)
    p = Parameter(theta0.copy())
    opt = AdamW([p], lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    theta, m, v = theta0.copy(), np.zeros(5), np.zeros(5)
    for t in range(1, 4):
        g = rng.standard_normal(5)
        p.grad = g.copy()
        opt.step()
        got = _unpack("adamw_update(...)", _call(
            fn, f"adamw_update(theta, g, m, v, t={t}, lr=0.1, betas=(0.9, 0.99), eps=1e-8, "
                "weight_decay=0.1)", theta, g, m, v, t, 0.1, (0.9, 0.99), 1e-8, 0.1), 3)
        state = opt.state[0]
        m_exp, v_exp = state["exp_avg"], state["exp_avg_sq"]
        _compare(f"m after step {t}", m_exp, got[1])
        _compare(f"v after step {t}", v_exp, got[2])
        no_decay = theta - 0.1 / (1 - 0.9**t) * m_exp / (np.sqrt(v_exp / (1 - 0.99**t)) + 1e-8)
        _compare(f"theta after step {t}", p.data, got[0], [
            (no_decay, "the decoupled weight decay theta <- theta (1 - lr wd) is missing"),
            (theta * (1 - 0.01) - 0.1 * m_exp / (np.sqrt(v_exp) + 1e-8),
             "the bias corrections 1 - beta1^t and 1 - beta2^t are missing"),
        ])
        theta, m, v = (np.asarray(a, dtype=np.float64) for a in got)
    return "three steps match wavelearn.training.optim.AdamW (and torch.optim.AdamW)."


# ---------------------------------------------------------------------------
# 07: causal decoding
# ---------------------------------------------------------------------------


def _grade_receptive_field(fn: Callable) -> str:
    for F in (2, 4, 8):
        for J in (1, 2, 3, 4):
            expected = 1 + (F - 1) * (2**J - 1)
            got = _call(fn, f"receptive_field({F}, {J})", F, J)
            if got != expected:
                hint = ""
                if got == expected - 1:
                    hint = "\nhint: off by one: count the sample at t itself"
                elif got == (F - 1) * 2**J + 1 or got == F * 2**J:
                    hint = ("\nhint: level j dilates the filter by 2^(j-1), so the reaches "
                            "(F-1)(1 + 2 + ... + 2^(J-1)) add up")
                raise _Fail(f"receptive_field(F={F}, J={J}): expected {expected} samples "
                            f"(t and the {expected - 1} before it), got {_fmt(got)}{hint}")
    return "right for F = 2, 4, 8 and J = 1..4: 1 + (F - 1)(2^J - 1)."


def _grade_causal_filter(fn: Callable) -> str:
    rng = _rng(16)
    x, h = rng.standard_normal(20), np.array([0.5, 0.3, 0.2])
    for dilation in (1, 2, 4):
        expected = np.zeros_like(x)
        for i, hi in enumerate(h):
            expected[i * dilation:] += hi * x[: x.size - i * dilation]
        delayed = np.concatenate([[0.0], expected[:-1]])
        ahead = np.zeros_like(x)
        for i, hi in enumerate(h):
            ahead[: x.size - i * dilation] += hi * x[i * dilation:]
        got = _call(fn, f"causal_filter(x, h, {dilation})", x, h, dilation)
        _compare(f"causal_filter(x, h, {dilation})", expected, got,
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


def _grade_shard(fn: Callable) -> str:
    batch = np.arange(12)
    for world in (2, 3, 4):
        for rank in range(world):
            got = _call(fn, f"shard(batch, rank={rank}, world={world})", batch, rank, world)
            _compare(f"shard(arange(12), rank={rank}, world={world})", batch[rank::world], got, [
                (np.array_split(batch, world)[rank], "wavelearn deals the examples out like "
                 "cards: rank r takes r, r + W, r + 2W, ..."),
            ])
    return "rank r takes examples r, r + W, ... as wavelearn.training.distributed does."


def _grade_data_parallel_gradient(fn: Callable) -> str:
    rng = _rng(17)
    X, y, w = rng.standard_normal((12, 3)), rng.standard_normal(12), rng.standard_normal(3)

    def grad_fn(Xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Gradient of the mean squared error of a linear model over the given examples."""
        return 2 * Xs.T @ (Xs @ w - ys) / len(ys)

    expected = grad_fn(X, y)
    for world in (2, 3, 4):
        got = _call(fn, f"data_parallel_gradient(grad_fn, X, y, {world})", grad_fn, X, y, world)
        _compare("the gradient", expected, got, context=f"with world = {world} processes",
                 mistakes=[
            (world * expected, "average the per-process gradients (all_reduce, then divide by "
                               "W): you summed them"),
        ])
    return "the mean of the shards' mean gradients equals the full batch's gradient."


# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------

_CATALOGUE: list[tuple[str, str, str, str, Callable]] = [
    ("01.1", "one Haar step", "haar_step(x) -> (a, d)",
     "x: 1-D, even length. a_k = (x[2k] + x[2k+1]) / sqrt(2), d_k = (x[2k] - x[2k+1]) / sqrt(2).",
     _grade_haar_step),
    ("01.2", "the inverse Haar step", "haar_inverse(a, d) -> x",
     "Undo haar_step: x[2k] = (a_k + d_k) / sqrt(2), x[2k+1] = (a_k - d_k) / sqrt(2).",
     _grade_haar_inverse),
    ("01.3", "one Haar level as a matrix", "haar_matrix(n) -> W (n, n)",
     "W @ x == concatenate([a, d]) for every x of even length n.", _grade_haar_matrix),
    ("02.1", "the high-pass filter by the alternating flip", "alternating_flip(h) -> g",
     "g[n] = (-1)^(n+1) h[F-1-n]; for db2 this gives PyWavelets' dec_hi.",
     _grade_alternating_flip),
    ("02.2", "the symmetric extension", "symmetric_extension(x, p) -> padded (n + 2p,)",
     "Mirror p samples about each half-sample edge: ..., x1, x0 | x0, ..., x_{n-1} | x_{n-1}, "
     "x_{n-2}, ... (p <= n).", _grade_symmetric_extension),
    ("02.3", "how many coefficients", "coeff_len(n, F, mode) -> int",
     "Coefficients per band of one DWT level of n samples with an F-tap filter, for mode "
     "'symmetric', 'zero' or 'periodization'.", _grade_coeff_len),
    ("03.1", "soft thresholding", "soft_threshold(c, tau) -> array",
     "sign(c) * max(|c| - tau, 0), elementwise.", _grade_soft_threshold),
    ("03.2", "the universal threshold", "universal_threshold(cD1, n) -> float",
     "tau = sigma_hat sqrt(2 ln n), sigma_hat = median(|cD1|) / 0.6745 (n: signal length).",
     _grade_universal_threshold),
    ("04.1", "the DWT as a matrix", "dwt_matrix(n, wavelet, mode) -> A",
     "A @ x == concatenate(wavelearn.dwt(x, wavelet, mode)) for every x of length n.",
     _grade_dwt_matrix),
    ("04.2", "the adjoint of the symmetric extension",
     "symmetric_extension_adjoint(g, n, p) -> (n,)",
     "E x = pywt.pad(x, p, 'symmetric') maps n samples to n + 2p; return E^T g.",
     _grade_extension_adjoint),
    ("04.3", "a gradient through wavedec in symmetric mode",
     "tanh_loss_gradient(x, weights, wavelet, level) -> dx",
     "L(x) = sum_k <weights[k], tanh(c_k)>, c = wavedec(x, wavelet, 'symmetric', level). "
     "Return dL/dx.", _grade_tanh_loss_gradient),
    ("05.1", "the backward pass of channel mixing",
     "channel_backward(bands, W, dout) -> (dbands, dW)",
     "Forward: out_k = bands[k] @ W[k], bands[k] (B, n_k, D), W (K, D, D). Given dout (list), "
     "return the gradients of the bands (list) and of W.", _grade_channel_backward),
    ("05.2", "the backward pass of level mixing",
     "level_backward(bands, M, repeats, dout) -> (dbands, dM)",
     "Forward: u_k = R_k c_k (repeat each coefficient r_k times along the sequence, zero-fill "
     "to the longest), S_j = sum_k M[j, k] * u_k, out_j = R_j^T S_j / r_j. M (K, K, D).",
     _grade_level_backward),
    ("05b.1", "the LayerNorm backward", "layernorm_backward(dy, x, w, eps) -> (dx, dw, db)",
     "y = x_hat * w + b, x_hat = (x - mean) / sqrt(var + eps) over the last axis; dw, db summed "
     "over all leading axes.", _grade_layernorm_backward),
    ("05b.2", "the GELU backward", "gelu_backward(x, dy) -> dx",
     "GELU(x) = x/2 (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2/pi).", _grade_gelu_backward),
    ("05b.3", "the softmax cross-entropy backward",
     "cross_entropy_backward(logits, targets) -> dlogits",
     "L = mean over the B rows of -log softmax(logits)[target]; return dL/dlogits (B, C).",
     _grade_cross_entropy_backward),
    ("05b.4", "the mean-pooling backward", "mean_pool_backward(dp, n) -> dh (B, n, D)",
     "p = h.mean(axis=1) for h (B, n, D); return dL/dh from dp = dL/dp (B, D).",
     _grade_mean_pool_backward),
    ("06.1", "the warm-up + cosine schedule",
     "lr_schedule(s, lr0, W, T, r) -> float",
     "lr0 (s + 1) / W for s < W, else lr0 (r + (1 - r)(1 + cos(pi p)) / 2), "
     "p = min(1, (s - W) / max(1, T - W)).", _grade_lr_schedule),
    ("06.2", "one AdamW step",
     "adamw_update(theta, g, m, v, t, lr, betas, eps, weight_decay) -> (theta, m, v)",
     "torch's AdamW: decoupled weight decay, bias-corrected moments; t counts from 1.",
     _grade_adamw_update),
    ("07.1", "the causal bank's receptive field", "receptive_field(F, J) -> int",
     "How many samples (t itself included) a_J[t] of the causal a trous bank depends on, for an "
     "F-tap lowpass and J levels.", _grade_receptive_field),
    ("07.2", "a causal dilated filter", "causal_filter(x, h, dilation) -> s",
     "s[t] = sum_i h[i] x[t - i * dilation], with x[t] = 0 for t < 0; 1-D.",
     _grade_causal_filter),
    ("08.1", "a process's shard of the batch", "shard(batch, rank, world) -> array",
     "The examples of process `rank` out of `world`, as data-parallel training splits a batch.",
     _grade_shard),
    ("08.2", "data-parallel gradients",
     "data_parallel_gradient(grad_fn, X, y, world) -> gradient",
     "Split (X, y) into `world` equal shards, call grad_fn (a mean gradient) on each and "
     "combine them as all_reduce + divide does.", _grade_data_parallel_gradient),
]

EXERCISES: dict[str, Exercise] = {
    ex_id: Exercise(ex_id, title, signature, task, grader)
    for ex_id, title, signature, task, grader in _CATALOGUE
}
"""Every exercise, by id (``'NN.k'``: tutorial ``NN``, exercise ``k``)."""


def _lookup(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        raise KeyError(f"exercise_id {exercise_id!r} does not exist; the exercises are "
                       f"{', '.join(EXERCISES)}")
    return EXERCISES[exercise_id]


def describe(exercise_id: str) -> str:
    """The task of one exercise: its title, the function to write and what it must do."""
    ex = _lookup(exercise_id)
    return f"{ex.exercise_id} ({ex.title}): write {ex.signature}. {ex.task}"


def check(exercise_id: str, fn: Callable[..., Any]) -> Feedback:
    """Grade ``fn``, your answer to exercise ``exercise_id`` (e.g. ``'04.2'``).

    Returns a :class:`Feedback` (truthy when passed) whose message says what
    passed, or which entry differs (expected vs got), which gradient-check
    direction fails and, for a known mistake, a hint. Never raises for a wrong
    answer; raises ``KeyError`` for an unknown id and ``TypeError`` when ``fn``
    is not callable.
    """
    ex = _lookup(exercise_id)
    if not callable(fn):
        raise TypeError(f"check({exercise_id!r}, fn): fn must be your function, got "
                        f"{type(fn).__name__}")
    head = f"{exercise_id} ({ex.title})"
    name = getattr(fn, "__name__", "your function")
    try:
        note = ex.grader(fn)
    except NotImplementedError:
        return Feedback(exercise_id, False, f"{head}: not attempted yet: {name} raises "
                        f"NotImplementedError. Write {ex.signature}, then run the cell again.")
    except _Fail as fail:
        return Feedback(exercise_id, False, f"{head}: not yet.\n{fail}")
    return Feedback(exercise_id, True, f"{head}: passed. {note}")
