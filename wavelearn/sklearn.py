"""scikit-learn estimators: :class:`WaveletClassifier` and :class:`WaveletRegressor`.

::

    from wavelearn.sklearn import WaveletClassifier

    clf = WaveletClassifier(random_state=0).fit(X_train, y_train)  # X: (n, T) or (n, C, T)
    clf.predict(X_test), clf.predict_proba(X_test), clf.score(X_test, y_test)

Both wrap :func:`wavelearn.training.series.fit_series`: a convolutional stem
on overlapping patches, a :class:`~wavelearn.models.WaveletTransformer`, and
the default recipe (:func:`wavelearn.training.recipe.default_recipe`), which
picks the sizes and the number of steps from the data. Every
argument left at ``None`` is chosen that way in ``fit``; ``recipe`` (a dict)
sets any other :class:`~wavelearn.training.recipe.Recipe` field.

* **Inputs.** ``X`` is ``(n, T)`` or ``(n, C, T)`` (aeon's layout). Series
  of different lengths are right-padded with NaN up to ``T``; the model then
  masks the padding (NaN anywhere else raises). ``predict`` needs the same
  ``C`` and ``T`` as ``fit`` (pad shorter series with NaN).
* **Randomness.** ``random_state`` (None, an int or a ``RandomState``) seeds
  everything; an int gives the same model on every fit.
* **Early stopping.** ``early_stopping=True`` holds out
  ``validation_fraction`` of the training set (stratified), evaluates every
  ``eval_every`` steps and keeps the best parameters, stopping after
  ``n_iter_no_change`` evaluations without improvement.
* **Backends.** ``backend='numpy'`` (default), ``'torch'``, ``'torch:cuda'``,
  ``'cupy'``: where the arrays live while training and predicting.

scikit-learn is an optional dependency (``pip install wavelearn[sklearn]``);
``import wavelearn`` never imports it.

``check_estimator`` passes (``tests/test_sklearn.py``) on an instance
configured for its tabular toy data (``kernel=64, stride=64``: all features in
one token; ``normalization='none'``: a 2-feature row normalised to mean 0 and
std 1 would lose its information; ``augment=False``). Two checks are listed
as expected failures: ``check_methods_subset_invariance`` and
``check_methods_sample_order_invariance`` demand 1e-9 agreement between
predictions made in different batches, and float32 matrix products may differ
at the 1e-8 level with the batch size (labels never change; a test checks the
real tolerance). Skipped by scikit-learn itself: ``check_array_api_input``
(``SCIPY_ARRAY_API`` not set) and the pandas checks (pandas not installed).
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from wavelearn.training.recipe import Recipe, default_recipe
from wavelearn.training.series import SeriesModel, fit_series

__all__ = ["WaveletClassifier", "WaveletRegressor"]

_SIZED = ("hidden_dim", "num_layers", "levels", "kernel", "stride", "steps", "batch_size",
          "lr", "ensemble")
"""Constructor arguments that override the recipe when not None."""


class _WaveletEstimator(BaseEstimator):
    """Shared arguments, validation and fitting of the two estimators."""

    _task = "classification"

    def __init__(self, *, hidden_dim: int | None = None, num_layers: int | None = None,
                 levels: int | None = None, wavelet: str = "db4", kernel: int | None = None,
                 stride: int | None = None, steps: int | None = None,
                 batch_size: int | None = None, lr: float | None = None,
                 ensemble: int | None = None, augment: bool = True,
                 normalization: str = "series", early_stopping: bool = False,
                 validation_fraction: float = 0.1, n_iter_no_change: int = 5,
                 eval_every: int = 100, recipe: dict | None = None, backend: str = "numpy",
                 random_state: Any = None, verbose: bool = False) -> None:
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.levels = levels
        self.wavelet = wavelet
        self.kernel = kernel
        self.stride = stride
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.ensemble = ensemble
        self.augment = augment
        self.normalization = normalization
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.eval_every = eval_every
        self.recipe = recipe
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # NaN is accepted only as right padding of shorter series, not anywhere: so no
        # allow_nan (a NaN inside a series raises, as scikit-learn's checks expect)
        tags.input_tags.three_d_array = True
        return tags

    # -- validation ------------------------------------------------------------------

    def _validate_X(self, X: Any, reset: bool, y: Any = None) -> Any:
        """``X`` as float64 (n, T) or (n, C, T); records or checks its shape."""
        if not reset and len(getattr(self, "series_shape_", ())) == 2:
            self._check_series_shape(np.shape(X))  # (C, T): a clearer message than sklearn's
        kwargs = dict(allow_nd=True, ensure_all_finite="allow-nan", dtype=np.float64,
                      reset=reset)
        if reset:
            X, y = validate_data(self, X, y, y_numeric=self._task == "regression",
                                 multi_output=self._task == "regression", **kwargs)
        else:
            X = validate_data(self, X, **kwargs)
        if X.ndim > 3:
            raise ValueError(f"X must have shape (n, T) or (n, C, T), got {X.shape}")
        if reset:
            self.series_shape_ = X.shape[1:]
        else:
            self._check_series_shape(X.shape)
        if np.isinf(X).any():
            raise ValueError("X holds infinite values; only NaN (as right padding) is allowed")
        return (X, y) if reset else X

    def _check_series_shape(self, shape: tuple[int, ...]) -> None:
        if tuple(shape[1:]) != tuple(self.series_shape_):
            raise ValueError(f"X has series of shape {tuple(shape[1:])}, but "
                             f"{type(self).__name__} was fitted on {self.series_shape_} "
                             "(pad shorter series with NaN)")

    def _make_recipe(self, X: np.ndarray, outputs: int) -> Recipe:
        """The default recipe for this data, overridden by the non-None arguments."""
        n, T = X.shape[0], X.shape[-1]
        C = 1 if X.ndim == 2 else X.shape[1]
        overrides = {k: getattr(self, k) for k in _SIZED if getattr(self, k) is not None}
        overrides.update(wavelet=self.wavelet, normalization=self.normalization,
                         patience=self.n_iter_no_change, eval_every=self.eval_every,
                         validation_fraction=self.validation_fraction
                         if self.early_stopping else 0.0)
        if not self.augment:
            overrides.update(crop=1.0, noise=0.0, mixup=0.0)
        extra = dict(self.recipe or {})
        clash = sorted(set(extra) & (set(_SIZED) | set(overrides)))
        if clash:
            raise ValueError(f"recipe sets {clash}, which are arguments of "
                             f"{type(self).__name__} itself; set them there")
        unknown = sorted(set(extra) - {f.name for f in dataclasses.fields(Recipe)})
        if unknown:
            raise ValueError(f"recipe has unknown fields {unknown}")
        return default_recipe(n, T, C, outputs, **overrides, **extra)

    def _seed(self) -> int:
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs) % 2**31
        return int(check_random_state(rs).randint(2**31 - 1))

    def _fit(self, X: np.ndarray, y: np.ndarray, outputs: int) -> None:
        if X.shape[0] < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 samples, got "
                             f"n_samples = {X.shape[0]}")
        self.recipe_ = self._make_recipe(X, outputs)
        self.model_: SeriesModel = fit_series(
            X, y, self.recipe_, task=self._task, outputs=outputs, seed=self._seed(),
            backend=self.backend, progress=bool(self.verbose))

    def _outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.raw_outputs(self._validate_X(X, reset=False))


class WaveletClassifier(ClassifierMixin, _WaveletEstimator):
    """Time-series classifier: wavelet transformer with a recipe chosen from the data.

    See the module docstring for the arguments. Fitted attributes:
    ``classes_``, ``n_features_in_``, ``series_shape_`` (``(T,)`` or
    ``(C, T)``), ``recipe_`` (the :class:`~wavelearn.training.recipe.Recipe`
    used) and ``model_`` (the :class:`~wavelearn.training.series.SeriesModel`).
    """

    _task = "classification"

    def fit(self, X: Any, y: Any) -> WaveletClassifier:
        """Fit on ``X (n, T)`` or ``(n, C, T)`` and labels ``y (n,)`` (any hashable labels)."""
        X, y = self._validate_X(X, reset=True, y=y)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(f"y has only one class ({self.classes_[0]!r}); a classifier "
                             "needs at least two classes")
        self._fit(X, encoded, self.classes_.size)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, len(classes_))`` (the ensemble's mean)."""
        return self._outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each series."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]


class WaveletRegressor(RegressorMixin, _WaveletEstimator):
    """Time-series regressor: as :class:`WaveletClassifier`, with a regression head.

    Targets ``y (n,)`` or ``(n, m)`` are standardised for training (mean 0,
    std 1 per column) and predictions mapped back. Fitted attributes:
    ``n_features_in_``, ``series_shape_``, ``recipe_``, ``model_``.
    """

    _task = "regression"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y (n, m): m outputs of one head
        return tags

    def fit(self, X: Any, y: Any) -> WaveletRegressor:
        """Fit on ``X (n, T)`` or ``(n, C, T)`` and real targets ``y (n,)`` or ``(n, m)``."""
        X, y = self._validate_X(X, reset=True, y=y)
        y = np.asarray(y, dtype=np.float64)
        self._y_ndim = y.ndim
        y2 = y.reshape(y.shape[0], -1)
        self._y_mean, self._y_std = y2.mean(axis=0), y2.std(axis=0)
        self._y_std[self._y_std == 0] = 1.0
        self._fit(X, (y2 - self._y_mean) / self._y_std, y2.shape[1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, ``(n,)`` or ``(n, m)`` as in ``fit``."""
        out = self._outputs(X) * self._y_std + self._y_mean
        return out[:, 0] if self._y_ndim == 1 else out
