# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. The wavelet mixing layer
#
# In a transformer, attention is the step that lets positions exchange
# information. A wavelet transformer replaces it with a *wavelet mixing*
# layer: for every channel, transform the sequence into wavelet bands,
# change the bands with a few learnable weights, and transform back:
#
# $$ Y = \mathcal S\big(f_\theta(\mathcal A X)\big), \qquad X, Y \in \mathbb R^{B \times N \times D}, $$
#
# with $\mathcal A$ = `wavedec` and $\mathcal S$ = `waverec` along the
# sequence axis (length $N$), batch $B$ and channels $D$. This costs
# $O(N)$ per channel instead of attention's $O(N^2)$. We look at the three
# ways wavelearn's `WaveletMixing` can change the bands, write the simplest
# one by hand (forward *and* backward) and check it against the layer, check
# all gradients with finite differences, look at what the layer does to a
# signal, and finally test the causal variant used in decoders.
#
# The idea of replacing attention ([Vaswani et al. 2017](references.md#vaswani-et-al-2017))
# by a fixed linear transform with few parameters comes from FNet
# ([Lee-Thorp et al. 2021](references.md#lee-thorp-et-al-2021)), which uses
# a Fourier transform; wavelearn's model API follows the
# [spectrans](references.md#spectrans) wavelet transformer.
#
# **Prerequisites:** tutorial 4 (adjoints); what attention does in a
# transformer, roughly: it mixes information across positions.
#
# **After this notebook you can** write the wavelet mixing layer's forward and
# backward passes, name its three coefficient maps and their weight shapes,
# gradient-check any layer against central differences, and read a layer's
# band gains as a filter.

# %%
import importlib.util
import os

import matplotlib.pyplot as plt
import numpy as np

import wavelearn as wl
from wavelearn.dwt import causal_lowpass
from wavelearn.nn.mixing import CausalWaveletMixing, WaveletMixing

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (8, 3), "axes.grid": True})
np.set_printoptions(precision=3, suppress=True)
# Sliders need ipywidgets (the `tutorials` extra) and a live notebook; the build and the
# tests set WAVELEARN_STATIC_FIGURES=1, so the stored notebook and the website show figures.
SLIDERS = (os.environ.get("WAVELEARN_STATIC_FIGURES") != "1"
           and importlib.util.find_spec("ipywidgets") is not None)

# %% [markdown]
# ## Three coefficient maps
#
# With $J$ levels there are $K = J + 1$ bands $c_0 = c_{A_J}, c_1 = c_{D_J},
# \dots, c_J = c_{D_1}$, each of shape $(B, n_k, D)$. Band $k$ comes from
# decomposition level
#
# $$ \ell_k = J \ \ (k = 0,\ c_{A_J}), \qquad \ell_k = J + 1 - k \ \ (k \ge 1,\ c_{D_{J+1-k}}), $$
#
# so it has $n_k \approx N / 2^{\ell_k}$ coefficients, each summarising
# $2^{\ell_k}$ positions of the sequence. ($\ell_k$ is a level; the filter
# delay of tutorial 2 is called $\Delta$.) The map $f_\theta$ is one of
#
# * `'pointwise'`: $\tilde c_k = c_k \odot w_k$, weight $(K, D)$: one gain per
#   band and channel, the same at every position.
# * `'channel'`: $\tilde c_k = c_k W_k$, weight $(K, D, D)$: a channel-mixing
#   matrix per band.
# * `'level'`: bands talk to each other at the same place in the sequence:
#   $\tilde c_j = P_j \sum_k M_{jk} \odot R_k c_k$, weight $(K, K, D)$, where
#   $R_k$ stretches each coefficient of band $k$ over the $2^{\ell_k}$
#   positions it covers and $P_j$ averages them back.
#
# Every mode starts as the identity map, so a new layer returns its input
# unchanged (up to rounding): perfect reconstruction. We take $D = 6$
# channels and $J = 3$ levels, so $K = 4 \ne D$ and each weight shape shows
# which axis is the band and which the channel.

# %%
B, N, D, J = 2, 64, 6, 3
x = np.random.default_rng(0).standard_normal((B, N, D))
bands = wl.wavedec(x, "db4", "periodization", level=J, axis=1)
names = [f"cA{J}"] + [f"cD{j}" for j in range(J, 0, -1)]
for k, (name, c) in enumerate(zip(names, bands, strict=True)):
    ell = J if k == 0 else J + 1 - k
    print(f"band k={k} ({name}): level l_k = {ell}, shape (B, n_k, D) = {c.shape}, "
          f"N / 2^l_k = {N / 2**ell:g}")
for mixing_mode in ["pointwise", "channel", "level"]:
    layer = WaveletMixing(D, "db4", levels=J, mixing_mode=mixing_mode, dtype=np.float64)
    print(f"{mixing_mode:9s} weight {layer.weight.shape}, {layer.num_parameters():3d} parameters, "
          f"max |layer(x) - x| at initialisation = {np.abs(layer(x) - x).max():.1e}")

# %% [markdown]
# ## Pointwise mixing by hand
#
# **Forward.** $c = \mathcal A x$ (all channels at once, along axis 1),
# $\tilde c_k = c_k \odot w_k$ (broadcast over batch and position),
# $y = \mathcal S \tilde c$.
#
# **Backward.** Given $\bar y = \partial L / \partial y$, run the chain rule
# in reverse; each linear step contributes its transpose (tutorial 4):
#
# $$
# \bar{\tilde c} = \mathcal S^\top \bar y, \qquad
# \bar w_k = \sum_{b, i} c_k \odot \bar{\tilde c}_k, \qquad
# \bar c_k = \bar{\tilde c}_k \odot w_k, \qquad
# \bar x = \mathcal A^\top \bar c .
# $$
#
# $\mathcal S^\top$ is `waverec_adjoint`, $\mathcal A^\top$ is
# `wavedec_adjoint`. The layer's default boundary mode is `periodization`.
# It gives exactly $N$ coefficients and an orthogonal transform (for an
# orthogonal wavelet) **only when $2^J$ divides $N$**. A level whose input has
# odd length first repeats its last sample to make it even, so the bands
# hold more than $N$ coefficients, and the transform is not orthogonal any
# more: $A^\top A \ne I$. It is still inverted exactly by `waverec`
# (cropped to `length=N`). The cell shows both cases with the matrix $A$ of
# `wavedec` (built column by column, as in tutorial 4).

# %%
wavelet, mode = "db4", "periodization"
for n in [64, 61]:
    cols = wl.wavedec(np.eye(n), wavelet, mode, level=J, axis=-1)  # row i: wavedec(e_i)
    A = np.concatenate(cols, axis=-1).T  # (coefficients, n)
    R = wl.waverec(np.split(np.eye(A.shape[0]), np.cumsum([c.shape[-1] for c in cols])[:-1],
                            axis=-1), wavelet, mode, axis=-1, length=n).T  # (n, coefficients)
    print(f"N = {n}: bands {[c.shape[-1] for c in cols]} = {A.shape[0]} coefficients, "
          f"max |A^T A - I| = {np.abs(A.T @ A - np.eye(n)).max():.2f}, "
          f"max |waverec(A x) - x| over all x = {np.abs(R @ A - np.eye(n)).max():.1e}")

# %% [markdown]
# The hand-written backward pass never uses the inverse: it uses the
# adjoints, which are exact for every length. We test it on the awkward odd
# length $N = 61$ on purpose.

# %%


def pointwise_forward(x, w):
    bands = wl.wavedec(x, wavelet, mode, level=J, axis=1)
    mixed = [c * w[k] for k, c in enumerate(bands)]
    return wl.waverec(mixed, wavelet, mode, axis=1, length=x.shape[1]), bands


def pointwise_backward(dy, bands, w):
    dmixed = wl.waverec_adjoint(dy, wavelet, mode, axis=1, coeff_lengths=[c.shape[1] for c in bands])
    dw = np.stack([np.sum(c * g, axis=(0, 1)) for c, g in zip(bands, dmixed, strict=True)])
    dbands = [g * w[k] for k, g in enumerate(dmixed)]
    return wl.wavedec_adjoint(dbands, wavelet, mode, axis=1, length=dy.shape[1]), dw


rng = np.random.default_rng(1)
x = rng.standard_normal((B, 61, D))
layer = WaveletMixing(D, wavelet, levels=J, mixing_mode="pointwise", mode=mode, dtype=np.float64)
layer.weight.data[...] = rng.standard_normal(layer.weight.shape)  # leave the identity behind

y_hand, bands = pointwise_forward(x, layer.weight.data)
y_layer = layer(x)
dy = rng.standard_normal(y_layer.shape)
dx_hand, dw_hand = pointwise_backward(dy, bands, layer.weight.data)
layer.zero_grad()
dx_layer = layer.backward(dy)
print("band lengths:", [c.shape[1] for c in bands])
print(f"max |y  by hand - layer| = {np.abs(y_hand - y_layer).max():.1e}")
print(f"max |dx by hand - layer| = {np.abs(dx_hand - dx_layer).max():.1e}")
print(f"max |dw by hand - layer| = {np.abs(dw_hand - layer.weight.grad).max():.1e}")

# %% [markdown]
# ## Gradient check for every mode
#
# For `channel` and `level` the backward formulas are longer (they are
# written out in `wavelearn/nn/mixing.py`), so we test them the way one
# tests any hand-written backward pass: pick a random $G$, let
# $f = \sum y \odot G$, so that $\bar y = G$, and compare the layer's
# $\bar x$ and $\bar\theta$ with central differences of $f$.

# %%
def numerical_gradient(f, v, eps=1e-6):
    """Central differences of f() with respect to the array v, perturbed in place."""
    g = np.zeros_like(v)
    for idx in np.ndindex(v.shape):
        old = v[idx]
        v[idx] = old + eps
        plus = f()
        v[idx] = old - eps
        minus = f()
        v[idx] = old
        g[idx] = (plus - minus) / (2 * eps)
    return g


def rel_error(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max())


def gradient_check(layer, x, seed=0):
    rng = np.random.default_rng(seed)
    layer.weight.data[...] += 0.3 * rng.standard_normal(layer.weight.shape)
    G = rng.standard_normal(layer(x).shape)
    layer.zero_grad()
    dx = layer.backward(G)

    def f():
        return np.sum(layer(x) * G)

    return rel_error(dx, numerical_gradient(f, x)), rel_error(
        layer.weight.grad, numerical_gradient(f, layer.weight.data))


x_small = np.random.default_rng(2).standard_normal((2, 24, 3))
for mixing_mode in ["pointwise", "channel", "level"]:
    for layer in [WaveletMixing(3, "db2", 2, mixing_mode, dtype=np.float64),
                  CausalWaveletMixing(3, "db2", 2, mixing_mode, dtype=np.float64)]:
        ex, ew = gradient_check(layer, x_small.copy())
        print(f"{type(layer).__name__:19s} {mixing_mode:9s} relative error dx {ex:.1e}, dweight {ew:.1e}")

# %% [markdown]
# ## What the layer does to a signal
#
# In `pointwise` mode the layer is, per channel, a set of band gains. Set the
# gains of the finest detail bands to zero and the layer becomes a smoother;
# raise one band's gain and it emphasises that scale. With fixed weights the
# layer is linear, but the downsampling inside the DWT makes it not quite
# shift-invariant, so it has no exact frequency response. We measure an
# average one: feed white noise and divide the output's mean power spectrum
# by the input's.

# %%
N, J = 256, 4
names = [f"cA{J}"] + [f"cD{j}" for j in range(J, 0, -1)]
settings = {
    "identity": [1, 1, 1, 1, 1],
    "drop cD1": [1, 1, 1, 1, 0],
    "drop cD1, cD2": [1, 1, 1, 0, 0],
    "only cA4": [1, 0, 0, 0, 0],
    "boost cD3 x3": [1, 1, 3, 1, 1],
}
t = np.arange(N)
rng = np.random.default_rng(3)
clean = np.sin(2 * np.pi * t / 64) + 0.5 * np.sign(np.sin(2 * np.pi * t / 100))
signal = (clean + 0.3 * rng.standard_normal(N))[None, :, None]  # (B=1, N, D=1)
noise = rng.standard_normal((200, N, 1))  # white noise, 200 sequences
freq = np.fft.rfftfreq(N)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].plot(signal[0, :, 0], color="0.7", label="input")
for label, gains in settings.items():
    layer = WaveletMixing(1, "db4", levels=J, mixing_mode="pointwise", dtype=np.float64)
    layer.weight.data[:, 0] = gains
    out = layer(signal)[0, :, 0]
    if label in ("drop cD1, cD2", "only cA4"):
        axes[0].plot(out, label=label)
    rms = np.sqrt(np.mean((out - clean) ** 2))
    gain = np.mean(np.abs(np.fft.rfft(layer(noise)[:, :, 0], axis=1)) ** 2, axis=0) \
        / np.mean(np.abs(np.fft.rfft(noise[:, :, 0], axis=1)) ** 2, axis=0)
    axes[1].semilogy(freq, gain, label=label)
    print(f"{label:14s} gains {dict(zip(names, gains, strict=True))}: RMS distance to the clean "
          f"signal {rms:.3f}")
axes[0].set(xlabel="position", title="one channel through pointwise mixing")
axes[0].legend(fontsize=8)
axes[1].set(xlabel="frequency (cycles per sample)", ylabel="power gain", ylim=(1e-3, 20),
            title="measured frequency response (white-noise input)")
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Try it: band gains.** Set the five gains yourself and watch the output
# and the measured response. In JupyterLab with the `tutorials` extra, five
# sliders appear; elsewhere (the website, the tests) one fixed setting is
# drawn.

# %%
def show_gains(cA4=1.0, cD4=1.0, cD3=1.0, cD2=0.5, cD1=0.0):
    layer = WaveletMixing(1, "db4", levels=J, mixing_mode="pointwise", dtype=np.float64)
    layer.weight.data[:, 0] = [cA4, cD4, cD3, cD2, cD1]
    gain = np.mean(np.abs(np.fft.rfft(layer(noise)[:, :, 0], axis=1)) ** 2, axis=0) \
        / np.mean(np.abs(np.fft.rfft(noise[:, :, 0], axis=1)) ** 2, axis=0)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3))
    ax1.plot(signal[0, :, 0], color="0.7", label="input")
    ax1.plot(layer(signal)[0, :, 0], label="output")
    ax1.legend(fontsize=8)
    ax2.semilogy(freq, gain)
    ax2.set(xlabel="frequency (cycles per sample)", ylabel="power gain", ylim=(1e-3, 20))
    fig.suptitle(f"gains cA4 {cA4:g}, cD4 {cD4:g}, cD3 {cD3:g}, cD2 {cD2:g}, cD1 {cD1:g}")
    fig.tight_layout()
    plt.show()


if SLIDERS:
    from ipywidgets import FloatSlider, interact

    sliders = {name: FloatSlider(value=v, min=0.0, max=3.0, step=0.1)
               for name, v in zip(names, [1.0, 1.0, 1.0, 0.5, 0.0], strict=True)}
    interact(show_gains, **sliders)
else:
    show_gains()

# %% [markdown]
# Each detail band $c_{D_j}$ covers roughly the frequencies between
# $2^{-(j+1)}$ and $2^{-j}$ cycles per sample, so dropping $c_{D_1}$ removes
# the top half of the spectrum, dropping $c_{D_2}$ as well the top three
# quarters, and the boost lifts one octave. The edges of the bands are soft
# because the filters are short. A trained layer learns such gains (or, in
# the other modes, whole matrices) per channel.
#
# ## The causal variant
#
# A decoder predicts token $t + 1$ from tokens $\le t$, so its mixer must
# not read the future. The decimated DWT cannot promise that (boundary
# extensions and synthesis filters reach forward in time, and so does
# decimation itself: tutorial 7 measures each). `CausalWaveletMixing`
# uses an undecimated (*à trous*) causal decomposition instead: with the
# low-pass $\bar h = h / \sum h$,
#
# $$ a_0 = x, \qquad a_j[t] = \sum_i \bar h[i]\, a_{j-1}[t - 2^{j-1} i], \qquad d_j = a_{j-1} - a_j, $$
#
# (zeros before the start), so every band at time $t$ reads $x[\le t]$ only.
# The bands add up to the input, $x = a_J + \sum_j d_j$, so the synthesis is
# a plain sum, $y = \sum_k \tilde c_k$: causal, and the identity at
# initialisation.
#
# The test: change the input only after position $t_0$; every output at or
# before $t_0$ must stay *exactly* the same, whatever the weights. We try it
# with random `channel` weights, and, for contrast, with the non-causal
# `WaveletMixing`, whose outputs near $t_0$ read the future through the
# filters, and whose first outputs even read the end of the sequence through
# the periodic wrap-around of `periodization`.

# %%
B, N, D, t0 = 1, 128, 4, 80
rng = np.random.default_rng(4)
x = rng.standard_normal((B, N, D))
x_future = x.copy()
x_future[:, t0 + 1:, :] = rng.standard_normal((B, N - t0 - 1, D))  # a different future

fig, ax = plt.subplots(figsize=(8, 3))
for layer in [CausalWaveletMixing(D, "db4", levels=3, mixing_mode="channel", dtype=np.float64),
              WaveletMixing(D, "db4", levels=3, mixing_mode="channel", dtype=np.float64)]:
    layer.weight.data[...] = rng.standard_normal(layer.weight.shape)
    change = np.abs(layer(x) - layer(x_future)).max(axis=(0, 2))  # per position
    name = type(layer).__name__
    print(f"{name:19s} max change at positions <= {t0}: {change[:t0 + 1].max():.1e}, "
          f"after: {change[t0 + 1:].max():.2f}; first position that changes: "
          f"{np.flatnonzero(change > 0)[0]}")
    ax.semilogy(np.maximum(change, 1e-17), label=name)
ax.axvline(t0 + 0.5, color="k", ls="--", lw=1)
ax.set(xlabel="position t", ylabel="max |y - y'| (floored at 1e-17)",
       title=f"inputs differ only after t0 = {t0}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The same fact, seen as a matrix: for one channel the layer (with fixed
# weights) is linear, $y = M x$, and $M_{ts} = \partial y_t / \partial x_s$.
# Feeding the $N$ unit vectors as a batch gives all of $M$ at once. A causal
# layer has a lower-triangular $M$. We give both layers the same smoothing
# gains (keep $c_{A_2}$, damp $c_{D_2}$, drop $c_{D_1}$): the non-causal one
# averages over a window around $t$, the causal one over the past only.

# %%
N = 48
unit = np.eye(N)[:, :, None]  # batch of N unit vectors, (N, N, 1)
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
for ax, layer in zip(axes, [WaveletMixing(1, "db4", 2, "pointwise", dtype=np.float64),
                            CausalWaveletMixing(1, "db4", 2, "pointwise", dtype=np.float64)],
                     strict=True):
    layer.weight.data[:, 0] = [1.0, 0.3, 0.0]  # gains of cA2, cD2, cD1
    M = layer(unit)[:, :, 0].T  # column s is the response to e_s
    above = np.abs(np.triu(M, k=1)).max()
    print(f"{type(layer).__name__:19s} largest |M[t, s]| with s > t: {above:.1e}")
    ax.imshow(M, cmap="RdBu_r", vmin=-0.5, vmax=0.5, interpolation="nearest")
    ax.set(title=type(layer).__name__, xlabel="input position s", ylabel="output position t")
    ax.grid(False)
fig.tight_layout()
plt.show()

# %% [markdown]
# The causal smoother also lags behind: its band of weights sits below the
# diagonal. A causal filter can only average the past. Tap $i$ of $\bar h$
# weighs the sample $i$ steps back, so the centre of mass $\sum_i i\,\bar h[i]$
# measures the delay. A Daubechies low-pass can be used in two orientations
# (`dec_lo` or its reverse `rec_lo`); `causal_lowpass` picks the one whose
# weight sits on the first taps (the minimum-phase one), which lags least.
# Level $j$ dilates the filter by $2^{j-1}$, so the
# delays add up over the levels.

# %%
for name in ["haar", "db2", "db4"]:
    w = wl.Wavelet(name)
    for label, h in [("dec_lo", w.dec_lo), ("rec_lo", w.rec_lo)]:
        print(f"{name} {label}: centre of mass {np.sum(np.arange(h.size) * h) / h.sum():.2f}")
    hbar = causal_lowpass(name)
    delay = np.sum(np.arange(hbar.size) * hbar)
    print(f"{name}: hbar = {np.round(hbar, 3)}, delay of one level {delay:.2f} samples, "
          f"of a_2 (two levels) {delay * (1 + 2):.2f} samples")

# %% [markdown]
# ## Exercises
#
# Write each function in its cell, then run the cell: `check` grades your
# answer against an independent reference and says what is wrong, if
# anything: which entry differs, the expected and the returned value, and which gradient-check direction fails.
# Until you write it, a function raises `NotImplementedError` and `check`
# says "not attempted yet". Reference solutions are in
# [`solutions.py`](solutions.py), next to the notebooks: look after trying.

# %%
from wavelearn.exercises import check

# %% [markdown]
# **1. The backward pass of `channel` mixing.** Forward:
# $\tilde c_k = c_k W_k$ for bands $c_k$ of shape $(B, n_k, D)$ and
# $W$ of shape $(K, D, D)$. Given the output gradients `dout` (a list),
# return `(dbands, dW)`. The check compares entries and runs gradient checks
# along random directions.

# %%
def channel_backward(bands, W, dout):
    raise NotImplementedError  # your code here


check("05.1", channel_backward)

# %% [markdown]
# **2. The backward pass of `level` mixing.** Forward, with
# $r_k = 2^{\ell_k}$ (`repeats`): $u_k = R_k c_k$ (repeat each coefficient
# $r_k$ times along the sequence, zero-fill to the longest band's grid),
# $S_j = \sum_k M_{jk} \odot u_k$, $\tilde c_j = R_j^\top S_j / r_j$, with
# $M$ of shape $(K, K, D)$. Return `(dbands, dM)`.

# %%
def level_backward(bands, M, repeats, dout):
    raise NotImplementedError  # your code here


check("05.2", level_backward)
