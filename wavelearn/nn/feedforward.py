r"""The transformer MLP, ``Linear -> GELU -> Dropout -> Linear``, its elementwise part fused.

Each of the four layers is an explicit forward/backward pair
(:mod:`wavelearn.nn.layers`), and :class:`FeedForward` runs them in order. In
training, on NumPy arrays, the first layer's bias, GELU and dropout are
elementwise and act on the same ``(M, hidden)`` array: done one after the
other they read and write that array three times. Fused, each block of rows
(in the CPU cache, :func:`~wavelearn.nn.rowwise.each_row_block`) goes through
all three at once:

.. math::
    h = x W_1^\top + b_1, \qquad y = \mathrm{GELU}(h) \odot m\,s, \qquad
    \frac{\partial L}{\partial h} = \Big(\frac{\partial L}{\partial y} \odot m\,s\Big)
    \odot \mathrm{GELU}'(h), \qquad s = \frac{1}{1-p},

(without dropout, :math:`m\,s = 1`), with the same operations in the same order
as the layers, so the same bits (tested), and the layers' caches filled as their
own forwards fill them (their ``backward`` works as usual). The results are
written over the temporaries they come from -- :math:`y` over :math:`h`, the
gradient of :math:`h` over that of :math:`y` -- so a training step holds two
hidden-sized arrays per layer (:math:`y` and the slope), not three, and writes
no fresh one in backward: with the spectrans example's 12 layers of ``(16384,
3072)`` that is 2.4 GB less fresh memory per forward, which the kernel would
zero page by page (:mod:`wavelearn.memory`). For float32/float64
blocks the fused forward and backward are loops compiled by numba
(:mod:`wavelearn.nn.compiled`), the same operations again: the same bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wavelearn import buffers
from wavelearn.backend import backend_of
from wavelearn.nn import compiled
from wavelearn.nn.layers import GELU, GELU_A, GELU_C, Dropout, Linear, gelu_and_slope
from wavelearn.nn.module import Module, make_rng
from wavelearn.nn.rowwise import each_row_block


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
        for layer in (self.fc1, self.act, self.drop, self.fc2):
            layer.cache = {}  # the last step's first: its big arrays may serve this step's
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
        dx = self.fc1.backward(dh)  # (..., dim)
        buffers.give(dh)  # consumed: its memory may serve the next array (wavelearn.buffers)
        return dx

    def _fusable(self, x: Any) -> bool:
        """Fuse fc1's bias, GELU and dropout: in training, on arrays in the computer's
        memory that NumPy can read and write in place (``Backend.host_view``: NumPy
        arrays, and torch CPU tensors that autograd does not record -- on one thread the
        fused loops took 0.4 ns a value where torch's GELU took 2.2)."""
        backend = backend_of(x)
        return (self.act.training and x.ndim >= 2 and self.fc1.bias is not None
                and backend.host_view(x) is not None
                and backend.host_view(self.fc1.bias.data) is not None)

    def _bias_gelu_dropout(self, h: Any) -> Any:
        """``drop(act(h + b_1))`` for ``h = x W_1^T`` (a temporary of :meth:`forward`),
        block of rows by block, written over ``h``; fills the caches of GELU and dropout
        as their own forwards would."""
        backend = backend_of(h)
        host = backend.host_view  # NumPy arrays over the same memory
        width, bias = h.shape[-1], host(self.fc1.bias.data)
        h2 = host(h).reshape(-1, width)  # (M, H): y is written here, block by block
        slope = buffers.empty(h2.shape, h2.dtype)  # (M, H)
        if self.drop.acts:
            keep, scale = self.drop.draw(h)  # (..., hidden) 0/1; the dropout cache
            masks = (host(keep).reshape(-1, width),)
        else:
            self.drop.cache, masks, scale = {"mask": None}, (), 1.0

        def rows(hb: Any, sb: Any, *kb: Any) -> None:
            if compiled.available(hb, sb, bias) and all(k.flags.c_contiguous for k in kb):
                # the same operations in the same order, as loops (the same bits)
                compiled.bias_gelu_dropout(hb, bias, kb[0] if kb else None, scale,
                                           GELU_C, GELU_A, y=hb, slope=sb)
                return
            y, s = gelu_and_slope(np, hb + bias)  # fc1's bias, then GELU (as in training)
            if kb:
                y *= kb[0]
                y *= scale  # dropout, as Dropout.forward with inplace=True
            hb[...], sb[...] = y, s

        each_row_block(rows, h2, slope, *masks)
        self.act.cache = {"slope": backend.asarray(slope.reshape(h.shape))}  # (no copy)
        return backend.asarray(h2.reshape(h.shape))  # (..., hidden): now y

    def _gelu_dropout_backward(self, dy: Any) -> Any:
        """``act.backward(drop.backward(dy))``, block of rows by block, written over ``dy``
        (a temporary: fc2's backward made it)."""
        backend = backend_of(dy)
        host = backend.host_view  # NumPy arrays over the same memory
        slope = host(self.act.cache["slope"])
        width = slope.shape[-1]
        keep, scale = self.drop.cache["mask"], self.drop.cache.get("scale")
        keep = None if keep is None else host(keep)

        def rows(gb: Any, sb: Any, *kb: Any) -> None:
            if not kb:  # no dropout: GELU.backward alone, dy * slope
                gb *= sb
            elif compiled.available(gb, sb) and kb[0].flags.c_contiguous:  # one loop
                compiled.mask_scale_times(gb, kb[0], scale, sb, out=gb)
            else:
                g = gb * kb[0]
                g *= scale  # Dropout.backward
                g *= sb  # GELU.backward: dy * slope
                gb[...] = g

        dy2 = host(dy).reshape(-1, width)  # (M, H): fc2's backward made dy, a new array
        masks = () if keep is None else (keep.reshape(-1, width),)
        each_row_block(rows, dy2, slope.reshape(-1, width), *masks)
        return backend.asarray(dy2.reshape(slope.shape))  # (..., hidden)
