"""wavelearn.training.trainer: the training loop, its outputs, exact resume after Ctrl-C, and a
NaN loss that fails without writing. Every run here is tiny (seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_runs import assert_same_state, interrupt_at, tiny_trainer

from wavelearn.training import checkpoints as ckpt
from wavelearn.training import outputs
from wavelearn.training import trainer as wt


def test_same_seed_gives_the_same_loss_curve() -> None:
    a, b, c = tiny_trainer(steps=5), tiny_trainer(steps=5), tiny_trainer(steps=5, seed=1)
    for t in (a, b, c):
        t.fit(None, progress=False)
    assert len(a.step_losses) == 5 and a.step_losses == b.step_losses
    assert a.history == [{**r, "train_seconds": a.history[i]["train_seconds"]}
                         for i, r in enumerate(b.history)]
    assert c.step_losses != a.step_losses


def test_outputs_metrics_and_tokenizer_in_checkpoint(tmp_path: Path) -> None:
    trainer = tiny_trainer("rotten_tomatoes", steps=8)  # 6 steps per epoch: 2 epochs
    final = trainer.fit(tmp_path, progress=False)
    assert set(final) == {"loss", "accuracy", "examples"} and final["examples"] == 16
    records = outputs.read_metrics(tmp_path / outputs.METRICS_NAME)
    assert [r["epoch"] for r in records] == [1, 2] and [r["step"] for r in records] == [6, 8]
    assert {"train_loss", "eval_loss", "eval_accuracy", "lr"} <= set(records[0])
    assert (tmp_path / outputs.CURVES_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _, meta = ckpt.read_checkpoint(tmp_path / ckpt.CHECKPOINT_NAME)
    assert meta["tokenizer"] == trainer.data.tokenizer.to_dict()
    assert set(meta["baselines"]) == {"majority", "logistic_regression"}
    assert meta["step"] == 8 and meta["final"] == final


@pytest.mark.parametrize("task", ["forda", "rotten_tomatoes", "shakespeare"])
def test_resume_after_ctrl_c_is_bit_identical(task: str, tmp_path: Path) -> None:
    steps = 9 if task == "shakespeare" else 8  # crosses an epoch boundary after the stop
    reference = tiny_trainer(task, steps=steps)
    reference.fit(tmp_path / "ref", progress=False)

    first = tiny_trainer(task, steps=steps)
    with pytest.raises(wt.TrainingInterrupted) as info:
        first.fit(tmp_path / "run", progress=False, callback=interrupt_at(2))
    assert info.value.step == 2
    _, meta = ckpt.read_checkpoint(tmp_path / "run" / ckpt.CHECKPOINT_NAME)
    assert meta["interrupted"] and meta["step"] == 2

    resumed = wt.Trainer.from_checkpoint(tmp_path / "run" / ckpt.CHECKPOINT_NAME)
    assert resumed.step == 2
    resumed.fit(tmp_path / "run", progress=False)
    assert_same_state(resumed, reference)
    assert [r["eval_loss"] for r in resumed.history] == [r["eval_loss"] for r in reference.history]


def test_ctrl_c_inside_a_step_rewinds_its_random_draws(tmp_path: Path) -> None:
    reference = tiny_trainer(steps=5)
    reference.fit(None, progress=False)
    first = tiny_trainer(steps=5)
    backward, calls = first.model.backward, []

    def interrupted_backward(dout: Any) -> Any:  # Ctrl-C after dropout drew its masks
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return backward(dout)

    first.model.backward = interrupted_backward
    with pytest.raises(wt.TrainingInterrupted):
        first.fit(tmp_path, progress=False)
    resumed = wt.Trainer.from_checkpoint(tmp_path / ckpt.CHECKPOINT_NAME)
    assert resumed.step == 2
    resumed.fit(tmp_path, progress=False)
    assert_same_state(resumed, reference)


def test_fit_without_out_dir_reraises_keyboard_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt):
        tiny_trainer().fit(None, progress=False, callback=interrupt_at(1))


def test_nan_loss_fails_without_writing(tmp_path: Path) -> None:
    trainer = tiny_trainer()
    trainer.data.train_x[:] = np.nan
    with pytest.raises(FloatingPointError, match="lower --lr"):
        trainer.fit(tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
