r"""The pre-norm wavelet transformer block.

.. math::
    h = x + \mathrm{drop}_1\big(\mathrm{Mix}(\mathrm{LN}_1(x))\big), \qquad
    y = h + \mathrm{drop}_2\big(\mathrm{FFN}(\mathrm{LN}_2(h))\big),

with :math:`\mathrm{FFN}(u) = W_2\,\mathrm{drop}(\mathrm{GELU}(W_1 u + b_1)) + b_2`
(GELU in its tanh form). Exactly one residual connection per sub-layer. The
backward pass runs the chain in reverse; each residual adds the gradient that
skips the sub-layer to the gradient through it:

.. math::
    \bar h = \bar y + \mathrm{LN}_2^\top\mathrm{FFN}^\top\mathrm{drop}_2^\top \bar y, \qquad
    \bar x = \bar h + \mathrm{LN}_1^\top\mathrm{Mix}^\top\mathrm{drop}_1^\top \bar h.

**Padding** (``lengths``). Everything but the mixer works token by token, so
padded positions cannot reach real ones through it. The mixer looks along the
sequence, so with right-padded rows of real lengths ``L_b`` the block runs it
once per *group* of rows sharing a length ``L``, on ``u[rows, :L]``, and puts
zeros at the padded positions of its output. Each group's mixing cache is kept
and put back into ``mixing.cache`` before that group's backward.

**Gradient checkpointing** (``checkpoint=True``). The forward keeps only the
block input (and the dropout generators' states from before the forward);
the backward restores those states, recomputes the forward -- drawing the same
dropout masks -- and then runs the ordinary backward. Same gradients, less
memory, one extra forward per block.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from array_api_compat import device as device_of

from wavelearn import buffers
from wavelearn.backend import array_namespace, backend_of
from wavelearn.nn import compiled
from wavelearn.nn.feedforward import FeedForward
from wavelearn.nn.layers import Dropout, LayerNorm
from wavelearn.nn.mixing import CausalWaveletMixing, WaveletMixing
from wavelearn.nn.module import Module, make_rng, may_overwrite
from wavelearn.nn.rowwise import each_row_block


def length_groups(lengths: list[int] | None, n: int) -> list[tuple[int, list[int]]]:
    """``[(L, rows), ...]``: the rows of each distinct real length, longest first.

    ``lengths=None`` (no padding) is one group of every row at length ``n``;
    rows are listed in batch order.
    """
    if lengths is None:
        return [(n, [])]
    groups: dict[int, list[int]] = {}
    for row, length in enumerate(lengths):
        groups.setdefault(int(length), []).append(row)
    return sorted(groups.items(), key=lambda item: -item[0])


class WaveletBlock(Module):
    """One pre-norm block: ``x (B, N, D) -> y (B, N, D)`` (formulas in the module docstring).

    Args:
        hidden_dim: ``D``. ffn_hidden_dim: ``H``, the FFN width.
        mixing: the token mixer, a module ``(B, N, D) -> (B, N, D)`` with
            forward/backward (``WaveletMixing`` or ``CausalWaveletMixing``).
        dropout: the probability of all three dropouts.
        norm_eps: ``eps`` of both LayerNorms.
        checkpoint: gradient checkpointing (see the module docstring).
        rng: seeds the FFN weights and the dropout generators.

    Parameter names: ``ln1.*``, ``mixing.weight``, ``ln2.*``, ``ffn.fc1.*``, ``ffn.fc2.*``.
    """

    def __init__(self, hidden_dim: int, ffn_hidden_dim: int, mixing: Module,
                 dropout: float = 0.0, norm_eps: float = 1e-12, dtype: Any = None,
                 checkpoint: bool = False,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        rng = make_rng(rng)
        self.ln1 = LayerNorm(hidden_dim, eps=norm_eps, dtype=dtype)
        self.mixing = mixing
        # wavelearn's mixers return a new array that nothing else keeps: dropout and the
        # residual add may overwrite it (a mixer of your own may cache its output)
        self.own_mixer = isinstance(mixing, (WaveletMixing, CausalWaveletMixing))
        self.drop1 = Dropout(dropout, seed=int(rng.integers(2**63)), inplace=self.own_mixer)
        self.ln2 = LayerNorm(hidden_dim, eps=norm_eps, dtype=dtype)
        self.ffn = FeedForward(hidden_dim, ffn_hidden_dim, dropout, dtype=dtype, rng=rng)
        self.drop2 = Dropout(dropout, seed=int(rng.integers(2**63)), inplace=True)  # FFN's y
        self.checkpoint = checkpoint

    # -- the token mixer, per group of equal real lengths --------------------------------

    def _mix_forward(self, u: Any, lengths: list[int] | None) -> Any:
        """``Mix(u)`` row group by row group; zeros at padded positions. ``u (B, N, D)``."""
        xp = array_namespace(u)
        B, N, D = u.shape
        groups = length_groups(lengths, N)
        if len(groups) == 1 and groups[0][0] == N:
            out = self.mixing(u)  # (B, N, D): no padding anywhere
            self.cache["mix_caches"] = [self.mixing.cache]
            return out
        caches, pieces = [], [None] * B
        for length, rows in groups:
            ug = xp.concat([u[r:r + 1, :length] for r in rows], axis=0)  # (b, L, D)
            yg = self._pad(xp, self.mixing(ug), N)  # (b, N, D)
            caches.append(self.mixing.cache)
            for i, r in enumerate(rows):
                pieces[r] = yg[i:i + 1]
        self.cache["mix_caches"] = caches
        return xp.concat(pieces, axis=0)  # (B, N, D)

    def _mix_backward(self, dy: Any, lengths: list[int] | None) -> Any:
        """Adjoint of :meth:`_mix_forward`: each group's gradient through its own cache."""
        xp = array_namespace(dy)
        B, N, D = dy.shape
        groups, caches = length_groups(lengths, N), self.cache["mix_caches"]
        if len(groups) == 1 and groups[0][0] == N:
            self.mixing.cache = caches[0]
            return self.mixing.backward(dy)  # (B, N, D)
        pieces = [None] * B
        for (length, rows), cache in zip(groups, caches, strict=True):
            dg = xp.concat([dy[r:r + 1, :length] for r in rows], axis=0)  # (b, L, D)
            self.mixing.cache = cache
            dxg = self._pad(xp, self.mixing.backward(dg), N)  # (b, N, D)
            for i, r in enumerate(rows):
                pieces[r] = dxg[i:i + 1]
        return xp.concat(pieces, axis=0)  # (B, N, D)

    @staticmethod
    def _pad(xp: Any, y: Any, n: int) -> Any:
        """``y (b, L, D)`` followed by zeros up to length ``n``: ``(b, n, D)``."""
        b, length, d = y.shape
        if length == n:
            return y
        zeros = xp.zeros((b, n - length, d), dtype=y.dtype, device=device_of(y))
        return xp.concat([y, zeros], axis=1)

    # -- forward / backward --------------------------------------------------------------

    def _forward(self, x: Any, lengths: list[int] | None) -> Any:
        u = self.ln1(x)  # (B, N, D)
        h = self._mix_forward(u, lengths)  # (B, N, D)
        buffers.give(u)  # consumed: its memory may serve the next array (wavelearn.buffers)
        h = _dropout_residual(self.drop1, h, x, self.own_mixer)  # (B, N, D)
        y = self.ffn(self.ln2(h))  # (B, N, D)
        y = _dropout_residual(self.drop2, y, h, True)  # h + drop(y): the FFN's y is new
        buffers.give(h)
        return y


    def forward(self, x: Any, lengths: list[int] | None = None) -> Any:
        """``y = block(x)``; ``lengths``: real length of each right-padded row, or None."""
        self.cache = {}
        if not self.checkpoint:
            y = self._forward(x, lengths)
            self.cache.update(lengths=lengths)
            return y
        before = self._rng_states()
        y = self._forward(x, lengths)
        for m in self.modules():
            m.cache = {}
        self.cache = {"x": x, "lengths": lengths, "rng_before": before}
        return y

    def backward(self, dy: Any) -> Any:
        """``dx`` from ``dy (B, N, D)``; adds every parameter gradient of the block."""
        lengths = self.cache["lengths"]
        if self.checkpoint:
            after = self._rng_states()
            self._set_rng_states(self.cache["rng_before"])
            x = self.cache["x"]
            self.cache = {}
            self._forward(x, lengths)  # recompute, with the same dropout masks
            self._set_rng_states(after)
        dh = _plus(self.ln2.backward(_consumed(self.ffn.backward, self.drop2.backward(dy))),
                   dy)  # (B, N, D): dy + LN2^T FFN^T drop2^T dy
        dmix = _consumed(self._mix_backward, self.drop1.backward(dh), lengths)  # (B, N, D)
        dx = _plus(_consumed(self.ln1.backward, dmix), dh)  # (B, N, D)
        buffers.give(dh)
        if self.checkpoint:  # drop the recomputed caches: only one block holds them at a time
            for m in self.modules():
                m.cache = {}
        return dx

    # -- streaming (inference) -----------------------------------------------------------

    def init_state(self, batch_size: int) -> Any:
        """The block's streaming state: its mixer's (everything else works token by
        token and keeps nothing); needs a mixer with ``init_state``/``step``
        (:class:`~wavelearn.nn.mixing.CausalWaveletMixing`)."""
        if not hasattr(self.mixing, "step"):
            raise TypeError(f"{type(self.mixing).__name__} cannot stream (it is not causal); "
                            "only blocks of CausalWaveletMixing have a step")
        return self.mixing.init_state(batch_size)

    def step(self, x: Any, state: Any, positions: np.ndarray,
             lengths: np.ndarray | None = None) -> Any:
        """``y (B, n, D)`` at ``n`` new positions, as :meth:`forward` in eval mode (no
        dropout, whatever ``self.training`` says): the same formulas, with the mixer
        continuing from ``state`` (updated in place; see ``CausalWaveletMixing.step``)."""
        h = x + self.mixing.step(self.ln1(x), state, positions, lengths)  # (B, n, D)
        ffn = self.ffn
        return h + ffn.fc2(ffn.act(ffn.fc1(self.ln2(h))))  # (B, n, D): FFN without dropout

    # -- dropout generator states (for checkpointing) ------------------------------------

    def _dropouts(self) -> list[Dropout]:
        return [m for m in self.modules() if isinstance(m, Dropout)]

    def _rng_states(self) -> list[dict]:
        return [copy.deepcopy(d.rng.bit_generator.state) for d in self._dropouts()]

    def _set_rng_states(self, states: list[dict]) -> None:
        for d, state in zip(self._dropouts(), states, strict=True):
            d.rng.bit_generator.state = copy.deepcopy(state)


def _dropout_residual(drop: Dropout, branch: Any, x: Any, temporary: bool) -> Any:
    r""":math:`x + \mathrm{drop}(b)` for the branch ``b`` of a sub-layer. Where dropout acts
    on a temporary of the block's own layers in the computer's memory (a NumPy array, a
    torch CPU tensor: ``Backend.host_view``), both go block of rows by block in one pass
    over memory, written over ``b``: :math:`b \leftarrow b \odot m\,s + x`, the operations
    of ``drop`` (``inplace``) then :func:`_residual`, in their order (the same bits,
    tested); else the two one after the other."""
    backend = backend_of(branch)
    bh = backend.host_view(branch) if drop.acts and temporary and drop.inplace else None
    xh = backend.host_view(x) if bh is not None and backend.owns(x) else None
    fusable = (xh is not None and bh.ndim >= 2 and bh.flags.c_contiguous
               and xh.flags.c_contiguous and bh.dtype == xh.dtype and bh.shape == xh.shape)
    if not fusable:
        return _residual(drop(branch), x, temporary)
    keep, scale = drop.draw(branch)  # (B, N, D) 0/1; the dropout's cache

    def rows(bb: Any, kb: Any, xb: Any) -> None:
        if compiled.available(bb, xb):  # the same three operations as one loop
            compiled.mask_scale_plus(bb, kb, scale, xb)
            return
        bb *= kb
        bb *= scale  # Dropout.forward, inplace
        bb += xb  # _residual

    d, kh = bh.shape[-1], backend.host_view(keep)
    each_row_block(rows, bh.reshape(-1, d), kh.reshape(-1, d), xh.reshape(-1, d))
    return branch  # (B, N, D): written in place


def _consumed(backward: Any, dy: Any, *args: Any) -> Any:
    """``backward(dy, *args)``; then ``dy``, consumed, goes to the pool of
    :mod:`wavelearn.buffers` (only if nothing else refers to it: a gradient that a
    dropout passed through unchanged, say, stays with whoever holds it)."""
    dx = backward(dy, *args)
    buffers.give(dy)
    return dx


def _plus(g: Any, dy: Any) -> Any:
    """``dy + g`` for ``g``, the fresh gradient of one of the block's own layers (a
    LayerNorm's), written over ``g``: no new array (the same bits: ``+`` commutes)."""
    g += dy
    return g


def _residual(branch: Any, x: Any, temporary: bool) -> Any:
    """``x + branch``, written over ``branch`` when it is a temporary of the block's own
    layers (one activation-sized array less to write per residual)."""
    same = branch.dtype == x.dtype and tuple(branch.shape) == tuple(x.shape)
    if temporary and same and may_overwrite(branch):
        branch += x
        return branch
    return x + branch
