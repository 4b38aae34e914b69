"""wavelearn.training (tasks, trainer): data preparation, baselines, the training loop,
exact resume, Ctrl-C, and the checkpoint error paths. Every run here is tiny (seconds)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wavelearn.backend import to_numpy
from wavelearn.nn import serialization
from wavelearn.training import datasets as wdata
from wavelearn.training import tasks
from wavelearn.training import trainer as wt

# --------------------------------------------------------------------------- tiny runs

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
    config, model = wt.resolve_configs(task, None, options, TINY_MODEL)
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
    assert a._rng_states() == b._rng_states()
    assert (a.step, a.epoch, a.pos) == (b.step, b.epoch, b.pos)


def interrupt_at(step: int):
    """A fit() callback that presses Ctrl-C once ``step`` steps are done."""
    def callback(trainer: wt.Trainer) -> None:
        if trainer.step == step:
            raise KeyboardInterrupt
    return callback


# --------------------------------------------------------------------------- task data


@pytest.mark.parametrize("name", sorted(wdata.TASKS))
def test_prepare_task_on_a_small_slice(name: str) -> None:
    spec = wdata.TASKS[name]
    limits = (3000, 600) if spec["kind"] == "lm" else (24, 10)
    d = tasks.prepare_task(name, limit_train=limits[0], limit_test=limits[1])
    assert d.kind == spec["kind"] and d.input_type == spec["input_type"]
    if d.kind == "lm":
        assert d.train_x.shape == (3000,) and d.test_x.shape == (600,)
        assert d.train_x.dtype == np.int64 and d.tokenizer.kind == "char"
        train_text = spec["loader"]("train")[:3000]
        assert d.tokenizer.to_dict() == wdata.CharTokenizer.fit(train_text).to_dict()
        assert d.tokenizer.decode(d.train_x) == train_text
        return
    assert d.train_y.shape == (24,) and d.test_y.shape == (10,)
    assert d.num_classes == spec["num_classes"]
    if d.input_type == "signal":
        assert d.train_x.shape == (24, spec["max_seq_len"], 1) and d.in_features == 1
        assert d.train_x.dtype == np.float32 and d.tokenizer is None
        for x in (d.train_x, d.test_x):  # every series normalised on its own
            np.testing.assert_allclose(x.mean(axis=(1, 2)), 0.0, atol=1e-5)
            np.testing.assert_allclose(x.std(axis=(1, 2)), 1.0, atol=1e-4)
    else:
        assert d.train_x.shape == (24, spec["max_seq_len"]) == d.train_mask.shape
        texts = spec["loader"]("train")[0]  # the tokenizer sees the training slice only
        texts = [texts[i] for i in tasks.subset_indices(len(texts), 24)]
        assert d.tokenizer.to_dict() == wdata.WordTokenizer.fit(texts).to_dict()
        assert np.all(d.train_mask[:, 0] == 1)


def test_patches_rows_and_sequence_length() -> None:
    d = tasks.prepare_task("forda", limit_train=4, limit_test=2, patch_size=5)
    assert d.train_x.shape == (4, 100, 5) and d.in_features == 5 and d.seq_len == 100
    raw = wdata.load_ucr("FordA", "train")[0][tasks.subset_indices(3601, 4)]
    np.testing.assert_allclose(d.train_x.reshape(4, -1), tasks.normalize_series(raw), atol=1e-6)
    d = tasks.prepare_task("forda", limit_train=4, limit_test=2, patch_size=5, max_seq_len=30)
    assert d.train_x.shape == (4, 30, 5)
    d = tasks.prepare_task("mnist", limit_train=4, limit_test=2, image_layout="rows")
    assert d.train_x.shape == (4, 28, 28) and d.in_features == 28
    with pytest.raises(ValueError, match="image_layout"):
        tasks.prepare_task("digits", limit_train=4, limit_test=2, image_layout="columns")


def test_round_lengths_down_keeps_the_ending_of_each_text() -> None:
    pad = 0
    ids = np.array([[5, 6, 7, 8, 9, 0, 0], [1, 2, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
    mask = (ids != pad).astype(np.int64)
    new_ids, new_mask = tasks.round_lengths_down(ids, mask, 3, pad)
    np.testing.assert_array_equal(new_ids, [[7, 8, 9, 0, 0, 0, 0], [1, 2, 0, 0, 0, 0, 0],
                                            [2, 3, 4, 5, 6, 7, 0]])
    np.testing.assert_array_equal(new_mask, (new_ids != pad).astype(np.int64))
    assert new_mask.dtype == mask.dtype and new_ids.dtype == ids.dtype
    same = tasks.round_lengths_down(ids, mask, 1, pad)
    assert same[0] is ids and same[1] is mask
    with pytest.raises(ValueError, match="length_multiple must be a positive int, got 0"):
        tasks.round_lengths_down(ids, mask, 0, pad)


def test_bucketed_order_is_a_permutation_of_length_sorted_batches() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=103)
    perm = rng.permutation(103)
    order = wt.bucketed_order(perm, lengths, 10, 3, np.random.default_rng(1))
    assert sorted(order) == list(range(103))
    np.testing.assert_array_equal(order[100:], perm[100:])  # the rest keeps its place
    batches = order[:100].reshape(10, 10)
    assert all(np.all(np.diff(lengths[b]) >= 0) for b in batches)  # sorted within a batch
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    random_spread = np.mean([np.ptp(lengths[b]) for b in perm[:100].reshape(10, 10)])
    assert spread < random_spread / 2
    with pytest.raises(ValueError, match="bucket_batches must be an int >= 0"):
        wt.TrainConfig(bucket_batches=-1)
    with pytest.raises(ValueError, match="length_multiple must be a positive int"):
        wt.TrainConfig(length_multiple=0)


def test_lm_windows_are_shifted_targets() -> None:
    ids = np.arange(20)
    inputs, targets = tasks.lm_windows(ids, np.array([0, 5]), 4)
    assert inputs.tolist() == [[0, 1, 2, 3], [5, 6, 7, 8]]
    assert targets.tolist() == [[1, 2, 3, 4], [6, 7, 8, 9]]
    assert tasks.lm_eval_starts(20, 4, None).tolist() == [0, 4, 8, 12]
    assert tasks.lm_eval_starts(20, 4, 8).tolist() == [0, 12]  # spread over the text
    assert tasks.lm_eval_starts(20, 4, 1).tolist() == [0]


def test_subsets_are_seeded_and_spread() -> None:
    index = tasks.subset_indices(100, 10)
    assert index.tolist() == sorted(set(index.tolist())) and index.size == 10
    assert np.array_equal(index, tasks.subset_indices(100, 10)) and index.max() > 50
    assert tasks.subset_indices(5, 10).tolist() == [0, 1, 2, 3, 4]
    d = tasks.prepare_task("ecg5000", limit_train=8, limit_test=40)  # test file sorted by class
    assert len(set(d.test_y.tolist())) > 1


# --------------------------------------------------------------------------- baselines


def test_char_ngram_is_a_distribution() -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 7, 2000)
    model = tasks.CharNGram(order=3).fit(ids, vocab_size=7)
    context = ids[:10]
    probs = [math.exp(model.log_probs(np.append(context, c))[-1]) for c in range(7)]
    assert sum(probs) == pytest.approx(1.0, abs=1e-9)
    text = np.tile([2, 3, 4], 300)  # a repeating pattern is learned almost perfectly
    assert tasks.CharNGram(3).fit(text, 7).bits_per_char(text[:60]) < 0.1


def test_logistic_regression_and_majority() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    w, b = tasks.logistic_regression(x, y, 2)
    assert np.mean((x @ w + b).argmax(axis=1) == y) > 0.95
    assert tasks.majority_accuracy(np.array([0, 1, 1]), np.array([1, 1, 0, 1])) == 0.75
    ids = np.array([[2, 3, 3, 0], [4, 1, 0, 0]])
    bow = tasks.bag_of_words(ids, 5)
    dense = bow.dot(np.eye(5))
    np.testing.assert_allclose(dense, [[0, 0, 2**-0.5, 2**-0.5, 0], [0, 0, 0, 0, 1]])
    np.testing.assert_allclose(bow.tdot(np.ones((2, 1)))[:, 0], dense.sum(axis=0))


# --------------------------------------------------------------------------- configs


def test_resolve_configs_precedence(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"task": "ecg5000", "model": {"hidden_dim": 16, "levels": 2},
                                "training": {"lr": 0.01, "epochs": 2}}))
    config, model = wt.resolve_configs(None, path, {"lr": 0.02, "seed": None}, {"levels": 1})
    assert config.task == "ecg5000" and config.lr == 0.02 and config.epochs == 2
    assert config.batch_size == wt.TASK_DEFAULTS["ecg5000"]["training"]["batch_size"]
    assert model["hidden_dim"] == 16 and model["levels"] == 1
    config, _ = wt.resolve_configs("forda", path)  # the argument beats the file's task
    assert config.task == "forda"


def test_yaml_config_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("# a run\ntask: digits\nmodel:\n  hidden_dim: 16   # small\n"
                    "  wavelet: 'haar'\ntraining:\n  lr: 1.5e-3\n  max_seq_len: null\n"
                    "  compute_baselines: false\n")
    assert wt.read_config_file(path) == {
        "task": "digits", "model": {"hidden_dim": 16, "wavelet": "haar"},
        "training": {"lr": 1.5e-3, "max_seq_len": None, "compute_baselines": False}}
    text = path.read_text().replace("1.5e-3", "3e-4")  # YAML 1.1 reads this as a string
    assert wt._parse_simple_yaml(text) == wt._load_yaml(text)
    assert wt._load_yaml(text)["training"]["lr"] == 3e-4
    (tmp_path / "bad.json").write_text(json.dumps({"training": {"learning_rate": 1}}))
    with pytest.raises(ValueError, match="learning_rate"):
        wt.resolve_configs(None, tmp_path / "bad.json")
    (tmp_path / "bad.toml").write_text("")
    with pytest.raises(ValueError, match=".json, .yaml or .yml"):
        wt.read_config_file(tmp_path / "bad.toml")
    with pytest.raises(ValueError, match="batch_size"):
        wt.TrainConfig(batch_size=0)
    digits = tasks.prepare_task("digits", limit_train=4, limit_test=2)
    with pytest.raises(ValueError, match="set by the task"):
        wt.full_model_config(digits, {"num_classes": 3}, seed=0)


# --------------------------------------------------------------------------- training


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
    records = wt.read_metrics(tmp_path / wt.METRICS_NAME)
    assert [r["epoch"] for r in records] == [1, 2] and [r["step"] for r in records] == [6, 8]
    assert {"train_loss", "eval_loss", "eval_accuracy", "lr"} <= set(records[0])
    assert (tmp_path / wt.CURVES_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _, meta = wt.read_checkpoint(tmp_path / wt.CHECKPOINT_NAME)
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
    _, meta = wt.read_checkpoint(tmp_path / "run" / wt.CHECKPOINT_NAME)
    assert meta["interrupted"] and meta["step"] == 2

    resumed = wt.Trainer.from_checkpoint(tmp_path / "run" / wt.CHECKPOINT_NAME)
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
    resumed = wt.Trainer.from_checkpoint(tmp_path / wt.CHECKPOINT_NAME)
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


# --------------------------------------------------------------------------- checkpoint errors


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run's checkpoint (do not modify: copy it)."""
    out = tmp_path_factory.mktemp("done")
    tiny_trainer().fit(out, progress=False)
    return out / wt.CHECKPOINT_NAME


def test_missing_corrupt_and_truncated_checkpoints(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(wt.CheckpointError, match="no checkpoint"):
        wt.Trainer.from_checkpoint(tmp_path / "none.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(wt.CheckpointError, match="truncated, corrupt"):
        wt.Trainer.from_checkpoint(corrupt)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(wt.CheckpointError, match="truncated, corrupt"):
        wt.Trainer.from_checkpoint(truncated)


def test_incompatible_checkpoints(checkpoint: Path, tmp_path: Path) -> None:
    arrays, meta = serialization.load(checkpoint)
    other = tmp_path / "other.npz"
    serialization.save(arrays, other, {})
    with pytest.raises(wt.CheckpointError, match="not a wavelearn training checkpoint"):
        wt.Trainer.from_checkpoint(other)
    serialization.save(arrays, other, {**meta, "version": 99})
    with pytest.raises(wt.CheckpointError, match="version 99"):
        wt.Trainer.from_checkpoint(other)
    serialization.save(arrays, other, {k: v for k, v in meta.items() if k != "history"})
    with pytest.raises(wt.CheckpointError, match="lacks the entry 'history'"):
        wt.Trainer.from_checkpoint(other)
    wider = {**meta, "model_config": {**meta["model_config"], "hidden_dim": 16}}
    serialization.save(arrays, other, wider)  # arrays of hidden_dim 8, a model of 16
    with pytest.raises(wt.CheckpointError, match="does not fit"):
        wt.Trainer.from_checkpoint(other)
    with pytest.raises(wt.CheckpointError, match=r"model.levels: 2 in the checkpoint, 3"):
        wt.check_resume_compatible(meta, {"seed": 0}, {"levels": 3}, checkpoint)
