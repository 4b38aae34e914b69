"""The configuration of a training run: :class:`TrainConfig`, config files, and their merge.

A run is described by two things:

* a :class:`TrainConfig` (task, data options, optimisation, seed), and
* a model config: the arguments of :class:`~wavelearn.models.WaveletTransformer`
  (classification tasks) or :class:`~wavelearn.models.WaveletDecoder` (the
  character LM), as a dict. The task fills in ``vocab_size``,
  ``num_classes`` and ``max_sequence_length``.

:func:`resolve_configs` merges, from weakest to strongest, the task's defaults
(:data:`wavelearn.training.tasks.TASK_DEFAULTS`), a config file (JSON or YAML,
with ``task``, ``model`` and ``training`` sections, read by
:func:`read_config_file`) and command-line overrides, and checks every field
before any data is loaded. Every problem raises
:class:`~wavelearn.models.ConfigError` with a one-line message
``<where>: <field>: <problem>``: ``run.yaml: training.lr: must be a number > 0, got 'abc'``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from wavelearn.models.config import ConfigError
from wavelearn.training.datasets import DEFAULT_VOCAB_SIZE
from wavelearn.training.preprocessing import check_image_layout
from wavelearn.training.tasks import TASK_MODEL_OPTIONS, Task, get_task

DEFAULT_TASK = "forda"
"""The task of ``wavelearn train`` without arguments."""

SECTIONS = ("task", "model", "training")
"""The keys of a run config file."""

# --------------------------------------------------------------------------- field checks

Check = Callable[[Any], str | None]
"""A field check: the problem with a value (one phrase), or None when it is allowed."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(minimum: int, optional: bool = False) -> Check:
    """An int >= ``minimum`` (None too if ``optional``)."""
    allowed = f"an int >= {minimum}" + (" or null" if optional else "")
    return lambda v: None if (v is None and optional) or (_is_int(v) and v >= minimum) \
        else f"must be {allowed}, got {v!r}"


def number(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False,
           optional: bool = False) -> Check:
    """A finite int or float in the interval (None too if ``optional``)."""
    interval = (f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
                if math.isfinite(high) else f"{'>' if low_open else '>='} {low:g}")
    allowed = f"a number {interval}" + (" or null" if optional else "")

    def check(v: Any) -> str | None:
        if v is None and optional:
            return None
        ok = (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
              and (v > low if low_open else v >= low) and (v < high if high_open else v <= high))
        return None if ok else f"must be {allowed}, got {v!r}"

    return check


def boolean(v: Any) -> str | None:
    """True or False."""
    return None if isinstance(v, bool) else f"must be true or false, got {v!r}"


def task_name(v: Any) -> str | None:
    """A task name of :data:`wavelearn.training.datasets.TASKS`."""
    if not isinstance(v, str):
        return f"must be a task name, got {v!r}"
    try:
        get_task(v)
    except ValueError as e:
        return str(e)
    return None


FIELD_CHECKS: dict[str, Check] = {
    "task": task_name,
    "epochs": integer(1, optional=True),
    "steps": integer(1, optional=True),
    "batch_size": integer(1),
    "lr": number(0.0, low_open=True),
    "weight_decay": number(0.0),
    "warmup_fraction": number(0.0, 1.0, high_open=True),
    "min_lr_ratio": number(0.0, 1.0),
    # 0 would scale every gradient to zero: nothing would be learned
    "grad_clip": number(0.0, low_open=True, optional=True),
    "seed": integer(0),
    "max_seq_len": integer(1, optional=True),
    "patch_size": integer(1),
    "image_layout": check_image_layout,
    "vocab_size": integer(3),  # <pad>, <unk> and at least one word
    "limit_train": integer(1, optional=True),
    "limit_test": integer(1, optional=True),
    "steps_per_epoch": integer(1, optional=True),
    "eval_limit": integer(1, optional=True),
    "eval_batch_size": integer(1),
    "compute_baselines": boolean,
    "length_multiple": integer(1),
    "bucket_batches": integer(0),
}
"""Training field -> its check (the allowed types and ranges)."""


def check_fields(values: Mapping[str, Any], where: Callable[[str], str]) -> None:
    """Raise ConfigError ``'<where(field)>: <problem>'`` for the first bad or unknown field."""
    for name, value in values.items():
        if name not in FIELD_CHECKS:
            raise ConfigError(f"{where(name)}: unknown training option; allowed: "
                              f"{', '.join(FIELD_CHECKS)}")
        problem = FIELD_CHECKS[name](value)
        if problem:
            raise ConfigError(f"{where(name)}: {problem}")


# --------------------------------------------------------------------------- TrainConfig


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Options of one training run (everything but the model and the backend).

    Every field is checked when the config is made (:data:`FIELD_CHECKS`).

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
            tokens, keeping its ending
            (:func:`wavelearn.training.preprocessing.round_lengths_down`; 1: texts stay whole).
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
    vocab_size: int = DEFAULT_VOCAB_SIZE
    limit_train: int | None = None
    limit_test: int | None = None
    steps_per_epoch: int | None = None
    eval_limit: int | None = None
    eval_batch_size: int = 128
    compute_baselines: bool = True
    length_multiple: int = 1
    bucket_batches: int = 0

    def __post_init__(self) -> None:
        check_fields(self.to_dict(), lambda name: f"training.{name}")

    def to_dict(self) -> dict[str, Any]:
        """``{field: value}``, JSON-ready."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys raise ConfigError naming them."""
        check_fields(data, lambda name: f"training.{name}")
        return cls(**dict(data))

    @property
    def task_object(self) -> Task:
        """The :class:`~wavelearn.training.tasks.Task` of :attr:`task`."""
        return get_task(self.task)


# --------------------------------------------------------------------------- files


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A run config file (``.json``, ``.yaml`` or ``.yml``) -> ``{'task', 'model', 'training'}``.

    The file holds a mapping with any of the keys ``task`` (a name),
    ``model`` (model arguments) and ``training`` (:class:`TrainConfig` fields).
    YAML is read with PyYAML; strings that read as numbers become numbers
    (PyYAML, following YAML 1.1, keeps ``3e-4`` a string). Any problem --
    unreadable, not text, malformed, wrong structure -- raises ConfigError
    ``'<file>: <problem>'`` on one line.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise ConfigError(f"{path}: use a .json, .yaml or .yml config file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (it is not UTF-8)") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it: {e.strerror or e}") from None
    data = _parse_json(path, text) if suffix == ".json" else _parse_yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a mapping with the keys {', '.join(SECTIONS)}, "
                          f"got {type(data).__name__}")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown sections {unknown}; use {', '.join(SECTIONS)}")
    for section in ("model", "training"):
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"{path}: {section}: must be a mapping of option: value, "
                              f"got {data[section]!r}")
    return data


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: invalid JSON: {e.msg} (line {e.lineno}, column "
                          f"{e.colno})") from None


def _parse_yaml(path: Path, text: str) -> Any:
    import yaml

    try:
        return numbers_from_strings(yaml.safe_load(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = "" if mark is None else f" (line {mark.line + 1}, column {mark.column + 1})"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if "\t" in text and "\\t" in problem:
            problem += "; indent with spaces, not tabs"
        raise ConfigError(f"{path}: invalid YAML: {problem}{where}") from None


INTEGER = re.compile(r"[+-]?\d+")
REAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def numbers_from_strings(value: Any) -> Any:
    """``value`` with numeric strings (also inside dicts) made numbers: ``'3e-4'`` -> 3e-4."""
    if isinstance(value, dict):
        return {k: numbers_from_strings(v) for k, v in value.items()}
    if isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, str) and REAL.fullmatch(value.strip()):
        return float(value)
    return value


# --------------------------------------------------------------------------- merging


def resolve_configs(
    task: str | None = None,
    config_file: str | os.PathLike | None = None,
    training_overrides: Mapping[str, Any] | None = None,
    model_overrides: Mapping[str, Any] | None = None,
    override_name: Callable[[str, str], str] | None = None,
) -> tuple[TrainConfig, dict[str, Any]]:
    """Merge task defaults < config file < overrides -> (TrainConfig, model options).

    ``None`` values in the overrides are ignored (an option not given). Every
    training and model field is checked here, before any data is loaded: an
    error in the file names the file, one in an override is named by
    ``override_name(section, field)`` (default ``'training.lr'``; the command
    line: ``'--lr'``).
    """
    name = override_name or (lambda section, field: f"{section}.{field}")
    training_overrides = {k: v for k, v in (training_overrides or {}).items() if v is not None}
    model_overrides = {k: v for k, v in (model_overrides or {}).items() if v is not None}
    check_fields(training_overrides, lambda field: name("training", field))
    file = read_config_file(config_file) if config_file else {}
    task = task or file.get("task") or DEFAULT_TASK
    problem = task_name(task)
    if problem:
        where = f"{config_file}: task" if file.get("task") == task else "task"
        raise ConfigError(f"{where}: {problem}")
    spec = get_task(task)
    check_fields(file.get("training", {}), lambda name: f"{config_file}: training.{name}")
    check_model_options(spec, file.get("model", {}),
                        lambda field: f"{config_file}: model{'.' if field else ''}{field}")
    training = {**spec.training_defaults, **file.get("training", {})}
    training.update(training_overrides)
    training["task"] = task
    model = {**spec.model_defaults, **file.get("model", {})}
    for field, value in model_overrides.items():
        check_model_options(spec, {field: value}, lambda _, f=field: name("model", f))
    model.update(model_overrides)
    if "epochs" not in training and "steps" not in training:
        training["epochs"] = 1
    config = TrainConfig.from_dict(training)
    check_model_options(spec, model, lambda field: f"model{'.' if field else ''}{field}",
                        config.seed)
    return config, model


def check_model_options(task: Task, model: Mapping[str, Any],
                        where: Callable[[str], str], seed: int = 0) -> None:
    """Check the user's model options against the task's model config, before the data exists.

    ``where(field)`` names a field in the message (``where('')``: the section).
    The options the data decides (:data:`~wavelearn.training.tasks.TASK_MODEL_OPTIONS`)
    may not be given; the rest is checked with stand-ins for them.
    """
    fixed = sorted(set(TASK_MODEL_OPTIONS) & set(model))
    if fixed:
        raise ConfigError(f"{where(fixed[0])}: set by the task (from its data), not by the "
                          "config")
    stand_ins = {"vocab_size": 3, "num_classes": 2, "output_type": "classification"}
    config_class = task.model_class.config_class
    unknown = [k for k in model if k not in config_class.field_names()]
    if unknown:
        allowed = [k for k in config_class.field_names() if k not in TASK_MODEL_OPTIONS]
        raise ConfigError(f"{where(unknown[0])}: unknown model option of "
                          f"{task.model_class.__name__}; allowed: {', '.join(allowed)}")
    full = {"max_sequence_length": task.spec["max_seq_len"], "seed": seed, **model,
            **{k: v for k, v in stand_ins.items() if k in config_class.field_names()}}
    try:
        config_class.from_dict(full)
    except ConfigError as e:  # 'WaveletTransformerConfig.levels must be ...'
        field = re.match(rf"{config_class.__name__}\.(\w+):? (.*)", str(e))
        if field:
            raise ConfigError(f"{where(field[1])}: {field[2]}") from None
        problem = str(e).removeprefix(f"{config_class.__name__}: ")
        raise ConfigError(f"{where('')}: {problem}") from None
