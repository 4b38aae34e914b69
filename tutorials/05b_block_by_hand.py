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
# # 5b. A whole wavelet-transformer block, and a classifier, by hand
#
# Tutorial 5 took one layer apart; tutorial 6 trains a whole model with
# `Trainer`. This notebook fills the gap. We assemble a complete classifier
# (token embedding and positions, one pre-norm wavelet-transformer block,
# a final LayerNorm, mean pooling, a linear head and the softmax
# cross-entropy loss) from plain NumPy functions, deriving the forward and
# the backward pass of every piece. Then we gradient-check the whole thing
# and show that it computes exactly what wavelearn's `WaveletTransformer`
# (and its `WaveletBlock`) computes, gradients included.
#
# The block is the pre-norm transformer block of
# [Vaswani et al. (2017)](references.md#vaswani-et-al-2017) with attention
# replaced by wavelet mixing, as FNet
# ([Lee-Thorp et al. 2021](references.md#lee-thorp-et-al-2021)) replaces it by
# a Fourier transform.
#
# **Prerequisites:** tutorials 4 and 5 (adjoints, the mixing layer); matrix
# calculus at the level of "the gradient of $x W^\top$ with respect to $W$".
#
# **After this notebook you can** derive the backward pass of LayerNorm,
# GELU, a linear layer, an embedding, mean pooling and softmax
# cross-entropy; wire them into a model with residual connections;
# gradient-check a whole model; and read wavelearn's model code line by line.

# %%
import matplotlib.pyplot as plt
import numpy as np

import wavelearn as wl

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (8, 3), "axes.grid": True})
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## The model
#
# A batch of $B$ token sequences `ids` $(B, N)$ with labels $t_b \in \{0,
# \dots, C-1\}$ goes through
#
# $$
# \begin{aligned}
# x &= E[\text{ids}] + P & &(B, N, D)\\
# h &= x + \mathrm{Mix}(\mathrm{LN}_1(x)) & &(B, N, D)\\
# y &= h + W_2\,\mathrm{GELU}(W_1 \mathrm{LN}_2(h) + b_1) + b_2 & &(B, N, D)\\
# z &= \mathrm{LN}_f(y) & &(B, N, D)\\
# p_b &= \tfrac1N \textstyle\sum_t z_{bt} & &(B, D)\\
# \text{logits} &= p\, W_h^\top + b_h & &(B, C)\\
# L &= -\tfrac1B \textstyle\sum_b \log \mathrm{softmax}(\text{logits}_b)_{t_b} & &(\text{a number})
# \end{aligned}
# $$
#
# Line by line: embedding and positions; wavelet mixing, then the residual;
# the feed-forward network (FFN), then the residual; the final LayerNorm;
# mean pooling; the linear head; the mean cross-entropy loss.
#
# *Pre-norm* means each sub-layer reads a normalised copy of the stream
# ($\mathrm{LN}_1(x)$, $\mathrm{LN}_2(h)$) while the residual stream itself
# ($x \to h \to y$) is never normalised; deep stacks of such blocks train
# stably. A model has several blocks in a row; here one is enough to see
# every piece. The sizes are small, and everything is float64 so that
# finite differences are accurate.

# %%
B, N, V, D, H, C, J = 4, 16, 11, 8, 16, 3, 2  # batch, length, vocabulary, width, FFN width, classes, levels
WAVELET, MODE, EPS = "db2", "periodization", 1e-5
rng = np.random.default_rng(0)
ids = rng.integers(0, V, (B, N))
targets = rng.integers(0, C, B)
params = {
    "embedding.weight": rng.standard_normal((V, D)),
    "blocks.0.ln1.weight": 1 + 0.2 * rng.standard_normal(D),
    "blocks.0.ln1.bias": 0.1 * rng.standard_normal(D),
    "blocks.0.mixing.weight": 1 + 0.5 * rng.standard_normal((J + 1, D)),  # pointwise gains (K, D)
    "blocks.0.ln2.weight": 1 + 0.2 * rng.standard_normal(D),
    "blocks.0.ln2.bias": 0.1 * rng.standard_normal(D),
    "blocks.0.ffn.fc1.weight": rng.standard_normal((H, D)) / np.sqrt(D),
    "blocks.0.ffn.fc1.bias": 0.1 * rng.standard_normal(H),
    "blocks.0.ffn.fc2.weight": rng.standard_normal((D, H)) / np.sqrt(H),
    "blocks.0.ffn.fc2.bias": 0.1 * rng.standard_normal(D),
    "final_norm.weight": 1 + 0.2 * rng.standard_normal(D),
    "final_norm.bias": 0.1 * rng.standard_normal(D),
    "head.weight": rng.standard_normal((C, D)) / np.sqrt(D),
    "head.bias": 0.1 * rng.standard_normal(C),
}
print({name: value.shape for name, value in params.items()})

# %% [markdown]
# ## Embedding and positions
#
# **Forward.** Row $v$ of the table $E$ $(V, D)$ is the vector of token $v$;
# $x_{bt} = E[\text{ids}_{bt}] + P_t$, with the fixed sinusoidal table
# $P_{t, 2i} = \sin(t\,\omega_i)$, $P_{t, 2i+1} = \cos(t\,\omega_i)$,
# $\omega_i = 10000^{-2i/D}$ (Vaswani et al.). Without positions the model
# could not tell where a token is.
#
# **Backward.** $x_{bt}$ depends on the row $E[\text{ids}_{bt}]$ only, with
# derivative one, so the gradient of row $v$ collects the gradients of every
# position that reads token $v$:
# $\bar E_v = \sum_{(b,t):\, \text{ids}_{bt} = v} \bar x_{bt}$ (a
# *scatter-add*; `np.add.at` accumulates repeated indices, where
# `dE[ids] += dx` would keep only one of them). $P$ is fixed: no gradient.

# %%
def sinusoidal(n, d):
    omega = 10000.0 ** (-np.arange(0, d, 2) / d)
    angle = np.arange(n)[:, None] * omega[None, :]
    table = np.zeros((n, d))
    table[:, 0::2], table[:, 1::2] = np.sin(angle), np.cos(angle)
    return table


def embed_forward(E, ids):
    return E[ids] + sinusoidal(ids.shape[1], E.shape[1])  # (B, N, D)


def embed_backward(dx, ids, vocab):
    dE = np.zeros((vocab, dx.shape[-1]))
    np.add.at(dE, ids.ravel(), dx.reshape(-1, dx.shape[-1]))  # repeated ids accumulate
    return dE


# %% [markdown]
# ## LayerNorm, and its backward pass derived
#
# **Forward**, over the last axis of each token's vector ($D$ numbers):
#
# $$ \mu = \tfrac1D \textstyle\sum_i x_i, \quad \sigma^2 = \tfrac1D \sum_i (x_i - \mu)^2, \quad
#    r = (\sigma^2 + \epsilon)^{-1/2}, \quad \hat x = (x - \mu)\, r, \quad y = \hat x \odot w + b. $$
#
# **Backward.** $\bar w = \sum \bar y \odot \hat x$ and $\bar b = \sum \bar y$
# (summed over batch and positions). For $\bar x$, let $g = \bar y \odot w =
# \partial L / \partial \hat x$. Both $\mu$ and $r$ depend on every $x_j$:
# $\partial \mu / \partial x_j = 1/D$ and
# $\partial r / \partial x_j = -r^3 (x_j - \mu) / D = -r^2 \hat x_j / D$. So
#
# $$ \frac{\partial \hat x_i}{\partial x_j}
#    = r\Big(\delta_{ij} - \frac1D\Big) - (x_i - \mu)\, \frac{r^2 \hat x_j}{D}
#    = r\Big(\delta_{ij} - \frac1D - \frac{\hat x_i \hat x_j}{D}\Big), $$
#
# $$ \bar x_j = \sum_i g_i \frac{\partial \hat x_i}{\partial x_j}
#    = r\big(g_j - \overline{g} - \hat x_j\, \overline{g \hat x}\big), $$
#
# where the bars are means over the $D$ entries. The two subtracted terms
# remove the components of $g$ that the normalisation cannot pass on: a
# shift of all entries (the mean is subtracted) and a scaling along
# $\hat x$ (the variance is divided out).

# %%
def layernorm(x, w, b):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + EPS)
    xhat = (x - mu) * r
    return xhat * w + b, (xhat, r)


def layernorm_grad(dy, cache, w):
    xhat, r = cache
    g = dy * w
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    lead = tuple(range(dy.ndim - 1))
    return dx, np.sum(dy * xhat, axis=lead), np.sum(dy, axis=lead)


# %% [markdown]
# ## Mixing, then the residual
#
# The pointwise mixing of tutorial 5: $c = \mathcal A u$ (wavedec along the
# sequence), $\tilde c_k = c_k \odot w_k$, $m = \mathcal S \tilde c$
# (waverec). Its backward pass runs the adjoints:
# $\bar{\tilde c} = \mathcal S^\top \bar m$, $\bar w_k = \sum c_k \odot
# \bar{\tilde c}_k$, $\bar c_k = w_k \odot \bar{\tilde c}_k$,
# $\bar u = \mathcal A^\top \bar c$.
#
# **The residual** $h = x + \mathrm{Mix}(\mathrm{LN}_1(x))$: $x$ reaches $h$
# along two paths, so its gradient is the sum of both,
# $\bar x = \bar h + \mathrm{LN}_1^\top \mathrm{Mix}^\top \bar h$. The first
# term is why deep residual networks train: the gradient reaches every
# block unchanged along the identity path.

# %%
def mix_forward(u, gains):
    bands = wl.wavedec(u, WAVELET, MODE, level=J, axis=1)  # K x (B, n_k, D)
    mixed = [c * gains[k] for k, c in enumerate(bands)]
    return wl.waverec(mixed, WAVELET, MODE, axis=1, length=u.shape[1]), bands


def mix_backward(dm, bands, gains):
    dmixed = wl.waverec_adjoint(dm, WAVELET, MODE, axis=1,
                                coeff_lengths=[c.shape[1] for c in bands])
    dgains = np.stack([np.sum(c * g, axis=(0, 1)) for c, g in zip(bands, dmixed, strict=True)])
    dbands = [g * gains[k] for k, g in enumerate(dmixed)]
    return wl.wavedec_adjoint(dbands, WAVELET, MODE, axis=1, length=dm.shape[1]), dgains


# %% [markdown]
# ## The feed-forward network with GELU
#
# **Linear**, $y = x W^\top + b$ with $W$ of shape (out, in), applied to
# every token. With the leading axes flattened to $M$ rows:
# $\bar x = \bar y\, W$, $\bar W = \bar y^\top x$ (an (out, in) sum of outer
# products over the $M$ rows), $\bar b = \sum_m \bar y_m$.
#
# **GELU** (tanh form, as GPT-2 and `torch.nn.GELU(approximate='tanh')`):
# $\mathrm{GELU}(a) = \tfrac12 a\,(1 + \tanh s)$ with
# $s = c\,(a + 0.044715\, a^3)$, $c = \sqrt{2/\pi}$. It acts entrywise, so
# its Jacobian is diagonal, and by the product rule
#
# $$ \frac{d\,\mathrm{GELU}}{da} = \tfrac12(1 + \tanh s)
#    + \tfrac12 a\,(1 - \tanh^2 s)\, c\,(1 + 3 \cdot 0.044715\, a^2). $$
#
# The FFN is $f = \mathrm{Linear}_2(\mathrm{GELU}(\mathrm{Linear}_1(v)))$ with
# $v = \mathrm{LN}_2(h)$, and $y = h + f$ is the second residual.

# %%
GELU_C, GELU_A = np.sqrt(2 / np.pi), 0.044715


def linear_forward(x, W, b):
    return x @ W.T + b


def linear_backward(dy, x, W):
    dy2, x2 = dy.reshape(-1, dy.shape[-1]), x.reshape(-1, x.shape[-1])  # (M, out), (M, in)
    return dy @ W, dy2.T @ x2, dy2.sum(axis=0)


def gelu(a):
    return 0.5 * a * (1 + np.tanh(GELU_C * (a + GELU_A * a**3)))


def gelu_grad(da_out, a):
    t = np.tanh(GELU_C * (a + GELU_A * a**3))
    return da_out * (0.5 * (1 + t) + 0.5 * a * (1 - t**2) * GELU_C * (1 + 3 * GELU_A * a**2))


# %% [markdown]
# ## Pooling and softmax cross-entropy, derived
#
# **Mean pooling**, $p_b = \frac1N \sum_t z_{bt}$: each position contributes
# $1/N$, so $\bar z_{bt} = \bar p_b / N$ at every position.
#
# **Softmax cross-entropy.** With $q = \mathrm{softmax}(o)$ for the
# logits $o$ of one example, $q_c = e^{o_c} / \sum_k e^{o_k}$, the
# loss is $-\log q_t = -o_t + \log \sum_k e^{o_k}$. Differentiating,
#
# $$ \frac{\partial(-\log q_t)}{\partial o_c} = -[c = t] + \frac{e^{o_c}}{\sum_k e^{o_k}}
#    = q_c - [c = t], $$
#
# the predicted probabilities minus the one-hot target: no division, no
# exponent left. The batch loss is the mean over $B$ examples, so
# $\bar o_b = (q_b - \mathrm{onehot}(t_b)) / B$. For the forward pass we
# subtract $\max_k o_k$ first, which changes nothing mathematically and
# keeps every exponent $\le 0$ (no overflow).

# %%
def softmax_cross_entropy(logits, t):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    logq = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # log softmax
    loss = -np.mean(logq[np.arange(len(t)), t])
    dlogits = np.exp(logq)
    dlogits[np.arange(len(t)), t] -= 1.0
    return loss, dlogits / len(t)


# %% [markdown]
# ## The assembled model
#
# The forward pass keeps in `cache` what the backward pass needs; the
# backward pass runs every step in reverse, with the two residuals adding
# their skip gradients.

# %%
def forward(p, ids, t):
    cache = {}
    x = embed_forward(p["embedding.weight"], ids)  # (B, N, D)
    u, cache["ln1"] = layernorm(x, p["blocks.0.ln1.weight"], p["blocks.0.ln1.bias"])
    m, cache["bands"] = mix_forward(u, p["blocks.0.mixing.weight"])
    h = x + m  # residual 1
    v, cache["ln2"] = layernorm(h, p["blocks.0.ln2.weight"], p["blocks.0.ln2.bias"])
    a = linear_forward(v, p["blocks.0.ffn.fc1.weight"], p["blocks.0.ffn.fc1.bias"])  # (B, N, H)
    g = gelu(a)
    y = h + linear_forward(g, p["blocks.0.ffn.fc2.weight"], p["blocks.0.ffn.fc2.bias"])  # residual 2
    z, cache["lnf"] = layernorm(y, p["final_norm.weight"], p["final_norm.bias"])
    pooled = z.mean(axis=1)  # (B, D)
    logits = linear_forward(pooled, p["head.weight"], p["head.bias"])  # (B, C)
    loss, dlogits = softmax_cross_entropy(logits, t)
    cache.update(ids=ids, v=v, a=a, g=g, pooled=pooled, dlogits=dlogits, block_out=y)
    return loss, logits, cache


def backward(p, cache):
    grads = {}
    dpooled, grads["head.weight"], grads["head.bias"] = linear_backward(
        cache["dlogits"], cache["pooled"], p["head.weight"])
    dz = np.repeat(dpooled[:, None, :] / N, N, axis=1)  # mean pooling
    dy, grads["final_norm.weight"], grads["final_norm.bias"] = layernorm_grad(
        dz, cache["lnf"], p["final_norm.weight"])
    dg, grads["blocks.0.ffn.fc2.weight"], grads["blocks.0.ffn.fc2.bias"] = linear_backward(
        dy, cache["g"], p["blocks.0.ffn.fc2.weight"])
    da = gelu_grad(dg, cache["a"])
    dv, grads["blocks.0.ffn.fc1.weight"], grads["blocks.0.ffn.fc1.bias"] = linear_backward(
        da, cache["v"], p["blocks.0.ffn.fc1.weight"])
    dh_ffn, grads["blocks.0.ln2.weight"], grads["blocks.0.ln2.bias"] = layernorm_grad(
        dv, cache["ln2"], p["blocks.0.ln2.weight"])
    dh = dy + dh_ffn  # residual 2: the skip path plus the FFN path
    du, grads["blocks.0.mixing.weight"] = mix_backward(dh, cache["bands"],
                                                       p["blocks.0.mixing.weight"])
    dx_mix, grads["blocks.0.ln1.weight"], grads["blocks.0.ln1.bias"] = layernorm_grad(
        du, cache["ln1"], p["blocks.0.ln1.weight"])
    dx = dh + dx_mix  # residual 1
    grads["embedding.weight"] = embed_backward(dx, cache["ids"], V)
    return grads


loss, logits, cache = forward(params, ids, targets)
grads = backward(params, cache)
print(f"loss {loss:.6f} (log C = {np.log(C):.6f} for a uniform guess); logits\n{logits}")

# %% [markdown]
# ## Gradient check of the whole model
#
# For every parameter $\theta$ we compare the hand-written gradient with
# central differences of the loss, along three random directions $u$
# (the directional derivative $\langle \bar\theta, u \rangle$, which touches
# every entry at once) and at three random entries. In float64 the relative
# errors should be around $10^{-8}$ or smaller.

# %%
def loss_at(name, value):
    changed = dict(params, **{name: value})
    return forward(changed, ids, targets)[0]


check_rng, eps = np.random.default_rng(1), 1e-6
worst = 0.0
print(f"{'parameter':26s} {'shape':>8s}  directional rel. error  entrywise rel. error")
for name, value in params.items():
    errs_dir, errs_entry = [], []
    for _ in range(3):
        u = check_rng.standard_normal(value.shape)
        fd = (loss_at(name, value + eps * u) - loss_at(name, value - eps * u)) / (2 * eps)
        errs_dir.append(abs(fd - np.sum(grads[name] * u)) / max(abs(fd), 1e-12))
        idx = tuple(check_rng.integers(0, s) for s in value.shape)
        e = np.zeros_like(value)
        e[idx] = eps
        fd = (loss_at(name, value + e) - loss_at(name, value - e)) / (2 * eps)
        errs_entry.append(abs(fd - grads[name][idx]) / max(abs(fd), abs(grads[name][idx]), 1e-9))
    worst = max(worst, *errs_dir)
    print(f"{name:26s} {str(value.shape):>8s}  {max(errs_dir):22.1e}  {max(errs_entry):20.1e}")
print(f"largest directional relative error: {worst:.1e}")

# %% [markdown]
# (An entry whose gradient is tiny can show a larger *relative* error from
# finite-difference rounding alone; the directional checks, which weigh all
# entries, are the reliable measure.)
#
# ## The same numbers from wavelearn
#
# `wavelearn.WaveletTransformer` with one block, the same sizes, no dropout
# and float64 is this model. We copy our parameters into it (the names
# above are its parameter names), run its forward and its hand-written
# backward, and compare the block's output, the logits, the loss and every
# gradient.

# %%
model = wl.WaveletTransformer(vocab_size=V, hidden_dim=D, num_layers=1, max_sequence_length=N,
                              wavelet=WAVELET, levels=J, mixing_mode="pointwise",
                              num_classes=C, dropout=0.0, ffn_hidden_dim=H, norm_eps=EPS,
                              mode=MODE, dtype="float64")
library_params = dict(model.named_parameters())
assert library_params.keys() == params.keys()
for name, p in library_params.items():
    p.data[...] = params[name]

lib_logits = model(ids)
criterion = wl.nn.CrossEntropyLoss()
lib_loss = criterion(lib_logits, targets)
model.zero_grad()
model.backward(criterion.backward())
print(f"max |logits by hand - model|  = {np.abs(logits - lib_logits).max():.1e}")
print(f"|loss by hand - model|        = {abs(loss - lib_loss):.1e}")
x0 = embed_forward(params["embedding.weight"], ids)
block_out = model.blocks[0](x0)  # the library's WaveletBlock on our block input
print(f"max |block output by hand - WaveletBlock| = {np.abs(cache['block_out'] - block_out).max():.1e}")
grad_diff = {name: np.abs(grads[name] - p.grad).max() for name, p in library_params.items()}
print(f"max |gradient by hand - model| over all {len(grad_diff)} parameters = "
      f"{max(grad_diff.values()):.1e} (largest for {max(grad_diff, key=grad_diff.get)})")

# %% [markdown]
# The library computes the same numbers to rounding error: wavelearn's
# `WaveletTransformer` *is* this notebook, organised into layers (each a
# `Module` with `forward` and `backward`, in `wavelearn/nn/` and
# `wavelearn/models.py`).
#
# ## A few steps of training
#
# With the gradients, plain gradient descent $\theta \leftarrow \theta -
# \eta \bar\theta$ must lower the loss on this batch. Tutorial 6 does it
# for real, with AdamW, batches of real data and an evaluation set.

# %%
lr, history = 0.5, []
trained = {k: v.copy() for k, v in params.items()}
for step in range(30):
    loss_now, _, cache_now = forward(trained, ids, targets)
    history.append(loss_now)
    for name, g in backward(trained, cache_now).items():
        trained[name] -= lr * g
print(f"loss {history[0]:.4f} -> {history[-1]:.4f} after {len(history)} steps of gradient descent")
fig, ax = plt.subplots(figsize=(5, 2.6))
ax.plot(history, "o-", ms=3)
ax.set(xlabel="step", ylabel="loss", title="gradient descent on one batch")
plt.show()

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
# **1. LayerNorm backward.** Return `(dx, dw, db)` for
# $y = \hat x \odot w + b$ over the last axis of `x` (any number of leading
# axes; `dw`, `db` summed over them). Derive it yourself before looking above.

# %%
def layernorm_backward(dy, x, w, eps):
    raise NotImplementedError  # your code here


check("05b.1", layernorm_backward)

# %% [markdown]
# **2. GELU backward** (tanh form): return $\bar a$ from $\bar y$ and the
# input $a$.

# %%
def gelu_backward(x, dy):
    raise NotImplementedError  # your code here


check("05b.2", gelu_backward)

# %% [markdown]
# **3. Softmax cross-entropy backward**: the gradient of the *mean*
# cross-entropy over the $B$ rows of `logits` $(B, C)$ with integer `targets`.

# %%
def cross_entropy_backward(logits, targets):
    raise NotImplementedError  # your code here


check("05b.3", cross_entropy_backward)

# %% [markdown]
# **4. Mean-pooling backward**: `dp` $(B, D)$ is the gradient of
# $p$ = `h.mean(axis=1)`; return the gradient of `h` $(B, n, D)$.

# %%
def mean_pool_backward(dp, n):
    raise NotImplementedError  # your code here


check("05b.4", mean_pool_backward)
