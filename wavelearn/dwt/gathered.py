r"""Many channels: each level of a transform as one compiled gather over a table of taps.

A level of the DWT pads the signal by the boundary mode, filters and keeps every other
output (:func:`~wavelearn.dwt.filterbank.extend_filter_down`). In every mode but
'smooth' and 'antireflect' a padded sample is a copy of one sample, maybe negated
(periodization: around the circle, an odd length first repeating its last sample;
'zero': a zero), so output :math:`o` of band :math:`b` is

.. math:: c_b[o] = \sum_{i<F} \tilde f_b[i]\, s_{2o+i}\; x\big[\iota(2o + i)\big]

with :math:`\iota(k)` the sample that padded sample :math:`k` copies and
:math:`s_k = \pm 1` (a tap on a zero of the padding is dropped): a table of at most
:math:`F` row indices and weights per output (:func:`down_taps`, read off the level
path's own extension matrices). A synthesis level is the transpose of such a table
(its adjoint pads with zeros, or periodically in periodization, and filters with the
reconstruction filters, :func:`~wavelearn.dwt.levels.synthesis_level_adjoint`), and
the adjoint of analysis is the transpose of analysis's. So two compiled loops do all
four transforms (:func:`wavelearn.dwt.compiled.gather_down`: one input, two outputs;
:func:`~wavelearn.dwt.compiled.gather_up`: two inputs, one output), each level one
call over all rows and channels, its ends included.

Why: the dense path (:mod:`wavelearn.dwt.dense`) does :math:`N` multiply-adds per
coefficient, the blocked level path pays Python for each level's ends and blocks.
Here a level is :math:`2F` multiply-adds per coefficient in one call (measured on one
core, db4, 3 levels, periodization ``wavedec``: ``(32, 100, 64)`` float32 0.13 ms
against 0.49 ms through the dense product; ``(8, 256, 256)`` 0.21 against 0.59 ms;
``(256, 64, 128)`` float64 4.0 against 7.4 ms).

Only NumPy arrays (and torch CPU tensors, through their memory:
:meth:`~wavelearn.backend.Backend.host_view`) of float32/float64 with contiguous
channels, at least :data:`MIN_ROW_BYTES` of them per position, take it; else the functions return
None and the other paths run. A table stores only the rows near the ends and the
pattern that the rows between repeat (:class:`Taps`): :math:`O(F^2)` numbers
whatever the length, kept in a small cache. Each output sums exactly the
products of its own taps -- no zeros of a matrix -- so a NaN or an infinity lands
where the level path (and PyWavelets) put it, and nothing needs checking first
(tested). The tables are tested against the level code applied to the identity, the
transforms against PyWavelets and the level path.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from wavelearn import buffers
from wavelearn.backend import backend_of
from wavelearn.dwt import compiled
from wavelearn.dwt.levels import analysis_filters, synthesis_filters
from wavelearn.dwt.textbook import extension_matrices
from wavelearn.dwt.wavelets import Wavelet

USE_GATHERED = True  # many channels take these loops (module docstring)
# bytes of channels per position, at least (32 float32, 16 float64): a shorter loop over
# the channels does not pay. (16, 4096, 16) float32, wavedec + waverec: 1.3-1.4x the
# time of the blocked levels, which lay the 16 signals side by side; 32 or more: 0.7-1.06
MIN_ROW_BYTES = 128
# the modes whose padding copies samples (maybe negated); 'smooth' and 'antireflect'
# combine two, whose NaN and inf would not land where PyWavelets puts them
MODES = ("periodization", "symmetric", "reflect", "periodic", "zero", "constant",
         "antisymmetric")


class Taps:
    r"""The taps of a level as a table: output row ``r`` sums ``count`` terms
    :math:`f_b[t]\, x[\mathrm{idx}[t]]`. Only the rows near the ends are stored; the
    rows in between repeat a pattern (:attr:`period` rows, the indices moving by
    :attr:`shift` per period), so a table holds :math:`O(F^2)` numbers whatever the
    signal's length. Row ``r`` is stored row :meth:`locate` ``(r)[0]`` with its indices
    moved by ``[1]``. ``idx, f0, f1`` ``(E, T)`` (float64 weights, cast once per
    dtype), ``count`` ``(E,)``."""

    def __init__(self, rows: int, head: int, period: int, shift: int, tail: int,
                 explicit: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
        self.rows, self.head, self.period, self.shift, self.tail = rows, head, period, shift, tail
        idx, count, f0, f1 = explicit
        self.idx, self.count = idx.astype(np.int64), count.astype(np.int64)  # (E, T), (E,)
        self.f0, self.f1 = f0, f1  # (E, T) each
        self._casts: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def weights(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        key = np.dtype(dtype).str
        if key not in self._casts:
            self._casts[key] = (self.f0.astype(dtype), self.f1.astype(dtype))
        return self._casts[key]

    def scalars(self) -> tuple[int, int, int, int, int]:
        """``(rows, head, period, shift, tail)`` for the compiled loops."""
        return self.rows, self.head, self.period, self.shift, self.tail

    def locate(self, r: int) -> tuple[int, int]:
        """The stored row of row ``r`` and how far its indices move (as the loops do)."""
        if r < self.head + self.period:
            return r, 0
        if r >= self.rows - self.tail:
            return self.head + self.period + r - (self.rows - self.tail), 0
        k = r - self.head
        return self.head + k % self.period, (k // self.period) * self.shift

    def full(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every row written out, ``(idx, count, f0, f1)`` (for tests and reading)."""
        rows = [self.locate(r) for r in range(self.rows)]
        e = np.array([r for r, _ in rows], dtype=np.int64)
        off = np.array([o for _, o in rows], dtype=np.int64)
        return self.idx[e] + off[:, None], self.count[e], self.f0[e], self.f1[e]


def _pads(n: int, left: int, right: int, mode: str) -> tuple[np.ndarray, ...] | None:
    """For each padded sample on the left and on the right, the sample it copies (-1: a
    zero) and the sign it takes, from the extension matrices of the level path
    (:func:`~wavelearn.dwt.textbook.extension_matrices`): ``(src_l, sign_l, src_r,
    sign_r)``; None where a padded sample is not one sample times +-1, or the mode
    refuses ``n``."""
    try:
        cols_l, m_l, cols_r, m_r = extension_matrices(n, left, right, mode)
    except ValueError:  # too short for the mode: the level path raises its own error
        return None
    out: list[np.ndarray] = []
    for cols, m in ((cols_l, m_l), (cols_r, m_r)):
        nz = m != 0
        if (nz.sum(axis=1) > 1).any() or not np.all(np.abs(m[nz]) == 1.0):
            return None
        rows, j = np.nonzero(nz)  # (at most one term per row)
        src, sign = np.full(len(m), -1), np.zeros(len(m))
        src[rows], sign[rows] = np.asarray(cols)[j], m[rows, j]
        out += [src, sign]
    return tuple(out)


class _Level:
    """A level that pads ``n`` samples (``left``, ``right``, the copies of
    :func:`_pads`), filters by ``f`` ``(2, F)`` and keeps every other of ``n_out``
    outputs; only the first ``present`` samples exist (the others read as zeros)."""

    def __init__(self, f: np.ndarray, n: int, left: int, pads: tuple, n_out: int,
                 present: int) -> None:
        self.f, self.n, self.left, self.n_out, self.present = f, n, left, n_out, present
        self.src_l, self.sign_l, self.src_r, self.sign_r = pads

    def source(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sample (-1: none) and sign of padded samples ``k`` (an integer array)."""
        src, sign = k - self.left, np.ones(k.shape)  # inside: the sample itself
        for pad, s_, g_, start in ((k < self.left, self.src_l, self.sign_l, 0),
                                   (k >= self.left + self.n, self.src_r, self.sign_r,
                                    self.left + self.n)):
            src[pad], sign[pad] = s_[k[pad] - start], g_[k[pad] - start]
        live = (src >= 0) & (src < self.present)
        return np.where(live, src, -1), np.where(live, sign, 0.0)

    def down_rows(self, rows: list[int]) -> tuple[np.ndarray, ...]:
        """The taps of outputs ``rows``: padded samples ``2o .. 2o + F - 1``, the live
        ones first, in order."""
        F = self.f.shape[1]
        k = 2 * np.asarray(rows, dtype=np.int64)[:, None] + np.arange(F)[None, :]  # (E, F)
        src, sign = self.source(k)
        order = np.argsort(src < 0, axis=1, kind="stable")
        take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
        return (take(np.maximum(src, 0)), (src >= 0).sum(axis=1),
                take(sign * self.f[0]), take(sign * self.f[1]))

    def up_rows(self, rows: list[int]) -> tuple[np.ndarray, ...]:
        """The taps of the transpose for samples ``rows``: every ``(o, i)`` whose padded
        sample ``2o + i`` copies the sample, by ``o`` then ``i``."""
        F, copies = self.f.shape[1], self.copies()
        taps = []
        for m in rows:
            terms = []
            for k, sign in [(m + self.left, 1.0), *copies.get(m, [])]:
                for i in range((k % 2), F, 2):
                    o = (k - i) // 2
                    if 0 <= o < self.n_out:
                        terms.append((o, i, sign))
            taps.append(sorted(terms))
        width = max((len(t) for t in taps), default=0)
        idx, f0, f1 = (np.zeros((len(rows), width)) for _ in range(3))
        for r, terms in enumerate(taps):
            for t, (o, i, sign) in enumerate(terms):
                idx[r, t], f0[r, t], f1[r, t] = o, sign * self.f[0, i], sign * self.f[1, i]
        return idx, np.array([len(t) for t in taps]), f0, f1

    def copies(self) -> dict[int, list[tuple[int, float]]]:
        """Sample -> the padded samples ``(k, sign)`` that copy it."""
        out: dict[int, list[tuple[int, float]]] = {}
        k_l = np.arange(self.left)
        k_r = self.left + self.n + np.arange(len(self.src_r))
        for k in np.concatenate([k_l, k_r]):
            src, sign = self.source(np.array([k]))
            if src[0] >= 0:
                out.setdefault(int(src[0]), []).append((int(k), float(sign[0])))
        return out


def _table(rows: int, regular: tuple[int, int], period: int, shift: int,
           build: Any) -> Taps:
    """A :class:`Taps` of ``rows`` rows whose rows in ``regular`` repeat every ``period``
    rows (at least two periods of them, else all rows are stored)."""
    lo, hi = regular
    if hi - lo < 2 * period:
        lo, hi, period = rows, rows, 0  # all stored
    stored = [*range(lo + period), *range(hi, rows)]
    return Taps(rows, lo, period, shift, rows - hi, build(stored))


@lru_cache(maxsize=128)
def down_taps(filters: tuple[tuple[float, ...], ...], n: int, left: int, right: int,
              mode: str, n_out: int, present: int | None = None) -> Taps | None:
    r"""The table of a level that pads ``n`` samples by ``left``/``right`` in ``mode``,
    filters and keeps every other output: output ``o`` reads padded samples
    ``2o .. 2o + F - 1`` (:func:`~wavelearn.dwt.filterbank.extend_filter_down`). A padded
    sample is a copy of one sample, maybe negated (:func:`_pads`); a tap on a zero of
    the padding is dropped, and so is one past the first ``present`` samples (the
    others are zeros: the adjoint of ``waverec(..., length=)``). None for a mode whose
    padding combines samples ('smooth', 'antireflect'). The outputs whose taps all
    lie inside the signal repeat the filter, moved by two samples per output."""
    level = _level(filters, n, left, right, mode, n_out, present)
    if level is None:
        return None
    F, p = len(filters[0]), level.present
    regular = (-(-left // 2), min(n_out, (left + p - F) // 2 + 1))  # windows inside
    return _table(n_out, regular, 1, 2, level.down_rows)


@lru_cache(maxsize=128)
def up_taps(filters: tuple[tuple[float, ...], ...], n: int, left: int, right: int,
            mode: str, n_out: int) -> Taps | None:
    """The transpose of :func:`down_taps`: ``n`` rows, one per sample it reads, every
    output that reads it. Samples that no padded sample copies and whose outputs all
    exist repeat in pairs (the two phases of the filter), moved by one output."""
    level = _level(filters, n, left, right, mode, n_out, None)
    if level is None:
        return None
    F, copied = len(filters[0]), sorted(level.copies())
    lo = max(F - 1 - left, 0, *(m + 1 for m in copied if m < n // 2))
    hi = min(2 * n_out - left - 1, n, *(m for m in copied if m >= n // 2))
    return _table(n, (lo, hi), 2, 1, level.up_rows)


def _level(filters: tuple, n: int, left: int, right: int, mode: str, n_out: int,
           present: int | None) -> _Level | None:
    pads = _pads(n, left, right, mode)
    if pads is None:
        return None
    return _Level(np.asarray(filters), n, left, pads, n_out, n if present is None else present)


def _filters(f: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in f)  # hashable, for the caches


def analysis_taps(w: Wavelet, mode: str, n: int) -> tuple:
    """The arguments of :func:`down_taps` for an analysis level of ``n`` samples."""
    rev, left, right, n_out = analysis_filters(w, mode, n)
    return _filters(rev), n, left, right, mode, n_out


def synthesis_taps(w: Wavelet, mode: str, n: int, zeros: int = 0) -> tuple:
    """The arguments of :func:`down_taps` for the adjoint of a synthesis level whose
    output has ``n`` samples, of which the last ``zeros`` are missing (zeros):
    periodization pads periodically, the other modes with zeros
    (:func:`~wavelearn.dwt.levels.synthesis_level_adjoint`)."""
    F, g = w.dec_len, _filters(synthesis_filters(w))
    if mode == "periodization":
        p = F // 2 - 1
        return g, n, p, p, "periodic", n // 2, n - zeros
    return g, n - zeros, F - 2, F - 2 + zeros, "zero", (n + F - 2) // 2


# ---------------------------------------------------------------------------
# The four transforms, level by level; None where another path is to run
# ---------------------------------------------------------------------------


def wavedec(x: Any, w: Wavelet, mode: str, level: int) -> list[Any] | None:
    """:func:`_wavedec` of a NumPy array or a torch CPU tensor ``(P, N, Q)``, or None."""
    if level < 1 or (host := _hosts([x], x.shape[1], mode)) is None:
        return None
    backend, (xh,) = host
    return _back(backend, _wavedec(xh, w, mode, level))


def waverec(bands: list[Any], w: Wavelet, mode: str) -> Any:
    """:func:`_waverec` of NumPy arrays or torch CPU tensors, or None."""
    if len(bands) < 2 or (host := _hosts(bands, 2 * bands[-1].shape[1], mode)) is None:
        return None
    backend, hosts = host
    return _back(backend, _waverec(hosts, w, mode))


def wavedec_adjoint(bands: list[Any], w: Wavelet, mode: str, sizes: list[int]) -> Any:
    """:func:`_wavedec_adjoint` of NumPy arrays or torch CPU tensors, or None."""
    if len(bands) < 2 or (host := _hosts(bands, sizes[0], mode)) is None:
        return None
    backend, hosts = host
    return _back(backend, _wavedec_adjoint(hosts, w, mode, sizes))


def waverec_adjoint(g: Any, w: Wavelet, mode: str, lengths: list[int],
                    approx_in: list[int]) -> list[Any] | None:
    """:func:`_waverec_adjoint` of a NumPy array or a torch CPU tensor, or None."""
    if len(lengths) < 2 or (host := _hosts([g], approx_in[-1], mode)) is None:
        return None
    backend, (gh,) = host
    return _back(backend, _waverec_adjoint(gh, w, mode, lengths, approx_in))


def _hosts(arrays: list[Any], n: int, mode: str) -> tuple[Any, list[np.ndarray]] | None:
    """``(backend, views)``: NumPy views of ``arrays`` (a torch CPU tensor's own memory,
    :meth:`~wavelearn.backend.Backend.host_view`; ``backend`` None for NumPy arrays), or
    None where the loops are not to run: switched off, a mode without tables, or arrays
    that :func:`usable` refuses."""
    if not USE_GATHERED or n < 1 or mode not in MODES:
        return None
    backend = None if all(type(a) is np.ndarray for a in arrays) else backend_of(arrays[0])
    hosts = list(arrays) if backend is None else [backend.host_view(a) for a in arrays]
    return (backend, hosts) if usable(hosts) else None


def _back(backend: Any, result: Any) -> Any:
    """``result`` (an array or a list of them) in ``backend``'s library, over the same
    memory (NumPy: as it is)."""
    if backend is None or result is None:
        return result
    if isinstance(result, list):
        return [backend.asarray(r) for r in result]
    return backend.asarray(result)


def usable(arrays: list[Any]) -> bool:
    """Whether the loops may run on ``arrays`` ``(P, n_k, Q)``: NumPy float32/float64 of
    one dtype, contiguous channels of at least :data:`MIN_ROW_BYTES` per position."""
    return (all(type(a) is np.ndarray and a.ndim == 3 and min(a.strides, default=0) >= 0
                for a in arrays)
            and arrays[0].shape[2] * arrays[0].itemsize >= MIN_ROW_BYTES
            and compiled.available(*arrays))


def _bands(c: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    """``c`` ``(P, N_c, Q)`` cut into bands of ``lengths`` along axis 1 (views)."""
    starts = np.cumsum([0, *lengths]).tolist()
    return [c[:, s : s + n] for s, n in zip(starts[:-1], lengths, strict=True)]


def _wavedec(x: np.ndarray, w: Wavelet, mode: str, level: int) -> list[np.ndarray] | None:
    r"""``wavedec`` of ``x`` ``(P, N, Q)``, ``[cA_J, cD_J, ..., cD_1]`` as views of one
    ``(P, N_c, Q)`` array: level :math:`j` reads :math:`a_{j-1}` and writes
    :math:`d_j` in place, :math:`a_j` to a scratch array (the last one: in place)."""
    (P, _, Q), taps, sizes = x.shape, [], [x.shape[1]]
    for _ in range(level):
        args = analysis_taps(w, mode, sizes[-1])
        taps.append(down_taps(*args))
        sizes.append(args[-1])  # n_out
    if any(t is None for t in taps):
        return None
    bands = _bands(buffers.empty((P, sizes[-1] + sum(sizes[1:]), Q), x.dtype),
                   [sizes[-1], *sizes[:0:-1]])  # (P, n_k, Q) each
    a = x
    for j in range(level):  # level j + 1
        out = bands[0] if j == level - 1 else buffers.empty((P, sizes[j + 1], Q), x.dtype)
        compiled.gather_down(a, taps[j], out, bands[level - j])  # (P, n_{j+1}, Q) each
        if a is not x:
            buffers.give(a)  # a scratch approximation, consumed
        a = out
    return bands


def _waverec(bands: list[np.ndarray], w: Wavelet, mode: str) -> np.ndarray | None:
    r"""``waverec`` of ``[cA_J, cD_J, ..., cD_1]`` (each ``(P, n_k, Q)``): level :math:`j`
    reads :math:`a` (trimmed to :math:`d_j`'s length where it is one longer, as
    ``waverec`` does) and :math:`d_j`, and writes :math:`2 n_j` samples (periodization)
    or :math:`2 n_j - F + 2`."""
    lengths, F = [b.shape[1] for b in bands], w.dec_len
    out_len = [2 * nd if mode == "periodization" else 2 * nd - F + 2 for nd in lengths[1:]]
    entering = [lengths[0], *out_len[:-1]]  # a's length at each level
    if min(out_len) < 1 or any(m not in (nd, nd + 1)
                               for m, nd in zip(entering, lengths[1:], strict=True)):
        return None  # (the level path says why they do not fit, or copes)
    taps = [up_taps(*synthesis_taps(w, mode, m)[:6]) for m in out_len]
    if any(t is None for t in taps):
        return None
    a, (P, _, Q) = bands[0], bands[0].shape
    for d, t, m in zip(bands[1:], taps, out_len, strict=True):
        z = buffers.empty((P, m, Q), d.dtype)  # (P, m, Q)
        compiled.gather_up(a[:, : d.shape[1]], d, t, z)
        if a is not bands[0]:
            buffers.give(a)  # the last level's output, consumed
        a = z
    return a


def _wavedec_adjoint(bands: list[np.ndarray], w: Wavelet, mode: str,
                     sizes: list[int]) -> np.ndarray | None:
    r""":math:`W^T` of band gradients ``[\bar c_{A_J}, \bar c_{D_J}, ..., \bar c_{D_1}]``;
    ``sizes``: the signal's length, then the approximation's at each level (the
    bands' lengths, checked by the caller). The levels backwards:
    :math:`\bar a_{j-1} = T_j^\top [\bar a_j; \bar d_j]`."""
    taps = [up_taps(*analysis_taps(w, mode, m)) for m in sizes[:-1]]  # level j + 1
    if any(t is None for t in taps):
        return None
    da, (P, _, Q), level = bands[0], bands[0].shape, len(bands) - 1
    for j in range(level - 1, -1, -1):  # coarsest level first
        out = buffers.empty((P, sizes[j], Q), da.dtype)  # (P, n_j, Q)
        compiled.gather_up(da, bands[level - j], taps[j], out)
        if da is not bands[0]:
            buffers.give(da)  # a scratch gradient, consumed
        da = out
    return da


def _waverec_adjoint(g: np.ndarray, w: Wavelet, mode: str, lengths: list[int],
                     approx_in: list[int]) -> list[np.ndarray] | None:
    r""":math:`R^T \bar z` for ``g`` ``(P, N, Q)``: the gradients of bands of
    ``lengths``, views of one array. ``approx_in``: the length of the approximation
    entering each level of ``waverec``, then its output's; ``g`` may be one sample
    shorter (``waverec(..., length=)``): the tables drop the taps that would read the
    missing sample (a zero). Level :math:`j`, finest first, reads the gradient of its
    output and writes :math:`\bar d_j` in place and :math:`\bar a`."""
    P, N, Q = g.shape
    plan, present = [], N
    for j in range(len(lengths) - 1, 0, -1):  # finest first
        plan.append(down_taps(*synthesis_taps(w, mode, approx_in[j], approx_in[j] - present)))
        present = lengths[j]  # the rows of the next level's gradient
    if any(t is None for t in plan):
        return None
    bands = _bands(buffers.empty((P, sum(lengths), Q), g.dtype), lengths)
    for j, taps in zip(range(len(lengths) - 1, 0, -1), plan, strict=True):
        da = bands[0][:, : lengths[j]] if j == 1 else buffers.empty((P, lengths[j], Q), g.dtype)
        compiled.gather_down(g, taps, da, bands[j])
        if j < len(lengths) - 1:
            buffers.give(g)  # a scratch gradient, consumed
        g = da
    if lengths[0] > g.shape[1]:
        bands[0][:, g.shape[1] :] = 0  # cA's sample that waverec trimmed away
    return bands
