r"""Wavelet mixing: the token mixer that replaces attention.

Per channel, a mixing layer (1) transforms the sequence into wavelet bands,
(2) applies a learnable map to the coefficients, (3) transforms back:

.. math::
    Y = \mathcal{S}\big(f_\theta(\mathcal{A} X)\big), \quad X, Y \in \mathbb{R}^{B\times N\times D}

All three steps are linear in :math:`X`, vectorised over batch and channels
(the only Python loops run over the :math:`K = J + 1` bands), and each has a
hand-written backward pass.

**Bands.** ``K = levels + 1`` arrays ``[cA_J, cD_J, ..., cD_1]``, each
``(B, n_k, D)``.

- :class:`WaveletMixing` (encoders): :math:`\mathcal{A}` = ``wavedec`` and
  :math:`\mathcal{S}` = ``waverec`` along the sequence (decimated DWT,
  :math:`n_k \approx N / 2^{\ell_k}`). Default boundary mode
  ``'periodization'``: every level exists for every length, and when
  :math:`2^J` divides :math:`N` there are exactly :math:`N` coefficients in all
  and the transform is orthogonal for orthogonal wavelets (its backward is its
  inverse, gradients keep their norm); other lengths are padded at odd levels,
  which breaks both (the reconstruction stays exact). Any of the nine modes
  can be chosen.
- :class:`CausalWaveletMixing` (decoders): the causal undecimated *à trous*
  transform, see :func:`causal_analysis`; every band has length :math:`N`.

**Coefficient maps** :math:`f_\theta` (``mixing_mode``), all initialised to
the identity, so that a fresh layer reconstructs its input exactly:

- ``'pointwise'``: :math:`\tilde c_k = c_k \odot w_k`, weight ``(K, D)``: one
  gain per band and channel, shared across positions (so any length works).
- ``'channel'``: :math:`\tilde c_k = c_k W_k`, weight ``(K, D, D)``: a full
  channel-mixing matrix per band; every entry is used.
- ``'level'``: :math:`\tilde c_j = P_j \sum_k M_{jk} \odot R_k c_k`, weight
  ``(K, K, D)``: bands exchange information at the same place in the
  sequence. :math:`R_k` spreads coefficient :math:`i` of band :math:`k` over
  the :math:`r_k = 2^{\ell_k}` positions it covers (a common grid),
  :math:`P_j = R_j^\top / r_j` averages them back; for the undecimated causal
  bands :math:`r_k = 1`.
"""

from __future__ import annotations

from operator import mul
from typing import Any

import numpy as np

from wavelearn import buffers
from wavelearn.backend import array_namespace, backend_of
from wavelearn.dwt import transforms as tr
from wavelearn.dwt.causal import (
    causal_analysis,
    causal_analysis_adjoint,
    causal_analysis_step,
    causal_lowpass,
    init_history,
)
from wavelearn.dwt.wavelets import as_wavelet, check_mode
from wavelearn.nn.module import Module, cast_to, new_parameter
from wavelearn.nn.rowwise import by_row_blocks, column_sums

MIXING_MODES = ("pointwise", "channel", "level")


def check_mixing_mode(mixing_mode: Any) -> str:
    if mixing_mode not in MIXING_MODES:
        raise ValueError(f"mixing_mode must be one of {', '.join(MIXING_MODES)}; "
                         f"got {mixing_mode!r}")
    return mixing_mode


# ---------------------------------------------------------------------------
# Coefficient maps f_theta: forward and backward on lists of bands (B, n_k, D)
# ---------------------------------------------------------------------------


def identity_weight(mixing_mode: str, n_bands: int, dim: int) -> np.ndarray:
    """The initial weight of each mode: the identity map on the coefficients."""
    if mixing_mode == "pointwise":
        return np.ones((n_bands, dim))  # (K, D)
    if mixing_mode == "channel":
        return np.broadcast_to(np.eye(dim), (n_bands, dim, dim)).copy()  # (K, D, D)
    return np.broadcast_to(np.eye(n_bands)[:, :, None], (n_bands, n_bands, dim)).copy()


def mix_forward(xp: Any, mode: str, bands: list, weight: Any, repeats: list[int]) -> list:
    r"""Apply :math:`f_\theta` (see the module docstring) to ``bands``."""
    if mode == "pointwise":
        return [buffers.combine(mul, c, weight[k]) for k, c in enumerate(bands)]  # (B, n_k, D)
    if mode == "channel":
        return [xp.matmul(c, weight[k]) for k, c in enumerate(bands)]  # (B, n_k, D)
    grid = _grid_length(bands, repeats)
    spread = [_spread(xp, c, r, grid) for c, r in zip(bands, repeats, strict=True)]
    return [
        _gather(xp, sum(weight[j, k] * u for k, u in enumerate(spread)), r, c.shape[1]) / r
        for j, (c, r) in enumerate(zip(bands, repeats, strict=True))
    ]  # (B, n_j, D)


def mix_backward(
    xp: Any, mode: str, bands: list, weight: Any, repeats: list[int], dout: list
) -> tuple[list, Any]:
    r"""``(dbands, dweight)`` of :func:`mix_forward`, given ``dout`` (per band).

    pointwise: :math:`\bar c_k = \bar{\tilde c}_k \odot w_k`,
    :math:`\bar w_k = \sum_{b,i} c_k \odot \bar{\tilde c}_k`;
    channel: :math:`\bar c_k = \bar{\tilde c}_k W_k^\top`,
    :math:`\bar W_k = c_k^\top \bar{\tilde c}_k` (summed over the batch);
    level: :math:`\bar S_j = R_j \bar{\tilde c}_j / r_j`,
    :math:`\bar M_{jk} = \sum R_k c_k \odot \bar S_j`,
    :math:`\bar c_k = R_k^\top \sum_j M_{jk} \odot \bar S_j`.
    """
    if mode == "pointwise":
        dw = xp.stack([_pointwise_weight_grad(xp, c, g)
                       for c, g in zip(bands, dout, strict=True)])  # (K, D)
        return [buffers.combine(mul, g, weight[k]) for k, g in enumerate(dout)], dw  # (K, D)
    if mode == "channel":
        dw = xp.stack([_batched_outer(xp, c, g) for c, g in zip(bands, dout, strict=True)])
        return [xp.matmul(g, weight[k].T) for k, g in enumerate(dout)], dw  # (K, D, D)
    grid = _grid_length(bands, repeats)
    spread = [_spread(xp, c, r, grid) for c, r in zip(bands, repeats, strict=True)]
    ds = [_spread(xp, g, r, grid) / r for g, r in zip(dout, repeats, strict=True)]  # (B, G, D)
    dw = xp.stack([xp.stack([xp.sum(u * s, axis=(0, 1)) for u in spread]) for s in ds])
    dbands = [
        _gather(xp, sum(weight[j, k] * s for j, s in enumerate(ds)), r, c.shape[1])
        for k, (c, r) in enumerate(zip(bands, repeats, strict=True))
    ]
    return dbands, dw  # dw (K, K, D)


def _pointwise_weight_grad(xp: Any, c: Any, g: Any) -> Any:
    r""":math:`\bar w = \sum_{b,i} c \odot g` over batch and positions, ``(D,)``; the
    product's memory goes back to :mod:`wavelearn.buffers` once summed."""
    prod = buffers.combine(mul, c, g)  # (B, n, D)
    dw = column_sums(xp, xp.reshape(prod, (-1, c.shape[-1])))  # (D,)
    buffers.give(prod)
    return dw


def pointwise_sum(xp: Any, bands: list, weight: Any) -> Any:
    r""":math:`y = \sum_k c_k \odot w_k`: the pointwise map and the causal synthesis (a
    sum of the bands) in one pass, the products added in band order. NumPy arrays go
    block of rows by block (:func:`~wavelearn.nn.rowwise.by_row_blocks`): the products
    stay in the cache, ``y`` is the one array written."""
    D = bands[0].shape[-1]

    def rows(*blocks: Any) -> Any:  # (M, D) each
        y = blocks[0] * weight[0]
        for k in range(1, len(blocks)):
            y += blocks[k] * weight[k]
        return y  # (M, D)

    y = by_row_blocks(rows, *(xp.reshape(c, (-1, D)) for c in bands))  # (B N, D)
    return xp.reshape(y, bands[0].shape)  # (B, N, D)


def _batched_outer(xp: Any, c: Any, g: Any) -> Any:
    """:math:`\\sum_b c_b^T g_b` for ``c, g`` ``(B, n, D)`` -> ``(D, D)``."""
    d = c.shape[-1]
    return xp.matmul(xp.reshape(c, (-1, d)).T, xp.reshape(g, (-1, d)))


def _grid_length(bands: list, repeats: list[int]) -> int:
    return max(c.shape[1] * r for c, r in zip(bands, repeats, strict=True))


def _spread(xp: Any, c: Any, r: int, grid: int) -> Any:
    """:math:`R`: repeat each coefficient ``r`` times, zero-fill to ``grid``."""
    B, n, D = c.shape
    if r > 1:
        c = xp.reshape(xp.broadcast_to(c[:, :, None, :], (B, n, r, D)), (B, n * r, D))
    if n * r < grid:
        c = xp.concat([c, xp.zeros((B, grid - n * r, D), dtype=c.dtype, device=_dev(c))], axis=1)
    return c  # (B, grid, D)


def _gather(xp: Any, s: Any, r: int, n: int) -> Any:
    """:math:`R^T`: sum the ``r`` grid positions of each of ``n`` coefficients."""
    B, _, D = s.shape
    s = s[:, : n * r, :]
    return s if r == 1 else xp.sum(xp.reshape(s, (B, n, r, D)), axis=2)  # (B, n, D)


def _dev(x: Any) -> Any:
    return None if isinstance(x, np.ndarray) else x.device


def cuda_kernels(x: Any) -> Any:
    """The kernels of ``x``'s backend (:attr:`wavelearn.backend.Backend.kernels`: the
    CuPy RawKernels -- fused pointwise mixing, causal bank), or None elsewhere."""
    return backend_of(x).kernels


# ---------------------------------------------------------------------------
# The layers
# ---------------------------------------------------------------------------


class _MixingBase(Module):
    """Shared parameter handling of the two mixing layers."""

    def __init__(self, hidden_dim: int, wavelet: Any, levels: int, mixing_mode: str,
                 dtype: Any) -> None:
        super().__init__()
        if not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be an int >= 1, got {levels!r}")
        self.wavelet = as_wavelet(wavelet)
        self.levels, self.hidden_dim = levels, hidden_dim
        self.mixing_mode = check_mixing_mode(mixing_mode)
        self.weight = new_parameter(identity_weight(mixing_mode, levels + 1, hidden_dim), dtype)

    def _mix(self, xp: Any, bands: list, repeats: list[int]) -> list:
        return mix_forward(xp, self.mixing_mode, bands, self.weight.data, repeats)

    def _mix_backward(self, xp: Any, dout: list) -> list:
        bands, repeats = self.cache["bands"], self.cache["repeats"]
        dbands, dw = mix_backward(xp, self.mixing_mode, bands, self.weight.data, repeats, dout)
        self.weight.accumulate_grad(dw)
        return dbands


class WaveletMixing(_MixingBase):
    """DWT -> learnable coefficient map -> inverse DWT, along the sequence axis.

    ``x (B, N, D) -> y (B, N, D)``; ``y == x`` at initialisation. Any ``N >= 1`` in
    periodization mode; 'reflect' and 'antireflect' need 2 samples at every level.
    See the module docstring for the modes and their weight shapes.

    Args:
        hidden_dim: ``D``. wavelet: any discrete PyWavelets name.
        levels: ``J``. mixing_mode: 'pointwise' | 'channel' | 'level'.
        mode: DWT boundary mode (default 'periodization', see module docstring).
    """

    def __init__(self, hidden_dim: int, wavelet: Any = "db4", levels: int = 3,
                 mixing_mode: str = "pointwise", mode: str = "periodization",
                 dtype: Any = None) -> None:
        super().__init__(hidden_dim, wavelet, levels, mixing_mode, dtype)
        self.mode = check_mode(mode)

    def _fused(self, x: Any) -> Any:
        """On CuPy, pointwise mixing in periodization mode is one fused kernel."""
        fused = self.mixing_mode == "pointwise" and self.mode == "periodization"
        return cuda_kernels(x) if fused else None

    def forward(self, x: Any) -> Any:
        xp = array_namespace(x, self.weight.data)
        x = cast_to(x, self.weight.dtype)  # (B, N, D)
        kernels = self._fused(x)
        if kernels is not None:
            self.cache = {"x": x}
            return kernels.mixing_forward(x, self.weight.data, self.wavelet, self.levels)
        bands = tr.wavedec_3d(xp, x, self.wavelet, self.mode, self.levels)  # (B, n_j, D) each
        repeats = [2**self.levels] + [2**j for j in range(self.levels, 0, -1)]
        self.cache = {"bands": bands, "repeats": repeats, "n": x.shape[1]}
        return self._synthesis(xp, self._mix(xp, bands, repeats), x.shape[1])

    def _synthesis(self, xp: Any, bands: list, n: int) -> Any:
        a = tr.waverec_3d(xp, bands, self.wavelet, self.mode)  # (B, N or N + 1, D)
        return a[:, :n, :]  # (B, N, D): waverec(..., length=N)

    def backward(self, dy: Any) -> Any:
        xp = array_namespace(dy, self.weight.data)
        dy = cast_to(dy, self.weight.dtype)  # (B, N, D)
        if "x" in self.cache:  # the fused CuPy kernel ran the forward
            dx, dw = self._fused(dy).mixing_backward(
                self.cache["x"], dy, self.weight.data, self.wavelet, self.levels)
            self.weight.accumulate_grad(dw)
            return dx
        lengths = [c.shape[1] for c in self.cache["bands"]]
        dout = tr.waverec_adjoint(dy, self.wavelet, self.mode, axis=1, coeff_lengths=lengths)
        dbands = self._mix_backward(xp, dout)
        del dout
        dx = tr.wavedec_adjoint(dbands, self.wavelet, self.mode, axis=1, length=self.cache["n"])
        buffers.give_all(dbands)  # consumed: to the pool
        return dx


class CausalWaveletMixing(_MixingBase):
    """The decoder's mixer: causal à trous bands -> coefficient map -> sum.

    The output at position ``t`` depends on inputs at positions ``<= t`` only,
    for every wavelet, level, mixing mode and weight value (see
    :func:`causal_analysis`). ``y == x`` at initialisation.
    """

    def __init__(self, hidden_dim: int, wavelet: Any = "db4", levels: int = 2,
                 mixing_mode: str = "pointwise", dtype: Any = None) -> None:
        super().__init__(hidden_dim, wavelet, levels, mixing_mode, dtype)
        self.lowpass = causal_lowpass(self.wavelet)

    def forward(self, x: Any) -> Any:
        xp = array_namespace(x, self.weight.data)
        x = cast_to(x, self.weight.dtype)  # (B, N, D)
        kernels = cuda_kernels(x)
        if kernels is None:
            bands = causal_analysis(xp, x, self.lowpass, self.levels)  # K x (B, N, D)
        else:  # the same bands from one CUDA launch per level
            bands = kernels.causal_analysis(x, self.lowpass, self.levels)
        repeats = [1] * len(bands)
        self.cache = {"bands": bands, "repeats": repeats}
        return self._mixed_sum(xp, bands)  # (B, N, D)

    def _mixed_sum(self, xp: Any, bands: list) -> Any:
        """The coefficient map, then the synthesis: the sum of the mixed bands."""
        if self.mixing_mode == "pointwise":
            return pointwise_sum(xp, bands, self.weight.data)  # (B, n, D)
        return sum(self._mix(xp, bands, [1] * len(bands)))  # (B, n, D)

    # -- streaming: the same map, one chunk of new positions at a time ------------------

    def init_state(self, batch_size: int) -> list:
        r"""The empty streaming state of ``batch_size`` sequences: one ring buffer
        ``(B, R_j, D)`` of past :math:`a_{j-1}` per level,
        :math:`R_j = (F-1)\,2^{j-1}` (:func:`~wavelearn.dwt.causal.history_lengths`).
        In all :math:`B\,D\,(F-1)(2^J-1)` numbers, whatever the context length."""
        w = self.weight.data
        device = None if isinstance(w, np.ndarray) else w.device
        return init_history(array_namespace(w), batch_size, self.hidden_dim, self.lowpass,
                            self.levels, w.dtype, device)

    def step(self, u: Any, state: list, positions: np.ndarray,
             lengths: np.ndarray | None = None) -> Any:
        """The outputs at ``n`` new positions, ``u (B, n, D) -> (B, n, D)``: equal to
        :meth:`forward` of the whole sequence at those positions.

        ``state``: from :meth:`init_state`, after ``positions[b]`` tokens of row
        ``b``; updated in place (see :func:`~wavelearn.dwt.causal.causal_analysis_step`,
        ``lengths``: real new tokens per right-padded row). Keeps no cache: there
        is no backward through a step.
        """
        xp = array_namespace(u, self.weight.data)
        u = cast_to(u, self.weight.dtype)  # (B, n, D)
        bands = causal_analysis_step(xp, u, state, positions, self.lowpass, lengths)
        return self._mixed_sum(xp, bands)  # (B, n, D)

    def backward(self, dy: Any) -> Any:
        xp = array_namespace(dy, self.weight.data)
        dy = cast_to(dy, self.weight.dtype)  # (B, N, D)
        dbands = self._mix_backward(xp, [dy] * len(self.cache["bands"]))
        kernels = cuda_kernels(dy)
        if kernels is not None:
            return kernels.causal_analysis_adjoint(dbands, self.lowpass)
        dx = causal_analysis_adjoint(xp, dbands, self.lowpass)  # (B, N, D)
        buffers.give_all(dbands)  # the bands' gradients, consumed: to the pool
        return dx
