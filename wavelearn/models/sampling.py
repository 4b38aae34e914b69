r"""Sampling the next token from a language model's logits.

Shared by :meth:`wavelearn.models.WaveletDecoder.generate` and ``wavelearn
generate`` (:func:`wavelearn.training.generation.generate_text`), so that both
check their arguments the same way and draw the same tokens.

Given the logits :math:`z \in \mathbb{R}^V` of the last position, a token is
drawn from

.. math::
    p_i \propto \exp(z_i / T) \quad \text{for } z_i \ge z_{(k)},

where :math:`z_{(k)}` is the ``top_k``-th largest logit (all tokens when
``top_k`` is None) and :math:`T` the temperature; ``T = 0`` takes the argmax.
The draw inverts the cumulative distribution with one uniform number per row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

ARGUMENTS = ("input_ids", "max_new_tokens", "temperature", "top_k", "seed")
"""The arguments :func:`check_generate_args` checks (keys of its ``names``)."""


def check_generate_args(input_ids: Any, max_new_tokens: Any, temperature: Any, top_k: Any,
                        vocab_size: int, seed: Any = None,
                        names: Mapping[str, str] | None = None) -> None:
    """Raise ValueError, naming the argument, the value and what is allowed.

    Args:
        input_ids: the prompt ``(B, N)`` with ``N >= 1`` (None: not checked).
        max_new_tokens: an int >= 0.
        temperature: a finite number >= 0 (0: greedy).
        top_k: None or an int in ``[1, vocab_size]``.
        seed: None or an int >= 0.
        names: how to call each argument in the message, e.g.
            ``{'top_k': '--top-k'}`` for the command line (default: its name).
    """
    def name(arg: str) -> str:  # 'generate: top_k' or, from the command line, '--top-k'
        return (names or {}).get(arg) or f"generate: {arg}"

    def integer(value: Any) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)

    if input_ids is not None and (getattr(input_ids, "ndim", None) != 2
                                  or input_ids.shape[1] < 1):
        raise ValueError(f"{name('input_ids')} must be a (B, N) array with N >= 1")
    if not integer(max_new_tokens) or max_new_tokens < 0:
        raise ValueError(f"{name('max_new_tokens')} must be an int >= 0, "
                         f"got {max_new_tokens!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, int | float | np.number) \
            or not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"{name('temperature')} must be a finite number >= 0 "
                         f"(0: greedy), got {temperature!r}")
    if top_k is not None and not (integer(top_k) and 1 <= top_k <= vocab_size):
        raise ValueError(f"{name('top_k')} must be None or an int in "
                         f"[1, {vocab_size}] (the vocabulary size), got {top_k!r}")
    if seed is not None and not (integer(seed) and seed >= 0):
        raise ValueError(f"{name('seed')} must be None or an int >= 0, got {seed!r}")


def sample(z: np.ndarray, temperature: float, top_k: int | None,
           rng: np.random.Generator) -> np.ndarray:
    """One token per row of logits ``z (B, V)``: top-k filter, softmax(z/T), inverse CDF.

    Logits of ``-inf`` (tokens that must never be drawn) get probability 0.
    """
    if top_k is not None:
        kth = np.sort(z, axis=-1)[:, -top_k][:, None]  # (B, 1)
        z = np.where(z < kth, -np.inf, z)
    if temperature == 0:
        return np.argmax(z, axis=-1).astype(np.int64)
    z = (z - z.max(axis=-1, keepdims=True)) / temperature
    cdf = np.cumsum(np.exp(z), axis=-1)  # (B, V), unnormalised
    u = rng.random((z.shape[0], 1)) * cdf[:, -1:]  # (B, 1), uniform in [0, total)
    return np.argmax(cdf > u, axis=-1).astype(np.int64)


def check_exclude_ids(exclude_ids: Any, vocab_size: int) -> np.ndarray:
    """Token ids that must never be drawn, checked: ids in ``[0, vocab_size)``, not all."""
    ids = np.asarray(list(exclude_ids), dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"generate: exclude_ids must be token ids in [0, {vocab_size}), "
                         f"got {ids.tolist()}")
    if np.unique(ids).size >= vocab_size:
        raise ValueError("generate: exclude_ids excludes every token of the vocabulary")
    return ids


class Sampler:
    """Draws one token per row of logits ``z (B, V)`` (see :func:`sample`), never one of
    the ``exclude`` ids; the Generator ``rng`` carries on from draw to draw."""

    def __init__(self, temperature: float, top_k: int | None, exclude: np.ndarray,
                 rng: np.random.Generator) -> None:
        self.temperature, self.top_k, self.exclude, self.rng = temperature, top_k, exclude, rng

    def __call__(self, z: np.ndarray) -> np.ndarray:
        if self.exclude.size:
            z = z.copy()
            z[:, self.exclude] = -np.inf
        return sample(z, self.temperature, self.top_k, self.rng)
