"""wavelearn.training.preprocessing: cutting texts to multiples of a length."""

from __future__ import annotations

import numpy as np
import pytest

from wavelearn.training import preprocessing


def test_round_lengths_down_keeps_the_ending_of_each_text() -> None:
    pad = 0
    ids = np.array([[5, 6, 7, 8, 9, 0, 0], [1, 2, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
    mask = (ids != pad).astype(np.int64)
    new_ids, new_mask = preprocessing.round_lengths_down(ids, mask, 3, pad)
    np.testing.assert_array_equal(new_ids, [[7, 8, 9, 0, 0, 0, 0], [1, 2, 0, 0, 0, 0, 0],
                                            [2, 3, 4, 5, 6, 7, 0]])
    np.testing.assert_array_equal(new_mask, (new_ids != pad).astype(np.int64))
    assert new_mask.dtype == mask.dtype and new_ids.dtype == ids.dtype
    same = preprocessing.round_lengths_down(ids, mask, 1, pad)
    assert same[0] is ids and same[1] is mask
    with pytest.raises(ValueError, match="length_multiple must be a positive int, got 0"):
        preprocessing.round_lengths_down(ids, mask, 0, pad)
