r"""The textbook filter bank: boundary extension and the tap loops (the reference).

Part of :mod:`wavelearn.dwt.filterbank` (see there for the overview); arrays are
``(P, N, Q)``, the transform runs along axis 1.

**Extension** :math:`E` (``extend`` / ``extend_adjoint``, piece 1 of the overview):
the extension matrices of each boundary mode, the padding as sums of their terms,
and :math:`E^T` folding the gradient of the padding back onto the edge samples.

**Tap loops** (``filter_down_taps``, ``filter_up_taps``): one strided slice per
filter tap. Short, exact about inf and NaN, and they run on every backend;
every fast path is tested against them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np


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
    pad_l, pad_r = edge_pads(xp, x, left, right, mode)
    return xp.concat([pad_l, x, pad_r], axis=1)


def edge_pads(xp: Any, x: Any, left: int, right: int, mode: str) -> tuple[Any, Any]:
    """Just the padding of :func:`extend`: ``(P, left, Q)`` and ``(P, right, Q)``."""
    slots_l, slots_r = extension_terms(x.shape[1], left, right, mode)
    return _gather_terms(xp, x, slots_l, left), _gather_terms(xp, x, slots_r, right)


def edge_pads_finite(x: np.ndarray, left: int, right: int, mode: str) -> tuple[Any, Any]:
    """:func:`edge_pads` for finite NumPy data: two small matrix products with the
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
    """``(P, count, Q)``: the padded samples described by ``slots`` (see above). A slot
    used by every padded sample needs no mask, and one of weights 1 (the copies of
    the symmetric, reflect, periodic and constant modes) no product."""
    P, _, Q = x.shape
    pad = None
    for j, w, used in slots:
        rows = x[:, j] if isinstance(x, np.ndarray) else xp.take(x, xp.asarray(j), axis=1)
        if not np.all(w == 1.0):
            rows = _cast_like(xp, w, x)[:, None] * rows  # (P, r, Q)
        if not used.all():
            mask = xp.asarray(used[:, None]) if isinstance(x, np.ndarray) else \
                xp.asarray(used[:, None], device=_device(x))
            rows = xp.where(mask, rows, xp.zeros_like(rows))  # (P, r, Q)
        pad = rows if pad is None else pad + rows
    if pad is None:
        return xp.zeros((P, count, Q), dtype=x.dtype, device=_device(x))
    return pad


def extend_adjoint(xp: Any, g: Any, n: int, left: int, right: int, mode: str) -> Any:
    r""":math:`E^T g`: the middle of ``g`` plus the padding gradients folded back
    onto the samples they were read from. ``g`` is ``(P, left+n+right, Q)``."""
    dx = xp.asarray(g[:, left : left + n, :], copy=True)  # (P, n, Q)
    return fold_pads(xp, dx, g[:, :left], g[:, left + n :], mode)


def fold_pads(xp: Any, dx: Any, g_l: Any, g_r: Any, mode: str) -> Any:
    """The rest of :func:`extend_adjoint`, in place: add to ``dx`` ``(P, n, Q)``
    the gradients ``g_l`` ``(P, left, Q)`` and ``g_r`` ``(P, right, Q)`` of the
    padding, each onto the samples that padded sample was made of."""
    n, left, right = dx.shape[1], g_l.shape[1], g_r.shape[1]
    plans, terms = _fold_plan(n, left, right, mode), extension_terms(n, left, right, mode)
    for (m_t, runs), slots, part in zip(plans, terms, (g_l, g_r), strict=True):
        if isinstance(dx, np.ndarray) and not np.isfinite(part).all():
            _fold_terms(dx, slots, part)
            continue
        fold = _apply(xp, m_t, part, dx)  # (c, r) @ (P, r, Q) -> (P, c, Q)
        for start, stop, j in runs:
            dx[:, start:stop, :] += fold[:, j : j + stop - start, :]
    return dx


def _fold_terms(dx: np.ndarray, slots: list, part: np.ndarray) -> None:
    """``dx[:, j] += w * part[:, r]`` for every term ``w x[j]`` of padded sample ``r``
    (:func:`extension_terms`): the fold of non-finite padding gradients without the
    zeros of a matrix (``0 * inf`` is NaN, where PyWavelets keeps inf). ``np.add.at``
    adds every term, also where several land on one sample."""
    for j, w, used in slots:
        rows = w[used].astype(part.real.dtype)[None, :, None] * part[:, used]  # (P, r, Q)
        np.add.at(dx, (slice(None), j[used]), rows)


@lru_cache(maxsize=256)
def _fold_plan(n: int, left: int, right: int, mode: str) -> tuple:
    """Per side, ``(M^T, runs)``: the transposed extension matrix and the runs of
    contiguous columns it folds onto (:func:`index_runs`), built once per call shape."""
    cols_l, m_l, cols_r, m_r = extension_matrices(n, left, right, mode)
    return tuple((np.ascontiguousarray(m.T), index_runs(cols)) for cols, m in
                 ((cols_l, m_l), (cols_r, m_r)))


def index_runs(cols: np.ndarray) -> list[tuple[int, int, int]]:
    """Split sorted column indices into contiguous runs ``(start, stop, offset)``."""
    breaks = np.flatnonzero(np.diff(cols) != 1) + 1
    starts = np.r_[0, breaks]
    stops = np.r_[breaks, len(cols)]
    pairs = zip(starts, stops, strict=True)
    return [(int(cols[a]), int(cols[b - 1]) + 1, int(a)) for a, b in pairs if b > a]


def filter_down_taps(xp: Any, x: Any, filters: np.ndarray, n_out: int) -> Any:
    """Textbook :func:`filter_down`: one strided slice per filter tap."""
    P, _, Q = x.shape
    f = _cast_like(xp, filters, x)  # (B, F)
    y = xp.zeros((filters.shape[0], P, n_out, Q), dtype=x.dtype, device=_device(x))
    for i in range(filters.shape[1]):  # zero taps too: 0 * inf is NaN, as in PyWavelets
        tap = x[:, i : i + 2 * n_out - 1 : 2, :]  # (P, n_out, Q): x[2o + i]
        y += f[:, i, None, None, None] * tap[None]  # (B, P, n_out, Q)
    return y


def filter_up_taps(xp: Any, bands: list, filters: np.ndarray, length: int) -> Any:
    """Textbook :func:`filter_up`: one strided slice-add per tap and band."""
    P, n, Q = bands[0].shape
    f = _cast_like(xp, filters, bands[0])  # (B, F)
    z = xp.zeros((P, length, Q), dtype=bands[0].dtype, device=_device(bands[0]))
    for i in range(filters.shape[1]):
        for b, y in enumerate(bands):
            z[:, i : i + 2 * n - 1 : 2, :] += f[b, i] * y  # z[2o + i] += f_b[i] y_b[o]
    return z


def _device(x: Any) -> Any:
    return None if isinstance(x, np.ndarray) else x.device
