r"""Exercises that check themselves.

Every tutorial ends with a few exercises: you write a small function, and
:func:`check` grades it against an independent oracle (PyWavelets, a
wavelearn layer, central differences or a formula) on a few fixed inputs::

    from wavelearn.exercises import check

    def haar_step(x):
        a = (x[0::2] + x[1::2]) / np.sqrt(2)
        d = (x[0::2] - x[1::2]) / np.sqrt(2)
        return a, d

    check("01.1", haar_step)   # -> "01.1 (one Haar step): passed. ..."

The feedback is specific: which output and which entry differ, the expected
and the returned value, and for backward passes which gradient-check
direction fails, i.e. for a random direction :math:`u` (seeded, so it can be
reproduced) the central difference

.. math:: \frac{L(x + \epsilon u) - L(x - \epsilon u)}{2\epsilon}
    \quad\text{against your}\quad \langle \nabla L, u \rangle .

When a wrong answer matches a common mistake (a transposed matrix, a missing
fold-back at the edge, a delay off by one sample, ...) the feedback says so.
A function that still raises ``NotImplementedError`` is reported as "not
attempted yet".

:data:`EXERCISES` lists every exercise (``exercise_id -> Exercise``);
:func:`describe` prints the task of one. Reference solutions are in
``tutorials/solutions.py`` (read them after trying). This package imports
only NumPy, PyWavelets and wavelearn's NumPy code; it is not imported by
``import wavelearn``. The graders live by tutorial in :mod:`.signals` (01-04),
:mod:`.layers` (05, 05b) and :mod:`.training` (06-08), on the machinery of
:mod:`.grading`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wavelearn.exercises.grading import Exercise, Fail, Feedback
from wavelearn.exercises.layers import (
    grade_channel_backward,
    grade_cross_entropy_backward,
    grade_gelu_backward,
    grade_layernorm_backward,
    grade_level_backward,
    grade_mean_pool_backward,
)
from wavelearn.exercises.signals import (
    grade_alternating_flip,
    grade_coeff_len,
    grade_dwt_matrix,
    grade_extension_adjoint,
    grade_haar_inverse,
    grade_haar_matrix,
    grade_haar_step,
    grade_soft_threshold,
    grade_symmetric_extension,
    grade_tanh_loss_gradient,
    grade_universal_threshold,
)
from wavelearn.exercises.training import (
    grade_adamw_update,
    grade_causal_filter,
    grade_data_parallel_gradient,
    grade_lr_schedule,
    grade_receptive_field,
    grade_shard,
)

__all__ = ["EXERCISES", "Exercise", "Feedback", "check", "describe"]


_CATALOGUE: list[tuple[str, str, str, str, Callable]] = [
    ("01.1", "one Haar step", "haar_step(x) -> (a, d)",
     "x: 1-D, even length. a_k = (x[2k] + x[2k+1]) / sqrt(2), d_k = (x[2k] - x[2k+1]) / sqrt(2).",
     grade_haar_step),
    ("01.2", "the inverse Haar step", "haar_inverse(a, d) -> x",
     "Undo haar_step: x[2k] = (a_k + d_k) / sqrt(2), x[2k+1] = (a_k - d_k) / sqrt(2).",
     grade_haar_inverse),
    ("01.3", "one Haar level as a matrix", "haar_matrix(n) -> W (n, n)",
     "W @ x == concatenate([a, d]) for every x of even length n.", grade_haar_matrix),
    ("02.1", "the high-pass filter by the alternating flip", "alternating_flip(h) -> g",
     "g[n] = (-1)^(n+1) h[F-1-n]; for db2 this gives PyWavelets' dec_hi.",
     grade_alternating_flip),
    ("02.2", "the symmetric extension", "symmetric_extension(x, p) -> padded (n + 2p,)",
     "Mirror p samples about each half-sample edge: ..., x1, x0 | x0, ..., x_{n-1} | x_{n-1}, "
     "x_{n-2}, ... (p <= n).", grade_symmetric_extension),
    ("02.3", "how many coefficients", "coeff_len(n, F, mode) -> int",
     "Coefficients per band of one DWT level of n samples with an F-tap filter, for mode "
     "'symmetric', 'zero' or 'periodization'.", grade_coeff_len),
    ("03.1", "soft thresholding", "soft_threshold(c, tau) -> array",
     "sign(c) * max(|c| - tau, 0), elementwise.", grade_soft_threshold),
    ("03.2", "the universal threshold", "universal_threshold(cD1, n) -> float",
     "tau = sigma_hat sqrt(2 ln n), sigma_hat = median(|cD1|) / 0.6745 (n: signal length).",
     grade_universal_threshold),
    ("04.1", "the DWT as a matrix", "dwt_matrix(n, wavelet, mode) -> A",
     "A @ x == concatenate(wavelearn.dwt(x, wavelet, mode)) for every x of length n.",
     grade_dwt_matrix),
    ("04.2", "the adjoint of the symmetric extension",
     "symmetric_extension_adjoint(g, n, p) -> (n,)",
     "E x = pywt.pad(x, p, 'symmetric') maps n samples to n + 2p; return E^T g.",
     grade_extension_adjoint),
    ("04.3", "a gradient through wavedec in symmetric mode",
     "tanh_loss_gradient(x, weights, wavelet, level) -> dx",
     "L(x) = sum_k <weights[k], tanh(c_k)>, c = wavedec(x, wavelet, 'symmetric', level). "
     "Return dL/dx.", grade_tanh_loss_gradient),
    ("05.1", "the backward pass of channel mixing",
     "channel_backward(bands, W, dout) -> (dbands, dW)",
     "Forward: out_k = bands[k] @ W[k], bands[k] (B, n_k, D), W (K, D, D). Given dout (list), "
     "return the gradients of the bands (list) and of W.", grade_channel_backward),
    ("05.2", "the backward pass of level mixing",
     "level_backward(bands, M, repeats, dout) -> (dbands, dM)",
     "Forward: u_k = R_k c_k (repeat each coefficient r_k times along the sequence, zero-fill "
     "to the longest), S_j = sum_k M[j, k] * u_k, out_j = R_j^T S_j / r_j. M (K, K, D).",
     grade_level_backward),
    ("05b.1", "the LayerNorm backward", "layernorm_backward(dy, x, w, eps) -> (dx, dw, db)",
     "y = x_hat * w + b, x_hat = (x - mean) / sqrt(var + eps) over the last axis; dw, db summed "
     "over all leading axes.", grade_layernorm_backward),
    ("05b.2", "the GELU backward", "gelu_backward(x, dy) -> dx",
     "GELU(x) = x/2 (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2/pi).", grade_gelu_backward),
    ("05b.3", "the softmax cross-entropy backward",
     "cross_entropy_backward(logits, targets) -> dlogits",
     "L = mean over the B rows of -log softmax(logits)[target]; return dL/dlogits (B, C).",
     grade_cross_entropy_backward),
    ("05b.4", "the mean-pooling backward", "mean_pool_backward(dp, n) -> dh (B, n, D)",
     "p = h.mean(axis=1) for h (B, n, D); return dL/dh from dp = dL/dp (B, D).",
     grade_mean_pool_backward),
    ("06.1", "the warm-up + cosine schedule",
     "lr_schedule(s, lr0, W, T, r) -> float",
     "lr0 (s + 1) / W for s < W, else lr0 (r + (1 - r)(1 + cos(pi p)) / 2), "
     "p = min(1, (s - W) / max(1, T - W)).", grade_lr_schedule),
    ("06.2", "one AdamW step",
     "adamw_update(theta, g, m, v, t, lr, betas, eps, weight_decay) -> (theta, m, v)",
     "torch's AdamW: decoupled weight decay, bias-corrected moments; t counts from 1.",
     grade_adamw_update),
    ("07.1", "the causal bank's receptive field", "receptive_field(F, J) -> int",
     "How many samples (t itself included) a_J[t] of the causal a trous bank depends on, for an "
     "F-tap lowpass and J levels.", grade_receptive_field),
    ("07.2", "a causal dilated filter", "causal_filter(x, h, dilation) -> s",
     "s[t] = sum_i h[i] x[t - i * dilation], with x[t] = 0 for t < 0; 1-D.",
     grade_causal_filter),
    ("08.1", "a process's shard of the batch", "shard(batch, rank, world) -> array",
     "The examples of process `rank` out of `world`, as data-parallel training splits a batch.",
     grade_shard),
    ("08.2", "data-parallel gradients",
     "data_parallel_gradient(grad_fn, X, y, world) -> gradient",
     "Split (X, y) into `world` equal shards, call grad_fn (a mean gradient) on each and "
     "combine them as all_reduce + divide does.", grade_data_parallel_gradient),
]

EXERCISES: dict[str, Exercise] = {
    ex_id: Exercise(ex_id, title, signature, task, grader)
    for ex_id, title, signature, task, grader in _CATALOGUE
}
"""Every exercise, by id (``'NN.k'``: tutorial ``NN``, exercise ``k``)."""


def _lookup(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        raise KeyError(f"exercise_id {exercise_id!r} does not exist; the exercises are "
                       f"{', '.join(EXERCISES)}")
    return EXERCISES[exercise_id]


def describe(exercise_id: str) -> str:
    """The task of one exercise: its title, the function to write and what it must do."""
    ex = _lookup(exercise_id)
    return f"{ex.exercise_id} ({ex.title}): write {ex.signature}. {ex.task}"


def check(exercise_id: str, fn: Callable[..., Any]) -> Feedback:
    """Grade ``fn``, your answer to exercise ``exercise_id`` (e.g. ``'04.2'``).

    Returns a :class:`Feedback` (truthy when passed) whose message says what
    passed, or which entry differs (expected vs got), which gradient-check
    direction fails and, for a known mistake, a hint. Never raises for a wrong
    answer; raises ``KeyError`` for an unknown id and ``TypeError`` when ``fn``
    is not callable.
    """
    ex = _lookup(exercise_id)
    if not callable(fn):
        raise TypeError(f"check({exercise_id!r}, fn): fn must be your function, got "
                        f"{type(fn).__name__}")
    head = f"{exercise_id} ({ex.title})"
    name = getattr(fn, "__name__", "your function")
    try:
        note = ex.grader(fn)
    except NotImplementedError:
        return Feedback(exercise_id, False, f"{head}: not attempted yet: {name} raises "
                        f"NotImplementedError. Write {ex.signature}, then run the cell again.")
    except Fail as fail:
        return Feedback(exercise_id, False, f"{head}: not yet.\n{fail}")
    return Feedback(exercise_id, True, f"{head}: passed. {note}")
