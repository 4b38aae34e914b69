"""wavelearn.models.sampling: one set of argument checks and one sampler for every generate."""

from __future__ import annotations

import numpy as np
import pytest

from wavelearn.models.sampling import check_generate_args, sample

IDS = np.zeros((1, 3), dtype=np.int64)


@pytest.mark.parametrize(("argument", "value", "phrase"), [
    ("max_new_tokens", -1, "max_new_tokens must be an int >= 0"),
    ("max_new_tokens", 2.0, "max_new_tokens must be an int >= 0"),
    ("temperature", -0.5, "temperature must be a finite number >= 0"),
    ("temperature", float("nan"), "temperature must be a finite number >= 0"),
    ("temperature", float("inf"), "temperature must be a finite number >= 0"),
    ("top_k", 0, "top_k must be None or an int in [1, 10]"),
    ("top_k", -5, "top_k must be None or an int in [1, 10]"),
    ("top_k", 100000, "top_k must be None or an int in [1, 10]"),
    ("seed", -1, "seed must be None or an int >= 0"),
])
def test_bad_arguments_are_named(argument: str, value: object, phrase: str) -> None:
    args = {"max_new_tokens": 4, "temperature": 1.0, "top_k": None, "seed": 0, argument: value}
    with pytest.raises(ValueError) as info:
        check_generate_args(IDS, vocab_size=10, **args)
    assert phrase in str(info.value) and repr(value) in str(info.value)
    option = "--" + argument.replace("_", "-")
    with pytest.raises(ValueError, match=f"^{option} must be"):
        check_generate_args(None, vocab_size=10, names={argument: option}, **args)


def test_sample_never_draws_excluded_tokens_and_respects_top_k() -> None:
    rng = np.random.default_rng(0)
    z = np.log(np.array([[0.5, 0.3, 0.1, 0.1]] * 2000))
    z[:, 0] = -np.inf  # never drawn
    drawn = sample(z, 1.0, None, rng)
    assert drawn.min() >= 1
    np.testing.assert_allclose(np.bincount(drawn, minlength=4)[1:] / 2000, [0.6, 0.2, 0.2],
                               atol=0.04)
    assert set(sample(z, 1.0, 1, rng).tolist()) == {1}
    assert sample(z[:1], 0, None, rng).tolist() == [1]  # greedy
