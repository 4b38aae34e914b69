"""Benchmark: cost of a training step against the sequence length, wavelets vs attention.

Two models of the same width, depth and FFN (D 64, 2 layers, FFN 256, 4 heads
for attention, vocabulary 256, 4 classes, mean pooling, float32, batch 1):

* ``wavelet``: :class:`wavelearn.models.WaveletTransformer` (db4, 3 levels,
  pointwise mixing, periodization), NumPy backend, hand-written backward;
* ``attention``: the same pre-norm transformer in PyTorch (CPU) with
  ``torch.nn.functional.scaled_dot_product_attention`` as the token mixer,
  trained by autograd.

For N = 1,024 ... 262,144 each (model, N) runs in a fresh process: a warm-up
step, then timed steps (forward + cross-entropy + backward; the minimum is
kept), and the peak resident memory of one step (``VmHWM`` reset through
``/proc/self/clear_refs``, minus ``VmRSS`` before the step; glibc is told to
``mmap`` large blocks, so freed memory really leaves). Attention runs until a
step is predicted (from the last one, ``x (N'/N)^2``) to take longer than
``--max-seconds`` or more memory than the machine has, and the table says
which. Output: a table, ``scaling.json`` and a log-log figure (time and memory
per token against N) in ``--out``.

Run::

    python benchmarks/scaling.py --out tutorials/figures     # N up to 262,144 (minutes)
    python benchmarks/scaling.py --quick                 # N up to 16,384
    python benchmarks/scaling.py --tokens 262144 --lengths 1024 16384 262144
                          # same tokens per step, wavelet only: the steps of a training
                          # loop (glibc's defaults, caches and pool kept), the lengths
                          # in turn for --rounds rounds; --model decoder: the same for
                          # the wavelet decoder as a language model

Numbers are only printed, never asserted; on a machine shared with other
processes they are noisy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from bench_common import reset_peak_rss, status_kib, training_step  # noqa: E402

LENGTHS = [1024, 4096, 16384, 65536, 262144]
QUICK_LENGTHS = [1024, 4096, 16384]
D, LAYERS, FFN, HEADS, VOCAB, CLASSES = 64, 2, 256, 4, 256, 4
MODELS = ("wavelet", "attention")


# ---------------------------------------------------------------------------
# The two models and their training steps
# ---------------------------------------------------------------------------


def wavelet_step(n: int, batch: int = 1) -> Any:
    """A training step of the wavelet transformer at length ``n`` (batch ``batch``)."""
    from wavelearn import buffers
    from wavelearn.models import WaveletTransformer
    from wavelearn.nn import CrossEntropyLoss

    model = WaveletTransformer(vocab_size=VOCAB, hidden_dim=D, num_layers=LAYERS,
                               ffn_hidden_dim=FFN, levels=3, wavelet="db4",
                               num_classes=CLASSES, max_sequence_length=n, dropout=0.0,
                               seed=0).train()
    rng = np.random.default_rng(0)
    ids, labels = rng.integers(0, VOCAB, (batch, n)), rng.integers(0, CLASSES, (batch,))
    loss = CrossEntropyLoss()

    def step() -> None:
        training_step(model, ids, labels, loss)

    def forget() -> None:  # what a step leaves behind (torch frees its graph by itself)
        for m in model.modules():
            m.cache = {}
        loss.cache = {}
        for p in model.parameters():
            p.grad = None
        buffers.clear()  # the arrays of the dropped caches too (wavelearn/buffers.py)

    step.forget = forget  # type: ignore[attr-defined]
    return step


def decoder_step(n: int, batch: int = 1) -> Any:
    """A training step of the wavelet decoder (a language model: the next token's
    cross-entropy at every position, logits ``(batch, n, 256)``) at length ``n``."""
    from wavelearn import buffers
    from wavelearn.models import WaveletDecoder
    from wavelearn.nn import CrossEntropyLoss

    model = WaveletDecoder(vocab_size=VOCAB, hidden_dim=D, num_layers=LAYERS,
                           ffn_hidden_dim=FFN, levels=3, wavelet="db4",
                           max_sequence_length=n, dropout=0.0, seed=0).train()
    ids = np.random.default_rng(0).integers(0, VOCAB, (batch, n + 1))
    inputs, targets = ids[:, :-1], ids[:, 1:]
    loss = CrossEntropyLoss()

    def step() -> None:
        training_step(model, inputs, targets, loss)

    def forget() -> None:
        for m in model.modules():
            m.cache = {}
        loss.cache = {}
        for p in model.parameters():
            p.grad = None
        buffers.clear()

    step.forget = forget  # type: ignore[attr-defined]
    return step


def attention_step(n: int) -> Any:
    """A training step of the same-size attention transformer (torch, autograd)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
            self.fc1, self.fc2 = nn.Linear(D, FFN), nn.Linear(FFN, D)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            B, N, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).view(B, N, 3, HEADS, D // HEADS).unbind(2)
            a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                               v.transpose(1, 2))  # (B, H, N, D/H)
            x = x + self.proj(a.transpose(1, 2).reshape(B, N, D))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, D)
            self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
            self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, CLASSES)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            x = self.embed(ids)
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x).mean(dim=1))

    torch.manual_seed(0)
    model = Model().train()
    rng = np.random.default_rng(0)
    ids = torch.as_tensor(rng.integers(0, VOCAB, (1, n)))
    labels = torch.as_tensor(rng.integers(0, CLASSES, (1,)))

    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(ids), labels).backward()

    return step


# ---------------------------------------------------------------------------
# One measurement, in a fresh process
# ---------------------------------------------------------------------------


def worker(model: str, n: int, repeat: int, batch: int = 1, loop: bool = False
           ) -> dict[str, float]:
    """Seconds per step (min over ``repeat``), the step's peak memory growth (bytes) and
    its page faults (the mean over the timed steps: the kernel's share of a step, each
    fault a fresh page zeroed). Between the timed steps the model drops what a step
    leaves behind (its caches, the gradients, wavelearn's pool of freed arrays), so that
    each step starts as the first did; ``loop``: it keeps them, as a training loop does
    (the time of its steady state)."""
    if model == "attention":
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 0)) or
                              min(2, os.cpu_count() or 1))
    makers = {"wavelet": wavelet_step, "decoder": decoder_step}
    step = makers[model](n, batch) if model in makers else attention_step(n)
    step()  # warm-up: caches, first touch of the gradients
    if hasattr(step, "forget"):
        step.forget()
    if not reset_peak_rss():  # VmHWM := VmRSS (Linux >= 4.0)
        raise OSError("cannot reset the peak RSS (/proc/self/clear_refs)")
    rss0 = status_kib("VmRSS")
    best, faults = math.inf, 0
    for i in range(repeat):
        f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
        faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        if i == 0:
            peak = (status_kib("VmHWM") - rss0) * 1024
        if hasattr(step, "forget") and not loop:
            step.forget()
    return {"seconds": best, "peak_bytes": peak, "faults": faults / repeat}


def measure(model: str, n: int, repeat: int, timeout: float, batch: int = 1,
            loop: bool = False) -> dict[str, Any]:
    """Run :func:`worker` in a subprocess; ``{'error': why}`` when it fails or times out.
    glibc is told to ``mmap`` every block above 128 KiB (freed memory leaves, for the
    peak); with ``loop``, the process keeps its defaults (the steps of a training loop)."""
    env = dict(os.environ) if loop else dict(
        os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", model, str(n), str(repeat),
           str(batch), str(int(loop))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"time (> {timeout:.0f} s)"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"error": "memory" if "MemoryError" in tail[0] or proc.returncode == -9
                else tail[0][:60]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def available_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 2**62


# ---------------------------------------------------------------------------
# The run, the table and the figure
# ---------------------------------------------------------------------------


def run(lengths: list[int], max_seconds: float, repeat: int) -> dict[str, dict[int, dict]]:
    results: dict[str, dict[int, dict]] = {m: {} for m in MODELS}
    for model in MODELS:
        last: tuple[int, dict] | None = None
        for n in lengths:
            if last is not None and "error" not in last[1]:
                growth = (n / last[0]) ** (2 if model == "attention" else 1)
                t_pred = last[1]["seconds"] * growth
                m_pred = last[1]["peak_bytes"] * n / last[0]  # SDPA keeps O(N) memory
                if t_pred > max_seconds:
                    results[model][n] = {"error": f"time (~{t_pred:.0f} s predicted)"}
                    continue
                if m_pred > 0.8 * available_bytes():
                    results[model][n] = {"error": f"memory (~{m_pred / 2**30:.0f} GiB)"}
                    continue
            reps = repeat if n <= 16384 else 1
            r = measure(model, n, reps, timeout=max(60.0, 4 * max_seconds * (reps + 1)))
            results[model][n] = r
            last = (n, r)
            status = r.get("error") or (f"{1e6 * r['seconds'] / n:.2f} us/token, "
                                        f"{r['peak_bytes'] / n:.0f} B/token")
            print(f"  {model:<9} N={n:>7,}: {status}", file=sys.stderr, flush=True)
    return results


def print_table(results: dict[str, dict[int, dict]], lengths: list[int]) -> None:
    print(f"\nOne training step, batch 1 (D {D}, {LAYERS} layers, FFN {FFN}): time and peak "
          "memory growth per token")
    head = (f"{'N':>8} | {'wavelet us/tok':>14} {'B/tok':>7} | {'attention us/tok':>16} "
            f"{'B/tok':>7} | {'attn/wavelet time':>17}")
    print(head)
    print("-" * len(head))
    def cells(r: dict, n: int, width: int) -> str:
        if "error" in r:
            return f"{'(' + r['error'] + ')':>{width + 8}}"[: width + 8]
        return f"{1e6 * r['seconds'] / n:{width}.2f} {r['peak_bytes'] / n:7.0f}"

    for n in lengths:
        w, a = results["wavelet"].get(n, {}), results["attention"].get(n, {})
        ratio = (f"{a['seconds'] / w['seconds']:17.2f}" if "seconds" in w and "seconds" in a
                 else f"{'-':>17}")
        print(f"{n:>8,} | {cells(w, n, 14)} | {cells(a, n, 16)} | {ratio}")
    w = results["wavelet"]
    base = 4096 if 4096 in w else min(w)
    longest = max(n for n in w if "seconds" in w[n])
    if "seconds" in w.get(base, {}) and longest != base:
        memory = (f"{(w[longest]['peak_bytes'] / longest) / (w[base]['peak_bytes'] / base):.2f}"
                  if w[base]["peak_bytes"] > 0 else "-")
        print(f"wavelet, N={longest:,} vs N={base:,}: time per token x"
              f"{(w[longest]['seconds'] / longest) / (w[base]['seconds'] / base):.2f}, "
              f"memory per token x{memory}")
    stops = {n: r["error"] for n, r in results["attention"].items() if "error" in r}
    if stops:
        first = min(stops)
        print(f"attention stopped at N={first:,}: {stops[first]}")


def same_tokens(lengths: list[int], tokens: int, repeat: int, rounds: int,
                model: str = "wavelet") -> None:
    """Time per token of ``model``'s steps (``wavelet``: the classifier; ``decoder``: the
    language model) of ``tokens`` tokens at each length: the steps of a training loop
    (:func:`worker` with ``loop``; the first ``repeat`` steps after a warm-up, the fastest
    kept), the lengths in turn for ``rounds`` rounds (the fastest round kept: a machine
    shared with other jobs slows some rounds)."""
    name = {"wavelet": "Wavelet model", "decoder": "Wavelet decoder (language model)"}[model]
    print(f"\n{name}, {tokens:,} tokens per step (batch = tokens / N), steps of a "
          f"training loop, {rounds} round(s) of the lengths in turn")
    runs = [n for n in lengths if tokens % n == 0]
    for n in sorted(set(lengths) - set(runs)):
        print(f"{n:>8,}: {tokens:,} tokens are not a whole number of sequences")
    seconds: dict[int, list[float]] = {n: [] for n in runs}
    faults: dict[int, list[float]] = {n: [] for n in runs}
    errors: dict[int, str] = {}
    for _ in range(rounds):
        for n in runs:
            r = measure(model, n, repeat, timeout=3600, batch=tokens // n, loop=True)
            if "error" in r:
                errors[n] = r["error"]
            else:
                seconds[n].append(r["seconds"])
                faults[n].append(r["faults"])
    print(f"{'N':>8} {'batch':>6} | {'step s':>8} {'us/token':>9} {'vs first':>8} | "
          f"{'faults/step':>11} | rounds (s)")
    first = None
    for n in runs:
        if not seconds[n]:
            print(f"{n:>8,} {tokens // n:>6} | {errors.get(n, '-')}")
            continue
        per = min(seconds[n]) / tokens
        first = first or per
        each = " ".join(f"{t:.2f}" for t in seconds[n])
        print(f"{n:>8,} {tokens // n:>6} | {min(seconds[n]):8.2f} {1e6 * per:9.2f} "
              f"{per / first:8.2f} | {min(faults[n]):11,.0f} | {each}", flush=True)


def plot(results: dict[str, dict[int, dict]], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    styles = {"wavelet": ("wavelet transformer (wavelearn, NumPy)", "o-", "C0"),
              "attention": ("attention (torch SDPA, CPU)", "s--", "C3")}
    for model, (label, style, color) in styles.items():
        ok = sorted(n for n, r in results[model].items() if "seconds" in r)
        if not ok:
            continue
        ns = np.array(ok, dtype=float)
        axes[0].loglog(ns, [1e6 * results[model][n]["seconds"] / n for n in ok], style,
                       color=color, label=label)
        axes[1].loglog(ns, [results[model][n]["peak_bytes"] / n / 1024 for n in ok], style,
                       color=color, label=label)
        stopped = [n for n, r in results[model].items() if "error" in r]
        if stopped:
            axes[0].annotate(f"stops: {results[model][min(stopped)]['error'].split(' ')[0]}",
                             (ns[-1], 1e6 * results[model][ok[-1]]["seconds"] / ok[-1]),
                             textcoords="offset points", xytext=(-40, 8), fontsize=8,
                             color=color)
    low, high = axes[1].get_ylim()
    axes[1].set_ylim(low / 2, high * 2)  # flat lines should look flat
    axes[0].set(xlabel="sequence length N", ylabel="µs per token (training step)")
    axes[1].set(xlabel="sequence length N", ylabel="KiB per token (peak memory)")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    two_five = matplotlib.ticker.FuncFormatter(  # label the minor ticks 2 and 5 only
        lambda v, _: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else "")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(two_five)
        ax.tick_params(axis="y", which="minor", labelsize=7)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"One training step, batch 1 (D {D}, {LAYERS} layers, FFN {FFN})", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N up to 16,384")
    parser.add_argument("--lengths", type=int, nargs="+", help="sequence lengths")
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="skip a step predicted to take longer (default 120)")
    parser.add_argument("--repeat", type=int, default=2, help="timed steps up to N=16,384")
    parser.add_argument("--out", type=Path, help="folder for scaling.json and scaling.png")
    parser.add_argument("--tokens", type=int, metavar="T",
                        help="instead: the wavelet model only, T tokens per step "
                             "(batch T / N), to see that time per token does not grow with N")
    parser.add_argument("--rounds", type=int, default=2,
                        help="with --tokens: rounds of the lengths in turn (default 2)")
    parser.add_argument("--model", choices=("wavelet", "decoder"), default="wavelet",
                        help="with --tokens: the classifier (default) or the decoder, a "
                             "language model whose logits are (batch, N, 256)")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        model, n, repeat, batch, loop = args.worker
        print(json.dumps(worker(model, int(n), int(repeat), int(batch), loop == "1")))
        return
    lengths = args.lengths or (QUICK_LENGTHS if args.quick else LENGTHS)
    if args.tokens:
        same_tokens(lengths, args.tokens, args.repeat, args.rounds, args.model)
        return
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; python "
          f"{platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs "
          "(timings are noisy on a shared machine)")
    results = run(lengths, args.max_seconds, args.repeat)
    print_table(results, lengths)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scaling.json").write_text(json.dumps(
            {m: {str(n): r for n, r in rs.items()} for m, rs in results.items()}, indent=1))
        plot(results, args.out / "scaling.png")
        print(f"wrote {args.out / 'scaling.json'} and {args.out / 'scaling.png'}")


if __name__ == "__main__":
    main()
