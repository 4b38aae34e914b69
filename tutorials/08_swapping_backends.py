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
# # 8. Swapping the backend
#
# Everything so far ran on NumPy. The same wavelearn code also runs on
# **PyTorch** tensors (on the CPU or a CUDA GPU) and on **CuPy** arrays (on a
# GPU), without changing a line of the model: the layers ask their inputs
# which array library to use. This tutorial shows
#
# 1. what a backend is in wavelearn, and the two rules that decide where an
#    array is created and where an operation runs;
# 2. the same model, the same seed, on NumPy and on torch: identical
#    parameters, logits and gradients to rounding, and the model wrapped as a
#    `torch.nn.Module` to train it with a torch optimiser;
# 3. GPUs: how to check for one, when one helps, and what the CPU backends
#    cost per training step;
# 4. training on several processes or machines with the torch backend (data
#    parallelism).
#
# With `WAVELEARN_TUTORIAL_QUICK=1` (the tests) the measurements are shrunk.
#
# **Prerequisites:** tutorial 6 (a model and a training step); PyTorch
# basics help for sections 2 and 4 (tensors, `nn.Module`, an optimiser).
#
# **After this notebook you can** run a wavelearn model on NumPy, torch or
# CuPy, move data between them explicitly, train it with a torch optimiser,
# tell whether a GPU will help for a given size, and train data-parallel on
# several processes.

# %% [markdown]
# As in tutorial 6, every library runs on one CPU thread, so that timings
# compare like with like; the thread count is set before NumPy is imported.
# Note that torch is *not* imported here.

# %%
import os

for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = "1"

# ruff: noqa: E402 (the thread settings above must come before the imports)
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import wavelearn as wl
from wavelearn.backend import BackendUnavailableError, load_backend
from wavelearn.nn import CrossEntropyLoss, Linear
from wavelearn.training.optim import AdamW

QUICK = bool(os.environ.get("WAVELEARN_TUTORIAL_QUICK"))
plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (8, 3), "axes.grid": True})
np.set_printoptions(precision=3, suppress=True)
print("quick mode" if QUICK else "full mode")

# %% [markdown]
# ## 1. What a backend is
#
# A *backend* is an array library plus a device: `'numpy'`, `'torch'` (CPU),
# `'torch:cuda'` (or `'torch:cuda:1'`), `'cupy'` (GPU 0) or `'cupy:1'`.
# wavelearn keeps two questions apart:
#
# * **Where does an operation run?** On the library its inputs come from.
#   `wl.dwt(x)` of a torch tensor runs on torch and returns torch tensors,
#   whatever backend is active. Every function finds its array namespace with
#   `wavelearn.array_namespace(*inputs)`.
# * **Where are new arrays created?** Parameters, filters, random draws have
#   no input to follow; they are created on the *active backend*: `numpy`
#   unless you change it, for the whole process with
#   `wl.set_backend(name)` (or the environment variable `WAVELEARN_BACKEND`
#   at start-up), or for one block with `with wl.use_backend(name):`.
#
# CuPy and torch are imported only when selected, so `import wavelearn`
# stays light:

# %%
print("active backend:", wl.get_backend(), "| torch imported:", "torch" in sys.modules)
wl.set_backend("torch")  # the process-wide default from now on
print("after set_backend('torch'):", wl.get_backend(), "| torch imported:", "torch" in sys.modules)
with wl.use_backend("numpy"):  # for this block only; blocks nest
    print("  in use_backend('numpy'):", wl.get_backend())
    with wl.use_backend("torch"):
        print("    in a nested use_backend('torch'):", wl.get_backend())
    print("  after the inner block:", wl.get_backend())
print("after the outer block:", wl.get_backend())
wl.set_backend("numpy")
print("after set_backend('numpy'):", wl.get_backend())

# %% [markdown]
# Now that torch is loaded anyway we import it ourselves, on one thread too.
# Operations follow their inputs: the DWT of a NumPy array is NumPy, the DWT
# of a torch tensor is torch, while the active backend stays `numpy`.
# `wl.asarray(x, backend=...)` and `wl.to_numpy(x)` move data explicitly.

# %%
import torch

torch.set_num_threads(1)

signal = np.sin(np.arange(32) / 3)
signal_t = wl.asarray(signal, backend="torch")  # a copy on the torch backend
coeffs = {}
for x in (signal, signal_t):
    cA, cD = wl.dwt(x, "db2", "periodization")
    coeffs[type(x).__module__] = cA
    print(f"dwt of {type(x).__module__}.{type(x).__name__:8s} -> "
          f"{type(cA).__module__}.{type(cA).__name__} of shape {tuple(cA.shape)}, dtype {cA.dtype}")
print(f"max |cA(numpy) - cA(torch)| = {np.abs(coeffs['numpy'] - wl.to_numpy(coeffs['torch'])).max():.1e}")

# %% [markdown]
# Layers create their parameters on the active backend. Initial values are
# always drawn with a seeded NumPy generator and then moved, so the same seed
# gives bit-identical parameters on every backend:

# %%
layer_np = Linear(4, 3, rng=0)
with wl.use_backend("torch"):
    layer_t = Linear(4, 3, rng=0)
print("numpy layer weight:", type(layer_np.weight.data).__name__,
      "| torch layer weight:", type(layer_t.weight.data).__name__, layer_t.weight.data.device)
print("identical values:", np.array_equal(layer_np.weight.data, wl.to_numpy(layer_t.weight.data)))

# %% [markdown]
# Data never moves between libraries behind your back (a silent copy from GPU
# to host on every call would be a slow surprise). Handing a layer on one
# backend an array from another, or mixing two libraries in one call, is an
# error:

# %%
x_np = np.ones((2, 4))
for label, call in [("torch layer, numpy input", lambda: layer_t(x_np)),
                    ("waverec of numpy and torch bands",
                     lambda: wl.waverec([coeffs["numpy"], wl.dwt(signal_t, "db2", "periodization")[1]],
                                        "db2", "periodization"))]:
    try:
        call()
    except TypeError as e:
        print(f"{label}: TypeError: {e}")
print("after moving the input:", type(layer_t(wl.asarray(x_np, dtype="float32", backend="torch"))))

# %% [markdown]
# ## 2. The same code on each backend
#
# Here is one function that builds a small `WaveletTransformer` (taking
# `inputs_embeds`, float64, dropout on), runs its forward pass, the loss, and
# the hand-written backward pass. It never names a library: the model is
# built inside `use_backend(spec)`, the batch is moved there with
# `wl.asarray`, and everything after follows the arrays.

# %%
CONFIG = dict(vocab_size=None, hidden_dim=32, num_layers=2, num_classes=3,
              max_sequence_length=64, levels=3, dropout=0.1, dtype="float64", seed=0)
rng = np.random.default_rng(0)
batch_x = rng.standard_normal((8, 64, 32))  # (B, N, D) on the host
batch_y = rng.integers(0, 3, size=8)


def forward_backward(spec, config=CONFIG):
    with wl.use_backend(spec):
        model = wl.WaveletTransformer(**config)
        x, y = wl.asarray(batch_x), wl.asarray(batch_y)
    criterion = CrossEntropyLoss()
    logits = model(inputs_embeds=x)
    loss = criterion(logits, y)
    dx = model.backward(criterion.backward())
    return {"model": model, "logits": wl.to_numpy(logits), "loss": loss, "dx": wl.to_numpy(dx),
            "grads": {name: wl.to_numpy(p.grad) for name, p in model.named_parameters()}}


runs = {spec: forward_backward(spec) for spec in ("numpy", "torch")}
a, b = runs["numpy"], runs["torch"]
print("parameters:", type(a["model"].head.weight.data).__name__, "vs",
      type(b["model"].head.weight.data).__name__, "|",
      "initial values identical:", all(np.array_equal(p.data, wl.to_numpy(q.data)) for p, q in
                                       zip(a["model"].parameters(), b["model"].parameters(),
                                           strict=True)))
print(f"loss: numpy {a['loss']:.12f}, torch {b['loss']:.12f}")
for key, label in [("logits", "logits"), ("dx", "d inputs_embeds")]:
    print(f"max |{label} difference| = {np.abs(a[key] - b[key]).max():.1e} "
          f"(largest entry {np.abs(a[key]).max():.1e})")
grad_diff = {name: np.abs(g - b["grads"][name]).max() for name, g in a["grads"].items()}
worst = max(grad_diff, key=grad_diff.get)
print(f"max |gradient difference| over {len(grad_diff)} parameters = {grad_diff[worst]:.1e} "
      f"({worst}); largest gradient entry {max(np.abs(g).max() for g in a['grads'].values()):.2f}")

# %% [markdown]
# The two runs agree to rounding: same initial values, same dropout masks (each
# `Dropout` draws its mask with its own seeded NumPy generator and moves it
# to the input's backend), the same formulas evaluated by two libraries whose
# kernels round differently. In float32 (the default dtype) the differences
# are at float32's rounding level instead:

# %%
r32 = {spec: forward_backward(spec, {**CONFIG, "dtype": "float32"}) for spec in ("numpy", "torch")}
print(f"float32: max |logits difference| = "
      f"{np.abs(r32['numpy']['logits'] - r32['torch']['logits']).max():.1e}, "
      f"max |gradient difference| = "
      f"{max(np.abs(g - r32['torch']['grads'][k]).max() for k, g in r32['numpy']['grads'].items()):.1e}"
      f" (float32 epsilon {np.finfo(np.float32).eps:.1e})")

# %% [markdown]
# ### A wavelearn model as a `torch.nn.Module`
#
# On the torch backend, `wavelearn.torch.TorchModel` wraps a model as a
# `torch.nn.Module`. Its parameters are `torch.nn.Parameter`s that *share
# storage* with the wavelearn parameters, and its forward pass is one
# `torch.autograd.Function` whose backward calls wavelearn's hand-written
# backward. So torch optimisers, gradient clipping and
# `DistributedDataParallel` work on it, it combines with ordinary torch
# layers (autograd flows through them into the wavelearn model and back out),
# and the gradients are exactly those computed above.

# %%
from wavelearn.torch import TorchModel

with wl.use_backend("torch"):
    net = TorchModel(wl.WaveletTransformer(**CONFIG))  # same config, same seed
print("a torch.nn.Module:", isinstance(net, torch.nn.Module), "|",
      f"{sum(p.numel() for p in net.parameters()):,} parameters, e.g.",
      [name for name, _ in net.named_parameters()][:3])
xt = torch.as_tensor(batch_x, dtype=torch.float64).requires_grad_(True)
loss = torch.nn.functional.cross_entropy(net(inputs_embeds=xt), torch.as_tensor(batch_y))
loss.backward()  # torch autograd -> wavelearn's backward
diff = max(np.abs(getattr(net, name.replace(".", "__")).grad.numpy() - g).max()
           for name, g in a["grads"].items())
print(f"loss {loss.item():.12f}; max |torch .grad - numpy backend gradient| = {diff:.1e}; "
      f"max |input gradient difference| = {np.abs(xt.grad.numpy() - a['dx']).max():.1e}")

# %% [markdown]
# A training loop is then plain PyTorch. The toy task: tell apart three
# frequencies of a noisy sine wave, fed in as patches of 8 samples through a
# `torch.nn.Linear` projection that torch differentiates itself, followed by
# the wrapped wavelearn model (float32 this time). After each `opt.step()` the
# wavelearn model sees the new values, since the storage is shared.

# %%
class Classifier(torch.nn.Module):
    def __init__(self, patch, model):
        super().__init__()
        self.proj = torch.nn.Linear(patch, model.hidden_dim)
        self.body = TorchModel(model)

    def forward(self, x):  # x (B, L, patch)
        return self.body(inputs_embeds=self.proj(x))


def toy_batch(rng, size, length=256, patch=8):
    label = rng.integers(0, 3, size=size)
    t = np.arange(length)
    freq = np.array([0.02, 0.05, 0.11])[label][:, None]
    x = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi, (size, 1)))
    x += 0.5 * rng.standard_normal(x.shape)
    return (torch.as_tensor(x.reshape(size, length // patch, patch), dtype=torch.float32),
            torch.as_tensor(label))


torch.manual_seed(0)
with wl.use_backend("torch"):
    clf = Classifier(8, wl.WaveletTransformer(**{**CONFIG, "dtype": "float32"}))
opt = torch.optim.AdamW(clf.parameters(), lr=3e-3)
data_rng = np.random.default_rng(1)
head_before = clf.body.model.head.weight.data.clone()
steps = 15 if QUICK else 60
losses = []
for step in range(steps):
    x, y = toy_batch(data_rng, 32)
    loss = torch.nn.functional.cross_entropy(clf(x), y)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(clf.parameters(), 1.0)
    opt.step()
    losses.append(loss.item())
clf.eval()
with torch.no_grad():
    x, y = toy_batch(np.random.default_rng(2), 512)
    accuracy = (clf(x).argmax(1) == y).float().mean().item()
print(f"{steps} steps: loss {np.mean(losses[:3]):.3f} (mean of the first 3) -> "
      f"{np.mean(losses[-3:]):.3f} (mean of the last 3); held-out accuracy {accuracy:.3f} "
      f"(chance 0.333)")
print("the wavelearn head weight moved by",
      f"{(clf.body.model.head.weight.data - head_before).abs().max().item():.3f} (max |change|)")

# %% [markdown]
# ## 3. GPUs
#
# On a machine with an NVIDIA GPU and a CUDA build of CuPy or PyTorch (see
# "GPU set-up" in the README), the same code runs on `'cupy'` or
# `'torch:cuda'`. Selecting a backend whose package or device is missing
# raises `wl.BackendUnavailableError` at once, with the reason, so the
# check is a `try`:

# %%
gpu_specs = []
for spec in ("cupy", "torch:cuda"):
    try:
        load_backend(spec)
    except BackendUnavailableError as e:
        print(f"{spec}: not available, its cells below are skipped. Reason: {e}\n")
    else:
        gpu_specs.append(spec)
        print(f"{spec}: available")
print("GPU backends to measure:", gpu_specs or "none")

# %% [markdown]
# The timing function is the same for every backend: build a model there,
# move a random batch there, and time a whole training step (forward, loss,
# hand-written backward, wavelearn's `AdamW` update). GPU work is
# asynchronous, so on a GPU the clock stops only after the device has
# finished (`synchronize`). The best of a few repeats after a warm-up is kept.

# %%
def synchronize(spec):
    backend = load_backend(spec)
    if backend.name == "cupy":
        backend.cupy.cuda.Device(backend.index).synchronize()
    elif backend.name == "torch" and backend.device.startswith("cuda"):
        torch.cuda.synchronize(backend.device)


def step_time(spec, batch, length, hidden, repeats, layers=2):
    """Seconds of one training step of a float32 WaveletTransformer on backend ``spec``."""
    rng = np.random.default_rng(0)
    with wl.use_backend(spec):
        model = wl.WaveletTransformer(hidden_dim=hidden, num_layers=layers, num_classes=2,
                                      max_sequence_length=length)
        x = wl.asarray(rng.standard_normal((batch, length, hidden)), dtype="float32")
        y = wl.asarray(np.arange(batch) % 2)
    opt, criterion = AdamW(model.parameters(), lr=1e-3), CrossEntropyLoss()

    def step():
        for p in model.parameters():
            p.grad = None
        criterion(model(inputs_embeds=x), y)
        model.backward(criterion.backward())
        opt.step()
        synchronize(spec)

    step()  # warm-up (CUDA kernels compile and caches fill on the first call)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)

# %% [markdown]
# When a GPU is there, this cell compares it with NumPy on the CPU for a
# couple of sizes $(B, N, D)$; without one it says so and does nothing.

# %%
gpu_sizes = [(8, 256, 64)] if QUICK else [(16, 512, 128), (16, 2048, 256)]
if not gpu_specs:
    print("skipped: no GPU backend is available on this machine (see the reasons above), "
          "so there is nothing to compare with NumPy here.")
for batch, length, hidden in gpu_sizes if gpu_specs else []:
    base = step_time("numpy", batch, length, hidden, repeats=1 if QUICK else 2)
    line = f"(B, N, D) = ({batch}, {length}, {hidden}): numpy {1e3 * base:8.1f} ms"
    for spec in gpu_specs:
        t = step_time(spec, batch, length, hidden, repeats=3 if QUICK else 10)
        line += f" | {spec} {1e3 * t:7.2f} ms ({base / t:5.1f}x)"
    print(line)

# %% [markdown]
# **When does a GPU help?** A training step is a handful of matrix products
# (the feed-forward layers, $O(B N D H)$ with $H = 4D$ the hidden width, and
# the head) plus the wavelet mixing, whose DWT and inverse DWT touch every
# number a few times (a few filter taps per sample over a geometric series
# of levels): $O(B N D)$ work, limited by memory bandwidth rather than
# arithmetic. A GPU has far more arithmetic throughput and memory bandwidth
# than a CPU core, but every operation pays a fixed cost to launch its kernel,
# and a step of this model launches hundreds of kernels. So:
#
# * with a small $B \cdot N \cdot D$ (like the toy models here) the launches
#   dominate and the GPU is no faster than a CPU, or slower;
# * with a large batch, long sequences and a wide model, the matrix products
#   dominate the step and run at GPU speed, and the mixing, being
#   bandwidth-bound, gains roughly by the ratio of memory bandwidths. On CuPy
#   the pointwise mixing layer (periodization mode) runs as fused CUDA
#   kernels where the shapes allow: one launch for the forward pass, one for the backward plus a sum
#   of the per-example weight gradients (`benchmarks/gpu.py` measures them).
#
# **Your own GPU numbers.** The stored copy of this notebook was executed
# on a machine without a GPU, so the cell above printed "skipped". On a
# machine with one, install a CUDA build (README, "GPU set-up"), then run
# this notebook again: for each size the cell prints one line of the form
#
# ```
# (B, N, D) = (16, 512, 128): numpy  <t> ms | cupy <t> ms (<r>x) | torch:cuda <t> ms (<r>x)
# ```
#
# with the time of one training step on each backend and, in brackets, how
# many times faster than NumPy on one CPU thread it is. For a fuller
# comparison, `python benchmarks/backends.py --backends numpy,torch,torch:cuda,cupy`
# measures the tokens per second of a training step on each backend, for the
# default FordA model and for a larger one.
#
# ### NumPy or torch on the CPU?
#
# What we can measure here is the two CPU backends against each other, with
# the same `step_time`: one small model, a few sequence lengths, a fixed batch.

# %%
cpu_batch, cpu_hidden = (8, 32) if QUICK else (16, 64)
cpu_lengths = [64, 256, 1024] if QUICK else [128, 512, 2048]
cpu_repeats = 1 if QUICK else 3
cpu_times = {spec: [step_time(spec, cpu_batch, n, cpu_hidden, cpu_repeats) for n in cpu_lengths]
             for spec in ("numpy", "torch")}
print(f"B = {cpu_batch}, D = {cpu_hidden}, 2 blocks, float32, one thread, "
      f"best of {cpu_repeats}; ms per training step:")
print(f"{'N':>6s} {'numpy':>9s} {'torch':>9s} {'torch/numpy':>12s}")
for i, n in enumerate(cpu_lengths):
    t_np, t_t = cpu_times["numpy"][i], cpu_times["torch"][i]
    print(f"{n:6d} {1e3 * t_np:9.1f} {1e3 * t_t:9.1f} {t_t / t_np:12.2f}")
ratios = np.array(cpu_times["torch"]) / np.array(cpu_times["numpy"])
print(f"torch takes {ratios.min():.2f}x to {ratios.max():.2f}x the time of numpy per step here")

fig, ax = plt.subplots(figsize=(5, 3))
for spec, marker in [("numpy", "o-"), ("torch", "s-")]:
    ax.plot(cpu_lengths, 1e3 * np.array(cpu_times[spec]), marker, label=spec)
ax.set(xscale="log", yscale="log", xlabel="sequence length N", ylabel="ms per training step",
       title=f"CPU backends, B={cpu_batch}, D={cpu_hidden}")
ax.set_xticks(cpu_lengths, [str(n) for n in cpu_lengths])
ax.xaxis.set_minor_locator(plt.NullLocator())
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Both backends execute the same sequence of array operations (the model code
# is the same), so the differences come only from each library's kernels and
# its fixed cost per call, which weighs more when the arrays are small. The
# printed ratio is what this machine measured, one thread each. The reasons
# to pick the torch backend on a CPU are elsewhere: `TorchModel` and the
# torch ecosystem, and training on several processes.

# %% [markdown]
# ## 4. Scaling out: data parallelism with the torch backend
#
# One process trains on one batch at a time. *Data parallelism* runs $W$
# copies of the model (one per CPU core or per GPU, possibly on several
# machines) and splits every batch between them:
#
# 1. every process starts from the same parameters (same seed; rank 0's
#    values are also broadcast to the others) and draws the same global batch
#    of $B$ examples, of which rank $r$ keeps rows $r, r + W, r + 2W, \dots$:
#    a shard of $B / W$ examples;
# 2. each process computes the mean loss $L_r$ of its shard and its gradient,
#    with wavelearn's hand-written backward;
# 3. one `torch.distributed.all_reduce` sums the gradients over the processes,
#    and each divides by $W$;
# 4. every process applies the same AdamW update to the same parameters, so
#    the copies stay identical.
#
# Because the shards have equal sizes, the averaged gradient *is* the
# full-batch gradient:
#
# $$
# \frac1W \sum_{r=1}^{W} \nabla L_r
# = \frac1W \sum_{r} \frac{W}{B} \sum_{i \in \text{shard}_r} \nabla \ell_i
# = \frac1B \sum_{i=1}^{B} \nabla \ell_i .
# $$
#
# Nothing in the model couples two examples (LayerNorm normalises each token,
# the mixing runs along each sequence, pooling is per example), so each
# $\nabla \ell_i$ is the same wherever it is computed. We can check the
# identity without any processes: split the float64 batch of section 2 in two
# shards the same way, run forward and backward on each, and average. Dropout
# is switched off (`eval()`) for this check: in a real run each process draws
# its own dropout masks, which changes the noise but not the expected update.

# %%
def shard_gradients(model, x, y):
    criterion = CrossEntropyLoss()
    model.zero_grad()
    criterion(model(inputs_embeds=x), y)
    model.backward(criterion.backward())
    return [p.grad.copy() for p in model.parameters()]


model = wl.WaveletTransformer(**CONFIG).eval()
full = shard_gradients(model, batch_x, batch_y)
W = 2
shards = [shard_gradients(model, batch_x[r::W], batch_y[r::W]) for r in range(W)]
averaged = [sum(gs) / W for gs in zip(*shards, strict=True)]
print(f"B = {len(batch_y)} examples in {W} shards of {len(batch_y) // W}: max |average of the shard "
      f"gradients - full-batch gradient| = "
      f"{max(np.abs(g - h).max() for g, h in zip(averaged, full, strict=True)):.1e}")

# %% [markdown]
# ### `wavelearn train --nproc`
#
# The command line does all of this with `--nproc N`. It needs the torch
# backend, whose arrays `torch.distributed` can send: `--backend torch` runs
# $N$ CPU processes that talk through **gloo**; `--backend torch:cuda` runs
# one process per GPU (process $i$ on `cuda:i`) that talk through **nccl**.
# `--batch-size` stays the global batch and must split evenly over the
# processes. `--nproc N` starts the processes with
# `torchrun --standalone --nproc-per-node N -m wavelearn train ...`; only rank
# 0 prints, computes the baselines and writes the checkpoint (the same format
# as a single-process run), evaluation is split between the ranks too, and
# the run ends by checking that all copies hold the same parameters.
#
# ```bash
# wavelearn train --task forda --backend torch --nproc 2 --batch-size 32       # 2 CPU processes
# wavelearn train --task forda --backend torch:cuda --nproc 4 --batch-size 256 # 4 GPUs, one machine
# ```
#
# On several machines, start `torchrun` yourself, the same command on every
# machine (without `--nproc`: `--nproc-per-node` says how many processes each
# machine runs), pointing at one rendezvous address:
#
# ```bash
# torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d \
#     --rdzv-endpoint node0.example:29500 --rdzv-id forda-run \
#     -m wavelearn train --task forda --backend torch:cuda --batch-size 512 --out runs/forda
# ```
#
# Here that is 16 processes with 32 examples each per step. The checkpoint
# is written by rank 0, on its machine's `--out` (a shared file system keeps
# it in one place).
#
# The next cell runs the command line twice on the same small FordA problem
# (3 steps, float32): once in one process, once with `--nproc 2`, each into a
# temporary folder, then reads both checkpoints with
# `wavelearn.training.checkpoints.read_checkpoint` and compares the trained parameters.
# A small config file sets dropout to 0, so that both runs see exactly the
# same computation and differ only in the order of floating-point sums (a
# single-process run draws dropout masks for the whole batch, each rank of a
# parallel run for its own shard).

# %%
from wavelearn.training.checkpoints import read_checkpoint

help_text = subprocess.run([sys.executable, "-m", "wavelearn", "train", "--help"],
                           capture_output=True, text=True, check=True).stdout
if "--nproc" not in help_text:
    print("skipped: this version of `wavelearn train` has no --nproc option")
else:
    with tempfile.TemporaryDirectory(prefix="wavelearn-dp-") as tmp:
        tmp = Path(tmp)
        (tmp / "no_dropout.json").write_text('{"model": {"dropout": 0.0}}')
        common = ["--task", "forda", "--backend", "torch", "--steps", "3", "--limit-train", "64",
                  "--limit-test", "32", "--batch-size", "16", "--hidden-dim", "32",
                  "--num-layers", "1", "--no-progress", "--config", str(tmp / "no_dropout.json")]
        checkpoints = {}
        for label, extra in [("one", []), ("two", ["--nproc", "2"])]:
            title = {"one": "1 process", "two": "2 processes"}[label]
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "wavelearn", "train", *common, *extra,
                                     "--out", str(tmp / label)], capture_output=True, text=True)
            if result.returncode != 0:
                print(result.stdout[-3000:], result.stderr[-3000:])
                raise RuntimeError(f"wavelearn train ({label}) failed with {result.returncode}")
            print(f"--- {title}, {time.perf_counter() - start:.1f} s for the whole command:")
            print("\n".join(line.replace(str(tmp), "<tmp>") for line in result.stdout.splitlines()
                            if line.startswith(("starting", "data-parallel", "epoch"))))
            checkpoints[label] = read_checkpoint(tmp / label / "checkpoint.npz")
    (one, meta_one), (two, meta_two) = checkpoints["one"], checkpoints["two"]
    names = [k for k in one if k.startswith(("model.", "proj."))]
    worst = max(np.abs(one[k] - two[k]).max() for k in names)
    print(f"\n{len(names)} parameter arrays, {sum(one[k].size for k in names):,} numbers: "
          f"max |one process - two processes| = {worst:.1e} "
          f"(float32 epsilon {np.finfo(np.float32).eps:.1e}); largest |parameter| "
          f"{max(np.abs(one[k]).max() for k in names):.2f}")
    print(f"final test loss: one process {meta_one['final']['loss']:.6f}, "
          f"two processes {meta_two['final']['loss']:.6f}")
    assert worst < 1e-5, "the data-parallel run should match the single-process run to rounding"

# %% [markdown]
# The two runs end with the same parameters up to float32 rounding: the
# parallel run sums each gradient in two halves and adds them, the single
# run in one go, which rounds differently in the last bits. On such a tiny
# problem the parallel run is not faster (starting the processes and the
# rendezvous dominate the printed times); it pays off when one step of the
# global batch takes long enough to hide the all-reduce of the gradients.
#
# ## Summary
#
# * The active backend (`set_backend`, `use_backend`, `WAVELEARN_BACKEND`)
#   only decides where *new* arrays are created; every operation runs on the
#   library of its inputs, and mixing libraries is a `TypeError`.
# * The same model code gives the same parameters, logits and gradients on
#   NumPy and torch, to rounding. `TorchModel` makes a torch-backend model a
#   `torch.nn.Module` trained with torch optimisers, still through the
#   hand-written backward.
# * GPU backends (`cupy`, `torch:cuda`) are checked with
#   `BackendUnavailableError`; they pay off for large batches, long sequences
#   and wide models, where matrix products dominate a step.
# * `wavelearn train --backend torch --nproc N` (or `torchrun ... -m wavelearn
#   train` across machines) trains data-parallel; with equal shards and
#   averaged gradients each step is the full-batch step.

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
# **1. A process's shard.** With `world` processes, which examples of a
# global batch does process `rank` take in wavelearn's data parallelism
# (section 4)?

# %%
def shard(batch, rank, world):
    raise NotImplementedError  # your code here


check("08.1", shard)

# %% [markdown]
# **2. Data-parallel gradients.** `grad_fn(X, y)` returns the *mean*
# gradient over the examples it is given. Split `(X, y)` into `world` shards
# as above, compute each shard's gradient, and combine them as the
# `all_reduce` + divide of section 4 does. The result must equal
# `grad_fn(X, y)` for the whole batch.

# %%
def data_parallel_gradient(grad_fn, X, y, world):
    raise NotImplementedError  # your code here


check("08.2", data_parallel_gradient)
