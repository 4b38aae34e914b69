"""Benchmark: tokens per second of one training step on each backend, side by side.

The step is :meth:`wavelearn.training.trainer.Trainer.train_step` -- forward,
cross-entropy, the hand-written backward, gradient clipping and AdamW -- of

* ``default``: the model ``wavelearn train`` trains without arguments (FordA's
  defaults from ``TASK_DEFAULTS``: 100 steps of 5 samples through
  ``Linear(5, 64)``, 2 layers, db4 x3, pointwise mixing, batch 32), and
* ``large``: the same architecture at a size where a GPU has work to do
  (hidden 256, 4 layers, 1,024 steps of 5 samples, batch 64),

on random signals of those shapes (no dataset needed, so it runs on a bare
GPU machine), for every backend asked for: ``numpy``, ``torch`` (CPU),
``torch:cuda``, ``cupy``. Every backend trains the same model from the same
seed on the same batches; the losses of the first step are printed next to
each other as a check. A backend that cannot run prints why (no GPU, not
installed, an error) -- nothing falls back silently. The time per step is the
median over ``--repeat`` steps after two warm-up steps; ``float(loss)`` ends
each step, which waits for the GPU.

Run::

    python benchmarks/backends.py                                   # numpy, torch
    python benchmarks/backends.py --backends numpy,torch:cuda,cupy --out results/
    python benchmarks/backends.py --quick                           # smoke run

Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from wavelearn.training.config import TrainConfig
from wavelearn.training.tasks import TASK_DEFAULTS, TaskData
from wavelearn.training.trainer import Trainer

FORDA = TASK_DEFAULTS["forda"]
SIZES = {  # name -> (batch, steps of the sequence, samples per step, model overrides)
    "default": (FORDA["training"]["batch_size"], 100, 5, {}),
    "large": (64, 1024, 5, {"hidden_dim": 256, "num_layers": 4}),
    "quick": (4, 32, 5, {"hidden_dim": 16, "num_layers": 1}),
}


def synthetic_task(batch: int, length: int, features: int, batches: int = 4) -> TaskData:
    """A FordA-shaped two-class signal task of random numbers."""
    rng = np.random.default_rng(0)
    n = batch * batches
    x = rng.standard_normal((n, length, features)).astype(np.float32)  # (n, L, C)
    y = rng.integers(0, 2, size=n)
    return TaskData(name="forda", kind="classification", input_type="signal", seq_len=length,
                    train_x=x, test_x=x[:batch], train_y=y, test_y=y[:batch], num_classes=2,
                    in_features=features)


def time_backend(backend: str, size: str, repeat: int) -> dict[str, Any]:
    """Median seconds per training step and tokens per second of one backend."""
    batch, length, features, overrides = SIZES[size]
    config = TrainConfig(task="forda", batch_size=batch, steps=repeat + 2,
                         lr=FORDA["training"]["lr"], compute_baselines=False)
    trainer = Trainer(config, {**FORDA["model"], **overrides},
                      synthetic_task(batch, length, features), backend)
    losses, times = [], []
    for _ in range(repeat + 2):
        batch_arrays = trainer.next_batch()
        started = time.perf_counter()
        losses.append(trainer.train_step(batch_arrays))  # float(): waits for the device
        times.append(time.perf_counter() - started)
    step = statistics.median(times[2:])
    return {"backend": backend, "size": size, "batch": batch, "length": length,
            "parameters": trainer.num_parameters(), "first_loss": losses[0],
            "step_ms": 1e3 * step, "tokens_per_s": batch * length / step}


def describe(backend: str) -> str:
    """The device a backend runs on, in words."""
    if backend.startswith("torch:cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    if backend == "cupy":
        import cupy

        return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return f"CPU ({platform.processor() or platform.machine()})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="numpy,torch",
                        help="comma-separated: numpy, torch, torch:cuda, cupy")
    parser.add_argument("--sizes", default="default,large", help="default, large")
    parser.add_argument("--repeat", type=int, default=10, help="timed steps per case")
    parser.add_argument("--quick", action="store_true", help="tiny model, 2 timed steps")
    parser.add_argument("--out", type=Path, help="folder for backends_bench.json")
    args = parser.parse_args(argv)
    sizes = ["quick"] if args.quick else args.sizes.split(",")
    repeat = 2 if args.quick else args.repeat
    unknown = sorted(set(sizes) - set(SIZES))
    if unknown:
        parser.error(f"--sizes: unknown {unknown}; choose from {sorted(SIZES)}")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, python "
          f"{platform.python_version()}, numpy {np.__version__}")
    results, failures = [], 0
    for size in sizes:
        print(f"\n{size}: batch {SIZES[size][0]} x {SIZES[size][1]} tokens")
        print(f"{'backend':<12} {'device':<28} {'params':>9} {'first loss':>11} "
              f"{'ms/step':>9} {'tokens/s':>11}")
        for backend in args.backends.split(","):
            try:
                r = time_backend(backend, size, repeat)
                r["device"] = describe(backend)
            except Exception as e:  # noqa: BLE001 -- printed, and the exit status says so
                failures += 1
                print(f"{backend:<12} cannot run: {type(e).__name__}: {e}")
                if not isinstance(e, ImportError):
                    traceback.print_exc(limit=3)
                continue
            results.append(r)
            print(f"{backend:<12} {r['device'][:28]:<28} {r['parameters']:>9,} "
                  f"{r['first_loss']:>11.6f} {r['step_ms']:>9.2f} {r['tokens_per_s']:>11,.0f}")
        ratio(results, size, "torch:cuda", "cupy")
        ratio(results, size, "torch", "numpy")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "backends_bench.json").write_text(json.dumps(results, indent=1))
    return 1 if failures else 0


def ratio(results: list[dict], size: str, a: str, b: str) -> None:
    """Print tokens/s of backend ``a`` over backend ``b`` when both ran."""
    got = {r["backend"]: r for r in results if r["size"] == size}
    if a in got and b in got:
        print(f"  {a} / {b} tokens per second: "
              f"{got[a]['tokens_per_s'] / got[b]['tokens_per_s']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
