r"""The transformer MLP, ``Linear -> GELU -> Dropout -> Linear``, its elementwise part fused.

Each of the four layers is an explicit forward/backward pair
(:mod:`wavelearn.nn.layers`), and :class:`FeedForward` runs them in order. In
training, on NumPy arrays, the first layer's bias, GELU and dropout are
elementwise and act on the same ``(M, hidden)`` array: done one after the
other they read and write that array three times. Fused, each block of rows
(in the CPU cache, :func:`~wavelearn.nn.rowwise.by_row_blocks`) goes through
all three at once:

.. math::
    h = x W_1^\top + b_1, \qquad y = \mathrm{GELU}(h) \odot m\,s, \qquad
    \frac{\partial L}{\partial h} = \Big(\frac{\partial L}{\partial y} \odot m\,s\Big)
    \odot \mathrm{GELU}'(h), \qquad s = \frac{1}{1-p},

(without dropout, :math:`m\,s = 1`), with the same operations in the same order
as the layers, so the same bits (tested), and the layers' caches filled as their
own forwards fill them (their ``backward`` works as usual). For float32/float64
blocks the fused forward and backward are loops compiled by numba
(:mod:`wavelearn.nn.compiled`), the same operations again: the same bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wavelearn.backend import backend_of
from wavelearn.nn import compiled
from wavelearn.nn.layers import GELU, GELU_A, GELU_C, Dropout, Linear, gelu_and_slope
from wavelearn.nn.module import Module, make_rng
from wavelearn.nn.rowwise import by_row_blocks


class FeedForward(Module):
    r"""Transformer MLP: ``Linear(dim, hidden) -> GELU -> Dropout -> Linear(hidden, dim)``.

    .. math:: y = W_2\,\mathrm{drop}(\mathrm{GELU}(W_1 x + b_1)) + b_2

    Backward runs the four backwards in reverse order (GELU and dropout fused on
    NumPy arrays in training: the module docstring). ``rng`` seeds both linears
    and, after them, the dropout Generator.
    """

    def __init__(
        self,
        dim: int,
        hidden: int,
        dropout: float = 0.0,
        dtype: Any = None,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        rng = make_rng(rng)
        self.fc1 = Linear(dim, hidden, dtype=dtype, rng=rng)
        self.act = GELU()
        fc2 = Linear(hidden, dim, dtype=dtype, rng=rng)
        self.drop = Dropout(dropout, seed=int(rng.integers(2**63)), inplace=True)  # on GELU's y
        self.fc2 = fc2

    def forward(self, x: Any) -> Any:
        self.cache = {"fused": self._fusable(x)}
        if self.cache["fused"]:
            h = self.fc1.forward(x, add_bias=False)  # (..., hidden): x W1^T, bias added below
            h = self._bias_gelu_dropout(h)  # (..., hidden): one pass for all three
        else:
            h = self.fc1(x)  # (..., hidden)
            h = self.act(h)  # (..., hidden)
            h = self.drop(h)  # (..., hidden)
        return self.fc2(h)  # (..., dim)

    def backward(self, dy: Any) -> Any:
        dh = self.fc2.backward(dy)  # (..., hidden)
        if self.cache.get("fused"):
            dh = self._gelu_dropout_backward(dh)  # (..., hidden)
        else:
            dh = self.drop.backward(dh)  # (..., hidden)
            dh = self.act.backward(dh)  # (..., hidden)
        return self.fc1.backward(dh)  # (..., dim)

    def _fusable(self, x: Any) -> bool:
        """Fuse fc1's bias, GELU and dropout: in training, on a NumPy array, with GELU
        computed by its own formula (no backend kernel)."""
        return (self.act.training and isinstance(x, np.ndarray) and x.ndim >= 2
                and self.fc1.bias is not None and backend_of(x).gelu is None)

    def _bias_gelu_dropout(self, h: Any) -> Any:
        """``drop(act(h + b_1))`` for ``h = x W_1^T``, block of rows by block; fills the
        caches of GELU and dropout as their own forwards would."""
        width, bias = h.shape[-1], self.fc1.bias.data
        if self.drop.acts:
            keep, scale = self.drop.draw(h)  # (..., hidden) 0/1; the dropout cache
            masks = (keep.reshape(-1, width),)
        else:
            self.drop.cache, masks, scale = {"mask": None}, (), 1.0

        def rows(hb: Any, *kb: Any) -> tuple[Any, Any]:
            if compiled.available(hb, bias) and all(k.flags.c_contiguous for k in kb):
                # the same operations in the same order, as loops (the same bits)
                return compiled.bias_gelu_dropout(hb, bias, kb[0] if kb else None, scale,
                                                  GELU_C, GELU_A)
            hb = hb + bias  # fc1's bias, as Linear.forward adds it (into a block-sized
            # temporary: writing into h would send h back to memory once more)
            y, slope = gelu_and_slope(np, hb)  # GELU, as GELU.forward in training
            if kb:
                y *= kb[0]
                y *= scale  # dropout, as Dropout.forward with inplace=True
            return y, slope

        y, slope = by_row_blocks(rows, h.reshape(-1, width), *masks)  # (M, H) each
        self.act.cache = {"slope": slope.reshape(h.shape)}
        return y.reshape(h.shape)  # (..., hidden)

    def _gelu_dropout_backward(self, dy: Any) -> Any:
        """``act.backward(drop.backward(dy))``, block of rows by block."""
        slope = self.act.cache["slope"]
        width = slope.shape[-1]
        if self.drop.cache["mask"] is None:  # no dropout: GELU's backward alone
            return self.act.backward(dy)
        keep, scale = self.drop.cache["mask"], self.drop.cache["scale"]

        def rows(gb: Any, kb: Any, sb: Any) -> Any:
            if compiled.available(gb, sb) and kb.flags.c_contiguous:  # one loop
                return compiled.mask_scale_times(gb, kb, scale, sb)
            g = gb * kb
            g *= scale  # Dropout.backward
            g *= sb  # GELU.backward: dy * slope
            return g

        dx = by_row_blocks(rows, dy.reshape(-1, width), keep.reshape(-1, width),
                           slope.reshape(-1, width))  # (M, H)
        return dx.reshape(slope.shape)  # (..., hidden)
