"""Evaluation of a run on the test split: the loss and the task's metric.

The task chooses the evaluation batches and the metric
(:meth:`~wavelearn.training.tasks.Task.eval_batches`,
:meth:`~wavelearn.training.tasks.Task.metrics`): a fixed seeded subset of the
test examples and their accuracy, or windows spread over the test text and
the bits per character. Sums run over all processes of a data-parallel run.
"""

from __future__ import annotations

from typing import Any

from wavelearn.backend import asarray


def evaluate(trainer: Any, limit: int | None = None) -> dict[str, float]:
    """Loss and the task's metric on the test split, in eval mode.

    ``limit``: score only that many examples (LM: characters; None: all).
    Draws nothing from any Generator.
    """
    task, model = trainer.task, trainer.model
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    try:
        for batch in task.eval_batches(trainer.data, limit, trainer.config.eval_batch_size,
                                       trainer.dist.share):
            logits, targets = trainer.forward(batch), batch["targets"]
            loss = trainer.criterion(logits, asarray(targets, backend=trainer.backend))
            loss_sum += loss * targets.size
            correct += task.correct(logits, targets)
            count += targets.size
    finally:
        model.train()
    return task.metrics(*trainer.dist.sum([loss_sum, correct, count]))


def final_evaluation(trainer: Any) -> dict[str, float]:
    """The whole test split (reusing the last epoch's numbers when it covered it)."""
    last, metric = (trainer.history[-1] if trainer.history else None), trainer.metric_name
    if last is not None and last["eval_examples"] == trainer.task.test_size(trainer.data):
        return {"loss": last["eval_loss"], metric: last[f"eval_{metric}"],
                "examples": last["eval_examples"]}
    return trainer.evaluate(None)
