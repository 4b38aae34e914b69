r"""The decoder as a recurrent model: its streaming state and the helpers of ``generate``.

:class:`~wavelearn.models.WaveletDecoder` mixes with a causal *à trous* bank
whose filters have a finite reach into the past, and everything else in a
block works token by token. So the logits of a new token need, per block and
level :math:`j`, only the last :math:`R_j = (F-1)\,2^{j-1}` values of the
band :math:`a_{j-1}` (:mod:`wavelearn.dwt.causal`), never the whole context::

    state = model.init_state(batch_size)            # empty: no token yet
    logits, state = model.step(prompt_ids, state)   # (B, n) -> (B, n, V): prefill
    logits, state = model.step(next_ids, state)     # (B,)   -> (B, V): one token

Each step costs the same at any context length, and its logits equal those
of the full forward pass at the same positions (to rounding; the tests check
1e-12 in float64 and 1e-5 in float32).

**Memory.** Per block the state holds one ring buffer ``(B, R_j, D)`` per
level, in all

.. math::
    B \cdot D \cdot (F - 1)(2^J - 1) \cdot \text{itemsize} \ \text{bytes},

with :math:`F` the taps of the causal lowpass (2 for 'haar', 8 for 'db4';
trailing zeros excluded, :func:`~wavelearn.dwt.causal.filter_taps`) and
:math:`J` the levels; plus 8 bytes of position per sequence. Nothing depends
on the context length. D = 128, 'db4', J = 2, float32: 10,752 bytes per block
and sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from wavelearn.backend import array_namespace, backend_of, to_numpy


@dataclass
class DecoderState:
    """What a :class:`~wavelearn.models.WaveletDecoder` remembers between steps.

    Attributes:
        positions: ``(B,)`` int64 NumPy array, the tokens each row has consumed
            (= the position of its next token).
        layers: per block, the ring buffers of its mixer, ``(B, R_j, D)`` per
            level (:func:`~wavelearn.dwt.causal.init_history`).

    :meth:`~wavelearn.models.WaveletDecoder.step` updates the state *in place*
    (and returns it); :meth:`copy` branches it (e.g. to try two continuations).
    """

    positions: np.ndarray
    layers: list

    @property
    def batch_size(self) -> int:
        return int(self.positions.shape[0])

    def layer_nbytes(self, index: int) -> int:
        """Bytes of block ``index``'s buffers: ``B D (F-1)(2^J-1) itemsize``."""
        return sum(int(ring.nbytes) for ring in self.layers[index])

    @property
    def nbytes(self) -> int:
        """All the state's bytes: every block's buffers and the positions."""
        return sum(self.layer_nbytes(i) for i in range(len(self.layers))) + self.positions.nbytes

    def copy(self) -> DecoderState:
        """An independent copy (the buffers are copied, not shared)."""
        layers = [[array_namespace(r).asarray(r, copy=True) for r in rings]
                  for rings in self.layers]
        return DecoderState(self.positions.copy(), layers)


def step_lengths(attention_mask: Any, shape: tuple[int, int]) -> np.ndarray | None:
    """Real new tokens per row of a right-padded ``(B, n)`` mask of 0/1 (rows may be
    all padding: that row does not advance); None without a mask or padding."""
    if attention_mask is None:
        return None
    m = to_numpy(attention_mask)
    if m.shape != shape:
        raise ValueError(f"step: attention_mask must have the shape of token_ids {shape}, "
                         f"got {m.shape}")
    if not np.all((m == 0) | (m == 1)):
        raise ValueError("step: attention_mask must hold only 0 (padding) and 1 (real token)")
    m = m.astype(bool)
    if np.any(m[:, 1:] & ~m[:, :-1]):
        raise ValueError("step: attention_mask must be right-padded (each row ones, then zeros)")
    lengths = m.sum(axis=1).astype(np.int64)
    return None if np.all(lengths == shape[1]) else lengths


def as_prompts(input_ids: Any) -> tuple[list[np.ndarray], bool]:
    """The prompts of ``generate`` as NumPy int64 rows, and whether they came as a list.

    ``input_ids``: a ``(B, N)`` array (rows of equal length) or a list of 1-D
    arrays / int sequences (lengths may differ, each >= 1).
    """
    if isinstance(input_ids, (list, tuple)):
        rows = [np.asarray(to_numpy(p) if hasattr(p, "shape") else p) for p in input_ids]
        if not rows or any(r.ndim != 1 or r.size < 1 for r in rows):
            raise ValueError("generate: a list of prompts must hold 1-D arrays of >= 1 token")
        return [r.astype(np.int64) for r in rows], True
    if getattr(input_ids, "ndim", None) != 2 or input_ids.shape[1] < 1:
        raise ValueError("generate: input_ids must be a (B, N) array with N >= 1, or a list "
                         "of 1-D prompts (of any lengths)")
    return list(to_numpy(input_ids).astype(np.int64)), False


def right_pad(prompts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(ids (B, L_max), lengths (B,))``: the prompts right-padded with token 0."""
    lengths = np.array([p.size for p in prompts], dtype=np.int64)
    ids = np.zeros((len(prompts), int(lengths.max())), dtype=np.int64)
    for b, p in enumerate(prompts):
        ids[b, : p.size] = p
    return ids, lengths


def like_prompt(prompt: Any, tokens: np.ndarray) -> Any:
    """``tokens`` (1-D) on the backend and in the dtype of ``prompt`` when it is an array."""
    if hasattr(prompt, "shape") and hasattr(prompt, "dtype"):
        xp = array_namespace(prompt)
        return xp.astype(backend_of(prompt).asarray(tokens), prompt.dtype)
    return tokens
