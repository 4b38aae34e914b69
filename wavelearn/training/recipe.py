"""The default recipe: model sizes and training settings chosen from the data.

:func:`default_recipe` looks at four numbers of a training set -- the number
of series ``n``, their length ``T``, channels ``C`` and classes ``k`` -- and
returns a :class:`Recipe`, every setting of a run of
:func:`wavelearn.training.series.fit_series`. Any field can be overridden
(``dataclasses.replace``, or the estimator's and the CLI's options).

How the sizes follow from the data (``benchmarks/ucr.py`` measures the
recipe; the README has its table and what each part is worth):

* **tokens**: the stride ``S`` makes about :data:`TARGET_TOKENS` tokens per
  series, patches twice as wide as the stride overlap by half (a strided
  convolution, :mod:`wavelearn.training.stem`);
* **levels**: as many wavelet levels as the token count allows, at most 4
  (``2**levels`` tokens per coarsest coefficient);
* **steps**: enough passes over small sets for the augmented model to
  converge, capped so that a set of 10,000 series trains in about two
  minutes on two CPU cores;
* **ensemble**: small sets are cheap per step, so they get several models
  (each with its own seed and validation split) whose probabilities are
  averaged; large sets get one.

The fixed choices were measured one at a time (README, "Your own data"):
channel mixing, no dropout and weight decay 0.01 (the model underfits small
sets far more than it overfits them), a crop of 90-100% of each series,
sinusoidal positions and a head pooled over 8 segments (many UCR classes
differ by *where* along the series a shape occurs).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

TARGET_TOKENS = 64
"""About this many tokens per series (the stride is ``ceil(T / TARGET_TOKENS)``)."""

SEGMENTS = 8
"""The head pools over this many segments of each series (fewer if it has fewer tokens)."""

STEP_BUDGET = 3000
"""Optimizer steps (summed over the ensemble) of the default recipe, at most."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Every setting of a :func:`~wavelearn.training.series.fit_series` run.

    Attributes:
        hidden_dim, num_layers, wavelet, levels, mixing_mode, dropout,
        positional_encoding_type: the :class:`~wavelearn.models.WaveletTransformer`.
        segments: the head pools the final hidden states over this many equal
            segments of each series (1: mean pooling).
        kernel, stride: patch width ``K`` and stride ``S`` of the tokens.
        diff: add the first difference as extra channels.
        normalization: ``'series'``, ``'channel'`` or ``'none'``.
        steps: optimizer steps per ensemble member.
        batch_size, lr, weight_decay, warmup_fraction, min_lr_ratio, grad_clip:
            AdamW with warm-up + cosine.
        crop, noise: augmentation (``crop=1``, ``noise=0``: none).
        mixup: Beta(mixup, mixup) mixing weight of two series (0: off).
        label_smoothing: classification targets ``(1 - e) onehot + e / k``.
        ensemble: number of models whose outputs are averaged.
        validation_fraction: held out (stratified) for early stopping; 0: none.
        eval_every, patience: evaluate every ``eval_every`` steps; stop after
            ``patience`` evaluations without improvement (keeping the best).
    """

    hidden_dim: int = 64
    num_layers: int = 2
    wavelet: str = "db4"
    levels: int = 3
    mixing_mode: str = "channel"
    dropout: float = 0.0
    positional_encoding_type: str = "sinusoidal"
    segments: int = 1
    kernel: int = 4
    stride: int = 2
    diff: bool = True
    normalization: str = "series"
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.05
    grad_clip: float | None = 1.0
    crop: float = 0.9
    noise: float = 0.0
    mixup: float = 0.0
    label_smoothing: float = 0.0
    ensemble: int = 1
    validation_fraction: float = 0.0
    eval_every: int = 100
    patience: int = 5

    def __post_init__(self) -> None:
        for name in ("hidden_dim", "num_layers", "levels", "kernel", "stride", "steps",
                     "batch_size", "ensemble", "eval_every", "patience", "segments"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name, low, high in (("dropout", 0, 1), ("crop", 0, 1), ("validation_fraction", 0, 1),
                                ("label_smoothing", 0, 1), ("warmup_fraction", 0, 1),
                                ("min_lr_ratio", 0, 1)):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and low <= value <= high):
                raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
        if self.crop <= 0 or self.validation_fraction >= 1:
            raise ValueError("crop must be > 0 and validation_fraction < 1")
        for name in ("lr", "weight_decay", "noise", "mixup"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.lr == 0:
            raise ValueError("lr must be > 0")

    def to_dict(self) -> dict[str, Any]:
        """``{field: value}``, JSON-ready."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown recipe options {unknown}; allowed: {sorted(names)}")
        return cls(**data)


def default_recipe(n: int, length: int, channels: int = 1, classes: int = 2,
                   **overrides: Any) -> Recipe:
    """The recipe for ``n`` training series of length ``length`` (see the module docstring).

    ``classes`` is 0 for regression. ``overrides`` replace fields (None: keep).
    """
    if n < 1 or length < 1 or channels < 1:
        raise ValueError(f"need n, length and channels >= 1, got {n}, {length}, {channels}")
    stride = max(1, math.ceil(length / TARGET_TOKENS))
    kernel = max(2 * stride, 3)
    tokens = (max(length, kernel) - kernel) // stride + 1
    levels = max(1, min(4, int(math.log2(max(tokens, 2))) - 2))
    batch = int(min(32, max(8, n // 4)))
    ensemble = 3 if n <= 1000 else 1
    steps = int(min(STEP_BUDGET // ensemble, max(600, 60 * n // batch)))
    segments = max(1, min(SEGMENTS, tokens))
    recipe = Recipe(kernel=kernel, stride=stride, levels=levels, batch_size=batch,
                    steps=steps, ensemble=ensemble, segments=segments)
    return dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
