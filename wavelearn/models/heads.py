r"""What sits on top of the backbone: pooling a sequence into one vector.

The heads of the models are a :class:`~wavelearn.nn.layers.Linear` layer, applied
per token ('sequence', 'lm') or after :class:`Pooling` ('classification',
'regression'). Pooling is a layer like any other, an explicit forward/backward pair:

* ``'mean'``: :math:`p_b = \sum_t w_{bt}\, h_{bt}` with :math:`w_{bt} = m_{bt}/L_b`
  (the real tokens of a right-padded row; :math:`1/N` without a mask), and
  :math:`\bar h_{bt} = w_{bt}\,\bar p_b`;
* ``'cls'``: :math:`p_b = h_{b,0}` (the first token), :math:`\bar h_{b,0} = \bar p_b`,
  zero elsewhere.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import device as device_of

from wavelearn.backend import array_namespace
from wavelearn.nn.module import Module

POOLING_TYPES = ("mean", "cls")


class Pooling(Module):
    """``(B, N, D) -> (B, D)``: the mean over the real tokens, or the first token.

    ``forward(h, weights)``: ``weights (B, N)`` are the per-token weights
    :math:`m_{bt}/L_b` of a padded batch, or None (no padding).
    """

    def __init__(self, kind: str = "mean") -> None:
        super().__init__()
        if kind not in POOLING_TYPES:
            raise ValueError(f"pooling must be one of {POOLING_TYPES}; got {kind!r}")
        self.kind = kind

    def forward(self, h: Any, weights: Any = None) -> Any:
        xp = array_namespace(h)
        self.cache = {"shape": tuple(h.shape), "weights": weights}
        if self.kind == "cls":
            return h[:, 0, :]  # (B, D)
        if weights is None:
            return xp.mean(h, axis=1)  # (B, D)
        return xp.sum(h * weights[:, :, None], axis=1)  # (B, D)

    def backward(self, dp: Any) -> Any:
        xp = array_namespace(dp)
        B, N, D = self.cache["shape"]
        weights = self.cache["weights"]
        if self.kind == "cls":
            rest = xp.zeros((B, N - 1, D), dtype=dp.dtype, device=device_of(dp))
            return xp.concat([dp[:, None, :], rest], axis=1)  # (B, N, D)
        if weights is None:
            return xp.broadcast_to(dp[:, None, :] / N, (B, N, D))
        return dp[:, None, :] * weights[:, :, None]  # (B, N, D)
