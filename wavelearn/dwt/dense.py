r"""Short signals: a whole multilevel transform as one matrix product.

Every transform of :mod:`wavelearn.dwt.transforms` is linear. For a signal of
:math:`N` samples, ``wavedec`` is a matrix :math:`W` of shape
:math:`(N_c, N)`, with :math:`N_c` the total length of the coefficient bands
:math:`[c_{A_J}, c_{D_J}, \ldots, c_{D_1}]` stacked along the axis; ``waverec`` is a
matrix :math:`R` of shape :math:`(N_{out}, N_c)`; their adjoints are
:math:`W^T` and :math:`R^T`:

.. math:: c = W x, \qquad z = R\, c, \qquad
          \bar x = W^T \bar c, \qquad \bar c = R^T \bar z .

Column :math:`i` of :math:`W` is the transform of the unit vector :math:`e_i`, so
the matrices are *built by the level-by-level code itself* (:func:`analysis_matrix`,
:func:`synthesis_matrix`, in float64) and agree with it to rounding.

Why: the level-by-level path does about :math:`2F` multiply-adds per coefficient
but level by level, with the ends of every level apart; the matrix does
:math:`N` per coefficient in one batched product at BLAS's full speed. For short
signals the second wins (measured on 2 cores, db4, 3 levels, against the level
path with its compiled loops, ``benchmarks/dwt.py --level-path``: ``(256, 64, 128)``
periodization 1.4-1.6 times faster, symmetric about even; the mixing layer on
``(32, 100, 64)`` 1.4 times faster on 2 threads, 5-10% slower on one; ``(8, 256, 256)``
2 times slower). In float64 BLAS runs at half its float32 speed and the crossover comes
earlier (db4, 3 levels, 2 threads: at :math:`N` = 100 and 128, where the matrix does 6.2
and 8 times the level path's multiply-adds, the levels took 0.47-1.02 of its time; at
:math:`N` = 64, 4 times, 0.61-1.30; at :math:`N` = 32, 2 times, 1.3-3.4: a scratch
survey of six shapes and four modes). :func:`pays`
takes the matrix while it costs at most :data:`DENSE_RATIO` (float64:
:data:`DENSE_RATIO_F64`; a float64 ``waverec`` whose levels trim their ends:
:data:`DENSE_RATIO_F64_TRIMMED`) times the
level path's multiply-adds and has at most :data:`DENSE_MAX_ENTRIES` entries: a
bounded matrix per (wavelet, mode, lengths), kept in a small cache -- memory
stays O(1) per transform, never :math:`O(N^2)`.

Arrays of many channels take the gathered levels first
(:mod:`wavelearn.dwt.gathered`: :math:`2F` multiply-adds per coefficient in one
compiled call per level); the matrix serves signals of few channels, the modes
without tables, and torch tensors under ``torch.compile``. Only NumPy arrays and
torch CPU tensors of real floats take it, and only finite
data that cannot overflow (:func:`use_dense`): a zero of the matrix times
``inf`` would be NaN where the level path keeps ``inf``.
"""

from __future__ import annotations

import functools
import math
import sys
from functools import lru_cache
from typing import Any

import numpy as np

from wavelearn.backend import backend_of
from wavelearn.dwt import finite as fin
from wavelearn.dwt.levels import analysis_filters, analysis_level, synthesis_level
from wavelearn.dwt.wavelets import Wavelet

DENSE_MAX_ENTRIES = 1 << 15  # largest matrix used (256 KiB in float64)
DENSE_RATIO = 8.0  # matrix multiply-adds / level-path multiply-adds, at most
DENSE_RATIO_F64 = 5.0  # the same for float64 data
DENSE_RATIO_F64_TRIMMED = 2.5  # and for float64 waverec in the modes that trim its ends


def analysis_lengths(w: Wavelet, mode: str, n: int, level: int) -> list[int]:
    """Lengths of ``[cA_J, cD_J, ..., cD_1]`` of ``wavedec`` of ``n`` samples."""
    lengths = []
    for _ in range(level):
        n = analysis_filters(w, mode, n)[3]
        lengths.append(n)
    return [lengths[-1], *lengths[::-1]] if lengths else [n]


def level_path_fmas(w: Wavelet, lengths: list[int]) -> int:
    """Multiply-adds per column of the level-by-level path: ``2F`` per coefficient
    (two filters of ``F`` taps for every output of every level)."""
    return 2 * w.dec_len * sum(lengths)


def pays(w: Wavelet, n_signal: int, lengths: list[int], dtype: Any = np.float32,
         trimmed: bool = False) -> bool:
    """Whether the ``(N_c, N)`` matrix is small enough and cheap enough (module docstring)
    for data of ``dtype`` (a NumPy or torch dtype). ``trimmed``: a ``waverec`` whose
    levels trim their ends (every mode but periodization, which folds them back): the
    level path's ends then cost little, and in float64 it was faster from 3 times the
    multiply-adds on (db4, sym5; 6 shapes, N = 48-80: 0.59-0.91 of the matrix's time;
    about even at 2.4, and the matrix 1.1-2.2 times faster for periodization)."""
    entries = n_signal * sum(lengths)
    ratio = DENSE_RATIO
    if _numpy_dtype(dtype) == np.float64:
        ratio = DENSE_RATIO_F64_TRIMMED if trimmed else DENSE_RATIO_F64
    return entries <= DENSE_MAX_ENTRIES and entries <= ratio * level_path_fmas(w, lengths)


class Operator:
    """A transform as a matrix: ``matrix`` (float64, read-only), its casts to the data's
    dtype (made once), and :attr:`growth`, how much it may grow magnitudes."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = np.ascontiguousarray(matrix)  # (rows, cols)
        self.matrix.flags.writeable = False
        self.growth = float(np.abs(self.matrix).sum(axis=1).max(initial=0.0))  # max row sum
        self._casts: dict[str, Any] = {}  # dtype -> the matrix in it (NumPy or torch)
        self._transpose: Operator | None = None

    @property
    def T(self) -> Operator:  # noqa: N802 (as numpy's .T)
        """The adjoint, :math:`M^T` (made once)."""
        if self._transpose is None:
            self._transpose = Operator(self.matrix.T)
        return self._transpose

    def apply(self, xp: Any, x: Any) -> Any:
        """``M @ x`` for ``x`` ``(P, cols, Q)``, giving ``(P, rows, Q)``. NumPy results are
        stored position by position (``(rows, P, Q)`` in memory, bands side by side as
        :func:`~wavelearn.dwt.blocked_ends.from_one_row` leaves them), so that a result
        fed back in (``waverec(wavedec(x))``) is one 2-D product; other inputs are one
        batched product over ``P`` written straight into that layout. A torch tensor takes
        the same 2-D product (its positions first: a view where it is stored so, else one
        copy) through the torch backend's ``matmul``, and its result is stored so too."""
        m = self._operand(x)  # (rows, cols)
        (P, cols, Q), rows = x.shape, m.shape[0]
        if not isinstance(x, np.ndarray):  # a torch CPU tensor: the same layout, by views
            x2 = xp.reshape(xp.permute_dims(x, (1, 0, 2)), (cols, P * Q))  # (cols, P Q)
            out = backend_of(x).matmul(m, x2)  # (rows, P Q): one 2-D product
            return xp.permute_dims(xp.reshape(out, (rows, P, Q)), (1, 0, 2))  # (P, rows, Q)
        out = np.empty((rows, P, Q), dtype=x.dtype)  # stored position by position
        s0, s1, s2 = x.strides
        if s2 == x.itemsize and s0 == Q * s2 and s1 == P * Q * s2:  # x is stored so too
            x2 = np.lib.stride_tricks.as_strided(x, (cols, P * Q), (s1, s2))  # (cols, P Q)
            np.matmul(m, x2, out=out.reshape(rows, P * Q))
        else:
            np.matmul(m, x, out=out.transpose(1, 0, 2))  # (P, rows, Q) views
        return out.transpose(1, 0, 2)  # (P, rows, Q)

    def _operand(self, x: Any) -> Any:
        """The matrix in ``x``'s dtype and library."""
        if isinstance(x, np.ndarray):
            key = x.dtype.str
            m = self._casts.get(key)
            if m is None:
                m = self._casts[key] = self.matrix.astype(x.dtype)
                m.flags.writeable = False
            return m
        import torch

        key = str(x.dtype)  # a CPU tensor (use_dense)
        t = self._casts.get(key)
        if t is None:
            t = self._casts[key] = torch.tensor(self.matrix, dtype=x.dtype)
        return t


def untraced(build: Any) -> Any:
    """``build``, kept from ``torch.compile``'s tracer where torch is loaded: building a
    matrix runs the NumPy level code, which the tracer cannot follow, and under a
    compiled model even its eager calls are offered to the tracer (the first call may
    come from there). Without torch loaded, ``build`` itself; torch is never imported
    here."""
    disabled: list[Any] = []

    @functools.wraps(build)
    def run(*args: Any) -> Any:
        if "torch" not in sys.modules:
            return build(*args)
        if not disabled:
            disabled.append(sys.modules["torch"].compiler.disable(build))
        return disabled[0](*args)

    run.cache_info, run.cache_clear = build.cache_info, build.cache_clear  # (lru_cache's)
    return run


@untraced
@lru_cache(maxsize=8)
def analysis_matrix(w: Wavelet, mode: str, n: int, level: int) -> Operator:
    r""":math:`W` ``(N_c, n)`` of ``wavedec(x, w, mode, level)``, rows in the order
    ``[cA_J, cD_J, ..., cD_1]``: the levels applied to the identity, in float64."""
    a, details = np.eye(n)[None], []  # (1, n, n): column i is e_i
    for _ in range(level):
        a, d = analysis_level(np, a, w, mode, finite=True)  # (1, n_j, n) each
        details.append(d)
    return Operator(np.concatenate([a[0], *(d[0] for d in details[::-1])], axis=0))


@untraced
@lru_cache(maxsize=8)
def synthesis_matrix(w: Wavelet, mode: str, lengths: tuple[int, ...]) -> Operator:
    r""":math:`R` ``(N_out, N_c)`` of ``waverec`` of bands of these ``lengths``: the
    levels applied to the identity of the coefficient space, in float64. The
    approximation is trimmed where it is one sample longer, as ``waverec`` does."""
    eye = np.eye(sum(lengths))[None]  # (1, N_c, N_c)
    starts = np.cumsum([0, *lengths]).tolist()
    bands = [eye[:, s : s + n] for s, n in zip(starts[:-1], lengths, strict=True)]
    a = bands[0]
    for d in bands[1:]:
        a = a[:, : d.shape[1]] if a.shape[1] == d.shape[1] + 1 else a
        a = synthesis_level(np, a, d, w, mode, finite=True)  # (1, n, N_c)
    return Operator(a[0])


@untraced
@lru_cache(maxsize=8)
def synthesis_adjoint(w: Wavelet, mode: str, lengths: tuple[int, ...], rows: int) -> Operator:
    r""":math:`R^T` restricted to the first ``rows`` outputs (``waverec(..., length=)``
    drops the last one): ``(N_c, rows)``."""
    return Operator(synthesis_matrix(w, mode, lengths).matrix[:rows].T)


def _cpu_real(x: Any) -> bool:
    """A NumPy array or torch CPU tensor of float32 or float64 (BLAS's real types)."""
    if isinstance(x, np.ndarray):
        return x.dtype in (np.float32, np.float64)
    return (type(x).__module__.split(".")[0] == "torch" and x.device.type == "cpu"
            and str(x.dtype) in ("torch.float32", "torch.float64"))


def _max_abs(x: Any) -> float:
    """An upper bound of ``max |x|`` (inf if not finite): :func:`finite.magnitude_bound`
    for NumPy, one pass for torch (its smallest and largest values)."""
    if isinstance(x, np.ndarray):
        return fin.magnitude_bound([x])
    if x.numel() == 0:
        return 0.0
    lo, hi = (float(v) for v in x.aminmax())  # one pass, no |x| array
    return max(hi, -lo) if math.isfinite(lo) and math.isfinite(hi) else math.inf


def use_dense(arrays: list[Any], op: Operator) -> bool:
    r"""Whether ``op`` may stand for the level path on these inputs: CPU real floats of
    one dtype, finite, whose products cannot overflow (:func:`finite.known_finite` of
    :math:`\max|x| \cdot \max_i \sum_j |m_{ij}|`)."""
    if not all(_cpu_real(a) for a in arrays) or len({a.dtype for a in arrays}) != 1:
        return False
    bound = max(_max_abs(a) for a in arrays)
    return fin.known_finite(bound * max(op.growth, 1.0), _numpy_dtype(arrays[0].dtype))


def _numpy_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of a NumPy or torch float dtype (``torch.float64``: float64)."""
    name = str(dtype)
    return np.dtype(name.removeprefix("torch.") if name.startswith("torch.") else dtype)


def split(c: Any, lengths: list[int]) -> list[Any]:
    """``c`` ``(P, N_c, Q)`` cut along axis 1 into bands of ``lengths`` (views)."""
    starts = np.cumsum([0, *lengths]).tolist()
    return [c[:, a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]


def stacked(xp: Any, bands: list[Any]) -> Any:
    """The bands ``(P, n_k, Q)`` as one ``(P, N_c, Q)`` array: a view when they are
    consecutive pieces of one NumPy array (as :func:`split` cuts them), else a copy --
    stored position by position for torch, the layout :meth:`Operator.apply` reads."""
    if all(isinstance(b, np.ndarray) for b in bands):
        view = _consecutive(bands)
        if view is not None:
            return view
        return xp.concat(bands, axis=1)
    by_position = xp.concat([xp.permute_dims(b, (1, 0, 2)) for b in bands], axis=0)
    return xp.permute_dims(by_position, (1, 0, 2))  # (P, N_c, Q) view


def _consecutive(bands: list[np.ndarray]) -> np.ndarray | None:
    """The bands as one strided view if each starts where the previous one ends
    (same strides, same ``P`` and ``Q``), else None."""
    b0 = bands[0]
    s0, s1, s2 = b0.strides
    at = b0.__array_interface__["data"][0]
    for b in bands:
        if b.strides != b0.strides or b.shape[::2] != b0.shape[::2] or b.dtype != b0.dtype \
                or b.__array_interface__["data"][0] != at:
            return None
        at += b.shape[1] * s1
    n = sum(b.shape[1] for b in bands)
    return np.lib.stride_tricks.as_strided(b0, (b0.shape[0], n, b0.shape[2]), (s0, s1, s2),
                                           writeable=False)
