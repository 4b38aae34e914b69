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
# # 6. Building and training a WaveletTransformer on real data
#
# The previous tutorials took the wavelet mixing layer apart. Here we put a
# whole model to work: a small `WaveletTransformer` learns to classify
# **FordA** engine recordings (500 samples each, two classes), using the
# same code as `wavelearn train`:
#
# * `wavelearn.training.tasks.prepare_task` loads and normalises the series and cuts
#   each one into $L$ patches of $P$ samples, $x \in \mathbb R^{n \times L \times P}$;
# * `wavelearn.training.trainer.Trainer` adds a learned projection $\mathrm{Linear}(P, D)$
#   in front of the model (the series enters as `inputs_embeds`), and runs
#   AdamW with a warm-up + cosine schedule.
#
# We then compare it with the simple baselines of the task code and with an
# attention transformer of the same size (PyTorch `nn.TransformerEncoder`)
# trained on the same batches for the same number of steps, and finally
# measure how the cost of one training step grows with the sequence length.
#
# With `WAVELEARN_TUTORIAL_QUICK=1` (the tests) every experiment is shrunk:
# a few hundred examples, a handful of steps, shorter sequences.
#
# **Prerequisites:** tutorial 5b (the model, layer by layer); training
# with mini-batches and a held-out test set; test accuracy.
#
# **After this notebook you can** train a wavelet transformer on a time
# series task with `prepare_task` and `Trainer`, compare it fairly with
# baselines and an attention transformer (same batches, same budget),
# report an accuracy with its spread over seeds and next to a published
# reference, and measure how the cost of a step grows with the length.

# %% [markdown]
# Both libraries run on one CPU thread each, so that their timings compare
# like with like (and so that a multi-threaded BLAS does not fight other
# processes for the cores): the thread count is set before NumPy is imported.

# %%
import os

for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = "1"

# ruff: noqa: E402 (the thread settings above must come before the imports)
import contextlib
import io
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from wavelearn.models import WaveletTransformer
from wavelearn.nn import CrossEntropyLoss
from wavelearn.training.config import TrainConfig
from wavelearn.training.tasks import TASK_DEFAULTS, prepare_task
from wavelearn.training.trainer import Trainer

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm in a notebook
QUICK = bool(os.environ.get("WAVELEARN_TUTORIAL_QUICK"))
torch.set_num_threads(1)
plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (8, 3), "axes.grid": True})
np.set_printoptions(precision=3, suppress=True)
print("quick mode" if QUICK else "full mode")

# %% [markdown]
# ## The data
#
# FordA's training split is the input of `prepare_task`; `limit_train` and
# `limit_test` keep a seeded subset (the whole splits in full mode). With
# `patch_size` $P = 5$, each 500-sample series becomes $L = 100$ time steps
# of 5 features, and each series has mean 0 and standard deviation 1.

# %%
defaults = TASK_DEFAULTS["forda"]
model_options = dict(defaults["model"])
patch = defaults["training"]["patch_size"]
limits = dict(limit_train=512, limit_test=256) if QUICK else {}
data = prepare_task("forda", patch_size=patch, **limits)
print("train x", data.train_x.shape, "test x", data.test_x.shape,
      "classes", data.num_classes)
print("class balance (train):", np.bincount(data.train_y) / data.train_y.size)
series = data.train_x.reshape(data.train_x.shape[0], -1)
print(f"per-series mean {np.abs(series.mean(axis=1)).max():.1e} (max |.|), "
      f"std {series.std(axis=1).min():.4f} .. {series.std(axis=1).max():.4f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 2.6), sharey=True)
for label, ax in enumerate(axes):
    for row in np.flatnonzero(data.train_y == label)[:3]:
        ax.plot(series[row], lw=0.8)
    ax.set_title(f"class {label}")
    ax.set_xlabel("sample")
fig.tight_layout()

# %% [markdown]
# ## The model and the trainer
#
# The model options are those `wavelearn train` uses for FordA
# (`TASK_DEFAULTS['forda']`): hidden size $D$, a few blocks of wavelet
# mixing + feed-forward, mean pooling and a linear head. `Trainer` completes
# them from the task (sequence length, number of classes) and builds the
# projection. The training budget is a number of optimizer steps.

# %%
batch_size = defaults["training"]["batch_size"]
lr = defaults["training"]["lr"]
epochs = 3 if QUICK else 4
config = TrainConfig(task="forda", epochs=epochs, batch_size=batch_size, lr=lr,
                     patch_size=patch, seed=0, **limits)
trainer = Trainer(config, model_options, data)
print({k: trainer.model_config[k] for k in
       ("hidden_dim", "num_layers", "wavelet", "levels", "mixing_mode", "max_sequence_length")})
print(f"parameters: {trainer.num_parameters():,} (model + projection), "
      f"{trainer.steps_per_epoch} steps per epoch, {trainer.total_steps} steps")

# %% [markdown]
# `fit` computes the baselines, trains, evaluates on the test split after
# every epoch and returns the final test metrics.

# %%
start = time.perf_counter()
final = trainer.fit(progress=False)
wave_seconds = time.perf_counter() - start
print(f"wavelearn: test accuracy {final['accuracy']:.3f} on {final['examples']} examples, "
      f"{trainer.train_seconds:.1f} s in training steps ({wave_seconds:.1f} s with evaluations)")
print("baselines:", {k: round(v, 3) for k, v in trainer.baselines.items()})

# %% [markdown]
# The baselines come from `wavelearn.training.baselines`: always predicting the
# most frequent training class, and a multinomial logistic regression on the
# flattened series. FordA's classes differ in *when* and *how* the signal
# oscillates, not in the value at any fixed time, so a linear model on raw
# values stays near chance; the transformer sees patterns wherever they occur.
#
# ## An attention transformer of the same size
#
# The reference model has the same skeleton, with multi-head self-attention
# where the wavelet mixing was: the same projection of patches, sinusoidal
# positions, pre-norm blocks with the same width and feed-forward size, mean
# pooling and a linear head (as in `benchmarks/train.py`).

# %%
def sinusoidal(n, d):
    freq = 10000.0 ** (-np.arange(0, d, 2) / d)
    angles = np.arange(n)[:, None] * freq[None, :]
    table = np.zeros((n, d), dtype=np.float32)
    table[:, 0::2], table[:, 1::2] = np.sin(angles), np.cos(angles)
    return torch.as_tensor(table)


class AttentionClassifier(nn.Module):
    def __init__(self, in_features, d, layers, num_classes, max_len, dropout=0.1):
        super().__init__()
        self.proj = nn.Linear(in_features, d)
        self.register_buffer("pos", sinusoidal(max_len, d))
        block = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=4 * d, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_classes)

    def forward(self, x):
        h = self.proj(x) + self.pos[: x.shape[1]]
        return self.head(self.norm(self.encoder(h)).mean(dim=1))


d, layers = trainer.model_config["hidden_dim"], trainer.model_config["num_layers"]
torch.manual_seed(0)
attn = AttentionClassifier(data.in_features, d, layers, data.num_classes, data.seq_len,
                           trainer.model_config["dropout"])
attn_params = sum(p.numel() for p in attn.parameters())
print(f"parameters: attention {attn_params:,}, wavelet {trainer.num_parameters():,}")

# %% [markdown]
# The wavelet model has fewer parameters: a pointwise mixing layer has one
# gain per band and channel, $(J+1) \cdot D$ numbers, where attention has the
# four $D \times D$ projections $W_Q, W_K, W_V, W_O$.
#
# Training uses the same batches (same seeded order), AdamW with the same
# learning rate, warm-up + cosine schedule and gradient clipping.

# %%
def train_attention(model, steps, per_epoch, seed=config.seed):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=config.weight_decay)
    warm = max(1, round(config.warmup_fraction * steps))

    def factor(t):
        if t < warm:
            return (t + 1) / warm
        cos = 0.5 * (1 + np.cos(np.pi * (t - warm) / max(1, steps - warm)))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * cos

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    rng = np.random.default_rng([seed, 11])
    losses, evals, seconds = [], [], 0.0
    for step in range(steps):
        if step % per_epoch == 0:
            perm = rng.permutation(data.num_train)
        idx = perm[(step % per_epoch) * batch_size:(step % per_epoch + 1) * batch_size]
        x, y = torch.as_tensor(data.train_x[idx]), torch.as_tensor(data.train_y[idx])
        t0 = time.perf_counter()
        model.train()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        sched.step()
        seconds += time.perf_counter() - t0
        losses.append(loss.item())
        if (step + 1) % per_epoch == 0:
            evals.append((step + 1, evaluate_attention(model)))
    return losses, evals, seconds


@torch.no_grad()
def evaluate_attention(model):
    model.eval()
    logits = torch.cat([model(torch.as_tensor(data.test_x[i:i + 256]))
                        for i in range(0, data.test_x.shape[0], 256)])
    return float((logits.argmax(1).numpy() == data.test_y).mean())


attn_losses, attn_evals, attn_seconds = train_attention(attn, trainer.total_steps,
                                                        trainer.steps_per_epoch)
print(f"attention: test accuracy {attn_evals[-1][1]:.3f}, {attn_seconds:.1f} s in training steps")

# %% [markdown]
# ## Training curves
#
# Left: the loss of every training step (and a running mean); right: the test
# accuracy after every epoch, with the baselines as horizontal lines.

# %%
def running_mean(v, k):
    k = max(1, min(k, len(v)))
    return np.convolve(v, np.ones(k) / k, mode="valid")


k = max(1, trainer.steps_per_epoch // 4)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
for name, losses, color in [("wavelet", trainer.step_losses, "C0"),
                            ("attention", attn_losses, "C1")]:
    ax1.plot(np.arange(1, len(losses) + 1), losses, color=color, alpha=0.25, lw=0.8)
    ax1.plot(np.arange(k, len(losses) + 1), running_mean(losses, k), color=color, label=name)
ax1.set(xlabel="step", ylabel="training loss", title="cross-entropy")
ax1.legend()
wave_curve = [(h["step"], h["eval_accuracy"]) for h in trainer.history]
for name, curve, color in [("wavelet", wave_curve, "C0"), ("attention", attn_evals, "C1")]:
    steps_, acc = zip(*curve, strict=True)
    ax2.plot(steps_, acc, "o-", color=color, label=name)
for (name, value), ls in zip(trainer.baselines.items(), [":", "--"], strict=True):
    ax2.axhline(value, color="gray", ls=ls, label=name)
ax2.set(xlabel="step", ylabel="test accuracy", title="evaluation", ylim=(0.4, 1.0))
ax2.legend(fontsize=8)
fig.tight_layout()

# %%
results = {"majority": trainer.baselines["majority"],
           "logistic regression": trainer.baselines["logistic_regression"],
           "wavelet transformer": final["accuracy"],
           "attention transformer": attn_evals[-1][1]}
for name, acc in results.items():
    print(f"{name:>22s}: {acc:.3f}")
print(f"training time per step: wavelet {1e3 * trainer.train_seconds / trainer.total_steps:.0f} ms"
      f" (NumPy), attention {1e3 * attn_seconds / trainer.total_steps:.0f} ms (PyTorch)")

# %% [markdown]
# With this short budget both transformers usually end above the
# baselines (in quick mode, a few steps on a few hundred examples, the
# numbers are noisy and may sit near chance); how much one run can be
# trusted is the subject of the next section. The time per step is not a fair
# comparison of the *methods* at $L = 100$: PyTorch runs fused C++ kernels,
# wavelearn plain NumPy. What the next section measures is how each cost
# *grows* with the length.
#
# ## Seeds and spread, and an outside reference
#
# One run is one draw: the initial weights, the dropout masks and the order
# of the batches all come from the seed. So we train both models again with
# other seeds (same data, same budget) and report the mean, the standard
# deviation (over runs) and the range. The printed epoch lines are
# silenced; only the final test accuracies are kept.

# %%
seeds = [0, 1] if QUICK else [0, 1, 2, 3]
runs = {"wavelet transformer": [final["accuracy"]], "attention transformer": [attn_evals[-1][1]]}
for seed in seeds[1:]:
    seed_config = TrainConfig(task="forda", epochs=epochs, batch_size=batch_size, lr=lr,
                              patch_size=patch, seed=seed, compute_baselines=False, **limits)
    with contextlib.redirect_stdout(io.StringIO()):
        runs["wavelet transformer"].append(
            Trainer(seed_config, model_options, data).fit(progress=False)["accuracy"])
    torch.manual_seed(seed)
    seed_attn = AttentionClassifier(data.in_features, d, layers, data.num_classes, data.seq_len,
                                    trainer.model_config["dropout"])
    _, seed_evals, _ = train_attention(seed_attn, trainer.total_steps, trainer.steps_per_epoch,
                                       seed=seed)
    runs["attention transformer"].append(seed_evals[-1][1])
print(f"{len(seeds)} seeds {seeds}, {trainer.total_steps} steps each, "
      f"{data.test_x.shape[0]} test examples")
for name, accs in runs.items():
    accs = np.array(accs)
    print(f"{name:>22s}: {accs.mean():.3f} +- {accs.std(ddof=1):.3f} (std over runs), "
          f"range {accs.min():.3f} .. {accs.max():.3f}; runs {np.round(accs, 3).tolist()}")
wave_accs, attn_accs = (np.array(runs[k]) for k in ("wavelet transformer", "attention transformer"))
difference = wave_accs.mean() - attn_accs.mean()
std_error = np.sqrt(wave_accs.var(ddof=1) / wave_accs.size + attn_accs.var(ddof=1) / attn_accs.size)
print(f"difference of the means (wavelet - attention) {difference:+.3f}, its standard error "
      f"{std_error:.3f}: {abs(difference) / std_error:.1f} standard errors")

# %% [markdown]
# Read the spread before the means. With this short budget the test
# accuracy of one architecture moves by several points from one seed to the
# next, as much as the two architectures differ on average, so one run per
# model (as in the first section) can point either way. A difference of the
# means within about two standard errors is not evidence that one mixer is
# better than the other here; more seeds or a longer budget would be.

# %% [markdown]
# **An outside reference.** How good is good on FordA? In the review of
# deep learning for time series classification by
# [Ismail Fawaz et al. (2019)](references.md#ismail-fawaz-et-al-2019), a
# residual convolutional network (ResNet) trained for 1500 epochs on this
# split (the UCR 2018 archive's FordA: 3,601 training and 1,320 test
# series) reaches a test accuracy of 0.931 to 0.945 over 5 runs, mean
# 0.937, and a fully convolutional network (FCN) 0.907 to 0.920, mean
# 0.914 (the per-run numbers are in the paper's companion repository,
# `hfawaz/dl-4-tsc`, file `results/results-ucr-128.csv`). Our models train
# for a few epochs on one CPU thread, so they sit well below that: the
# point of this notebook is a fair comparison of two token mixers under the
# same small budget, not a state-of-the-art result. Longer training
# (`wavelearn train --task forda --epochs ...`) is the first thing to try;
# this notebook does not measure how much of the gap it closes.

# %%
reference = {"ResNet (Ismail Fawaz et al. 2019)": [0.93106, 0.93485, 0.94545, 0.93485, 0.93864],
             "FCN (Ismail Fawaz et al. 2019)": [0.91742, 0.90682, 0.91136, 0.91439, 0.92045]}
for name, accs in reference.items():
    print(f"{name:>34s}: mean {np.mean(accs):.3f}, range {min(accs):.3f} .. {max(accs):.3f}")
for name, accs in runs.items():
    print(f"{name:>34s}: mean {np.mean(accs):.3f} (this notebook, {trainer.total_steps} steps)")

# %% [markdown]
# ## Cost per token as the sequence grows
#
# For a sequence of $N$ tokens of width $D$, one block costs
#
# * **wavelet mixing**: a DWT and an inverse DWT per channel, each a few
#   filter taps per sample over $J$ levels (a geometric series
#   $N + N/2 + \dots < 2N$), plus the band gains: $O(N D)$;
# * **attention**: the scores $QK^\top$ and the weighted sum $AV$ are
#   $N \times N$ matrices per head: $O(N^2 D)$, on top of the $O(N D^2)$
#   projections that both models share with the feed-forward.
#
# We keep the number of tokens per batch fixed ($B \cdot N = $ `tokens`) so
# that a model whose cost is linear in $N$ takes the same time per step at
# every length, and a quadratic one takes time growing like $N$. We time one
# forward + backward pass (no optimizer step) of each model on random inputs.

# %%
lengths = [128, 256, 512] if QUICK else [128, 256, 512, 1024, 2048]
tokens = 4096 if QUICK else 8192
repeats = 2 if QUICK else 3
criterion = CrossEntropyLoss()


def best_time(fn):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


timings = {"wavelet": [], "attention": []}
for n in lengths:
    b = tokens // n
    x = np.random.default_rng(n).standard_normal((b, n, d)).astype(np.float32)
    y = np.arange(b) % 2
    wave = WaveletTransformer(**{**trainer.model_config, "max_sequence_length": n})

    def wave_step(wave=wave, x=x, y=y):
        criterion(wave(inputs_embeds=x), y)
        wave.backward(criterion.backward())

    torch.manual_seed(0)
    ref = AttentionClassifier(d, d, layers, 2, n)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)

    def attn_step(ref=ref, xt=xt, yt=yt):
        ref.zero_grad()
        nn.functional.cross_entropy(ref(xt), yt).backward()

    timings["wavelet"].append(best_time(wave_step))
    timings["attention"].append(best_time(attn_step))
    print(f"N={n:5d} B={b:3d}: wavelet {1e3 * timings['wavelet'][-1]:7.1f} ms, "
          f"attention {1e3 * timings['attention'][-1]:7.1f} ms")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
for (name, t), color in zip(timings.items(), ["C0", "C1"], strict=True):
    t = np.array(t)
    ax1.plot(lengths, 1e3 * t, "o-", color=color, label=name)
    ax2.plot(lengths, t / t[0], "o-", color=color, label=name)
ax2.plot(lengths, np.array(lengths) / lengths[0], "k:", label=r"$\propto N$ (quadratic total)")
ax2.axhline(1, color="gray", ls="--", label="constant (linear total)")
ax1.set(xscale="log", yscale="log", xlabel="sequence length N",
        ylabel="ms per step", title=f"{tokens} tokens per batch")
ax2.set(xscale="log", yscale="log", xlabel="sequence length N",
        ylabel=f"time / time at N={lengths[0]}", title="growth")
for ax in (ax1, ax2):
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.legend(fontsize=8)
fig.tight_layout()

# %%
growth = {name: t[-1] / t[0] for name, t in timings.items()}
ratio = lengths[-1] // lengths[0]
print(f"N grows {ratio}x (tokens per batch fixed): time per step grows "
      f"{growth['wavelet']:.2f}x for the wavelet model, {growth['attention']:.2f}x for attention")
slopes = {name: np.polyfit(np.log(lengths), np.log(t), 1)[0] for name, t in timings.items()}
print("log-log slope of time vs N:", {k: round(float(v), 2) for k, v in slopes.items()})

# %% [markdown]
# At a fixed number of tokens per batch, the wavelet model's time per step
# stays roughly flat: its cost per token does not depend on $N$ (a slope
# near 0 on the log-log plot). Attention's time grows with $N$: its
# $O(N D^2)$ projections and feed-forward are flat like the wavelet model's,
# but the $O(N^2 D)$ score matrices grow, and take a larger share of the
# step the longer the sequence (the slope tends to 1 per token, i.e. 2 for
# the whole sequence). The printed numbers above give the measured growth on
# this machine, one CPU thread per library.
#
# The same comparison at lengths a notebook cannot wait for, measured by
# `python benchmarks/scaling.py --out tutorials/figures` (one training step,
# batch 1, D = 64, 2 layers; one thread each): the wavelet model's time and
# memory per token stay flat up to $N = 262{,}144$, while attention's time per
# token grows until a step takes minutes and the benchmark stops it.
#
# ![Time and peak memory per token of a training step against N](figures/scaling.png)
#
# ## Summary
#
# * `prepare_task` + `Trainer` are all it takes to train a WaveletTransformer
#   on a time series task: the series is cut into patches and projected to
#   the model width, and `fit` trains, evaluates and computes the baselines.
# * On FordA the models learn what a linear model on raw values cannot. The
#   spread over seeds is large at this budget, so compare models by their
#   means over several seeds, with the spread, never by one run; a published
#   ResNet shows how far a long training run goes.
# * Its cost per token is independent of the sequence length; attention's
#   grows linearly with it, so the whole sequence costs $O(N)$ against
#   $O(N^2)$.

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
# **1. The learning-rate schedule.** Warm-up for $W$ steps, then a cosine
# decay to $r\,\eta_0$ at step $T$:
# $\eta(s) = \eta_0 (s+1)/W$ for $s < W$, else
# $\eta_0\big(r + (1-r)\tfrac12(1 + \cos\pi p)\big)$ with
# $p = \min(1, (s - W)/\max(1, T - W))$.

# %%
def lr_schedule(s, lr0, W, T, r):
    raise NotImplementedError  # your code here


check("06.1", lr_schedule)

# %% [markdown]
# **2. One AdamW step** (as `torch.optim.AdamW`): update the moments
# $m \leftarrow \beta_1 m + (1-\beta_1) g$, $v \leftarrow \beta_2 v +
# (1-\beta_2) g^2$, decay the weights $\theta \leftarrow \theta(1 - \eta\lambda)$,
# then $\theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,
# \frac{m}{\sqrt{v/(1-\beta_2^t)} + \epsilon}$. Return `(theta, m, v)`.

# %%
def adamw_update(theta, g, m, v, t, lr, betas, eps, weight_decay):
    raise NotImplementedError  # your code here


check("06.2", adamw_update)
