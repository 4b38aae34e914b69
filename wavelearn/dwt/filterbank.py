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

For two bands of float32/float64 (every DWT level), the middle of both runs as
loops compiled by numba instead (:mod:`wavelearn.dwt.compiled`): the same sums,
without the call overhead of many small products. Being the tap loop's sums, they
keep inf and NaN where it does, so only the samples that the ends' small matrices
read need be finite (:func:`middle_by_taps`).

4. **Both at once** (``extend_filter_down`` = :math:`D E`, and its adjoint
   ``filter_up_fold`` = :math:`E^T U`): what one DWT level needs. The
   blocked path reads the signal in place and builds only the few padded
   samples at its ends, instead of a padded copy of everything.

Big jobs are cut into chunks that a few threads share (``WAVELEARN_NUM_THREADS``,
see :func:`wavelearn.threads.num_threads`); every chunk is computed the same way whichever
thread runs it, so results do not depend on the number of threads.
Tests check the blocked and the textbook path against each other and
against PyWavelets.

The code: :mod:`wavelearn.dwt.textbook` (extension, tap loops),
:mod:`wavelearn.dwt.blocked` (the blocked products), :mod:`wavelearn.dwt.blocked_ends`
(batches side by side, the ends of a level), :mod:`wavelearn.dwt.chunks`; this
module chooses between them (its names re-export theirs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wavelearn.backend import backend_of
from wavelearn.dwt import compiled
from wavelearn.dwt.blocked import (  # noqa: F401 (re-exported)
    BLOCK,
    FUSED_BLOCK,
    TBLOCK,
    filter_down_blocked,
    filter_up_blocked,
    filter_up_edge,
    interleaved,
    new_bands,
    up_block_size,
    up_middle,
)
from wavelearn.dwt.blocked_ends import (  # noqa: F401 (re-exported)
    MOVE_MAX_Q,
    apply_edge,
    apply_fold_edge,
    bands_in_one_row,
    edge_operator,
    fold_edge_operator,
    from_one_row,
    one_row,
    one_row_is_view,
    rows_of,
)
from wavelearn.dwt.chunks import CHUNK, PARALLEL_MIN  # noqa: F401
from wavelearn.dwt.textbook import (  # noqa: F401 (re-exported)
    edge_pads,
    edge_pads_finite,
    extend,
    extend_adjoint,
    extension_matrices,
    extension_terms,
    filter_down_taps,
    filter_up_taps,
    fold_pads,
)
from wavelearn.threads import num_threads  # noqa: F401

ROWS_MIN = 256  # samples from which a single-channel signal takes the blocked (rows) path


def _use_blocked(xp: Any, x: Any, finite: bool = False) -> bool:
    """The blocked path: NumPy, enough contiguous channels -- or one channel
    (``Q = 1``) of a long signal, stored contiguously (see :func:`blocked._filter_down_rows`)
    -- and finite values (a zero of a block matrix times inf would spread NaN
    within the block; such data take the tap loop). ``finite``: the caller knows
    ``x`` is finite (:func:`wavelearn.dwt.finite.known_finite`): no pass to check it."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fc":
        return False
    rows = x.shape[2] == 1 and x.shape[1] >= ROWS_MIN and x.strides[1] == x.itemsize
    return (x.shape[2] >= 16 or rows) and (finite or bool(np.isfinite(x.sum())))


def blocked_candidate(x: Any) -> bool:
    """Whether ``x`` ``(P, N, Q)`` may take the blocked path at all (NumPy, enough
    channels, or a long single channel), so that a finiteness check pays off."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fc" or x.ndim != 3:
        return False
    P, N, Q = x.shape
    return Q >= 16 or (Q == 1 and N >= ROWS_MIN) or (P > 1 and Q > 1 and P * Q >= 16)


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
        return filter_down_blocked(x, filters, n_out)
    if (bank := _filter_bank(x)) is not None:  # the backend's own kernels (torch)
        return bank.filter_down(x, filters, n_out)
    return filter_down_taps(xp, x, filters, n_out)


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
        return filter_up_blocked(bands, filters, length)
    if (bank := _filter_bank(bands[0])) is not None:  # the backend's own kernels (torch)
        return bank.filter_up(bands, filters, length)
    return filter_up_taps(xp, bands, filters, length)


def _filter_bank(x: Any) -> Any:
    """``x``'s backend's own ``filter_down``/``filter_up`` (``Backend.filter_bank``:
    torch's), or None (NumPy, CuPy): then the tap loop runs."""
    return None if isinstance(x, np.ndarray) else backend_of(x).filter_bank


def extend_filter_down(
    xp: Any, x: Any, filters: np.ndarray, n_out: int, left: int, right: int, mode: str,
    *, finite: bool = False,
) -> Any:
    r""":math:`D E x`: ``filter_down(extend(x, left, right, mode), filters, n_out)``.

    Output ``o`` reads the padded samples ``[2o, 2o + F)``, i.e. ``x[2o - left :
    2o - left + F]``. For the outputs ``o0 <= o < o1`` that window lies inside
    ``x``, so the blocked path reads them straight from ``x``; only the first
    and last few read a short piece of padding + signal. Returns ``(B, P, n_out, Q)``.
    ``finite``: ``x`` is known to be finite (:func:`wavelearn.dwt.finite.known_finite`).
    """
    (P, N, Q), (B, F) = x.shape, filters.shape
    in_place = _compiled_in_place(x, B)
    row = None if in_place else one_row(x)
    if row is not None:  # the P signals side by side: (1, N, P Q)
        y = extend_filter_down(xp, row, filters, n_out, left, right, mode, finite=finite)
        return from_one_row(y, P)
    o0 = -(-left // 2)  # first output whose window starts inside x
    o1 = min(n_out, (N + left - F) // 2 + 1)  # one past the last that ends inside x
    inside, ends = o1 > o0, None  # some windows lie wholly inside x
    if inside and Q > 1:
        o1 = o0 + (o1 - o0) // TBLOCK * TBLOCK  # the middle: whole blocks of TBLOCK
        if not finite and middle_by_taps([x], B, F):  # no pass over x: its ends only
            ends = _down_ends(filters, N, left, right, mode, o0, o1, n_out, x.dtype)
            finite = edge_reads_finite(x, [op for *_, op in ends])
    if not inside or not _use_blocked(xp, x, finite):
        return filter_down(xp, extend(xp, x, left, right, mode), filters, n_out)
    y = new_bands(B, P, n_out, Q, x.dtype, position_major=in_place)
    if Q > 1:  # the middle, then the ends by small operators on x, straight into y
        if o1 > o0:
            filter_down_blocked(x[:, 2 * o0 - left :], filters, o1 - o0, out=y[:, :, o0:o1])
        if ends is None:
            ends = _down_ends(filters, N, left, right, mode, o0, o1, n_out, x.dtype)
        for oa, ob, op in ends:
            apply_edge(op, x, rows_of(y, oa, ob))
        return y
    filter_down_blocked(x[:, 2 * o0 - left :], filters, o1 - o0, out=y[:, :, o0:o1])
    pad_l, pad_r = edge_pads_finite(x, left, right, mode)  # (P, left, Q), (P, right, Q)
    if o0 > 0:  # padded samples [0, 2(o0 - 1) + F)
        head = xp.concat([pad_l, x[:, : 2 * (o0 - 1) + F - left]], axis=1)
        _edge_down(xp, head, filters, o0, finite, y[:, :, :o0])
    if o1 < n_out:  # padded samples [2 o1, left + N + right)
        s = 2 * o1 - left  # (only F = 1 can start past x, in pad_r)
        tail = xp.concat([x[:, s:], pad_r[:, max(0, s - N) :]], axis=1)
        _edge_down(xp, tail, filters, n_out - o1, finite, y[:, :, o1:])
    return y


def _down_ends(filters: np.ndarray, N: int, left: int, right: int, mode: str, o0: int,
               o1: int, n_out: int, dtype: Any) -> list:
    """``[(oa, ob, op)]``: the outputs before ``o0`` and from ``o1`` on, and the
    :func:`edge_operator` that computes them."""
    return [(oa, ob, edge_operator(filters, N, left, right, mode, oa, ob, dtype))
            for oa, ob in ((0, o0), (o1, n_out)) if ob > oa]


def middle_by_taps(arrays: list, B: int, F: int) -> bool:
    r"""Whether the middle of a level on these arrays (the input of
    :func:`extend_filter_down`, the bands of :func:`filter_up_fold`) runs the compiled
    tap sums of :mod:`wavelearn.dwt.compiled`: NumPy, two bands, many channels, one
    float dtype, an even filter (the synthesis loop pads an odd one with a zero tap).

    Those sums are the tap loop's: every output adds the same products
    :math:`f_i x_j`, only grouped differently. A sum holding NaN, or inf of both signs,
    is NaN in any order, one holding inf of one sign is that inf; so inf and NaN land
    where the tap loop (and PyWavelets) puts them, and only the few samples that the
    ends' small operators read need to be finite (a zero of an operator times inf is
    NaN): :func:`edge_reads_finite`, :func:`fold_reads_finite`. No pass over the whole
    input is needed."""
    return (B == 2 and F % 2 == 0 and all(isinstance(a, np.ndarray) and a.ndim == 3
                                          and a.shape[2] >= 16 for a in arrays)
            and compiled.available(*arrays))


def edge_reads_finite(x: np.ndarray, ends: list) -> bool:
    """Whether the rows of ``x`` that :func:`edge_operator`'s runs ``(start, stop, H)``
    read are finite, for each operator in ``ends`` (a sum that overflows says no)."""
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf: NaN, quietly
        return all(bool(np.isfinite(x[:, a:b].sum())) for ops in ends for a, b, _ in ops)


def fold_reads_finite(bands: list, ops: list) -> bool:
    """Whether the coefficients that :func:`fold_edge_operator`'s terms
    ``(b, start, stop, H)`` read from the bands are finite (as :func:`edge_reads_finite`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return all(bool(np.isfinite(bands[b][:, ca:cb].sum()))
                   for *_, terms in ops for b, ca, cb, _ in terms)


def _compiled_in_place(x: Any, B: int) -> bool:
    """A batch that :func:`one_row` would copy (few channels), read where it lies by the
    compiled loops (:mod:`wavelearn.dwt.compiled`) instead: they need no wider rows, and
    the results are stored position by position, as ``one_row``'s would be, so that the
    next level reads them as one row without a copy."""
    return (B == 2 and isinstance(x, np.ndarray) and x.size > 0 and x.shape[0] > 1
            and 1 < x.shape[2] < MOVE_MAX_Q and compiled.available(x)
            and not one_row_is_view(x))


def _edge_down(xp: Any, x: Any, filters: np.ndarray, n_out: int, finite: bool,
               out: np.ndarray) -> None:
    """``out`` <- ``filter_down(x)`` for a short piece at an end; a piece of known
    finite data goes the blocked way without a check."""
    if finite and _use_blocked(xp, x, finite):
        filter_down_blocked(x, filters, n_out, out=out)
    else:
        out[...] = filter_down(xp, x, filters, n_out)


def filter_up_fold(
    xp: Any, bands: list, filters: np.ndarray, n: int, left: int, right: int, mode: str,
    *, finite: bool = False,
) -> Any:
    r""":math:`E^T U y`: ``extend_adjoint(filter_up(bands, filters, left + n + right),
    n, left, right, mode)``, the adjoint of :func:`extend_filter_down`.

    The blocked path computes the middle ``z[left : left + n]`` straight into
    the result and only the short ends ``z[:left]``, ``z[left + n:]`` apart,
    to fold them onto the samples they padded. Returns ``(P, n, Q)``.
    ``finite``: the bands are known to be finite (:func:`wavelearn.dwt.finite.known_finite`).
    """
    length = left + n + right
    rows = bands_in_one_row(bands)
    if rows is not None:  # the P signals side by side: (1, n, P Q)
        fold = filter_up_fold(xp, rows, filters, n, left, right, mode, finite=finite)
        return from_one_row(fold, bands[0].shape[0])
    assert 2 * (bands[0].shape[1] - 1) + filters.shape[1] <= length, "filter_up: too short"
    Q, F, ops = bands[0].shape[2], filters.shape[1], None
    if Q > 1 and not finite and middle_by_taps(bands, len(bands), F):  # the ends only
        ops = _fold_ends(bands, filters, n, left, right, mode)
        finite = fold_reads_finite(bands, ops)
    if not all(_use_blocked(xp, b, finite) for b in bands):
        z = filter_up(xp, bands, filters, length)
        return extend_adjoint(xp, z, n, left, right, mode)
    if Q > 1:  # the middle by blocks, the rest by small operators (fold_edge_operator)
        dx = filter_up_blocked(bands, filters, left + n, start=left, ends=False)
        if ops is None:
            ops = _fold_ends(bands, filters, n, left, right, mode)
        apply_fold_edge(ops, bands, dx)
        return dx
    dx = filter_up_blocked(bands, filters, left + n, start=left)  # (P, n, Q)
    if mode == "zero":  # zero padding read nothing: nothing to fold back
        return dx
    g_l = filter_up_edge(bands, filters, 0, left)  # (P, left, Q)
    g_r = filter_up_edge(bands, filters, left + n, length)  # (P, right, Q)
    return fold_pads(xp, dx, g_l, g_r, mode)


def _fold_ends(bands: list, filters: np.ndarray, n: int, left: int, right: int,
               mode: str) -> list:
    """The :func:`fold_edge_operator` of :func:`filter_up_fold`: all of ``dx`` but the
    middle that :func:`filter_up_blocked` computes."""
    (_, n_c, _), F = bands[0].shape, filters.shape[1]
    _, _, lo, hi = up_middle(n_c, (F + 1) // 2, up_block_size(bands, F), left + n, left)
    return fold_edge_operator(filters, n_c, n, left, right, mode, lo, hi, bands[0].dtype)
