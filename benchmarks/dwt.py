"""Benchmark: wavelearn (NumPy backend) ``wavedec``/``waverec`` against PyWavelets.

For each case (array shape, dtype, boundary mode; ``db4``, level 3, along
``axis=1``) it times, side by side in one run:

* ``wavelearn.wavedec`` and ``pywt.wavedec`` on the same array,
* ``wavelearn.waverec`` and ``pywt.waverec`` on (their own) coefficients,
* ``x.copy()``: the memory floor, the time just to read and write the array once,
* with ``--level-path``, wavelearn once more with its whole-transform matrices
  switched off (``wavelearn/dwt/dense.py``: short signals are one matrix
  product), so that ``wl/levels`` shows what the matrices gain,
* with ``--adjoints``, also ``wavedec_adjoint`` and ``waverec_adjoint`` (what a
  model's backward runs; PyWavelets has none: against the copy only),

and prints the ratios wavelearn/pywt and wavelearn/floor. Every function is
run once to warm up; then the functions of a case take turns ``--repeat``
times (so that noise from other processes hits them alike), and the table
shows the minimum. Timings are only printed, never asserted.

Run::

    python benchmarks/dwt.py              # full run
    python benchmarks/dwt.py --quick      # small smoke run (seconds)
    python benchmarks/dwt.py --repeat 20  # more repeats on a noisy machine
    python benchmarks/dwt.py --long       # also one 1-D signal of 10^7 float64 samples
    python benchmarks/dwt.py --level-path # also wavelearn without the short-signal matrices
    python benchmarks/dwt.py --adjoints   # also the adjoints (a model's backward)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np
import pywt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import wavelearn as wl  # noqa: E402
from wavelearn.dwt import dense  # noqa: E402
from wavelearn.threads import num_threads  # noqa: E402

SHAPES = [(32, 512, 768), (4, 16384, 64), (256, 64, 128)]
QUICK_SHAPES = [(4, 256, 96), (2, 1024, 32), (8, 64, 32)]
LONG_SHAPE = (10**7,)  # --long: one signal of 10^7 samples (the 1-D goal), float64
DTYPES = ["float32", "float64"]
MODES = ["periodization", "symmetric"]
WAVELET, LEVEL, AXIS = "db4", 3, 1


def best_times(funcs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Seconds per call, the minimum over ``repeat`` interleaved rounds: wall clock
    under each name, CPU time of the process (all threads) under ``cpu:name``."""
    for f in funcs.values():  # warm-up: caches, page faults, lazy imports
        f()
    best = {k: float("inf") for name in funcs for k in (name, f"cpu:{name}")}
    for _ in range(repeat):
        for name, f in funcs.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            best[name] = min(best[name], time.perf_counter() - t0)
            best[f"cpu:{name}"] = min(best[f"cpu:{name}"], time.process_time() - c0)
    return best


def levels_only(f: Callable[[], object]) -> Callable[[], object]:
    """``f`` with wavelearn's whole-transform matrices switched off (the level path)."""

    def run() -> object:
        saved, dense.DENSE_MAX_ENTRIES = dense.DENSE_MAX_ENTRIES, 0
        try:
            return f()
        finally:
            dense.DENSE_MAX_ENTRIES = saved

    return run


def run_case(shape: tuple[int, ...], dtype: str, mode: str, repeat: int,
             level_path: bool = False, adjoints: bool = False) -> list[tuple]:
    """Time one case; returns its table rows (wavedec, waverec; then their adjoints)."""
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    axis = AXIS if x.ndim > 1 else 0
    coeffs = wl.wavedec(x, WAVELET, mode, level=LEVEL, axis=axis)
    pcoeffs = pywt.wavedec(x, WAVELET, mode, level=LEVEL, axis=axis)
    funcs = {
        "wl_dec": lambda: wl.wavedec(x, WAVELET, mode, level=LEVEL, axis=axis),
        "pywt_dec": lambda: pywt.wavedec(x, WAVELET, mode, level=LEVEL, axis=axis),
        "wl_rec": lambda: wl.waverec(coeffs, WAVELET, mode, axis=axis),
        "pywt_rec": lambda: pywt.waverec(pcoeffs, WAVELET, mode, axis=axis),
        "floor": x.copy,
    }
    if level_path:
        funcs["lv_dec"] = levels_only(funcs["wl_dec"])
        funcs["lv_rec"] = levels_only(funcs["wl_rec"])
    if adjoints:
        lengths = [c.shape[axis] for c in coeffs]
        funcs["wl_decT"] = lambda: wl.wavedec_adjoint(coeffs, WAVELET, mode, axis=axis,
                                                      length=x.shape[axis])
        funcs["wl_recT"] = lambda: wl.waverec_adjoint(x, WAVELET, mode, axis=axis,
                                                      coeff_lengths=lengths)
    t = best_times(funcs, repeat)
    case = ("x".join(map(str, shape)), dtype, mode)
    rows = [
        (*case, op, t[f"wl_{key}"], t[f"pywt_{key}"], t["floor"],
         t[f"cpu:wl_{key}"] / t[f"cpu:pywt_{key}"], t[f"cpu:wl_{key}"] / t["cpu:floor"],
         t.get(f"lv_{key}"))
        for op, key in (("wavedec", "dec"), ("waverec", "rec"))
    ]
    return rows + [(*case, op, t[key], None, t["floor"], None, t[f"cpu:{key}"] / t["cpu:floor"],
                    None) for op, key in (("wavedec^T", "wl_decT"), ("waverec^T", "wl_recT"))
                   if key in t]


def print_table(rows: list[tuple]) -> None:
    head = ("shape", "dtype", "mode", "op", "wavelearn ms", "pywt ms", "copy ms",
            "wl/pywt", "wl/copy", "cpu:wl/pywt", "cpu:wl/copy", "wl/levels")
    fmt = "{:<14} {:<8} {:<14} {:<9} {:>12} {:>9} {:>8} {:>8} {:>8} {:>11} {:>11} {:>9}"
    print(fmt.format(*head))
    print("-" * 132)
    for shape, dtype, mode, op, t_wl, t_pywt, t_floor, c_pywt, c_floor, t_lv in rows:
        levels = "-" if t_lv is None else f"{t_wl / t_lv:.2f}"
        pywt_ms, vs_pywt, cpu_pywt = ("-", "-", "-") if t_pywt is None else (
            f"{1e3 * t_pywt:.2f}", f"{t_wl / t_pywt:.2f}", f"{c_pywt:.2f}")
        print(fmt.format(shape, dtype, mode, op, f"{1e3 * t_wl:.2f}", pywt_ms,
                         f"{1e3 * t_floor:.2f}", vs_pywt, f"{t_wl / t_floor:.2f}", cpu_pywt,
                         f"{c_floor:.2f}", levels))
    print("cpu: the same ratios in process CPU time (steadier on a machine shared with "
          "other processes; with several threads it adds their times)")
    print("wl/levels (--level-path): wavelearn against itself with the short-signal matrices "
          "off; 1.00 where a case takes the levels anyway")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed rounds per case (default 10, or 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small shapes: a smoke run")
    parser.add_argument("--long", action="store_true",
                        help="also one 1-D signal of 10^7 float64 samples (axis 0)")
    parser.add_argument("--level-path", action="store_true",
                        help="also time wavelearn with its short-signal matrices off")
    parser.add_argument("--adjoints", action="store_true",
                        help="also wavedec_adjoint and waverec_adjoint (against the copy)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 10)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    print(f"{WAVELET}, level {LEVEL}, axis {AXIS}; min of {repeat} rounds; numpy "
          f"{np.__version__}, pywt {pywt.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; wavelearn threads: {num_threads()} (WAVELEARN_NUM_THREADS="
          f"{os.environ.get('WAVELEARN_NUM_THREADS', 'unset')})")
    rows = []
    for shape in shapes:
        for dtype in DTYPES:
            for mode in MODES:
                rows += run_case(shape, dtype, mode, repeat, args.level_path, args.adjoints)
    if args.long:
        for mode in MODES:
            rows += run_case(LONG_SHAPE, "float64", mode, repeat, args.level_path,
                             args.adjoints)
    print_table(rows)


if __name__ == "__main__":
    main()
