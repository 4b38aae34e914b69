"""stem (lengths, normalisation, patches, augmentation), recipe and the series fit loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wavelearn.training import stem
from wavelearn.training.recipe import Recipe, default_recipe
from wavelearn.training.series import SeriesModel, fit_series, split_validation


def test_lengths_from_trailing_nan_and_errors_naming_the_series() -> None:
    X = np.ones((3, 2, 6))
    X[1, :, 4:] = np.nan
    np.testing.assert_array_equal(stem.series_lengths(X), [6, 4, 6])
    X[2, :, 1] = np.nan
    with pytest.raises(stem.SeriesError, match="series 2 .*before its end") as info:
        stem.series_lengths(X)
    assert info.value.index == 2
    X[2, :, 1] = 1.0
    X[0, 0, 5] = np.nan  # one channel shorter than the other
    with pytest.raises(stem.SeriesError, match="series 0 .*channels of different lengths"):
        stem.series_lengths(X)


def test_normalize_uses_real_values_only() -> None:
    X = np.array([[[1.0, 3.0, np.nan, np.nan]]])
    x = stem.normalize(X, np.array([2]))
    np.testing.assert_allclose(x[0, 0], [-1.0, 1.0, 0.0, 0.0])


@given(st.integers(1, 40), st.integers(1, 6), st.integers(1, 4), st.booleans())
def test_patch_tokens_are_the_strided_windows(T, kernel, stride, diff) -> None:
    rng = np.random.default_rng(T)
    x = rng.normal(size=(2, 2, T)).astype(np.float32)
    lengths = np.array([T, max(1, T // 2)])
    x[1, :, lengths[1]:] = 0.0
    tokens, mask = stem.patch_tokens(x, lengths, kernel, stride, diff)
    counts = stem.num_tokens(lengths, kernel, stride)
    np.testing.assert_array_equal(mask.sum(axis=1), counts)
    width = 2 * 2 * kernel if diff else 2 * kernel
    assert tokens.shape == (2, counts.max(), width)
    if T >= kernel:  # token 1 of series 0 (if any) is samples [S, S + K) of both channels
        t = min(1, counts[0] - 1)
        np.testing.assert_array_equal(tokens[0, t, :2 * kernel].reshape(2, kernel),
                                      x[0, :, t * stride:t * stride + kernel])
    assert not tokens[1, counts[1]:].any()  # padding tokens are zero


def test_augment_keeps_lengths_and_is_identity_when_off() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 1, 20)).astype(np.float32)
    lengths = np.array([20, 12, 5])
    x[1, :, 12:] = 0
    x[2, :, 5:] = 0
    assert stem.augment(x, lengths, rng) is x
    out = stem.augment(x, lengths, rng, crop=0.5, noise=0.1)
    assert out.shape == x.shape and not out[1, :, 12:].any() and not out[2, :, 5:].any()


def test_default_recipe_sizes_follow_the_data() -> None:
    short, long = default_recipe(100, 96, 1, 2), default_recipe(100, 2000, 1, 2)
    assert short.stride < long.stride and long.kernel >= long.stride
    tokens = stem.num_tokens(np.array([2000]), long.kernel, long.stride)[0]
    assert 32 <= tokens <= 128 and 2**long.levels <= tokens
    small, big = default_recipe(30, 200, 1, 3), default_recipe(10_000, 200, 1, 3)
    assert small.ensemble > big.ensemble == 1
    assert big.steps * big.ensemble <= 3000
    assert default_recipe(30, 200, 1, 3, steps=7, ensemble=None).steps == 7


def test_recipe_fields_are_checked() -> None:
    with pytest.raises(ValueError, match="steps must be a positive int"):
        Recipe(steps=0)
    with pytest.raises(ValueError, match="crop must be a number in"):
        Recipe(crop=2.0)
    with pytest.raises(ValueError, match=r"unknown recipe options \['nope'\]"):
        Recipe.from_dict({"nope": 1})
    assert Recipe.from_dict(Recipe().to_dict()) == Recipe()


def test_split_validation_is_stratified_and_keeps_single_members() -> None:
    y = np.array([0] * 10 + [1] * 5 + [2])
    train, held = split_validation(y, 0.2, True, np.random.default_rng(0))
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(16))
    assert np.bincount(y[held], minlength=3).tolist() == [2, 1, 0]


def _tiny(**changes) -> Recipe:
    base = Recipe(hidden_dim=8, num_layers=1, levels=2, kernel=4, stride=2, steps=6,
                  batch_size=4, eval_every=2, patience=2)
    return dataclasses.replace(base, **changes)


def test_fit_series_is_reproducible_and_saves() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 16)), np.arange(12) % 3
    a = fit_series(X, y, _tiny(ensemble=2, mixup=0.4, label_smoothing=0.1), seed=3)
    b = fit_series(X, y, _tiny(ensemble=2, mixup=0.4, label_smoothing=0.1), seed=3)
    np.testing.assert_array_equal(a.raw_outputs(X), b.raw_outputs(X))
    assert len(a.nets) == 2 and a.raw_outputs(X).shape == (12, 3)
    arrays, meta = a.state()
    again = SeriesModel.from_state(arrays, meta)
    np.testing.assert_array_equal(again.raw_outputs(X), a.raw_outputs(X))


def test_fit_series_rejects_series_longer_than_training() -> None:
    X, y = np.zeros((6, 16)), np.arange(6) % 2
    model = fit_series(X, y, _tiny(), seed=0)
    assert model.max_length >= 16
    with pytest.raises(ValueError, match=r"at most \d+ samples"):
        model.raw_outputs(np.zeros((2, 40)))


@given(st.integers(1, 4), st.integers(1, 7))
def test_segment_pooling_forward_and_backward(segments, n) -> None:
    from wavelearn.training.series import SegmentPooling

    rng = np.random.default_rng(n)
    h = rng.normal(size=(3, n, 2))
    lengths = np.array([n, max(1, n - 2), 1])
    pool = SegmentPooling(segments)
    out = pool(h, lengths)  # (B, S D)
    for b, L in enumerate(lengths):  # the mean of each segment's real tokens
        for s in range(segments):
            members = [t for t in range(L) if t * segments // L == s]
            want = h[b, members].mean(axis=0) if members else np.zeros(2)
            np.testing.assert_allclose(out[b, 2 * s:2 * s + 2], want, atol=1e-12)
    g = rng.normal(size=out.shape)
    dh = pool.backward(g)
    eps, numeric = 1e-6, np.zeros_like(h)
    for idx in np.ndindex(*h.shape):  # central differences of sum(g * pool(h))
        hp, hm = h.copy(), h.copy()
        hp[idx] += eps
        hm[idx] -= eps
        numeric[idx] = (np.sum(g * pool(hp, lengths)) - np.sum(g * pool(hm, lengths))) / (2 * eps)
    np.testing.assert_allclose(dh, numeric, atol=1e-7)
