"""Layers with hand-written forward and backward passes.

Every layer follows the same contract (see :mod:`wavelearn.nn.module`):
``forward(x)`` stores what it needs in ``self.cache``; ``backward(dy)`` returns
``dx`` and *adds* parameter gradients into ``param.grad``. Parameters are drawn
with a numpy Generator and moved to the active backend, so numpy, cupy and
torch start from identical values for the same seed. Inputs whose dtype differs
from the parameters' are cast to the parameter dtype (float32 by default).

Notation: ``B, N`` are leading (batch, sequence) dims, any number of them is
allowed; ``D`` is the feature dim; ``M`` is the number of rows after flattening
the leading dims.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import device as device_of

from wavelearn import buffers
from wavelearn.backend import array_namespace, backend_of, check_same_backend
from wavelearn.nn import compiled
from wavelearn.nn.module import Module, cast_to, make_rng, may_overwrite, new_parameter
from wavelearn.nn.rowwise import by_row_blocks, column_sums, each_row_block


class Linear(Module):
    r"""Affine map over the last dim: :math:`y = x W^\top + b`.

    Shapes: ``x (..., in_features) -> y (..., out_features)``,
    ``weight (out_features, in_features)``, ``bias (out_features,)``.

    Initialisation as ``torch.nn.Linear``: :math:`W, b \sim U(-k, k)`,
    :math:`k = 1/\sqrt{\text{in\_features}}`.

    Backward, with the leading dims flattened to ``M`` rows:

    .. math::
        \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} W, \quad
        \frac{\partial L}{\partial W} = \Big(\frac{\partial L}{\partial y}\Big)^\top x, \quad
        \frac{\partial L}{\partial b} = \sum_{m} \frac{\partial L}{\partial y_m}.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: Any = None,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        rng = make_rng(rng)
        k = 1.0 / math.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = new_parameter(rng.uniform(-k, k, (out_features, in_features)), dtype)
        self.bias = new_parameter(rng.uniform(-k, k, (out_features,)), dtype) if bias else None

    def forward(self, x: Any, add_bias: bool = True) -> Any:
        """``y = x W^T + b``; ``add_bias=False`` leaves ``+ b`` to the caller (a fused
        elementwise pass of :class:`~wavelearn.nn.FeedForward`); backward is the same."""
        backend = check_same_backend(x, self.weight.data)
        xp = backend.xp
        x = cast_to(x, self.weight.dtype)  # (..., in)
        x2 = xp.reshape(x, (-1, self.in_features))  # (M, in): one 2-D product for BLAS
        w = self.weight.data
        out = (buffers.empty((x2.shape[0], w.shape[0]), w.dtype)  # a dropped cache's memory,
               if isinstance(x2, np.ndarray) else None)  # if one fits (NumPy)
        y = backend.matmul(x2, w.T, out=out)  # (M, out)
        if self.bias is not None and add_bias:
            y += self.bias.data  # (M, out), in place: no second (M, out) array
        self.cache = {"x": x}
        return xp.reshape(y, (*x.shape[:-1], self.out_features))  # (..., out)

    def backward(self, dy: Any) -> Any:
        backend = check_same_backend(dy, self.weight.data)
        xp = backend.xp
        dy = cast_to(dy, self.weight.dtype)  # (..., out)
        x = self.cache["x"]  # (..., in)
        dy2 = xp.reshape(dy, (-1, self.out_features))  # (M, out)
        x2 = xp.reshape(x, (-1, self.in_features))  # (M, in)
        self.weight.accumulate_grad(backend.matmul(dy2.T, x2))  # (out, in)
        if self.bias is not None:
            self.bias.accumulate_grad(column_sums(xp, dy2))  # (out,)
        out = (buffers.empty((dy2.shape[0], self.in_features), dy2.dtype)  # pooled memory,
               if isinstance(dy2, np.ndarray) else None)  # as forward's output (NumPy)
        dx = backend.matmul(dy2, self.weight.data, out=out)  # (M, in)
        return xp.reshape(dx, tuple(x.shape))  # (..., in)


class LayerNorm(Module):
    r"""Normalise over the last dim, then scale and shift.

    .. math::
        \mu = \frac{1}{D}\sum_i x_i, \quad
        \sigma^2 = \frac{1}{D}\sum_i (x_i - \mu)^2, \quad
        \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad
        y = \hat x \odot w + b.

    Backward (llm.c / cs231n form), with :math:`g = \partial L/\partial \hat x = dy \odot w`
    and :math:`r = 1/\sqrt{\sigma^2+\epsilon}`:

    .. math::
        \frac{\partial L}{\partial x} = r\Big(g - \overline{g} - \hat x\,\overline{g\hat x}\Big),
        \quad \frac{\partial L}{\partial w} = \sum_m dy_m \odot \hat x_m, \quad
        \frac{\partial L}{\partial b} = \sum_m dy_m,

    where the bars are means over the last dim. ``eps`` defaults to ``1e-5`` as
    in ``torch.nn.LayerNorm``. A backend with fused kernels of its own
    (``Backend.layernorm``: torch's) runs those instead.
    """

    def __init__(self, dim: int, eps: float = 1e-5, dtype: Any = None) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = new_parameter(np.ones(dim), dtype)
        self.bias = new_parameter(np.zeros(dim), dtype)

    def forward(self, x: Any) -> Any:
        xp = array_namespace(x, self.weight.data)
        x = cast_to(x, self.weight.dtype)  # (..., D)
        x2 = xp.reshape(x, (-1, self.dim))  # (M, D)
        w, b = self.weight.data, self.bias.data
        fused = backend_of(x2).layernorm  # the backend's own kernels (torch), else ours
        if fused is not None:
            y, self.cache = fused.forward(x2, w, b, self.eps)  # (M, D)
            return xp.reshape(y, tuple(x.shape))  # (..., D)
        if compiled.available(x2, w, b):  # the same formulas as compiled loops
            y, xhat, rstd = compiled.layernorm_forward(x2, w, b, self.eps)
        else:
            y, xhat, rstd = by_row_blocks(lambda xb: self._normalize(xp, xb), x2)  # as GELU
        lead = tuple(x.shape[:-1])
        self.cache = {"xhat": xp.reshape(xhat, (*lead, self.dim)),  # (..., D)
                      "rstd": xp.reshape(rstd, (*lead, 1))}  # (..., 1)
        return xp.reshape(y, tuple(x.shape))  # (..., D)

    def _normalize(self, xp: Any, x: Any) -> tuple[Any, Any, Any]:
        """``(y, xhat, rstd)`` of rows ``x`` ``(m, D)`` (the formulas above). The
        means over the last dim are products with the vector :math:`(1/D, ..., 1/D)`
        (:func:`_inv_dim`): BLAS reads a short row far faster than a reduction does."""
        inv_d = _inv_dim(xp, x)  # (D,) all 1/D
        mean = x @ inv_d  # (m,)
        xc = x - mean[:, None]  # (m, D)
        var = (xc * xc) @ inv_d  # (m,)
        rstd = 1.0 / xp.sqrt(var + self.eps)  # (m,)
        if not may_overwrite(xc):  # torch autograd: no writing over recorded values
            xhat = xc * rstd[:, None]
            return xhat * self.weight.data + self.bias.data, xhat, rstd[:, None]
        xc *= rstd[:, None]
        xhat = xc  # (m, D): xc is not needed again
        y = xhat * self.weight.data
        y += self.bias.data  # (m, D), in place: one array less to write
        return y, xhat, rstd[:, None]

    def backward(self, dy: Any) -> Any:
        xp = array_namespace(dy, self.weight.data)
        dy = cast_to(dy, self.weight.dtype)  # (..., D)
        if "mean" in self.cache:  # the forward ran the backend's kernels
            dx, dw, db = backend_of(dy).layernorm.backward(
                xp.reshape(dy, (-1, self.dim)), self.cache, self.weight.data, self.bias.data)
            self.weight.accumulate_grad(dw)  # (D,)
            self.bias.accumulate_grad(db)  # (D,)
            return xp.reshape(dx, tuple(dy.shape))  # (..., D)
        xhat = xp.reshape(self.cache["xhat"], (-1, self.dim))  # (M, D)
        rstd = xp.reshape(self.cache["rstd"], (-1, 1))  # (M, 1)
        dy2 = xp.reshape(dy, (-1, self.dim))  # (M, D)
        if compiled.available(dy2, xhat, rstd, self.weight.data):  # compiled loops
            dx, dw, db = compiled.layernorm_backward(dy2, xhat, rstd, self.weight.data)
            self.weight.accumulate_grad(dw)  # (D,)
            self.bias.accumulate_grad(db)  # (D,)
            return xp.reshape(dx, tuple(dy.shape))  # (..., D)
        self.weight.accumulate_grad(column_sums(xp, dy2 * xhat))  # (D,)
        self.bias.accumulate_grad(column_sums(xp, dy2))  # (D,)
        dx = by_row_blocks(lambda *rows: self._input_grad(xp, *rows), dy2, xhat, rstd)
        return xp.reshape(dx, tuple(dy.shape))  # (..., D)

    def _input_grad(self, xp: Any, dy: Any, xhat: Any, rstd: Any) -> Any:
        r""":math:`r(g - \bar g - \hat x\,\overline{g \hat x})` for rows ``(m, D)``."""
        inv_d = _inv_dim(xp, dy)  # (D,) all 1/D
        g = dy * self.weight.data  # (m, D)
        g_mean = g @ inv_d  # (m,)
        gx_mean = (g * xhat) @ inv_d  # (m,)
        g -= g_mean[:, None]
        g -= xhat * gx_mean[:, None]
        g *= rstd  # (m, D)
        return g


def _inv_dim(xp: Any, x: Any) -> Any:
    r"""The vector :math:`(1/D, \ldots, 1/D)` in ``x``'s dtype and place, for rows
    ``x`` ``(m, D)``: ``x @ _inv_dim(xp, x)`` is the mean of every row ``(m,)``."""
    return xp.full((x.shape[-1],), 1.0 / x.shape[-1], dtype=x.dtype, device=device_of(x))  # (D,)


GELU_C = math.sqrt(2.0 / math.pi)
GELU_A = 0.044715


class GELU(Module):
    r"""GELU, **tanh approximation** (as ``torch.nn.GELU(approximate='tanh')``, GPT-2).

    .. math::
        y = x\,p, \quad p = \tfrac12(1 + \tanh u), \quad u = c\,(x + a x^3), \quad
        c = \sqrt{2/\pi},\ a = 0.044715,

    .. math::
        \frac{dy}{dx} = p + \tfrac12 x\,(1 - \tanh^2 u)\,c\,(1 + 3 a x^2)
                      = p + p\,(1 - p)\,q, \qquad q = 2 c\, x\, (1 + 3 a x^2),

    using :math:`1 - \tanh^2 u = 4 p (1 - p)`. No parameters; the output keeps
    the input dtype.

    What is kept for backward: in **training mode** the forward computes the
    slope :math:`s = dy/dx` alongside :math:`y` (with :math:`t = \tanh u`,
    :math:`s = p + (1 - t^2)\,x\,\tfrac{c}{2}(1 + 3 a x^2)`, the same as above
    since :math:`p(1-p) = (1-t^2)/4`) and keeps :math:`s` instead of :math:`x` (the
    same memory); backward is then one product :math:`dx = dy\,s`. In **eval
    mode** it keeps :math:`x` and backward recomputes :math:`p` and :math:`q` from
    it, so an evaluation forward does no work for a backward that may never
    come. Keeping the slope costs the forward 7 more elementwise passes (15
    instead of 8) and saves the backward 15 (1 instead of 16): 16 for the pair
    instead of 24.

    Cost: each elementwise pass reads and writes memory, so both passes run
    block by block over the rows (:func:`~wavelearn.nn.rowwise.elementwise_blocks`):
    the temporaries of a block stay in the CPU cache, and the only full-size
    arrays are the results. A backend with fused kernels of its own
    (``Backend.gelu``: torch's) runs those instead.
    """

    def forward(self, x: Any) -> Any:
        fused = backend_of(x).gelu  # the backend's own kernel (torch), else the formula
        if fused is not None:
            self.cache = {"x": x}
            return fused.forward(x)
        xp = array_namespace(x)
        x2 = xp.reshape(x, (-1, x.shape[-1]))  # (M, H)
        if not self.training:
            self.cache = {"x": x}  # backward recomputes from x
            y = by_row_blocks(lambda xb: _gelu_forward(xp, xb), x2)  # (M, H)
            return xp.reshape(y, tuple(x.shape))  # (...)
        y, slope = by_row_blocks(lambda xb: gelu_and_slope(xp, xb), x2)  # (M, H) each
        self.cache = {"slope": xp.reshape(slope, tuple(x.shape))}  # dy/dx, instead of x
        return xp.reshape(y, tuple(x.shape))  # (...)

    def backward(self, dy: Any) -> Any:
        backend_of(dy)  # TypeError for None or a list
        if "slope" in self.cache:  # training-mode forward: dx = dy s
            slope = self.cache["slope"]
            xp = array_namespace(dy, slope)
            h = slope.shape[-1]
            s2, dy2 = xp.reshape(slope, (-1, h)), xp.reshape(dy, (-1, h))  # (M, H)
            dx = by_row_blocks(lambda sb, dyb: dyb * sb, s2, dy2)  # (M, H)
            return xp.reshape(dx, tuple(slope.shape))  # (...)
        x = self.cache["x"]
        fused = backend_of(x).gelu
        if fused is not None:
            return fused.backward(dy, x)
        xp = array_namespace(dy, x)
        x2, dy2 = xp.reshape(x, (-1, x.shape[-1])), xp.reshape(dy, (-1, x.shape[-1]))  # (M, H)
        dx = by_row_blocks(lambda xb, dyb: _gelu_backward(xp, xb, dyb), x2, dy2)  # (M, H)
        return xp.reshape(dx, tuple(x.shape))  # (...)


def _gelu_forward(xp: Any, x: Any) -> Any:
    r""":math:`y = x\,p` for rows ``x`` ``(m, H)``."""
    y = _gelu_p(xp, x)
    y *= x
    return y


def _gelu_backward(xp: Any, x: Any, dy: Any) -> Any:
    r""":math:`dx = dy\,(p + p(1 - p)\,q)` for rows ``x, dy`` ``(m, H)``."""
    p = _gelu_p(xp, x)
    q = x * x
    q *= 6.0 * GELU_A * GELU_C
    q += 2.0 * GELU_C
    q *= x  # q = 2c x (1 + 3a x^2)
    q *= p  # p q
    g = q * p
    g = q - g  # p (1 - p) q
    g += p  # dy/dx
    g *= dy
    return g


def gelu_and_slope(xp: Any, x: Any) -> tuple[Any, Any]:
    r"""``(y, s)`` for rows ``x`` ``(m, H)``: :math:`y = x\,p` and the slope
    :math:`s = dy/dx = p + (1 - t^2)\,w`, :math:`w = x\,\tfrac{c}{2}(1 + 3 a x^2)`,
    :math:`t = \tanh u` (GELU's docstring). A C-contiguous NumPy block takes the
    compiled loops (:func:`wavelearn.nn.compiled.gelu_and_slope`)."""
    if compiled.available(x):
        return compiled.gelu_and_slope(x, GELU_C, GELU_A)
    w = x * x  # x^2
    u = w * (GELU_C * GELU_A)
    u += GELU_C
    u *= x  # u = c (x + a x^3)
    t = xp.tanh(u)
    p = t + 1.0
    p *= 0.5  # p = (1 + t) / 2
    y = p * x
    w *= 1.5 * GELU_C * GELU_A
    w += 0.5 * GELU_C
    w *= x  # w = x (c/2)(1 + 3a x^2)
    t *= t
    t *= w  # t^2 w
    w -= t  # (1 - t^2) w
    w += p  # the slope
    return y, w


def _gelu_p(xp: Any, x: Any) -> Any:
    r""":math:`p = \tfrac12(1 + \tanh u)`, :math:`u = x\,(c + c a x^2)`, as a fresh array."""
    u = x * x
    u *= GELU_C * GELU_A
    u += GELU_C
    u *= x
    p = xp.tanh(u) + 1.0  # a new array: autograd (torch) keeps tanh's output
    p *= 0.5
    return p


DROPOUT_PIECE = 1 << 17  # elements per piece of a mask draw (2^15..2^18: 2^17 measured best)


class Dropout(Module):
    r"""Inverted dropout: in training, :math:`y = x \odot m / (1 - p)` with
    :math:`m_i \sim \text{Bernoulli}(1 - p)`; backward :math:`dx = dy \odot m / (1-p)`.

    Identity in eval mode and when ``p == 0``. Masks are drawn with this layer's
    own numpy Generator (``self.rng``, seeded by ``seed``) and moved to the
    input's backend, so runs are reproducible and identical across backends.
    Reseed with ``layer.rng = numpy.random.default_rng(seed)``.

    ``inplace=True`` (as in torch) writes the result over ``x`` instead of a new
    array: for a caller whose ``x`` is a temporary that nothing else keeps (the
    FFN's GELU output), it saves writing one more activation-sized array.

    How an element's fate is drawn (``draws``):

    * ``"bytes"`` (the default): an exact draw of :math:`[u_i \ge p]`,
      :math:`u_i \sim U[0, 1)`, from one random byte per element -- its first 8
      bits, :math:`b_i`. The byte decides unless it equals :math:`t = \lfloor 256 p
      \rfloor` (keep iff :math:`b_i > t`); for those ties (1 in 256) 32 more bits
      :math:`v_i` decide (keep iff :math:`v_i \ge \lceil (256 p - t)\, 2^{32} \rceil`).
      The keep probability is :math:`1 - p` to within :math:`2^{-40}`, from about a
      quarter of the random bits (and time) of 32-bit draws;
    * ``"float64"``: :math:`m_i = [u_i \ge p]` for doubles :math:`u_i \sim U[0, 1)`,
      the masks of wavelearn 0.1 (checkpoints written before ``draws`` existed
      resume with these, so that they continue exactly as they would have).
    """

    DRAWS = ("bytes", "float64")

    def __init__(self, p: float = 0.1, seed: np.random.Generator | int | None = None,
                 draws: str = "bytes", inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p
        self.rng = make_rng(seed)
        self.draws = draws
        self.inplace = inplace  # forward overwrites x (as torch's inplace=True)

    @property
    def draws(self) -> str:
        """How masks are drawn: ``"bytes"`` or ``"float64"`` (see the class docstring)."""
        return self._draws

    @draws.setter
    def draws(self, value: str) -> None:
        if value not in self.DRAWS:
            raise ValueError(f"Dropout: draws must be one of {self.DRAWS}, got {value!r}")
        self._draws = value

    @property
    def acts(self) -> bool:
        """Whether :meth:`forward` draws a mask (in training, ``p > 0``); else it is the
        identity."""
        return self.training and self.p > 0.0

    def forward(self, x: Any) -> Any:
        if not self.acts:
            self.cache = {"mask": None}
            return x
        keep, scale = self.draw(x)
        return _masked(x, keep, scale, self.inplace and may_overwrite(x))  # (...)

    def draw(self, x: Any) -> tuple[Any, float]:
        """``(keep, scale)``: a fresh mask for an input like ``x`` (its shape and backend),
        0 or 1 as ``uint8`` (torch multiplies a float by uint8 about 3x faster than by
        bool, measured; NumPy alike), and :math:`1/(1-p)`, kept in the cache for
        :meth:`backward` -- the first half of a training forward, for a caller that
        applies the mask itself (the fused GELU and dropout of
        :class:`~wavelearn.nn.FeedForward`, the dropout and residual add of the block)."""
        keep = self._keep(tuple(x.shape)).view(np.uint8)  # (...) 0 or 1, one byte each
        keep = backend_of(x).asarray(keep)  # on x's backend
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        self.cache = {"mask": keep, "scale": scale}
        return keep, scale

    def backward(self, dy: Any) -> Any:
        keep = self.cache["mask"]
        backend_of(dy)  # TypeError for None or a list
        if keep is None:
            return dy
        return _masked(dy, keep, self.cache["scale"], inplace=False)  # (...)

    def _keep(self, shape: tuple[int, ...]) -> np.ndarray:
        """Which elements survive (a bool array of ``shape``), drawn as ``draws`` says,
        in pieces of :data:`DROPOUT_PIECE` elements, so that the random numbers stay in
        cache (and each piece takes one random draw per kind)."""
        if self.p >= 1.0:
            return np.zeros(shape, dtype=bool)
        n, step = math.prod(shape), DROPOUT_PIECE
        keep = buffers.empty((n,), bool)
        draw = self._keep_bytes if self.draws == "bytes" else self._keep_f64
        for start in range(0, n, step):
            m = min(step, n - start)
            draw(m, keep[start : start + m])
        return keep.reshape(shape)

    def _keep_bytes(self, m: int, keep: np.ndarray) -> None:
        """``keep`` ``(m,)`` <- the ``"bytes"`` draws: bytes ``b`` from the generator's raw
        64-bit output (8 per output, lowest first), then 32-bit ``v`` for the ties."""
        t = math.floor(256.0 * self.p)  # p < 1 here: t <= 255
        b = _raw_stream(self.rng, m, "<u1")  # (m,) uint8
        np.greater(b, t, out=keep)
        ties = np.flatnonzero(b == t)  # (about m / 256,)
        if ties.size:
            v = _raw_stream(self.rng, ties.size, "<u4")  # (ties,) uint32
            threshold = math.ceil((256.0 * self.p - t) * 2.0**32)  # in [0, 2^32]
            keep[ties] = v >= threshold if threshold < 2**32 else False

    def _keep_f64(self, m: int, keep: np.ndarray) -> None:
        """``keep <- u >= p`` for ``m`` doubles ``u ~ U[0, 1)`` (the masks of wavelearn 0.1:
        the same numbers as one ``rng.random(n)``)."""
        np.greater_equal(self.rng.random(m), self.p, out=keep)


def scatter_add_rows(xp: Any, target: Any, idx: Any, values: Any) -> Any:
    """``target[idx[m]] += values[m]`` for every ``m``, *accumulating* repeated indices.

    (Plain ``target[idx] += values`` would keep only one of the repeats.) Each
    backend does it its own way (:meth:`wavelearn.backend.Backend.scatter_add_rows`:
    ``np.add.at``, ``index_add_``, ``cupyx.scatter_add``). Modifies and returns
    ``target (V, D)``; ``idx (M,)`` int64, ``values (M, D)``.
    """
    return backend_of(target).scatter_add_rows(target, idx, values)


class Embedding(Module):
    r"""Lookup table: :math:`y_{\ldots} = W[\text{ids}_{\ldots}]`.

    Shapes: ``ids (...)`` of any integer dtype, ``weight (num_embeddings,
    embedding_dim)``, ``y (..., embedding_dim)``. Initialised :math:`\mathcal N(0, 1)`
    as ``torch.nn.Embedding``.

    Backward: each output row's gradient is added to the row it was read from,
    :math:`\partial L/\partial W_v = \sum_{m: \text{ids}_m = v} dy_m` (repeated ids
    accumulate). ``backward`` returns ``None``: integer ids have no gradient.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        dtype: Any = None,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        rng = make_rng(rng)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = new_parameter(rng.standard_normal((num_embeddings, embedding_dim)), dtype)

    def forward(self, ids: Any) -> Any:
        xp = array_namespace(ids, self.weight.data)
        if not xp.isdtype(ids.dtype, "integral"):
            raise TypeError(f"Embedding: ids must have an integer dtype, got {ids.dtype}")
        flat = xp.astype(xp.reshape(ids, (-1,)), xp.int64)  # (M,)
        if flat.shape[0] and (int(xp.min(flat)) < 0 or int(xp.max(flat)) >= self.num_embeddings):
            raise IndexError(f"Embedding: ids must be in [0, {self.num_embeddings}), got "
                             f"[{int(xp.min(flat))}, {int(xp.max(flat))}]")
        rows = self._rows(xp, flat)  # (M, D)
        self.cache = {"flat_ids": flat}
        return xp.reshape(rows, (*ids.shape, self.embedding_dim))  # (..., D)

    def _rows(self, xp: Any, flat: Any) -> Any:
        """``W[flat]`` ``(M, D)``; a NumPy table's rows go into memory from
        :mod:`wavelearn.buffers` (the ids are checked: ``clip`` never clips, and unlike
        ``raise`` it writes ``out`` directly, without a buffer of its own)."""
        w = self.weight.data  # (V, D)
        if not isinstance(w, np.ndarray):
            return xp.take(w, flat, axis=0)
        out = buffers.empty((flat.shape[0], self.embedding_dim), w.dtype)
        return np.take(w, flat, axis=0, out=out, mode="clip")

    def backward(self, dy: Any) -> None:
        xp = array_namespace(dy, self.weight.data)
        dy2 = xp.reshape(cast_to(dy, self.weight.dtype), (-1, self.embedding_dim))  # (M, D)
        dw = xp.zeros_like(self.weight.data)  # (V, D)
        self.weight.accumulate_grad(scatter_add_rows(xp, dw, self.cache["flat_ids"], dy2))
        return None


def _masked(x: Any, keep: Any, scale: float, inplace: bool) -> Any:
    r""":math:`x \odot m\, s` for a mask ``keep`` of ``x``'s shape, written over ``x`` when
    ``inplace``; a big NumPy array block by block on the threads (:func:`by_row_blocks`),
    in one compiled pass where it can (:func:`compiled.mask_scale`: the same bits; for a
    torch CPU tensor too, through :meth:`~wavelearn.backend.Backend.host_view`)."""

    def rows(xb: Any, kb: Any) -> Any:
        if inplace:
            xb *= kb
        else:
            xb = xb * kb
        xb *= scale
        return xb

    backend = backend_of(x)
    xh, kh = backend.host_view(x), backend.host_view(keep)  # NumPy: x and keep themselves
    if (xh is not None and kh is not None and xh.ndim >= 2 and xh.flags.c_contiguous
            and compiled.available(xh) and kh.dtype == np.uint8 and kh.flags.c_contiguous):
        x2, k2 = xh.reshape(-1, xh.shape[-1]), kh.reshape(-1, xh.shape[-1])  # (M, H) views
        if inplace:  # the same bits, one pass
            each_row_block(lambda xb, kb: compiled.mask_scale(xb, kb, scale), x2, k2)
            return x
        out = buffers.empty(xh.shape, xh.dtype)  # (...)
        each_row_block(lambda xb, kb, ob: compiled.mask_scale(xb, kb, scale, ob),
                       x2, k2, out.reshape(x2.shape))
        return backend.asarray(out)  # (a torch CPU tensor: over the same memory)
    if x.ndim < 2 or not isinstance(x, np.ndarray) or not x.flags.c_contiguous:
        return rows(x, keep)
    x2, k2 = x.reshape(-1, x.shape[-1]), keep.reshape(-1, x.shape[-1])  # views: (M, H)
    if inplace:
        each_row_block(rows, x2, k2)
        return x
    return by_row_blocks(rows, x2, k2).reshape(x.shape)


def _raw_stream(rng: np.random.Generator, count: int, dtype: str) -> np.ndarray:
    """The next ``count`` little-endian unsigned integers of ``dtype`` (``<u1``, ``<u4``)
    cut from ``rng``'s raw 64-bit outputs, lowest bits first (the last output's
    unused part is dropped): the same numbers on every platform."""
    per = 8 // np.dtype(dtype).itemsize
    raw = np.asarray(rng.bit_generator.random_raw(-(-count // per)), dtype="<u8")
    return raw.view(dtype)[:count]
