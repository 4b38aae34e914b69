"""wavelearn.training.checkpoints: refusing missing, corrupt, truncated and incompatible files,
and loading the checkpoints of wavelearn 0.1.0."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tiny_runs import tiny_trainer

from wavelearn.backend import to_numpy
from wavelearn.nn import serialization
from wavelearn.training import checkpoints as ckpt
from wavelearn.training import trainer as wt
from wavelearn.training.generation import generate_text


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run's checkpoint (do not modify: copy it)."""
    out = tmp_path_factory.mktemp("done")
    tiny_trainer().fit(out, progress=False)
    return out / ckpt.CHECKPOINT_NAME


def test_missing_corrupt_and_truncated_checkpoints(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint"):
        wt.Trainer.from_checkpoint(tmp_path / "none.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ckpt.CheckpointError, match="truncated, corrupt"):
        wt.Trainer.from_checkpoint(corrupt)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(ckpt.CheckpointError, match="truncated, corrupt"):
        wt.Trainer.from_checkpoint(truncated)


def test_incompatible_checkpoints(checkpoint: Path, tmp_path: Path) -> None:
    arrays, meta = serialization.load(checkpoint)
    other = tmp_path / "other.npz"
    serialization.save(arrays, other, {})
    with pytest.raises(ckpt.CheckpointError, match="not a wavelearn training checkpoint"):
        wt.Trainer.from_checkpoint(other)
    serialization.save(arrays, other, {**meta, "version": 99})
    with pytest.raises(ckpt.CheckpointError, match="version 99"):
        wt.Trainer.from_checkpoint(other)
    serialization.save(arrays, other, {k: v for k, v in meta.items() if k != "history"})
    with pytest.raises(ckpt.CheckpointError, match="lacks the entry 'history'"):
        wt.Trainer.from_checkpoint(other)
    wider = {**meta, "model_config": {**meta["model_config"], "hidden_dim": 16}}
    serialization.save(arrays, other, wider)  # arrays of hidden_dim 8, a model of 16
    with pytest.raises(ckpt.CheckpointError, match="does not fit"):
        wt.Trainer.from_checkpoint(other)
    with pytest.raises(ckpt.CheckpointError, match=r"model.levels: 2 in the checkpoint, 3"):
        ckpt.check_resume_compatible(meta, {"seed": 0}, {"levels": 3}, checkpoint)


# --------------------------------------------------------------------------- checkpoints of 0.1.0

DATA = Path(__file__).parent / "data"  # written by wavelearn 0.1.0: see data/README.md


def test_checkpoints_say_how_dropout_draws(checkpoint: Path, tmp_path: Path) -> None:
    meta = ckpt.read_checkpoint(checkpoint)[1]
    assert meta["dropout_draws"] == "bytes"
    trainer = wt.Trainer.from_checkpoint(checkpoint)
    assert ckpt.dropout_draws(trainer.model) == "bytes"
    arrays, meta = ckpt.read_checkpoint(checkpoint)
    del meta["dropout_draws"]  # as wavelearn 0.1 wrote them: its float draws
    older = tmp_path / ckpt.CHECKPOINT_NAME
    serialization.save(arrays, older, meta)
    assert ckpt.dropout_draws(wt.Trainer.from_checkpoint(older).model) == "float64"


def test_an_interrupted_run_of_v0_1_0_resumes_to_the_same_parameters(tmp_path: Path) -> None:
    expected = json.loads((DATA / "v0.1.0_expected.json").read_text())
    shutil.copy(DATA / "v0.1.0_forda_interrupted.npz", tmp_path / ckpt.CHECKPOINT_NAME)
    trainer = wt.Trainer.from_checkpoint(tmp_path / ckpt.CHECKPOINT_NAME)
    assert (trainer.step, trainer.total_steps) == (4, expected["forda_steps"])
    final = trainer.fit(tmp_path, progress=False)
    assert final == pytest.approx(expected["forda_final"], rel=1e-5)
    reference, meta = ckpt.read_checkpoint(DATA / "v0.1.0_forda_finished.npz")
    state = {k: to_numpy(v) for k, v in trainer.state_arrays().items()}
    assert state.keys() == reference.keys()
    for key, value in reference.items():
        np.testing.assert_allclose(state[key], value, rtol=1e-5, atol=1e-7, err_msg=key)
    assert ckpt.rng_states(trainer.generators()) == meta["rng"]


def test_a_language_model_of_v0_1_0_evaluates_and_generates() -> None:
    expected = json.loads((DATA / "v0.1.0_expected.json").read_text())
    trainer = wt.Trainer.from_checkpoint(DATA / "v0.1.0_shakespeare.npz", load_train=False)
    assert trainer.evaluate(None) == pytest.approx(expected["lm_final"], rel=1e-5)
    greedy = generate_text(trainer, "ROMEO:", 20, temperature=0.0)
    assert greedy == expected["lm_greedy_romeo_20"]
