r"""The middle of a DWT level as compiled loops (numba): the tap sums of
:mod:`wavelearn.dwt.blocked`, written out instead of handed to BLAS.

The blocked path turns each output position into a small matrix product; BLAS
runs those at a few percent of the machine's speed (a product of ``(8, 14)``
by ``(14, Q)`` is mostly call overhead). Here the same sums are plain loops
that numba compiles: for a position, the four taps of a block are read once
into registers for a whole row of ``Q`` channels, and both bands are summed
together, so each input sample is loaded once per block and each output
written once per block:

- :func:`filter_down_rows`: :math:`y_b[o] = \sum_i f_b[i]\, x[2o + i]`
  (analysis, the adjoint of synthesis);
- :func:`filter_up_rows`: :math:`z[2k + s] = \sum_j \sum_b f_b[s + 2j]\,
  y_b[k - j]` (synthesis, the adjoint of analysis; the polyphase form of
  :func:`wavelearn.dwt.blocked.filter_up_blocked`).

Measured on one core against the blocked path on two, db4: 1.7 times faster
on ``(1, 16384, 256)``, 3 to 4 times on ``(1, 100, 2048)`` and ``(8, 256, 256)``.

The kernels index flat, contiguous buffers with unsigned offsets (numba then
emits no negative-index checks, and the loop over channels vectorises), so the
callers pass :func:`flat` views: the buffer from an array's first element, and
its strides in elements. Two bands, real float32/float64, finite data only (as
the blocked path, whose checks they share). Tests check them against the tap
loop of :mod:`wavelearn.dwt.textbook`. ``USE_COMPILED = False`` switches them off.

The decoder's causal bank has one loop here too, :func:`causal_filter`: a dilated
causal filter (or its adjoint) in one pass, the sums of NumPy's tap-by-tap loop in
the same order and roundings (tested bit for bit), instead of a pass over memory
per tap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from wavelearn import buffers, jit
from wavelearn.dwt.chunks import chunks
from wavelearn.threads import run_tasks

USE_COMPILED = True  # the blocked middle of a level runs these loops
PARALLEL_MIN = 1 << 17  # outputs from which the loops share the threads (they run at ~1 ns each)

_KERNELS: dict[str, Any] = {}


def available(*arrays: np.ndarray) -> bool:
    """Whether the kernels may run on these arrays: switched on, float32/float64 of one
    dtype, channels contiguous."""
    if not USE_COMPILED:
        return False
    dtype = arrays[0].dtype
    return dtype in (np.float32, np.float64) and all(
        a.dtype == dtype and (a.shape[-1] <= 1 or a.strides[-1] == a.itemsize) for a in arrays)


def flat(a: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """``a`` as a 1-D contiguous view of its memory from its first element to its last,
    and its strides in elements (non-negative multiples of the item size)."""
    assert all(s >= 0 and s % a.itemsize == 0 for s in a.strides), "flat: odd strides"
    steps = tuple(s // a.itemsize for s in a.strides)
    span = 1 + sum((n - 1) * s for n, s in zip(a.shape, steps, strict=True)) if a.size else 0
    return np.lib.stride_tricks.as_strided(a, (span,), (a.itemsize,)), steps


def kernels() -> dict[str, Any]:
    """The compiled kernels, compiled on first use (and cached on disk by numba)."""
    return jit.compiled_once(_KERNELS, _build, "wavelearn.dwt.compiled")


def _build(njit: Any) -> dict[str, Any]:
    global _row_of  # the loops below call it: compiled first, inlined into them
    _row_of = njit(nogil=True, cache=True, inline="always")(_stored_row)
    options = {"nogil": True, "cache": True, "fastmath": {"contract"}}  # (FMA)
    return {
        "down": njit(**options)(_filter_down_loops),
        "up": njit(**options)(_filter_up_loops),
        # a sum in any order: the bound needs no particular rounding (finite.py)
        "squares": njit(nogil=True, cache=True,
                        fastmath={"reassoc", "contract"})(_sum_squares_loop),
        # no fastmath: each product and each sum rounded, as NumPy's loop does them
        "causal": njit(nogil=True, cache=True)(_causal_loops),
        "gather_down": njit(**options)(_gather_down_loops),
        "gather_up": njit(**options)(_gather_up_loops),
    }


def filter_down_rows(x: np.ndarray, filters: np.ndarray, y: np.ndarray,
                     ps: slice, os_: slice, qs: slice) -> None:
    r"""``y[p, o, b, q]`` <- :math:`\sum_i f_b[i]\, x[p, 2o + i, q]` for ``p`` in ``ps``,
    ``o`` in ``os_``, ``q`` in ``qs``; ``x`` ``(P, N, Q)``, ``y`` ``(P, n_out, 2, Q)``
    (any strides with contiguous channels), ``filters`` ``(2, F)``."""
    down_rows_task(x, filters, y)(ps, os_, qs)


def down_rows_task(x: np.ndarray, filters: np.ndarray,
                   y: np.ndarray) -> Callable[[slice, slice, slice], None]:
    """:func:`filter_down_rows` of ``x`` into ``y`` as a function of the ranges
    ``(ps, os_, qs)``: the flat views and the filters made once for all the chunks of
    a level (they cost as much as a small chunk's loops)."""
    xb, (xs0, xs1, _) = flat(x)
    yb, (ys0, ys1, ysb, _) = flat(y)
    f = np.ascontiguousarray(filters, dtype=x.dtype)  # (2, F)
    nz, loops = _negative_zero(x.dtype), kernels()["down"]

    def task(ps: slice, os_: slice, qs: slice) -> None:
        loops(xb, xs0, xs1, f, nz, yb, ys0, ys1, ysb,
              ps.start, ps.stop, os_.start, os_.stop, qs.start, qs.stop)

    return task


def filter_up_rows(bands: list, filters: np.ndarray, k0: int, z: np.ndarray,
                   ps: slice, ks: slice, qs: slice) -> None:
    r"""``z[p, 2k + s, q]`` <- :math:`\sum_j \sum_b f_b[s + 2j]\, y_b[p, k_0 + k - j, q]`
    for pairs ``k`` in ``ks``; ``bands`` two ``(P, n, Q)`` arrays, ``z``
    ``(P, 2 n_pairs, Q)`` (any strides with contiguous channels), ``filters`` ``(2, F)``.
    Every coefficient read must exist: :math:`k_0 \ge J - 1`, :math:`J = \lceil F/2 \rceil`."""
    up_rows_task(bands, filters, k0, z)(ps, ks, qs)


def up_rows_task(bands: list, filters: np.ndarray, k0: int,
                 z: np.ndarray) -> Callable[[slice, slice, slice], None]:
    """:func:`filter_up_rows` as a function of the ranges ``(ps, ks, qs)``, its set-up
    made once (as :func:`down_rows_task`)."""
    F = filters.shape[1]
    f = np.zeros((2, F + F % 2), dtype=z.dtype)  # (2, 2J): an odd filter ends in a zero
    f[:, :F] = filters
    (ab, (as0, as1, _)), (db, (ds0, ds1, _)) = flat(bands[0]), flat(bands[1])
    zb, (zs0, zs1, _) = flat(z)
    nz, loops = _negative_zero(z.dtype), kernels()["up"]

    def task(ps: slice, ks: slice, qs: slice) -> None:
        loops(ab, as0, as1, db, ds0, ds1, f, nz, k0, zb, zs0, zs1,
              ps.start, ps.stop, ks.start, ks.stop, qs.start, qs.stop)

    return task


def gather_down(x: np.ndarray, taps: Any, y0: np.ndarray, y1: np.ndarray) -> None:
    r"""``y_b[p, r, q]`` <- :math:`\sum_{t < c_r} f_b[r, t]\, x[p, i_{rt}, q]` for both
    ``b``: one input row set read once for two outputs (an analysis level, the adjoint of
    a synthesis level). ``x`` ``(P, n, Q)``, ``y0, y1`` ``(P, R, Q)`` (any strides with
    contiguous channels); ``taps``: a :class:`wavelearn.dwt.gathered.Taps` of ``R``
    rows (its stored rows, and the pattern of the others)."""
    (xb, (xs0, xs1, _)), (ab, (as0, as1, _)), (db, (ds0, ds1, _)) = flat(x), flat(y0), flat(y1)
    loops, (P, R, Q) = kernels()["gather_down"], y0.shape
    f0, f1 = taps.weights(x.dtype)
    idx, count, shape, nz = taps.idx, taps.count, taps.scalars(), _negative_zero(x.dtype)

    def task(ps: slice, rs: slice) -> None:
        loops(xb, xs0, xs1, idx, count, f0, f1, *shape, nz, ab, as0, as1, db, ds0, ds1,
              ps.start, ps.stop, rs.start, rs.stop, Q)

    run_tasks(task, chunks(P, R, 2 * Q), parallel=2 * y0.size >= PARALLEL_MIN)


def gather_up(x0: np.ndarray, x1: np.ndarray, taps: Any, y: np.ndarray) -> None:
    r"""``y[p, r, q]`` <- :math:`\sum_{t < c_r} f_0[r, t]\, x_0[p, i_{rt}, q] + f_1[r, t]\,
    x_1[p, i_{rt}, q]`: two inputs (the bands of a synthesis level, the gradients of an
    analysis level's) read at the same rows into one output. Shapes as
    :func:`gather_down`, ``x0, x1`` ``(P, n, Q)``, ``y`` ``(P, R, Q)``."""
    (ab, (as0, as1, _)), (db, (ds0, ds1, _)), (yb, (ys0, ys1, _)) = flat(x0), flat(x1), flat(y)
    loops, (P, R, Q) = kernels()["gather_up"], y.shape
    f0, f1 = taps.weights(y.dtype)
    idx, count, shape, nz = taps.idx, taps.count, taps.scalars(), _negative_zero(y.dtype)

    def task(ps: slice, rs: slice) -> None:
        loops(ab, as0, as1, db, ds0, ds1, idx, count, f0, f1, *shape, nz, yb, ys0, ys1,
              ps.start, ps.stop, rs.start, rs.stop, Q)

    run_tasks(task, chunks(P, R, Q), parallel=y.size >= PARALLEL_MIN)


def causal_available(x: Any) -> bool:
    """Whether :func:`causal_filter` may run on ``x``: a C-contiguous ``(B, N, D)`` NumPy
    array that :func:`available` takes."""
    return (isinstance(x, np.ndarray) and x.ndim == 3 and x.flags.c_contiguous
            and available(x))


def causal_filter(x: np.ndarray, h: np.ndarray, dilation: int, adjoint: bool) -> np.ndarray:
    r""":func:`wavelearn.dwt.causal.causal_filter` (``adjoint``: its adjoint) of ``x``
    ``(B, N, D)`` in one pass: :math:`s[t] = \sum_i \bar h[i]\, x[t \mp i\delta]` with
    the terms added in the tap order of the NumPy loop to a zero, each product and
    each sum rounded in ``x``'s dtype (no fused multiply-add): the same bits, without
    a pass over memory per tap. The result comes from :mod:`wavelearn.buffers`."""
    B, N, D = x.shape
    taps = [(i * dilation, hi) for i, hi in enumerate(h.tolist()) if i * dilation < N and hi]
    lags = np.array([lag for lag, _ in taps], dtype=np.int64)  # (taps,)
    coef = np.array([hi for _, hi in taps], dtype=x.dtype)  # (taps,): as NumPy casts hi
    s = buffers.empty(x.shape, x.dtype)  # (B, N, D)
    loop, sign = kernels()["causal"], -1 if adjoint else 1
    run_tasks(lambda bs, ts: loop(x, coef, lags, sign, s, bs.start, bs.stop, ts.start, ts.stop),
              chunks(B, N, D), parallel=s.size >= PARALLEL_MIN)
    return s


def _negative_zero(dtype: Any) -> np.ndarray:
    """``[-0.0]`` in ``dtype``: adding it changes no value (not even ``+0.0``'s sign)."""
    return np.array([-0.0], dtype=dtype)


def sum_squares(rows: np.ndarray) -> float:
    r""":math:`\sum v^2` over ``rows`` (2-D, contiguous rows), summed in float64, in one
    pass: inf or NaN where a value is not finite (:func:`wavelearn.dwt.finite.magnitude_bound`)."""
    buf, (s0, _) = flat(rows)
    return float(kernels()["squares"](buf, s0, rows.shape[0], rows.shape[1]))


# ---------------------------------------------------------------------------
# The loops (compiled by numba)
# ---------------------------------------------------------------------------


def _filter_down_loops(x, xs0, xs1, f, nz, y, ys0, ys1, ysb, p0, p1, o0, o1, q0, q1):  # noqa: PLR0913
    """Both bands of :func:`filter_down_rows`: taps four at a time, then one at a time;
    the first block writes the outputs (``zero`` = -0.0 + the sum: the sum itself), the
    others add to them (``first`` does not change within a loop over channels: LLVM
    makes two loops of it, and the first reads nothing)."""
    F, zero = f.shape[1], nz[0]
    for p in range(p0, p1):
        for o in range(o0, o1):
            xo = p * xs0 + 2 * o * xs1  # x[p, 2o, 0]
            ya = p * ys0 + o * ys1  # y[p, o, 0, 0]
            yd = ya + ysb  # y[p, o, 1, 0]
            i = 0
            while i + 4 <= F:
                a0, a1, a2, a3 = f[0, i], f[0, i + 1], f[0, i + 2], f[0, i + 3]
                d0, d1, d2, d3 = f[1, i], f[1, i + 1], f[1, i + 2], f[1, i + 3]
                r0, r1, r2, r3 = (xo + i * xs1, xo + (i + 1) * xs1, xo + (i + 2) * xs1,
                                  xo + (i + 3) * xs1)
                first = i == 0
                for q in range(q0, q1):
                    v0, v1 = x[np.uint64(r0 + q)], x[np.uint64(r1 + q)]
                    v2, v3 = x[np.uint64(r2 + q)], x[np.uint64(r3 + q)]
                    i1, i2 = np.uint64(ya + q), np.uint64(yd + q)
                    y[i1] = (zero if first else y[i1]) + (a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3)
                    y[i2] = (zero if first else y[i2]) + (d0 * v0 + d1 * v1 + d2 * v2 + d3 * v3)
                i += 4
            while i < F:
                a0, d0, r0 = f[0, i], f[1, i], xo + i * xs1
                first = i == 0
                for q in range(q0, q1):
                    v0 = x[np.uint64(r0 + q)]
                    i1, i2 = np.uint64(ya + q), np.uint64(yd + q)
                    y[i1] = (zero if first else y[i1]) + (a0 * v0)
                    y[i2] = (zero if first else y[i2]) + (d0 * v0)
                i += 1


def _filter_up_loops(a, as0, as1, d, ds0, ds1, f, nz, k0, z, zs0, zs1,  # noqa: PLR0913
                     p0, p1, k_lo, k_hi, q0, q1):
    """:func:`filter_up_rows`: for each pair, the terms ``(j, b)`` two ``j`` at a time
    (four coefficient rows), then one ``j``; both outputs of the pair together; the
    first block writes them, the others add (as :func:`_filter_down_loops`)."""
    J, zero = f.shape[1] // 2, nz[0]
    for p in range(p0, p1):
        for k in range(k_lo, k_hi):
            ze = p * zs0 + 2 * k * zs1  # z[p, 2k, 0]
            zo = ze + zs1  # z[p, 2k + 1, 0]
            j = 0
            while j < J:
                ra = p * as0 + (k0 + k - j) * as1  # y_0[k0 + k - j]
                rd = p * ds0 + (k0 + k - j) * ds1  # y_1[k0 + k - j]
                e0, e1, o0, o1 = f[0, 2 * j], f[1, 2 * j], f[0, 2 * j + 1], f[1, 2 * j + 1]
                first = j == 0
                if j + 2 <= J:  # and y_b[k0 + k - j - 1]
                    rb, re = ra - as1, rd - ds1
                    e2, e3, o2, o3 = (f[0, 2 * j + 2], f[1, 2 * j + 2], f[0, 2 * j + 3],
                                      f[1, 2 * j + 3])
                    for q in range(q0, q1):
                        v0, v1 = a[np.uint64(ra + q)], d[np.uint64(rd + q)]
                        v2, v3 = a[np.uint64(rb + q)], d[np.uint64(re + q)]
                        i1, i2 = np.uint64(ze + q), np.uint64(zo + q)
                        z[i1] = (zero if first else z[i1]) + (e0 * v0 + e1 * v1 + e2 * v2 + e3 * v3)
                        z[i2] = (zero if first else z[i2]) + (o0 * v0 + o1 * v1 + o2 * v2 + o3 * v3)
                    j += 2
                else:
                    for q in range(q0, q1):
                        v0, v1 = a[np.uint64(ra + q)], d[np.uint64(rd + q)]
                        i1, i2 = np.uint64(ze + q), np.uint64(zo + q)
                        z[i1] = (zero if first else z[i1]) + (e0 * v0 + e1 * v1)
                        z[i2] = (zero if first else z[i2]) + (o0 * v0 + o1 * v1)
                    j += 1


def _stored_row(r, R, head, period, shift, tail):
    """The stored row of row ``r`` of a table and how far its indices move
    (:meth:`wavelearn.dwt.gathered.Taps.locate`)."""
    if r < head + period:
        return r, 0
    if r >= R - tail:
        return head + period + r - (R - tail), 0
    k = r - head
    return head + k % period, (k // period) * shift


_row_of = _stored_row  # (replaced by its compiled form in _build)


def _gather_down_loops(x, xs0, xs1, idx, cnt, f0, f1, R, head, period, shift, tail,  # noqa: PLR0913
                       nz, a, as0, as1, d, ds0, ds1, p0, p1, r0, r1, Q):
    """:func:`gather_down`: for each output row, its taps four at a time (four input rows
    read once for both outputs), then one at a time; the first block writes the outputs
    (``zero`` = -0.0 + the sum: the sum itself), the others add to them, as
    :func:`_filter_down_loops`; a row without taps is zero."""
    zero = nz[0]
    for p in range(p0, p1):
        for rr in range(r0, r1):
            r, off = _row_of(rr, R, head, period, shift, tail)
            xo = p * xs0 + off * xs1  # x[p, off, 0]
            ya, yd, T = p * as0 + rr * as1, p * ds0 + rr * ds1, cnt[r]
            if T == 0:
                for q in range(Q):
                    a[np.uint64(ya + q)] = 0.0
                    d[np.uint64(yd + q)] = 0.0
            t = 0
            while t + 4 <= T:
                a0, a1, a2, a3 = f0[r, t], f0[r, t + 1], f0[r, t + 2], f0[r, t + 3]
                d0, d1, d2, d3 = f1[r, t], f1[r, t + 1], f1[r, t + 2], f1[r, t + 3]
                i0, i1 = xo + idx[r, t] * xs1, xo + idx[r, t + 1] * xs1
                i2, i3 = xo + idx[r, t + 2] * xs1, xo + idx[r, t + 3] * xs1
                first = t == 0
                for q in range(Q):
                    v0, v1 = x[np.uint64(i0 + q)], x[np.uint64(i1 + q)]
                    v2, v3 = x[np.uint64(i2 + q)], x[np.uint64(i3 + q)]
                    j1, j2 = np.uint64(ya + q), np.uint64(yd + q)
                    a[j1] = (zero if first else a[j1]) + (a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3)
                    d[j2] = (zero if first else d[j2]) + (d0 * v0 + d1 * v1 + d2 * v2 + d3 * v3)
                t += 4
            while t < T:
                a0, d0, i0 = f0[r, t], f1[r, t], xo + idx[r, t] * xs1
                first = t == 0
                for q in range(Q):
                    v0 = x[np.uint64(i0 + q)]
                    j1, j2 = np.uint64(ya + q), np.uint64(yd + q)
                    a[j1] = (zero if first else a[j1]) + a0 * v0
                    d[j2] = (zero if first else d[j2]) + d0 * v0
                t += 1


def _gather_up_loops(x0, as0, as1, x1, ds0, ds1, idx, cnt, f0, f1,  # noqa: PLR0913
                     R, head, period, shift, tail, nz, y, ys0, ys1, p0, p1, r0, r1, Q):
    """:func:`gather_up`: for each output row, its taps two at a time (four input rows:
    both inputs at two positions), then one; the first block writes, the others add
    (as :func:`_gather_down_loops`)."""
    zero = nz[0]
    for p in range(p0, p1):
        for rr in range(r0, r1):
            r, off = _row_of(rr, R, head, period, shift, tail)
            ao, do = p * as0 + off * as1, p * ds0 + off * ds1  # x0[p, off], x1[p, off]
            yo, T = p * ys0 + rr * ys1, cnt[r]
            if T == 0:
                for q in range(Q):
                    y[np.uint64(yo + q)] = 0.0
            t = 0
            while t + 2 <= T:
                a0, a1, d0, d1 = f0[r, t], f0[r, t + 1], f1[r, t], f1[r, t + 1]
                i0, i1 = ao + idx[r, t] * as1, ao + idx[r, t + 1] * as1
                j0, j1 = do + idx[r, t] * ds1, do + idx[r, t + 1] * ds1
                first = t == 0
                for q in range(Q):
                    v0, v1 = x0[np.uint64(i0 + q)], x1[np.uint64(j0 + q)]
                    v2, v3 = x0[np.uint64(i1 + q)], x1[np.uint64(j1 + q)]
                    k = np.uint64(yo + q)
                    y[k] = (zero if first else y[k]) + (a0 * v0 + d0 * v1 + a1 * v2 + d1 * v3)
                t += 2
            if t < T:
                a0, d0 = f0[r, t], f1[r, t]
                i0, j0 = ao + idx[r, t] * as1, do + idx[r, t] * ds1
                first = t == 0
                for q in range(Q):
                    k = np.uint64(yo + q)
                    y[k] = (zero if first else y[k]) + (a0 * x0[np.uint64(i0 + q)]
                                                        + d0 * x1[np.uint64(j0 + q)])


def _sum_squares_loop(x, s0, R, L):
    """:func:`sum_squares`: row by row, each value squared in float64."""
    total = 0.0
    for r in range(R):
        b = r * s0
        acc = 0.0
        for q in range(L):
            v = np.float64(x[np.uint64(b + q)])
            acc += v * v
        total += acc
    return total


def _causal_loops(x, h, lags, sign, s, b0, b1, t0, t1):  # noqa: PLR0913
    """:func:`causal_filter` for rows ``b0:b1``, positions ``t0:t1``: each output row
    starts at zero and adds tap ``k``'s product when its sample ``t - sign lags[k]``
    exists, channels innermost (vectorised)."""
    N, D = x.shape[1], x.shape[2]
    for b in range(b0, b1):
        for t in range(t0, t1):
            for d in range(D):
                s[b, t, d] = 0.0
            for k in range(h.shape[0]):
                src = t - sign * lags[k]
                if 0 <= src < N:
                    hk = h[k]
                    for d in range(D):
                        s[b, t, d] += hk * x[b, src, d]
