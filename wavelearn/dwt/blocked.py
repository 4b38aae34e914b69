r"""The blocked NumPy filter bank: the arithmetic handed to BLAS as batched small
matrix products over strided views of the data (no copy of the input).

Part of :mod:`wavelearn.dwt.filterbank` (see there for the overview):

- ``filter_down``: the ``B`` outputs at position ``o`` are the filter bank
  ``(B, F)`` times the window ``x[2o : 2o + F]`` ``(F, Q)``; ``T`` positions
  at a time (:func:`_filter_down_tblocks`);
- ``filter_up``: a block of output pairs is a small matrix of filter taps
  times a window of the coefficients of all bands, interleaved (polyphase form);
- one channel (``Q = 1``): blocks of ``T`` outputs as plain 2-D products.

Every product stays within OpenBLAS's one-thread size; the threads of
:mod:`wavelearn.dwt.chunks` share the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from wavelearn import buffers
from wavelearn.dwt import compiled
from wavelearn.dwt.chunks import chunks, column_chunks, column_slices, run_chunks
from wavelearn.dwt.textbook import filter_down_taps
from wavelearn.threads import run_tasks

BLOCK = 2  # output pairs per block of the blocked filter_up; 1..4 measured alike
FUSED_BLOCK = 4  # the same, bands interleaved (_filter_up_fused); 2..8 measured alike


def filter_down_blocked(
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

    def task(ps: slice, rows: slice, qs: slice) -> None:  # (B, F) @ (p, o, F, q)
        np.matmul(f, windows[ps, rows, :, qs], out=rest[ps, rows, :, qs])

    run_chunks(task, column_chunks(P, n_out - done, B, Q, B * F), rest.size)
    return y


def new_bands(B: int, P: int, n: int, Q: int, dtype: Any,
              position_major: bool = False) -> np.ndarray:
    """An empty ``(B, P, n, Q)`` array stored as ``(P, n, B, Q)``: the ``B`` bands of a
    position side by side, which :func:`_filter_down_tblocks` needs. (One channel,
    ``Q = 1``: plain ``(B, P, n, 1)``, each band contiguous for :func:`_filter_down_rows`.)
    ``position_major``: stored as ``(n, B, P, Q)``, the layout of
    :func:`~wavelearn.dwt.blocked_ends.from_one_row` (the next level reads it as one row)."""
    if Q == 1:
        return buffers.empty((B, P, n, Q), dtype)
    if position_major:
        return buffers.empty((n, B, P, Q), dtype).transpose(1, 2, 0, 3)
    return buffers.empty((P, n, B, Q), dtype).transpose(2, 0, 1, 3)


TBLOCK = 4  # output positions per product of _filter_down_tblocks (2..8 measured alike)


def _filter_down_tblocks(x: np.ndarray, filters: np.ndarray, n_out: int,
                         y_pobq: np.ndarray) -> int:
    r"""The first ``T`` :math:`\lfloor n_\text{out}/T \rfloor` positions of
    :func:`filter_down_blocked`, ``T`` at a time: the ``T B`` outputs of
    positions ``o .. o + T - 1`` read the window ``x[2o : 2o + 2T + F - 2]``,

    .. math:: y_{(t, b), o} = W\, x[2o : 2o + 2T + F - 2], \quad
              W_{(t, b), c} = f_b[c - 2t] \qquad (T B, 2T + F - 2) @ (\cdot, Q),

    so each product reads ``2T + F - 2`` rows for ``T B`` outputs instead of
    ``F`` rows for ``B``: less memory traffic per output, at the price of the
    zeros of ``W``. Needs ``y_pobq`` ``(P, n_out, B, Q)`` with rows ``(o, b)``
    equally spaced. Returns how many positions it did.
    """
    (P, _, Q), B, T = x.shape, filters.shape[0], TBLOCK
    if B == 2 and compiled.available(x, y_pobq):  # all positions, as compiled loops
        cut = [(ps, os_, slice(0, Q)) for ps, os_ in chunks(P, n_out, B * Q)]
        run_tasks(compiled.down_rows_task(x, filters, y_pobq), cut,
                  parallel=P * n_out * B * Q >= compiled.PARALLEL_MIN)
        return n_out
    R = n_out // T
    if R == 0:
        return 0
    w = _filter_matrix(_tblock_matrix, filters, T, x.real.dtype)  # (T B, 2T + F - 2)
    s0, s1, s2 = x.strides
    windows = as_strided(x, (P, R, w.shape[1], Q), (s0, 2 * T * s1, s1, s2), writeable=False)
    v0, v1, v2, v3 = y_pobq.strides
    out = as_strided(y_pobq, (P, R, T * B, Q), (v0, T * v1, v2, v3))  # rows (t, b)

    def task(ps: slice, rows: slice, qs: slice) -> None:  # (T B, K) @ (p, r, K, q)
        np.matmul(w, windows[ps, rows, :, qs], out=out[ps, rows, :, qs])

    run_chunks(task, column_chunks(P, R, T * B, Q, w.size), P * R * T * B * Q)
    return R * T


def _tblock_matrix(filters: np.ndarray, T: int) -> np.ndarray:
    """``W[(t, b), c] = f_b[c - 2t]`` (zero outside the filter): ``(T B, 2T + F - 2)``."""
    B, F = filters.shape
    w = np.zeros((T, B, 2 * T + F - 2))
    for t in range(T):
        w[t, :, 2 * t : 2 * t + F] = filters
    return w.reshape(T * B, -1)


def filter_up_blocked(bands: list, filters: np.ndarray, length: int, start: int = 0,
                       ends: bool = True) -> np.ndarray:
    r"""Blocked :func:`filter_up`, for the part ``z[start:length]`` only.

    Output pairs are polyphase sums: :math:`z[2k+s] = \sum_b \sum_j f_b[s+2j]\,
    y_b[k-j]`. So a block of ``T`` pairs, ``z[2k : 2k + 2T]``, reads the
    ``K = T + J - 1`` coefficients ``y_b[k-J+1 : k+T]`` (``J = ceil(F/2)``) of
    each band: it is :math:`\sum_b M_b\, y_b[k-J+1 : k+T]` with the ``(2T, K)``
    matrices of :func:`_up_matrices`. Blocks whose windows lie inside the bands
    are batched ``matmul``\ s; the few samples at either end, whose windows
    stick out, come from :func:`filter_up_edge` (``ends=False``: left to the
    caller, :func:`up_middle` says where).
    """
    (P, n, Q), F = bands[0].shape, filters.shape[1]
    yy = interleaved(bands) if Q > 1 else None  # (P, n B, Q) or None
    T = up_block_size(bands, F)
    J = (F + 1) // 2
    z = buffers.empty((P, length - start, Q), bands[0].dtype)  # z[start:length]
    k0, n_blocks, lo, hi = up_middle(n, J, T, length, start)
    if ends:
        z[:, :lo] = filter_up_edge(bands, filters, start, start + lo)
        z[:, hi:] = filter_up_edge(bands, filters, start + hi, length)
    if n_blocks and len(bands) == 2 and Q > 1 and compiled.available(*bands, z):
        pairs, zm = T * n_blocks, z[:, lo:hi]  # the same pairs, as compiled loops
        cut = [(ps, ks, slice(0, Q)) for ps, ks in chunks(P, pairs, 2 * Q)]
        run_tasks(compiled.up_rows_task(bands, filters, k0, zm), cut,
                  parallel=zm.size >= compiled.PARALLEL_MIN)
    elif n_blocks:
        if yy is not None:
            _filter_up_fused(yy, len(bands), filters, k0, T, z[:, lo:hi])
        else:
            blocks = _filter_up_rows if Q == 1 else _filter_up_blocks
            blocks(bands, filters, k0, T, z[:, lo:hi])
    return z


def up_middle(n: int, J: int, T: int, length: int, start: int) -> tuple[int, int, int, int]:
    """``(k0, n_blocks, lo, hi)``: the blocks of :func:`filter_up_blocked`, from pair
    ``k0`` on, fill ``z[lo:hi]`` (relative to ``start``); their windows lie inside
    the ``n`` coefficients and their outputs inside ``z[start:length]``."""
    k0 = max(J - 1, -(-start // 2))  # first block: its window and output are inside
    n_blocks = max(0, min((n - T - k0) // T + 1, (length - 2 * k0) // (2 * T)))
    lo = 2 * k0 - start if n_blocks else 0
    return k0, n_blocks, lo, lo + 2 * T * n_blocks


def up_block_size(bands: list, F: int) -> int:
    """``T`` of :func:`filter_up_blocked` for these bands."""
    if bands[0].shape[2] == 1:
        return _row_block(F)
    return BLOCK if interleaved(bands) is None else FUSED_BLOCK


MATRICES: dict[tuple, Any] = {}


def _filter_matrix(build: Callable, filters: np.ndarray, T: int, dtype: Any) -> np.ndarray:
    """``build(filters, T)`` in ``dtype``, read-only, made once per filter bank, ``T``
    and dtype (the blocked paths need these small matrices at every call)."""
    key = (build.__name__, filters.tobytes(), filters.shape, T, np.dtype(dtype).str)
    m = MATRICES.get(key)
    if m is None:
        if len(MATRICES) >= 512:
            MATRICES.clear()
        m = MATRICES[key] = build(filters, T).astype(dtype)
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


STAGE_CHUNK = 1 << 16  # output elements per task of _filter_up_blocks (its buffer stays in cache)


def _filter_up_blocks(bands: list, filters: np.ndarray, k0: int, T: int, z: np.ndarray) -> None:
    """``z`` ``(P, 2T n_blocks, Q)`` <- the blocks from pair ``k0`` on, for bands stored
    apart: per task, the coefficients its blocks read are first copied, interleaved,
    into a small buffer (in cache), which the fused product of :func:`_filter_up_fused`
    then reads. (Measured against one product per band and a sum: up to 20% faster
    on large batches, the same on small ones.)"""
    (P, _, Q), B, J = bands[0].shape, len(bands), (filters.shape[1] + 1) // 2
    n_blocks, K = z.shape[1] // (2 * T), T + J - 1
    m = _filter_matrix(_fused_up_matrix, filters, T, bands[0].real.dtype)  # (2T, K B)
    z0, z1, z2 = z.strides
    blocks = as_strided(z, (P, n_blocks, 2 * T, Q), (z0, 2 * T * z1, z1, z2))

    def task(ps: slice, ks: slice, qs: slice) -> None:
        a = k0 - J + 1 + ks.start * T  # first coefficient read
        rows = (ks.stop - ks.start) * T + J - 1
        buf = np.empty((ps.stop - ps.start, rows, B, qs.stop - qs.start), dtype=z.dtype)
        for b, y in enumerate(bands):
            buf[:, :, b] = y[ps, a : a + rows, qs]
        s0, s1, s2 = buf.strides[0], buf.strides[2], buf.strides[3]
        windows = as_strided(buf, (buf.shape[0], ks.stop - ks.start, B * K, buf.shape[3]),
                             (s0, T * B * s1, s1, s2), writeable=False)
        np.matmul(m, windows, out=blocks[ps, ks, :, qs])  # (2T, K B) @ (p, k, K B, q)

    cols = column_slices(Q, m.size)
    width = cols[0].stop - cols[0].start
    tasks = [(ps, ks, qs) for ps, ks in chunks(P, n_blocks, 2 * T * width, STAGE_CHUNK)
             for qs in cols]
    run_chunks(task, tasks, z.size)


def _filter_up_fused(yy: np.ndarray, B: int, filters: np.ndarray, k0: int, T: int,
                      z: np.ndarray) -> None:
    r""":func:`_filter_up_blocks` with all bands in one product: with the bands
    interleaved (``yy`` ``(P, n B, Q)``, row ``oB + b`` is :math:`y_b[o]`,
    :func:`interleaved`), block ``j`` (pairs from ``k = k0 + jT``) reads the ``B K``
    consecutive rows from :math:`y_0[k - J + 1]` on, so

    .. math:: z[2k : 2k + 2T] = [M_0 \ldots M_{B-1}]_{(o, b)}\, Y_{(o, b)}
              \qquad (2T, K B) @ (K B, Q),

    one ``matmul`` per block instead of one per band and a sum
    (:func:`_fused_up_matrix`): fewer, larger products, no temporary. Measured
    about 1.5 to 2 times faster.
    """
    (P, _, Q), J = yy.shape, (filters.shape[1] + 1) // 2
    n_blocks, K = z.shape[1] // (2 * T), T + J - 1
    m = _filter_matrix(_fused_up_matrix, filters, T, yy.real.dtype)  # (2T, K B)
    s0, s1, s2 = yy.strides
    windows = as_strided(yy[:, B * (k0 - J + 1) :], (P, n_blocks, B * K, Q),
                         (s0, T * B * s1, s1, s2), writeable=False)  # no copy
    z0, z1, z2 = z.strides
    blocks = as_strided(z, (P, n_blocks, 2 * T, Q), (z0, 2 * T * z1, z1, z2))

    def task(ps: slice, ks: slice, qs: slice) -> None:  # (2T, K B) @ (p, k, K B, q)
        np.matmul(m, windows[ps, ks, :, qs], out=blocks[ps, ks, :, qs])

    run_chunks(task, column_chunks(P, n_blocks, 2 * T, Q, m.size), z.size)


def _fused_up_matrix(filters: np.ndarray, T: int) -> np.ndarray:
    """The matrices of :func:`_up_matrices` side by side, columns in ``(o, b)``
    order to match interleaved bands: ``(2T, K B)``."""
    m = _up_matrices(filters, T)  # (B, 2T, K)
    return np.ascontiguousarray(m.transpose(1, 2, 0)).reshape(m.shape[1], -1)


def interleaved(bands: list) -> np.ndarray | None:
    """The ``B`` bands ``(P, n, Q)`` as one array ``(P, n B, Q)`` whose row
    ``oB + b`` is :math:`y_b[o]`, a free view, when they are stored that way (as
    :func:`new_bands` stores the results of a level); else None (a copy would
    cost more than it saves)."""
    y0, B = bands[0], len(bands)
    (P, n, Q), (s0, s1, s2) = y0.shape, y0.strides
    step = s1 // B
    at = [b.__array_interface__["data"][0] for b in bands]
    if step and s1 == B * step and all(
        b.shape == y0.shape and b.strides == y0.strides and b.dtype == y0.dtype
        and at[i] - at[0] == i * step for i, b in enumerate(bands)
    ):
        return as_strided(y0, (P, n * B, Q), (s0, step, s2), writeable=False)
    return None


def filter_up_edge(bands: list, filters: np.ndarray, start: int, stop: int) -> np.ndarray:
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
# One channel: blocks of T outputs as plain 2-D matrix products
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
    which costs a lot on a machine whose cores are busy); ``run_chunks`` shares the
    tasks out instead."""
    return chunks(P, R, 4 * T * T)


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
        run_chunks(task, _row_chunks(P, R, T), y.size)
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

    run_chunks(task, _row_chunks(P, n_blocks, T), z.size)
