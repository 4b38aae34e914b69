r"""LayerNorm's rows as compiled loops (numba), for NumPy float32/float64.

The NumPy code of :class:`~wavelearn.nn.LayerNorm` is a chain of whole-row
operations: a mean, a centring, a variance, a scaling, the affine map -- each
a pass over memory, some of them with a broadcast along a short row, which
NumPy runs 2-3 times slower than a plain product. Here each row is done in
one loop nest while it sits in the cache, with the same formulas:

- :func:`layernorm_forward`: :math:`\mu, \sigma^2` of the row, :math:`r =
  1/\sqrt{\sigma^2 + \epsilon}`, :math:`\hat x = (x - \mu) r`, :math:`y = \hat x
  \odot w + b`;
- :func:`layernorm_backward`: :math:`g = dy \odot w`, :math:`dx = r(g - \bar g -
  \hat x\, \overline{g \hat x})`, and the parameter gradients
  :math:`\sum_m dy_m \odot \hat x_m`, :math:`\sum_m dy_m` summed block by block.

Measured on one core: 2.6-4.8 times faster than the NumPy chain on
``(3200, 64)`` and ``(2048, 256)``. The sums within a row may be added in any
order (``fastmath`` reassociation), so results differ from the NumPy chain in
the last bits; tests compare them at float tolerance. Big inputs are cut into
blocks of rows that :mod:`wavelearn.threads` shares. ``USE_COMPILED = False``
switches the loops off.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wavelearn import buffers, jit
from wavelearn.threads import run_tasks

USE_COMPILED = True
ROWS_PER_TASK = 1024  # rows per block shared out to the threads
PARALLEL_MIN = 1 << 18  # elements from which the blocks run on several threads

_KERNELS: dict[str, Any] = {}


def available(*arrays: np.ndarray) -> bool:
    """Whether the loops may run: switched on, NumPy C-contiguous float32/float64 arrays
    of one dtype."""
    return USE_COMPILED and all(
        isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float64)
        and a.dtype == arrays[0].dtype and a.flags.c_contiguous for a in arrays)


def kernels() -> dict[str, Any]:
    """The compiled loops, compiled on first use (and cached on disk by numba)."""
    return jit.compiled_once(_KERNELS, _build, "wavelearn.nn.compiled")


def _build(njit: Any) -> dict[str, Any]:
    sums = {"nogil": True, "cache": True, "fastmath": {"reassoc", "contract"}}
    exact = {"nogil": True, "cache": True}  # elementwise: no sums to reorder
    return {
        "forward": njit(**sums)(_forward_rows),
        "backward": njit(**sums)(_backward_rows),
        "gelu_u": njit(**exact)(_gelu_u),
        "gelu_y_slope": njit(**exact)(_gelu_y_slope),
        "bias_gelu_u": njit(**exact)(_bias_gelu_u),
        "bias_gelu_y_slope": njit(**exact)(_bias_gelu_y_slope),
        "mask_scale_times": njit(**exact)(_mask_scale_times),
        "mask_scale_plus": njit(**exact)(_mask_scale_plus),
        "mask_scale_into": njit(**exact)(_mask_scale_into),
        "mask_scale_in_place": njit(**exact)(_mask_scale_in_place),
        "adamw": njit(**exact)(_adamw),
    }


def _blocks(M: int) -> list[tuple[int, int]]:
    return [(a, min(a + ROWS_PER_TASK, M)) for a in range(0, M, ROWS_PER_TASK)] or [(0, 0)]


def layernorm_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                      eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y, xhat, rstd)`` of rows ``x`` ``(M, D)``; ``rstd`` ``(M, 1)``."""
    M, _ = x.shape
    y, xhat = buffers.empty(x.shape, x.dtype), buffers.empty(x.shape, x.dtype)  # (M, D) each
    rstd = np.empty((M, 1), dtype=x.dtype)
    run = kernels()["forward"]
    run_tasks(lambda a, c: run(x, w, b, eps, y, xhat, rstd, a, c), _blocks(M),
              parallel=x.size >= PARALLEL_MIN)
    return y, xhat, rstd


def layernorm_backward(dy: np.ndarray, xhat: np.ndarray, rstd: np.ndarray,
                       w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, dw, db)`` for rows ``dy``, ``xhat`` ``(M, D)`` and ``rstd`` ``(M, 1)``."""
    M, D = dy.shape
    blocks = _blocks(M)
    dx = buffers.empty(dy.shape, dy.dtype)  # (M, D)
    parts = np.zeros((len(blocks), 2, D), dtype=np.float64)  # per block: dw, db
    run = kernels()["backward"]
    tasks = [(i, a, c) for i, (a, c) in enumerate(blocks)]
    run_tasks(lambda i, a, c: run(dy, xhat, rstd, w, dx, parts[i], a, c), tasks,
              parallel=dy.size >= PARALLEL_MIN)
    sums = parts.sum(axis=0).astype(dy.dtype)  # (2, D), blocks in order: any threads
    return dx, sums[0], sums[1]


def gelu_and_slope(x: np.ndarray, c: float, a: float) -> tuple[np.ndarray, np.ndarray]:
    r"""``(y, s)`` of :func:`wavelearn.nn.layers.gelu_and_slope` for a block ``x``
    ``(m, H)``, in three passes instead of fifteen: a loop for :math:`u = c\,(x + a
    x^3)`, NumPy's vectorised ``tanh``, a loop for :math:`p`, :math:`y = x p` and the
    slope :math:`s = p + (1 - t^2)\, x\,	frac{c}{2}(1 + 3 a x^2)`."""
    k = kernels()
    consts = _gelu_consts(x.dtype, c, a)
    u = np.empty_like(x)
    k["gelu_u"](x.reshape(-1), u.reshape(-1), consts)
    t = np.tanh(u, out=u)  # (m, H)
    y, slope = np.empty_like(x), np.empty_like(x)
    k["gelu_y_slope"](x.reshape(-1), t.reshape(-1), y.reshape(-1), slope.reshape(-1), consts)
    return y, slope


def _gelu_consts(dtype: Any, c: float, a: float) -> np.ndarray:
    """The constants of the GELU loops, rounded to ``dtype`` as NumPy rounds a Python
    float that meets an array of that dtype."""
    return np.array([c * a, c, 1.5 * c * a, 0.5 * c, 1.0, 0.5], dtype=dtype)


def bias_gelu_dropout(h: np.ndarray, bias: np.ndarray, keep: np.ndarray | None,
                      scale: float, c: float, a: float, y: np.ndarray | None = None,
                      slope: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""``(y, s)`` for a block of rows ``h`` ``(m, H)`` of the feed-forward's first
    product: :math:`x = h + b`, GELU's :math:`y` and slope :math:`s`
    (:func:`gelu_and_slope`), then dropout :math:`y \leftarrow (y \odot m)\, s_d`
    (``keep`` None: none). The operations of the unfused chain, in its order and dtype:
    the same bits. Into ``y`` and ``slope`` where given (``y`` may be ``h``); else new
    arrays.

    The loop writes :math:`y` over its own :math:`\tanh` buffer, then copies it where
    it belongs: a loop that writes one array while reading another one that turns out
    to be the same memory (``y = h``) cannot be vectorised (LLVM checks at run time
    that they do not overlap, and when they do it takes its scalar loop: 8 times slower,
    measured), whereas reading and writing one array at the same place can."""
    k = kernels()
    consts = _gelu_consts(h.dtype, c, a)
    u = np.empty_like(h)
    k["bias_gelu_u"](h, bias, u, consts)
    t = np.tanh(u, out=u)  # (m, H)
    slope = np.empty_like(h) if slope is None else slope
    mask = keep if keep is not None else np.ones((1, 1), np.uint8)
    k["bias_gelu_y_slope"](h, bias, t, mask, keep is not None,
                           np.array([scale], dtype=h.dtype), slope, consts)  # y over t
    if y is None:
        return t, slope
    np.copyto(y, t)
    return y, slope


def mask_scale_times(g: np.ndarray, keep: np.ndarray, scale: float,
                     other: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`((g \odot m)\, s) \odot o` for blocks ``(m, H)`` (dropout's backward,
    then GELU's: ``o`` the slope), one pass, into ``out`` (may be ``g``; None: a new
    array). The loop works in place on ``out`` (a copy of ``g`` first where ``out`` is
    another array), as :func:`bias_gelu_dropout` explains: four times faster than
    writing ``out = g`` through a second name."""
    if out is None:
        out = g.copy()
    elif out is not g:
        np.copyto(out, g)
    kernels()["mask_scale_times"](out.reshape(-1), keep.reshape(-1),
                                  np.array([scale, 1, 0], dtype=g.dtype), other.reshape(-1))
    return out


def mask_scale(x: np.ndarray, keep: np.ndarray, scale: float,
               out: np.ndarray | None = None) -> None:
    r"""``out`` :math:`\leftarrow (x \odot m)\, s` (dropout's forward and backward), one
    pass; ``out`` None: over ``x`` (a loop that reads and writes one array, which LLVM
    vectorises: see :func:`bias_gelu_dropout`; else ``out`` must not overlap ``x``).
    NumPy's ``x * keep`` then ``*= s`` take two passes and a conversion of the ``uint8``
    mask: ``(3200, 256)`` float32, one thread, 265 us against 65 here (into another
    array) and 45 (in place). The operations of NumPy's, in its order and dtype: the
    same bits."""
    sd = np.array([scale, 1, 0], dtype=x.dtype)  # s rounded as NumPy rounds a Python float
    if out is None:
        kernels()["mask_scale_in_place"](x.reshape(-1), keep.reshape(-1), sd)
    else:
        kernels()["mask_scale_into"](x.reshape(-1), keep.reshape(-1), sd, out.reshape(-1))


def mask_scale_plus(b: np.ndarray, keep: np.ndarray, scale: float, x: np.ndarray) -> None:
    r""":math:`b \leftarrow (b \odot m)\, s + x` in place (dropout, then the residual
    add), one pass."""
    kernels()["mask_scale_plus"](b.reshape(-1), keep.reshape(-1),
                                 np.array([scale, 1, 0], dtype=b.dtype), x.reshape(-1))


def adamw(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
          out: tuple[np.ndarray, np.ndarray, np.ndarray], k: list[float]) -> None:
    r"""One AdamW step of a parameter (:class:`wavelearn.training.optim.AdamW`), one pass
    instead of about ten over it: ``out = (p', m', v')`` from ``p, g, m, v`` (contiguous
    arrays of one shape and dtype), ``k = [beta1, 1 - beta1, beta2, 1 - beta2,
    step_size, sqrt(1 - beta2^t), eps, 1 - lr wd]``. Each constant rounded to the
    arrays' dtype and each operation of NumPy's chain in its order: the same bits."""
    kd = np.array(k, dtype=p.dtype)  # as NumPy rounds a Python float beside an array
    kernels()["adamw"](p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                       out[0].reshape(-1), out[1].reshape(-1), out[2].reshape(-1), kd)


# ---------------------------------------------------------------------------
# The loops (compiled by numba)
# ---------------------------------------------------------------------------


def _adamw(p, g, m, v, p1, m1, v1, k):  # noqa: PLR0913
    """:func:`adamw`: the operations of ``AdamW.update``, element by element."""
    b1, c1, b2, c2, step, bc2, eps, decay = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]
    for i in range(p.shape[0]):
        gi = g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * (gi * gi)
        m1[i], v1[i] = mi, vi
        p1[i] = p[i] * decay - step * (mi / (np.sqrt(vi) / bc2 + eps))


def _bias_gelu_u(h, bias, u, k):
    r""":math:`u = (x^2\, c a + c)\, x` with :math:`x = h + b` (rows of ``h``)."""
    ca, c1 = k[0], k[1]
    M, H = h.shape
    for m in range(M):
        for j in range(H):
            v = h[m, j] + bias[j]
            u[m, j] = (v * v * ca + c1) * v


def _bias_gelu_y_slope(h, bias, t, keep, masked, sd, s, k):  # noqa: PLR0913
    r""":func:`_gelu_y_slope` of :math:`x = h + b`, then :math:`y \leftarrow (y\, m)\, s_d`
    if ``masked``; :math:`y` over :math:`t` (each read before it is written)."""
    ca3, c2, one, half, sc = k[2], k[3], k[4], k[5], sd[0]
    M, H = h.shape
    for m in range(M):
        for j in range(H):
            v, tv = h[m, j] + bias[j], t[m, j]
            p = (tv + one) * half
            yv = p * v
            if masked:  # (keep 0/1 as a float of the dtype: as NumPy multiplies)
                yv = yv * (one if keep[m, j] else one - one)
                yv = yv * sc
            t[m, j] = yv
            w = (v * v * ca3 + c2) * v
            s[m, j] = w - tv * tv * w + p


def _mask_scale_times(g, keep, sd, other):
    """:func:`mask_scale_times`, in place on ``g``; ``sd``: ``(scale, 1, 0)`` in the dtype."""
    sc, one, zero = sd[0], sd[1], sd[2]
    for i in range(g.size):
        v = g[i] * (one if keep[i] else zero)
        v = v * sc
        g[i] = v * other[i]


def _mask_scale_into(x, keep, sd, out):
    """:func:`mask_scale` into another array; ``sd``: ``(scale, 1, 0)`` in the dtype."""
    sc, one, zero = sd[0], sd[1], sd[2]
    for i in range(x.size):
        v = x[i] * (one if keep[i] else zero)
        out[i] = v * sc


def _mask_scale_in_place(x, keep, sd):
    """:func:`mask_scale` in place on ``x``; ``sd``: ``(scale, 1, 0)`` in the dtype."""
    sc, one, zero = sd[0], sd[1], sd[2]
    for i in range(x.size):
        v = x[i] * (one if keep[i] else zero)
        x[i] = v * sc


def _mask_scale_plus(b, keep, sd, x):
    """:func:`mask_scale_plus`; ``sd``: ``(scale, 1, 0)`` in the dtype."""
    sc, one, zero = sd[0], sd[1], sd[2]
    for i in range(b.size):
        v = b[i] * (one if keep[i] else zero)
        v = v * sc
        b[i] = v + x[i]


def _gelu_u(x, u, k):
    r""":math:`u = (x^2\, c a + c)\, x`, element by element (``k``: the constants of
    :func:`gelu_and_slope` in ``x``'s dtype)."""
    ca, c1 = k[0], k[1]
    for i in range(x.size):
        v = x[i]
        u[i] = (v * v * ca + c1) * v


def _gelu_y_slope(x, t, y, s, k):
    r""":math:`p = (1 + t)/2`, :math:`y = p x`, :math:`s = w - t^2 w + p` with
    :math:`w = (x^2\, \tfrac32 c a + \tfrac12 c)\, x`, element by element."""
    ca3, c2, one, half = k[2], k[3], k[4], k[5]
    for i in range(x.size):
        v, tv = x[i], t[i]
        p = (tv + one) * half
        y[i] = p * v
        w = (v * v * ca3 + c2) * v
        s[i] = w - tv * tv * w + p


def _forward_rows(x, w, b, eps, y, xhat, rstd, m0, m1):  # noqa: PLR0913
    """Rows ``m0 <= m < m1`` of :func:`layernorm_forward`."""
    D = x.shape[1]
    for m in range(m0, m1):
        s = 0.0
        for d in range(D):
            s += x[m, d]
        mean = s / D
        v = 0.0
        for d in range(D):
            c = x[m, d] - mean
            v += c * c
        r = 1.0 / np.sqrt(v / D + eps)
        rstd[m, 0] = r
        for d in range(D):
            h = (x[m, d] - mean) * r
            xhat[m, d] = h
            y[m, d] = h * w[d] + b[d]


def _backward_rows(dy, xhat, rstd, w, dx, part, m0, m1):  # noqa: PLR0913
    """Rows ``m0 <= m < m1`` of :func:`layernorm_backward`; their ``dw`` and ``db`` added
    into ``part`` ``(2, D)`` (float64)."""
    D = dy.shape[1]
    for m in range(m0, m1):
        s1 = 0.0
        s2 = 0.0
        for d in range(D):
            g = dy[m, d] * w[d]
            s1 += g
            s2 += g * xhat[m, d]
            part[0, d] += dy[m, d] * xhat[m, d]
            part[1, d] += dy[m, d]
        s1 /= D
        s2 /= D
        r = rstd[m, 0]
        for d in range(D):
            dx[m, d] = (dy[m, d] * w[d] - s1 - xhat[m, d] * s2) * r
