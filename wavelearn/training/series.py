r"""Fit a wavelet transformer to any set of series: the engine behind the estimators and CLI.

:func:`fit_series` takes ``X (n, T)`` or ``(n, C, T)`` (NaN-padded when the
series have different lengths) and targets ``y`` -- class indices
``0..k-1`` or real values -- plus a :class:`~wavelearn.training.recipe.Recipe`,
and returns a :class:`SeriesModel` whose :meth:`SeriesModel.predict_proba` /
:meth:`SeriesModel.predict_values` score new series.

It is built from the library's public pieces only:

* :class:`SeriesNet`: tokens ``(B, N, F)`` from :mod:`wavelearn.training.stem`
  -> ``Linear(F, D)`` (the convolutional stem) ->
  :class:`~wavelearn.models.WaveletTransformer` (``inputs_embeds``, the
  attention mask of the padded series, mean pooling, a classification or
  regression head). Its ``backward`` is the model's followed by the stem's.
* the loop (:func:`train_net`): :class:`~wavelearn.nn.CrossEntropyLoss` (or
  :class:`~wavelearn.nn.MSELoss`), :class:`~wavelearn.training.optim.AdamW`
  (decay on ``Linear`` weights only), gradient clipping and
  :class:`~wavelearn.training.optim.WarmupCosineSchedule`. Mixup trains on
  :math:`\lambda x_a + (1 - \lambda) x_b` with the loss
  :math:`\lambda L(y_a) + (1 - \lambda) L(y_b)`, whose gradient is the same
  mix of the two losses' gradients.
* **early stopping**: with ``validation_fraction > 0`` a stratified part of
  the training set is held out; every ``eval_every`` steps the held-out loss
  is measured and the parameters of the best evaluation are kept.
* **ensembles**: ``ensemble`` nets, each with its own seed (and held-out
  part); their probabilities (or predictions) are averaged.

Everything random comes from NumPy Generators seeded by ``seed``: the same
data, recipe and seed give the same model, bit for bit, on the NumPy backend.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from wavelearn.backend import (
    array_namespace,
    asarray,
    load_backend,
    to_numpy,
    use_backend,
)
from wavelearn.models import WaveletTransformer
from wavelearn.nn.layers import Linear
from wavelearn.nn.losses import CrossEntropyLoss, MSELoss, log_softmax
from wavelearn.nn.module import Module, move_like
from wavelearn.training import stem
from wavelearn.training.optim import AdamW, WarmupCosineSchedule, clip_grad_norm
from wavelearn.training.recipe import Recipe

EVAL_BATCH = 256


class SegmentPooling(Module):
    r"""``(B, N, D) -> (B, S D)``: the mean of the real tokens in each of ``S`` equal segments.

    Row ``b`` with :math:`L_b` real tokens puts token :math:`t` in segment
    :math:`\lfloor t S / L_b \rfloor`; with :math:`W_{bst} = [t \in s] / |s|`,

    .. math:: p_{bs} = \sum_t W_{bst}\, h_{bt}, \qquad \bar h_{bt} = \sum_s W_{bst}\, \bar p_{bs}.

    ``S = 1`` is mean pooling; larger ``S`` keeps where along the series a
    feature occurred (coarsely), which shapes that are aligned in time need.
    A segment with no token (``L_b < S``) pools nothing (zeros).
    """

    def __init__(self, segments: int) -> None:
        super().__init__()
        self.segments = segments

    def weights(self, lengths: np.ndarray, n: int) -> np.ndarray:
        """``W (B, S, N)`` for rows of real lengths ``lengths``."""
        t = np.arange(n)[None, :]  # (1, N)
        seg = t * self.segments // np.maximum(lengths[:, None], 1)  # (B, N)
        onehot = (seg[:, None, :] == np.arange(self.segments)[None, :, None]) \
            & (t < lengths[:, None])[:, None, :]  # (B, S, N)
        return onehot / np.maximum(onehot.sum(axis=2, keepdims=True), 1)

    def forward(self, h: Any, lengths: np.ndarray) -> Any:
        xp = array_namespace(h)
        B, N, D = h.shape
        w = move_like(self.weights(lengths, N), h)  # (B, S, N) on h's backend and dtype
        self.cache = {"w": w}
        return xp.reshape(xp.matmul(w, h), (B, self.segments * D))  # (B, S D)

    def backward(self, dp: Any) -> Any:
        xp = array_namespace(dp)
        w = self.cache["w"]  # (B, S, N)
        B = dp.shape[0]
        dp = xp.reshape(dp, (B, self.segments, -1))  # (B, S, D)
        return xp.matmul(xp.permute_dims(w, (0, 2, 1)), dp)  # (B, N, D)


class SeriesNet(Module):
    """``Linear(F, D)`` stem + :class:`~wavelearn.models.WaveletTransformer` + pooled head.

    ``forward(tokens (B, N, F), mask (B, N)) -> (B, outputs)``;
    ``backward(dout)`` fills every gradient (returns None: the tokens are data).
    The head is :class:`SegmentPooling` over ``recipe.segments`` segments of the
    final hidden states, then ``Linear(S D, outputs)``.
    """

    def __init__(self, features: int, outputs: int, max_tokens: int, recipe: Recipe,
                 task: str, seed: int) -> None:
        super().__init__()
        self.task, self.num_outputs = task, outputs
        self.stem = Linear(features, recipe.hidden_dim, rng=np.random.default_rng([seed, 7]))
        with warnings.catch_warnings():
            # The recipe's levels may exceed dwt_max_level of a short token sequence on
            # purpose: in periodization mode every level exists for every length, and
            # those levels are the ones benchmarks/ucr.py measured.
            warnings.filterwarnings("ignore", r".*is above dwt_max_level", UserWarning)
            self.model = WaveletTransformer(
                None, recipe.hidden_dim, recipe.num_layers, max_tokens, recipe.wavelet,
                recipe.levels, recipe.mixing_mode, dropout=recipe.dropout, output_type="none",
                positional_encoding_type=recipe.positional_encoding_type, seed=seed)
        self.pool = SegmentPooling(recipe.segments)
        self.head = Linear(recipe.segments * recipe.hidden_dim, outputs,
                           rng=np.random.default_rng([seed, 8]))

    def forward(self, tokens: Any, mask: Any = None) -> Any:
        h = self.model(inputs_embeds=self.stem(tokens), attention_mask=mask)  # (B, N, D)
        lengths = (np.full(h.shape[0], h.shape[1]) if mask is None
                   else to_numpy(mask).sum(axis=1))
        return self.head(self.pool(h, lengths))  # (B, outputs)

    def backward(self, dout: Any) -> None:
        self.stem.backward(self.model.backward(self.pool.backward(self.head.backward(dout))))


# --------------------------------------------------------------------------- data


class Prepared:
    """Normalised series and their lengths, tokenised on demand (see :mod:`.stem`)."""

    def __init__(self, X: np.ndarray, recipe: Recipe) -> None:
        X = stem.as_3d(X)
        self.lengths = stem.series_lengths(X)  # (n,)
        self.x = stem.normalize(X, self.lengths, recipe.normalization)  # (n, C, T)
        self.recipe = recipe

    def tokens(self, index: np.ndarray, rng: np.random.Generator | None = None,
               num: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Tokens and mask of series ``index`` (augmented when ``rng`` is given)."""
        r = self.recipe
        x, lengths = self.x[index], self.lengths[index]
        if rng is not None:
            x = stem.augment(x, lengths, rng, r.crop, r.noise)
        return stem.patch_tokens(x, lengths, r.kernel, r.stride, r.diff, num)


def split_validation(y: np.ndarray, fraction: float, classify: bool,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held-out): ``fraction`` of every class held out, at least one.

    Classes with a single series stay in training. Regression: a random part.
    """
    n = y.shape[0]
    if fraction <= 0:
        return np.arange(n), np.arange(0)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if classify else [np.arange(n)]
    held = []
    for members in groups:
        if members.size >= 2:
            take = min(members.size - 1, max(1, round(fraction * members.size)))
            held.append(rng.permutation(members)[:take])
    held_out = np.sort(np.concatenate(held)) if held else np.arange(0)
    return np.setdiff1d(np.arange(n), held_out), held_out


# --------------------------------------------------------------------------- one net


def _optimizers(net: SeriesNet, recipe: Recipe) -> tuple[AdamW, AdamW, WarmupCosineSchedule]:
    """AdamW with decay on Linear weights, one without for the rest, and the schedule."""
    decayed = {id(m.weight) for m in net.modules() if isinstance(m, Linear)}
    params = net.parameters()
    opt_decay = AdamW([p for p in params if id(p) in decayed], lr=recipe.lr,
                      weight_decay=recipe.weight_decay)
    opt_plain = AdamW([p for p in params if id(p) not in decayed], lr=recipe.lr,
                      weight_decay=0.0)
    schedule = WarmupCosineSchedule(opt_decay, round(recipe.warmup_fraction * recipe.steps),
                                    recipe.steps, recipe.min_lr_ratio)
    opt_plain.lr = opt_decay.lr
    return opt_decay, opt_plain, schedule


class _Objective:
    """The loss of a batch and its gradient w.r.t. the outputs (with mixup partners)."""

    def __init__(self, classify: bool, outputs: int, smoothing: float) -> None:
        self.classify, self.outputs, self.smoothing = classify, outputs, smoothing
        self.criterion = CrossEntropyLoss() if classify else MSELoss()

    def __call__(self, out: Any, targets: list[tuple[float, Any]]) -> tuple[float, Any]:
        """``targets``: ``[(weight, y), ...]`` -> (weighted loss, d loss / d out)."""
        loss, grad = 0.0, None
        for weight, y in targets:
            value = self.criterion(out, y)
            g = self.criterion.backward()
            loss += weight * value
            grad = weight * g if grad is None else grad + weight * g
        if self.classify and self.smoothing > 0:
            loss, grad = self._smooth(out, loss, grad)
        return loss, grad

    def _smooth(self, out: Any, loss: float, grad: Any) -> tuple[float, Any]:
        r"""Label smoothing: :math:`(1-e) L + e\,\overline{-\log p}`; the second term's
        gradient is :math:`(p - 1/k) / B`."""
        xp = array_namespace(out)
        e, logp = self.smoothing, log_softmax(out)  # (B, k)
        uniform = -float(xp.mean(logp))
        g = (xp.exp(logp) - 1.0 / self.outputs) / out.shape[0]
        return (1 - e) * loss + e * uniform, (1 - e) * grad + e * g


def evaluate_net(net: SeriesNet, data: Prepared, index: np.ndarray, num: int,
                 backend: str) -> np.ndarray:
    """Outputs (logits or predictions) of series ``index`` in eval mode -> NumPy ``(m, k)``."""
    net.eval()
    outs = []
    try:
        for start in range(0, index.size, EVAL_BATCH):
            tokens, mask = data.tokens(index[start:start + EVAL_BATCH], None, num)
            outs.append(to_numpy(net(asarray(tokens, backend=backend),
                                     asarray(mask, backend=backend))).astype(np.float64))
    finally:
        net.train()
    return np.concatenate(outs) if outs else np.zeros((0, net.num_outputs))


def _held_out_loss(out: np.ndarray, y: np.ndarray, classify: bool) -> float:
    if classify:
        z = out - out.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(y.size), y.astype(np.int64)].mean())
    return float(np.mean((out - y.reshape(out.shape)) ** 2))


def train_net(net: SeriesNet, data: Prepared, y: np.ndarray, train: np.ndarray,
              held: np.ndarray, num: int, recipe: Recipe, classify: bool, seed: int,
              backend: str = "numpy",
              on_step: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Train ``net`` on series ``train`` for ``recipe.steps`` steps (or until early stop).

    Returns a record: steps run, last training loss, best held-out loss and its step.
    """
    r = recipe
    rng = np.random.default_rng([seed, 11])
    opt_decay, opt_plain, schedule = _optimizers(net, r)
    objective = _Objective(classify, net.num_outputs, r.label_smoothing)
    params = net.parameters()
    batch = min(r.batch_size, train.size)
    best: tuple[float, int, dict[str, Any] | None] = (math.inf, 0, None)
    waited, perm, pos, loss = 0, rng.permutation(train), 0, math.nan
    for step in range(1, r.steps + 1):
        if pos + batch > perm.size:
            perm, pos = rng.permutation(train), 0
        index, pos = perm[pos:pos + batch], pos + batch
        x, lengths, targets = _mixed_batch(data, y, index, rng, r.mixup)
        tokens, mask = stem.patch_tokens(
            stem.augment(x, lengths, rng, r.crop, r.noise), lengths, r.kernel, r.stride,
            r.diff, None)
        for p in params:
            p.grad = None
        out = net(asarray(tokens, backend=backend), asarray(mask, backend=backend))
        loss, grad = objective(out, [(w, asarray(t, backend=backend)) for w, t in targets])
        net.backward(grad)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the training loss is {loss} at step {step}; "
                                     "try a lower lr")
        if r.grad_clip is not None:
            clip_grad_norm(params, r.grad_clip)
        opt_decay.step()
        opt_plain.step()
        schedule.step()
        opt_plain.lr = opt_decay.lr
        if on_step is not None:
            on_step(loss)
        if held.size and (step % r.eval_every == 0 or step == r.steps):
            value = _held_out_loss(evaluate_net(net, data, held, num, backend), y[held], classify)
            if value < best[0]:
                best, waited = (value, step, net.state_dict()), 0
            else:
                waited += 1
                if waited >= r.patience:
                    break
    if best[2] is not None:
        net.load_state_dict(best[2])
    return {"steps": step, "train_loss": loss, "held_out_loss": best[0] if held.size else None,
            "best_step": best[1] if held.size else step}


def _mixed_batch(data: Prepared, y: np.ndarray, index: np.ndarray, rng: np.random.Generator,
                 alpha: float) -> tuple[np.ndarray, np.ndarray, list[tuple[float, np.ndarray]]]:
    """The batch's series, lengths and weighted targets; mixup when ``alpha > 0``."""
    x, lengths = data.x[index], data.lengths[index]
    if alpha <= 0:
        return x, lengths, [(1.0, y[index])]
    lam = float(rng.beta(alpha, alpha))
    partner = rng.permutation(index.size)
    x = lam * x + (1.0 - lam) * x[partner]  # padding is 0 in both
    lengths = np.maximum(lengths, lengths[partner])
    return x.astype(np.float32), lengths, [(lam, y[index]), (1.0 - lam, y[index][partner])]


# --------------------------------------------------------------------------- the model


class SeriesModel:
    """A fitted ensemble of :class:`SeriesNet` with its recipe and input sizes.

    Attributes: ``recipe``, ``task`` (``'classification'`` or ``'regression'``),
    ``outputs`` (classes, or regression targets), ``channels``, ``max_tokens``,
    ``nets``, ``records`` (one training record per net), ``backend``.
    """

    def __init__(self, recipe: Recipe, task: str, outputs: int, channels: int,
                 max_tokens: int, nets: list[SeriesNet], records: list[dict[str, Any]],
                 backend: str = "numpy", seed: int = 0) -> None:
        self.recipe, self.task, self.outputs = recipe, task, outputs
        self.channels, self.max_tokens, self.nets = channels, max_tokens, nets
        self.records, self.backend, self.seed = records, backend, seed

    @property
    def max_length(self) -> int:
        """The longest series the model accepts (``max_tokens`` tokens; samples after the
        last full patch are not read)."""
        r = self.recipe
        return (self.max_tokens - 1) * r.stride + r.kernel + r.stride - 1

    def _prepare(self, X: np.ndarray) -> Prepared:
        data = Prepared(X, self.recipe)
        if data.x.shape[1] != self.channels:
            raise ValueError(f"X has {data.x.shape[1]} channel(s); the model was fitted on "
                             f"{self.channels}")
        longest = int(data.lengths.max()) if data.lengths.size else 0
        if longest > self.max_length:
            i = int(np.argmax(data.lengths))
            raise ValueError(f"series {i} has length {longest}; the model reads series of at "
                             f"most {self.max_length} samples (the longest in training)")
        return data

    def raw_outputs(self, X: np.ndarray) -> np.ndarray:
        """Mean over the ensemble of softmax probabilities (classification) or predictions."""
        data = self._prepare(X)
        index = np.arange(data.x.shape[0])
        total = None
        with use_backend(self.backend):
            for net in self.nets:
                out = evaluate_net(net, data, index, None, self.backend)
                if self.task == "classification":
                    out = np.exp(out - out.max(axis=1, keepdims=True))
                    out /= out.sum(axis=1, keepdims=True)
                total = out if total is None else total + out
        return total / len(self.nets)

    def num_parameters(self) -> int:
        """Trainable scalars of all the nets."""
        return sum(net.num_parameters() for net in self.nets)

    # -- saving ------------------------------------------------------------------

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON metadata) for :func:`wavelearn.nn.serialization.save`."""
        arrays = {f"net{i}.{k}": to_numpy(v) for i, net in enumerate(self.nets)
                  for k, v in net.state_dict().items()}
        meta = {"recipe": self.recipe.to_dict(), "task": self.task, "outputs": self.outputs,
                "channels": self.channels, "max_tokens": self.max_tokens,
                "records": self.records, "seed": self.seed, "ensemble": len(self.nets)}
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any],
                   backend: str = "numpy") -> SeriesModel:
        """Inverse of :meth:`state`."""
        recipe = Recipe.from_dict(meta["recipe"])
        features = meta["channels"] * recipe.kernel * (2 if recipe.diff else 1)
        nets = []
        with use_backend(backend):
            for i in range(meta["ensemble"]):
                net = SeriesNet(features, meta["outputs"], meta["max_tokens"], recipe,
                                meta["task"], meta["seed"] + i)
                prefix = f"net{i}."
                net.load_state_dict({k[len(prefix):]: v for k, v in arrays.items()
                                     if k.startswith(prefix)})
                nets.append(net)
        return cls(recipe, meta["task"], meta["outputs"], meta["channels"],
                   meta["max_tokens"], nets, meta["records"], backend, meta["seed"])


def fit_series(X: np.ndarray, y: np.ndarray, recipe: Recipe, *, task: str = "classification",
               outputs: int | None = None, seed: int = 0, backend: str = "numpy",
               progress: bool = False, X_val: np.ndarray | None = None,
               y_val: np.ndarray | None = None) -> SeriesModel:
    """Train ``recipe.ensemble`` nets on ``X, y`` (see the module docstring).

    ``y``: int class indices ``0..outputs-1`` (classification) or floats
    ``(n,)`` / ``(n, outputs)`` (regression). ``X_val, y_val``: a fixed
    held-out set for early stopping instead of ``validation_fraction``.
    ``progress`` shows a tqdm bar over all steps.
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    classify = task == "classification"
    load_backend(backend)
    data = Prepared(X, recipe)
    n = data.x.shape[0]
    if classify:
        y = np.asarray(y, dtype=np.int64)
        outputs = int(outputs or (y.max() + 1))
    else:
        y = np.asarray(y, dtype=np.float32).reshape(n, -1)
        outputs = y.shape[1]
    if X_val is not None:
        val = Prepared(X_val, recipe)
        data.x, data.lengths, y = _join(data, val, y, y_val, classify)
    max_tokens = int(stem.num_tokens(data.lengths, recipe.kernel, recipe.stride).max())
    features = data.x.shape[1] * recipe.kernel * (2 if recipe.diff else 1)
    from tqdm.auto import tqdm

    bar = tqdm(total=recipe.steps * recipe.ensemble, disable=not progress, unit="step",
               desc="fit", leave=False, dynamic_ncols=True)
    nets, records = [], []
    try:
        for member in range(recipe.ensemble):
            member_seed = seed + member
            split_rng = np.random.default_rng([member_seed, 13])
            if X_val is not None:
                train, held = np.arange(n), np.arange(n, data.x.shape[0])
            else:
                train, held = split_validation(y, recipe.validation_fraction, classify,
                                               split_rng)
            with use_backend(backend):
                net = SeriesNet(features, outputs, max_tokens, recipe, task, member_seed)
            started = time.perf_counter()

            def on_step(loss: float, label: str = f"{member + 1}/{recipe.ensemble}") -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", model=label)

            record = train_net(net, data, y, train, held, None, recipe, classify, member_seed,
                               backend, on_step)
            record["seconds"] = round(time.perf_counter() - started, 3)
            nets.append(net)
            records.append(record)
    finally:
        bar.close()
    return SeriesModel(recipe, task, outputs, data.x.shape[1], max_tokens, nets, records,
                       backend, seed)


def _join(data: Prepared, val: Prepared, y: np.ndarray, y_val: Any,
          classify: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training and validation series in one array (the wider one decides T)."""
    T = max(data.x.shape[2], val.x.shape[2])
    pad = [np.pad(d.x, ((0, 0), (0, 0), (0, T - d.x.shape[2]))) for d in (data, val)]
    yv = np.asarray(y_val, dtype=np.int64 if classify else np.float32)
    yv = yv if classify else yv.reshape(yv.shape[0], -1)
    return (np.concatenate(pad), np.concatenate([data.lengths, val.lengths]),
            np.concatenate([y, yv]))
