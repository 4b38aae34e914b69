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
# # 1. The Haar transform by hand
#
# The Haar transform is the simplest wavelet transform, and every idea of the
# later tutorials is already in it: split a signal into a coarse half and a
# detail half, lose nothing, keep the energy, repeat on the coarse half.
# Here we build it from averages and differences, turn it into a small
# orthogonal matrix, and check that what we built is exactly what
# `wavelearn.dwt` and PyWavelets compute.
#
# **Prerequisites:** matrices, the transpose, orthogonal matrices; NumPy
# arrays and slicing. No wavelets. Symbols are listed on the
# [notation page](notation.md), the books on the [references page](references.md).
#
# **After this notebook you can** compute one Haar level by hand and as a
# matrix, explain why it is orthogonal (a reflection) and how to invert it,
# relate a library's filter `dec_hi` to the rows of that matrix, and read the
# band order of a multilevel decomposition.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pywt

import wavelearn as wl

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (8, 3), "axes.grid": True})
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Averages and differences
#
# Cut a signal $x_0, x_1, \dots, x_{N-1}$ ($N$ even) into neighbouring pairs
# $(x_{2k}, x_{2k+1})$ and describe each pair by its mean and its half-difference:
#
# $$ s_k = \frac{x_{2k} + x_{2k+1}}{2}, \qquad \delta_k = \frac{x_{2k} - x_{2k+1}}{2}. $$
#
# Two numbers go in, two come out, and the pair comes back exactly:
# $x_{2k} = s_k + \delta_k$, $x_{2k+1} = s_k - \delta_k$.
# The means $s$ are a blurred copy of the signal at half the length; the
# differences $\delta$ hold what the blur lost. Where the signal is flat, the
# differences are zero.

# %%
x = np.array([4.0, 6.0, 10.0, 12.0, 8.0, 6.0, 5.0, 5.0])
pairs = x.reshape(-1, 2)  # row k is (x[2k], x[2k+1])
s = pairs.mean(axis=1)
delta = (pairs[:, 0] - pairs[:, 1]) / 2
back = np.stack([s + delta, s - delta], axis=1).ravel()
print("x     =", x)
print("s     =", s)
print("delta =", delta)
print("rebuilt equals x:", np.array_equal(back, x))

# %% [markdown]
# ## The 2×2 orthogonal matrix
#
# Mean and half-difference shrink the energy: $s_k^2 + \delta_k^2 =
# \tfrac12 (x_{2k}^2 + x_{2k+1}^2)$. Dividing by $\sqrt 2$ instead of $2$
# fixes that. The Haar coefficients of a pair are
#
# $$
# \begin{pmatrix} a_k \\ d_k \end{pmatrix}
# = H \begin{pmatrix} x_{2k} \\ x_{2k+1} \end{pmatrix},
# \qquad
# H = \frac{1}{\sqrt 2}\begin{pmatrix} 1 & 1 \\ 1 & -1 \end{pmatrix}.
# $$
#
# The rows of $H$ are orthonormal, so $H^\top H = I$: $H$ is orthogonal. It
# preserves length, $a_k^2 + d_k^2 = x_{2k}^2 + x_{2k+1}^2$, and its inverse
# is its transpose. Here $H^\top = H$, so $H$ is its own inverse, $H^2 = I$.
#
# Which orthogonal map is it? A $2 \times 2$ orthogonal matrix is either a
# rotation ($\det = +1$) or a reflection ($\det = -1$). $H$ is symmetric with
# eigenvalues $+1$ and $-1$, so it is a single **reflection**,
# $H = I - 2 v v^\top$: it keeps the line at angle $\pi/8 = 22.5°$ fixed and
# flips the direction $v$ perpendicular to it. The cell checks all of it.

# %%
H = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)
eigenvalues, eigenvectors = np.linalg.eigh(H)  # ascending: -1, then +1
v, mirror = eigenvectors[:, 0], eigenvectors[:, 1]
print("eigenvalues of H:", eigenvalues, " det H =", round(np.linalg.det(H), 12))
print("max |H - (I - 2 v v^T)| =", np.abs(H - (np.eye(2) - 2 * np.outer(v, v))).max())
print(f"the fixed line (eigenvalue +1) points at {np.degrees(np.arctan(mirror[1] / mirror[0])):.1f}"
      " degrees; max |H H - I| =", np.abs(H @ H - np.eye(2)).max())

# %%
print("H^T H =\n", H.T @ H)
print("det H =", np.linalg.det(H))

ad = pairs @ H.T  # row k is (a_k, d_k)
a, d = ad[:, 0], ad[:, 1]
print("a =", a)
print("d =", d)
print(f"energy of x: {np.sum(x**2):.4f}, of (a, d): {np.sum(a**2) + np.sum(d**2):.4f}")

# %% [markdown]
# ## One level as an $N \times N$ matrix
#
# Applying $H$ to every pair is one linear map of the whole signal. Put the
# averages first and the details after them:
#
# $$
# \begin{pmatrix} a \\ d \end{pmatrix} = W x, \qquad
# W = \frac{1}{\sqrt 2}
# \begin{pmatrix} I_{N/2} \otimes (1\;\;1) \\ I_{N/2} \otimes (1\;\,{-1}) \end{pmatrix}.
# $$
#
# Each row reads one pair, rows reading different pairs do not overlap, and
# each row has unit length, so the rows are orthonormal and $W^\top W = I$.
# The inverse transform is just $x = W^\top (a; d)$.

# %%
N = x.size
W = np.vstack([np.kron(np.eye(N // 2), [1.0, 1.0]),
               np.kron(np.eye(N // 2), [1.0, -1.0])]) / np.sqrt(2)
print("max |W W^T - I| =", np.abs(W @ W.T - np.eye(N)).max())
print("W x       =", W @ x)
print("(a, d)    =", np.concatenate([a, d]))
print("W^T (a,d) =", W.T @ np.concatenate([a, d]))

fig, ax = plt.subplots(figsize=(4, 4))
im = ax.imshow(W, cmap="RdBu_r", vmin=-1, vmax=1)
ax.axhline(N / 2 - 0.5, color="k", lw=1)
ax.set(title="one Haar level, $W$ (8 x 8)", xlabel="input sample", ylabel="coefficient")
ax.grid(False)
fig.colorbar(im, ax=ax, shrink=0.8)
plt.show()

# %% [markdown]
# ## The same numbers from wavelearn and PyWavelets
#
# `wavelearn.dwt(x, 'haar')` returns `(cA, cD)`, exactly like `pywt.dwt`.
# The libraries describe the Haar wavelet by two filters, the low-pass
# `dec_lo` and the high-pass `dec_hi`; a DWT filters with each and keeps every
# second output. For Haar this is the pair formula above. We compare on a
# random signal of even length, for every boundary mode (the modes only
# matter for longer filters and odd lengths, see tutorial 2).

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal(64)
a = (x[0::2] + x[1::2]) / np.sqrt(2)
d = (x[0::2] - x[1::2]) / np.sqrt(2)

haar = wl.Wavelet("haar")
print("dec_lo =", haar.dec_lo, " dec_hi =", haar.dec_hi)
cA, cD = wl.dwt(x, "haar")
pA, pD = pywt.dwt(x, "haar")
print("by hand vs wavelearn:  ", np.abs(a - cA).max(), np.abs(d - cD).max())
print("by hand vs PyWavelets: ", np.abs(a - pA).max(), np.abs(d - pD).max())
worst = max(np.abs(np.concatenate(wl.dwt(x, "haar", mode=m)) - np.concatenate([a, d])).max()
            for m in wl.MODES)
print(f"largest difference over all {len(wl.MODES)} modes: {worst:.1e}")

# %% [markdown]
# `dec_hi` prints as $(-1, 1)/\sqrt2$, the reverse of the row $(1, -1)/\sqrt2$
# of $H$. Nothing is wrong: a DWT *convolves* with its filters, and a
# convolution flips the filter before sliding it over the signal,
# $(x * g)[n] = \sum_m g[m]\, x[n - m]$. At $n = 2k + 1$ this is
# $g[0]\, x_{2k+1} + g[1]\, x_{2k} = (x_{2k} - x_{2k+1})/\sqrt2 = d_k$: tap
# $g[0]$ meets the *later* sample. So the filter is the row of the matrix
# read backwards, and keeping the odd outputs of the full convolution gives
# exactly our $d$ (and $a$ from `dec_lo`, which is its own reverse).

# %%
full_hi = np.convolve(x, haar.dec_hi)  # (x * g)[n] for n = 0 .. N
full_lo = np.convolve(x, haar.dec_lo)
print("row of H for d:", H[1], " dec_hi reversed:", haar.dec_hi[::-1])
print("max |(x * dec_hi)[1::2] - d| =", np.abs(full_hi[1::2] - d).max())
print("max |(x * dec_lo)[1::2] - a| =", np.abs(full_lo[1::2] - a).max())

# %% [markdown]
# ## Perfect reconstruction
#
# Inverting $H$ gives the synthesis formulas
# $x_{2k} = (a_k + d_k)/\sqrt2$ and $x_{2k+1} = (a_k - d_k)/\sqrt2$:
# interleave the sums and differences. `idwt` does the same.

# %%
rebuilt = np.empty_like(x)
rebuilt[0::2] = (a + d) / np.sqrt(2)
rebuilt[1::2] = (a - d) / np.sqrt(2)
print("by hand:    max |x - rebuilt| =", np.abs(x - rebuilt).max())
print("wavelearn:  max |x - idwt|    =", np.abs(x - wl.idwt(cA, cD, "haar")).max())
print("PyWavelets: max |x - idwt|    =", np.abs(x - pywt.idwt(pA, pD, "haar")).max())

# %% [markdown]
# An odd length leaves the last sample without a partner. In the default
# `'symmetric'` mode the signal is mirrored at its end, so the last pair is
# $(x_{N-1}, x_{N-1})$: its detail is zero and one extra coefficient appears.

# %%
x7 = np.arange(7.0)
cA7, cD7 = wl.dwt(x7, "haar")
print("7 samples ->", cA7.size, "coefficients per band")
print("cA =", cA7, "\ncD =", cD7)
print("last pair by hand:", (x7[-1] + x7[-1]) / np.sqrt(2), (x7[-1] - x7[-1]) / np.sqrt(2))

# %% [markdown]
# ## Repeating on the averages
#
# The averages $a$ are a signal again, so we can transform them again. After
# $J$ levels we hold $[c_{A_J}, c_{D_J}, \dots, c_{D_1}]$ (`wavedec`'s order,
# coarsest first). Each level halves the resolution: keeping only $c_{A_j}$
# and setting every detail to zero reconstructs the signal averaged over
# blocks of $2^j$ samples. Details are large only where the signal changes
# inside a block, so a piecewise-constant signal has few non-zero details.

# %%
t = np.arange(128)
jumps = (45, 90)  # the signal jumps between samples 44 and 45, and between 89 and 90
signal = np.where(t < jumps[0], 1.0, np.where(t < jumps[1], 3.0, 2.0)) + 0.02 * t
coeffs = wl.wavedec(signal, "haar", level=4)
print("band lengths [cA4, cD4, cD3, cD2, cD1]:", [c.size for c in coeffs])

fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(t, signal, "k", lw=2, label="signal")
for j in range(1, 5):
    cj = wl.wavedec(signal, "haar", level=j)
    approx = wl.waverec([cj[0]] + [np.zeros_like(c) for c in cj[1:]], "haar")
    block_means = np.repeat(signal.reshape(-1, 2**j).mean(axis=1), 2**j)
    print(f"level {j}: max |approximation - means over blocks of {2**j:2d}| ="
          f" {np.abs(approx - block_means).max():.1e}")
    ax.step(t, approx, where="post", label=f"level {j} (blocks of {2**j})")
ax.set(xlabel="sample", title="Haar approximations: block averages")
ax.legend(fontsize=8)
plt.show()

# %%
cD1 = coeffs[-1]
nonzero = np.flatnonzero(np.abs(cD1 - np.median(cD1)) > 1e-9)
print(f"cD1 has {cD1.size} coefficients; all equal {np.median(cD1):.4f} (from the slope) "
      f"except at pair(s) {nonzero.tolist()}, i.e. samples {[(2 * int(k), 2 * int(k) + 1) for k in nonzero]}")
for jump in jumps:
    where = "inside pair" if jump % 2 else "between pairs"
    print(f"jump between samples {jump - 1} and {jump}: {where} {(jump - 1) // 2}"
          + ("" if jump % 2 else f" and {jump // 2}"))

fig, ax = plt.subplots(figsize=(8, 2.5))
ax.stem(np.arange(cD1.size), cD1)
ax.set(xlabel="pair k", ylabel="$c_{D_1}[k]$", title="level-1 details")
plt.show()

# %% [markdown]
# A jump inside a pair shows up in $c_{D_1}$; a jump between two pairs is
# invisible at level 1 (both pairs are flat apart from the slope) and shows
# up only at a coarser level, whose blocks straddle it. Shift the signal by
# one sample and the picture changes: the decimated DWT is not
# shift-invariant, in Haar's case and for every filter bank of the next
# tutorials.

# %% [markdown]
# ## Exercises
#
# Write each function in its cell, then run the cell: `check` grades your
# answer against an independent reference and says what is wrong, if
# anything: which entry differs, the expected and the returned value.
# Until you write it, a function raises `NotImplementedError` and `check`
# says "not attempted yet". Reference solutions are in
# [`solutions.py`](solutions.py), next to the notebooks: look after trying.

# %%
from wavelearn.exercises import check

# %% [markdown]
# **1. One Haar step.** Return $(a, d)$ for an even-length `x`, with
# $a_k = (x_{2k} + x_{2k+1})/\sqrt2$ and $d_k = (x_{2k} - x_{2k+1})/\sqrt2$.

# %%
def haar_step(x):
    """(a, d) of one orthonormal Haar level of an even-length 1-D array x."""
    raise NotImplementedError  # your code here


check("01.1", haar_step)

# %% [markdown]
# **2. Its inverse.** Given $(a, d)$, return $x$: interleave
# $(a_k + d_k)/\sqrt2$ and $(a_k - d_k)/\sqrt2$.

# %%
def haar_inverse(a, d):
    """x with haar_step(x) == (a, d)."""
    raise NotImplementedError  # your code here


check("01.2", haar_inverse)

# %% [markdown]
# **3. The matrix.** Return the $n \times n$ matrix $W$ of one Haar level,
# averages in the first $n/2$ rows, so that `W @ x` equals
# `np.concatenate([a, d])`.

# %%
def haar_matrix(n):
    """W (n, n): W @ x == concatenate(haar_step(x))."""
    raise NotImplementedError  # your code here


check("01.3", haar_matrix)
