"""wavelearn.sklearn: scikit-learn's estimator checks, pipelines, search, pickling, padding."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from wavelearn.sklearn import WaveletClassifier, WaveletRegressor  # noqa: E402

# scikit-learn's checks use small tabular data (a few features, not series): read every
# feature in one token (kernel wider than X) and do not normalise each row.
TABULAR = dict(hidden_dim=16, num_layers=1, steps=120, ensemble=1, kernel=64, stride=64,
               normalization="none", augment=False, random_state=0)
FAST = dict(hidden_dim=8, num_layers=1, steps=30, ensemble=1, random_state=0)


# The checks skipped, and why: the models compute in float32, and BLAS sums a row of
# a matrix product in an order that can depend on how many rows the product has, so an
# example's probabilities move at the float32 rounding level (~1e-8 absolute) with the
# batch it is predicted in; the checks below demand 1e-9. Labels do not change, and
# test_predictions_do_not_depend_on_the_batch_beyond_float32_rounding checks both.
EXPECTED_FAILED = {
    "check_methods_sample_order_invariance": "float32 rounding depends on the batch",
    "check_methods_subset_invariance": "float32 rounding depends on the batch",
}


def _failures(estimator) -> list[str]:
    results = check_estimator(estimator, on_fail=None, expected_failed_checks=EXPECTED_FAILED)
    return [f"{r['check_name']}: {str(r['exception'])[:200]}" for r in results
            if r["status"] == "failed"]


def test_predictions_do_not_depend_on_the_batch_beyond_float32_rounding() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] > 0).astype(int)
    clf = WaveletClassifier(**TABULAR).fit(X, y)
    order = rng.permutation(60)
    p, q = clf.predict_proba(X)[order], clf.predict_proba(X[order])
    np.testing.assert_allclose(q, p, rtol=0, atol=1e-6)
    assert (clf.predict(X)[order] == clf.predict(X[order])).all()
    np.testing.assert_allclose(clf.predict_proba(X[:7]), clf.predict_proba(X)[:7], atol=1e-6)


def test_classifier_passes_check_estimator() -> None:
    assert _failures(WaveletClassifier(**TABULAR)) == []


def test_regressor_passes_check_estimator() -> None:
    assert _failures(WaveletRegressor(**TABULAR)) == []


def _waves(n: int = 48, T: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes: a slow and a fast sine, random phase, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(T)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    X = np.sin(2 * np.pi * t / np.where(y[:, None] == 0, 20.0, 5.0) + phase)
    return X + 0.1 * rng.normal(size=X.shape), np.where(y == 0, "slow", "fast")


def test_learns_sines_and_predicts_labels() -> None:
    X, y = _waves()
    clf = WaveletClassifier(hidden_dim=16, num_layers=1, steps=150, ensemble=1,
                            random_state=0).fit(X, y)
    assert set(clf.classes_) == {"fast", "slow"}
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.score(X, y) > 0.9


def test_pipeline_cross_val_score_and_grid_search() -> None:
    X, y = _waves()
    pipe = make_pipeline(FunctionTransformer(lambda a: 2.0 * a), WaveletClassifier(**FAST))
    scores = cross_val_score(pipe, X, y, cv=2)
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))
    search = GridSearchCV(WaveletClassifier(**FAST), {"hidden_dim": [4, 8]}, cv=2).fit(X, y)
    assert search.best_params_["hidden_dim"] in (4, 8)
    assert search.best_estimator_.recipe_.hidden_dim == search.best_params_["hidden_dim"]


def test_get_params_keeps_arguments_as_given_and_recipe_is_chosen_in_fit() -> None:
    clf = WaveletClassifier(steps=None, recipe={"dropout": 0.2})
    assert clf.get_params()["steps"] is None and clf.get_params()["recipe"] == {"dropout": 0.2}
    X, y = _waves(n=16, T=24)
    clf.set_params(steps=5, ensemble=1, hidden_dim=8).fit(X, y)
    assert clf.recipe_.steps == 5 and clf.recipe_.dropout == 0.2
    assert clf.get_params()["steps"] == 5


def test_recipe_argument_clashes_are_named() -> None:
    X, y = _waves(n=16, T=24)
    with pytest.raises(ValueError, match=r"recipe sets \['steps'\]"):
        WaveletClassifier(recipe={"steps": 3}).fit(X, y)
    with pytest.raises(ValueError, match=r"unknown fields \['nonesuch'\]"):
        WaveletClassifier(recipe={"nonesuch": 3}).fit(X, y)


def test_pickle_round_trip_predicts_the_same() -> None:
    X, y = _waves(n=24, T=32)
    clf = WaveletClassifier(**FAST).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_random_state_fixes_the_model() -> None:
    X, y = _waves(n=24, T=32)
    a = WaveletClassifier(**FAST).fit(X, y).predict_proba(X)
    b = WaveletClassifier(**FAST).fit(X, y).predict_proba(X)
    c = WaveletClassifier(**{**FAST, "random_state": 1}).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_nan_padded_series_are_masked_not_zero_filled() -> None:
    """A series padded with NaN gets exactly the prediction it gets alone, unpadded."""
    X, y = _waves(n=24, T=32)
    X[::3, 20:] = np.nan  # every third series is 20 samples long
    clf = WaveletClassifier(**FAST).fit(X, y)
    padded = clf.predict_proba(X[:1 + 3:3])  # rows 0 and 3, both short
    alone = clf.model_.raw_outputs(X[:1 + 3:3, :20])
    np.testing.assert_allclose(padded, alone, rtol=1e-5, atol=1e-6)
    zero_filled = clf.predict_proba(np.nan_to_num(X[:1 + 3:3]))
    assert not np.allclose(zero_filled, alone, atol=1e-6)


def test_nan_inside_a_series_is_an_error() -> None:
    X, y = _waves(n=16, T=24)
    X[5, 3] = np.nan
    with pytest.raises(ValueError, match=r"series 5 .*NaN"):
        WaveletClassifier(**FAST).fit(X, y)


def test_multichannel_series_and_shape_checks() -> None:
    X, y = _waves(n=24, T=32)
    X3 = np.stack([X, -X], axis=1)  # (n, 2, T)
    clf = WaveletClassifier(**FAST).fit(X3, y)
    assert clf.series_shape_ == (2, 32) and clf.predict(X3).shape == (24,)
    with pytest.raises(ValueError, match="fitted on"):
        clf.predict(X3[:, :1])
    with pytest.raises(ValueError, match=r"shape \(2, 20\).*pad shorter series with NaN"):
        clf.predict(X3[:, :, :20])


def test_single_class_is_refused() -> None:
    X, _ = _waves(n=8, T=16)
    with pytest.raises(ValueError, match="one class"):
        WaveletClassifier(**FAST).fit(X, np.zeros(8))


def test_early_stopping_keeps_the_best_held_out_parameters() -> None:
    X, y = _waves(n=40, T=32)
    clf = WaveletClassifier(**{**FAST, "steps": 60}, early_stopping=True,
                            validation_fraction=0.25, eval_every=10,
                            n_iter_no_change=2).fit(X, y)
    record = clf.model_.records[0]
    assert record["held_out_loss"] is not None
    assert record["best_step"] <= record["steps"] <= 60
    assert record["best_step"] % 10 == 0 or record["best_step"] == record["steps"]


def test_verbose_shows_a_progress_bar(capsys) -> None:
    X, y = _waves(n=16, T=24)
    WaveletClassifier(**{**FAST, "steps": 5}, verbose=True).fit(X, y)
    assert "fit" in capsys.readouterr().err


def test_regressor_fits_a_frequency() -> None:
    rng = np.random.default_rng(0)
    freq = rng.uniform(2, 8, 64)
    X = np.sin(2 * np.pi * freq[:, None] * np.arange(48) / 48)
    reg = WaveletRegressor(hidden_dim=16, num_layers=1, steps=200, ensemble=1,
                           random_state=0).fit(X, freq)
    assert reg.predict(X).shape == (64,)
    assert reg.score(X, freq) > 0.5
    two = WaveletRegressor(**FAST).fit(X, np.stack([freq, -freq], axis=1))
    assert two.predict(X).shape == (64, 2)


def test_torch_backend_matches_numpy() -> None:
    pytest.importorskip("torch")
    X, y = _waves(n=16, T=24)
    a = WaveletClassifier(**{**FAST, "steps": 5}).fit(X, y).predict_proba(X)
    b = WaveletClassifier(**{**FAST, "steps": 5}, backend="torch").fit(X, y).predict_proba(X)
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_import_wavelearn_does_not_import_sklearn() -> None:
    code = "import sys, wavelearn, wavelearn.training.series; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
