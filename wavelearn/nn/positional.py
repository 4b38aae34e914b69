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

**Streaming** (:meth:`~wavelearn.models.WaveletDecoder.step`) encodes tokens at
given positions, ``at_positions(x (B, n, D), positions (B, n))``. Past the
table (``position >= max_len``): the sinusoidal and rotary encodings are
formulas of ``t``, so their entries are computed on the fly and generation
goes on (``extrapolates = True``; the model never saw those positions in
training, so quality may drop). A learned table has no row there: it raises
a ValueError (``extrapolates = False``). No encoding ever shifts positions.

Why no ALiBi: ALiBi adds a distance penalty :math:`-m\,|t - s|` to the
*attention scores* between tokens ``t`` and ``s``. A wavelet transformer has
no attention scores (the wavelet mixer replaces attention), so there is
nothing for ALiBi to bias; :func:`make_positional_encoding` refuses it.
"""

from __future__ import annotations

from operator import add
from typing import Any

import numpy as np

from wavelearn import buffers
from wavelearn.backend import array_namespace, backend_of, check_same_backend, get_backend
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


def _angles(positions: np.ndarray, dim: int) -> np.ndarray:
    r"""The angles :math:`\theta[t, i] = t\,\omega_i` of integer ``positions (...)``:
    ``(..., ceil(D/2))`` float64."""
    return np.asarray(positions, dtype=np.float64)[..., None] * _frequencies(dim)


def sinusoidal_rows(positions: np.ndarray, dim: int) -> np.ndarray:
    r"""The sinusoidal encoding of any integer ``positions (...)``: :math:`P[t, 2i] =
    \sin\theta_{t,i}`, :math:`P[t, 2i+1] = \cos\theta_{t,i}` (for odd ``D`` the last
    column is a sine). ``(..., D)`` float64."""
    theta = _angles(positions, dim)  # (..., ceil(D/2))
    rows = np.zeros((*theta.shape[:-1], dim))
    rows[..., 0::2] = np.sin(theta)
    rows[..., 1::2] = np.cos(theta[..., : dim // 2])
    return rows


def sinusoidal_table(max_len: int, dim: int) -> np.ndarray:
    """The standard table, the rows of positions ``0 .. max_len - 1``: ``(max_len, D)``."""
    return sinusoidal_rows(np.arange(max_len), dim)


class _PositionalBase(Module):
    """Length checks shared by the encodings."""

    extrapolates = True
    """Whether :meth:`at_positions` accepts positions ``>= max_len`` (module docstring)."""

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

    def _check_positions(self, x: Any, positions: np.ndarray) -> np.ndarray:
        """``positions (B, n)`` as int64, checked against ``x (B, n, D)``."""
        positions = np.asarray(positions)
        if x.ndim != 3 or x.shape[-1] != self.dim or tuple(x.shape[:2]) != positions.shape:
            raise ValueError(f"{type(self).__name__}: expected x (B, n, {self.dim}) and "
                             f"positions (B, n), got {tuple(x.shape)} and {positions.shape}")
        if positions.size and positions.min() < 0:
            raise ValueError(f"{type(self).__name__}: positions must be >= 0, "
                             f"got {int(positions.min())}")
        return positions.astype(np.int64)

    def _table_rows(self, table: Any, positions: np.ndarray, formula: Any) -> Any:
        """``table[positions]`` inside the table; past it, the whole chunk from ``formula``
        (the float64 function the table was built with), in the table's dtype."""
        if positions.size == 0 or positions.max() < self.max_len:
            idx = positions if isinstance(table, np.ndarray) else backend_of(table).asarray(
                positions)
            return table[idx]  # (B, n, ...)
        return cast_to(backend_of(table).asarray(formula(positions)), table.dtype)


class NoPositionalEncoding(_PositionalBase):
    """The identity: ``y = x``, ``dx = dy`` (``'none'``)."""

    def forward(self, x: Any) -> Any:
        self._check(x)
        return x

    def at_positions(self, x: Any, positions: np.ndarray) -> Any:
        """Streaming: the identity, at any position."""
        self._check_positions(x, positions)
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
        return buffers.combine(add, cast_to(x, self.table.dtype), self.table[:n])  # (B, N, D)

    def at_positions(self, x: Any, positions: np.ndarray) -> Any:
        """Streaming: ``x[b, k] + P[positions[b, k]]``; rows past the table are
        computed on the fly (:func:`sinusoidal_rows`), so any position works."""
        positions = self._check_positions(x, positions)
        check_same_backend(x, self.table)
        rows = self._table_rows(self.table, positions,
                                lambda p: sinusoidal_rows(p, self.dim))  # (B, n, D)
        return cast_to(x, self.table.dtype) + rows

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
        x = cast_to(x, self.weight.dtype)  # (B, N, D)
        return buffers.combine(add, x, self.weight.data[:n])  # (B, N, D)

    extrapolates = False

    def at_positions(self, x: Any, positions: np.ndarray) -> Any:
        """Streaming: ``x[b, k] + W[positions[b, k]]`` (no cache: inference only).

        Raises:
            ValueError: a position ``>= max_len``: the table has no row for it.
                It is never wrapped or shifted; generate at most ``max_len``
                tokens per sequence, or use a sinusoidal / rotary encoding.
        """
        positions = self._check_positions(x, positions)
        check_same_backend(x, self.weight.data)
        if positions.size and positions.max() >= self.max_len:
            raise ValueError(
                f"learned positional encoding: position {int(positions.max())} does not "
                f"exist, the table has max_sequence_length = {self.max_len} rows (positions "
                f"0..{self.max_len - 1}); a sequence of a model with learned positions cannot "
                f"grow past {self.max_len} tokens (positions are never shifted); use "
                f"'sinusoidal' or 'rotary' encodings to generate further")
        rows = self._table_rows(self.weight.data, positions, None)  # (B, n, D)
        return cast_to(x, self.weight.dtype) + rows

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
        theta = _angles(np.arange(max_len), dim)  # (T, D/2)
        backend, dt = get_backend(), numpy_dtype(dtype)
        self.cos = backend.asarray(np.cos(theta), dtype=dt)  # (T, D/2)
        self.sin = backend.asarray(np.sin(theta), dtype=dt)  # (T, D/2)

    def _rotate(self, x: Any, cos: Any, sin: Any) -> Any:
        """Rotate each pair of ``x (B, N, D)`` by the angles of ``cos, sin`` ``(N or B N, D/2)``."""
        xp = array_namespace(x, self.cos)
        even, odd = x[..., 0::2], x[..., 1::2]  # (B, N, D/2) each
        y_even = even * cos - odd * sin  # (B, N, D/2)
        y_odd = even * sin + odd * cos  # (B, N, D/2)
        return xp.reshape(xp.stack([y_even, y_odd], axis=-1), tuple(x.shape))  # (B, N, D)

    def forward(self, x: Any) -> Any:
        n = self._check(x)
        check_same_backend(x, self.cos)
        return self._rotate(cast_to(x, self.cos.dtype), self.cos[:n], self.sin[:n])

    def at_positions(self, x: Any, positions: np.ndarray) -> Any:
        """Streaming: rotate token ``(b, k)`` by the angles of ``positions[b, k]``;
        past the table the angles are computed on the fly, so any position works."""
        positions = self._check_positions(x, positions)
        check_same_backend(x, self.cos)
        cos = self._table_rows(self.cos, positions, lambda p: np.cos(_angles(p, self.dim)))
        sin = self._table_rows(self.sin, positions, lambda p: np.sin(_angles(p, self.dim)))
        return self._rotate(cast_to(x, self.cos.dtype), cos, sin)  # (B, n, D)

    def backward(self, dy: Any) -> Any:
        n = dy.shape[1]
        return self._rotate(cast_to(dy, self.cos.dtype), self.cos[:n], -self.sin[:n])


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
