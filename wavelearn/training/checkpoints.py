"""Training checkpoints: what a run saves, how it is read back, and when a resume may use it.

A checkpoint (``checkpoint.npz``, written atomically by
:func:`wavelearn.nn.serialization.save`) holds

* arrays, by prefix: ``model.*``, ``proj.*`` (the input projection of signal
  tasks), ``opt_decay.*`` and ``opt_plain.*`` (the two AdamW optimizers: with
  and without weight decay), ``sched.*`` (the schedule), ``data.perm`` (the
  current epoch's example order) and ``curve.loss`` (the loss of every step);
* JSON metadata: the format and version, the task, the model and training
  configs, the tokenizer, the counters (step, epoch, position in the epoch),
  the state of *every* NumPy Generator of the run (data order, dropout, ...),
  the history of evaluations, the baselines and the final metrics.

So a resumed run ends with bit-identical parameters to one that was never
stopped. :func:`read_checkpoint` refuses files that are missing, truncated,
corrupt, of another format or of another version with a
:class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

from wavelearn import __version__
from wavelearn.backend import load_backend
from wavelearn.nn import serialization
from wavelearn.nn.layers import Dropout
from wavelearn.nn.module import Module
from wavelearn.training.tasks import TASK_MODEL_OPTIONS, get_task

CHECKPOINT_NAME = "checkpoint.npz"
CHECKPOINT_FORMAT = "wavelearn-train-checkpoint"
CHECKPOINT_VERSION = 1

T = TypeVar("T")


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt or incompatible with the run."""


# --------------------------------------------------------------------------- reading


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


def user_model_options(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The model options of a checkpoint without the fields the task fills in."""
    return {k: v for k, v in meta["model_config"].items() if k not in TASK_MODEL_OPTIONS}


def config_diff(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    """``'key: saved -> wanted, ...'`` for the keys whose values differ."""
    keys = sorted(set(saved) | set(wanted))
    diffs = [f"{k}: {saved.get(k)!r} in the checkpoint, {wanted.get(k)!r} here"
             for k in keys if saved.get(k) != wanted.get(k)]
    return "; ".join(diffs) or "(no field differs)"


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


# --------------------------------------------------------------------------- random state


def module_generators(prefix: str, module: Module) -> dict[str, np.random.Generator]:
    """Every NumPy Generator held by ``module`` or its submodules, by dotted name."""
    return {f"{path}.{attr}": value
            for path, m in module.named_modules(prefix)
            for attr, value in vars(m).items() if isinstance(value, np.random.Generator)}


def rng_states(generators: Mapping[str, np.random.Generator]) -> dict[str, Any]:
    """A copy of the state of each Generator (JSON-ready)."""
    return {name: copy.deepcopy(g.bit_generator.state) for name, g in generators.items()}


def set_rng_states(generators: Mapping[str, np.random.Generator],
                   states: Mapping[str, Any]) -> None:
    """Put the Generators back into ``states`` (the same names, else CheckpointError)."""
    if set(states) != set(generators):
        raise CheckpointError(f"the checkpoint's random generators {sorted(states)} do not "
                              f"match the model's {sorted(generators)}")
    for name, state in states.items():
        generators[name].bit_generator.state = copy.deepcopy(state)


def run_generators(trainer: Any) -> dict[str, np.random.Generator]:
    """Every Generator of a run: ``'data'``, dropout layers (``'model....rng'``), ..."""
    found = {"data": trainer.data_rng, **module_generators("model", trainer.model)}
    if trainer.proj is not None:
        found.update(module_generators("proj", trainer.proj))
    return found


# --------------------------------------------------------------------------- a run's state


def dropout_draws(module: Module) -> str:
    """How ``module``'s Dropout layers draw their masks (``Dropout.draws``): a run's
    layers all draw the same way (``"bytes"`` for a model without dropout)."""
    found = sorted({m.draws for m in module.modules() if isinstance(m, Dropout)})
    if len(found) > 1:
        raise ValueError(f"the model's Dropout layers draw their masks differently: {found}")
    return found[0] if found else "bytes"


def set_dropout_draws(module: Module, draws: str) -> None:
    """Make every Dropout layer of ``module`` draw its masks as ``draws`` says."""
    for m in module.modules():
        if isinstance(m, Dropout):
            m.draws = draws


def stateful_parts(trainer: Any) -> list[tuple[str, Any]]:
    """``(prefix, part)`` of every part of a run with a ``state_dict``."""
    parts = [("model", trainer.model), ("opt_decay", trainer.opt_decay),
             ("opt_plain", trainer.opt_plain), ("sched", trainer.schedule)]
    return parts + ([("proj", trainer.proj)] if trainer.proj is not None else [])


def state_arrays(trainer: Any) -> dict[str, Any]:
    """Every array of the run state, with prefixed names."""
    arrays: dict[str, Any] = {}
    for prefix, part in stateful_parts(trainer):
        arrays.update({f"{prefix}.{k}": v for k, v in part.state_dict().items()})
    arrays["data.perm"] = trainer.perm
    arrays["curve.loss"] = np.asarray(trainer.step_losses, dtype=np.float64)
    return arrays


def metadata(trainer: Any, interrupted: bool = False) -> dict[str, Any]:
    """The JSON part of the checkpoint: configs, tokenizer, counters, Generators, logs."""
    tokenizer = trainer.data.tokenizer
    return {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
        "wavelearn_version": __version__, "task": trainer.data.name, "kind": trainer.data.kind,
        "model_class": type(trainer.model).__name__, "model_config": trainer.model_config,
        "train_config": trainer.config.to_dict(), "backend": trainer.backend,
        "tokenizer": None if tokenizer is None else tokenizer.to_dict(),
        "in_features": trainer.data.in_features, "seq_len": trainer.data.seq_len,
        "step": trainer.step, "epoch": trainer.epoch, "pos": trainer.pos,
        "total_steps": trainer.total_steps, "rng": rng_states(trainer.generators()),
        "history": trainer.history, "baselines": trainer.baselines, "final": trainer.final,
        "interrupted": interrupted, "train_seconds": trainer.train_seconds,
        "num_parameters": trainer.num_parameters(), "processes": trainer.dist.world_size,
        "dropout_draws": dropout_draws(trainer.model),
    }


def load_state(trainer: Any, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
               path: str | os.PathLike) -> None:
    """Restore a run's state from checkpoint contents (see :func:`state_arrays`)."""
    if meta["model_config"] != trainer.model_config or meta["kind"] != trainer.data.kind:
        raise CheckpointError(f"checkpoint {str(path)!r} holds a different architecture: "
                              f"{config_diff(meta['model_config'], trainer.model_config)}")
    known = {"data.perm", "curve.loss"}
    try:
        for prefix, part in stateful_parts(trainer):
            sub = {k[len(prefix) + 1:]: v for k, v in arrays.items()
                   if k.startswith(prefix + ".")}
            known.update(f"{prefix}.{k}" for k in sub)
            part.load_state_dict(sub)
        unexpected = sorted(set(arrays) - known)
        if unexpected:
            raise ValueError(f"unexpected arrays {unexpected}")
        trainer.perm = np.asarray(arrays["data.perm"], dtype=np.int64)
        trainer.step_losses = [float(v) for v in arrays["curve.loss"]]
        set_rng_states(trainer.generators(), meta["rng"])
        # written before Dropout.draws existed (wavelearn 0.1): float draws, as then
        set_dropout_draws(trainer.model, meta.get("dropout_draws", "float64"))
        trainer.step, trainer.epoch = int(meta["step"]), int(meta["epoch"])
        trainer.pos = int(meta["pos"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit the model it "
                              f"describes: {e}") from e
    trainer.history = list(meta["history"])
    trainer.baselines = dict(meta["baselines"])
    trainer.final = meta["final"]
    trainer.train_seconds = float(meta.get("train_seconds", 0.0))


def restore_run(cls: type[T], path: str | os.PathLike, backend: str | None = None,
                load_train: bool = True) -> T:
    """Rebuild a run (a :class:`~wavelearn.training.trainer.Trainer` ``cls``) from a checkpoint.

    The same data (``load_train=False``: the test split only), tokenizer, model
    and state; on ``backend`` if given, else on the checkpoint's.

    Raises:
        CheckpointError: missing, truncated, corrupt or incompatible file.
    """
    from wavelearn.training.config import TrainConfig

    arrays, meta = read_checkpoint(path)
    if backend is not None:
        load_backend(backend)  # a bad backend is the caller's error, not the checkpoint's
    try:
        config = TrainConfig.from_dict(meta["train_config"])
        data = get_task(config.task).data_for(config, meta["tokenizer"], load_train)
        trainer = cls(config, user_model_options(meta), data, backend or meta["backend"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} is incompatible with this version "
                              f"of wavelearn ({type(e).__name__}: {e})") from e
    try:
        load_state(trainer, arrays, meta, path)
    except KeyError as e:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks the entry {e}") from e
    return trainer
