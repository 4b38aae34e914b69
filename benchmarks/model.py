"""Benchmark: a whole WaveletTransformer, wavelearn (NumPy) against a PyTorch autograd twin.

The model (the ``spectrans`` comparison configuration)::

    WaveletTransformer(vocab_size=1000, hidden_dim=256, num_layers=4, wavelet='db4',
                       levels=3, num_classes=10, max_sequence_length=4096)

at batch 8 and sequence lengths 256, 512, 1024, 4096 (dropout 0, training mode
for both; float32). The reference, ``benchmarks/torch_reference.py``, is the
same architecture in plain PyTorch (``nn.Linear``/``nn.LayerNorm``, the DWT as
a strided ``conv1d`` / ``conv_transpose1d``) trained by autograd, on 2 threads
(``torch.set_num_threads(2)``), loaded with wavelearn's parameters; before any
timing the run checks that both forwards agree (1e-5 in float32, 1e-10 in
float64) and that both give the same gradients (float64), so the comparison
is apples to apples.

Printed, side by side in one run:

1. time of a forward, and of a training step (forward + cross-entropy +
   backward; gradients reset before each step, no optimizer), for both
   libraries, microseconds per token of the step, and the ratios
   wavelearn / torch. Each function is run once to warm up, then the four
   functions of a length take turns ``--repeat`` times (so that noise from
   other processes hits them alike); the table shows the minimum. A second
   table gives the minimum CPU time of the process (all threads), which other
   processes on a shared machine disturb less than the wall clock.
2. peak memory of one training step, with and without
   ``gradient_checkpointing=True``, each configuration in a fresh subprocess:
   for wavelearn the ``tracemalloc`` peak (NumPy reports its buffers to it:
   the step's activations, caches, temporaries and gradients), and for both
   libraries the growth of the resident set during the step (``VmHWM`` after
   resetting it through ``/proc/self/clear_refs``, minus ``VmRSS`` before;
   glibc is told to ``mmap`` large blocks so that freed memory really leaves).

Timings are only printed, never asserted. Run::

    python benchmarks/model.py                 # full run (a few minutes)
    python benchmarks/model.py --quick         # smoke run: length 256, 1 repeat
    python benchmarks/model.py --lengths 256 1024 --repeat 5
    python benchmarks/model.py --profile 1024  # cProfile of one wavelearn training step
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
from bench_common import reset_peak_rss, status_kib, training_step  # noqa: E402
from torch_reference import check_matches_wavelearn, from_wavelearn  # noqa: E402

import wavelearn  # noqa: E402
from wavelearn.models import WaveletTransformer  # noqa: E402
from wavelearn.nn import CrossEntropyLoss  # noqa: E402

CONFIG = dict(vocab_size=1000, hidden_dim=256, num_layers=4, wavelet="db4", levels=3,
              num_classes=10, max_sequence_length=4096, dropout=0.0)
BATCH = 8
LENGTHS = [256, 512, 1024, 4096]
TORCH_THREADS = 2
SPECTRANS_256 = (0.76, 2.46)  # spectrans 0.1.0, batch 8, length 256: forward, fwd+bwd (s)


# ---------------------------------------------------------------------------
# Models, data, and the timed functions
# ---------------------------------------------------------------------------


def make_wavelearn(checkpointing: bool = False, dtype: str | None = None) -> WaveletTransformer:
    model = WaveletTransformer(**CONFIG, gradient_checkpointing=checkpointing, dtype=dtype,
                               seed=0)
    return model.train()


def make_batch(n: int, batch: int = BATCH, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, CONFIG["vocab_size"], (batch, n))  # (B, N) int64
    labels = rng.integers(0, CONFIG["num_classes"], (batch,))  # (B,)
    return ids, labels


def torch_step(ref: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor) -> None:
    ref.zero_grad(set_to_none=True)
    F.cross_entropy(ref(ids), labels).backward()


def timed_functions(n: int) -> dict[str, Callable[[], object]]:
    model = make_wavelearn()
    ref = from_wavelearn(model).train()
    ids, labels = make_batch(n)
    tids, tlabels = torch.as_tensor(ids), torch.as_tensor(labels)
    loss = CrossEntropyLoss()
    return {
        "wl_fwd": lambda: model(ids),
        "wl_step": lambda: training_step(model, ids, labels, loss),
        "torch_fwd": lambda: ref(tids),  # autograd on: records the graph, as a training forward
        "torch_step": lambda: torch_step(ref, tids, tlabels),
    }


def best_times(funcs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Seconds per call, the minimum over ``repeat`` interleaved rounds (after a warm-up):
    wall-clock under each name, CPU time of the process (all threads) under ``cpu:name``."""
    for f in funcs.values():
        f()
    best = {k: float("inf") for name in funcs for k in (name, f"cpu:{name}")}
    for _ in range(repeat):
        for name, f in funcs.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            best[name] = min(best[name], time.perf_counter() - t0)
            best[f"cpu:{name}"] = min(best[f"cpu:{name}"], time.process_time() - c0)
    return best


# ---------------------------------------------------------------------------
# Equivalence check (run once, before timing)
# ---------------------------------------------------------------------------


def check_equivalence(n: int) -> str:
    """Forward agreement in float32 and float64, gradient agreement in float64."""
    ids, labels = make_batch(n, batch=2)
    model = make_wavelearn()
    rng = np.random.default_rng(1)
    for block in model.blocks:  # non-identity mixing weights, so the mixers matter
        w = block.mixing.weight
        w.data = (w.data + 0.3 * rng.standard_normal(w.shape)).astype(w.dtype)
    err32 = check_matches_wavelearn(model, from_wavelearn(model), ids)
    m64 = make_wavelearn(dtype="float64")
    for b64, b32 in zip(m64.blocks, model.blocks, strict=True):
        b64.mixing.weight.data = b32.mixing.weight.data.astype(np.float64)
    r64 = from_wavelearn(m64).train()
    err64 = check_matches_wavelearn(m64, r64, ids)
    training_step(m64, ids, labels, CrossEntropyLoss())
    torch_step(r64, torch.as_tensor(ids), torch.as_tensor(labels))
    theirs = dict(r64.named_parameters())
    gerr = 0.0
    for name, p in m64.named_parameters():
        t = theirs[name].grad.numpy()
        gerr = max(gerr, float(np.max(np.abs(p.grad - t))) / max(float(np.max(np.abs(t))), 1e-30))
    assert gerr < 1e-10, f"gradients differ: {gerr:.3g}"
    return (f"torch reference == wavelearn (N={n}): forward float32 {err32:.1e} (tol 1e-5), "
            f"float64 {err64:.1e} (tol 1e-10); gradients float64 {gerr:.1e} (tol 1e-10)")


# ---------------------------------------------------------------------------
# Memory: one configuration per subprocess
# ---------------------------------------------------------------------------


def memory_worker(library: str, n: int, checkpointing: bool) -> dict[str, float]:
    """Peak memory (MiB) of the second training step of one configuration."""
    model = make_wavelearn(checkpointing)
    ids, labels = make_batch(n)
    if library == "wavelearn":
        loss = CrossEntropyLoss()

        def step() -> None:
            training_step(model, ids, labels, loss)
    else:
        torch.set_num_threads(TORCH_THREADS)
        ref = from_wavelearn(model).train()
        del model
        tids, tlabels = torch.as_tensor(ids), torch.as_tensor(labels)

        def step() -> None:
            torch_step(ref, tids, tlabels)

    step()  # warm-up: lazy imports, filter caches, first-touch of gradients
    if library == "wavelearn":  # drop what the warm-up left behind: caches, gradients
        for m in model.modules():
            m.cache = {}
        loss.cache = {}
        for p in model.parameters():
            p.grad = None
    else:
        ref.zero_grad(set_to_none=True)
    gc.collect()
    out: dict[str, float] = {}
    can_reset = reset_peak_rss()
    rss0 = status_kib("VmRSS")
    if library == "wavelearn":
        tracemalloc.start()
    step()
    if library == "wavelearn":
        out["tracemalloc_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if can_reset:
        out["rss_mib"] = (status_kib("VmHWM") - rss0) / 2**10
    return out


def measure_memory(library: str, n: int, checkpointing: bool) -> dict[str, float]:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072",
               OMP_NUM_THREADS=str(TORCH_THREADS))
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-worker", library, str(n),
           str(int(checkpointing))]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _ms(s: float) -> str:
    return f"{1e3 * s:9.1f}"


def print_timing(rows: list[tuple[int, dict[str, float]]]) -> None:
    print(f"\nTime (ms, min over repeats), batch {BATCH}; step = forward + loss + backward")
    head = (f"{'N':>5} | {'wl fwd':>9} {'torch fwd':>9} {'ratio':>6} | {'wl step':>9} "
            f"{'torch step':>10} {'ratio':>6} | {'wl us/tok':>9} {'torch us/tok':>12}")
    print(head)
    print("-" * len(head))
    for n, t in rows:
        tokens = BATCH * n
        print(f"{n:>5} | {_ms(t['wl_fwd'])} {_ms(t['torch_fwd'])} "
              f"{t['wl_fwd'] / t['torch_fwd']:6.2f} | {_ms(t['wl_step'])} "
              f"{_ms(t['torch_step']):>10} {t['wl_step'] / t['torch_step']:6.2f} | "
              f"{1e6 * t['wl_step'] / tokens:9.2f} {1e6 * t['torch_step'] / tokens:12.2f}")
    print("\nCPU time of the process (ms, all threads; less sensitive to other processes "
          "on a shared machine)")
    head = (f"{'N':>5} | {'wl fwd':>9} {'torch fwd':>9} {'ratio':>6} | {'wl step':>9} "
            f"{'torch step':>10} {'ratio':>6}")
    print(head)
    print("-" * len(head))
    for n, t in rows:
        c = {k[4:]: v for k, v in t.items() if k.startswith("cpu:")}
        print(f"{n:>5} | {_ms(c['wl_fwd'])} {_ms(c['torch_fwd'])} "
              f"{c['wl_fwd'] / c['torch_fwd']:6.2f} | {_ms(c['wl_step'])} "
              f"{_ms(c['torch_step']):>10} {c['wl_step'] / c['torch_step']:6.2f}")
    by_n = dict(rows)
    if 256 in by_n:
        fwd, step = SPECTRANS_256
        t = by_n[256]
        print(f"\nN=256 against spectrans 0.1.0 ({fwd:.2f} s forward, {step:.2f} s fwd+bwd): "
              f"wavelearn is {fwd / t['wl_fwd']:.1f}x / {step / t['wl_step']:.1f}x faster "
              f"(goal: step <= {step / 5:.2f} s, i.e. >= 5x)")
    if 256 in by_n and len(by_n) > 1:
        longest = max(by_n)
        for lib in ("wl", "torch"):
            growth = (by_n[longest][f"{lib}_step"] / longest) / (by_n[256][f"{lib}_step"] / 256)
            print(f"{'wavelearn' if lib == 'wl' else 'torch':>9}: step time per token at "
                  f"N={longest} / at N=256 = {growth:.2f} (goal for wavelearn: <= 1.3)")


def print_memory(lengths: list[int]) -> None:
    print(f"\nPeak memory of one training step (MiB), batch {BATCH}, fresh process per cell; "
          "ckpt = gradient_checkpointing=True")
    head = (f"{'N':>5} | {'wl tracemalloc':>14} {'ckpt':>8} | {'wl RSS':>8} {'ckpt':>8} | "
            f"{'torch RSS':>9} {'ckpt':>8}")
    print(head)
    print("-" * len(head))
    for n in lengths:
        wl = [measure_memory("wavelearn", n, c) for c in (False, True)]
        th = [measure_memory("torch", n, c) for c in (False, True)]

        def cell(d: dict, key: str, width: int) -> str:
            return f"{d[key]:{width}.0f}" if key in d else f"{d.get('error', '-')[:width]:>{width}}"

        print(f"{n:>5} | {cell(wl[0], 'tracemalloc_mib', 14)} {cell(wl[1], 'tracemalloc_mib', 8)}"
              f" | {cell(wl[0], 'rss_mib', 8)} {cell(wl[1], 'rss_mib', 8)} | "
              f"{cell(th[0], 'rss_mib', 9)} {cell(th[1], 'rss_mib', 8)}")


def profile_step(n: int, top: int = 25) -> None:
    """cProfile of one wavelearn training step at length ``n`` (after a warm-up step)."""
    model = make_wavelearn()
    ids, labels = make_batch(n)
    loss = CrossEntropyLoss()
    training_step(model, ids, labels, loss)
    prof = cProfile.Profile()
    prof.enable()
    training_step(model, ids, labels, loss)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    total = max(stats.total_tt, 1e-12)
    print(f"\ncProfile of one wavelearn training step, batch {BATCH}, N={n}: {total:.2f} s")
    print("Per layer (cumulative time of its forward / backward methods):")
    for label, fn in _layer_methods():
        key = (fn.__code__.co_filename, fn.__code__.co_firstlineno, fn.__name__)
        cc, nc, tt, ct, _ = stats.stats.get(key, (0, 0, 0.0, 0.0, None))
        print(f"  {label:<28} {nc:4d} calls {ct:8.3f} s  {100 * ct / total:5.1f} %")
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    print(buf.getvalue())


def _layer_methods() -> list[tuple[str, Callable]]:
    from wavelearn.nn import GELU, Embedding, LayerNorm, Linear
    from wavelearn.nn.mixing import WaveletMixing

    out = []
    for cls in (Linear, GELU, LayerNorm, WaveletMixing, Embedding, CrossEntropyLoss):
        for method in ("forward", "backward"):
            out.append((f"{cls.__name__}.{method}", getattr(cls, method)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=256, 1 repeat")
    parser.add_argument("--lengths", type=int, nargs="+", default=LENGTHS)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory table")
    parser.add_argument("--profile", type=int, metavar="N",
                        help="only print a cProfile of one wavelearn training step at N")
    parser.add_argument("--memory-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(TORCH_THREADS)
    if args.memory_worker:
        lib, n, ckpt = args.memory_worker
        print(json.dumps(memory_worker(lib, int(n), bool(int(ckpt)))))
        return
    if args.profile:
        profile_step(args.profile)
        return
    lengths, repeat = (([256], 1) if args.quick else (args.lengths, args.repeat))
    print(f"wavelearn {wavelearn.__version__} (numpy {np.__version__}) vs torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads); python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"WaveletTransformer({', '.join(f'{k}={v!r}' for k, v in CONFIG.items())}), "
          f"batch {BATCH}, float32, train mode")
    print(check_equivalence(min(lengths)))
    rows = []
    for n in lengths:
        rows.append((n, best_times(timed_functions(n), repeat)))
        print(f"  N={n} done", file=sys.stderr, flush=True)
    print_timing(rows)
    if not args.no_memory:
        print_memory(lengths)


if __name__ == "__main__":
    main()
