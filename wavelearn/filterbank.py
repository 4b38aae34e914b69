r"""The three linear pieces every DWT is made of, each with its exact adjoint.

All arrays here are 3-D, ``(P, N, Q)``: the transform runs along axis 1,
``P`` collects the axes before it and ``Q`` those after it (for a model's
``(B, N, D)`` activations, ``P = B`` and ``Q = D``, channels contiguous).

1. **Extension** :math:`E` (``extend`` / ``extend_adjoint``): pad the signal
   at both ends by a boundary *mode*. Every mode is linear, so each padded
   sample is a fixed combination of input samples. We write those
   combinations once as small matrices (rows: padded samples, columns: the
   input samples they read), so that :math:`E x` and :math:`E^T g` are a few
   small matrix products. :math:`E^T` is what folds the gradient of the
   padding back onto the edge samples.

2. **Filter and downsample** (``filter_down``): for a stack of filters
   :math:`f_b`, :math:`y_b[o] = \sum_i f_b[i]\, x[2o + i]` -- a strided
   correlation.

3. **Upsample and filter** (``filter_up``): its adjoint,
   :math:`z[2o + i] \mathrel{+}= \sum_b f_b[i]\, y_b[o]`.

``filter_down``/``filter_up`` have two implementations: the *textbook* one,
a loop over the ``F`` filter taps (short, and works on every backend), and,
for NumPy, a *blocked* one. The blocked one writes the operator as the
banded matrix it is and cuts the band into blocks: ``T`` outputs read a
window of ``2T + F - 2`` inputs, so each block is one small dense matrix
product, and all blocks together are one batched ``matmul`` over a strided
view (no copy of the input). It does up to ``(2T+F-2)/F`` times the
arithmetic of the tap loop, but in BLAS, reading the input once.
Tests check both against each other and against PyWavelets.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------
# 1. Boundary extension
# ---------------------------------------------------------------------------


def _left_extension(x: np.ndarray, p: int, mode: str) -> np.ndarray:
    r"""The ``p`` samples PyWavelets puts left of ``x``, as rows ``x[-p] .. x[-1]``.

    ``x`` is ``(n, k)``: the signal runs along axis 0, so applying this to the
    identity matrix gives the extension *matrix*. With :math:`k \ge 1`:

    - zero: :math:`0`; constant: :math:`x_0`;
    - smooth: :math:`x_0 + k (x_0 - x_1)` (first-order extrapolation);
    - periodic: :math:`x_{-k \bmod n}`;
    - symmetric / antisymmetric: mirror about the half sample left of
      :math:`x_0` (period :math:`2n`); antisymmetric flips the sign of each
      mirrored copy;
    - reflect: mirror about :math:`x_0` itself (period :math:`2n-2`);
    - antireflect: point-reflect about the current edge value,
      :math:`x_{-k} = 2x_0 - x_k`, and again about each new edge further out;
    - periodization: periodic over ``x`` made even-length by repeating its
      last sample.
    """
    n = x.shape[0]
    if mode == "antireflect":
        rows = _antireflect(x, p)
    else:
        rows = [_extended_sample(x, -k, mode, n) for k in range(1, p + 1)]  # rows[k-1] = x[-k]
    return np.stack(rows[::-1]) if rows else np.zeros((0, x.shape[1]))


def _extended_sample(x: np.ndarray, i: int, mode: str, n: int) -> np.ndarray:
    """Sample ``i < 0`` of the extended signal (all modes but antireflect)."""
    k = -i
    if mode == "zero":
        return np.zeros_like(x[0])
    if mode == "constant" or (mode == "smooth" and n == 1):
        return x[0]
    if mode == "smooth":
        return x[0] + k * (x[0] - x[1])
    if mode == "periodic":
        return x[i % n]
    if mode == "periodization":
        n_even = n + n % 2
        return x[min(i % n_even, n - 1)]
    if mode in ("symmetric", "antisymmetric"):
        m = i % (2 * n)
        mirrored = m >= n
        sign = -1.0 if (mode == "antisymmetric" and mirrored) else 1.0
        return sign * x[2 * n - 1 - m if mirrored else m]
    if mode == "reflect":
        m = i % (2 * n - 2)
        return x[2 * n - 2 - m if m >= n else m]
    raise ValueError(f"unknown mode {mode!r}")


def _antireflect(x: np.ndarray, p: int) -> list[np.ndarray]:
    """Samples ``x[-1], x[-2], ...``: repeated point reflections (as PyWavelets)."""
    n = x.shape[0]
    rows: list[np.ndarray] = []
    edge = x[0]
    while len(rows) < p:
        for k in range(1, n):  # reflect about the current left edge value
            rows.append(edge - (x[k] - x[0]))
        edge = rows[-1]
        for k in range(1, n):  # then about the new edge, mirrored the other way
            rows.append(edge + (x[n - 1 - k] - x[n - 1]))
        edge = rows[-1]
    return rows[:p]


@lru_cache(maxsize=256)
def extension_matrices(n: int, left: int, right: int, mode: str) -> tuple:
    r"""The extension operator of a length-``n`` signal as two small matrices.

    Returns ``(cols_l, M_l, cols_r, M_r)``: the left padding is
    ``M_l @ x[cols_l]`` (``M_l`` is ``(left, len(cols_l))``) and the right
    padding ``M_r @ x[cols_r]``. Only columns actually read are kept, so for
    long signals both matrices are tiny. Built once per ``(n, left, right,
    mode)`` in float64 by applying the rules of :func:`_left_extension` to
    (columns of) the identity; the right side mirrors the left one.
    """
    if mode in ("reflect", "antireflect") and n < 2:
        raise ValueError(f"mode {mode!r} needs at least 2 samples along the axis, got {n}")
    reach = max(left, right) + 2  # how far from an edge a non-periodic pad can read
    cols = np.arange(n) if n <= 2 * reach else np.r_[0:reach, n - reach : n]
    basis = np.eye(n)[:, cols]  # (n, c): x = I, restricted to the columns we may need
    if mode == "periodization" and n % 2:
        right_rows = _right_extension_odd_periodization(basis, right)
    else:
        right_rows = _left_extension(basis[::-1], right, mode)[::-1]
    return (*_prune(cols, _left_extension(basis, left, mode)), *_prune(cols, right_rows))


def _right_extension_odd_periodization(basis: np.ndarray, right: int) -> np.ndarray:
    """Right padding in periodization mode for odd ``n``: the signal is first
    made even by repeating its last sample, then repeated periodically."""
    n = basis.shape[0]
    even = np.concatenate([basis, basis[-1:]])  # (n + 1, c)
    return np.stack([even[(n + j) % (n + 1)] for j in range(right)]) if right else even[:0]


def _prune(cols: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.flatnonzero(np.any(m != 0, axis=0))
    return cols[keep], m[:, keep]


def _apply(xp: Any, m: np.ndarray, rows: Any, like: Any) -> Any:
    """``m @ rows`` with ``m`` (numpy float64) moved to ``like``'s backend and dtype."""
    mat = _cast_like(xp, m, like)  # (r, c)
    return xp.matmul(mat, rows)  # (r, c) @ (P, c, Q) -> (P, r, Q)


def _cast_like(xp: Any, m: np.ndarray, like: Any) -> Any:
    """A float64 numpy matrix as an array of ``like``'s backend, in its (real) dtype."""
    real = xp.real(like[..., :0]).dtype if xp.isdtype(like.dtype, "complex floating") \
        else like.dtype
    if xp.__name__.endswith("numpy"):
        return m.astype(real, copy=False)
    device = getattr(like, "device", None)
    return xp.asarray(m, dtype=real, device=device)


def extend(xp: Any, x: Any, left: int, right: int, mode: str) -> Any:
    """Pad ``x`` ``(P, n, Q)`` by ``left``/``right`` samples -> ``(P, left+n+right, Q)``."""
    cols_l, m_l, cols_r, m_r = extension_matrices(x.shape[1], left, right, mode)
    pad_l = _apply(xp, m_l, xp.take(x, xp.asarray(cols_l), axis=1), x)  # (P, left, Q)
    pad_r = _apply(xp, m_r, xp.take(x, xp.asarray(cols_r), axis=1), x)  # (P, right, Q)
    return xp.concat([pad_l, x, pad_r], axis=1)


def extend_adjoint(xp: Any, g: Any, n: int, left: int, right: int, mode: str) -> Any:
    r""":math:`E^T g`: the middle of ``g`` plus the padding gradients folded back
    onto the samples they were read from. ``g`` is ``(P, left+n+right, Q)``."""
    cols_l, m_l, cols_r, m_r = extension_matrices(n, left, right, mode)
    dx = xp.asarray(g[:, left : left + n, :], copy=True)  # (P, n, Q)
    for cols, m, part in ((cols_l, m_l, g[:, :left]), (cols_r, m_r, g[:, left + n :])):
        fold = _apply(xp, np.ascontiguousarray(m.T), part, g)  # (c, r) @ (P, r, Q) -> (P, c, Q)
        for start, stop, j in _runs(cols):
            dx[:, start:stop, :] += fold[:, j : j + stop - start, :]
    return dx


def _runs(cols: np.ndarray) -> list[tuple[int, int, int]]:
    """Split sorted column indices into contiguous runs ``(start, stop, offset)``."""
    breaks = np.flatnonzero(np.diff(cols) != 1) + 1
    starts = np.r_[0, breaks]
    stops = np.r_[breaks, len(cols)]
    pairs = zip(starts, stops, strict=True)
    return [(int(cols[a]), int(cols[b - 1]) + 1, int(a)) for a, b in pairs if b > a]


# ---------------------------------------------------------------------------
# 2. Filter and downsample, 3. upsample and filter
# ---------------------------------------------------------------------------

BLOCK = 4  # outputs per block of the blocked (BLAS) path; 4 was fastest here


def _use_blocked(xp: Any, x: Any) -> bool:
    """The blocked path: NumPy, enough contiguous channels, finite values
    (a zero of the banded matrix times inf would spread NaN within a block)."""
    return (
        isinstance(x, np.ndarray)
        and x.shape[2] >= 16
        and x.dtype.kind in "fc"
        and bool(np.isfinite(x.sum()))
    )


def filter_down(xp: Any, x: Any, filters: np.ndarray, n_out: int) -> Any:
    r"""Filter and downsample: :math:`y_b[o] = \sum_i f_b[i]\, x[2o + i]`.

    Args:
        x: ``(P, N, Q)`` with ``2(n_out - 1) + F <= N``.
        filters: ``(B, F)`` float64 NumPy array (cast to ``x``'s dtype).
    Returns:
        ``(B, P, n_out, Q)``.
    """
    assert 2 * (n_out - 1) + filters.shape[1] <= x.shape[1], "filter_down: input too short"
    if _use_blocked(xp, x):
        return _filter_down_blocked(x, filters, n_out)
    return filter_down_taps(xp, x, filters, n_out)


def filter_down_taps(xp: Any, x: Any, filters: np.ndarray, n_out: int) -> Any:
    """Textbook :func:`filter_down`: one strided slice per filter tap."""
    P, _, Q = x.shape
    f = _cast_like(xp, filters, x)  # (B, F)
    y = xp.zeros((filters.shape[0], P, n_out, Q), dtype=x.dtype, device=_device(x))
    for i in range(filters.shape[1]):
        if np.any(filters[:, i]):
            tap = x[:, i : i + 2 * n_out - 1 : 2, :]  # (P, n_out, Q): x[2o + i]
            y += f[:, i, None, None, None] * tap[None]  # (B, P, n_out, Q)
    return y


def _filter_down_blocked(x: np.ndarray, filters: np.ndarray, n_out: int) -> np.ndarray:
    """Blocked :func:`filter_down`: ``T`` outputs at a time from a window of
    ``K = 2T + F - 2`` inputs, i.e. ``y_block = M @ window`` with the banded
    ``(T, K)`` matrix ``M[t, 2t + i] = f[i]``; one batched matmul does all."""
    (P, N, Q), (B, F), T = x.shape, filters.shape, BLOCK
    K = 2 * T + F - 2
    n_blocks = min(n_out // T, (N - K) // (2 * T) + 1) if N >= K else 0
    y = np.empty((B, P, n_out, Q), dtype=x.dtype)
    if n_blocks:
        m = np.zeros((B, T, K))
        for t in range(T):
            m[:, t, 2 * t : 2 * t + F] = filters
        m = m.astype(x.real.dtype)[:, None, None]  # (B, 1, 1, T, K)
        s0, s1, s2 = x.strides
        windows = np.lib.stride_tricks.as_strided(  # (P, n_blocks, K, Q), no copy
            x, (P, n_blocks, K, Q), (s0, 2 * T * s1, s1, s2), writeable=False
        )
        y0, y1, y2, y3 = y.strides
        out = np.lib.stride_tricks.as_strided(  # view of y[:, :, :n_blocks*T]
            y, (B, P, n_blocks, T, Q), (y0, y1, T * y2, y2, y3)
        )
        np.matmul(m, windows[None], out=out)  # (B, P, n_blocks, T, Q)
    done = n_blocks * T
    if done < n_out:  # the last few outputs: tap loop
        y[:, :, done:] = filter_down_taps(np, x[:, 2 * done :], filters, n_out - done)
    return y


def filter_up(xp: Any, bands: list, filters: np.ndarray, length: int) -> Any:
    r"""Upsample and filter, the adjoint of :func:`filter_down`:
    :math:`z[2o + i] \mathrel{+}= \sum_b f_b[i]\, y_b[o]`.

    Args:
        bands: ``B`` arrays ``(P, n, Q)``.
        filters: ``(B, F)`` float64 NumPy array.
        length: the length of ``z``; ``2(n - 1) + F <= length``.
    Returns:
        ``z`` of shape ``(P, length, Q)``.
    """
    assert 2 * (bands[0].shape[1] - 1) + filters.shape[1] <= length, "filter_up: too short"
    if all(_use_blocked(xp, b) for b in bands):
        return _filter_up_blocked(bands, filters, length)
    return filter_up_taps(xp, bands, filters, length)


def filter_up_taps(xp: Any, bands: list, filters: np.ndarray, length: int) -> Any:
    """Textbook :func:`filter_up`: one strided slice-add per tap and band."""
    P, n, Q = bands[0].shape
    f = _cast_like(xp, filters, bands[0])  # (B, F)
    z = xp.zeros((P, length, Q), dtype=bands[0].dtype, device=_device(bands[0]))
    for i in range(filters.shape[1]):
        for b, y in enumerate(bands):
            if filters[b, i] != 0:
                z[:, i : i + 2 * n - 1 : 2, :] += f[b, i] * y  # z[2o + i] += f_b[i] y_b[o]
    return z


def _filter_up_blocked(bands: list, filters: np.ndarray, length: int) -> np.ndarray:
    """Blocked :func:`filter_up`: output block ``z[2Tk : 2Tk + 2T]`` reads the
    coefficients ``y[Tk - R : Tk + T]`` (``R = (F-1)//2``) of every band. The
    bands are interleaved (``(P, n, B, Q)``) so that one window holds all of
    them, and each block is one ``(2T, (T+R)B)`` matrix product."""
    (P, n, Q), (B, F), T = bands[0].shape, filters.shape, BLOCK
    R = (F - 1) // 2
    n_blocks = -(-length // (2 * T))
    n_pad = max(T * n_blocks + R, R + n)
    y = np.zeros((P, n_pad, B, Q), dtype=bands[0].dtype)
    for b, band in enumerate(bands):
        y[:, R : R + n, b, :] = band  # (P, n, Q) -> interleaved, R zeros in front
    m = np.zeros((2 * T, T + R, B))
    for s in range(2 * T):
        for o in range(T + R):
            i = s + 2 * R - 2 * o  # filter tap linking z[2Tk + s] and y[Tk - R + o]
            if 0 <= i < F:
                m[s, o, :] = filters[:, i]
    m = m.reshape(2 * T, (T + R) * B).astype(y.real.dtype)
    s0, s1, s2, s3 = y.strides
    windows = np.lib.stride_tricks.as_strided(  # (P, n_blocks, (T+R)B, Q), no copy
        y, (P, n_blocks, (T + R) * B, Q), (s0, T * s1, s2, s3), writeable=False
    )
    z = np.matmul(m, windows)  # (P, n_blocks, 2T, Q)
    return z.reshape(P, n_blocks * 2 * T, Q)[:, :length]


def _device(x: Any) -> Any:
    return None if isinstance(x, np.ndarray) else x.device
