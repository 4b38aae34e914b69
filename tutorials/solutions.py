"""Reference solutions to the exercises at the end of each tutorial.

Try an exercise first; ``wavelearn.exercises.check(exercise_id, fn)`` tells
you what is wrong with your answer. The functions here are named as in the
notebooks, grouped by tutorial, and each passes its check::

    from wavelearn.exercises import check
    import solutions                      # from the tutorials/ folder
    check("04.2", solutions.symmetric_extension_adjoint)

``SOLUTIONS`` maps every exercise id to its solution (the tests run them all).
"""

from __future__ import annotations

import math

import numpy as np

import wavelearn as wl

# -- 01: the Haar transform ------------------------------------------------------------


def haar_step(x):
    """One orthonormal Haar level of an even-length x: (a, d)."""
    a = (x[0::2] + x[1::2]) / np.sqrt(2)
    d = (x[0::2] - x[1::2]) / np.sqrt(2)
    return a, d


def haar_inverse(a, d):
    """Interleave (a + d)/sqrt(2) and (a - d)/sqrt(2)."""
    x = np.empty(2 * a.size)
    x[0::2] = (a + d) / np.sqrt(2)
    x[1::2] = (a - d) / np.sqrt(2)
    return x


def haar_matrix(n):
    """Averages in the first n/2 rows, differences in the last n/2."""
    return np.vstack([np.kron(np.eye(n // 2), [1.0, 1.0]),
                      np.kron(np.eye(n // 2), [1.0, -1.0])]) / np.sqrt(2)


# -- 02: filter banks ------------------------------------------------------------------


def alternating_flip(h):
    """g[n] = (-1)^(n+1) h[F-1-n]."""
    n = np.arange(len(h))
    return (-1.0) ** (n + 1) * np.asarray(h)[::-1]


def symmetric_extension(x, p):
    """Half-sample mirror of p samples at each end (p <= len(x))."""
    return np.concatenate([x[:p][::-1], x, x[len(x) - p:][::-1]])


def coeff_len(n, F, mode):
    """Coefficients per band of one DWT level."""
    if mode == "periodization":
        return (n + 1) // 2
    return (n + F - 1) // 2


# -- 03: denoising ---------------------------------------------------------------------


def soft_threshold(c, tau):
    return np.sign(c) * np.maximum(np.abs(c) - tau, 0.0)


def universal_threshold(cD1, n):
    sigma = np.median(np.abs(cD1)) / 0.6745
    return sigma * np.sqrt(2 * np.log(n))


# -- 04: backpropagation through the DWT -----------------------------------------------


def dwt_matrix(n, wavelet, mode):
    """Column i is the (concatenated) DWT of the unit vector e_i."""
    columns = [np.concatenate(wl.dwt(e, wavelet, mode)) for e in np.eye(n)]
    return np.stack(columns, axis=1)


def symmetric_extension_adjoint(g, n, p):
    """E^T g: the middle of g, plus each padded sample's gradient folded back onto its source."""
    x = np.array(g[p:p + n], dtype=float)
    for k in range(p):  # the k-th padded sample past each edge (k = 0 next to the edge)
        x[_mirror(k, n)] += g[p - 1 - k]  # left: a copy of x[m(k)]
        x[n - 1 - _mirror(k, n)] += g[p + n + k]  # right: a copy of x[n-1-m(k)]
    return x


def _mirror(k, n):
    """Which sample the k-th padded sample past the left edge copies: x0, x1, ..., x_{n-1},
    x_{n-1}, ..., x0, x0, ... (the half-sample mirror, repeated with period 2n)."""
    k = k % (2 * n)
    return k if k < n else 2 * n - 1 - k


def tanh_loss_gradient(x, weights, wavelet, level):
    """dL/dx of L = sum_k <w_k, tanh(c_k)>: chain rule, then the adjoint of wavedec."""
    c = wl.wavedec(x, wavelet, "symmetric", level=level)
    cbar = [w * (1 - np.tanh(ck) ** 2) for w, ck in zip(weights, c, strict=True)]
    return wl.wavedec_adjoint(cbar, wavelet, "symmetric", length=x.shape[-1])


# -- 05: the mixing layer --------------------------------------------------------------


def channel_backward(bands, W, dout):
    """out_k = c_k W_k: dc_k = dout_k W_k^T, dW_k = sum over batch and position of c_k^T dout_k."""
    dbands = [g @ W[k].T for k, g in enumerate(dout)]
    dW = np.stack([np.einsum("bnd,bne->de", c, g) for c, g in zip(bands, dout, strict=True)])
    return dbands, dW


def level_backward(bands, M, repeats, dout):
    """dS_j = R_j dout_j / r_j; dM[j, k] = sum u_k * dS_j; dc_k = R_k^T sum_j M[j, k] * dS_j."""
    grid = max(c.shape[1] * r for c, r in zip(bands, repeats, strict=True))

    def spread(c, r):  # R: repeat r times, zero-fill to the grid
        u = np.repeat(c, r, axis=1)
        return np.pad(u, [(0, 0), (0, grid - u.shape[1]), (0, 0)])

    def gather(s, r, n):  # R^T: sum the r grid positions of each coefficient
        return s[:, : n * r].reshape(s.shape[0], n, r, -1).sum(axis=2)

    u = [spread(c, r) for c, r in zip(bands, repeats, strict=True)]
    ds = [spread(g, r) / r for g, r in zip(dout, repeats, strict=True)]
    dM = np.stack([np.stack([np.sum(uk * s, axis=(0, 1)) for uk in u]) for s in ds])
    dbands = [gather(sum(M[j, k] * s for j, s in enumerate(ds)), r, c.shape[1])
              for k, (c, r) in enumerate(zip(bands, repeats, strict=True))]
    return dbands, dM


# -- 05b: the block by hand ------------------------------------------------------------


def layernorm_backward(dy, x, w, eps):
    """dx = r (g - mean(g) - x_hat mean(g x_hat)), g = dy w, r = 1/sqrt(var + eps)."""
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    g = dy * w
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    lead = tuple(range(dy.ndim - 1))
    return dx, np.sum(dy * xhat, axis=lead), np.sum(dy, axis=lead)


def gelu_backward(x, dy):
    c, a = math.sqrt(2 / math.pi), 0.044715
    t = np.tanh(c * (x + a * x**3))
    return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * a * x**2))


def cross_entropy_backward(logits, targets):
    """(softmax(z) - onehot(t)) / B."""
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    p[np.arange(len(targets)), targets] -= 1.0
    return p / len(targets)


def mean_pool_backward(dp, n):
    return np.repeat(dp[:, None, :] / n, n, axis=1)


# -- 06: training ----------------------------------------------------------------------


def lr_schedule(s, lr0, W, T, r):
    if s < W:
        return lr0 * (s + 1) / W
    p = min(1.0, (s - W) / max(1, T - W))
    return lr0 * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * p)))


def adamw_update(theta, g, m, v, t, lr, betas, eps, weight_decay):
    b1, b2 = betas
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    denom = np.sqrt(v) / math.sqrt(1 - b2**t) + eps
    theta = theta * (1 - lr * weight_decay) - lr / (1 - b1**t) * m / denom
    return theta, m, v


# -- 07: causal decoding ---------------------------------------------------------------


def receptive_field(F, J):
    """Level j reaches (F - 1) 2^(j-1) samples further back; plus t itself."""
    return 1 + (F - 1) * (2**J - 1)


def causal_filter(x, h, dilation):
    s = np.zeros_like(x)
    for i, hi in enumerate(h):
        lag = i * dilation
        if lag < x.size:
            s[lag:] += hi * x[: x.size - lag]
    return s


# -- 08: data parallelism --------------------------------------------------------------


def shard(batch, rank, world):
    return batch[rank::world]


def data_parallel_gradient(grad_fn, X, y, world):
    grads = [grad_fn(X[r::world], y[r::world]) for r in range(world)]
    return sum(grads) / world


SOLUTIONS = {
    "01.1": haar_step, "01.2": haar_inverse, "01.3": haar_matrix,
    "02.1": alternating_flip, "02.2": symmetric_extension, "02.3": coeff_len,
    "03.1": soft_threshold, "03.2": universal_threshold,
    "04.1": dwt_matrix, "04.2": symmetric_extension_adjoint, "04.3": tanh_loss_gradient,
    "05.1": channel_backward, "05.2": level_backward,
    "05b.1": layernorm_backward, "05b.2": gelu_backward, "05b.3": cross_entropy_backward,
    "05b.4": mean_pool_backward,
    "06.1": lr_schedule, "06.2": adamw_update,
    "07.1": receptive_field, "07.2": causal_filter,
    "08.1": shard, "08.2": data_parallel_gradient,
}
