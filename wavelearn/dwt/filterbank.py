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
for NumPy, a *blocked* one that hands the arithmetic to BLAS as batched small
matrix products over strided views of the data (no copy of the input):

- ``filter_down``: the ``B`` outputs at position ``o`` are the filter bank
  ``(B, F)`` times the window ``x[2o : 2o + F]`` ``(F, Q)``;
- ``filter_up``: a block of output pairs is, per band, a small matrix of
  filter taps times a window of the coefficients (polyphase form).

4. **Both at once** (``extend_filter_down`` = :math:`D E`, and its adjoint
   ``filter_up_fold`` = :math:`E^T U`): what one DWT level needs. The
   blocked path reads the signal in place and builds only the few padded
   samples at its ends, instead of a padded copy of everything.

Big jobs are cut into chunks that a few threads share (``WAVELEARN_NUM_THREADS``,
see :func:`num_threads`); every chunk is computed the same way whichever
thread runs it, so results do not depend on the number of threads.
Tests check the blocked and the textbook path against each other and
against PyWavelets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from wavelearn.backend import backend_of

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
    the identity; the right side mirrors the left one.

    A pad of ``p`` samples reads only samples less than ``p + 1`` away from
    an end, and (periodization) the parity of ``n``. So for a long signal we
    apply the rules to a *short* one with the same ends and the same parity,
    ``x[cols]``: the first and last ``reach`` samples (and one from the middle
    when ``n`` is odd). The matrices then cost :math:`O(\text{reach}^2)`
    memory and time, whatever ``n``.
    """
    if mode in ("reflect", "antireflect") and n < 2:
        raise ValueError(f"mode {mode!r} needs at least 2 samples along the axis, got {n}")
    cols = _edge_columns(n, max(left, right) + 2)  # the short signal is x[cols]
    basis = np.eye(len(cols))  # (c, c): the short signal is the identity
    if mode == "periodization" and n % 2:
        right_rows = _right_extension_odd_periodization(basis, right)
    else:
        right_rows = _left_extension(basis[::-1], right, mode)[::-1]
    return (*_prune(cols, _left_extension(basis, left, mode)), *_prune(cols, right_rows))


def _edge_columns(n: int, reach: int) -> np.ndarray:
    """The samples of a length-``n`` signal that a pad of fewer than ``reach - 1``
    samples can read: all of them for a short signal, else the first and last
    ``reach`` (plus sample ``reach`` when ``n`` is odd, to keep the parity)."""
    if n <= 2 * reach + 1:
        return np.arange(n)
    return np.r_[0:reach, reach : reach + n % 2, n - reach : n]


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
    pad_l, pad_r = _pads(xp, x, left, right, mode)
    return xp.concat([pad_l, x, pad_r], axis=1)


def _pads(xp: Any, x: Any, left: int, right: int, mode: str) -> tuple[Any, Any]:
    """Just the padding of :func:`extend`: ``(P, left, Q)`` and ``(P, right, Q)``."""
    slots_l, slots_r = extension_terms(x.shape[1], left, right, mode)
    return _gather_terms(xp, x, slots_l, left), _gather_terms(xp, x, slots_r, right)


def _pads_finite(x: np.ndarray, left: int, right: int, mode: str) -> tuple[Any, Any]:
    """:func:`_pads` for finite NumPy data: two small matrix products with the
    extension matrices (no ``0 * inf`` to avoid: the terms are not needed)."""
    cols_l, m_l, cols_r, m_r = extension_matrices(x.shape[1], left, right, mode)
    return _apply(np, m_l, x[:, cols_l], x), _apply(np, m_r, x[:, cols_r], x)


@lru_cache(maxsize=256)
def extension_terms(n: int, left: int, right: int, mode: str) -> tuple:
    """The rows of :func:`extension_matrices` as sums of *terms* ``w * x[j]``.

    Padded sample ``r`` is ``sum_s w_s[r] * x[j_s[r]]`` over the slots ``s``
    where ``used_s[r]``. Summing only the terms that exist (instead of a
    matrix product with zeros) keeps NaN and inf where PyWavelets has them:
    ``0 * inf`` would be NaN. Returns ``(slots_left, slots_right)``, each a
    list of ``(j, w, used)`` arrays of length ``left`` / ``right``.
    """
    cols_l, m_l, cols_r, m_r = extension_matrices(n, left, right, mode)
    return _slots(cols_l, m_l), _slots(cols_r, m_r)


def _slots(cols: np.ndarray, m: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rows = [np.flatnonzero(row) for row in m]  # nonzero columns of each padded sample
    depth = max((len(r) for r in rows), default=0)
    slots = []
    for s in range(depth):
        used = np.array([len(r) > s for r in rows])
        j = np.array([cols[r[s]] if len(r) > s else 0 for r in rows], dtype=np.int64)
        w = np.array([m[i, r[s]] if len(r) > s else 0.0 for i, r in enumerate(rows)])
        slots.append((j, w, used))
    return slots


def _gather_terms(xp: Any, x: Any, slots: list, count: int) -> Any:
    """``(P, count, Q)``: the padded samples described by ``slots`` (see above)."""
    P, _, Q = x.shape
    pad = xp.zeros((P, count, Q), dtype=x.dtype, device=_device(x))
    for j, w, used in slots:
        rows = x[:, j] if isinstance(x, np.ndarray) else xp.take(x, xp.asarray(j), axis=1)
        term = _cast_like(xp, w, x)[:, None] * rows  # (P, r, Q)
        mask = xp.asarray(used[:, None]) if isinstance(x, np.ndarray) else \
            xp.asarray(used[:, None], device=_device(x))
        pad = pad + xp.where(mask, term, xp.zeros_like(term))  # (P, r, Q)
    return pad


def extend_adjoint(xp: Any, g: Any, n: int, left: int, right: int, mode: str) -> Any:
    r""":math:`E^T g`: the middle of ``g`` plus the padding gradients folded back
    onto the samples they were read from. ``g`` is ``(P, left+n+right, Q)``."""
    dx = xp.asarray(g[:, left : left + n, :], copy=True)  # (P, n, Q)
    return _fold_pads(xp, dx, g[:, :left], g[:, left + n :], mode)


def _fold_pads(xp: Any, dx: Any, g_l: Any, g_r: Any, mode: str) -> Any:
    """The rest of :func:`extend_adjoint`, in place: add to ``dx`` ``(P, n, Q)``
    the gradients ``g_l`` ``(P, left, Q)`` and ``g_r`` ``(P, right, Q)`` of the
    padding, each onto the samples that padded sample was made of."""
    n, left, right = dx.shape[1], g_l.shape[1], g_r.shape[1]
    for (m_t, runs), part in zip(_fold_plan(n, left, right, mode), (g_l, g_r), strict=True):
        fold = _apply(xp, m_t, part, dx)  # (c, r) @ (P, r, Q) -> (P, c, Q)
        for start, stop, j in runs:
            dx[:, start:stop, :] += fold[:, j : j + stop - start, :]
    return dx


@lru_cache(maxsize=256)
def _fold_plan(n: int, left: int, right: int, mode: str) -> tuple:
    """Per side, ``(M^T, runs)``: the transposed extension matrix and the runs of
    contiguous columns it folds onto (:func:`_runs`), built once per call shape."""
    cols_l, m_l, cols_r, m_r = extension_matrices(n, left, right, mode)
    return tuple((np.ascontiguousarray(m.T), _runs(cols)) for cols, m in
                 ((cols_l, m_l), (cols_r, m_r)))


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

BLOCK = 2  # output pairs per block of the blocked filter_up; 1..4 measured alike
CHUNK = 1 << 18  # output elements per matmul task (1 MB of float32; 2**16..2**19 alike)
PARALLEL_MIN = 1 << 22  # outputs from which the blocked path uses several threads


ROWS_MIN = 256  # samples from which a single-channel signal takes the blocked (rows) path


def _use_blocked(xp: Any, x: Any) -> bool:
    """The blocked path: NumPy, enough contiguous channels -- or one channel
    (``Q = 1``) of a long signal, stored contiguously (see :func:`_filter_down_rows`)
    -- and finite values (a zero of a block matrix times inf would spread NaN
    within the block; such data take the tap loop)."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fc":
        return False
    rows = x.shape[2] == 1 and x.shape[1] >= ROWS_MIN and x.strides[1] == x.itemsize
    return (x.shape[2] >= 16 or rows) and bool(np.isfinite(x.sum()))


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
    if (bank := _filter_bank(x)) is not None:  # the backend's own kernels (torch)
        return bank.filter_down(x, filters, n_out)
    return filter_down_taps(xp, x, filters, n_out)


def filter_down_taps(xp: Any, x: Any, filters: np.ndarray, n_out: int) -> Any:
    """Textbook :func:`filter_down`: one strided slice per filter tap."""
    P, _, Q = x.shape
    f = _cast_like(xp, filters, x)  # (B, F)
    y = xp.zeros((filters.shape[0], P, n_out, Q), dtype=x.dtype, device=_device(x))
    for i in range(filters.shape[1]):  # zero taps too: 0 * inf is NaN, as in PyWavelets
        tap = x[:, i : i + 2 * n_out - 1 : 2, :]  # (P, n_out, Q): x[2o + i]
        y += f[:, i, None, None, None] * tap[None]  # (B, P, n_out, Q)
    return y


def _filter_down_blocked(
    x: np.ndarray, filters: np.ndarray, n_out: int, out: np.ndarray | None = None
) -> np.ndarray:
    r"""Blocked :func:`filter_down`. At one position ``o`` the ``B`` outputs
    are one small matrix product, the filter bank times a window of the input:

    .. math:: y_{:, o} = f\, x[2o : 2o + F] \qquad (B, F) @ (F, Q) \to (B, Q)

    A strided view holds all the windows (no copy), another one views ``y``
    as ``(P, n_out, B, Q)``, and batched ``matmul``\ s write straight into it.
    When ``y`` is stored that way (bands interleaved, :func:`new_bands`), ``T``
    positions go into one product, :func:`_filter_down_tblocks`.
    ``out``: where to write (a ``(B, P, n_out, Q)`` array or view).
    """
    (P, _, Q), (B, F) = x.shape, filters.shape
    y = new_bands(B, P, n_out, Q, x.dtype) if out is None else out
    if Q == 1:
        return _filter_down_rows(x, filters, n_out, y)
    y0, y1, y2, y3 = y.strides
    y_pobq = as_strided(y, (P, n_out, B, Q), (y1, y2, y0, y3))  # y[b, p, o] at [p, o, b]
    done = _filter_down_tblocks(x, filters, n_out, y_pobq) if y2 == B * y0 else 0
    f = filters.astype(x.real.dtype)  # (B, F)
    s0, s1, s2 = x.strides
    windows = as_strided(x[:, 2 * done :], (P, n_out - done, F, Q), (s0, 2 * s1, s1, s2),
                         writeable=False)
    rest = y_pobq[:, done:]

    def task(ps: slice, rows: slice) -> None:
        np.matmul(f, windows[ps, rows], out=rest[ps, rows])  # (B, F) @ (p, o, F, Q)

    _run(task, _chunks(P, n_out - done, B * Q), rest.size)
    return y


def new_bands(B: int, P: int, n: int, Q: int, dtype: Any) -> np.ndarray:
    """An empty ``(B, P, n, Q)`` array stored as ``(P, n, B, Q)``: the ``B`` bands of a
    position side by side, which :func:`_filter_down_tblocks` needs. (One channel,
    ``Q = 1``: plain ``(B, P, n, 1)``, each band contiguous for :func:`_filter_down_rows`.)"""
    if Q == 1:
        return np.empty((B, P, n, Q), dtype=dtype)
    return np.empty((P, n, B, Q), dtype=dtype).transpose(2, 0, 1, 3)


TBLOCK = 4  # output positions per product of _filter_down_tblocks (2..8 measured alike)


def _filter_down_tblocks(x: np.ndarray, filters: np.ndarray, n_out: int,
                         y_pobq: np.ndarray) -> int:
    r"""The first ``T`` :math:`\lfloor n_\text{out}/T \rfloor` positions of
    :func:`_filter_down_blocked`, ``T`` at a time: the ``T B`` outputs of
    positions ``o .. o + T - 1`` read the window ``x[2o : 2o + 2T + F - 2]``,

    .. math:: y_{(t, b), o} = W\, x[2o : 2o + 2T + F - 2], \quad
              W_{(t, b), c} = f_b[c - 2t] \qquad (T B, 2T + F - 2) @ (\cdot, Q),

    so each product reads ``2T + F - 2`` rows for ``T B`` outputs instead of
    ``F`` rows for ``B``: less memory traffic per output, at the price of the
    zeros of ``W``. Needs ``y_pobq`` ``(P, n_out, B, Q)`` with rows ``(o, b)``
    equally spaced. Returns how many positions it did.
    """
    (P, _, Q), B, T = x.shape, filters.shape[0], TBLOCK
    R = n_out // T
    if R == 0:
        return 0
    w = _filter_matrix(_tblock_matrix, filters, T, x.real.dtype)  # (T B, 2T + F - 2)
    s0, s1, s2 = x.strides
    windows = as_strided(x, (P, R, w.shape[1], Q), (s0, 2 * T * s1, s1, s2), writeable=False)
    v0, v1, v2, v3 = y_pobq.strides
    out = as_strided(y_pobq, (P, R, T * B, Q), (v0, T * v1, v2, v3))  # rows (t, b)

    def task(ps: slice, rows: slice) -> None:
        np.matmul(w, windows[ps, rows], out=out[ps, rows])  # (T B, K) @ (p, r, K, Q)

    _run(task, _chunks(P, R, T * B * Q), P * R * T * B * Q)
    return R * T


def _tblock_matrix(filters: np.ndarray, T: int) -> np.ndarray:
    """``W[(t, b), c] = f_b[c - 2t]`` (zero outside the filter): ``(T B, 2T + F - 2)``."""
    B, F = filters.shape
    w = np.zeros((T, B, 2 * T + F - 2))
    for t in range(T):
        w[t, :, 2 * t : 2 * t + F] = filters
    return w.reshape(T * B, -1)


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
    if (bank := _filter_bank(bands[0])) is not None:  # the backend's own kernels (torch)
        return bank.filter_up(bands, filters, length)
    return filter_up_taps(xp, bands, filters, length)


def filter_up_taps(xp: Any, bands: list, filters: np.ndarray, length: int) -> Any:
    """Textbook :func:`filter_up`: one strided slice-add per tap and band."""
    P, n, Q = bands[0].shape
    f = _cast_like(xp, filters, bands[0])  # (B, F)
    z = xp.zeros((P, length, Q), dtype=bands[0].dtype, device=_device(bands[0]))
    for i in range(filters.shape[1]):
        for b, y in enumerate(bands):
            z[:, i : i + 2 * n - 1 : 2, :] += f[b, i] * y  # z[2o + i] += f_b[i] y_b[o]
    return z


def _filter_up_blocked(bands: list, filters: np.ndarray, length: int, start: int = 0) -> np.ndarray:
    r"""Blocked :func:`filter_up`, for the part ``z[start:length]`` only.

    Output pairs are polyphase sums: :math:`z[2k+s] = \sum_b \sum_j f_b[s+2j]\,
    y_b[k-j]`. So a block of ``T`` pairs, ``z[2k : 2k + 2T]``, reads the
    ``K = T + J - 1`` coefficients ``y_b[k-J+1 : k+T]`` (``J = ceil(F/2)``) of
    each band: it is :math:`\sum_b M_b\, y_b[k-J+1 : k+T]` with the ``(2T, K)``
    matrices of :func:`_up_matrices`. Blocks whose windows lie inside the bands
    are batched ``matmul``\ s; the few samples at either end, whose windows
    stick out, come from :func:`_filter_up_edge`.
    """
    (P, n, Q), F = bands[0].shape, filters.shape[1]
    T = _row_block(F) if Q == 1 else BLOCK
    J = (F + 1) // 2
    z = np.empty((P, length - start, Q), dtype=bands[0].dtype)  # z[start:length]
    k0 = max(J - 1, -(-start // 2))  # first block: its window and output are inside
    n_blocks = max(0, min((n - T - k0) // T + 1, (length - 2 * k0) // (2 * T)))
    lo = 2 * k0 - start if n_blocks else 0  # z[lo:hi] (relative to start) from blocks
    hi = lo + 2 * T * n_blocks
    z[:, :lo] = _filter_up_edge(bands, filters, start, start + lo)
    z[:, hi:] = _filter_up_edge(bands, filters, start + hi, length)
    if n_blocks:
        blocks = _filter_up_rows if Q == 1 else _filter_up_blocks
        blocks(bands, filters, k0, T, z[:, lo:hi])
    return z


_MATRICES: dict[tuple, np.ndarray] = {}


def _filter_matrix(build: Callable, filters: np.ndarray, T: int, dtype: Any) -> np.ndarray:
    """``build(filters, T)`` in ``dtype``, read-only, made once per filter bank, ``T``
    and dtype (the blocked paths need these small matrices at every call)."""
    key = (build.__name__, filters.tobytes(), filters.shape, T, np.dtype(dtype).str)
    m = _MATRICES.get(key)
    if m is None:
        if len(_MATRICES) >= 512:
            _MATRICES.clear()
        m = _MATRICES[key] = build(filters, T).astype(dtype)
        m.flags.writeable = False
    return m


def _up_matrices(filters: np.ndarray, T: int) -> np.ndarray:
    """``M[b, s, o] = f_b[s + 2(J-1-o)]``: the tap linking ``z[2k + s]`` and
    ``y_b[k - J + 1 + o]``; ``(B, 2T, T + J - 1)``, zero outside the filter."""
    B, F = filters.shape
    J = (F + 1) // 2
    m = np.zeros((B, 2 * T, T + J - 1))
    for s in range(2 * T):
        for o in range(T + J - 1):
            i = s + 2 * (J - 1 - o)
            if 0 <= i < F:
                m[:, s, o] = filters[:, i]
    return m


def _filter_up_blocks(bands: list, filters: np.ndarray, k0: int, T: int, z: np.ndarray) -> None:
    """``z`` ``(P, 2T n_blocks, Q)`` <- the blocks from pair ``k0`` on: per chunk,
    one ``matmul`` per band, summed while the chunk is still in cache."""
    (P, _, Q), J = bands[0].shape, (filters.shape[1] + 1) // 2
    n_blocks, K = z.shape[1] // (2 * T), T + J - 1
    m = _filter_matrix(_up_matrices, filters, T, bands[0].real.dtype)  # (B, 2T, K)
    windows = []  # per band (P, n_blocks, K, Q): y_b[k - J + 1 + o], no copy
    for y in bands:
        s0, s1, s2 = y.strides
        windows.append(as_strided(y[:, k0 - J + 1 :], (P, n_blocks, K, Q),
                                  (s0, T * s1, s1, s2), writeable=False))
    z0, z1, z2 = z.strides
    blocks = as_strided(z, (P, n_blocks, 2 * T, Q), (z0, 2 * T * z1, z1, z2))

    def task(ps: slice, ks: slice) -> None:
        out = blocks[ps, ks]  # (p, k, 2T, Q)
        np.matmul(m[0], windows[0][ps, ks], out=out)
        for m_b, w in zip(m[1:], windows[1:], strict=True):
            out += np.matmul(m_b, w[ps, ks])

    _run(task, _chunks(P, n_blocks, 2 * T * Q), z.size)


def _filter_up_edge(bands: list, filters: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``z[start:stop]`` of :func:`filter_up` (a short piece, e.g. at an end):
    the pairs ``k_lo <= k < k_hi`` it lies in, one pair per window
    ``y_b[k-J+1 : k+1]`` of a zero-padded copy of the coefficients they read."""
    (P, n, Q), F = bands[0].shape, filters.shape[1]
    J, k_lo, k_hi = (F + 1) // 2, start // 2, max(start // 2, (stop + 1) // 2)
    first = k_lo - J + 1  # coefficient at row 0 of the copy
    m = _filter_matrix(_up_matrices, filters, 1, bands[0].real.dtype)  # (B, 2, J)
    z = np.zeros((P, k_hi - k_lo, 2, Q), dtype=bands[0].dtype)
    a, b = max(0, first), min(n, k_hi)  # the coefficients that exist
    for m_b, y in zip(m, bands, strict=True):
        piece = np.zeros((P, k_hi - first, Q), dtype=y.dtype)
        if a < b:
            piece[:, a - first : b - first] = y[:, a:b]
        s0, s1, s2 = piece.strides
        windows = as_strided(piece, (P, k_hi - k_lo, J, Q), (s0, s1, s1, s2), writeable=False)
        z += np.matmul(m_b, windows)  # (2, J) @ (P, pairs, J, Q)
    return z.reshape(P, 2 * (k_hi - k_lo), Q)[:, start - 2 * k_lo : stop - 2 * k_lo]


# ---------------------------------------------------------------------------
# 3b. One channel: blocks of T outputs as plain 2-D matrix products
# ---------------------------------------------------------------------------

ROW_BLOCK = 8  # outputs per row of the single-channel path (at least F / 2)


def _row_block(F: int) -> int:
    """``T`` of the single-channel path: ``ROW_BLOCK``, or ``F // 2`` for long filters
    (then a row and the head of the next one hold every window)."""
    return max(ROW_BLOCK, F // 2)


def _rows(v: np.ndarray, count: int, width: int, step: int) -> np.ndarray:
    """``count`` rows ``v[i * step : i * step + width]`` of a 1-D array as a
    strided 2-D view (no copy); read-only, as rows may overlap."""
    (s,) = v.strides
    return as_strided(v, (count, width), (step * s, s), writeable=width <= step)


def _row_chunks(P: int, R: int, T: int) -> list[tuple[slice, slice]]:
    """Tasks of a few hundred thousand multiply-adds: small enough that OpenBLAS
    keeps each product on one thread (it splits those above 2^18 multiply-adds,
    which costs a lot on a machine whose cores are busy); ``_run`` shares the
    tasks out instead."""
    return _chunks(P, R, 4 * T * T)


def _down_matrices(filters: np.ndarray, T: int) -> np.ndarray:
    """``W[b, c, t] = f_b[c - 2t]`` (zero outside the filter): output ``t`` of a
    block reads sample ``c`` of its window; ``(B, 2T + F - 2, T)``."""
    B, F = filters.shape
    w = np.zeros((B, 2 * T + F - 2, T))
    for t in range(T):
        w[:, 2 * t : 2 * t + F, t] = filters
    return w


def _filter_down_rows(x: np.ndarray, filters: np.ndarray, n_out: int,
                      y: np.ndarray) -> np.ndarray:
    r"""Blocked :func:`filter_down` for one channel, ``x`` ``(P, N, 1)``.

    The ``T`` outputs :math:`y_b[Tr : Tr + T]` of block ``r`` read the window
    :math:`X_r = x[2Tr : 2Tr + 2T + F - 2]`, so with the banded matrices of
    :func:`_down_matrices`

    .. math:: Y_b = X\, W_b \qquad (R, 2T + F - 2) @ (2T + F - 2, T)

    one ordinary 2-D matrix product per band (``T`` times more multiplications
    than the taps, at BLAS speed). Consecutive windows overlap, which BLAS
    cannot read in place: each chunk of them is first copied into a small
    buffer. The last ``n_out - RT`` outputs come from the tap loop.
    """
    (P, _, _), (B, F) = x.shape, filters.shape
    T = _row_block(F)
    R = n_out // T  # full blocks; their windows end at 2TR + F - 2 <= 2 n_out + F - 2
    w = _filter_matrix(_down_matrices, filters, T, x.real.dtype)  # (B, 2T + F - 2, T)
    windows = [_rows(x[p, :, 0], R, w.shape[1], 2 * T) for p in range(P)]  # (R, 2T + F - 2)
    outs = [[_rows(y[b, p, :, 0], R, T, T) for p in range(P)] for b in range(B)]  # (R, T)

    def task(ps: slice, rs: slice) -> None:
        for p in range(ps.start, ps.stop):
            buf = np.array(windows[p][rs])  # (r, 2T + F - 2), contiguous
            for b in range(B):
                np.matmul(buf, w[b], out=outs[b][p][rs])

    if R:
        _run(task, _row_chunks(P, R, T), y.size)
    if R * T < n_out:
        y[:, :, R * T :] = filter_down_taps(np, x[:, 2 * R * T :], filters, n_out - R * T)
    return y


def _filter_up_rows(bands: list, filters: np.ndarray, k0: int, T: int, z: np.ndarray) -> None:
    r""":func:`_filter_up_blocks` for one channel, bands ``(P, n, 1)``.

    Block ``j`` of ``T`` output pairs (from pair ``k = k0 + jT``) is
    :math:`\sum_b M_b\, y_b[k - J + 1 : k + T]` (:func:`_up_matrices`): with the
    windows of all bands side by side as one row, one 2-D matrix product gives
    every block,

    .. math:: Z = [Y_0 \; Y_1 \ldots]\, [M_0 \; M_1 \ldots]^T
              \qquad (n_	ext{blocks}, B K) @ (B K, 2T),

    the transpose of :func:`_filter_down_rows`' product. As there, chunks of
    the overlapping windows are copied into a buffer first.
    """
    (P, _, _), J = bands[0].shape, (filters.shape[1] + 1) // 2
    n_blocks, K = z.shape[1] // (2 * T), T + J - 1
    m = _filter_matrix(_up_matrices, filters, T, bands[0].real.dtype)  # (B, 2T, K)
    m = np.ascontiguousarray(np.swapaxes(m, 1, 2).reshape(-1, 2 * T))  # (B K, 2T)
    windows = [[_rows(y[p, k0 - J + 1 :, 0], n_blocks, K, T) for y in bands]
               for p in range(P)]  # per p and band (n_blocks, K)
    outs = [_rows(z[p, :, 0], n_blocks, 2 * T, 2 * T) for p in range(P)]  # (n_blocks, 2T)

    def task(ps: slice, js: slice) -> None:
        for p in range(ps.start, ps.stop):
            buf = np.concatenate([win[js] for win in windows[p]], axis=1)  # (j, B K)
            np.matmul(buf, m, out=outs[p][js])

    _run(task, _row_chunks(P, n_blocks, T), z.size)


def _device(x: Any) -> Any:
    return None if isinstance(x, np.ndarray) else x.device


def _filter_bank(x: Any) -> Any:
    """``x``'s backend's own ``filter_down``/``filter_up`` (``Backend.filter_bank``:
    torch's), or None (NumPy, CuPy): then the tap loop runs."""
    return None if isinstance(x, np.ndarray) else backend_of(x).filter_bank


# ---------------------------------------------------------------------------
# 4. Extension and filter bank together, without the padded copy
# ---------------------------------------------------------------------------


MOVE_MAX_Q = 1024  # a batch of signals with fewer channels is put side by side (_one_row)


def _one_row(x: Any) -> np.ndarray | None:
    """A NumPy batch ``x`` ``(P, N, Q)`` as one row of signals, ``(1, N, P Q)``.

    The blocked path does one small matrix product per output position and
    signal; with the ``P`` signals side by side it does one per position for
    all of them: ``P`` times fewer, larger products. A free view when ``x`` is
    stored ``(N, P, Q)`` (as the results of :func:`_from_one_row`, so a
    multilevel transform copies its input once at most), else a copy --
    made only while ``Q < MOVE_MAX_Q`` (with many channels the products are
    large enough already). None for a single signal, a single channel (the
    row path of :func:`_filter_down_rows` handles those), other backends.
    """
    if not isinstance(x, np.ndarray) or x.shape[0] == 1 or x.shape[2] == 1:
        return None
    P, N, Q = x.shape
    s0, s1, s2 = x.strides
    if s2 == x.itemsize and s0 == Q * s2:  # (P, Q) already side by side: a view
        return as_strided(x, (1, N, P * Q), (0, s1, s2), writeable=False)
    if Q >= MOVE_MAX_Q:
        return None
    return np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(1, N, P * Q)  # (1, N, P Q)


def _from_one_row(y: np.ndarray, P: int) -> np.ndarray:
    """Undo :func:`_one_row` on a result ``(..., 1, n, P Q)``: ``(..., P, n, Q)``, a view."""
    *lead, _, n, pq = y.shape
    return np.swapaxes(y.reshape(*lead, n, P, pq // P), -3, -2)


def extend_filter_down(
    xp: Any, x: Any, filters: np.ndarray, n_out: int, left: int, right: int, mode: str
) -> Any:
    r""":math:`D E x`: ``filter_down(extend(x, left, right, mode), filters, n_out)``.

    Output ``o`` reads the padded samples ``[2o, 2o + F)``, i.e. ``x[2o - left :
    2o - left + F]``. For the outputs ``o0 <= o < o1`` that window lies inside
    ``x``, so the blocked path reads them straight from ``x``; only the first
    and last few read a short piece of padding + signal. Returns ``(B, P, n_out, Q)``.
    """
    (P, N, Q), (B, F) = x.shape, filters.shape
    row = _one_row(x)
    if row is not None:  # the P signals side by side: (1, N, P Q)
        return _from_one_row(extend_filter_down(xp, row, filters, n_out, left, right, mode), P)
    o0 = -(-left // 2)  # first output whose window starts inside x
    o1 = min(n_out, (N + left - F) // 2 + 1)  # one past the last that ends inside x
    if o1 <= o0 or not _use_blocked(xp, x):
        return filter_down(xp, extend(xp, x, left, right, mode), filters, n_out)
    y = new_bands(B, P, n_out, Q, x.dtype)
    _filter_down_blocked(x[:, 2 * o0 - left :], filters, o1 - o0, out=y[:, :, o0:o1])
    pad_l, pad_r = _pads_finite(x, left, right, mode)  # (P, left, Q), (P, right, Q)
    if o0 > 0:  # padded samples [0, 2(o0 - 1) + F)
        head = xp.concat([pad_l, x[:, : 2 * (o0 - 1) + F - left]], axis=1)
        y[:, :, :o0] = filter_down(xp, head, filters, o0)
    if o1 < n_out:  # padded samples [2 o1, left + N + right)
        s = 2 * o1 - left  # (only F = 1 can start past x, in pad_r)
        tail = xp.concat([x[:, s:], pad_r[:, max(0, s - N) :]], axis=1)
        y[:, :, o1:] = filter_down(xp, tail, filters, n_out - o1)
    return y


def filter_up_fold(
    xp: Any, bands: list, filters: np.ndarray, n: int, left: int, right: int, mode: str
) -> Any:
    r""":math:`E^T U y`: ``extend_adjoint(filter_up(bands, filters, left + n + right),
    n, left, right, mode)``, the adjoint of :func:`extend_filter_down`.

    The blocked path computes the middle ``z[left : left + n]`` straight into
    the result and only the short ends ``z[:left]``, ``z[left + n:]`` apart,
    to fold them onto the samples they padded. Returns ``(P, n, Q)``.
    """
    length = left + n + right
    rows = [_one_row(b) for b in bands]
    if all(r is not None for r in rows):  # the P signals side by side: (1, n, P Q)
        fold = filter_up_fold(xp, rows, filters, n, left, right, mode)
        return _from_one_row(fold, bands[0].shape[0])
    if not all(_use_blocked(xp, b) for b in bands):
        return extend_adjoint(xp, filter_up(xp, bands, filters, length), n, left, right, mode)
    assert 2 * (bands[0].shape[1] - 1) + filters.shape[1] <= length, "filter_up: too short"
    dx = _filter_up_blocked(bands, filters, left + n, start=left)  # (P, n, Q)
    if mode == "zero":  # zero padding read nothing: nothing to fold back
        return dx
    g_l = _filter_up_edge(bands, filters, 0, left)  # (P, left, Q)
    g_r = _filter_up_edge(bands, filters, left + n, length)  # (P, right, Q)
    return _fold_pads(xp, dx, g_l, g_r, mode)


# ---------------------------------------------------------------------------
# 5. Chunks of work, and threads
# ---------------------------------------------------------------------------


def num_threads() -> int:
    """Threads of the blocked path: ``WAVELEARN_NUM_THREADS`` if set, else the
    CPUs this process may use, at most 4. ``1`` turns threading off."""
    env = os.environ.get("WAVELEARN_NUM_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"WAVELEARN_NUM_THREADS must be a positive integer, got {env!r}")
        return int(env)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, cpus or 1))


def _chunks(P: int, n: int, row: int) -> list[tuple[slice, slice]]:
    """Tasks ``(p0:p1, o0:o1)`` covering ``P x n`` output rows of ``row``
    elements each, about :data:`CHUNK` elements per task: several ``p`` when
    one is small, else part of one ``p``."""
    if n * row <= CHUNK:
        step = max(1, CHUNK // max(n * row, 1))
        return [(slice(p, min(p + step, P)), slice(0, n)) for p in range(0, P, step)]
    step = max(1, CHUNK // max(row, 1))
    return [(slice(p, p + 1), slice(o, min(o + step, n))) for p in range(P)
            for o in range(0, n, step)]


def _run(task: Callable[[slice, slice], None], chunks: list, size: int) -> None:
    """``task(*c)`` for every chunk ``c``. For ``size >= PARALLEL_MIN`` outputs
    the chunks are split into one run per thread (NumPy lets go of the GIL
    in ``matmul``). Each chunk writes its own part of the output, always the
    same way, so the result is the same bit for bit with any number of threads."""
    threads = min(num_threads(), len(chunks)) if size >= PARALLEL_MIN else 1
    if threads < 2:
        for c in chunks:
            task(*c)
        return
    cuts = [len(chunks) * i // threads for i in range(threads + 1)]
    runs = [chunks[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]  # contiguous

    def run(part: list) -> None:
        for c in part:
            task(*c)

    futures = [_executor(threads - 1).submit(run, part) for part in runs[1:]]
    run(runs[0])  # this thread does its share too
    for f in futures:
        f.result()


_POOL: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _executor(workers: int) -> ThreadPoolExecutor:
    """A thread pool, made once per size and per process (pools do not survive a fork)."""
    key = (os.getpid(), workers)
    if key not in _POOL:
        _POOL[key] = ThreadPoolExecutor(workers, thread_name_prefix="wavelearn")
    return _POOL[key]
