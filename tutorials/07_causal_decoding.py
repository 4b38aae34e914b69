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
# # 7. Causal decoding
#
# A language model predicts character $t+1$ from characters $\le t$. Trained
# on whole windows at once, every layer must therefore be *causal*: output
# $t$ may depend on inputs $x_s$ with $s \le t$ only, i.e. the Jacobian
# $\partial y_t / \partial x_s$ must be lower triangular. Otherwise the model
# reads the answer during training and is useless at generation time.
#
# We show that the decimated wavelet mixing layer of the encoder leaks the
# future, build the causal *à trous* filter bank that `CausalWaveletMixing`
# uses instead, check it, and train a tiny character-level `WaveletDecoder`
# on Shakespeare.

# %%
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

from wavelearn.nn.mixing import (CausalWaveletMixing, WaveletMixing, causal_analysis,
                                 causal_lowpass)
from wavelearn.training.trainer import Trainer, TrainConfig

QUICK = os.environ.get("WAVELEARN_TUTORIAL_QUICK") == "1"
plt.rcParams.update({"figure.dpi": 70, "figure.figsize": (8, 3), "axes.grid": True})
np.set_printoptions(precision=3, suppress=True)
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm in a notebook

# %% [markdown]
# ## The decimated DWT leaks the future
#
# Take a one-channel `WaveletMixing` layer and give it non-trivial band gains
# (at initialisation it is the identity, which is trivially causal): keep the
# approximation, halve the coarse details, drop the finest ones. The layer is
# linear, so its Jacobian is the matrix $M$ with $y = M x$; feeding the $N$
# unit vectors as a batch gives all of it at once. Entries with $s > t$ (above
# the diagonal) are dependencies on the future.

# %%
N, J = 32, 2
gains = np.array([1.0, 0.5, 0.0])  # c_A2, c_D2, c_D1


def jacobian(layer, n=N):
    """M[t, s] = d y_t / d x_s of a one-channel layer."""
    eye = np.eye(n)[:, :, None]  # batch of unit impulses (n, n, 1)
    return layer(eye)[:, :, 0].T


def future_mass(m):
    """Fraction of |M| strictly above the diagonal."""
    return np.abs(np.triu(m, 1)).sum() / np.abs(m).sum()


mats = {}
for mode in ["periodization", "symmetric"]:
    layer = WaveletMixing(1, "db4", levels=J, mixing_mode="pointwise", mode=mode,
                          dtype=np.float64)
    layer.weight.data[:] = gains[:, None]
    mats[mode] = jacobian(layer)
    print(f"{mode:13s}: {future_mass(mats[mode]):.1%} of |M| lies above the diagonal")

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, (mode, m) in zip(axes, mats.items()):
    lim = np.abs(m).max()
    ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.plot([0, N - 1], [0, N - 1], "k:", lw=1)
    ax.set(title=f"WaveletMixing, {mode}", xlabel="input position s", ylabel="output t")
    ax.grid(False)
plt.tight_layout()
plt.show()

# %% [markdown]
# The band of weights straddles the diagonal: output $t$ is a weighted sum of
# inputs on both sides. With periodization the corners light up too: the
# signal wraps around, so the *first* outputs depend on the *last* inputs.
#
# The same thing, measured: change one "future" input $x_{s}$ and see how far
# back the outputs move.

# %%
x = np.random.default_rng(0).standard_normal((1, N, 1))
s = 20
for mode in ["periodization", "symmetric"]:
    layer = WaveletMixing(1, "db4", levels=J, mixing_mode="pointwise", mode=mode,
                          dtype=np.float64)
    layer.weight.data[:] = gains[:, None]
    x2 = x.copy()
    x2[0, s, 0] += 1.0
    change = np.abs(layer(x2) - layer(x))[0, :, 0]
    past = change[:s]
    print(f"{mode:13s}: changing x[{s}] moves {np.sum(past > 1e-12)} of the {s} earlier "
          f"outputs, the largest by {past.max():.3f} (at t = {past.argmax()})")

# %% [markdown]
# Three sources of leakage: the synthesis filters of a decimated DWT are
# centred on their coefficient and reach forward; the boundary extension
# (wrap-around for periodization, mirror for symmetric) copies late samples
# next to early ones; and decimation itself leaks, even with no filter
# overlap and far from any boundary. With Haar at $J = 2$, a coefficient of
# $c_{A_2}$ summarises a block of four samples, and synthesis spreads it back
# over the whole block, so output $t = 12$ reads inputs $13, 14, 15$ of its
# block. The cell shows the interior entry $M_{12,15} = 0.125$ (with the
# gains above) in both modes.

# %%
for mode in ["periodization", "symmetric"]:
    haar = WaveletMixing(1, "haar", levels=J, mixing_mode="pointwise", mode=mode,
                         dtype=np.float64)
    haar.weight.data[:] = gains[:, None]
    m_haar = jacobian(haar)
    print(f"Haar, {mode:13s}: M[12, 12:16] = {m_haar[12, 12:16]}, M[12, 15] = "
          f"{m_haar[12, 15]:.3f}, {future_mass(m_haar):.1%} of |M| above the diagonal")
#
# ## The causal à trous filter bank
#
# `CausalWaveletMixing` uses an undecimated decomposition built from one
# causal lowpass filter $\bar h$ (the wavelet's scaling filter normalised to
# $\sum_i \bar h_i = 1$, minimum-phase orientation, `causal_lowpass`):
#
# $$
# a_0 = x, \qquad
# a_j[t] = \sum_i \bar h_i\, a_{j-1}[t - 2^{j-1} i], \qquad
# d_j = a_{j-1} - a_j, \qquad j = 1, \dots, J,
# $$
#
# with $a_{j-1}[t] = 0$ for $t < 0$ (zero padding on the *left*). The filter
# at level $j$ is $\bar h$ with $2^{j-1} - 1$ zeros between its taps
# ("with holes", *à trous*), so the bands cover ever longer stretches of
# the past without decimation: every band has length $N$.
#
# * **Causal**: each $a_j[t]$ is a combination of $a_{j-1}[\le t]$, hence by
#   induction of $x[\le t]$; so are the differences $d_j$.
# * **Perfect reconstruction by a sum**: the differences telescope,
#
# $$ a_J + \sum_{j=1}^J d_j = a_J + \sum_{j=1}^J (a_{j-1} - a_j) = a_0 = x , $$
#
# so synthesis is $y = \sum_k \tilde c_k$ of the mixed bands: causal too,
# with no delay.

# %%
hbar = causal_lowpass("db4")
print("hbar =", hbar, " sum =", hbar.sum())
xb = np.random.default_rng(1).standard_normal((2, 64, 3))
bands = causal_analysis(np, xb, hbar, 3)  # [a_3, d_3, d_2, d_1]
print("band shapes:", [b.shape for b in bands])
print(f"max |a_J + sum d_j - x| = {np.abs(sum(bands) - xb).max():.1e}")

# %% [markdown]
# The telescoping sum is exact up to rounding. Causality, numerically: the
# Jacobian of every band, and of the whole layer with the same band gains as
# above, has nothing above the diagonal.

# %%
impulses = np.eye(N)[:, :, None]
band_jac = [b[:, :, 0].T for b in causal_analysis(np, impulses, hbar, J)]
for name, m in zip(["a_2", "d_2", "d_1"], band_jac):
    print(f"{name}: max |entry above the diagonal| = {np.abs(np.triu(m, 1)).max():.1e}")
causal = CausalWaveletMixing(1, "db4", J, "pointwise", dtype=np.float64)
causal.weight.data[:] = gains[:, None]
m_causal = jacobian(causal)
print(f"CausalWaveletMixing: {future_mass(m_causal):.1%} of |M| above the diagonal")

x2 = x.copy()
x2[0, s, 0] += 1.0
change = np.abs(causal(x2) - causal(x))[0, :, 0]
print(f"changing x[{s}] moves the earlier outputs by at most {change[:s].max():.1e}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
lim = np.abs(m_causal).max()
axes[0].imshow(m_causal, cmap="RdBu_r", vmin=-lim, vmax=lim)
axes[0].plot([0, N - 1], [0, N - 1], "k:", lw=1)
axes[0].set(title="CausalWaveletMixing", xlabel="input position s", ylabel="output t")
axes[0].grid(False)
t0 = N - 1
for name, m in zip(["$a_2$", "$d_2$", "$d_1$"], band_jac):
    axes[1].plot(np.arange(N) - t0, m[t0], ".-", label=name)
axes[1].set(title=f"band weights seen from t = {t0}", xlabel="s - t")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Row $t$ of each band's Jacobian is the band's impulse response read
# backwards: $d_1$ looks a few steps back, $a_2$ and $d_2$ reach further (the
# dilated filter). Everything sits at $s - t \le 0$.
#
# ## A tiny character-level decoder
#
# A `WaveletDecoder` stacks blocks of `CausalWaveletMixing` and token-wise
# feed-forward layers; everything but the mixing works position by position,
# so the whole model is causal. We train one on the start of the Shakespeare
# training text with the project's `Trainer` (task `'shakespeare'`: a
# `CharTokenizer` fitted on the training slice, random windows of
# `max_seq_len` characters, next-character cross-entropy) and score it in
# bits per character (bpc) on the start of the test text.

# %%
if QUICK:
    train_cfg = dict(steps=150, batch_size=16, max_seq_len=64, limit_train=100_000,
                     limit_test=10_000)
    model_cfg = dict(hidden_dim=64, num_layers=2, levels=3)
else:
    train_cfg = dict(steps=500, batch_size=32, max_seq_len=128, limit_train=1_000_000,
                     limit_test=20_000)
    model_cfg = dict(hidden_dim=64, num_layers=3, levels=4)
config = TrainConfig(task="shakespeare", lr=3e-3, seed=0, compute_baselines=False,
                     steps_per_epoch=train_cfg["steps"], eval_limit=train_cfg["limit_test"],
                     **train_cfg)
trainer = Trainer.create(config, dict(model_cfg, dropout=0.0))
data = trainer.data
print(f"train {data.train_x.size} chars, test {data.test_x.size} chars, "
      f"vocabulary {data.vocab_size}, model {trainer.num_parameters()} parameters")
started = time.perf_counter()
final = trainer.fit(progress=False)
train_time = time.perf_counter() - started
print(f"{config.steps} steps in {train_time:.1f} s, test bpc {final['bpc']:.3f}")

# %% [markdown]
# ## Baselines
#
# Two count models, fitted on the same training ids and scored on the same
# test ids, with add-one smoothing: a unigram $p(c)$ and a bigram
# $p(c_t \mid c_{t-1})$; bpc $= -\frac1n \sum_t \log_2 p(c_t \mid \cdot)$.

# %%
V, train_ids, test_ids = data.vocab_size, data.train_x, data.test_x
uni = np.bincount(train_ids, minlength=V) + 1.0
uni /= uni.sum()
bi = np.ones((V, V))
np.add.at(bi, (train_ids[:-1], train_ids[1:]), 1.0)
bi /= bi.sum(axis=1, keepdims=True)
bpc = {"uniform": np.log2(V),
       "unigram": -np.mean(np.log2(uni[test_ids[1:]])),
       "bigram": -np.mean(np.log2(bi[test_ids[:-1], test_ids[1:]])),
       "WaveletDecoder": final["bpc"]}
for name, value in bpc.items():
    print(f"{name:15s} {value:.3f} bits per character")

# %%
fig, ax = plt.subplots(figsize=(6, 2.6))
ax.barh(list(bpc), list(bpc.values()), color=["0.7", "0.6", "0.5", "C0"])
ax.invert_yaxis()
ax.set(xlabel="test bits per character (lower is better)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Generating text
#
# `model.generate` feeds the prompt, samples the next character from the
# softmax of the last position's logits (here with temperature 0.8 and the
# 10 most likely characters), appends it and repeats. Causality is what
# makes this consistent with training: the logits at the last position are
# computed from exactly the characters the model had during training.

# %%
tok = data.tokenizer
prompt = "ROMEO:\n"
ids = tok.encode(prompt)[None, :]
out = trainer.model.generate(ids, max_new_tokens=120 if QUICK else 300, temperature=0.8,
                             top_k=10, seed=0)
print(tok.decode(out[0]))
