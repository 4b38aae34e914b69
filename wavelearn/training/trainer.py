"""The training loop behind ``wavelearn train``: :class:`Trainer`.

Each step: forward, cross-entropy, ``model.backward``, the backward of the
input projection (signal tasks feed the model ``inputs_embeds = Linear(C, D)(x)``
and back-propagate the ``d inputs_embeds`` that ``model.backward`` returns),
gradient clipping, AdamW (weight decay on the ``Linear`` weights only, a second
AdamW without decay for the rest) and one warm-up + cosine schedule that sets
the learning rate of both.

What depends on the task (the model class and head, batches, evaluation,
metric, baselines) is asked of its :class:`~wavelearn.training.tasks.Task`;
configs come from :mod:`~wavelearn.training.config`, checkpoints are
:mod:`~wavelearn.training.checkpoints`, files :mod:`~wavelearn.training.outputs`.

**Reproducible and resumable.** Everything random comes from NumPy
Generators: the data order (``data``), the dropout layers and the input
projection's initialisation (seeded from ``seed``). A checkpoint holds all of
their states, so ``--resume`` ends with bit-identical parameters to a run that
was never stopped. Checkpoints are written only after a step or an evaluation
has completed, so a failed run never replaces a checkpoint that is already
there. Ctrl-C or SIGTERM saves a resumable checkpoint (the interrupted step is
dropped and its random draws rewound) and raises :class:`TrainingInterrupted`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wavelearn.backend import asarray, load_backend, use_backend
from wavelearn.nn import serialization
from wavelearn.nn.layers import Linear
from wavelearn.nn.losses import CrossEntropyLoss
from wavelearn.training import checkpoints as ckpt
from wavelearn.training.config import TrainConfig
from wavelearn.training.distributed import SingleProcess
from wavelearn.training.evaluation import evaluate, final_evaluation
from wavelearn.training.interrupts import (
    TrainingInterrupted,
    deferred_interrupts,
    signal_number,
    sigterm_as_interrupt,
)
from wavelearn.training.optim import WarmupCosineSchedule, clip_grad_norm, decoupled_adamw
from wavelearn.training.outputs import epoch_line, epoch_record, write_outputs
from wavelearn.training.tasks import TaskData, get_task


class Trainer:
    """One training run: task data, model, optimizers, schedule, counters and history.

    Build it with :meth:`create` (a new run) or :meth:`from_checkpoint` (resume
    or evaluate); run it with :meth:`fit`.
    """

    def __init__(self, config: TrainConfig, model_config: Mapping[str, Any], data: TaskData,
                 backend: str = "numpy") -> None:
        self.config, self.data, self.backend = config, data, backend
        self.task = get_task(data.name)
        self.model_config = self.task.model_config(data, model_config, config.seed)
        load_backend(backend)  # fails early with a clear message
        with use_backend(backend):
            self.model, self.proj = self.task.build_models(data, self.model_config, config.seed)
        self.criterion = CrossEntropyLoss()
        self.params = [p for m in (self.model, self.proj) if m is not None for p in m.parameters()]
        linears = [m for m in (*self.model.modules(), self.proj) if isinstance(m, Linear)]
        self.opt_decay, self.opt_plain = decoupled_adamw(  # decay on Linear weights only
            self.params, [m.weight for m in linears], config.lr, config.weight_decay)
        self.schedule = WarmupCosineSchedule(
            [self.opt_decay, self.opt_plain], round(config.warmup_fraction * self.total_steps),
            self.total_steps, config.min_lr_ratio)
        self.data_rng = np.random.default_rng([config.seed, 11])
        self.step = self.epoch = self.pos = 0
        self.perm = np.arange(0, dtype=np.int64)
        self.step_losses: list[float] = []
        self.history: list[dict[str, Any]] = []
        self.baselines: dict[str, float] = {}
        self.final: dict[str, float] | None = None
        self.train_seconds = 0.0
        self._snapshot: dict[str, Any] | None = None
        self.dist: Any = SingleProcess()  # or a distributed.DataParallel, see distribute()

    @classmethod
    def create(cls, config: TrainConfig, model: Mapping[str, Any],
               backend: str = "numpy") -> Trainer:
        """A new run: prepares the task data (fitting a tokenizer) and builds the model."""
        return cls(config, model, get_task(config.task).data_for(config), backend)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, backend: str | None = None,
                        load_train: bool = True) -> Trainer:
        """Rebuild a run from a checkpoint (:func:`.checkpoints.restore_run`)."""
        return ckpt.restore_run(cls, path, backend, load_train)

    @property
    def steps_per_epoch(self) -> int:
        """Steps of one epoch: a pass over the training set (LM: ``steps_per_epoch``)."""
        return self.task.steps_per_epoch(self.data, self.config)

    @property
    def total_steps(self) -> int:
        """Steps of the whole run: ``steps``, else ``epochs * steps_per_epoch``."""
        return self.config.steps or (self.config.epochs or 1) * self.steps_per_epoch

    @property
    def metric_name(self) -> str:
        """The task's metric: 'accuracy' (higher is better) or 'bpc' (lower is better)."""
        return self.task.metric

    def num_parameters(self) -> int:
        """Trainable scalars of the model and the input projection."""
        return sum(math.prod(p.shape) for p in self.params)

    def distribute(self, group: Any) -> None:
        """Train data-parallel in ``group`` (:meth:`.distributed.DataParallel.join`)."""
        group.join(self.params, self.generators(), self.config.batch_size)
        self.dist = group

    def next_batch(self) -> dict[str, np.ndarray]:
        """The next training batch as NumPy arrays (draws from ``data_rng``); a caller
        that drives :meth:`train_step` itself gets the next epoch started here."""
        if self.pos >= self.steps_per_epoch:
            self.epoch, self.pos = self.epoch + 1, 0
        if self.pos == 0:
            self.perm = self.task.epoch_order(self.data, self.config, self.data_rng, self.perm)
        return self.task.train_batch(self.data, self.perm, self.pos, self.config.batch_size,
                                     self.data_rng)

    def forward(self, batch: Mapping[str, np.ndarray]) -> Any:
        """Logits of a batch (signal batches go through the input projection)."""
        if "signal" in batch:
            return self.model(inputs_embeds=self.proj(self._to_backend(batch["signal"])))
        mask = batch.get("attention_mask")
        return self.model(input_ids=self._to_backend(batch["input_ids"]),
                          attention_mask=None if mask is None else self._to_backend(mask))

    def _to_backend(self, array: np.ndarray) -> Any:
        return asarray(array, backend=self.backend)

    def train_step(self, batch: Mapping[str, np.ndarray]) -> float:
        """One optimizer step on ``batch``; returns its loss (before the update)."""
        self.model.train()
        for p in self.params:
            p.grad = None
        batch = self.dist.shard(batch)
        loss = self.criterion(self.forward(batch), self._to_backend(batch["targets"]))
        d_embeds = self.model.backward(self.criterion.backward())
        if self.proj is not None:
            self.proj.backward(d_embeds)
        loss = self.dist.average_gradients(self.params, loss)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the training loss is {loss} at step {self.step + 1}; "
                                     "try a lower --lr")
        if self.config.grad_clip is not None:
            clip_grad_norm(self.params, self.config.grad_clip)
        with deferred_interrupts():  # the update and the counters change together or not at all
            for optimizer in (self.opt_decay, self.opt_plain, self.schedule):
                optimizer.step()
            self.step += 1
            self.pos += 1
            self.step_losses.append(loss)
            self._snapshot = None  # the step is complete: nothing to rewind
        return loss

    def evaluate(self, limit: int | None = None) -> dict[str, float]:
        """Loss and the task's metric on the test split (:func:`.evaluation.evaluate`)."""
        return evaluate(self, limit)

    def fit(self, out_dir: str | os.PathLike | None = None, progress: bool = True,
            callback: Callable[[Trainer], None] | None = None) -> dict[str, float]:
        """Train to ``total_steps``, evaluating and checkpointing after every epoch.

        ``callback(trainer)`` runs after every step. Returns the final test metrics.
        On Ctrl-C or SIGTERM the last completed step is saved to ``out_dir`` and
        :class:`TrainingInterrupted` is raised (without ``out_dir``: the KeyboardInterrupt).
        """
        from tqdm.auto import tqdm

        out = None if out_dir is None or not self.dist.is_main else Path(out_dir)  # rank 0 writes
        bar = tqdm(total=self.total_steps, initial=self.step, unit="step",
                   disable=not (progress and self.dist.is_main),
                   desc=f"train {self.data.name}", dynamic_ncols=True, leave=True)
        try:
            with sigterm_as_interrupt():
                if self.config.compute_baselines and not self.baselines and self.dist.is_main:
                    self.baselines = self.task.baselines(self.data)
                self._loop(out, bar, callback)
                if self.final is None:
                    self.final = final_evaluation(self)
                    if out is not None:
                        write_outputs(out, self)
            self.dist.check_replicas(self.params)
        except KeyboardInterrupt as e:
            if self._snapshot is not None:  # undo the random draws of an unfinished step
                ckpt.set_rng_states(self.generators(), self._snapshot)
            bar.close()
            if out is None:
                raise
            out.mkdir(parents=True, exist_ok=True)
            self.save(out / ckpt.CHECKPOINT_NAME, interrupted=True)
            raise TrainingInterrupted(out / ckpt.CHECKPOINT_NAME, self.step,
                                      signal_number(e)) from None
        finally:
            bar.close()
        return self.final

    def _loop(self, out: Path | None, bar: Any, callback: Callable | None) -> None:
        while True:
            if self.pos == self.steps_per_epoch or (self.step == self.total_steps
                                                    and self.pos > 0):
                self._end_epoch(out, bar.write if self.dist.is_main else lambda line: None)
            if self.step >= self.total_steps:
                return
            self._snapshot = ckpt.rng_states(self.generators())
            started = time.perf_counter()
            batch = self.next_batch()
            loss = self.train_step(batch)
            elapsed = time.perf_counter() - started
            self.train_seconds += elapsed
            tokens = math.prod((batch["signal"] if "signal" in batch else batch["input_ids"])
                               .shape[:2])
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.opt_decay.lr:.2e}",
                            tok_s=f"{tokens / max(elapsed, 1e-9):,.0f}")
            if callback is not None:
                callback(self)

    def _end_epoch(self, out: Path | None, log_line: Callable[[str], None] = print) -> None:
        """Evaluate, log the epoch, save the checkpoint and the curves."""
        record = epoch_record(self, self.evaluate(self.config.eval_limit or self.task.eval_limit))
        self.history.append(record)
        self.epoch, self.pos = self.epoch + 1, 0
        log_line(epoch_line(record, self.metric_name))
        if out is not None:
            write_outputs(out, self)

    def generators(self) -> dict[str, np.random.Generator]:
        """Every Generator of the run: ``'data'``, dropout layers (``'model....rng'``), ..."""
        return ckpt.run_generators(self)

    def state_arrays(self) -> dict[str, Any]:
        """Every array of the run state, with prefixed names (:mod:`.checkpoints`)."""
        return ckpt.state_arrays(self)

    def save(self, path: str | os.PathLike, interrupted: bool = False) -> None:
        """Write the checkpoint atomically (a failure leaves an old file untouched)."""
        serialization.save(self.state_arrays(), path, ckpt.metadata(self, interrupted))
