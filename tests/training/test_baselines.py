"""wavelearn.training.baselines: the n-gram model is a distribution, logistic regression learns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wavelearn.training import baselines


def test_char_ngram_is_a_distribution() -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 7, 2000)
    model = baselines.CharNGram(order=3).fit(ids, vocab_size=7)
    context = ids[:10]
    probs = [math.exp(model.log_probs(np.append(context, c))[-1]) for c in range(7)]
    assert sum(probs) == pytest.approx(1.0, abs=1e-9)
    text = np.tile([2, 3, 4], 300)  # a repeating pattern is learned almost perfectly
    assert baselines.CharNGram(3).fit(text, 7).bits_per_char(text[:60]) < 0.1


def test_logistic_regression_and_majority() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    w, b = baselines.logistic_regression(x, y, 2)
    assert np.mean((x @ w + b).argmax(axis=1) == y) > 0.95
    assert baselines.majority_accuracy(np.array([0, 1, 1]), np.array([1, 1, 0, 1])) == 0.75
    ids = np.array([[2, 3, 3, 0], [4, 1, 0, 0]])
    bow = baselines.bag_of_words(ids, 5)
    dense = bow.dot(np.eye(5))
    np.testing.assert_allclose(dense, [[0, 0, 2**-0.5, 2**-0.5, 0], [0, 0, 0, 0, 1]])
    np.testing.assert_allclose(bow.tdot(np.ones((2, 1)))[:, 0], dense.sum(axis=0))
