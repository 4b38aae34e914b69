"""Training loop, checkpoints and run outputs behind ``wavelearn train``.

A run is described by two things:

* a :class:`TrainConfig` (task, data options, optimisation, seed), and
* a model config: the arguments of :class:`~wavelearn.models.WaveletTransformer`
  (classification tasks) or :class:`~wavelearn.models.WaveletDecoder` (the
  character LM), as a dict. The task fills in ``vocab_size``,
  ``num_classes`` and ``max_sequence_length``.

:func:`resolve_configs` merges, from weakest to strongest, the per-task
defaults of :data:`TASK_DEFAULTS`, a config file (JSON or YAML, with
``task``, ``model`` and ``training`` sections) and command-line overrides.

:class:`Trainer` runs the hand-written training loop: forward, cross-entropy,
``model.backward``, the backward of the input projection (signal tasks feed
the model ``inputs_embeds = Linear(C, D)(x)`` and back-propagate the
``d inputs_embeds`` that ``model.backward`` returns), gradient clipping,
AdamW (weight decay on the ``Linear`` weights only) and a warm-up + cosine
learning-rate schedule.

**Reproducible and resumable.** Everything random comes from NumPy
Generators: the data order (``data``), the dropout layers and the input
projection's initialisation (seeded from ``seed``). A checkpoint holds the
parameters, the optimizer and schedule state, the current epoch's
permutation and position in it, and the state of *every* Generator, so
``--resume`` ends with bit-identical parameters to a run that was never
stopped. Checkpoints are written atomically (:func:`wavelearn.nn.serialization.save`)
and only after a step or an evaluation has completed, so a failed run never
replaces a checkpoint that is already there. Ctrl-C saves a resumable
checkpoint (the interrupted step is dropped and its random draws rewound) and
raises :class:`TrainingInterrupted`.

Outputs in ``--out`` (default ``runs/<task>``): ``checkpoint.npz``,
``metrics.jsonl`` (one JSON object per epoch) and ``curves.png``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wavelearn import __version__
from wavelearn.backend import asarray, load_backend, to_numpy, use_backend
from wavelearn.nn import serialization
from wavelearn.nn.layers import Linear
from wavelearn.nn.losses import CrossEntropyLoss
from wavelearn.nn.module import Module
from wavelearn.training.optim import AdamW, WarmupCosineSchedule, clip_grad_norm
from wavelearn.training.tasks import (
    TaskData,
    baselines,
    lm_eval_starts,
    lm_windows,
    prepare_task,
    subset_indices,
)

DEFAULT_TASK = "forda"
"""The task of ``wavelearn train`` without arguments (see :data:`TASK_DEFAULTS`)."""

CHECKPOINT_NAME = "checkpoint.npz"
METRICS_NAME = "metrics.jsonl"
CURVES_NAME = "curves.png"
CHECKPOINT_FORMAT = "wavelearn-train-checkpoint"
CHECKPOINT_VERSION = 1

_LM_STEPS_PER_EPOCH = 200

TASK_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    # The default task. FordA: 500 samples cut into 100 patches of 5 (a Linear(5, D)
    # projection); ~8 s per epoch on one CPU core: 12 epochs, data, baselines and
    # evaluations in about 2.5 minutes, test accuracy ~0.87 (logistic regression 0.50).
    "forda": {
        "model": {"hidden_dim": 64, "num_layers": 2, "wavelet": "db4", "levels": 3,
                  "mixing_mode": "pointwise", "dropout": 0.1},
        "training": {"epochs": 12, "batch_size": 32, "lr": 3e-3, "patch_size": 5},
    },
    "ecg5000": {
        "model": {"hidden_dim": 64, "num_layers": 2, "levels": 3, "dropout": 0.1},
        "training": {"epochs": 30, "batch_size": 32, "lr": 3e-3, "patch_size": 2},
    },
    # 8 rows of 8 pixels: 0.98 test accuracy in ~45 s (logistic regression 0.96).
    "digits": {
        "model": {"hidden_dim": 64, "num_layers": 2, "levels": 3, "dropout": 0.1,
                  "positional_encoding_type": "learned"},
        "training": {"epochs": 60, "batch_size": 32, "lr": 3e-3, "image_layout": "rows"},
    },
    "mnist": {
        "model": {"hidden_dim": 64, "num_layers": 2, "levels": 3, "dropout": 0.1,
                  "positional_encoding_type": "learned"},
        "training": {"epochs": 15, "batch_size": 32, "lr": 3e-3, "image_layout": "rows"},
    },
    # Texts cut to multiples of 16 tokens (keeping their ending) in length-sorted batches:
    # a batch holds a length or two, so the exact mask runs the mixing once or twice
    # (~2x the steps per second of random batches). 180 s of training on 1 core:
    # test accuracy ~0.84 (bag-of-words logistic regression 0.86).
    "imdb": {
        "model": {"hidden_dim": 64, "num_layers": 2, "levels": 3, "dropout": 0.1},
        "training": {"epochs": 3, "batch_size": 32, "lr": 3e-3, "max_seq_len": 256,
                     "length_multiple": 16, "bucket_batches": 50},
    },
    "rotten_tomatoes": {
        "model": {"hidden_dim": 64, "num_layers": 2, "levels": 2, "dropout": 0.1},
        "training": {"epochs": 5, "batch_size": 32, "lr": 2e-3},
    },
    # The LM: Haar bands separate the last few characters exactly (a_1 - d_1 is the
    # previous one), 'channel' mixing combines them across features, and random
    # training windows make absolute positions meaningless (no positional encoding).
    # About 0.5 s per step on 2 CPU cores: 1200 steps in ~10 minutes.
    "shakespeare": {
        "model": {"hidden_dim": 128, "num_layers": 4, "wavelet": "haar", "levels": 3,
                  "mixing_mode": "channel", "use_positional_encoding": False, "dropout": 0.0},
        "training": {"steps": 1200, "batch_size": 32, "lr": 3e-3, "max_seq_len": 128},
    },
}
"""Per-task defaults: ``{'model': {...}, 'training': {...}}`` (sized for a laptop CPU)."""


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt or incompatible with the run."""


class TrainingInterrupted(Exception):  # noqa: N818 (it is not an error: the user asked)
    """Training was stopped by Ctrl-C; a resumable checkpoint was written to ``path``."""

    def __init__(self, path: Path, step: int) -> None:
        super().__init__(f"interrupted at step {step}; resumable checkpoint in {path}")
        self.path, self.step = path, step


# --------------------------------------------------------------------------- configs


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Options of one training run (everything but the model and the backend).

    Attributes:
        task: a :data:`wavelearn.training.datasets.TASKS` key.
        epochs: passes over the training set (LM: blocks of ``steps_per_epoch``
            steps); used when ``steps`` is None.
        steps: total optimizer steps (overrides ``epochs``).
        batch_size, lr, weight_decay: AdamW settings (decay on Linear weights only).
        warmup_fraction, min_lr_ratio: the warm-up + cosine schedule.
        grad_clip: global gradient-norm limit (None: no clipping).
        seed: seeds the model, the projection, dropout and the data order.
        max_seq_len: model sequence length (default: the task's own; after
            patching for signals; the window length for the LM).
        patch_size: signal tasks: consecutive samples per time step (features).
        image_layout: 'pixels' or 'rows' for the image tasks.
        vocab_size: word vocabulary size of the text tasks.
        limit_train, limit_test: use only a seeded subset of this many examples
            of each split (the LM: the first characters).
        steps_per_epoch: LM only: steps between evaluations (default 200).
        eval_limit: examples (LM: characters) scored by the per-epoch
            evaluations (a fixed seeded subset; LM: windows spread over the
            test text); the final evaluation uses the whole test split.
        eval_batch_size: batch size of evaluations.
        compute_baselines: compute the simple baselines at the start.
        length_multiple: text tasks: cut each text to a multiple of this many
            tokens, keeping its ending (:func:`wavelearn.training.tasks.round_lengths_down`;
            1: texts stay whole).
        bucket_batches: text tasks: form the batches of each run of this many
            batches from examples sorted by length, then shuffle the batches
            (0: random batches). With ``length_multiple`` a batch then holds a
            length or two, and the masked model runs its mixing once per length.
    """

    task: str = DEFAULT_TASK
    epochs: int | None = None
    steps: int | None = None
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    seed: int = 0
    max_seq_len: int | None = None
    patch_size: int = 1
    image_layout: str = "pixels"
    vocab_size: int = 20_000
    limit_train: int | None = None
    limit_test: int | None = None
    steps_per_epoch: int | None = None
    eval_limit: int | None = None
    eval_batch_size: int = 128
    compute_baselines: bool = True
    length_multiple: int = 1
    bucket_batches: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.bucket_batches, bool) or not isinstance(self.bucket_batches, int) \
                or self.bucket_batches < 0:
            raise ValueError(f"training.bucket_batches must be an int >= 0 (0: off), "
                             f"got {self.bucket_batches!r}")
        positive = ["batch_size", "patch_size", "vocab_size", "eval_batch_size",
                    "length_multiple"]
        optional_positive = ["epochs", "steps", "max_seq_len", "limit_train", "limit_test",
                             "steps_per_epoch", "eval_limit"]
        for name in positive + optional_positive:
            value = getattr(self, name)
            if value is None and name in optional_positive:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"training.{name} must be a positive int, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"training.lr must be a positive number, got {self.lr!r}")
        if not 0.0 <= self.warmup_fraction < 1.0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError("training.warmup_fraction must be in [0, 1) and "
                             "training.min_lr_ratio in [0, 1]")
        if self.image_layout not in ("pixels", "rows"):
            raise ValueError(f"training.image_layout must be 'pixels' or 'rows', "
                             f"got {self.image_layout!r}")

    def to_dict(self) -> dict[str, Any]:
        """``{field: value}``, JSON-ready."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys raise ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown training options {unknown}; allowed: {sorted(names)}")
        return cls(**dict(data))


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A run config file (``.json``, ``.yaml`` or ``.yml``) -> ``{'task', 'model', 'training'}``.

    The file holds a mapping with any of the keys ``task`` (a name),
    ``model`` (model arguments) and ``training`` (:class:`TrainConfig` fields).
    YAML is read with PyYAML when installed, else with a small built-in reader
    of block mappings and plain scalars (all that such a file needs).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = json.loads(text)
    elif suffix in (".yaml", ".yml"):
        data = _load_yaml(text)
    else:
        raise ValueError(f"config file {str(path)!r}: use a .json, .yaml or .yml file")
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping")
    unknown = sorted(set(data) - {"task", "model", "training"})
    if unknown:
        raise ValueError(f"config file {str(path)!r}: unknown sections {unknown}; "
                         "use 'task', 'model' and 'training'")
    for section in ("model", "training"):
        if not isinstance(data.get(section, {}), dict):
            raise ValueError(f"config file {str(path)!r}: {section!r} must be a mapping")
    return data


def _load_yaml(text: str) -> Any:
    """Parse YAML with PyYAML if available, else with :func:`_parse_simple_yaml`.

    Strings that read as numbers become numbers (PyYAML, following YAML 1.1,
    keeps ``3e-4`` a string).
    """
    try:
        import yaml
    except ImportError:
        return _parse_simple_yaml(text)
    return _numbers_from_strings(yaml.safe_load(text))


def _numbers_from_strings(value: Any) -> Any:
    """``value`` with numeric strings (also inside dicts) turned into floats."""
    if isinstance(value, dict):
        return {k: _numbers_from_strings(v) for k, v in value.items()}
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _parse_simple_yaml(text: str) -> dict[str, Any]:
    """Block mappings nested by indentation, ``key: scalar`` lines and ``#`` comments."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip() or line.strip() == "---":
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, sep, value = line.strip().partition(":")
        if not sep or not key:
            raise ValueError(f"YAML line {number}: expected 'key: value', got {raw!r}")
        while indent <= stack[-1][0]:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[key.strip()] = _yaml_scalar(value.strip())
        else:
            parent[key.strip()] = child = {}
            stack.append((indent, child))
    return root


def _yaml_scalar(token: str) -> Any:
    """A plain YAML scalar: null, bool, int, float or (quoted) string."""
    if token[0] in "'\"" and token[-1] == token[0]:
        return token[1:-1]
    lowered = token.lower()
    if lowered in ("null", "~", "none"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(token)
        except ValueError:
            pass
    return token


def resolve_configs(
    task: str | None = None,
    config_file: str | os.PathLike | None = None,
    training_overrides: Mapping[str, Any] | None = None,
    model_overrides: Mapping[str, Any] | None = None,
) -> tuple[TrainConfig, dict[str, Any]]:
    """Merge task defaults < config file < overrides -> (TrainConfig, model options).

    ``None`` values in the overrides are ignored (an option not given).
    """
    file = read_config_file(config_file) if config_file else {}
    task = task or file.get("task") or DEFAULT_TASK
    if task not in TASK_DEFAULTS:
        raise ValueError(f"unknown task {task!r}; choose from {sorted(TASK_DEFAULTS)}")
    training = {**TASK_DEFAULTS[task]["training"], **file.get("training", {})}
    training.update({k: v for k, v in (training_overrides or {}).items() if v is not None})
    training["task"] = task
    model = {**TASK_DEFAULTS[task]["model"], **file.get("model", {})}
    model.update({k: v for k, v in (model_overrides or {}).items() if v is not None})
    if "epochs" not in training and "steps" not in training:
        training["epochs"] = 1
    return TrainConfig.from_dict(training), model


# --------------------------------------------------------------------------- models


def model_class(kind: str) -> type[Module]:
    """The model class of a task kind: WaveletDecoder for 'lm', else WaveletTransformer."""
    from wavelearn.models import WaveletDecoder, WaveletTransformer

    return WaveletDecoder if kind == "lm" else WaveletTransformer


def full_model_config(data: TaskData, model: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The model options completed from the task: sizes, head and seed.

    Raises ValueError (naming the keys) when ``model`` sets something the task
    decides: ``vocab_size``, ``num_classes``, ``output_type``.
    """
    fixed = sorted({"vocab_size", "num_classes", "output_type"} & set(model))
    if fixed:
        raise ValueError(f"model options {fixed} are set by the task, not by the config")
    config = {"max_sequence_length": data.seq_len, "seed": seed, **model}
    if data.kind == "lm":
        config["vocab_size"] = data.vocab_size
    else:
        config.update(vocab_size=data.vocab_size, num_classes=data.num_classes,
                      output_type="classification")
    if config["max_sequence_length"] < data.seq_len:
        raise ValueError(f"model max_sequence_length {config['max_sequence_length']} is "
                         f"shorter than the task's sequences ({data.seq_len})")
    cls = model_class(data.kind)
    return cls.config_class.from_dict(config).to_dict()


def iter_modules(module: Module) -> Iterator[Module]:
    """``module`` and every module below it."""
    yield module
    for _, child in module.named_children():
        yield from iter_modules(child)


def _generators(prefix: str, module: Module) -> dict[str, np.random.Generator]:
    """Every NumPy Generator held by ``module`` or its submodules, by dotted name."""
    found: dict[str, np.random.Generator] = {}
    for path, m in _named_modules(prefix, module):
        for attr, value in vars(m).items():
            if isinstance(value, np.random.Generator):
                found[f"{path}.{attr}"] = value
    return found


def _named_modules(prefix: str, module: Module) -> Iterator[tuple[str, Module]]:
    yield prefix, module
    for name, child in module.named_children():
        yield from _named_modules(f"{prefix}.{name}", child)


# --------------------------------------------------------------------------- the trainer


def classification_batch(data: TaskData, split: str, index: np.ndarray) -> dict[str, np.ndarray]:
    """Examples ``index`` of a split; text batches are cut to their longest real row."""
    x = (data.train_x if split == "train" else data.test_x)[index]
    y = (data.train_y if split == "train" else data.test_y)[index]
    if data.input_type == "signal":
        return {"signal": x, "targets": y}
    mask = (data.train_mask if split == "train" else data.test_mask)[index]
    width = max(1, int(mask.sum(axis=1).max()))
    return {"input_ids": x[:, :width], "attention_mask": mask[:, :width], "targets": y}


def bucketed_order(perm: np.ndarray, lengths: np.ndarray, batch_size: int, chunk: int,
                   rng: np.random.Generator) -> np.ndarray:
    """An epoch's example order whose batches hold texts of similar lengths.

    ``perm`` (a random order) is cut into runs of ``chunk`` batches; each run
    is sorted by length (stable) and cut into batches, and the order of all
    the full batches is shuffled. Examples after the last full batch keep
    their place at the end. Every example still appears exactly once.
    """
    full = perm.size // batch_size * batch_size
    runs = [perm[i:min(i + chunk * batch_size, full)] for i in range(0, full, chunk * batch_size)]
    ordered = np.concatenate([run[np.argsort(lengths[run], kind="stable")] for run in runs]
                             or [perm[:0]])
    batches = ordered.reshape(-1, batch_size)  # (full // B, B)
    return np.concatenate([batches[rng.permutation(len(batches))].reshape(-1), perm[full:]])


class Trainer:
    """One training run: task data, model, optimizer, schedule, counters and history.

    Build it with :meth:`create` (a new run) or :meth:`from_checkpoint` (resume
    or evaluate); run it with :meth:`fit`.
    """

    def __init__(self, config: TrainConfig, model_config: Mapping[str, Any], data: TaskData,
                 backend: str = "numpy") -> None:
        self.config, self.data, self.backend = config, data, backend
        self.model_config = full_model_config(data, model_config, config.seed)
        load_backend(backend)  # fails early with a clear message
        with use_backend(backend):
            self.model = model_class(data.kind)(**self.model_config)
            self.proj = (Linear(data.in_features, self.model.hidden_dim,
                                rng=np.random.default_rng([config.seed, 7]))
                         if data.input_type == "signal" else None)
        self.criterion = CrossEntropyLoss()
        self.params = self.model.parameters() + ([] if self.proj is None
                                                 else self.proj.parameters())
        self._build_optimizers()
        self.data_rng = np.random.default_rng([config.seed, 11])
        self.step = self.epoch = self.pos = 0
        self.perm = np.arange(0, dtype=np.int64)
        self.step_losses: list[float] = []
        self.history: list[dict[str, Any]] = []
        self.baselines: dict[str, float] = {}
        self.final: dict[str, float] | None = None
        self.train_seconds = 0.0
        self._snapshot: dict[str, Any] | None = None
        self.dist: Any = None  # a wavelearn.training.distributed.DataParallel, see distribute()

    # -- construction ---------------------------------------------------------------

    @classmethod
    def create(cls, config: TrainConfig, model: Mapping[str, Any],
               backend: str = "numpy") -> Trainer:
        """A new run: prepares the task data (fitting a tokenizer) and builds the model."""
        return cls(config, model, prepare_data(config), backend)

    def _build_optimizers(self) -> None:
        """AdamW with decay on Linear weights, one without decay for the rest, one schedule."""
        modules = list(iter_modules(self.model)) + ([self.proj] if self.proj else [])
        decayed = {id(m.weight) for m in modules if isinstance(m, Linear)}
        c = self.config
        self.opt_decay = AdamW([p for p in self.params if id(p) in decayed], lr=c.lr,
                               weight_decay=c.weight_decay)
        self.opt_plain = AdamW([p for p in self.params if id(p) not in decayed], lr=c.lr,
                               weight_decay=0.0)
        total = self.total_steps
        self.schedule = WarmupCosineSchedule(self.opt_decay, round(c.warmup_fraction * total),
                                             total, c.min_lr_ratio)
        self.opt_plain.lr = self.opt_decay.lr

    @property
    def steps_per_epoch(self) -> int:
        """Steps of one epoch: a pass over the training set (LM: ``steps_per_epoch``)."""
        if self.data.kind == "lm":
            return self.config.steps_per_epoch or _LM_STEPS_PER_EPOCH
        return max(1, self.data.num_train // self.config.batch_size)

    @property
    def total_steps(self) -> int:
        """Steps of the whole run: ``steps``, else ``epochs * steps_per_epoch``."""
        return self.config.steps or (self.config.epochs or 1) * self.steps_per_epoch

    def distribute(self, group: Any) -> None:
        """Train data-parallel in ``group`` (:class:`wavelearn.training.distributed.DataParallel`).

        Rank 0's parameters are copied to every rank; ranks > 0 get their own
        dropout streams. Each step then trains on this rank's shard of the
        global batch and averages the gradients over the ranks.
        """
        if self.config.batch_size % group.world_size:
            raise ValueError(f"--batch-size {self.config.batch_size} does not split evenly "
                             f"over {group.world_size} processes; use a multiple of "
                             f"{group.world_size}")
        group.broadcast_parameters(self.params)
        group.decorrelate({k: g for k, g in self.generators().items() if k != "data"})
        self.dist = group

    # -- batches --------------------------------------------------------------------

    def next_batch(self) -> dict[str, np.ndarray]:
        """The next training batch as NumPy arrays (draws from ``data_rng``).

        :meth:`fit` closes each epoch (evaluation, checkpoint) before asking for
        the next batch; a caller that drives :meth:`train_step` itself gets the
        next epoch started here.
        """
        bs = self.config.batch_size
        if self.pos >= self.steps_per_epoch:
            self.epoch, self.pos = self.epoch + 1, 0
        if self.data.kind == "lm":
            high = self.data.train_x.size - self.data.seq_len
            starts = self.data_rng.integers(0, high, size=bs)
            inputs, targets = lm_windows(self.data.train_x, starts, self.data.seq_len)
            return {"input_ids": inputs, "targets": targets}
        if self.pos == 0:
            self.perm = self.data_rng.permutation(self.data.num_train)
            if self.config.bucket_batches and self.data.train_mask is not None:
                self.perm = bucketed_order(self.perm, self.data.train_mask.sum(axis=1), bs,
                                           self.config.bucket_batches, self.data_rng)
        index = self.perm[self.pos * bs:(self.pos + 1) * bs]
        return self._classification_batch("train", index)

    def _classification_batch(self, split: str, index: np.ndarray) -> dict[str, np.ndarray]:
        return classification_batch(self.data, split, index)

    # -- forward / backward ----------------------------------------------------------

    def _to_backend(self, array: np.ndarray) -> Any:
        return asarray(array, backend=self.backend)

    def forward(self, batch: Mapping[str, np.ndarray]) -> Any:
        """Logits of a batch (signal batches go through the input projection)."""
        if "signal" in batch:
            embeds = self.proj(self._to_backend(batch["signal"]))
            return self.model(inputs_embeds=embeds)
        mask = batch.get("attention_mask")
        return self.model(input_ids=self._to_backend(batch["input_ids"]),
                          attention_mask=None if mask is None else self._to_backend(mask))

    def train_step(self, batch: Mapping[str, np.ndarray]) -> float:
        """One optimizer step on ``batch``; returns its loss (before the update)."""
        self.model.train()
        for p in self.params:
            p.grad = None
        if self.dist is not None:
            batch = self.dist.shard(batch)
        logits = self.forward(batch)
        loss = self.criterion(logits, self._to_backend(batch["targets"]))
        d_embeds = self.model.backward(self.criterion.backward())
        if self.proj is not None:
            self.proj.backward(d_embeds)
        if self.dist is not None:
            loss = self.dist.average_gradients(self.params, loss)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the training loss is {loss} at step {self.step + 1}; "
                                     "try a lower --lr")
        if self.config.grad_clip is not None:
            clip_grad_norm(self.params, self.config.grad_clip)
        with _deferred_sigint():  # the update and the counters change together or not at all
            self.opt_decay.step()
            self.opt_plain.step()
            self.schedule.step()
            self.opt_plain.lr = self.opt_decay.lr
            self.step += 1
            self.pos += 1
            self.step_losses.append(loss)
            self._snapshot = None  # the step is complete: nothing to rewind
        return loss

    # -- evaluation -----------------------------------------------------------------

    def evaluate(self, limit: int | None = None) -> dict[str, float]:
        """Loss and accuracy (LM: bits per character) on the test split, in eval mode.

        ``limit``: score only the first ``limit`` examples (LM: characters).
        Draws nothing from any Generator.
        """
        self.model.eval()
        try:
            if self.data.kind == "lm":
                return self._evaluate_lm(limit)
            return self._evaluate_classification(limit)
        finally:
            self.model.train()

    def _evaluate_classification(self, limit: int | None) -> dict[str, float]:
        chosen = self._my_share(subset_indices(self.data.test_x.shape[0], limit))  # fixed
        n, total_loss, correct = chosen.size, 0.0, 0
        for start in range(0, n, self.config.eval_batch_size):
            index = chosen[start:start + self.config.eval_batch_size]
            batch = self._classification_batch("test", index)
            logits = self.forward(batch)
            total_loss += self.criterion(logits, self._to_backend(batch["targets"])) * index.size
            correct += int(np.sum(to_numpy(logits).argmax(axis=-1) == batch["targets"]))
        total_loss, correct, n = self._sum_over_ranks(total_loss, correct, n)
        return {"loss": total_loss / n, "accuracy": correct / n, "examples": int(n)}

    def _evaluate_lm(self, limit: int | None) -> dict[str, float]:
        length = self.data.seq_len
        starts = self._my_share(lm_eval_starts(self.data.test_x.size, length, limit))
        total, count = 0.0, starts.size * length
        for i in range(0, starts.size, self.config.eval_batch_size):
            chunk = starts[i:i + self.config.eval_batch_size]
            inputs, targets = lm_windows(self.data.test_x, chunk, length)
            logits = self.forward({"input_ids": inputs})
            total += self.criterion(logits, self._to_backend(targets)) * targets.size
        total, count = self._sum_over_ranks(total, count)
        loss = total / count
        return {"loss": loss, "bpc": loss / math.log(2.0), "examples": int(count)}

    def _my_share(self, items: np.ndarray) -> np.ndarray:
        """The evaluation items of this rank (all of them in a single process)."""
        return items if self.dist is None else items[self.dist.rank::self.dist.world_size]

    def _sum_over_ranks(self, *values: float) -> tuple[float, ...]:
        return values if self.dist is None else tuple(self.dist.sum(values))

    @property
    def metric_name(self) -> str:
        """'accuracy' (higher is better) or 'bpc' (bits per character, lower is better)."""
        return "bpc" if self.data.kind == "lm" else "accuracy"

    def _epoch_eval_limit(self) -> int | None:
        """Per-epoch evaluations score at most this many test examples."""
        if self.config.eval_limit is not None:
            return self.config.eval_limit
        return 100_000 if self.data.kind == "lm" else 2_000

    # -- the loop -------------------------------------------------------------------

    def fit(self, out_dir: str | os.PathLike | None = None, progress: bool = True,
            callback: Callable[[Trainer], None] | None = None) -> dict[str, float]:
        """Train to ``total_steps``, evaluating and checkpointing after every epoch.

        ``callback(trainer)`` runs after every step (tests use it to simulate
        Ctrl-C). Returns the final test metrics. On KeyboardInterrupt the last
        completed step is saved to ``out_dir`` and :class:`TrainingInterrupted`
        is raised.
        """
        from tqdm.auto import tqdm

        out = None if out_dir is None or not self.is_main else Path(out_dir)  # rank 0 writes
        if self.config.compute_baselines and not self.baselines and self.is_main:
            self.baselines = baselines(self.data)
        bar = tqdm(total=self.total_steps, initial=self.step, unit="step",
                   disable=not (progress and self.is_main),
                   desc=f"train {self.data.name}", dynamic_ncols=True, leave=True)
        try:
            self._loop(out, bar, callback)
            if self.final is None:
                self.final = self._final_evaluation()
                self._save_outputs(out)
            self._check_replicas()
        except KeyboardInterrupt:
            self._rewind_interrupted_step()
            bar.close()
            if out is None:
                raise
            out.mkdir(parents=True, exist_ok=True)
            self.save(out / CHECKPOINT_NAME, interrupted=True)
            raise TrainingInterrupted(out / CHECKPOINT_NAME, self.step) from None
        finally:
            bar.close()
        return self.final

    @property
    def is_main(self) -> bool:
        """Whether this process reports and writes (always, unless data-parallel rank > 0)."""
        return self.dist is None or self.dist.is_main

    def _check_replicas(self) -> None:
        """Data-parallel runs end with the same parameters on every rank, bit for bit."""
        if self.dist is not None:
            worst = self.dist.max_replica_difference(self.params)
            if worst != 0.0:
                raise RuntimeError(f"the {self.dist.world_size} replicas ended with different "
                                   f"parameters (max difference {worst:.3g}); this is a bug")

    def _loop(self, out: Path | None, bar: Any, callback: Callable | None) -> None:
        total, per_epoch = self.total_steps, self.steps_per_epoch
        while True:
            if self.pos == per_epoch or (self.step == total and self.pos > 0):
                self._end_epoch(out, log_line=bar.write if self.is_main else _quiet)
            if self.step >= total:
                return
            self._snapshot = self._rng_states()
            started = time.perf_counter()
            batch = self.next_batch()
            loss = self.train_step(batch)
            elapsed = time.perf_counter() - started
            self.train_seconds += elapsed
            tokens = math.prod(batch["targets"].shape[:1] + _inputs(batch).shape[1:2])
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.opt_decay.lr:.2e}",
                            tok_s=f"{tokens / max(elapsed, 1e-9):,.0f}")
            if callback is not None:
                callback(self)

    def _end_epoch(self, out: Path | None, log_line: Callable[[str], None] = print) -> None:
        """Evaluate, log the epoch, save the checkpoint and the curves."""
        metrics = self.evaluate(self._epoch_eval_limit())
        first = self.step - self.pos
        record = {
            "epoch": self.epoch + 1, "step": self.step,
            "train_loss": float(np.mean(self.step_losses[first:self.step])),
            "eval_loss": metrics["loss"], f"eval_{self.metric_name}": metrics[self.metric_name],
            "eval_examples": metrics["examples"], "lr": self.opt_decay.lr,
            "train_seconds": round(self.train_seconds, 3),
        }
        self.history.append(record)
        self.epoch += 1
        self.pos = 0
        log_line(f"epoch {record['epoch']:3d}  step {self.step:6d}  "
                 f"train loss {record['train_loss']:.4f}  eval loss {metrics['loss']:.4f}  "
                 f"eval {self.metric_name} {metrics[self.metric_name]:.4f}")
        self._save_outputs(out)

    def _final_evaluation(self) -> dict[str, float]:
        """The whole test split (reusing the last epoch's numbers when it covered it)."""
        last = self.history[-1] if self.history else None
        if last is not None and last["eval_examples"] == self._test_size():
            return {"loss": last["eval_loss"], self.metric_name: last[f"eval_{self.metric_name}"],
                    "examples": last["eval_examples"]}
        return self.evaluate(None)

    def _test_size(self) -> int:
        if self.data.kind == "lm":
            return int(lm_eval_starts(self.data.test_x.size, self.data.seq_len, None).size
                       * self.data.seq_len)
        return int(self.data.test_x.shape[0])

    def _save_outputs(self, out: Path | None) -> None:
        """Checkpoint first (atomic), then the metrics log and the plot."""
        if out is None:
            return
        out.mkdir(parents=True, exist_ok=True)
        self.save(out / CHECKPOINT_NAME)
        write_metrics(out / METRICS_NAME, self.history)
        plot_curves(out / CURVES_NAME, self)

    # -- random state ---------------------------------------------------------------

    def generators(self) -> dict[str, np.random.Generator]:
        """Every Generator of the run: ``'data'``, dropout layers (``'model....rng'``), ..."""
        found = {"data": self.data_rng, **_generators("model", self.model)}
        if self.proj is not None:
            found.update(_generators("proj", self.proj))
        return found

    def _rng_states(self) -> dict[str, Any]:
        return {name: copy.deepcopy(g.bit_generator.state)
                for name, g in self.generators().items()}

    def _set_rng_states(self, states: Mapping[str, Any]) -> None:
        gens = self.generators()
        if set(states) != set(gens):
            raise CheckpointError(f"the checkpoint's random generators {sorted(states)} do not "
                                  f"match the model's {sorted(gens)}")
        for name, state in states.items():
            gens[name].bit_generator.state = copy.deepcopy(state)

    def _rewind_interrupted_step(self) -> None:
        """Undo the random draws of a step that Ctrl-C stopped before its update."""
        if self._snapshot is not None:
            self._set_rng_states(self._snapshot)
            self._snapshot = None

    # -- checkpoints ----------------------------------------------------------------

    def state_arrays(self) -> dict[str, Any]:
        """Every array of the run state, with prefixed names, for the checkpoint."""
        arrays: dict[str, Any] = {}
        parts: list[tuple[str, Any]] = [("model", self.model), ("opt_decay", self.opt_decay),
                                        ("opt_plain", self.opt_plain), ("sched", self.schedule)]
        if self.proj is not None:
            parts.append(("proj", self.proj))
        for prefix, part in parts:
            arrays.update({f"{prefix}.{k}": v for k, v in part.state_dict().items()})
        arrays["data.perm"] = self.perm
        arrays["curve.loss"] = np.asarray(self.step_losses, dtype=np.float64)
        return arrays

    def metadata(self, interrupted: bool = False) -> dict[str, Any]:
        """The JSON part of the checkpoint: configs, tokenizer, counters, Generators, logs."""
        tokenizer = self.data.tokenizer
        return {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "wavelearn_version": __version__, "task": self.data.name, "kind": self.data.kind,
            "model_class": type(self.model).__name__, "model_config": self.model_config,
            "train_config": self.config.to_dict(), "backend": self.backend,
            "tokenizer": None if tokenizer is None else tokenizer.to_dict(),
            "in_features": self.data.in_features, "seq_len": self.data.seq_len,
            "step": self.step, "epoch": self.epoch, "pos": self.pos,
            "total_steps": self.total_steps, "rng": self._rng_states(),
            "history": self.history, "baselines": self.baselines, "final": self.final,
            "interrupted": interrupted, "train_seconds": self.train_seconds,
            "num_parameters": self.num_parameters(),
            "processes": 1 if self.dist is None else self.dist.world_size,
        }

    def num_parameters(self) -> int:
        """Trainable scalars of the model and the input projection."""
        return sum(math.prod(p.shape) for p in self.params)

    def save(self, path: str | os.PathLike, interrupted: bool = False) -> None:
        """Write the checkpoint atomically (a failure leaves an old file untouched)."""
        serialization.save(self.state_arrays(), path, self.metadata(interrupted))

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, backend: str | None = None,
                        load_train: bool = True) -> Trainer:
        """Rebuild a run from a checkpoint (same data, tokenizer, model and state).

        Raises:
            CheckpointError: missing, truncated, corrupt or incompatible file.
        """
        arrays, meta = read_checkpoint(path)
        try:
            config = TrainConfig.from_dict(meta["train_config"])
            data = prepare_data(config, tokenizer_state=meta["tokenizer"], load_train=load_train)
            trainer = cls(config, _user_model_options(meta), data, backend or meta["backend"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint {str(path)!r} is incompatible with this version "
                                  f"of wavelearn ({type(e).__name__}: {e})") from e
        try:
            trainer.load_state(arrays, meta, path)
        except KeyError as e:
            raise CheckpointError(f"checkpoint {str(path)!r} lacks the entry {e}") from e
        return trainer

    def load_state(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                   path: str | os.PathLike) -> None:
        """Restore the run state from checkpoint contents (see :meth:`state_arrays`)."""
        if meta["model_config"] != self.model_config or meta["kind"] != self.data.kind:
            raise CheckpointError(f"checkpoint {str(path)!r} holds a different architecture: "
                                  f"{_config_diff(meta['model_config'], self.model_config)}")
        parts: list[tuple[str, Any]] = [("model", self.model), ("opt_decay", self.opt_decay),
                                        ("opt_plain", self.opt_plain), ("sched", self.schedule)]
        if self.proj is not None:
            parts.append(("proj", self.proj))
        known = {"data.perm", "curve.loss"}
        try:
            for prefix, part in parts:
                sub = {k[len(prefix) + 1:]: v for k, v in arrays.items()
                       if k.startswith(prefix + ".")}
                known.update(f"{prefix}.{k}" for k in sub)
                part.load_state_dict(sub)
            unexpected = sorted(set(arrays) - known)
            if unexpected:
                raise ValueError(f"unexpected arrays {unexpected}")
            self.perm = np.asarray(arrays["data.perm"], dtype=np.int64)
            self.step_losses = [float(v) for v in arrays["curve.loss"]]
            self._set_rng_states(meta["rng"])
            self.step, self.epoch = int(meta["step"]), int(meta["epoch"])
            self.pos = int(meta["pos"])
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"checkpoint {str(path)!r} does not fit the model it "
                                  f"describes: {e}") from e
        self.opt_plain.lr = self.opt_decay.lr
        self.history = list(meta["history"])
        self.baselines = dict(meta["baselines"])
        self.final = meta["final"]
        self.train_seconds = float(meta.get("train_seconds", 0.0))


def _quiet(line: str) -> None:
    """Where the log lines of ranks > 0 go."""


def _inputs(batch: Mapping[str, np.ndarray]) -> np.ndarray:
    """The model input of a batch: the signal or the token ids."""
    return batch["signal"] if "signal" in batch else batch["input_ids"]


def prepare_data(config: TrainConfig, tokenizer_state: dict | None = None,
             load_train: bool = True) -> TaskData:
    """The task data of ``config`` (``load_train=False``: test split only)."""
    return prepare_task(
        config.task, max_seq_len=config.max_seq_len,
        limit_train=config.limit_train if load_train else 0, limit_test=config.limit_test,
        tokenizer_state=tokenizer_state, vocab_size=config.vocab_size,
        image_layout=config.image_layout, patch_size=config.patch_size,
        length_multiple=config.length_multiple)


def _user_model_options(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The model options of a checkpoint without the fields the task fills in."""
    return {k: v for k, v in meta["model_config"].items()
            if k not in ("vocab_size", "num_classes", "output_type")}


def _config_diff(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    """``'key: saved -> wanted, ...'`` for the keys whose values differ."""
    keys = sorted(set(saved) | set(wanted))
    diffs = [f"{k}: {saved.get(k)!r} in the checkpoint, {wanted.get(k)!r} here"
             for k in keys if saved.get(k) != wanted.get(k)]
    return "; ".join(diffs) or "(no field differs)"


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and metadata of a training checkpoint, checked for format and version.

    Raises:
        CheckpointError: no file, a truncated or corrupt file, or not a
            wavelearn training checkpoint of a version this code can read.
    """
    try:
        arrays, meta = serialization.load(path)
    except FileNotFoundError as e:
        raise CheckpointError(f"no checkpoint at {str(path)!r}") from e
    except ValueError as e:
        raise CheckpointError(str(e)) from e
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a wavelearn training checkpoint "
                              "(no 'format' entry in its metadata)")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{str(path)!r} is a version {meta.get('version')} checkpoint; "
                              f"this wavelearn reads version {CHECKPOINT_VERSION}")
    return arrays, meta


def check_resume_compatible(meta: Mapping[str, Any], training: Mapping[str, Any],
                            model: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Raise CheckpointError when explicitly requested options differ from the checkpoint's."""
    diffs = []
    for section, requested in (("training", training), ("model", model)):
        saved = meta.get(f"{'train' if section == 'training' else 'model'}_config") or {}
        for name, value in requested.items():
            if value is not None and saved.get(name) != value:
                diffs.append(f"{section}.{name}: {saved.get(name)!r} in the checkpoint, "
                             f"{value!r} requested")
    if diffs:
        raise CheckpointError(f"cannot resume from {str(path)!r}, it is incompatible with the "
                              f"requested options: {'; '.join(diffs)} (drop those options, "
                              "or start a new run in another --out)")


@contextlib.contextmanager
def _deferred_sigint() -> Iterator[None]:
    """Hold back Ctrl-C inside the block; raise KeyboardInterrupt after it if one came.

    Only in the main thread (the only one that receives signals).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


# --------------------------------------------------------------------------- outputs


def _atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Write ``path`` through a temporary file in its folder and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_metrics(path: Path, history: list[Mapping[str, Any]]) -> None:
    """The per-epoch records as JSON lines (rewritten whole, atomically)."""
    _atomic_write(path, lambda f: f.writelines(json.dumps(r) + "\n" for r in history))


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def plot_curves(path: Path, trainer: Trainer) -> None:
    """A PNG with the training loss per step (and per-epoch eval loss) and the eval metric."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    losses = np.asarray(trainer.step_losses)
    hist = trainer.history
    metric = trainer.metric_name
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(np.arange(1, losses.size + 1), losses, color="0.75", lw=0.8, label="train (step)")
    if losses.size >= 10:
        width = max(2, losses.size // 50)
        smooth = np.convolve(losses, np.ones(width) / width, mode="valid")
        ax_loss.plot(np.arange(width, losses.size + 1), smooth, color="C0", label="train (mean)")
    ax_loss.plot([r["step"] for r in hist], [r["eval_loss"] for r in hist], "o-", color="C1",
                 label="held-out")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", title=f"{trainer.data.name}: loss")
    ax_loss.legend()
    ax_metric.plot([r["step"] for r in hist], [r[f"eval_{metric}"] for r in hist], "o-",
                   color="C1", label=f"wavelearn ({metric})")
    for i, (name, value) in enumerate(trainer.baselines.items()):
        ax_metric.axhline(value, ls="--", color=f"C{i + 2}", label=f"{name} {value:.3f}")
    ax_metric.set(xlabel="step", ylabel=metric, title=f"{trainer.data.name}: held-out {metric}")
    ax_metric.legend()
    fig.tight_layout()
    try:
        _atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100), binary=True)
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- runs


def report(trainer: Trainer) -> str:
    """Lines comparing the final test metric with the baselines."""
    final = trainer.final or {}
    metric = trainer.metric_name
    lines = [f"task {trainer.data.name}: {trainer.num_parameters():,} parameters, "
             f"{trainer.step} steps, {trainer.train_seconds:.1f} s of training",
             f"  wavelearn {type(trainer.model).__name__:<24s} test {metric} "
             f"{final.get(metric, float('nan')):.4f}  (loss {final.get('loss', float('nan')):.4f},"
             f" {final.get('examples', 0)} {'characters' if metric == 'bpc' else 'examples'})"]
    for name, value in trainer.baselines.items():
        lines.append(f"  baseline  {name:<24s} test {metric} {value:.4f}")
    return "\n".join(lines)


def generate_text(trainer: Trainer, prompt: str, max_new_tokens: int = 200,
                  temperature: float = 0.8, top_k: int | None = None,
                  seed: int | None = 0,
                  on_text: Callable[[str], None] | None = None) -> str:
    """Sample a continuation of ``prompt`` from a trained character LM.

    :meth:`~wavelearn.models.WaveletDecoder.generate` (streaming: constant cost
    per character; softmax of ``logits / temperature``, optionally restricted
    to the ``top_k`` largest; ``temperature=0`` is greedy), except that
    ``<pad>`` and ``<unk>`` are never sampled, so the continuation is always
    printable text. ``on_text`` receives the prompt, then each new character
    as soon as it is drawn.
    """
    if trainer.data.kind != "lm":
        raise ValueError(f"generate needs a language-model checkpoint; this one is a "
                         f"{trainer.data.name} classifier")
    if temperature < 0 or max_new_tokens < 0:
        raise ValueError("temperature and max_new_tokens must be >= 0")
    tokenizer, model = trainer.data.tokenizer, trainer.model
    ids = np.asarray(tokenizer.encode(prompt or "\n"), dtype=np.int64)[None, :]  # (1, n)
    if on_text is not None:
        on_text(tokenizer.decode(ids[0]))
    hook = None if on_text is None else (lambda tokens: on_text(tokenizer.decode(tokens)))
    top_k = None if top_k is None else min(top_k, model.vocab_size)
    out = model.generate(asarray(ids, backend=trainer.backend), max_new_tokens, temperature,
                         top_k, seed, on_token=hook, exclude_ids=(0, 1))
    return tokenizer.decode(to_numpy(out)[0])
