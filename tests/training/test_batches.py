"""wavelearn.training.batches: length-bucketed epochs, LM windows, seeded subsets."""

from __future__ import annotations

import numpy as np

from wavelearn.training import batches


def test_bucketed_order_is_a_permutation_of_length_sorted_batches() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=103)
    perm = rng.permutation(103)
    order = batches.bucketed_order(perm, lengths, 10, 3, np.random.default_rng(1))
    assert sorted(order) == list(range(103))
    np.testing.assert_array_equal(order[100:], perm[100:])  # the rest keeps its place
    rows = order[:100].reshape(10, 10)
    assert all(np.all(np.diff(lengths[b]) >= 0) for b in rows)  # sorted within a batch
    spread = np.mean([np.ptp(lengths[b]) for b in rows])
    random_spread = np.mean([np.ptp(lengths[b]) for b in perm[:100].reshape(10, 10)])
    assert spread < random_spread / 2


def test_lm_windows_are_shifted_targets() -> None:
    ids = np.arange(20)
    inputs, targets = batches.lm_windows(ids, np.array([0, 5]), 4)
    assert inputs.tolist() == [[0, 1, 2, 3], [5, 6, 7, 8]]
    assert targets.tolist() == [[1, 2, 3, 4], [6, 7, 8, 9]]
    assert batches.lm_eval_starts(20, 4, None).tolist() == [0, 4, 8, 12]
    assert batches.lm_eval_starts(20, 4, 8).tolist() == [0, 12]  # spread over the text
    assert batches.lm_eval_starts(20, 4, 1).tolist() == [0]
