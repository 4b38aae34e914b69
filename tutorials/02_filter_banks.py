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
# # 2. Filter banks: Daubechies filters and boundary modes
#
# Haar looked at pairs of samples. Longer filters look at more neighbours
# and give smoother approximations, but they raise two questions: which
# filters still allow perfect reconstruction, and what to do at the ends of
# the signal, where a long filter reads samples that do not exist. This
# notebook answers both and checks every claim numerically. The theory is
# that of [Strang & Nguyen (1996)](references.md#strang-and-nguyen-1996) and
# [Daubechies (1992)](references.md#daubechies-1992); [Mallat (2009)](references.md#mallat-2009)
# covers it all.
#
# **Prerequisites:** tutorial 1; convolution of two sequences; complex
# numbers $e^{i\omega}$ (the z-transform is introduced below).
#
# **After this notebook you can** state and check the perfect-reconstruction
# and orthogonality conditions of a two-channel filter bank, derive the
# high-pass filter from the low-pass one, explain what the cascade algorithm
# draws, tell the Daubechies, Symlet, Coiflet and biorthogonal families
# apart, choose a boundary mode, and predict how many coefficients a DWT
# returns.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pywt
from IPython.display import Markdown, display

import wavelearn as wl
from wavelearn.dwt import filterbank

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (8, 3), "axes.grid": True})
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## A two-channel filter bank
#
# One DWT level filters the signal with a low-pass $h$ and a high-pass $g$
# (each $F$ taps long) and keeps every second output:
#
# $$ c_A[k] = \sum_n h[n]\, x[2k + s - n], \qquad c_D[k] = \sum_n g[n]\, x[2k + s - n] $$
#
# ($s$ is a fixed offset). The inverse puts a zero between the coefficients
# (upsampling), filters with the synthesis pair $\tilde h, \tilde g$ and adds.
# In PyWavelets and wavelearn the four filters are `dec_lo`, `dec_hi`,
# `rec_lo`, `rec_hi`. Haar is $F = 2$; Daubechies' `dbN` has $F = 2N$.

# %%
fig, axes = plt.subplots(2, 4, figsize=(10, 3.6), sharey="row")
for col, name in enumerate(["db1", "db2", "db4", "db8"]):
    w = wl.Wavelet(name)
    axes[0, col].stem(w.dec_lo)
    axes[0, col].set_title(f"{name}: $h$ (dec_lo), F={w.dec_len}")
    axes[1, col].stem(w.dec_hi)
    axes[1, col].set_title(f"{name}: $g$ (dec_hi)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Primer: the wavelet families
#
# PyWavelets names its filters by family; wavelearn accepts every discrete
# one. All but the last are orthogonal:
#
# * **Daubechies** `dbN` ([Daubechies 1992](references.md#daubechies-1992)):
#   the shortest orthogonal filters ($F = 2N$) with $N$ vanishing moments
#   (defined below); markedly asymmetric. `db1` is Haar.
# * **Symlets** `symN`: the same length and moments as `dbN`, with the
#   factorisation chosen to be as close to symmetric as possible (an
#   orthogonal FIR filter other than Haar cannot be exactly symmetric).
# * **Coiflets** `coifN`: $F = 6N$ taps; $2N$ vanishing moments for $\psi$
#   and also $2N - 1$ for the scaling function $\phi$ (its moments above
#   zero vanish), so coarse coefficients are close to samples of the signal.
# * **Biorthogonal** `biorN.M`: two different filter pairs for analysis and
#   synthesis, which lets both be exactly symmetric (linear phase), at the
#   price of orthogonality; tutorial 4 shows what that costs in the backward
#   pass.
#
# The table reads these properties from PyWavelets.

# %%
rows = ["| wavelet | family | F | vanishing moments of $\\psi$ | orthogonal | symmetry |",
        "|---|---|---|---|---|---|"]
for name in ["db2", "db4", "sym4", "coif1", "coif2", "bior2.2", "bior4.4"]:
    w = pywt.Wavelet(name)
    rows.append(f"| {name} | {w.family_name} | {w.dec_len} | {w.vanishing_moments_psi} | "
                f"{w.orthogonal} | {w.symmetry} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ### Primer: the refinement equation, and what `wavefun` draws
#
# Behind an orthogonal filter bank are two functions of a continuous
# variable: the *scaling function* $\phi$ and the *wavelet* $\psi$. They
# are defined by the synthesis filters through the **refinement equation**
# (also called the two-scale or dilation equation):
#
# $$ \phi(t) = \sqrt2 \sum_n \tilde h[n]\, \phi(2t - n), \qquad
#    \psi(t) = \sqrt2 \sum_n \tilde g[n]\, \phi(2t - n), $$
#
# with $\int \phi = 1$: $\phi$ is a sum of squeezed, shifted copies of
# itself, and $\psi$ is another sum of the same copies. The coefficients
# $c_{A_j}[k]$ of the DWT are (approximately) inner products of the signal
# with $\phi$ stretched by $2^j$ and shifted by $2^j k$, and the details
# with $\psi$ ([Mallat 2009](references.md#mallat-2009), ch. 7). The
# *cascade algorithm* solves the equation by iteration: start from a box,
# apply the right-hand side again and again; after $L$ steps it has the
# values on the grid $t = k / 2^L$. PyWavelets' `wavefun(level=L)` does
# exactly that: the cell checks that its level-$L$ output is the right-hand
# side applied to its level-$(L-1)$ output.

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 2.5))
for ax, name in zip(axes, ["db2", "db4", "sym8"], strict=True):
    phi, psi, grid = pywt.Wavelet(name).wavefun(level=8)
    ax.plot(grid, phi, label=r"$\phi$")
    ax.plot(grid, psi, label=r"$\psi$")
    ax.set_title(name)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()


def refine(w, phi_coarse, L):
    """sqrt(2) sum_n f[n] phi(2t - n) on the level-L grid, for f = rec_lo and rec_hi."""
    k = np.arange((len(phi_coarse) - 1) * 2 + 1)  # t = k / 2^L
    out = []
    for f in (w.rec_lo, w.rec_hi):
        total = np.zeros(k.size)
        for n, fn in enumerate(f):
            idx = k - n * 2 ** (L - 1)  # 2t - n on the level-(L-1) grid
            ok = (idx >= 0) & (idx < len(phi_coarse))
            total[ok] += np.sqrt(2) * fn * phi_coarse[idx[ok]]
        out.append(total)
    return out


for name in ["db2", "db4", "sym8"]:
    w, L = pywt.Wavelet(name), 8
    phi, psi, _ = w.wavefun(level=L)
    phi_coarse, _, _ = w.wavefun(level=L - 1)
    phi_rhs, psi_rhs = refine(w, phi_coarse, L)
    print(f"{name}: max |phi - refinement of phi| = {np.abs(phi - phi_rhs).max():.1e}, "
          f"max |psi - sqrt2 sum g~[n] phi(2t - n)| = {np.abs(psi - psi_rhs).max():.1e}")

# %% [markdown]
# ## Primer: the z-transform and the frequency response
#
# The **z-transform** of a sequence is the polynomial (in $z^{-1}$)
# $X(z) = \sum_n x[n]\, z^{-n}$. Two facts make it useful for filters:
#
# * a convolution becomes a product, $y = h * x \iff Y(z) = H(z) X(z)$
#   (multiplying polynomials convolves their coefficients);
# * a delay by $\Delta$ samples multiplies by $z^{-\Delta}$.
#
# On the unit circle, $z = e^{i\omega}$, the transform of a filter is its
# **frequency response** $H(\omega) = \sum_n h[n]\, e^{-i\omega n}$: a
# sinusoid of frequency $\omega$ (radians per sample) comes out of the
# filter scaled by $|H(\omega)|$ and shifted by the phase
# $\arg H(\omega)$. The cell checks both facts with `db2`'s low-pass filter.

# %%
h = wl.Wavelet("db2").dec_lo
x = np.random.default_rng(0).standard_normal(6)
z = 0.7 * np.exp(0.4j)  # any complex number


def ztrans(c, z):
    return np.sum(c * z ** -np.arange(len(c)))


print(f"|Z[h * x](z) - H(z) X(z)| = {abs(ztrans(np.convolve(h, x), z) - ztrans(h, z) * ztrans(x, z)):.1e}")
for omega in [0.3, 1.5, 2.8]:
    n = np.arange(200)
    y = np.convolve(h, np.cos(omega * n))[len(h):200]  # past the start-up
    print(f"omega = {omega}: output amplitude {np.abs(y).max():.4f}, |H(omega)| = "
          f"{abs(ztrans(h, np.exp(1j * omega))):.4f}")

# %% [markdown]
# ## Perfect reconstruction
#
# Write filters as polynomials, $H(z) = \sum_n h[n] z^{-n}$. Down- then
# up-sampling a signal $X(z)$ keeps its even samples and zeroes the odd ones,
# which is $\tfrac12[X(z) + X(-z)]$. So analysis followed by synthesis gives
#
# $$
# \hat X(z) = \tfrac12\big[\tilde H(z) H(z) + \tilde G(z) G(z)\big] X(z)
#           + \tfrac12\big[\tilde H(z) H(-z) + \tilde G(z) G(-z)\big] X(-z).
# $$
#
# The second term is *aliasing* (the signal with every other sample
# negated). Perfect reconstruction, $\hat x[n] = x[n - \Delta]$, holds exactly when
#
# $$
# \tilde H(z) H(z) + \tilde G(z) G(z) = 2 z^{-\Delta}
# \quad\text{(no distortion)}, \qquad
# \tilde H(z) H(-z) + \tilde G(z) G(-z) = 0
# \quad\text{(no aliasing)}.
# $$
#
# A product of polynomials is a convolution of their coefficients, and
# $H(-z)$ has coefficients $(-1)^n h[n]$, so both conditions take one line of
# NumPy each. We check them for orthogonal wavelets and for two
# biorthogonal ones (`bior`), whose synthesis filters are not the reversed
# analysis filters.

# %%
def pr_errors(name):
    w = wl.Wavelet(name)
    h, g, ht, gt = w.dec_lo, w.dec_hi, w.rec_lo, w.rec_hi
    sign = (-1.0) ** np.arange(w.dec_len)
    distortion = np.convolve(ht, h) + np.convolve(gt, g)
    alias = np.convolve(ht, sign * h) + np.convolve(gt, sign * g)
    delay = int(np.argmax(np.abs(distortion)))
    target = np.zeros_like(distortion)
    target[delay] = 2.0
    return w, delay, np.abs(distortion - target).max(), np.abs(alias).max()


names = ["haar", "db2", "db4", "db8", "sym6", "coif3", "bior2.2", "bior4.4"]
rows = ["| wavelet | F | delay $\\Delta$ | max distortion error | max alias | orthogonal |",
        "|---|---|---|---|---|---|"]
for name in names:
    w, delay, dist, alias = pr_errors(name)
    rows.append(f"| {name} | {w.dec_len} | {delay} | {dist:.1e} | {alias:.1e} | {w.orthogonal} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# Both conditions hold to rounding error, with delay $\Delta = F - 1$. (The
# larger of the tiny errors come from the finite number of digits with which
# some filters are tabulated.)
#
# ## Orthogonality
#
# Perfect reconstruction alone allows any invertible transform. An
# *orthogonal* filter bank asks for more: the analysis rows — $h$ and $g$
# shifted by every even amount — must be orthonormal, so that the
# transform preserves energy and its inverse is its transpose. In terms of
# the filters:
#
# $$
# \sum_n h[n]\,h[n + 2m] = \delta_m, \qquad
# \sum_n g[n]\,g[n + 2m] = \delta_m, \qquad
# \sum_n h[n]\,g[n + 2m] = 0 \quad \text{for all } m.
# $$
#
# For an orthogonal wavelet the high-pass is the *alternating flip* of the
# low-pass, $g[n] = (-1)^{n+1} h[F-1-n]$, and synthesis uses the reversed
# analysis filters, $\tilde h[n] = h[F-1-n]$.

# %%
def even_lags(u, v):
    """sum_n u[n] v[n + 2m] for every m (even lags of the cross-correlation)."""
    full = np.correlate(v, u, mode="full")  # lag -(F-1) .. F-1
    lags = np.arange(-(len(u) - 1), len(v))
    return lags[lags % 2 == 0], full[lags % 2 == 0]


for name in ["db4", "sym6", "bior2.2"]:
    w = wl.Wavelet(name)
    h, g = w.dec_lo, w.dec_hi
    lags, hh = even_lags(h, h)
    _, gg = even_lags(g, g)
    _, hg = even_lags(h, g)
    delta = (lags == 0).astype(float)
    n = np.arange(w.dec_len)
    flip = (-1.0) ** (n + 1) * h[::-1]
    print(f"{name:8s} max|hh - delta| = {np.abs(hh - delta).max():.1e}, "
          f"max|gg - delta| = {np.abs(gg - delta).max():.1e}, max|hg| = {np.abs(hg).max():.1e}, "
          f"g = flip(h): {np.allclose(g, flip)}, rec_lo = h reversed: {np.allclose(w.rec_lo, h[::-1])}")

# %% [markdown]
# The Daubechies and Symlet filters pass; `bior2.2` fails, as expected:
# it reconstructs perfectly, but with a different synthesis pair.
#
# Orthogonality also reads in frequency: with $H(\omega) = \sum_n h[n]
# e^{-i\omega n}$, the two filters split the energy of every frequency
# between them, $|H(\omega)|^2 + |G(\omega)|^2 = 2$. Longer filters split
# it more sharply into a low and a high half.

# %%
omega = np.linspace(0, np.pi, 512)
fig, ax = plt.subplots(figsize=(8, 3))
for name in ["db1", "db2", "db4", "db8"]:
    w = wl.Wavelet(name)
    E = np.exp(-1j * np.outer(omega, np.arange(w.dec_len)))
    Hw, Gw = E @ w.dec_lo, E @ w.dec_hi
    line, = ax.plot(omega / np.pi, np.abs(Hw), label=name)
    ax.plot(omega / np.pi, np.abs(Gw), color=line.get_color(), ls="--")
    print(f"{name}: max | |H|^2 + |G|^2 - 2 | = {np.abs(np.abs(Hw)**2 + np.abs(Gw)**2 - 2).max():.1e}")
ax.set(xlabel=r"frequency $\omega / \pi$", ylabel="gain",
       title="low-pass $|H|$ (solid) and high-pass $|G|$ (dashed)")
ax.legend()
plt.show()

# %% [markdown]
# ## Vanishing moments
#
# What makes Daubechies' filters special is that `dbN` has the shortest
# orthogonal filters whose high-pass kills polynomials of degree $< N$:
#
# $$ \sum_n n^p\, g[n] = 0, \qquad p = 0, 1, \dots, N - 1. $$
#
# So the details of a smooth signal are small, which is why wavelet
# coefficients are sparse. We count the vanishing moments (using $n/F$
# instead of $n$ to keep the numbers in range).

# %%
for N in range(1, 7):
    g = wl.Wavelet(f"db{N}").dec_hi
    n = np.arange(len(g)) / len(g)
    moments = np.array([np.sum(n**p * g) for p in range(N + 2)])
    vanishing = int(np.argmax(np.abs(moments) > 1e-9))
    print(f"db{N}: vanishing moments {vanishing},  |moments| = {np.abs(moments)}")

# %% [markdown]
# ## Why boundary modes exist
#
# Near the ends of the signal, the sum $\sum_n h[n] x[2k + s - n]$ reads
# samples before $x_0$ or after $x_{N-1}$. They must be invented, and each
# *boundary mode* invents them differently: zeros, the edge value repeated,
# a mirror image (about the half-sample, `symmetric`, or about the edge
# sample, `reflect`), periodic repetition, a linear extrapolation (`smooth`),
# a sign-flipped mirror (`antisymmetric`: $-x$ mirrored about the
# half-sample, so the extension starts at $-x_0$), or a point reflection
# through the edge sample (`antireflect`: $2 x_0 - x_k$ before the start,
# $2 x_{N-1} - x_{N-1-k}$ after the end, which continues the slope instead of
# flipping the sign). `periodization` repeats the signal periodically too,
# but keeps only as many coefficients as needed to reconstruct (see the
# lengths below).
#
# The picture shows each extension of an 8-sample signal; wavelearn's
# extension (`wavelearn.dwt.filterbank.extend`, written as small matrices) is
# compared with `pywt.pad`.

# %%
x8 = np.array([1.0, 1.5, 2.5, 2.2, 1.8, 2.0, 2.8, 3.5])
pad = 6
fig, axes = plt.subplots(3, 3, figsize=(9, 5), sharex=True, sharey=True)
for ax, mode in zip(axes.ravel(), wl.MODES, strict=True):
    ours = filterbank.extend(np, x8[None, :, None], pad, pad, mode)[0, :, 0]
    theirs = pywt.pad(x8, pad, mode)
    err = np.abs(ours - theirs).max()
    pos = np.arange(-pad, x8.size + pad)
    ax.plot(pos, ours, "o-", color="tab:orange", ms=3, label="extension")
    ax.plot(np.arange(x8.size), x8, "ko-", ms=4, label="signal")
    ax.set_title(f"{mode} (vs pywt.pad: {err:.0e})", fontsize=9)
    ax.axvspan(-0.5, x8.size - 0.5, color="0.9")
fig.tight_layout()
plt.show()

# %% [markdown]
# The two "anti" modes are easy to confuse, so here are their first three
# invented samples before $x_0$ next to the formulas: `antisymmetric` gives
# $-x_0, -x_1, -x_2$ (a mirror with the sign flipped), `antireflect` gives
# $2x_0 - x_1, 2x_0 - x_2, 2x_0 - x_3$ (a mirror through the point $(0, x_0)$).

# %%
for mode, formula in [("antisymmetric", -x8[:3]), ("antireflect", 2 * x8[0] - x8[1:4])]:
    before = filterbank.extend(np, x8[None, :, None], 3, 0, mode)[0, :3, 0][::-1]
    print(f"{mode:13s} x_-1, x_-2, x_-3 = {before}, formula {formula}, "
          f"max difference {np.abs(before - formula).max():.0e}")

# %% [markdown]
# The mode changes only the coefficients whose filter reaches past an edge.
# A good extension continues the signal smoothly, so those coefficients stay
# small. Take a quadratic and `db3` (three vanishing moments): every interior
# detail is zero, and the largest detail at the edges measures how badly
# each mode breaks the quadratic. We call *interior* the detail coefficients
# that are the same in all eight padding modes (found with a random signal).

# %%
t = np.arange(64) / 64
quad = 4 * t**2 - t + 1
padded_modes = [m for m in wl.MODES if m != "periodization"]
noise = np.random.default_rng(1).standard_normal(t.size)
all_d = np.array([wl.dwt(noise, "db3", mode=m)[1] for m in padded_modes])
interior = np.all(np.isclose(all_d, all_d[0], atol=1e-12, rtol=0), axis=0)
print(f"{interior.sum()} of {interior.size} detail coefficients are interior; "
      f"{np.argmax(interior)} at the start and {np.argmax(interior[::-1])} at the end feel the mode")
for m in padded_modes:
    d = wl.dwt(quad, "db3", mode=m)[1]
    print(f"  {m:14s} largest interior detail {np.abs(d[interior]).max():.1e}, "
          f"largest edge detail {np.abs(d[~interior]).max():.1e}")
d = wl.dwt(quad, "db3", mode="periodization")[1]
big = np.flatnonzero(np.abs(d) > 1e-9)
print(f"  periodization: {d.size} details, non-zero ones at {big.tolist()} (largest "
      f"{np.abs(d).max():.1e}); the rest are below {np.abs(np.delete(d, big)).max():.0e}")

# %% [markdown]
# Zero padding and periodic wrap-around create jumps, and the details see
# them; `smooth` and `antireflect` continue the slope and do best here.
# The worst mode is `antisymmetric` (largest edge detail 3.7 where zero
# padding gives 1.9): its sign flip jumps from $x_{N-1} \approx 3.9$ to
# $-x_{N-1}$, a jump of $2 |x_{N-1}|$, twice the jump to zero of zero
# padding. The cell below measures the jump between the last sample and the
# first invented one at each end. `periodization` sees the jump of the
# periodic wrap-around, in the coefficients whose filters straddle it.

# %%
ends = {}
for m in padded_modes:
    padded = filterbank.extend(np, quad[None, :, None], 1, 1, m)[0, :, 0]  # one sample each side
    ends[m] = (abs(padded[1] - padded[0]), abs(padded[-1] - padded[-2]))
    print(f"  {m:14s} jump at the start {ends[m][0]:.3f}, at the end {ends[m][1]:.3f}")
print("largest jump:", max(ends, key=lambda m: max(ends[m])),
      f"(x_0 = {quad[0]:.3f}, x_N-1 = {quad[-1]:.3f})")
#
# ## How many coefficients?
#
# With $F - 1$ invented samples on each side, the padded signal has
# $N + 2(F - 1)$ samples, and the filter output that reaches at least one
# real sample gives
#
# $$ n = \left\lfloor \frac{N + F - 1}{2} \right\rfloor \quad \text{per band} $$
#
# for every mode except `periodization`, which gives $n = \lceil N/2 \rceil$
# (and so $2n = N$ coefficients in total for even $N$: no redundancy).
# The table gives `wavelearn.dwt_coeff_len` for several lengths and filters;
# each entry is checked against `pywt.dwt_coeff_len` and against the actual
# output lengths of both libraries (✓ when all four agree).

# %%
rows = ["| wavelet (F) | N | " + " | ".join(wl.MODES) + " |", "|---" * (len(wl.MODES) + 2) + "|"]
mismatches = 0
for name in ["haar", "db4", "sym6"]:
    F = wl.Wavelet(name).dec_len
    for N in [7, 8, 33, 64, 101]:
        cells = []
        sig = np.random.default_rng(N).standard_normal(N)
        for mode in wl.MODES:
            n = wl.dwt_coeff_len(N, F, mode)
            ok = (n == pywt.dwt_coeff_len(N, F, mode) == wl.dwt(sig, name, mode)[0].size
                  == pywt.dwt(sig, name, mode)[0].size)
            mismatches += not ok
            cells.append(f"{n} {'✓' if ok else '✗'}")
        rows.append(f"| {name} ({F}) | {N} | " + " | ".join(cells) + " |")
display(Markdown("\n".join(rows)))
print("entries where the four lengths disagree:", mismatches)

# %% [markdown]
# ## Approximations of a signal
#
# Repeating the split on the low-pass band gives a multilevel decomposition
# (`wavedec`). Keeping the approximation $c_{A_j}$ and zeroing all details
# gives the view of the signal at scale $2^j$. With `db4` the views are smooth,
# not the staircases of Haar. First we confirm that wavelearn's `wavedec`
# and `waverec` match PyWavelets in every mode.

# %%
signal = pywt.data.demo_signal("HeaviSine", 512) + 3 * pywt.data.demo_signal("Doppler", 512)
worst_dec, worst_rec = 0.0, 0.0
for mode in wl.MODES:
    ours, theirs = wl.wavedec(signal, "db4", mode, level=5), pywt.wavedec(signal, "db4", mode, level=5)
    worst_dec = max(worst_dec, max(np.abs(a - b).max() for a, b in zip(ours, theirs, strict=True)))
    worst_rec = max(worst_rec, np.abs(wl.waverec(ours, "db4", mode) - signal).max())
print(f"max |wavelearn.wavedec - pywt.wavedec| over all modes: {worst_dec:.1e}")
print(f"max |waverec(wavedec(x)) - x| over all modes:           {worst_rec:.1e}")

fig, axes = plt.subplots(6, 1, figsize=(8, 6.5), sharex=True)
axes[0].plot(signal, "k", lw=1)
axes[0].set_title("signal (HeaviSine + 3 Doppler), 512 samples", fontsize=9)
for j, ax in enumerate(axes[1:], start=1):
    c = wl.wavedec(signal, "db4", level=j)
    approx = wl.waverec([c[0]] + [np.zeros_like(b) for b in c[1:]], "db4")
    rel = np.linalg.norm(approx - signal) / np.linalg.norm(signal)
    ax.plot(approx, lw=1)
    ax.set_title(f"level {j}: {c[0].size} coefficients, relative error {rel:.3f}", fontsize=9)
fig.tight_layout()
plt.show()

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
# **1. The high-pass filter by the alternating flip.** For an orthogonal
# wavelet, $g[n] = (-1)^{n+1} h[F-1-n]$. Write it; the check compares your
# $g$ with PyWavelets' `dec_hi` for db2, db4 and sym5.

# %%
def alternating_flip(h):
    """The high-pass g of an orthogonal filter bank from its low-pass h."""
    raise NotImplementedError  # your code here


check("02.1", alternating_flip)

# %% [markdown]
# **2. The symmetric extension.** Extend `x` by `p` samples at each end
# ($p \le n$), mirroring about the half-sample: $\dots, x_1, x_0 \mid x_0,
# \dots, x_{n-1} \mid x_{n-1}, x_{n-2}, \dots$ (compare with `pywt.pad`).

# %%
def symmetric_extension(x, p):
    """x (n,) -> (n + 2p,) in 'symmetric' mode."""
    raise NotImplementedError  # your code here


check("02.2", symmetric_extension)

# %% [markdown]
# **3. How many coefficients?** One DWT level of $n$ samples with an
# $F$-tap filter: return the number of coefficients per band for `mode` in
# `'symmetric'`, `'zero'` and `'periodization'` (the formulas are above).

# %%
def coeff_len(n, F, mode):
    """Coefficients per band of one DWT level."""
    raise NotImplementedError  # your code here


check("02.3", coeff_len)
