"""The files and lines a run leaves: ``metrics.jsonl``, ``curves.png`` and the final report.

Outputs in ``--out`` (default ``runs/<task>``): ``checkpoint.npz``
(:mod:`wavelearn.training.checkpoints`), ``metrics.jsonl`` (one JSON object per
epoch) and ``curves.png`` (training loss per step, held-out loss and metric
per epoch, the baselines as lines). Every file is replaced atomically
(:func:`wavelearn.nn.serialization.atomic_write`), the checkpoint first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wavelearn.nn.serialization import atomic_write
from wavelearn.training.checkpoints import CHECKPOINT_NAME

METRICS_NAME = "metrics.jsonl"
CURVES_NAME = "curves.png"
OUTPUT_NAMES = (CHECKPOINT_NAME, METRICS_NAME, CURVES_NAME)
"""The files a run writes into its folder."""


def write_outputs(out: Path, trainer: Any) -> None:
    """Checkpoint first (atomic), then the metrics log and the plot."""
    out.mkdir(parents=True, exist_ok=True)
    trainer.save(out / CHECKPOINT_NAME)
    write_metrics(out / METRICS_NAME, trainer.history)
    plot_curves(out / CURVES_NAME, trainer)


def epoch_record(trainer: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
    """The ``metrics.jsonl`` line of the epoch that ends now (``metrics``: its evaluation)."""
    metric, first = trainer.metric_name, trainer.step - trainer.pos
    return {
        "epoch": trainer.epoch + 1, "step": trainer.step,
        "train_loss": float(np.mean(trainer.step_losses[first:trainer.step])),
        "eval_loss": metrics["loss"], f"eval_{metric}": metrics[metric],
        "eval_examples": metrics["examples"], "lr": trainer.opt_decay.lr,
        "train_seconds": round(trainer.train_seconds, 3),
    }


def epoch_line(record: Mapping[str, Any], metric: str) -> str:
    """The log line of an epoch record."""
    return (f"epoch {record['epoch']:3d}  step {record['step']:6d}  "
            f"train loss {record['train_loss']:.4f}  eval loss {record['eval_loss']:.4f}  "
            f"eval {metric} {record[f'eval_{metric}']:.4f}")


def write_metrics(path: Path, history: list[Mapping[str, Any]]) -> None:
    """The per-epoch records as JSON lines (rewritten whole, atomically)."""
    atomic_write(path, lambda f: f.writelines(json.dumps(r) + "\n" for r in history))


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def plot_curves(path: Path, trainer: Any) -> None:
    """A PNG with the training loss per step (and per-epoch eval loss) and the eval metric."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    losses = np.asarray(trainer.step_losses)
    hist, name = trainer.history, trainer.data.name
    metric = trainer.metric_name
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(np.arange(1, losses.size + 1), losses, color="0.75", lw=0.8, label="train (step)")
    if losses.size >= 10:
        width = max(2, losses.size // 50)
        smooth = np.convolve(losses, np.ones(width) / width, mode="valid")
        ax_loss.plot(np.arange(width, losses.size + 1), smooth, color="C0", label="train (mean)")
    ax_loss.plot([r["step"] for r in hist], [r["eval_loss"] for r in hist], "o-", color="C1",
                 label="held-out")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", title=f"{name}: loss")
    ax_loss.legend()
    ax_metric.plot([r["step"] for r in hist], [r[f"eval_{metric}"] for r in hist], "o-",
                   color="C1", label=f"wavelearn ({metric})")
    for i, (baseline, value) in enumerate(trainer.baselines.items()):
        ax_metric.axhline(value, ls="--", color=f"C{i + 2}", label=f"{baseline} {value:.3f}")
    ax_metric.set(xlabel="step", ylabel=metric, title=f"{name}: held-out {metric}")
    ax_metric.legend()
    fig.tight_layout()
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100), binary=True)
    finally:
        plt.close(fig)


def report(trainer: Any) -> str:
    """Lines comparing the final test metric with the baselines."""
    final = trainer.final or {}
    metric = trainer.metric_name
    lines = [f"task {trainer.data.name}: {trainer.num_parameters():,} parameters, "
             f"{trainer.step} steps, {trainer.train_seconds:.1f} s of training",
             f"  wavelearn {type(trainer.model).__name__:<24s} test {metric} "
             f"{final.get(metric, float('nan')):.4f}  (loss {final.get('loss', float('nan')):.4f},"
             f" {final.get('examples', 0)} {trainer.task.unit})"]
    for name, value in trainer.baselines.items():
        lines.append(f"  baseline  {name:<24s} test {metric} {value:.4f}")
    return "\n".join(lines)
