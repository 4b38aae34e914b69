r"""Positional encodings: how a wavelet transformer learns *where* a token is.

Wavelet mixing is (almost) shift-equivariant: moving the whole sequence moves
the output with it, so without extra information a model cannot tell the
first token from the tenth. A positional encoding mixes the position ``t``
into the embedding ``x[t] (D,)`` before the first block. Four choices:

* ``'sinusoidal'`` (:class:`SinusoidalPositionalEncoding`): add a fixed table,
  :math:`P[t, 2i] = \sin(t\,\omega_i)`, :math:`P[t, 2i+1] = \cos(t\,\omega_i)`
  with :math:`\omega_i = 10000^{-2i/D}` ("Attention Is All You Need").
  Nothing to learn; the backward pass is the identity.
* ``'learned'`` (:class:`LearnedPositionalEncoding`): add a trainable table
  ``(max_len, D)``, drawn :math:`\mathcal N(0, 0.02^2)` (BERT / GPT-2).
* ``'rotary'`` (:class:`RotaryPositionalEncoding`): *rotate* each channel pair
  ``(2i, 2i+1)`` by the angle :math:`t\,\omega_i` (RoFormer's RoPE).
* ``'none'`` (:class:`NoPositionalEncoding`): the identity.

Every class is a :class:`~wavelearn.nn.Module` with ``forward(x (B, N, D))``
and ``backward(dy) -> dx``; positions count from 0 at the first token, and
``N`` may not exceed ``max_len``. Tables are built with numpy in float64 and
moved to the active backend in the model dtype when the layer is created.

Why no ALiBi: ALiBi adds a distance penalty :math:`-m\,|t - s|` to the
*attention scores* between tokens ``t`` and ``s``. A wavelet transformer has
no attention scores (the wavelet mixer replaces attention), so there is
nothing for ALiBi to bias; :func:`make_positional_encoding` refuses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wavelearn.backend import array_namespace, check_same_backend, get_backend
from wavelearn.nn.module import Module, cast_to, make_rng, new_parameter, numpy_dtype

POSITIONAL_ENCODING_TYPES = ("sinusoidal", "learned", "rotary", "none")

ALIBI_MESSAGE = (
    "positional_encoding_type='alibi' is not available: ALiBi adds a distance penalty to "
    "attention scores, and a wavelet transformer has no attention scores (wavelet mixing "
    "replaces attention), so there is nothing for it to bias; use one of "
    + ", ".join(repr(k) for k in POSITIONAL_ENCODING_TYPES)
)


def check_positional_encoding_type(kind: Any) -> str:
    """Return ``kind`` if it is a supported encoding, else raise ValueError saying why not."""
    if kind == "alibi":
        raise ValueError(ALIBI_MESSAGE)
    if not isinstance(kind, str) or kind not in POSITIONAL_ENCODING_TYPES:
        raise ValueError(
            f"positional_encoding_type must be one of "
            f"{', '.join(repr(k) for k in POSITIONAL_ENCODING_TYPES)}; got {kind!r}"
        )
    return kind


def _frequencies(dim: int) -> np.ndarray:
    r""":math:`\omega_i = 10000^{-2i/D}` for ``i = 0 .. ceil(D/2) - 1``, float64."""
    return np.power(10000.0, -np.arange(0, dim, 2, dtype=np.float64) / dim)


def _angles(max_len: int, dim: int) -> np.ndarray:
    r"""The angle table :math:`\theta[t, i] = t\,\omega_i`, ``(max_len, ceil(D/2))``."""
    return np.arange(max_len, dtype=np.float64)[:, None] * _frequencies(dim)[None, :]


def sinusoidal_table(max_len: int, dim: int) -> np.ndarray:
    r"""The standard table: :math:`P[t, 2i] = \sin\theta_{t,i}`, :math:`P[t, 2i+1] =
    \cos\theta_{t,i}` (for odd ``D`` the last column is a sine). ``(max_len, D)`` float64."""
    theta = _angles(max_len, dim)  # (T, ceil(D/2))
    table = np.zeros((max_len, dim))
    table[:, 0::2] = np.sin(theta)
    table[:, 1::2] = np.cos(theta[:, : dim // 2])
    return table


class _PositionalBase(Module):
    """Length checks shared by the encodings."""

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        if max_len < 1 or dim < 1:
            raise ValueError(f"positional encoding: max_len and dim must be >= 1, "
                             f"got max_len={max_len}, dim={dim}")
        self.max_len, self.dim = max_len, dim

    def _check(self, x: Any) -> int:
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"{type(self).__name__}: expected x of shape (B, N, {self.dim}), "
                             f"got {tuple(x.shape)}")
        n = x.shape[1]
        if n > self.max_len:
            raise ValueError(f"{type(self).__name__}: sequence length {n} exceeds the "
                             f"max_len {self.max_len} of the table")
        return n


class NoPositionalEncoding(_PositionalBase):
    """The identity: ``y = x``, ``dx = dy`` (``'none'``)."""

    def forward(self, x: Any) -> Any:
        self._check(x)
        return x

    def backward(self, dy: Any) -> Any:
        return dy


class SinusoidalPositionalEncoding(_PositionalBase):
    r"""``y[b, t] = x[b, t] + P[t]`` with the fixed table of :func:`sinusoidal_table`.

    The table is a plain array (not a parameter, so not in the state dict);
    the backward pass is the identity, :math:`\partial L/\partial x = dy`.
    """

    def __init__(self, max_len: int, dim: int, dtype: Any = None) -> None:
        super().__init__(max_len, dim)
        self.table = get_backend().asarray(sinusoidal_table(max_len, dim),
                                           dtype=numpy_dtype(dtype))  # (T, D)

    def forward(self, x: Any) -> Any:
        n = self._check(x)
        check_same_backend(x, self.table)
        return cast_to(x, self.table.dtype) + self.table[:n]  # (B, N, D)

    def backward(self, dy: Any) -> Any:
        return dy


class LearnedPositionalEncoding(_PositionalBase):
    r"""``y[b, t] = x[b, t] + W[t]``, ``W (max_len, D)`` trainable, :math:`\mathcal N(0, 0.02^2)`.

    Backward: :math:`\partial L/\partial x = dy` and
    :math:`\partial L/\partial W[t] = \sum_b dy[b, t]` for ``t < N`` (zero for
    the rows past the sequence).
    """

    def __init__(self, max_len: int, dim: int, dtype: Any = None,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__(max_len, dim)
        self.weight = new_parameter(make_rng(rng).normal(0.0, 0.02, (max_len, dim)), dtype)

    def forward(self, x: Any) -> Any:
        n = self._check(x)
        check_same_backend(x, self.weight.data)
        self.cache = {"n": n}
        return cast_to(x, self.weight.dtype) + self.weight.data[:n]  # (B, N, D)

    def backward(self, dy: Any) -> Any:
        xp = array_namespace(dy, self.weight.data)
        n = self.cache["n"]
        dw = xp.zeros_like(self.weight.data)  # (T, D)
        dw[:n] = xp.sum(cast_to(dy, self.weight.dtype), axis=0)  # (N, D)
        self.weight.accumulate_grad(dw)
        return dy  # (B, N, D)


class RotaryPositionalEncoding(_PositionalBase):
    r"""RoPE on the embeddings: rotate channel pair ``(2i, 2i+1)`` of token ``t`` by
    :math:`\theta_{t,i} = t\,10000^{-2i/D}`:

    .. math::
        \begin{pmatrix} y_{2i} \\ y_{2i+1} \end{pmatrix} =
        \begin{pmatrix} \cos\theta & -\sin\theta \\ \sin\theta & \cos\theta \end{pmatrix}
        \begin{pmatrix} x_{2i} \\ x_{2i+1} \end{pmatrix}.

    In an attention model RoPE rotates queries and keys so that their dot
    product depends only on the *offset* ``t - s``. This model has no attention
    scores, so here RoPE is simply a position-dependent rotation of each
    embedding: it keeps every token's norm and marks its position in the
    phases of the channel pairs, which the mixer and the FFN can then use.

    The map is orthogonal, so the backward pass is the inverse (= transposed)
    rotation, by :math:`-\theta`. Needs an even ``D`` (ValueError otherwise).
    """

    def __init__(self, max_len: int, dim: int, dtype: Any = None) -> None:
        if dim % 2:
            raise ValueError(f"rotary positional encoding rotates channel pairs (2i, 2i+1), "
                             f"so hidden_dim must be even; got {dim}")
        super().__init__(max_len, dim)
        theta = _angles(max_len, dim)  # (T, D/2)
        backend, dt = get_backend(), numpy_dtype(dtype)
        self.cos = backend.asarray(np.cos(theta), dtype=dt)  # (T, D/2)
        self.sin = backend.asarray(np.sin(theta), dtype=dt)  # (T, D/2)

    def _rotate(self, x: Any, sign: float) -> Any:
        """Rotate every pair by ``sign * theta``: ``sign=+1`` forward, ``-1`` backward."""
        xp = array_namespace(x, self.cos)
        n = x.shape[1]
        cos, sin = self.cos[:n], sign * self.sin[:n]  # (N, D/2)
        even, odd = x[..., 0::2], x[..., 1::2]  # (B, N, D/2) each
        y_even = even * cos - odd * sin  # (B, N, D/2)
        y_odd = even * sin + odd * cos  # (B, N, D/2)
        return xp.reshape(xp.stack([y_even, y_odd], axis=-1), tuple(x.shape))  # (B, N, D)

    def forward(self, x: Any) -> Any:
        self._check(x)
        check_same_backend(x, self.cos)
        return self._rotate(cast_to(x, self.cos.dtype), 1.0)

    def backward(self, dy: Any) -> Any:
        return self._rotate(cast_to(dy, self.cos.dtype), -1.0)


def make_positional_encoding(
    kind: str,
    max_len: int,
    dim: int,
    dtype: Any = None,
    rng: np.random.Generator | int | None = None,
) -> Module:
    """The encoding named ``kind`` (see :data:`POSITIONAL_ENCODING_TYPES`).

    Raises:
        ValueError: an unknown kind, ``'alibi'`` (with the reason it does not
            apply here), or ``'rotary'`` with an odd ``dim``.
    """
    kind = check_positional_encoding_type(kind)
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding(max_len, dim, dtype)
    if kind == "learned":
        return LearnedPositionalEncoding(max_len, dim, dtype, rng)
    if kind == "rotary":
        return RotaryPositionalEncoding(max_len, dim, dtype)
    return NoPositionalEncoding(max_len, dim)
