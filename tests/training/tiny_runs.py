"""Tiny training runs shared by the tests of wavelearn.training (seconds each)."""

from __future__ import annotations

from typing import Any

import numpy as np

from wavelearn.backend import to_numpy
from wavelearn.training import checkpoints as ckpt
from wavelearn.training import config as wconfig
from wavelearn.training import trainer as wt

TINY_MODEL = {"hidden_dim": 8, "num_layers": 1, "levels": 2, "dropout": 0.1}
TINY_TRAINING: dict[str, dict[str, Any]] = {
    "forda": {"limit_train": 48, "limit_test": 16, "patch_size": 25, "batch_size": 8},
    "rotten_tomatoes": {"limit_train": 48, "limit_test": 16, "max_seq_len": 16,
                        "vocab_size": 300, "batch_size": 8, "length_multiple": 4,
                        "bucket_batches": 2},
    "shakespeare": {"limit_train": 4000, "limit_test": 600, "max_seq_len": 16, "batch_size": 4,
                    "steps_per_epoch": 3, "eval_limit": 160},
}


def tiny_trainer(task: str = "forda", backend: str = "numpy", **training: Any) -> wt.Trainer:
    """A seconds-long run of ``task`` (options in TINY_TRAINING, overridden by ``training``)."""
    options = {"steps": 4, **TINY_TRAINING[task], **training}
    config, model = wconfig.resolve_configs(task, None, options, TINY_MODEL)
    return wt.Trainer.create(config, model, backend)


def run_state(trainer: wt.Trainer) -> dict[str, np.ndarray]:
    """Every array of the run (parameters, optimizer, schedule, data order, loss curve)."""
    return {k: np.array(to_numpy(v)) for k, v in trainer.state_arrays().items()}


def assert_same_state(a: wt.Trainer, b: wt.Trainer) -> None:
    """Bit-identical arrays and random generator states."""
    sa, sb = run_state(a), run_state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert np.array_equal(sa[key], sb[key]), key
    assert ckpt.rng_states(a.generators()) == ckpt.rng_states(b.generators())
    assert (a.step, a.epoch, a.pos) == (b.step, b.epoch, b.pos)


def interrupt_at(step: int):
    """A fit() callback that presses Ctrl-C once ``step`` steps are done."""
    def callback(trainer: wt.Trainer) -> None:
        if trainer.step == step:
            raise KeyboardInterrupt
    return callback
