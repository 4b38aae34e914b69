"""Benchmark: wavelearn's wavelet transformer against a same-size attention transformer.

For each task it trains, on the same prepared data and with the same wall-clock
budget, side by side:

* **wavelearn**: :class:`~wavelearn.models.WaveletTransformer` (the LM:
  :class:`~wavelearn.models.WaveletDecoder`) with the task's defaults from
  ``wavelearn.training.tasks.TASK_DEFAULTS``, trained by
  :class:`wavelearn.training.trainer.Trainer`
  (NumPy backend, hand-written backward passes);
* **attention**: a PyTorch ``nn.TransformerEncoder`` with the same hidden size,
  number of layers, FFN width, dropout, pre-norm blocks, GELU, positional
  encoding, pooling and head (causal mask for the LM), trained by torch
  autograd with the same optimizer (AdamW), schedule (warm-up + cosine),
  gradient clipping, batch size and batch order;
* **baseline**: the task's simple baseline from :meth:`wavelearn.training.tasks.Task.baselines`
  (majority class and NumPy logistic regression; a character 5-gram for the LM).

Both models are given ``--budget-seconds`` of training (evaluation not
counted): a few probe steps estimate how many steps fit, the learning-rate
schedule is laid out for that many, and training stops at the budget in any
case. It prints the test accuracy (bits per character for the LM), the number
of parameters, the steps done and the wall time per task, then a table of
time per training step against sequence length.

Run::

    python benchmarks/train.py                            # forda, imdb, shakespeare
    python benchmarks/train.py --tasks forda --budget-seconds 120
    python benchmarks/train.py --quick                    # a smoke run (about a minute)

Timings depend on the machine and on what else runs on it; they are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from wavelearn.training import batches as wbatches  # noqa: E402
from wavelearn.training import config as wconfig  # noqa: E402
from wavelearn.training import tasks  # noqa: E402
from wavelearn.training import trainer as wt  # noqa: E402

DEFAULT_TASKS = ("forda", "imdb", "shakespeare")
DEFAULT_BUDGETS = {"shakespeare": 600.0}
"""Seconds of training per model (others: ``--budget-seconds``, default 180)."""

LM_EVAL_CHARS = 100_000
"""Held-out characters scored for the LM (the same windows for both models)."""

SEQ_LENGTHS = (256, 512, 1024, 2048, 4096)
TOKENS_PER_BATCH = 8192


@dataclasses.dataclass
class Result:
    """One model's line of the table."""

    task: str
    model: str
    metric_name: str
    metric: float
    params: int | None
    steps: int | None
    seconds: float


# --------------------------------------------------------------------------- data


def prepare(task: str, quick: bool) -> tuple[wconfig.TrainConfig, dict[str, Any], tasks.TaskData]:
    """The task's default run config and data (small slices with ``quick``)."""
    limits = {}
    if quick:
        limits = ({"limit_train": 200_000, "limit_test": 20_000} if task == "shakespeare"
                  else {"limit_train": 512, "limit_test": 256})
    config, model = wconfig.resolve_configs(task, None, {"compute_baselines": False, **limits})
    return config, model, tasks.get_task(config.task).data_for(config)


def batches(data: tasks.TaskData, config: wconfig.TrainConfig) -> Iterator[dict[str, np.ndarray]]:
    """Training batches (NumPy) for the torch model, in the trainer's order: shuffled
    epochs (length-bucketed as the config says) / random LM windows."""
    batch_size, rng = config.batch_size, np.random.default_rng([config.seed, 11])
    while True:
        if data.kind == "lm":
            starts = rng.integers(0, data.train_x.size - data.seq_len, size=batch_size)
            inputs, targets = wbatches.lm_windows(data.train_x, starts, data.seq_len)
            yield {"input_ids": inputs, "targets": targets}
            continue
        perm = rng.permutation(data.num_train)
        if config.bucket_batches and data.train_mask is not None:
            perm = wbatches.bucketed_order(perm, data.train_mask.sum(axis=1), batch_size,
                                           config.bucket_batches, rng)
        for i in range(max(1, data.num_train // batch_size)):
            index = perm[i * batch_size:(i + 1) * batch_size]
            yield wbatches.classification_batch(data, "train", index)


# --------------------------------------------------------------------------- wavelearn


def run_wavelearn(config: wconfig.TrainConfig, model: dict[str, Any], data: tasks.TaskData,
                  budget: float) -> Result:
    """Train a wavelearn model for ``budget`` seconds; evaluate on the test split."""
    probe = wt.Trainer(dataclasses.replace(config, steps=10**6), model, data)
    per_step = _time_steps(lambda: probe.train_step(probe.next_batch()))
    steps = max(1, int(budget / per_step))
    trainer = wt.Trainer(dataclasses.replace(config, steps=steps), model, data)
    start = time.perf_counter()
    while trainer.step < steps and time.perf_counter() - start < budget:
        trainer.train_step(trainer.next_batch())
    seconds = time.perf_counter() - start
    limit = LM_EVAL_CHARS if data.kind == "lm" else None
    metrics = trainer.evaluate(limit)
    name = type(trainer.model).__name__
    return Result(data.name, f"wavelearn {name}", trainer.metric_name,
                  metrics[trainer.metric_name], trainer.num_parameters(), trainer.step, seconds)


def _time_steps(step: Any, count: int = 4) -> float:
    """Seconds per call of ``step``: the median of ``count`` calls after one warm-up."""
    step()
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


# --------------------------------------------------------------------------- torch


def build_torch_model(data: tasks.TaskData, model_config: dict[str, Any]) -> Any:
    """The attention transformer matching a wavelearn model config (see module docstring)."""
    import torch
    from torch import nn

    d = model_config["hidden_dim"]
    ffn = model_config.get("ffn_hidden_dim") or 4 * d
    heads = 4 if d % 4 == 0 and d >= 64 else 1
    causal = data.kind == "lm"
    learned = model_config.get("positional_encoding_type") == "learned"

    class AttentionTransformer(nn.Module):
        """Embedding/projection + positions -> pre-norm encoder -> LayerNorm -> head."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = (nn.Linear(data.in_features, d) if data.input_type == "signal"
                          else nn.Embedding(data.vocab_size, d))
            if learned:
                self.pos = nn.Parameter(torch.randn(data.seq_len, d) * 0.02)
            else:
                self.register_buffer("pos", torch.as_tensor(_sinusoidal(data.seq_len, d)))
            layer = nn.TransformerEncoderLayer(d, heads, ffn, model_config.get("dropout", 0.1),
                                               activation="gelu", batch_first=True,
                                               norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, model_config["num_layers"],
                                                 enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.drop = nn.Dropout(model_config.get("dropout", 0.1))
            self.head = nn.Linear(d, data.vocab_size if causal else data.num_classes)

        def forward(self, x: Any, mask: Any = None) -> Any:
            n = x.shape[1]
            h = self.drop(self.embed(x) + self.pos[:n])
            if causal:
                attn = nn.Transformer.generate_square_subsequent_mask(n)
                return self.head(self.norm(self.encoder(h, mask=attn, is_causal=True)))
            pad = None if mask is None else mask == 0
            h = self.norm(self.encoder(h, src_key_padding_mask=pad))
            if mask is None:
                return self.head(h.mean(dim=1))
            w = mask.to(h.dtype)
            return self.head((h * w[:, :, None]).sum(dim=1) / w.sum(dim=1, keepdim=True))

    torch.manual_seed(0)
    return AttentionTransformer()


def _sinusoidal(n: int, d: int) -> np.ndarray:
    """The sinusoidal position table (as wavelearn's default), float32 ``(n, d)``."""
    freq = 10000.0 ** (-np.arange(0, d, 2) / d)
    angles = np.arange(n)[:, None] * freq[None, :]
    table = np.zeros((n, d))
    table[:, 0::2], table[:, 1::2] = np.sin(angles), np.cos(angles[:, : d // 2])
    return table.astype(np.float32)


def _torch_inputs(batch: dict[str, np.ndarray]) -> tuple[Any, Any]:
    import torch

    if "signal" in batch:
        return torch.as_tensor(batch["signal"]), None
    mask = batch.get("attention_mask")
    return torch.as_tensor(batch["input_ids"]), None if mask is None else torch.as_tensor(mask)


def run_torch(config: wconfig.TrainConfig, model_config: dict[str, Any], data: tasks.TaskData,
              budget: float) -> Result:
    """Train the attention transformer for ``budget`` seconds; evaluate on the test split."""
    import torch

    net = build_torch_model(data, model_config)
    stream = batches(data, config)

    def step(optimizer: Any, schedule: Any) -> None:
        batch = next(stream)
        x, mask = _torch_inputs(batch)
        logits = net(x, mask)
        targets = torch.as_tensor(batch["targets"])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip or 1e9)
        optimizer.step()
        schedule.step()

    probe_opt, probe_sched = _torch_optimizer(net, config, 10**6)
    per_step = _time_steps(lambda: step(probe_opt, probe_sched))
    steps = max(1, int(budget / per_step))
    net = build_torch_model(data, model_config)  # start again from the initial weights
    stream = batches(data, config)
    optimizer, schedule = _torch_optimizer(net, config, steps)
    net.train()
    start, done = time.perf_counter(), 0
    while done < steps and time.perf_counter() - start < budget:
        step(optimizer, schedule)
        done += 1
    seconds = time.perf_counter() - start
    metric_name, metric = evaluate_torch(net, data, config.eval_batch_size)
    params = sum(p.numel() for p in net.parameters())
    return Result(data.name, "attention nn.TransformerEncoder", metric_name, metric, params,
                  done, seconds)


def _torch_optimizer(net: Any, config: wconfig.TrainConfig, steps: int) -> tuple[Any, Any]:
    """AdamW (decay on matrices only) and the warm-up + cosine schedule of the Trainer."""
    import torch

    decay = [p for p in net.parameters() if p.ndim >= 2]
    plain = [p for p in net.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": plain, "weight_decay": 0.0}], lr=config.lr)
    warmup = round(config.warmup_fraction * steps)

    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        progress = min(1.0, (s - warmup) / max(1, steps - warmup))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(
            math.pi * progress))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def evaluate_torch(net: Any, data: tasks.TaskData, batch_size: int) -> tuple[str, float]:
    """Test accuracy, or bits per character over the LM's evaluation windows."""
    import torch

    net.eval()
    with torch.no_grad():
        if data.kind == "lm":
            starts = wbatches.lm_eval_starts(data.test_x.size, data.seq_len, LM_EVAL_CHARS)
            total = 0.0
            for i in range(0, starts.size, batch_size):
                inputs, targets = wbatches.lm_windows(data.test_x, starts[i:i + batch_size],
                                                   data.seq_len)
                logits = net(torch.as_tensor(inputs))
                total += float(torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), torch.as_tensor(targets).reshape(-1),
                    reduction="sum"))
            return "bpc", total / (starts.size * data.seq_len) / math.log(2.0)
        correct = 0
        for i in range(0, data.test_x.shape[0], batch_size):
            index = np.arange(i, min(i + batch_size, data.test_x.shape[0]))
            batch = wbatches.classification_batch(data, "test", index)
            logits = net(*_torch_inputs(batch))
            correct += int((logits.argmax(dim=-1).numpy() == batch["targets"]).sum())
        return "accuracy", correct / data.test_x.shape[0]


# --------------------------------------------------------------------------- step time vs length


def step_times(lengths: tuple[int, ...], hidden: int = 64, layers: int = 2) -> list[dict]:
    """Seconds per training step (forward + backward) at each sequence length, for
    wavelearn (NumPy and torch backends) and the attention transformer, at
    ``TOKENS_PER_BATCH`` tokens per batch."""
    import torch

    from wavelearn.backend import asarray, use_backend
    from wavelearn.models import WaveletTransformer
    from wavelearn.nn import CrossEntropyLoss

    rows = []
    for n in lengths:
        b = max(1, TOKENS_PER_BATCH // n)
        ids = np.random.default_rng(0).integers(2, 1000, (b, n))
        y = np.zeros(b, dtype=np.int64)
        row = {"seq_len": n, "batch": b}
        for backend in ("numpy", "torch"):
            with use_backend(backend):
                model = WaveletTransformer(1000, hidden, layers, n, num_classes=2, dropout=0.0)
            loss = CrossEntropyLoss()
            x, t = asarray(ids, backend=backend), asarray(y, backend=backend)

            def wl_step(model: Any = model, loss: Any = loss, x: Any = x, t: Any = t) -> None:
                model.zero_grad()
                loss(model(input_ids=x), t)
                model.backward(loss.backward())

            row[f"wavelearn_{backend}"] = _time_steps(wl_step, 2)
        data = tasks.TaskData("speed", "classification", "tokens", n, ids, ids,
                              num_classes=2, tokenizer=_FakeTokenizer())
        net = build_torch_model(data, {"hidden_dim": hidden, "num_layers": layers,
                                       "dropout": 0.0})
        xt, yt = torch.as_tensor(ids), torch.as_tensor(y)

        def torch_step(net: Any = net, xt: Any = xt, yt: Any = yt) -> None:
            net.zero_grad()
            torch.nn.functional.cross_entropy(net(xt), yt).backward()

        row["attention_torch"] = _time_steps(torch_step, 2)
        rows.append(row)
        print(f"  N={n:5d} B={b:3d}  wavelearn numpy {row['wavelearn_numpy'] * 1e3:8.1f} ms  "
              f"wavelearn torch {row['wavelearn_torch'] * 1e3:8.1f} ms  "
              f"attention torch {row['attention_torch'] * 1e3:8.1f} ms", flush=True)
    return rows


class _FakeTokenizer:
    vocab_size = 1000


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS),
                        help=f"comma-separated tasks (default {','.join(DEFAULT_TASKS)})")
    parser.add_argument("--budget-seconds", type=float, default=None,
                        help="training seconds per model (default 180; shakespeare 600)")
    parser.add_argument("--quick", action="store_true",
                        help="small data slices and 10 s budgets: a smoke run")
    parser.add_argument("--seq-lengths", default=",".join(map(str, SEQ_LENGTHS)),
                        help="lengths of the step-time table ('' to skip it)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of NumPy's BLAS and of torch, the same for both "
                             "models (default 1; 0: the libraries' defaults)")
    args = parser.parse_args(argv)
    import torch

    from wavelearn.cli import set_threads

    set_threads(args.threads)

    print(f"python {platform.python_version()}, numpy {np.__version__}, torch "
          f"{torch.__version__}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    results: list[Result] = []
    for task in [t for t in args.tasks.split(",") if t]:
        budget = 10.0 if args.quick else (args.budget_seconds
                                           or DEFAULT_BUDGETS.get(task, 180.0))
        results += run_task(task, budget, args.quick)
    print_table(results)
    lengths = tuple(int(n) for n in args.seq_lengths.split(",") if n)
    if args.quick:
        lengths = tuple(n for n in lengths if n <= 1024)
    speed = []
    if lengths:
        print(f"\ntime per training step, {TOKENS_PER_BATCH} tokens per batch, hidden 64, "
              "2 layers (forward + backward):")
        speed = step_times(lengths)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"results": [dataclasses.asdict(r) for r in results],
                       "step_times": speed}, f, indent=2)
    return 0


def run_task(task: str, budget: float, quick: bool) -> list[Result]:
    """The three lines of one task."""
    print(f"\n== {task}: preparing data", flush=True)
    t0 = time.perf_counter()
    config, model, data = prepare(task, quick)
    print(f"   {data.num_train} training examples/characters, sequence length {data.seq_len} "
          f"({time.perf_counter() - t0:.1f} s); budget {budget:.0f} s per model", flush=True)
    out = []
    t0 = time.perf_counter()
    for name, value in tasks.get_task(data.name).baselines(data).items():
        metric = "bpc" if data.kind == "lm" else "accuracy"
        out.append(Result(task, f"baseline {name}", metric, value, None, None,
                          time.perf_counter() - t0))
    print(f"   baselines: {[(r.model, round(r.metric, 4)) for r in out]}", flush=True)
    for runner in (run_wavelearn, run_torch):
        result = runner(config, model, data, budget)
        print(f"   {result.model}: {result.metric_name} {result.metric:.4f}, "
              f"{result.steps} steps in {result.seconds:.0f} s", flush=True)
        out.append(result)
    return out


def print_table(results: list[Result]) -> None:
    """The results as a fixed-width table."""
    print(f"\n{'task':<12s} {'model':<34s} {'params':>10s} {'steps':>7s} {'train s':>8s}  metric")
    for r in results:
        params = f"{r.params:,}" if r.params is not None else "-"
        steps = str(r.steps) if r.steps is not None else "-"
        print(f"{r.task:<12s} {r.model:<34s} {params:>10s} {steps:>7s} {r.seconds:8.1f}  "
              f"{r.metric_name} {r.metric:.4f}")


if __name__ == "__main__":
    sys.exit(main())
