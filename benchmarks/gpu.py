"""GPU benchmark of the fused wavelet-mixing kernels (backends/cuda/mixing.cu).

For each case (float32, ``db4``, 3 levels, periodization; ``(B, N, D)`` =
``(32, 512, 768)`` and ``(256, 512, 768)``) it measures, in one run:

* the fused forward ``y = S W A x`` (one launch) and backward (``dx`` and
  ``dweight``, one launch, plus the sum of the per-batch weight gradients),
  also ``dx`` alone (the forward kernel with transposed roles), for the
  planner's default and for the forced configurations in ``VARIANTS``
  (channel tile, threads per block, outputs per thread);
* effective bandwidth = minimum bytes / time: the forward must read ``x`` and
  write ``y`` (2 S bytes, S = B N D 4), the backward read ``x`` and ``dy`` and
  write ``dx`` (3 S);
* a device-to-device copy (cudaMemcpyAsync) moving the same bytes, timed in
  the same run: the practical bandwidth ceiling;
* the same layer in PyTorch on the same GPU, written the usual way:
  ``conv1d`` (stride 2, circular padding) per level -> weights ->
  ``conv_transpose1d`` per level; its forward, and forward + backward through
  autograd.

Goals (printed as PASS/MISS, never asserted): fused forward and backward at
>= 70 % of the copy's bandwidth, and >= 5x faster than the PyTorch path.
Before timing, the fused kernels and the PyTorch path are checked against
wavelearn's NumPy layer on a slice of the batch.

All GPU times come from ``cupyx.profiler.benchmark`` (CUDA events on the
null stream, which PyTorch's default stream also is): the median over the
repeats of 10 calls in a row, divided by 10, so that launch overheads overlap
the GPU's work as they do in a model. The fused kernels are timed by replaying
their recorded launches (the kernel's own time; ``fused_*_call`` adds the
Python wrappers).

Run (about a minute; needs CuPy, and PyTorch with CUDA for the comparison)::

    python benchmarks/gpu.py                    # prints a table
    python benchmarks/gpu.py --out results/     # also writes gpu_bench.json there
    python benchmarks/gpu.py --quick            # one small case (smoke run)
    python benchmarks/gpu.py --smoke            # run every kernel once on tiny shapes,
                                                # no timing (for compute-sanitizer)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

try:  # installed (pip install -e .), or on PYTHONPATH as gpu_check.sh arranges it
    from wavelearn.backends import cupy_kernels as ck
except ImportError:  # a plain checkout: wavelearn.backends only exists once installed
    sys.exit("benchmarks/gpu.py needs wavelearn installed (pip install -e .) or on "
             "PYTHONPATH with backends/ as wavelearn.backends (see benchmarks/gpu_check.sh)")

from wavelearn.dwt.wavelets import as_wavelet  # noqa: E402
from wavelearn.nn.mixing import WaveletMixing  # noqa: E402

SHAPES = [(32, 512, 768), (256, 512, 768)]
QUICK_SHAPES = [(8, 512, 256)]
WAVELET, LEVELS = "db4", 3
GOAL_COPY, GOAL_TORCH = 0.70, 5.0

# (label, compile-time defines, tile, threads per block): the planner's
# default first, then forced configurations, to learn which one to make the
# default (tile = channels per block; WL_MIX_R = outputs per thread and group).
VARIANTS = [
    ("default", {}, None, None),
    ("t32x256", {}, 32, 256),
    ("t32x512", {}, 32, 512),
    ("t32x1024", {}, 32, 1024),
    ("t16x256", {}, 16, 256),
    ("t16x512", {}, 16, 512),
    ("t8x256", {}, 8, 256),
    ("R8", {"WL_MIX_R": 8}, None, None),
    ("R8-t32x512", {"WL_MIX_R": 8}, 32, 512),
    ("R8-t16x256", {"WL_MIX_R": 8}, 16, 256),
]
_launchers: dict = {}


def launcher_for(defines: dict) -> Any:
    key = tuple(sorted(defines.items()))
    if key not in _launchers:
        _launchers[key] = ck.default_launcher() if not key else ck.CupyLauncher(defines)
    return _launchers[key]


INNER = 10  # calls per timed sample: the GPU queue hides the host's launch overhead


def gpu_time(cupyx_bench: Any, f: Any, n_repeat: int, inner: int = INNER) -> float:
    """Median GPU seconds of one ``f()``: CUDA events around ``inner`` calls in a
    row (so that the host's time to launch the next one overlaps the GPU's
    work on this one, as in a model), divided by ``inner``."""
    def many() -> None:
        for _ in range(inner):
            f()

    r = cupyx_bench(many, n_repeat=n_repeat, n_warmup=2)
    return float(np.median(r.gpu_times[0])) / inner


class Recorder:
    """A launcher that launches through another one and keeps each launch, so
    that it can be replayed without the wrapper's Python work (argument checks,
    planning, allocation): the kernel's own time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def launch(self, name: str, grid: tuple, block: tuple, shared_mem: int, args: tuple) -> None:
        self.inner.launch(name, grid, block, shared_mem, args)
        self.calls.append((self.inner.module.get_function(name), grid, block, shared_mem, args))

    def replay(self) -> None:
        for kernel, grid, block, shared_mem, args in self.calls:
            kernel(grid, block, args, shared_mem=shared_mem)


# ---------------------------------------------------------------------------
# The PyTorch baseline: DWT -> weights -> IDWT with conv1d / conv_transpose1d
# ---------------------------------------------------------------------------


def torch_mixing(torch: Any, x: Any, weight: Any, fa: Any, fs: Any, levels: int) -> Any:
    """``WaveletMixing`` ('pointwise', periodization) in plain PyTorch ops, for N
    divisible by 2**levels. ``x`` (B, N, D); ``fa``/``fs`` (2, 1, F) tensors:
    correlation-form analysis and synthesis filters (cupy_kernels.mixing_filters)."""
    F = torch.nn.functional
    B, N, D = x.shape
    taps = fa.shape[-1]
    left = taps // 2 - 1
    h = x.permute(0, 2, 1).reshape(B * D, 1, N)  # one row per (batch, channel)
    details = []
    for _ in range(levels):  # analysis: periodic padding, then a stride-2 correlation
        c = F.conv1d(F.pad(h, (left, taps - 2 - left), mode="circular"), fa, stride=2)
        h, d = c[:, :1], c[:, 1:]
        details.append(d)
    gains = weight.repeat(1, B)  # (K, B*D): row r = b*D + d gets weight[k, d]
    a = h * gains[0][:, None, None]
    for k, d in enumerate(details[::-1], start=1):  # synthesis, coarsest first
        c = torch.cat([a, d * gains[k][:, None, None]], dim=1)  # (BD, 2, L)
        full = F.conv_transpose1d(c, fs, stride=2)  # (BD, 1, 2L + taps - 2)
        n2 = 2 * c.shape[-1]
        a = full[..., left:left + n2].clone()  # wrap the ends around (period 2L)
        a[..., : taps - 2 - left] += full[..., left + n2:]
        a[..., n2 - left:] += full[..., :left]
    return a.reshape(B, D, N).permute(0, 2, 1)


# ---------------------------------------------------------------------------
# One case
# ---------------------------------------------------------------------------


def check_case(cp: Any, torch: Any, shape: tuple, x: Any, dy: Any, weight: Any,
               tfn: Any) -> dict:
    """Max errors of the fused kernels and of the torch path against the
    NumPy layer, on the first two batch rows."""
    xs, dys, ws = x[:2].get(), dy[:2].get(), weight.get()
    layer = WaveletMixing(shape[2], WAVELET, LEVELS, "pointwise", "periodization",
                          dtype="float64")
    layer.weight.data = ws.astype(np.float64)
    y_ref = layer.forward(xs.astype(np.float64))
    dx_ref = layer.backward(dys.astype(np.float64))
    dw_ref = layer.weight.grad
    y = ck.mixing_forward(x[:2], weight, WAVELET, LEVELS).get()
    dx, dw = ck.mixing_backward(x[:2], dy[:2], weight, WAVELET, LEVELS)
    out = {
        "fused_forward_max_err": float(np.abs(y - y_ref).max()),
        "fused_backward_dx_max_err": float(np.abs(dx.get() - dx_ref).max()),
        "fused_backward_dw_max_rel_err": float(np.abs(dw.get() - dw_ref).max()
                                               / np.abs(dw_ref).max()),
    }
    if torch is not None:
        yt = tfn(torch.from_dlpack(x[:2])).cpu().numpy()
        out["torch_forward_max_err"] = float(np.abs(yt - y_ref).max())
    return out


def run_case(cp: Any, bench: Any, torch: Any, shape: tuple, repeat: int) -> dict:
    B, N, D = shape
    rng = cp.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=cp.float32)
    dy = rng.standard_normal(shape, dtype=cp.float32)
    weight = rng.standard_normal((LEVELS + 1, D), dtype=cp.float32)
    S = x.nbytes
    res: dict[str, Any] = {"shape": list(shape), "dtype": "float32", "wavelet": WAVELET,
                           "levels": LEVELS, "bytes_per_array": S}

    tfn = None
    if torch is not None:
        filt = ck.mixing_filters(as_wavelet(WAVELET))
        fa = torch.tensor(filt[:2, None, :], dtype=torch.float32, device="cuda")
        fs = torch.tensor(filt[2:, None, :], dtype=torch.float32, device="cuda")
        tw = torch.from_dlpack(weight)

        def tfn(t: Any, w: Any = tw) -> Any:
            return torch_mixing(torch, t, w, fa, fs, LEVELS)

    res["check"] = check_case(cp, torch, shape, x, dy, weight, tfn)

    # the planner's choices
    L = ck.default_launcher()
    for kind, backward in (("forward", False), ("backward", True)):
        p = ck.fused_plan(N, LEVELS, 8, 4, L.max_shared_memory, backward=backward,
                          per_sm=L.shared_memory_per_sm)
        res[f"plan_{kind}"] = {"tile": p.tile, "block": p.block, "shared_mem": p.shared_mem}

    t: dict[str, float] = {}
    variant_err = {}
    y0 = ck.mixing_forward(x[:4], weight, WAVELET, LEVELS)
    dx0, dw0 = ck.mixing_backward(x[:4], dy[:4], weight, WAVELET, LEVELS)
    for label, defines, tile, threads in VARIANTS:
        lau = launcher_for(defines)
        kw = {"launcher": lau, "tile": tile, "threads": threads}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a fallback here is not what we want to time
            try:
                # same results as the default variant (on a slice), then the timings
                yv = ck.mixing_forward(x[:4], weight, WAVELET, LEVELS, **kw)
                dxv, dwv = ck.mixing_backward(x[:4], dy[:4], weight, WAVELET, LEVELS, **kw)
                variant_err[label] = float(max(abs(yv - y0).max(), abs(dxv - dx0).max(),
                                               abs(dwv - dw0).max() / abs(dw0).max()))
                # the kernels alone: record one call's launches, replay them
                fwd, bwd, dxo = Recorder(lau), Recorder(lau), Recorder(lau)
                ck.mixing_forward(x, weight, WAVELET, LEVELS, **{**kw, "launcher": fwd})
                ck.mixing_backward(x, dy, weight, WAVELET, LEVELS, **{**kw, "launcher": bwd})
                ck.mixing_backward(x, dy, weight, WAVELET, LEVELS, need_weight_grad=False,
                                   **{**kw, "launcher": dxo})
                dw_part = bwd.calls[0][4][5]  # the backward ends with dw = dw_part.sum(0)
                t[f"fused_fwd[{label}]"] = gpu_time(bench, fwd.replay, repeat)
                t[f"fused_bwd[{label}]"] = gpu_time(
                    bench, lambda bwd=bwd, p=dw_part: (bwd.replay(), p.sum(axis=0)), repeat)
                t[f"fused_dx_only[{label}]"] = gpu_time(bench, dxo.replay, repeat)
                if label == "default":  # and through the Python wrappers
                    t["fused_fwd_call[default]"] = gpu_time(bench, lambda: ck.mixing_forward(
                        x, weight, WAVELET, LEVELS), repeat)
                    t["fused_bwd_call[default]"] = gpu_time(bench, lambda: ck.mixing_backward(
                        x, dy, weight, WAVELET, LEVELS), repeat)
            except (ck.KernelFallbackWarning, ValueError) as e:  # a forced one that does not fit
                res.setdefault("skipped", {})[label] = str(e)
            except Exception as e:  # noqa: BLE001 - record, and go on with the other variants
                res.setdefault("skipped", {})[label] = f"{type(e).__name__}: {e}"
    res["variant_max_diff_vs_default"] = variant_err

    # copies of the same bytes: S (forward: read S, write S) and 1.5 S (backward)
    src = cp.empty(int(1.5 * S) // 4 * 4, dtype=cp.uint8)
    dst = cp.empty_like(src)
    t["copy_fwd_bytes"] = gpu_time(
        bench, lambda: dst.data.copy_from_device_async(src.data, S), repeat)
    t["copy_bwd_bytes"] = gpu_time(
        bench, lambda: dst.data.copy_from_device_async(src.data, src.nbytes), repeat)

    # a few other kernels, for context: one DWT level and the per-level wavedec
    t["dwt_level"] = gpu_time(bench, lambda: ck.dwt(x, WAVELET, "periodization"), repeat)
    t["wavedec3_waverec3_unfused"] = gpu_time(bench, lambda: ck.waverec(
        ck.wavedec(x, WAVELET, "periodization", LEVELS), WAVELET, "periodization"), repeat)

    if torch is not None:
        tx = torch.from_dlpack(x)
        with torch.no_grad():
            t["torch_fwd"] = gpu_time(bench, lambda: tfn(tx), max(5, repeat // 4), inner=3)
        txg = tx.detach().clone().requires_grad_(True)
        twg = torch.from_dlpack(weight).detach().clone().requires_grad_(True)
        tdy = torch.from_dlpack(dy)

        def fwd_bwd() -> None:
            txg.grad = twg.grad = None
            tfn(txg, twg).backward(tdy)

        t["torch_fwd_bwd"] = gpu_time(bench, fwd_bwd, max(5, repeat // 4), inner=3)

    res["seconds"] = t
    fwd, bwd = t["fused_fwd[default]"], t["fused_bwd[default]"]
    best_fwd = min((v, k) for k, v in t.items() if k.startswith("fused_fwd["))  # kernels only
    best_bwd = min((v, k) for k, v in t.items() if k.startswith("fused_bwd["))
    summary = {
        "fused_fwd_s": fwd, "fused_bwd_s": bwd,
        "best_fwd": best_fwd[1], "best_fwd_s": best_fwd[0],
        "best_bwd": best_bwd[1], "best_bwd_s": best_bwd[0],
        "fwd_GBps": 2 * S / fwd / 1e9,
        "bwd_GBps": 3 * S / bwd / 1e9,
        "copy_GBps": 2 * S / t["copy_fwd_bytes"] / 1e9,
        "fwd_vs_copy": t["copy_fwd_bytes"] / fwd,
        "bwd_vs_copy": t["copy_bwd_bytes"] / bwd,
        "best_fwd_vs_copy": t["copy_fwd_bytes"] / best_fwd[0],
        "best_bwd_vs_copy": t["copy_bwd_bytes"] / best_bwd[0],
    }
    if torch is not None:
        summary["torch_fwd_over_fused"] = t["torch_fwd"] / fwd
        summary["torch_fwd_bwd_over_fused"] = t["torch_fwd_bwd"] / (fwd + bwd)
    res["summary"] = summary
    return res


def report(res: dict) -> None:
    t, s = res["seconds"], res["summary"]
    print(f"\n== {tuple(res['shape'])} float32 {WAVELET} levels={LEVELS}  "
          f"({res['bytes_per_array'] / 1e6:.0f} MB per array)")
    print("   check:", ", ".join(f"{k}={v:.2e}" for k, v in res["check"].items()))
    print(f"   plans: forward {res['plan_forward']}, backward {res['plan_backward']}")
    for k, v in t.items():
        print(f"   {k:<32} {v * 1e6:10.1f} us")
    print(f"   forward : {s['fwd_GBps']:7.0f} GB/s = {100 * s['fwd_vs_copy']:5.1f} % of copy "
          f"({s['copy_GBps']:.0f} GB/s)  [{'PASS' if s['fwd_vs_copy'] >= GOAL_COPY else 'MISS'}"
          f" >= {100 * GOAL_COPY:.0f} %]; best {s['best_fwd']} "
          f"{100 * s['best_fwd_vs_copy']:.1f} %")
    print(f"   backward: {s['bwd_GBps']:7.0f} GB/s = {100 * s['bwd_vs_copy']:5.1f} % of copy"
          f"  [{'PASS' if s['bwd_vs_copy'] >= GOAL_COPY else 'MISS'}]; best {s['best_bwd']} "
          f"{100 * s['best_bwd_vs_copy']:.1f} %")
    print("   variants vs default (max diff):",
          ", ".join(f"{k}={v:.1e}" for k, v in res["variant_max_diff_vs_default"].items()))
    for k, v in res.get("skipped", {}).items():
        print(f"   skipped {k}: {v}")
    if "torch_fwd_over_fused" in s:
        for key, label in (("torch_fwd_over_fused", "forward"),
                           ("torch_fwd_bwd_over_fused", "fwd+bwd")):
            print(f"   torch conv1d path / fused, {label}: {s[key]:6.1f}x  "
                  f"[{'PASS' if s[key] >= GOAL_TORCH else 'MISS'} >= {GOAL_TORCH:.0f}x]")


def smoke(cp: Any) -> None:
    """Every kernel once on small shapes (odd lengths, partial tiles, both
    dtypes), without timing or checks: a workload for compute-sanitizer."""
    from wavelearn.nn.mixing import causal_lowpass

    cp.cuda.set_allocator(None)  # plain cudaMalloc per array, so memcheck sees every bound
    rng = cp.random.default_rng(1)
    for dtype in (cp.float32, cp.float64):
        for shape, levels in (((2, 64, 40), 3), ((3, 37, 17), 2), ((1, 6, 5), 4)):
            x = rng.standard_normal(shape, dtype=dtype)
            dy = rng.standard_normal(shape, dtype=dtype)
            w = rng.standard_normal((levels + 1, shape[2]), dtype=dtype)
            for tile, threads, wavelet in ((None, None, "db4"), (16, 256, "bior2.2"),
                                           (8, 64, "haar")):
                kw = {"tile": tile, "threads": threads}
                ck.mixing_forward(x, w, wavelet, levels, **kw)
                ck.mixing_backward(x, dy, w, wavelet, levels, **kw)
                ck.mixing_backward(x, dy, w, wavelet, levels, need_weight_grad=False, **kw)
            for mode in ("periodization", "symmetric", "zero", "smooth"):
                a, d = ck.dwt(x, "sym5", mode)
                ck.idwt(a, d, "sym5", mode)
            bands = ck.causal_analysis(x, causal_lowpass("db4"), levels)
            ck.causal_analysis_adjoint(bands, causal_lowpass("db4"))
    cp.cuda.Device().synchronize()
    print("smoke run done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for gpu_bench.json")
    parser.add_argument("--quick", action="store_true", help="one small case")
    parser.add_argument("--shape", type=lambda v: tuple(int(n) for n in v.split(",")),
                        action="append", help="B,N,D of a case (repeatable; replaces the list)")
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed samples per measurement (each of 10 calls)")
    parser.add_argument("--smoke", action="store_true",
                        help="run every kernel once on tiny shapes, no timing")
    args = parser.parse_args(argv)

    import cupy as cp
    from cupyx.profiler import benchmark

    if args.smoke:
        smoke(cp)
        return 0

    try:
        import torch

        if not torch.cuda.is_available():
            print("torch has no CUDA: the PyTorch comparison is skipped")
            torch = None
    except ImportError:
        print("torch is not installed: the PyTorch comparison is skipped")
        torch = None

    dev = cp.cuda.Device()
    props = cp.cuda.runtime.getDeviceProperties(dev.id)
    info = {
        "gpu": props["name"].decode(), "sm_count": props["multiProcessorCount"],
        "cupy": cp.__version__, "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
        "torch": None if torch is None else torch.__version__,
        "numpy": np.__version__, "python": platform.python_version(),
        "max_shared_per_block": ck.default_launcher().max_shared_memory,
        "shared_per_sm": ck.default_launcher().shared_memory_per_sm,
    }
    print("  ".join(f"{k}={v}" for k, v in info.items()))
    t0 = time.perf_counter()
    ck.default_launcher().module.get_function(ck.NAME_EXPRESSIONS[0])  # compile (NVRTC) once
    info["compile_s"] = time.perf_counter() - t0
    print(f"kernels compiled in {info['compile_s']:.1f} s")

    results = {"info": info, "cases": []}
    for shape in args.shape or (QUICK_SHAPES if args.quick else SHAPES):
        res = run_case(cp, benchmark, torch, shape, args.repeat)
        results["cases"].append(res)
        report(res)
        if args.out:  # write after every case: a later failure keeps what was measured
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "gpu_bench.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
