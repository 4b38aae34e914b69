"""wavelearn.training.tasks: each task's data on a small slice, and the Task answers per kind."""

from __future__ import annotations

import numpy as np
import pytest

from wavelearn.training import batches, preprocessing, tasks
from wavelearn.training import config as wconfig
from wavelearn.training import datasets as wdata


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
        texts = [texts[i] for i in batches.subset_indices(len(texts), 24)]
        assert d.tokenizer.to_dict() == wdata.WordTokenizer.fit(texts).to_dict()
        assert np.all(d.train_mask[:, 0] == 1)


def test_patches_rows_and_sequence_length() -> None:
    d = tasks.prepare_task("forda", limit_train=4, limit_test=2, patch_size=5)
    assert d.train_x.shape == (4, 100, 5) and d.in_features == 5 and d.seq_len == 100
    raw = wdata.load_ucr("FordA", "train")[0][batches.subset_indices(3601, 4)]
    np.testing.assert_allclose(d.train_x.reshape(4, -1), preprocessing.normalize_series(raw),
                               atol=1e-6)
    d = tasks.prepare_task("forda", limit_train=4, limit_test=2, patch_size=5, max_seq_len=30)
    assert d.train_x.shape == (4, 30, 5)
    d = tasks.prepare_task("mnist", limit_train=4, limit_test=2, image_layout="rows")
    assert d.train_x.shape == (4, 28, 28) and d.in_features == 28
    with pytest.raises(ValueError, match="image_layout"):
        tasks.prepare_task("digits", limit_train=4, limit_test=2, image_layout="columns")


def test_subsets_are_seeded_and_spread() -> None:
    index = batches.subset_indices(100, 10)
    assert index.tolist() == sorted(set(index.tolist())) and index.size == 10
    assert np.array_equal(index, batches.subset_indices(100, 10)) and index.max() > 50
    assert batches.subset_indices(5, 10).tolist() == [0, 1, 2, 3, 4]
    d = tasks.prepare_task("ecg5000", limit_train=8, limit_test=40)  # test file sorted by class
    assert len(set(d.test_y.tolist())) > 1


def test_each_kind_of_task_answers_for_itself() -> None:
    forda, lm = tasks.get_task("forda"), tasks.get_task("shakespeare")
    assert isinstance(forda, tasks.ClassificationTask) and isinstance(lm, tasks.LanguageModelTask)
    assert (forda.metric, forda.unit, lm.metric, lm.unit) == (
        "accuracy", "examples", "bpc", "characters")
    assert forda.model_class.__name__ == "WaveletTransformer"
    assert lm.model_class.__name__ == "WaveletDecoder" and lm.generates_text
    assert forda.training_defaults == tasks.TASK_DEFAULTS["forda"]["training"]
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        tasks.get_task("nope")
    data = lm.prepare(limit_train=3000, limit_test=600, max_seq_len=16)
    batch = lm.train_batch(data, np.arange(0), 0, 4, np.random.default_rng(0))
    assert batch["input_ids"].shape == batch["targets"].shape == (4, 16)
    windows = list(lm.eval_batches(data, None, 8, lambda items: items))
    assert sum(b["targets"].size for b in windows) == lm.test_size(data)
    signal = forda.prepare(limit_train=10, limit_test=4, patch_size=5)
    order = forda.epoch_order(signal, wconfig.TrainConfig(batch_size=4), np.random.default_rng(0),
                              np.arange(0))
    assert sorted(order) == list(range(10))
    config = forda.model_config(signal, {"hidden_dim": 8}, seed=3)
    assert (config["num_classes"], config["max_sequence_length"], config["seed"]) == (2, 100, 3)
