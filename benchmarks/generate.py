"""Benchmark: milliseconds per generated token as the context grows, three decoders side by side.

The model (as in issue 15)::

    WaveletDecoder(vocab_size=65, hidden_dim=128, num_layers=4, levels=2)   # db4, float32

one sequence, NumPy, dropout off. For each context length N (default 256, 2k,
8k, 32k, 128k) the run prints the time of one new token (the forward work
behind it, the argmax and the bookkeeping) for:

1. **streaming** -- ``WaveletDecoder.step`` on the state after a real prefill
   of N tokens (fed with ``step`` in chunks of 4,096): the path ``generate``
   uses now. The state is a few ring buffers per block (its bytes are
   printed), so the time should not depend on N.
2. **full forward** -- the path ``generate`` took before: the whole forward
   pass over the N tokens of the context for every new token, O(N) per token.
   Run up to ``--full-max`` (default 32k; at 128k it needs gigabytes of caches).
3. **torch KV cache** -- a standard attention decoder of the same size in
   PyTorch (pre-norm, 4 heads of 32, FFN 512, sinusoidal positions, same
   vocabulary), decoding with a key/value cache: per token, attention over N
   cached keys, O(N) per token. Its cache is filled with random keys and
   values (a real prefill costs O(N^2), hours at 128k on 2 cores; the time of
   a decode step does not depend on the values). ``torch.set_num_threads(1)``.

Each number is the median over ``--tokens`` tokens (streaming, torch) or
``--repeat`` forwards (full forward; fewer beyond 8k, see the table). Before
timing, the run checks that the streamed logits equal the full forward's at
every position of a 256-token sequence (float64 and float32, random weights).
Timings are only printed, never asserted. Run::

    python benchmarks/generate.py                    # full run (about a minute)
    python benchmarks/generate.py --quick            # smoke run: tiny contexts
    python benchmarks/generate.py --contexts 256 8192 --full-max 8192
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import wavelearn  # noqa: E402
from wavelearn.models import WaveletDecoder  # noqa: E402
from wavelearn.nn.positional import sinusoidal_table  # noqa: E402

CONFIG = dict(vocab_size=65, hidden_dim=128, num_layers=4, levels=2, dropout=0.0)
HEADS = 4
CONTEXTS = [256, 2048, 8192, 32768, 131072]
PREFILL_CHUNK = 4096


# ---------------------------------------------------------------------------
# The wavelet decoder: streaming and full-forward paths
# ---------------------------------------------------------------------------


def make_decoder(max_len: int, dtype: str = "float32", perturb: bool = False) -> WaveletDecoder:
    model = WaveletDecoder(**CONFIG, max_sequence_length=max_len, dtype=dtype, seed=0).eval()
    if perturb:  # mixing weights and norms off their identity init: a fair exactness test
        rng = np.random.default_rng(1)
        for name, p in model.named_parameters():
            if "mixing" in name or "ln" in name or "norm" in name:
                p.data = p.data + (0.3 * rng.standard_normal(p.shape)).astype(p.data.dtype)
    return model


def exactness(n: int = 256) -> dict[str, float]:
    """Max |streamed - full| / max(1, |full|) over every position of an ``n``-token
    sequence fed as a prefill of ``n // 2`` then one token at a time."""
    out = {}
    for dtype in ("float64", "float32"):
        model = make_decoder(n, dtype, perturb=True)
        ids = np.random.default_rng(2).integers(0, CONFIG["vocab_size"], (1, n))
        want = model(ids)[0]  # (n, V)
        first, state = model.step(ids[:, : n // 2], model.init_state(1))
        got = [first[0]] + [model.step(ids[:, t], state)[0] for t in range(n // 2, n)]
        got = np.concatenate(got, axis=0)
        out[dtype] = float(np.abs(got - want).max() / max(1.0, np.abs(want).max()))
    return out


def prefill(model: WaveletDecoder, state, ids: np.ndarray) -> None:
    for start in range(0, ids.shape[1], PREFILL_CHUNK):
        model.step(ids[:, start:start + PREFILL_CHUNK], state)


def time_streaming(model: WaveletDecoder, state, tokens: int) -> float:
    """Median seconds of one streamed token: step, then the argmax of its logits."""
    token, times = np.zeros(1, dtype=np.int64), []
    for _ in range(tokens + 2):  # two warm-up tokens
        t0 = time.perf_counter()
        logits, state = model.step(token, state)  # (1, V)
        token = np.argmax(logits, axis=-1)  # (1,)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[2:])


def time_full_forward(model: WaveletDecoder, ids: np.ndarray, repeat: int) -> float:
    """Median seconds of one token the old way: the forward pass over the whole context."""
    times = []
    if repeat > 1:  # a warm-up forward first
        model(ids)
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.argmax(model(ids)[:, -1], axis=-1)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ---------------------------------------------------------------------------
# The yardstick: an attention decoder of the same size with a KV cache
# ---------------------------------------------------------------------------


class KVBlock(nn.Module):
    """Pre-norm attention block: ``x + Attn(LN(x))``, then ``+ FFN(LN(.))``."""

    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn), nn.GELU("tanh"), nn.Linear(ffn, dim))

    def step(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor],
             pos: int) -> torch.Tensor:
        """One token ``x (1, 1, D)`` at ``pos``; ``cache`` K, V ``(1, H, T, D/H)``."""
        B, _, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, 1, 3, self.heads, D // self.heads).unbind(2)
        keys, values = cache
        keys[:, :, pos] = k[:, 0]
        values[:, :, pos] = v[:, 0]
        a = F.scaled_dot_product_attention(q.transpose(1, 2), keys[:, :, : pos + 1],
                                           values[:, :, : pos + 1])  # (1, H, 1, D/H)
        x = x + self.proj(a.transpose(1, 2).reshape(B, 1, D))
        return x + self.ffn(self.ln2(x))


class KVDecoder(nn.Module):
    """Token embedding + sinusoidal positions -> blocks -> LayerNorm -> LM head."""

    def __init__(self, vocab: int, dim: int, layers: int, heads: int, max_len: int) -> None:
        super().__init__()
        self.embed, self.head = nn.Embedding(vocab, dim), nn.Linear(dim, vocab)
        self.register_buffer("pe", torch.tensor(sinusoidal_table(max_len, dim),
                                                dtype=torch.float32))
        self.blocks = nn.ModuleList(KVBlock(dim, heads, 4 * dim) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def new_cache(self, max_len: int, filled: int) -> list:
        """Per block K and V ``(1, H, max_len, D/H)``, random in the first ``filled`` slots."""
        dh = self.pe.shape[1] // HEADS
        gen = torch.Generator().manual_seed(0)
        return [tuple(torch.randn(1, HEADS, max_len, dh, generator=gen) for _ in range(2))
                for _ in self.blocks]

    @torch.no_grad()
    def step(self, token: torch.Tensor, cache: list, pos: int) -> torch.Tensor:
        x = (self.embed(token) + self.pe[pos])[:, None]  # (1, 1, D)
        for block, kv in zip(self.blocks, cache, strict=True):
            x = block.step(x, kv, pos)
        return self.head(self.norm(x))[:, 0]  # (1, V)


def time_kv(model: KVDecoder, context: int, tokens: int) -> float:
    cache = model.new_cache(context + tokens + 2, context)
    token, times = torch.zeros(1, dtype=torch.int64), []
    for i in range(tokens + 2):
        t0 = time.perf_counter()
        token = torch.argmax(model.step(token, cache, context + i), dim=-1)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[2:])


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def fmt(seconds: float | None) -> str:
    return "        --" if seconds is None else f"{1e3 * seconds:10.2f}"


def run(contexts: list[int], tokens: int, full_max: int, repeat: int) -> list[dict]:
    longest = max(contexts) + tokens + 4
    streaming = make_decoder(max(contexts[0], 256))  # a short table: positions go on past it
    full = make_decoder(min(longest, full_max + 4))
    full.load_state_dict(streaming.state_dict())
    kv = KVDecoder(CONFIG["vocab_size"], CONFIG["hidden_dim"], CONFIG["num_layers"], HEADS,
                   longest).eval()
    ids = np.random.default_rng(0).integers(0, CONFIG["vocab_size"], (1, max(contexts)))
    state, fed, rows = streaming.init_state(1), 0, []
    for n in sorted(contexts):
        state.positions[:] = fed  # continue the prefill where the last context stopped
        prefill(streaming, state, ids[:, fed:n])
        fed = n
        row = {"context": n, "state_bytes": state.nbytes,
               "kv_bytes": 2 * CONFIG["num_layers"] * n * CONFIG["hidden_dim"] * 4,
               "stream": time_streaming(streaming, state.copy(), tokens)}
        reps = repeat if n <= 8192 else 1
        row["full"] = time_full_forward(full, ids[:, :n], reps) if n <= full_max else None
        row["full_reps"] = reps
        row["kv"] = time_kv(kv, n, tokens)
        rows.append(row)
        print(f"  context {n} done", file=sys.stderr, flush=True)
    return rows


def report(rows: list[dict], tokens: int) -> None:
    print(f"\nms per new token (streaming and torch: median of {tokens} tokens; full forward:"
          " median of the repeats shown)")
    print(f"{'context':>8s} {'streaming':>10s} {'full fwd':>10s} {'(reps)':>6s} "
          f"{'torch KV':>10s} {'full/stream':>11s} {'KV/stream':>9s} "
          f"{'state bytes':>11s} {'KV cache bytes':>14s}")
    for r in rows:
        ratio = "--" if r["full"] is None else f"{r['full'] / r['stream']:.0f}x"
        reps = "" if r["full"] is None else f"{r['full_reps']}"
        print(f"{r['context']:8d} {fmt(r['stream'])} {fmt(r['full'])} {reps:>6s} "
              f"{fmt(r['kv'])} {ratio:>11s} {r['kv'] / r['stream']:8.1f}x "
              f"{r['state_bytes']:11,d} {r['kv_bytes']:14,d}")
    first, last = rows[0], rows[-1]
    print(f"\nstreaming, context {last['context']} / context {first['context']}: "
          f"{last['stream'] / first['stream']:.2f}x  (goal: <= 1.2x)")
    at_8k = next((r for r in rows if r["context"] == 8192 and r["full"] is not None), None)
    if at_8k is not None:
        print(f"context 8192, full forward / streaming: {at_8k['full'] / at_8k['stream']:.0f}x"
              "  (goal: >= 20x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, nargs="+", default=CONTEXTS)
    parser.add_argument("--tokens", type=int, default=64, help="timed tokens per context")
    parser.add_argument("--repeat", type=int, default=3, help="full forwards up to 8k")
    parser.add_argument("--full-max", type=int, default=32768,
                        help="longest context for the full-forward path")
    parser.add_argument("--quick", action="store_true", help="smoke run: contexts 32, 64")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        args.contexts, args.tokens, args.repeat, args.full_max = [32, 64], 3, 1, 64
    print(f"wavelearn {wavelearn.__version__} (numpy {np.__version__}), torch "
          f"{torch.__version__} (1 thread); python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs")
    print(f"WaveletDecoder({', '.join(f'{k}={v!r}' for k, v in CONFIG.items())}), db4, "
          f"float32, one sequence; torch: {HEADS} heads, FFN {4 * CONFIG['hidden_dim']}")
    errors = exactness(64 if args.quick else 256)
    print("streamed vs full-forward logits, every position, max |diff| / max(1, |logit|): "
          + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    rows = run(sorted(args.contexts), args.tokens, args.full_max, args.repeat)
    report(rows, args.tokens)
    return 0 if math.isfinite(rows[-1]["stream"]) else 1


if __name__ == "__main__":
    sys.exit(main())
