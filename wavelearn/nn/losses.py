"""Losses as explicit forward/backward pairs.

``loss = crit.forward(pred, target)`` returns a Python float and keeps what the
gradient needs; ``dpred = crit.backward()`` returns :math:`\\partial L/\\partial
\\text{pred}` (same shape, dtype and backend as ``pred``), the start of the
hand-written backward pass through a model.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import device as device_of

from wavelearn.backend import array_namespace
from wavelearn.nn.rowwise import by_row_blocks


def log_softmax(z: Any, axis: int = -1) -> Any:
    r"""Numerically stable :math:`\log\mathrm{softmax}(z)` along ``axis``.

    .. math:: \log p_c = (z_c - m) - \log \sum_k e^{z_k - m}, \quad m = \max_k z_k

    Subtracting the max keeps every exponent :math:`\le 0`, so nothing overflows.
    """
    xp = array_namespace(z)
    shifted = z - xp.max(z, axis=axis, keepdims=True)  # (..., C)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))  # (..., C)


class CrossEntropyLoss:
    r"""Mean cross-entropy of ``logits (..., C)`` against integer ``targets (...)``.

    .. math::
        L = -\frac{1}{|V|} \sum_{m \in V} \log \mathrm{softmax}(z_m)_{t_m}, \qquad
        \frac{\partial L}{\partial z_m} = \frac{\mathrm{softmax}(z_m) - \mathrm{onehot}(t_m)}{|V|}
        \ [m \in V],

    where :math:`V` are the positions whose target is not ``ignore_index`` (as
    ``torch.nn.functional.cross_entropy``). With no valid target the loss is
    ``nan`` (as torch) and the gradient is zero.

    The forward keeps two numbers per row, :math:`m = \max_k z_k` and
    :math:`\log \sum_k e^{z_k - m}` (:func:`log_softmax`'s), and a reference to
    ``logits`` -- not the ``(M, C)`` log-probabilities: a language model's logits are
    its biggest arrays (``(B, N, V)``). The backward recomputes
    :math:`\mathrm{softmax}(z) = e^{(z - m) - \log\sum}` from them, the same
    operations as :func:`log_softmax` (the same bits). NumPy arrays go block of rows by
    block (:func:`~wavelearn.nn.rowwise.by_row_blocks`): the temporaries stay in the
    cache and the gradient is the one full-size array written. So do not write into
    ``logits`` between ``forward`` and ``backward``.
    """

    def __init__(self, ignore_index: int = -100) -> None:
        self.ignore_index = ignore_index
        self.cache: dict[str, Any] = {}

    def __call__(self, logits: Any, targets: Any) -> float:
        return self.forward(logits, targets)

    def forward(self, logits: Any, targets: Any) -> float:
        xp = array_namespace(logits, targets)
        num_classes = logits.shape[-1]
        z = xp.reshape(logits, (-1, num_classes))  # (M, C)
        t = xp.astype(xp.reshape(targets, (-1,)), xp.int64)  # (M,)
        valid = t != self.ignore_index  # (M,) bool
        t = xp.where(valid, t, xp.zeros_like(t))  # (M,) ignored -> class 0
        if t.shape[0] and (int(xp.min(t)) < 0 or int(xp.max(t)) >= num_classes):
            raise ValueError(f"CrossEntropyLoss: targets must be in [0, {num_classes}) "
                             f"or ignore_index={self.ignore_index}")
        m, log_sum = by_row_blocks(_row_log_sum_exp, z)  # (M, 1) each
        picked = xp.take_along_axis(z, xp.reshape(t, (-1, 1)), axis=-1)  # (M, 1)
        picked = ((picked - m) - log_sum)[:, 0]  # (M,) log softmax(z)_t
        valid_f = xp.astype(valid, z.dtype)  # (M,)
        count = int(xp.sum(xp.astype(valid, xp.int64)))
        self.cache = {"z": z, "m": m, "log_sum": log_sum, "t": t, "valid": valid_f,
                      "count": count, "shape": tuple(logits.shape)}
        if count == 0:
            return math.nan
        return float(-xp.sum(picked * valid_f)) / count

    def backward(self) -> Any:
        c = self.cache
        xp = array_namespace(c["z"])
        scale = xp.reshape(c["valid"], (-1, 1)) / max(c["count"], 1)  # (M, 1)
        dz = by_row_blocks(_softmax_minus_onehot, c["z"], c["m"], c["log_sum"],
                           xp.reshape(c["t"], (-1, 1)), scale)  # (M, C)
        return xp.reshape(dz, c["shape"])  # (..., C)


def _row_log_sum_exp(z: Any) -> tuple[Any, Any]:
    r"""``(m, log_sum)`` of rows ``z`` ``(M, C)``: :math:`m = \max_k z_k` and
    :math:`\log \sum_k e^{z_k - m}`, each ``(M, 1)``."""
    xp = array_namespace(z)
    m = xp.max(z, axis=-1, keepdims=True)  # (M, 1)
    return m, xp.log(xp.sum(xp.exp(z - m), axis=-1, keepdims=True))  # (M, 1) each


def _softmax_minus_onehot(z: Any, m: Any, log_sum: Any, t: Any, scale: Any) -> Any:
    r""":math:`(\mathrm{softmax}(z) - \mathrm{onehot}(t))\, s` for rows ``z`` ``(M, C)``,
    with ``m``, ``log_sum``, ``t`` (targets) and ``s`` ``(M, 1)``."""
    xp = array_namespace(z)
    classes = xp.arange(z.shape[-1], device=device_of(z))  # (C,)
    onehot = xp.astype(t == classes, z.dtype)  # (M, C)
    return (xp.exp((z - m) - log_sum) - onehot) * scale  # (M, C)


class MSELoss:
    r"""Mean squared error over all elements.

    .. math::
        L = \frac{1}{N}\sum_i (p_i - y_i)^2, \qquad
        \frac{\partial L}{\partial p_i} = \frac{2 (p_i - y_i)}{N}.
    """

    def __init__(self) -> None:
        self.cache: dict[str, Any] = {}

    def __call__(self, pred: Any, target: Any) -> float:
        return self.forward(pred, target)

    def forward(self, pred: Any, target: Any) -> float:
        xp = array_namespace(pred, target)
        diff = pred - xp.astype(target, pred.dtype)  # (...)
        self.cache = {"diff": diff}
        return float(xp.mean(diff * diff))

    def backward(self) -> Any:
        diff = self.cache["diff"]
        return diff * (2.0 / max(math.prod(diff.shape), 1))  # (...)
