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
# # 3. A multilevel decomposition of real heartbeats
#
# We take single heartbeats from the UCR archive's ECG5000 data set (which
# the project installs as a pip package; `wavelearn.training.datasets.load_ucr` reads it),
# split them into wavelet bands, look at the bands as a scalogram, remove
# added noise by thresholding the details, and measure how the energy of
# normal and abnormal beats spreads over the bands.
#
# **Prerequisites:** tutorials 1 and 2; mean, standard deviation and median.
#
# **After this notebook you can** decompose a real signal into bands and
# read its scalogram, say when the noise in the bands is white, denoise by
# soft thresholding with Donoho and Johnstone's universal threshold, and
# describe a signal by its energy per band.

# %%
import importlib.util
import os

import matplotlib.pyplot as plt
import numpy as np
import pywt

import wavelearn as wl
from wavelearn.training.datasets import load_ucr

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (8, 3), "axes.grid": True})
np.set_printoptions(precision=3, suppress=True)
QUICK = os.environ.get("WAVELEARN_TUTORIAL_QUICK") == "1"  # set by the test suite: fewer beats
# Sliders need ipywidgets (the `tutorials` extra) and a live notebook; the build and the
# tests set WAVELEARN_STATIC_FIGURES=1, so the stored notebook and the website show figures.
SLIDERS = (os.environ.get("WAVELEARN_STATIC_FIGURES") != "1"
           and importlib.util.find_spec("ipywidgets") is not None)

# %%
X, y = load_ucr("ECG5000", "train")
X = X.astype(np.float64)  # the archive stores z-normalised float32 beats
print("beats:", X.shape, " beats per class:", np.bincount(y))
normal, abnormal = X[np.flatnonzero(y == 0)[0]], X[np.flatnonzero(y == 1)[0]]
N = normal.size

fig, ax = plt.subplots()
ax.plot(normal, label="class 0 (normal)")
ax.plot(abnormal, label="class 1 (abnormal)")
ax.set(xlabel="sample", title="two heartbeats from ECG5000")
ax.legend()
plt.show()

# %% [markdown]
# ## Levels and bands
#
# `wavedec` with $J$ levels returns $[c_{A_J}, c_{D_J}, \dots, c_{D_1}]$.
# Level $j$ works at sample spacing $2^j$: its details $c_{D_j}$ hold the
# oscillations with periods of roughly $2^j$ to $2^{j+1}$ samples, and the
# final approximation $c_{A_J}$ everything slower. The deepest level worth
# computing is the largest $J$ with $(F - 1)\,2^J \le N$
# (`dwt_max_level`): beyond it even the middle coefficient of a band reads
# invented boundary samples.
#
# We use `sym4`, a nearly symmetric Daubechies-type filter with four
# vanishing moments.

# %%
wavelet = "sym4"
J = wl.dwt_max_level(N, wavelet)
coeffs = wl.wavedec(normal, wavelet, level=J)
print(f"N = {N}, F = {wl.Wavelet(wavelet).dec_len}, dwt_max_level = {J}")
names = [f"cA{J}"] + [f"cD{j}" for j in range(J, 0, -1)]
for name, c in zip(names, coeffs, strict=True):
    print(f"  {name}: {c.size:3d} coefficients")

# %% [markdown]
# ## The scalogram
#
# Draw each band as a row, with each coefficient stretched over the $2^j$
# samples it summarises. This needs coefficients that line up with the
# samples, so here we use `periodization` mode, where level $j$ has exactly
# $N / 2^j$ coefficients when $2^j$ divides $N$. $N = 140 = 2^2 \cdot 35$
# is not divisible by $2^4$, so we first extend each beat by two mirrored
# samples at each end, to $144 = 2^4 \cdot 9$.
#
# With an orthogonal wavelet and that length, the transform is an
# orthogonal matrix, so the energy is split exactly over the bands
# (Parseval): $\lVert x \rVert^2 = \lVert c_{A_J}\rVert^2 + \sum_j \lVert c_{D_j} \rVert^2$.

# %%
def extend144(x):
    """Beats of 140 samples -> 144, mirroring two samples at each end (last axis)."""
    width = [(0, 0)] * (x.ndim - 1) + [(2, 2)]
    return np.pad(x, width, mode="symmetric")


def scalogram(x, wavelet, levels):
    """|coefficients| as a (levels + 1, len(x)) image: row 0 is cA_J, then cD_J .. cD_1.
    Each row is divided by its largest value, so that every band uses the whole colour scale."""
    bands = wl.wavedec(x, wavelet, "periodization", level=levels)
    spans = [2**levels] + [2**j for j in range(levels, 0, -1)]
    rows = [np.repeat(np.abs(c) / np.abs(c).max(), r) for c, r in zip(bands, spans, strict=True)]
    return np.stack(rows), bands


fig, axes = plt.subplots(2, 2, figsize=(10, 5), sharex=True, height_ratios=[1, 1.4])
for col, (beat, title) in enumerate([(normal, "normal"), (abnormal, "abnormal")]):
    x144 = extend144(beat)
    image, bands = scalogram(x144, wavelet, J)
    energy_x = np.sum(x144**2)
    energy_bands = sum(np.sum(c**2) for c in bands)
    print(f"{title}: energy of the beat {energy_x:.6f}, sum over bands {energy_bands:.6f}, "
          f"relative difference {abs(energy_x - energy_bands) / energy_x:.1e}")
    axes[0, col].plot(x144, "k", lw=1)
    axes[0, col].set_title(f"{title} beat (144 samples)")
    axes[1, col].imshow(image, aspect="auto", cmap="magma", interpolation="nearest")
    axes[1, col].set_yticks(range(J + 1), names)
    axes[1, col].grid(False)
    axes[1, col].set_xlabel("sample")
fig.tight_layout()
plt.show()

# %% [markdown]
# Each row is scaled to its own maximum. Sharp features, like the deep dips,
# light up the fine detail bands right where they happen; slow waves show
# only in the approximation and the coarsest details. The right-most
# columns also see the periodic wrap-around: `periodization` treats the
# beat as a loop, so the step from its last sample back to its first counts
# as a feature too.
#
# ## Denoising by thresholding
#
# Add white noise $e$ of standard deviation $\sigma$. Its coefficients
# $A e$ have covariance $\sigma^2 A A^\top$. An *orthogonal* transform
# ($A A^\top = I$: `periodization`, an orthogonal wavelet, $2^J$ dividing
# $N$) therefore turns white noise into white noise of the same $\sigma$ in
# every band, while the heartbeat concentrates in a few large coefficients.
#
# We will denoise in the default `symmetric` mode instead (no wrap-around
# jump, any length). That transform is *not* orthogonal: it has more
# coefficients than samples, and coefficient $m$ of the noise has standard
# deviation $\sigma \lVert A_{m,:} \rVert$. The cell below measures the row
# norms. In the interior every row has norm 1, exactly as for periodization;
# only the few rows whose filters fold back at an edge differ. So the noise is
# still white with standard deviation $\sigma$ in the interior of every band,
# and a few edge coefficients have a smaller or larger one.

# %%
def analysis_matrix(n, wavelet, mode, levels):
    """The (coefficients x samples) matrix of wavedec, and each band's slice of rows."""
    bands = wl.wavedec(np.eye(n), wavelet, mode, level=levels, axis=-1)  # row i: wavedec(e_i)
    ends = np.cumsum([0] + [b.shape[-1] for b in bands])
    return np.concatenate(bands, axis=-1).T, [slice(a, b) for a, b in zip(ends[:-1], ends[1:])]


for n, mode in [(144, "periodization"), (N, "symmetric")]:
    A, slices = analysis_matrix(n, wavelet, mode, 2)
    norms2 = np.sum(A**2, axis=1)  # squared row norms
    print(f"{mode:13s} N = {n}: A is {A.shape[0]} x {A.shape[1]}, max |A A^T - I| = "
          f"{np.abs(A @ A.T - np.eye(A.shape[0])).max():.2f}, squared row norms "
          f"{norms2.min():.2f} .. {norms2.max():.2f}")
    for name, rows in zip(["cA2", "cD2", "cD1"], slices, strict=True):
        off = np.abs(norms2[rows] - 1) > 1e-9
        print(f"    {name}: {off.sum()} of {off.size} rows have a norm other than 1 "
              f"(at positions {np.flatnonzero(off).tolist()})")

noise = 0.3 * np.random.default_rng(5).standard_normal((20000, N))  # 20000 noise draws
coeffs_noise = np.concatenate(wl.wavedec(noise, wavelet, "symmetric", level=2), axis=-1)
measured, predicted = coeffs_noise.std(axis=0), 0.3 * np.sqrt(norms2)
print("white noise, sigma = 0.3, symmetric mode, measured std of each coefficient vs "
      "sigma |row|:")
print(f"    interior rows: measured {measured[np.abs(norms2 - 1) < 1e-9].min():.3f} .. "
      f"{measured[np.abs(norms2 - 1) < 1e-9].max():.3f}")
for m in [int(np.argmin(norms2)), int(np.argmax(norms2))]:
    print(f"    row {m:3d}: measured {measured[m]:.3f}, sigma |row| = {predicted[m]:.3f}")

# %% [markdown]
# The soft threshold below is applied to every detail coefficient, so it is
# slightly too small for the edge coefficients with a larger noise level and
# slightly too large for the others; with 3 to 5 affected coefficients at
# each end of a band this barely matters, and the noise estimate (a median)
# hardly sees them.
# Where exact whiteness matters, use `periodization` on a length divisible by
# $2^J$, as for the scalogram.
#
# **Soft thresholding.** Set the small detail coefficients to zero and shrink
# the others:
#
# $$ \eta_\tau(c) = \operatorname{sign}(c)\, \max(|c| - \tau, 0). $$
#
# [Donoho and Johnstone (1994)](references.md#donoho-and-johnstone-1994)'s choice
# (*VisuShrink*) is $\tau = \hat\sigma \sqrt{2 \ln N}$, with
# the noise level estimated from the finest details, which are mostly noise:
# $\hat\sigma = \operatorname{median}(|c_{D_1}|) / 0.6745$ (the median of
# $|z|$ for $z \sim \mathcal N(0, 1)$ is $0.6745$). We write $\eta_\tau$ in
# one line, check it against `pywt.threshold`, and use the default
# `symmetric` mode (no need for special lengths here, see above).

# %%
def soft(c, tau):
    return np.sign(c) * np.maximum(np.abs(c) - tau, 0.0)


def denoise(x, wavelet, levels, mode="symmetric"):
    c = wl.wavedec(x, wavelet, mode, level=levels)
    sigma_hat = np.median(np.abs(c[-1]), axis=-1, keepdims=True) / 0.6745
    tau = sigma_hat * np.sqrt(2 * np.log(x.shape[-1]))
    shrunk = [c[0]] + [soft(d, tau) for d in c[1:]]
    return wl.waverec(shrunk, wavelet, mode, length=x.shape[-1]), sigma_hat


probe = np.linspace(-3, 3, 13)
print("max |soft - pywt.threshold|:", np.abs(soft(probe, 1.2) - pywt.threshold(probe, 1.2, "soft")).max())

sigma, levels = 0.3, 2
rng = np.random.default_rng(0)
noisy = normal + sigma * rng.standard_normal(N)
clean_estimate, sigma_hat = denoise(noisy, wavelet, levels)


def rmse(a, b):
    return np.sqrt(np.mean((a - b) ** 2, axis=-1))


print(f"true sigma {sigma}, estimated {sigma_hat.item():.3f}")
print(f"RMSE to the original beat: noisy {rmse(noisy, normal):.3f}, "
      f"denoised {rmse(clean_estimate, normal):.3f}")

fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(noisy, color="0.7", label="noisy")
ax.plot(normal, "k", lw=1.5, label="original")
ax.plot(clean_estimate, "tab:red", lw=1.5, label="denoised")
ax.set(xlabel="sample", title=f"soft thresholding, {wavelet}, {levels} levels")
ax.legend()
plt.show()

# %% [markdown]
# **Try it: the threshold.** How much does the choice of $\tau$ matter?
# The function below denoises the same beat with $\tau$ scaled by a factor:
# 0 keeps all the noise, large factors flatten the beat. In JupyterLab with
# the `tutorials` extra installed, a slider appears; elsewhere (the website,
# the tests) the figure is drawn for a few fixed factors.

# %%
def show_threshold(factor):
    c = wl.wavedec(noisy, wavelet, level=levels)
    tau = factor * sigma_hat.item() * np.sqrt(2 * np.log(N))
    estimate = wl.waverec([c[0]] + [soft(d, tau) for d in c[1:]], wavelet, length=N)
    fig, ax = plt.subplots(figsize=(8, 2.6))
    ax.plot(noisy, color="0.7", label="noisy")
    ax.plot(normal, "k", lw=1, label="original")
    ax.plot(estimate, "tab:red", lw=1.5, label="denoised")
    ax.set(xlabel="sample", title=f"tau = {factor:g} x universal = {tau:.2f}: "
           f"RMSE {rmse(estimate, normal):.3f}")
    ax.legend(fontsize=8)
    plt.show()


if SLIDERS:
    from ipywidgets import FloatSlider, interact

    interact(show_threshold, factor=FloatSlider(value=1.0, min=0.0, max=3.0, step=0.1))
else:
    for factor in (0.5, 1.0, 2.0):
        show_threshold(factor)

# %% [markdown]
# One beat and one noise draw prove little. `wavedec` works along the last
# axis of a 2-D array, so we denoise many beats at once, with fresh noise,
# and compare the errors for several depths. Two things to look for: going
# deeper is not always better (the coarse details carry the beat's sharp
# dip, and shrinking them blunts it), and $\hat\sigma$ is not exactly
# $\sigma$, because the archive's beats carry some fine-scale noise of their own.

# %%
beats = X[: 100 if QUICK else len(X)]
noisy_beats = beats + sigma * np.random.default_rng(1).standard_normal(beats.shape)
print(f"{len(beats)} beats, sigma = {sigma}: mean RMSE of the noisy beats "
      f"{rmse(noisy_beats, beats).mean():.3f}")
scores = {}
for lv in range(1, J + 1):
    est, s_hat = denoise(noisy_beats, wavelet, lv)
    err = rmse(est, beats)
    print(f"  {lv} level(s): mean RMSE {err.mean():.3f}, better than noisy for "
          f"{np.mean(err < rmse(noisy_beats, beats)):.0%} of beats, mean sigma_hat {s_hat.mean():.3f}")
    scores[lv] = err.mean()
print("best depth here:", min(scores, key=scores.get))

# %% [markdown]
# ## Energy per band
#
# The fraction of a beat's energy in each band is a compact description of
# its shape (slow beats put more into $c_{A_J}$, sharp ones into the
# details). We compute it for every beat of the training split, again on
# the 144-sample extension in `periodization` mode so that the fractions add
# up to one, and average it per class.

# %%
bands = wl.wavedec(extend144(X), wavelet, "periodization", level=J)  # along the last axis
energy = np.stack([np.sum(c**2, axis=-1) for c in bands], axis=1)  # (beats, J + 1)
total = np.sum(extend144(X) ** 2, axis=-1)
print("largest relative Parseval error over all beats:",
      f"{np.max(np.abs(energy.sum(axis=1) - total) / total):.1e}")
fractions = energy / energy.sum(axis=1, keepdims=True)
classes = np.unique(y)
mean_fraction = np.stack([fractions[y == k].mean(axis=0) for k in classes])
print("class (beats): " + "  ".join(f"{n:>5s}" for n in names))
for k, row in zip(classes, mean_fraction, strict=True):
    print(f"{k} ({np.sum(y == k):3d}):       " + "  ".join(f"{v:5.3f}" for v in row))

fig, ax = plt.subplots(figsize=(8, 3))
width = 0.8 / len(classes)
for i, k in enumerate(classes):
    ax.bar(np.arange(J + 1) + i * width, mean_fraction[i], width, label=f"class {k}")
ax.set_xticks(np.arange(J + 1) + 0.4 - width / 2, names)
ax.set(ylabel="mean energy fraction", title="where the energy of a heartbeat lies, per class")
ax.legend(fontsize=8)
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
# **1. Soft thresholding.** $\eta_\tau(c) = \operatorname{sign}(c)\,
# \max(|c| - \tau, 0)$, elementwise.

# %%
def soft_threshold(c, tau):
    raise NotImplementedError  # your code here


check("03.1", soft_threshold)

# %% [markdown]
# **2. The universal threshold.** Donoho and Johnstone's
# $\tau = \hat\sigma\sqrt{2 \ln n}$ with $\hat\sigma = \operatorname{median}(|c_{D_1}|)
# / 0.6745$, for the finest details `cD1` of a signal of length `n`.

# %%
def universal_threshold(cD1, n):
    raise NotImplementedError  # your code here


check("03.2", universal_threshold)
