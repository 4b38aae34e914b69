"""Benchmark: wavelearn steps against their GEMM floor, and the torch CPU backend.

The *GEMM floor* of a step is the time of the same matrix products done as
plain 2-D ``numpy.matmul`` calls on arrays of the same shapes and dtype, in
the same process: for every ``Linear`` with ``M`` rows, the forward product
``(M, in) @ (in, out)`` and, for a training step, the two backward ones
``(out, M) @ (M, in)`` and ``(M, out) @ (out, in)``. The shapes are read off
the model after a warm-up step, so the floor counts exactly the products the
step does. A ratio step / floor of 1 would mean everything else (wavelet
mixing, LayerNorm, GELU, dropout, the optimizer, Python) is free.

Cases (float32, training mode, the issue's targets in brackets):

* ``model``   WaveletTransformer(vocab 1000, D 256, 4 layers, db4 x3), batch 8 x 256,
  forward + loss + backward [<= 1.5x];
* ``default`` the model of ``wavelearn train`` without arguments (FordA: batch
  32 x 100 patches through Linear(5, 64), D 64, 2 layers), one Trainer step
  with clipping and AdamW [<= 2x], on one thread -- step, floor and torch --
  as ``wavelearn train`` runs it (its ``--threads`` defaults to 1);
* ``seed``    the spectrans example, WaveletTransformer(vocab 30000, D 768, 12
  layers, db4 x3, 10 classes) forward on batch 32 x 512 [<= 1.3x];
  ``--quick`` runs 2 of the 12 layers, and smaller shapes for all cases.

The last column counts page faults per step (mean over the rounds): memory the
kernel had to map (and zero) for fresh arrays (on Linux NumPy asks for huge pages for
big arrays, ``madvise``; torch's tensors take 4 KiB pages).

For ``model`` and ``default`` the same step also runs on the torch backend
(CPU), and the table prints numpy / torch, and the torch backend's own floor:
the same products on torch tensors through its ``matmul`` (the one ``Linear``
calls; oneDNN's, with which the products took 1.7-1.9x less time than with
NumPy's OpenBLAS or torch's MKL on an AMD CPU). Each function is run once to warm
up, then the functions of a case take turns ``--repeat`` times and the table
shows the minimum (wall clock and process CPU time). Nothing is asserted.

How many rounds: 15 for ``model`` and ``default``, 5 for ``seed`` (each of its rounds
takes about 20 s) unless ``--repeat`` says. On the shared development machine a step
after a pause took anywhere from its best time to 1.5 times it (the ``default`` step,
30 rounds: torch 21.2-37.7 ms, NumPy 25.5-36.5, process CPU time alike, so it is the
machine, not waiting); the minimum of 5 rounds then put the torch step on either side
of the NumPy one from run to run (numpy / torch 0.88-1.43 in ten runs), that of 15
moved less (1.15-1.18 in two).

Before each timed call the script sleeps ``--pause`` seconds (default 0.3).
Thread pools keep spinning after their work, waiting for more: OpenBLAS's
(NumPy's) by default up to 2^28 cycles, about 0.1 s; torch's OpenMP threads too. Without the
pause those spinning threads take the cores from whichever function runs
next, and on a 2-core machine that doubled the torch step's time (measured
on a shared 2-core machine, default case: the torch step took 33-41 ms in a
process of its own, 71-98 ms when timed right after the NumPy step, 48 ms
after a 0.2 s pause): the numpy / torch ratio was mostly that effect.
``--pause 0`` brings it back. On one thread (the environment variables below)
nothing spins, and the pause changes nothing.

The same spinning slows wavelearn's own threads *inside* a step: right after
each matrix product OpenBLAS's worker keeps the second core busy while the
elementwise blocks (GELU, LayerNorm, dropout) want it. ``OPENBLAS_THREAD_TIMEOUT=4``
(2^4 cycles instead of 2^28), set before Python starts, makes the workers sleep
at once; OpenBLAS reads it only when it loads, so a script cannot set it for
itself after ``import numpy``.

Run::

    python benchmarks/gemm_floor.py            # all cases (the seed case takes minutes)
    python benchmarks/gemm_floor.py --quick    # smoke run (seconds)
    python benchmarks/gemm_floor.py --cases model,default --repeat 30
    python benchmarks/gemm_floor.py --cases seed --keep-freed-memory   # see below
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 WAVELEARN_NUM_THREADS=1 \
        python benchmarks/gemm_floor.py       # one thread everywhere: steadier on a busy machine
    OPENBLAS_THREAD_TIMEOUT=4 python benchmarks/gemm_floor.py   # BLAS threads sleep at once

``--keep-freed-memory`` calls :func:`wavelearn.keep_freed_memory` first. The seed
forward writes ~9 GB of caches into fresh arrays; with glibc's defaults each big
array is new memory that the kernel zeroes page by page on first touch (system
time, ``getrusage``), with the freed memory kept the next forward reuses it.
Step and floor run in the same process, so both get it.

On a machine whose cores other processes use, multi-threaded BLAS can stall
(a thread waits for one that is not running): compare the CPU-time ratio,
or run on one thread.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import training_step  # noqa: E402

import wavelearn  # noqa: E402
from wavelearn.backend import load_backend, use_backend  # noqa: E402
from wavelearn.models import WaveletTransformer  # noqa: E402
from wavelearn.nn import CrossEntropyLoss, Linear  # noqa: E402

CASES = ("model", "default", "seed")
TARGETS = {"model": 1.5, "default": 2.0, "seed": 1.3}
ROUNDS = {"model": 15, "default": 15, "seed": 5}  # without --repeat (module docstring)


# ---------------------------------------------------------------------------
# The GEMM floor
# ---------------------------------------------------------------------------


def gemm_shapes(modules: list, backward: bool) -> list[tuple[int, int, int]]:
    """``(m, k, n)`` of every product the ``Linear`` layers of ``modules`` did in the
    last step: ``(m, k) @ (k, n)``. Call after a step (the caches hold the inputs)."""
    shapes = []
    for root in modules:
        for layer in root.modules():
            if not isinstance(layer, Linear) or "x" not in layer.cache:
                continue
            rows = math.prod(layer.cache["x"].shape[:-1])
            i, o = layer.in_features, layer.out_features
            shapes.append((rows, i, o))  # x W^T
            if backward:
                shapes += [(o, rows, i), (rows, o, i)]  # dW = dy^T x, dx = dy W
    return shapes


def gemm_floor(shapes: list[tuple[int, int, int]], dtype: Any = np.float32) -> Callable[[], None]:
    """A function doing the products ``shapes`` as plain 2-D ``numpy.matmul`` calls."""
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype))
             for m, k, n in shapes]

    def run() -> None:
        for a, b in pairs:
            np.matmul(a, b)

    return run


def torch_floor(shapes: list[tuple[int, int, int]]) -> Callable[[], None]:
    """The same products on torch CPU tensors through the torch backend's ``matmul`` (the
    one ``Linear`` calls: oneDNN for float32, where torch has it)."""
    import torch

    backend = load_backend("torch")
    g = torch.Generator().manual_seed(0)
    pairs = [(torch.randn(m, k, generator=g), torch.randn(k, n, generator=g))
             for m, k, n in shapes]

    def run() -> None:
        for a, b in pairs:
            backend.matmul(a, b)

    return run


PAUSE = 0.3  # seconds of sleep before each timed call: the thread pools stop spinning


def best_times(funcs: dict[str, Callable[[], object]], repeat: int,
               pause: float = PAUSE) -> dict[str, tuple]:
    """``name -> (wall s, cpu s, page faults)``: minima over ``repeat`` interleaved rounds
    after a warm-up, each call after ``pause`` seconds of sleep (see the module docstring),
    and the mean number of page faults per call (fresh memory the kernel had to map)."""
    for f in funcs.values():
        f()
    best = {name: [math.inf, math.inf, 0.0] for name in funcs}
    for _ in range(repeat):
        for name, f in funcs.items():
            time.sleep(pause)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            best[name][0] = min(best[name][0], time.perf_counter() - t0)
            best[name][1] = min(best[name][1], time.process_time() - c0)
            best[name][2] += (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / repeat
    return {k: tuple(v) for k, v in best.items()}


# ---------------------------------------------------------------------------
# The cases: a step function and the modules whose products it does
# ---------------------------------------------------------------------------


def model_case(backend: str, quick: bool) -> tuple[Callable[[], None], list]:
    """The benchmarks/model.py configuration: batch 8 x 256, forward + loss + backward."""
    batch, n = (2, 64) if quick else (8, 256)
    rng = np.random.default_rng(0)
    ids, labels = rng.integers(0, 1000, (batch, n)), rng.integers(0, 10, (batch,))
    with use_backend(backend):
        model = WaveletTransformer(vocab_size=1000, hidden_dim=256, num_layers=4, wavelet="db4",
                                   levels=3, num_classes=10, max_sequence_length=4096,
                                   dropout=0.0, seed=0).train()
        ids, labels = wavelearn.asarray(ids), wavelearn.asarray(labels)
    loss = CrossEntropyLoss()

    def step() -> None:
        training_step(model, ids, labels, loss)

    return step, [model]


def default_case(backend: str, quick: bool) -> tuple[Callable[[], None], list]:
    """One ``Trainer.train_step`` of the ``wavelearn train`` default (FordA-shaped data)."""
    from wavelearn.training.config import TrainConfig
    from wavelearn.training.tasks import TASK_DEFAULTS, TaskData
    from wavelearn.training.trainer import Trainer

    forda = TASK_DEFAULTS["forda"]
    batch, length, features = forda["training"]["batch_size"], 100, 5
    if quick:
        batch = 4
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4 * batch, length, features)).astype(np.float32)
    y = rng.integers(0, 2, size=4 * batch)
    data = TaskData(name="forda", kind="classification", input_type="signal", seq_len=length,
                    train_x=x, test_x=x[:batch], train_y=y, test_y=y[:batch], num_classes=2,
                    in_features=features)
    config = TrainConfig(task="forda", batch_size=batch, steps=10**6, lr=forda["training"]["lr"],
                         compute_baselines=False)
    trainer = Trainer(config, forda["model"], data, backend)
    batches = [trainer.next_batch() for _ in range(4)]
    state = {"i": 0}

    def step() -> None:
        state["i"] += 1
        trainer.train_step(batches[state["i"] % len(batches)])

    return step, [trainer.model, trainer.proj]


def seed_case(backend: str, quick: bool) -> tuple[Callable[[], None], list]:
    """The spectrans example's forward: batch 32 x 512, D 768, 12 layers (2 with --quick)."""
    batch, n, layers = (4, 128, 2) if quick else (32, 512, 12)
    ids = np.random.default_rng(0).integers(0, 30000, (batch, n))
    with use_backend(backend):
        model = WaveletTransformer(vocab_size=30000, hidden_dim=768, num_layers=layers,
                                   wavelet="db4", levels=3, max_sequence_length=512,
                                   num_classes=10, seed=0)
        ids = wavelearn.asarray(ids)

    def forward() -> None:
        model(ids)

    return forward, [model]


MAKERS = {"model": model_case, "default": default_case, "seed": seed_case}


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def threads_of_the_cli(name: str) -> Iterator[None]:
    """For the ``default`` case, one thread everywhere (BLAS, torch, wavelearn's own), as
    ``wavelearn train --threads 1`` (its default) sets; the other cases as they are."""
    if name != "default":
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = (os.environ.get("WAVELEARN_NUM_THREADS"), torch and torch.get_num_threads())
    os.environ["WAVELEARN_NUM_THREADS"] = "1"
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        if before[0] is None:
            del os.environ["WAVELEARN_NUM_THREADS"]
        else:
            os.environ["WAVELEARN_NUM_THREADS"] = before[0]
        if torch is not None:
            torch.set_num_threads(before[1])


def run_case(name: str, quick: bool, repeat: int, torch_too: bool,
             pause: float = PAUSE) -> dict[str, Any]:
    with threads_of_the_cli(name):
        return _run_case(name, quick, repeat, torch_too, pause)


def _run_case(name: str, quick: bool, repeat: int, torch_too: bool,
              pause: float) -> dict[str, Any]:
    step, modules = MAKERS[name]("numpy", quick)
    step()  # fills the caches: the shapes of the products
    floor = gemm_floor(gemm_shapes(modules, backward=name != "seed"))
    funcs = {"numpy": step, "floor": floor}
    if torch_too and name != "seed":
        funcs["torch"] = MAKERS[name]("torch", quick)[0]
        funcs["torch floor"] = torch_floor(gemm_shapes(modules, backward=True))
    return best_times(funcs, repeat, pause)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help="model, default, seed")
    parser.add_argument("--repeat", type=int, default=None,
                        help="rounds (default: 15 for model and default, 5 for seed; 2 quick)")
    parser.add_argument("--quick", action="store_true", help="small shapes, 2 seed layers")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch backend")
    parser.add_argument("--pause", type=float, default=PAUSE,
                        help=f"seconds of sleep before each timed call (default {PAUSE})")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="call wavelearn.keep_freed_memory() first: freed arrays stay in "
                             "the process (no page faults for the next step's)")
    args = parser.parse_args(argv)
    if args.keep_freed_memory:
        wavelearn.keep_freed_memory()
    cases = args.cases.split(",")
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"--cases: unknown {unknown}; choose from {list(CASES)}")
    rounds = {name: args.repeat or (2 if args.quick else ROUNDS[name]) for name in cases}
    torch_too = not args.no_torch
    if torch_too:
        try:
            import torch
        except ImportError:
            torch_too = False
            print("torch is not installed: no torch column")
        else:
            torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 0)) or
                                  min(2, os.cpu_count() or 1))
    threads = {k: os.environ.get(k, "unset") for k in
               ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "WAVELEARN_NUM_THREADS",
                "OPENBLAS_THREAD_TIMEOUT")}
    print(f"wavelearn {wavelearn.__version__}, numpy {np.__version__}, python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs; min of "
          + ", ".join(f"{n} rounds ({name})" for name, n in rounds.items()) + ", "
          f"{args.pause} s pause before each call"
          f"{' (quick shapes)' if args.quick else ''}"
          f"{'; freed memory kept' if args.keep_freed_memory else ''}; "
          + ", ".join(f"{k}={v}" for k, v in threads.items()))
    head = (f"{'case':<8} | {'step ms':>9} {'floor ms':>9} {'ratio':>6} {'goal':>5} | "
            f"{'cpu ratio':>9} | {'torch ms':>9} {'numpy/torch':>11} {'floor ms':>9} | "
            f"{'faults numpy/torch':>18}")
    print(head)
    print("-" * len(head))
    for name in cases:
        t = run_case(name, args.quick, rounds[name], torch_too, args.pause)
        (step, step_cpu, _), (floor, floor_cpu, _) = t["numpy"], t["floor"]
        torch_cols = (f"{1e3 * t['torch'][0]:9.1f} {t['numpy'][0] / t['torch'][0]:11.2f} "
                      f"{1e3 * t['torch floor'][0]:9.1f}"
                      if "torch" in t else f"{'-':>9} {'-':>11} {'-':>9}")
        faults = f"{t['numpy'][2]:.0f}/" + (f"{t['torch'][2]:.0f}" if "torch" in t else "-")
        print(f"{name:<8} | {1e3 * step:9.1f} {1e3 * floor:9.1f} {step / floor:6.2f} "
              f"{TARGETS[name]:5.1f} | {step_cpu / floor_cpu:9.2f} | {torch_cols} | {faults:>18}",
              flush=True)
    print("ratio: wall-clock step / floor; cpu ratio: the same in process CPU time (all "
          "threads); numpy/torch > 1: the torch backend is faster; the torch floor: the "
          "same products through the torch backend's matmul (oneDNN for float32); faults: "
          "page faults per step (mean)")


if __name__ == "__main__":
    main()
