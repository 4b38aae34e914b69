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
# # 4. Backpropagation through the DWT
#
# To train a network with a wavelet transform inside, we need the gradient
# of the loss with respect to the transform's input. The DWT is linear, so
# that gradient is a matrix–vector product with the *transpose* of the
# transform's matrix. This notebook builds the matrix explicitly, compares
# its transpose with wavelearn's adjoint functions, and shows when the
# transpose is the inverse transform and when it is not.
#
# **Prerequisites:** tutorials 1 and 2; the chain rule and backpropagation
# (what $\partial L / \partial x$ of a loss means).
#
# **After this notebook you can** build the matrix of any linear transform
# from unit vectors, explain why a linear layer's backward pass is its
# transpose, tell when that transpose is the inverse transform, and verify a
# backward pass with finite differences and with the dot-product test.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import wavelearn as wl

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (8, 3), "axes.grid": True})
np.set_printoptions(precision=3, suppress=True)
QUICK = os.environ.get("WAVELEARN_TUTORIAL_QUICK") == "1"  # set by the test suite: shorter signals

# %% [markdown]
# ## The DWT as a matrix
#
# A linear map $A$ is determined by what it does to the unit vectors: its
# column $i$ is $A e_i$. `wavedec` transforms along the last axis of a 2-D
# array, so transforming the rows of the identity matrix gives all columns
# at once. We concatenate the bands $[c_{A_J}, c_{D_J}, \dots, c_{D_1}]$
# into one vector of length $M$, so $A$ is $M \times N$.

# %%
def split(v, lengths):
    """A vector (or the rows of a matrix) of concatenated coefficients -> list of bands."""
    return np.split(v, np.cumsum(lengths)[:-1], axis=-1)


def wavedec_matrix(N, wavelet, mode, level):
    bands = wl.wavedec(np.eye(N), wavelet, mode, level=level, axis=-1)  # row i: wavedec(e_i)
    return np.concatenate(bands, axis=-1).T, [b.shape[-1] for b in bands]


N, wavelet, level = 32, "db2", 2
A_per, lengths_per = wavedec_matrix(N, wavelet, "periodization", level)
A_sym, lengths_sym = wavedec_matrix(N, wavelet, "symmetric", level)
print("periodization: A is", A_per.shape, " band lengths", lengths_per)
print("symmetric:     A is", A_sym.shape, " band lengths", lengths_sym)

x = np.random.default_rng(0).standard_normal(N)
print("max |A x - wavedec(x)|:",
      np.abs(A_sym @ x - np.concatenate(wl.wavedec(x, wavelet, "symmetric", level=level))).max())

fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
for ax, A, title in [(axes[0], A_per, "periodization"), (axes[1], A_sym, "symmetric")]:
    ax.imshow(A, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set(title=f"{title}: {A.shape[0]} x {A.shape[1]}", xlabel="sample i", ylabel="coefficient")
    ax.grid(False)
fig.tight_layout()
plt.show()

# %% [markdown]
# At the first level (the bottom band, $c_{D_1}$) the rows of the matrix are
# shifted copies of the high-pass filter $g$, reversed (a convolution flips
# the filter, tutorial 1), two samples apart. Deeper rows are **not** copies
# of $h$ or $g$: level 2 filters the level-1 approximation, so its rows are
# *iterated* filters. Substituting $c_{A_1}[m] = \sum_n h[n]\,x[2m + s - n]$
# into $c_{D_2}[k] = \sum_m g[m]\, c_{A_1}[2k + s - m]$ gives one filter of
# the input with taps
#
# $$ g^{(2)}[p] = \sum_{2m + n = p} g[m]\, h[n], \qquad
#    \text{i.e. } g^{(2)} = (g \uparrow 2) * h, $$
#
# ($g \uparrow 2$: $g$ with a zero between its taps; likewise
# $h^{(2)} = (h \uparrow 2) * h$ for $c_{A_2}$), $3F - 2$ taps long and
# shifted by four samples per coefficient; level $j$ has $(2^j - 1)(F - 1) + 1$
# taps and a shift of $2^j$. In `periodization` mode the rows at the ends of
# each band wrap around to the other end of the signal; in `symmetric` mode
# they fold back onto the first or last samples, and there are more rows than
# samples. The cell compares an interior row of each band with these filters.

# %%
w = wl.Wavelet(wavelet)
h, g = w.dec_lo, w.dec_hi


def upsample(f):
    """f with a zero between its taps (f up 2)."""
    up = np.zeros(2 * f.size - 1)
    up[::2] = f
    return up


expected = {"cD1": g, "cD2": np.convolve(upsample(g), h), "cA2": np.convolve(upsample(h), h)}
starts = np.cumsum([0] + lengths_per)
for name, band in [("cA2", 0), ("cD2", 1), ("cD1", 2)]:
    rows = A_per[starts[band]:starts[band + 1]]
    row = rows[rows.shape[0] // 2]  # an interior row: no wrap-around
    support = np.flatnonzero(np.abs(row) > 1e-12)
    taps = row[support[0]:support[-1] + 1][::-1]  # read backwards: the filter
    shift = np.flatnonzero(np.abs(rows[rows.shape[0] // 2 + 1]) > 1e-12)[0] - support[0]
    print(f"{name}: {taps.size:2d} taps, rows {shift} samples apart, "
          f"max |row reversed - filter| = {np.abs(taps - expected[name]).max():.1e}")

# %% [markdown]
# ### When the matrix is the faster way
#
# Applying $A$ to a signal costs $MN$ multiply-adds; the filters of the levels
# cost about $2F$ per coefficient, $2FM$ in all. For long signals the matrix
# loses by far (and needs $MN$ numbers of memory); for short ones it can win,
# because one large matrix product runs at the machine's full speed where the
# levels make many small ones. wavelearn does just that: for a short signal of
# few channels on the CPU, `wavedec`, `waverec` and their adjoints build the
# matrix once, from unit vectors through the levels as above, and apply it as one
# product (`wavelearn/dwt/dense.py`). They keep to the levels where the matrix
# would cost more than `DENSE_RATIO` times the filters or hold more than
# `DENSE_MAX_ENTRIES` numbers. The cell compares wavelearn's matrix with the one
# PyWavelets' `wavedec` gives, and prints where the switch lies for db4 and 3
# levels. Arrays of many channels (32 float32 ones, say) take the levels after all,
# each level as one compiled loop that reads its taps from a small table, ends included
# (`wavelearn/dwt/gathered.py`): $2F$ multiply-adds per coefficient without the
# many small products, which beat the matrix (0.13 against 0.49 ms for the
# default model's `wavedec` of (32, 100, 64) on one core).

# %%
import pywt

from wavelearn.dwt import dense

W = dense.analysis_matrix(w, "symmetric", N, level).matrix  # wavelearn's, (M, N)
P = np.concatenate(pywt.wavedec(np.eye(N), wavelet, "symmetric", level=level, axis=-1),
                   axis=-1).T  # PyWavelets', column i from e_i
print(f"max |wavelearn's matrix - PyWavelets'| = {np.abs(W - P).max():.1e}")
db4 = wl.Wavelet("db4")
for n in (32, 100, 128, 256, 4096):
    lengths = dense.analysis_lengths(db4, "symmetric", n, 3)
    use = "the matrix" if dense.pays(db4, n, lengths) else "the levels"
    print(f"N = {n:5d}: matrix {n * sum(lengths):>10,} multiply-adds, filters "
          f"{dense.level_path_fmas(db4, lengths):>7,} -> {use}")

# %% [markdown]
# ## Gradients are transposes
#
# Let $c = A x$ and let a loss $L$ depend on $x$ only through $c$. The chain
# rule gives
#
# $$ \frac{\partial L}{\partial x_i} = \sum_m \frac{\partial L}{\partial c_m}
#    \frac{\partial c_m}{\partial x_i} = \sum_m A_{mi}\, \bar c_m,
#    \qquad\text{i.e.}\qquad \bar x = A^\top \bar c, $$
#
# where $\bar c = \partial L / \partial c$. The transpose is characterised
# by the identity $\langle A x, y\rangle = \langle x, A^\top y \rangle$ for all
# $x, y$, which is why $A^\top$ is also called the *adjoint*.
# `wavelearn.wavedec_adjoint` computes $A^\top \bar c$ without forming $A$
# (it runs the levels backwards, each with filters and an extension
# adjoint). We build its matrix from unit vectors in coefficient space and
# compare it with the transpose.

# %%
def adjoint_matrix(lengths, wavelet, mode, N):
    M = sum(lengths)
    columns = [wl.wavedec_adjoint(split(e, lengths), wavelet, mode, length=N) for e in np.eye(M)]
    return np.stack(columns, axis=1)  # (N, M)


for A, lengths, mode in [(A_per, lengths_per, "periodization"), (A_sym, lengths_sym, "symmetric")]:
    At = adjoint_matrix(lengths, wavelet, mode, N)
    print(f"{mode:13s} max |wavedec_adjoint matrix - A^T| = {np.abs(At - A.T).max():.1e}")

# %% [markdown]
# ## Periodization: the adjoint is the inverse
#
# With an orthogonal wavelet, `periodization` mode and $2^J$ dividing $N$,
# $A$ is square and its rows are orthonormal (tutorial 2's orthogonality
# conditions, with the shifts taken modulo $N$). Then $A^\top A = I$, so
#
# $$ A^\top = A^{-1}: \qquad \text{the backward pass of wavedec is waverec.} $$
#
# A second consequence: $\lVert A^\top \bar c \rVert = \lVert \bar c \rVert$,
# gradients keep their norm through the transform.

# %%
R_per = wl.waverec(split(np.eye(N), lengths_per), wavelet, "periodization", axis=-1).T  # (N, M)
c = np.random.default_rng(1).standard_normal(N)
bands = split(c, lengths_per)
print("max |A^T A - I|                   =", f"{np.abs(A_per.T @ A_per - np.eye(N)).max():.1e}")
print("max |waverec matrix - A^T|        =", f"{np.abs(R_per - A_per.T).max():.1e}")
backward = wl.wavedec_adjoint(bands, wavelet, "periodization", length=N)
print("max |wavedec_adjoint(c) - waverec(c)| =",
      f"{np.abs(backward - wl.waverec(bands, wavelet, 'periodization')).max():.1e}")
print(f"|c| = {np.linalg.norm(c):.6f},  |A^T c| = {np.linalg.norm(A_per.T @ c):.6f}")

# %% [markdown]
# ## Symmetric mode: the adjoint is not the inverse
#
# In `symmetric` mode $A$ is $M \times N$ with $M > N$ (the boundary adds
# coefficients). `waverec` is still a perfect inverse *from the left*,
# $R A = I$, but it is not $A^\top$: a tall matrix has many left inverses,
# and $A^\top$ is not even one of them, since $A^\top A \ne I$.
#
# Where do they differ? The forward transform copies edge samples into the
# mirrored padding, so an edge sample influences more coefficients than an
# interior one, and its gradient collects all those contributions (the
# adjoint of the extension adds the padding's gradient back onto the
# samples it was copied from). `waverec` instead ignores what lies in the
# padding. Away from the edges, the two agree exactly.

# %%
R_sym = wl.waverec(split(np.eye(A_sym.shape[0]), lengths_sym), wavelet, "symmetric", axis=-1).T
row_diff = np.abs(R_sym - A_sym.T).max(axis=1)  # one value per sample
differs = np.flatnonzero(row_diff > 1e-12)
print("max |R A - I|     =", f"{np.abs(R_sym @ A_sym - np.eye(N)).max():.1e}   (waverec inverts)")
print("max |A^T A - I|   =", f"{np.abs(A_sym.T @ A_sym - np.eye(N)).max():.2f}   (A^T does not)")
print("max |R - A^T|     =", f"{row_diff.max():.2f}")
print(f"samples where R and A^T differ: {differs.tolist()}")
print(f"interior samples {differs[differs < N // 2].max() + 1}..{differs[differs >= N // 2].min() - 1}:"
      f" max |R - A^T| = {row_diff[~np.isin(np.arange(N), differs)].max():.1e}")

fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
axes[0].imshow(np.abs(R_sym - A_sym.T), cmap="magma", interpolation="nearest", aspect="auto")
axes[0].set(title="|waverec matrix - $A^T$|", xlabel="coefficient", ylabel="sample")
axes[0].grid(False)
axes[1].stem(row_diff)
axes[1].set(title="largest difference per sample", xlabel="sample")
axes[2].plot(np.diag(A_sym.T @ A_sym), "o-", ms=3, label="symmetric")
axes[2].plot(np.diag(A_per.T @ A_per), "o-", ms=3, label="periodization")
axes[2].set(title="diagonal of $A^T A$", xlabel="sample")
axes[2].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The diagonal of $A^\top A$ is the squared norm of column $i$, how strongly
# sample $i$ reaches the coefficients. It is one in the interior and larger
# at the edges in `symmetric` mode: there, backpropagation amplifies the
# gradient of the edge samples.
#
# ## A gradient check against finite differences
#
# Now a nonlinear loss of the coefficients, with fixed random weights $w_k$:
#
# $$ L(x) = \sum_k \big\langle w_k,\ \tanh(c_k) \big\rangle, \qquad
#    c = \mathrm{wavedec}(x), \qquad
#    \bar c_k = w_k \odot (1 - \tanh^2 c_k), \qquad
#    \nabla_x L = \mathrm{wavedec}^\top(\bar c). $$
#
# We compare $\nabla_x L$ with central differences,
# $\partial L / \partial x_i \approx [L(x + \epsilon e_i) - L(x - \epsilon e_i)] / 2\epsilon$,
# in every mode, for an odd length (the awkward case).

# %%
def numerical_gradient(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


N_check = 37 if QUICK else 101
wavelet, level = "db3", 3
rng = np.random.default_rng(2)
x = rng.standard_normal(N_check)
print(f"N = {N_check}, {wavelet}, {level} levels")
for mode in wl.MODES:
    w_mode = [rng.standard_normal(b.shape) for b in wl.wavedec(x, wavelet, mode, level=level)]

    def loss(v, mode=mode, w_mode=w_mode):
        c = wl.wavedec(v, wavelet, mode, level=level)
        return sum(np.sum(w * np.tanh(ck)) for w, ck in zip(w_mode, c, strict=True))

    c = wl.wavedec(x, wavelet, mode, level=level)
    cbar = [w * (1 - np.tanh(ck) ** 2) for w, ck in zip(w_mode, c, strict=True)]
    grad = wl.wavedec_adjoint(cbar, wavelet, mode, length=N_check)
    num = numerical_gradient(loss, x)
    rel = np.abs(grad - num).max() / np.abs(num).max()
    print(f"  {mode:14s} relative error {rel:.1e}")

# %% [markdown]
# The errors are at the level of finite-difference rounding, about
# $\epsilon^2$ for the truncation and $10^{-16}/\epsilon$ for cancellation.
#
# ## The dot-product test
#
# Finite differences cost two transforms per input sample. The identity
# $\langle A x, y \rangle = \langle x, A^\top y\rangle$ checks an adjoint with
# one random $x$ and $y$ and one transform each way, so we can afford it
# for many wavelets, lengths and modes, for both `wavedec` (adjoint
# `wavedec_adjoint`) and `waverec` (adjoint `waverec_adjoint`).

# %%
def dot(a, b):
    return sum(np.vdot(u, v) for u, v in zip(a, b, strict=True))


rng = np.random.default_rng(3)
worst = {"wavedec": 0.0, "waverec": 0.0}
count = 0
for wavelet in ["haar", "db4", "sym5", "coif2", "bior3.5"]:
    for N in [64, 77, 100] if QUICK else [24, 37, 64, 77, 100, 255]:
        for mode in wl.MODES:
            level = max(1, min(3, wl.dwt_max_level(N, wavelet)))
            x = rng.standard_normal(N)
            c = wl.wavedec(x, wavelet, mode, level=level)
            ybar = [rng.standard_normal(b.shape) for b in c]
            lhs, rhs = dot(c, ybar), np.vdot(x, wl.wavedec_adjoint(ybar, wavelet, mode, length=N))
            worst["wavedec"] = max(worst["wavedec"], abs(lhs - rhs) / abs(lhs))
            z = wl.waverec(ybar, wavelet, mode)
            zbar = rng.standard_normal(z.shape)
            back = wl.waverec_adjoint(zbar, wavelet, mode, coeff_lengths=[b.size for b in ybar])
            lhs, rhs = np.vdot(z, zbar), dot(ybar, back)
            worst["waverec"] = max(worst["waverec"], abs(lhs - rhs) / abs(lhs))
            count += 1
print(f"{count} cases (wavelet x length x mode)")
for name, err in worst.items():
    print(f"  {name}: worst relative |<Ax, y> - <x, A^T y>| = {err:.1e}")

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
# **1. The DWT as a matrix.** Return $A$ with
# `A @ x == np.concatenate(wl.dwt(x, wavelet, mode))` for every `x` of length
# `n` (one level). Column $i$ is the transform of $e_i$.

# %%
def dwt_matrix(n, wavelet, mode):
    raise NotImplementedError  # your code here


check("04.1", dwt_matrix)

# %% [markdown]
# **2. The adjoint of the symmetric extension.** The extension
# $E x$ = `pywt.pad(x, p, 'symmetric')` copies samples into the padding.
# Return $E^\top g$ for a gradient `g` of length $n + 2p$, without forming
# $E$: the middle of $g$, plus the padding's gradient *folded back* onto the
# samples it was copied from. (The check uses $p = n$ too, where the mirror
# reaches the far edge.)

# %%
def symmetric_extension_adjoint(g, n, p):
    """E^T g, where E x = pywt.pad(x, p, 'symmetric') for x of length n."""
    raise NotImplementedError  # your code here


check("04.2", symmetric_extension_adjoint)

# %% [markdown]
# **3. A gradient in `symmetric` mode.** For
# $L(x) = \sum_k \langle w_k, \tanh(c_k) \rangle$ with
# $c$ = `wl.wavedec(x, wavelet, 'symmetric', level=level)`, return
# $\nabla_x L$. (Which of `waverec` and `wavedec_adjoint` is the backward
# pass here?)

# %%
def tanh_loss_gradient(x, weights, wavelet, level):
    raise NotImplementedError  # your code here


check("04.3", tanh_loss_gradient)
