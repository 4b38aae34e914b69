r"""The blocked NumPy paths of one DWT level without padded copies: batches put
side by side (:func:`one_row`), and the few outputs at the ends of a level,
whose windows reach into the padding, as small precomputed operators on the
samples near the ends (:func:`edge_operator`, :func:`fold_edge_operator`).

Part of :mod:`wavelearn.dwt.filterbank` (see there for the overview).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from wavelearn.dwt.blocked import MATRICES
from wavelearn.dwt.chunks import column_slices
from wavelearn.dwt.textbook import extension_matrices, filter_down_taps, index_runs

MOVE_MAX_Q = 256  # a batch of signals with fewer channels is put side by side (one_row)


def one_row(x: Any) -> np.ndarray | None:
    """A NumPy batch ``x`` ``(P, N, Q)`` as one row of signals, ``(1, N, P Q)``.

    The blocked path does one small matrix product per output position and
    signal; with the ``P`` signals side by side it does one per position for
    all of them: ``P`` times fewer, larger products. A free view when ``x`` is
    stored ``(N, P, Q)`` (as the results of :func:`from_one_row`, so a
    multilevel transform copies its input once at most), else a copy --
    made only while ``Q < MOVE_MAX_Q`` (with many channels the products are
    large enough already). None for a single signal, a single channel (the
    row path of :func:`_filter_down_rows` handles those), other backends.
    """
    if not isinstance(x, np.ndarray) or x.shape[0] == 1 or x.shape[2] == 1 or x.size == 0:
        return None
    P, N, Q = x.shape
    s0, s1, s2 = x.strides
    if s2 == x.itemsize and s0 == Q * s2:  # (P, Q) already side by side: a view
        return as_strided(x, (1, N, P * Q), (0, s1, s2), writeable=False)
    if Q >= MOVE_MAX_Q:
        return None
    return np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(1, N, P * Q)  # (1, N, P Q)


def bands_in_one_row(bands: list) -> list | None:
    """:func:`one_row` of each band. Where every band needs a copy, they are copied
    together, interleaved (for :func:`interleaved`, so that a second copy is spared);
    where some are views already, only the others are copied."""
    views = [one_row_is_view(b) for b in bands]
    if all(views):
        return [one_row(b) for b in bands]
    y0 = bands[0]
    if not all(one_row(b[:, :1]) is not None and b.shape == y0.shape and b.dtype == y0.dtype
               for b in bands):  # (a one-sample slice: one_row copies little to say so)
        return None
    if any(views):
        return [one_row(b) for b in bands]
    (P, n, Q), B = y0.shape, len(bands)
    buf = np.empty((n, B, P, Q), dtype=y0.dtype)
    for i, b in enumerate(bands):
        buf[:, i] = b.transpose(1, 0, 2)
    return [buf[:, i].reshape(1, n, P * Q) for i in range(B)]


def one_row_is_view(x: Any) -> bool:
    """Whether :func:`one_row` of ``x`` is a free view."""
    if not isinstance(x, np.ndarray) or x.shape[0] == 1 or x.shape[2] == 1 or x.size == 0:
        return False
    return x.strides[2] == x.itemsize and x.strides[0] == x.shape[2] * x.strides[2]


def from_one_row(y: np.ndarray, P: int) -> np.ndarray:
    """Undo :func:`one_row` on a result ``(..., 1, n, P Q)``: ``(..., P, n, Q)``, a view."""
    *lead, _, n, pq = y.shape
    return np.swapaxes(y.reshape(*lead, n, P, pq // P), -3, -2)


def fold_edge_operator(filters: np.ndarray, n_c: int, n: int, left: int, right: int,
                        mode: str, lo: int, hi: int, dtype: Any) -> list:
    r"""What :func:`filter_up_fold` adds to the middle ``dx[lo:hi]`` that blocks
    computed: every other sample of ``dx``, and the padding gradients folded back
    (:math:`E^T`), as small linear maps of the few coefficients near the ends
    that they read. Built once per call shape in float64 (tap by tap, for each
    such coefficient), then cast. Returns ``[(ra, rb, add, terms)]``: rows
    ``dx[ra:rb]`` are set (``add`` False: outside the middle) or incremented
    (``add``: fold targets inside it) by :math:`\sum H\, y_b[c_a:c_b]` over
    ``terms = [(b, c_a, c_b, H)]``. Finite data only (zeros of ``H`` times inf)."""
    key = ("fold", filters.tobytes(), filters.shape, n_c, n, left, right, mode, lo, hi,
           np.dtype(dtype).str)
    ops = MATRICES.get(key)
    if ops is None:
        ops = _build_fold_edge(filters, n_c, n, left, right, mode, lo, hi, dtype)
        if len(MATRICES) >= 512:
            MATRICES.clear()
        MATRICES[key] = ops
    return ops


def _build_fold_edge(filters: np.ndarray, n_c: int, n: int, left: int, right: int,
                     mode: str, lo: int, hi: int, dtype: Any) -> list:
    """:func:`fold_edge_operator`, built: ``z[2c + i] += f_b[i] y_b[c]``, then
    ``dx[r] = z[left + r]`` outside the middle, and the padding folded back."""
    (B, F), J, length = filters.shape, (filters.shape[1] + 1) // 2, left + n + right
    outside = [*range(0, left + lo), *range(left + hi, length)]  # rows of z, not blocks
    coeffs = sorted({c for p in outside for c in range(p // 2 - J + 1, p // 2 + 1)
                     if 0 <= c < n_c})
    folds = extension_matrices(n, left, right, mode) if mode != "zero" else None
    rows: dict[int, np.ndarray] = {r: np.zeros((B, len(coeffs)))
                                   for r in [*range(0, lo), *range(hi, n)]}

    def add(r: int, b: int, ci: int, v: float) -> None:
        rows.setdefault(r, np.zeros((B, len(coeffs))))[b, ci] += v

    for ci, c in enumerate(coeffs):
        for b in range(B):
            for i in range(F):
                p, v = 2 * c + i, filters[b, i]
                if left <= p < left + n:
                    if not lo <= p - left < hi:  # (the blocks have those)
                        add(p - left, b, ci, v)
                elif folds is not None and p < left:
                    for col, m in zip(folds[0], folds[1][p], strict=True):
                        add(int(col), b, ci, v * m)
                elif folds is not None:
                    for col, m in zip(folds[2], folds[3][p - left - n], strict=True):
                        add(int(col), b, ci, v * m)
    return _fold_edge_runs(rows, np.array(coeffs, dtype=np.int64), lo, hi, dtype)


def _fold_edge_runs(rows: dict, coeffs: np.ndarray, lo: int, hi: int, dtype: Any) -> list:
    """Group :func:`_build_fold_edge`'s rows into runs of ``dx`` (each wholly outside
    or inside the middle) and its coefficients into runs of each band."""
    ops = []
    order = sorted(rows)
    for ra, rb, j in index_runs(np.array(order, dtype=np.int64)):
        cuts = sorted({ra, rb, *(c for c in (lo, hi) if ra < c < rb)})
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            h = np.stack([rows[order[j + r - ra]] for r in range(a, b)], axis=1)  # (B, r, C)
            terms = [(band, ca, cb, np.ascontiguousarray(h[band][:, k : k + cb - ca])
                      .astype(dtype)) for band in range(h.shape[0])
                     for ca, cb, k in index_runs(coeffs) if h[band][:, k : k + cb - ca].any()]
            ops.append((a, b, lo <= a < hi, terms))
    return ops


def apply_fold_edge(ops: list, bands: list, dx: np.ndarray) -> None:
    """Apply :func:`fold_edge_operator`'s maps to the bands, into ``dx`` ``(P, n, Q)``."""
    for ra, rb, add, terms in ops:
        if not terms:  # rows the blocks do not reach, and nothing is folded onto
            if not add:
                dx[:, ra:rb] = 0
            continue
        mk = max(h.size for *_, h in terms)
        for qs in column_slices(dx.shape[2], mk):
            out = dx[:, ra:rb, qs]
            first = not add
            for b, ca, cb, h in terms:
                if first:
                    np.matmul(h, bands[b][:, ca:cb, qs], out=out)  # (r, c) @ (P, c, q)
                    first = False
                else:
                    out += np.matmul(h, bands[b][:, ca:cb, qs])


def rows_of(y: np.ndarray, oa: int, ob: int) -> np.ndarray:
    """Outputs ``oa <= o < ob`` of ``y`` ``(B, P, n, Q)`` stored as :func:`new_bands`
    does, as one view ``(P, (ob - oa) B, Q)`` with rows in ``(o, b)`` order."""
    y0, y1, y2, y3 = y.strides
    assert y2 == y.shape[0] * y0, "rows_of: bands not interleaved"
    return as_strided(y[:, :, oa:], (y.shape[1], (ob - oa) * y.shape[0], y.shape[3]),
                      (y1, y0, y3))


def edge_operator(filters: np.ndarray, N: int, left: int, right: int, mode: str,
                   oa: int, ob: int, dtype: Any) -> list:
    r"""Outputs ``oa <= o < ob`` of :func:`extend_filter_down` (a few, at one end)
    as a linear map of the few samples of ``x`` they read, through the padding or
    directly: :math:`y_{(o, b)} = H\, x[C]`. Built once per call shape (in
    float64, from the extension matrices and the tap loop applied to the basis
    of ``x[C]``), then cast. Returned as ``[(start, stop, H_run)]`` over the
    contiguous runs of ``C``, so that ``x`` is read in place (finite data only:
    the zeros of ``H`` would turn inf into NaN)."""
    key = ("edge", filters.tobytes(), filters.shape, N, left, right, mode, oa, ob,
           np.dtype(dtype).str)
    ops = MATRICES.get(key)
    if ops is not None:
        return ops
    cols_l, m_l, cols_r, m_r = extension_matrices(N, left, right, mode)
    reads = []  # per padded sample p in [2 oa, 2(ob - 1) + F): {column of x: weight}
    for p in range(2 * oa, 2 * (ob - 1) + filters.shape[1]):
        if p < left:
            reads.append(dict(zip(cols_l.tolist(), m_l[p], strict=True)))
        elif p < left + N:
            reads.append({p - left: 1.0})
        else:
            reads.append(dict(zip(cols_r.tolist(), m_r[p - left - N], strict=True)))
    cols = np.array(sorted(set().union(*reads)), dtype=np.int64)
    where = {c: i for i, c in enumerate(cols.tolist())}
    e = np.zeros((len(reads), len(cols)))  # padded samples from x[cols]
    for r, row in enumerate(reads):
        for c, v in row.items():
            e[r, where[c]] += v
    h = filter_down_taps(np, e[None], filters, ob - oa)[:, 0]  # (B, o, C)
    h = h.transpose(1, 0, 2).reshape(-1, len(cols)).astype(dtype)  # rows (o, b)
    ops = [(a, b, np.ascontiguousarray(h[:, j : j + b - a])) for a, b, j in index_runs(cols)]
    if len(MATRICES) >= 512:
        MATRICES.clear()
    MATRICES[key] = ops
    return ops


def apply_edge(ops: list, x: np.ndarray, out: np.ndarray) -> None:
    r"""``out`` ``(P, r, Q)`` <- :math:`\sum_\text{runs} H_\text{run}\, x[\text{run}]`."""
    for qs in column_slices(out.shape[2], max(h.size for *_, h in ops)):
        (a, b, h), *rest = ops
        np.matmul(h, x[:, a:b, qs], out=out[:, :, qs])  # (r, c) @ (P, c, q)
        for a, b, h in rest:
            out[:, :, qs] += np.matmul(h, x[:, a:b, qs])
