"""Tasks: what every "which kind of task is this?" question is answered by.

A :class:`Task` is one entry of :data:`wavelearn.training.datasets.TASKS` (its
loader, classes, sequence length, input type) together with its defaults
(:data:`TASK_DEFAULTS`: model and training options sized for a laptop CPU) and
everything that depends on its kind. There are two kinds, two subclasses:

* :class:`ClassificationTask` -- one label per example, metric ``accuracy``;
  a :class:`~wavelearn.models.WaveletTransformer` with a classification head.
  **Signals** (``forda``, ``ecg5000``, ``digits``, ``mnist``): ``x`` float32
  ``(n, L, C)``, each series normalised to mean 0 and standard deviation 1 (over
  all its values); time series have ``C = 1`` or ``C = patch_size``, images are
  pixel sequences (``image_layout='pixels'``) or sequences of rows (``C`` = image
  width, ``'rows'``); a model reads them through a learned ``Linear(C, D)``
  projection as ``inputs_embeds``. **Text** (``imdb``, ``rotten_tomatoes``): a
  :class:`~wavelearn.training.datasets.WordTokenizer` fitted on the *training*
  split only; ``x`` int64 ids ``(n, L)`` right-padded, ``mask`` int64 ``(n, L)``.
* :class:`LanguageModelTask` -- next-character prediction (``shakespeare``),
  metric ``bpc`` (bits per character); a :class:`~wavelearn.models.WaveletDecoder`.
  A :class:`~wavelearn.training.datasets.CharTokenizer` fitted on the training
  text; ``x`` is the whole split as one int64 id stream, cut into windows by
  :func:`~wavelearn.training.batches.lm_windows`.

The trainer asks its task for the model class and head, the steps of an epoch,
the training batches, the evaluation batches and metrics, and the baselines;
it never asks which kind of task it runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from wavelearn.training import baselines as wbase
from wavelearn.training import datasets as wdata
from wavelearn.training.batches import (
    bucketed_order,
    classification_batch,
    lm_eval_starts,
    lm_windows,
    subset_indices,
)
from wavelearn.training.datasets import DEFAULT_VOCAB_SIZE
from wavelearn.training.preprocessing import (
    round_lengths_down,
    signal_features,
    take_subset,
)

if TYPE_CHECKING:
    from wavelearn.nn.module import Module
    from wavelearn.training.config import TrainConfig


TASK_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    # The default task. FordA: 500 samples cut into 100 patches of 5 (a Linear(5, D)
    # projection); ~8 s per epoch on one CPU core: 12 epochs, data, baselines and
    # evaluations in about 2.5 minutes, test accuracy ~0.87 (logistic regression 0.50).
    "forda": {
        "model": {"hidden_dim": 64, "num_layers": 2, "wavelet": "db4", "levels": 3,
                  "mixing_mode": "pointwise", "dropout": 0.1},
        "training": {"epochs": 12, "batch_size": 32, "lr": 3e-3, "patch_size": 5},
    },
    "ecg5000": {
        "model": {"hidden_dim": 64, "num_layers": 2, "levels": 3, "dropout": 0.1},
        "training": {"epochs": 30, "batch_size": 32, "lr": 3e-3, "patch_size": 2},
    },
    # Images as sequences of rows, with Haar: 3 levels need 8 rows (db4's 8 taps would
    # need 56; its levels would all feel the boundary, and the models warn).
    # digits, 8 rows of 8 pixels: 0.978 test accuracy in ~25 s (logistic regression 0.964).
    "digits": {
        "model": {"hidden_dim": 64, "num_layers": 2, "wavelet": "haar", "levels": 3,
                  "dropout": 0.1,
                  "positional_encoding_type": "learned"},
        "training": {"epochs": 60, "batch_size": 32, "lr": 3e-3, "image_layout": "rows"},
    },
    "mnist": {
        "model": {"hidden_dim": 64, "num_layers": 2, "wavelet": "haar", "levels": 3,
                  "dropout": 0.1,
                  "positional_encoding_type": "learned"},
        "training": {"epochs": 15, "batch_size": 32, "lr": 3e-3, "image_layout": "rows"},
    },
    # Texts cut to multiples of 16 tokens (keeping their ending) in length-sorted batches:
    # a batch holds a length or two, so the exact mask runs the mixing once or twice
    # (~2x the steps per second of random batches). 180 s of training on 1 core:
    # test accuracy ~0.84 (bag-of-words logistic regression 0.86).
    "imdb": {
        "model": {"hidden_dim": 64, "num_layers": 2, "levels": 3, "dropout": 0.1},
        "training": {"epochs": 3, "batch_size": 32, "lr": 3e-3, "max_seq_len": 256,
                     "length_multiple": 16, "bucket_batches": 50},
    },
    "rotten_tomatoes": {
        "model": {"hidden_dim": 64, "num_layers": 2, "levels": 2, "dropout": 0.1},
        "training": {"epochs": 5, "batch_size": 32, "lr": 2e-3},
    },
    # The LM: Haar bands separate the last few characters exactly (a_1 - d_1 is the
    # previous one), 'channel' mixing combines them across features, and random
    # training windows make absolute positions meaningless (no positional encoding).
    # About 0.5 s per step on 2 CPU cores: 1200 steps in ~10 minutes.
    "shakespeare": {
        "model": {"hidden_dim": 128, "num_layers": 4, "wavelet": "haar", "levels": 3,
                  "mixing_mode": "channel", "use_positional_encoding": False, "dropout": 0.0},
        "training": {"steps": 1200, "batch_size": 32, "lr": 3e-3, "max_seq_len": 128},
    },
}
"""Per-task defaults: ``{'model': {...}, 'training': {...}}`` (sized for a laptop CPU)."""



@dataclass
class TaskData:
    """One task's splits, ready for a model.

    Attributes:
        name: the :data:`~wavelearn.training.datasets.TASKS` key.
        kind: ``'classification'`` or ``'lm'``.
        input_type: ``'tokens'`` (ids through an embedding) or ``'signal'``
            (floats through a projection, as ``inputs_embeds``).
        seq_len: ``L``, the model's sequence length for this task.
        train_x, test_x: see the module docstring for shapes per kind.
        train_y, test_y: int64 labels ``(n,)`` (``None`` for the LM).
        train_mask, test_mask: int64 attention masks ``(n, L)`` for text
            (``None`` otherwise).
        num_classes: number of classes (``None`` for the LM).
        in_features: ``C`` of a signal task (``None`` for tokens).
        tokenizer: the fitted tokenizer of a token task (``None`` for signals).
    """

    name: str
    kind: Literal["classification", "lm"]
    input_type: Literal["tokens", "signal"]
    seq_len: int
    train_x: np.ndarray
    test_x: np.ndarray
    train_y: np.ndarray | None = None
    test_y: np.ndarray | None = None
    train_mask: np.ndarray | None = None
    test_mask: np.ndarray | None = None
    num_classes: int | None = None
    in_features: int | None = None
    tokenizer: wdata.CharTokenizer | wdata.WordTokenizer | None = None

    @property
    def vocab_size(self) -> int | None:
        """Size of the tokenizer's vocabulary (``None`` for signal tasks)."""
        return None if self.tokenizer is None else self.tokenizer.vocab_size

    @property
    def num_train(self) -> int:
        """Number of training examples (characters for the LM)."""
        return int(self.train_x.shape[0])


def prepare_task(name: str, **options: Any) -> TaskData:
    """Load and preprocess task ``name``: ``get_task(name).prepare(**options)``.

    See :meth:`Task.prepare` for the options.
    """
    return get_task(name).prepare(**options)


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class DataOptions:
    """The options of :meth:`Task.prepare` (see there), in one object."""

    max_seq_len: int | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    tokenizer_state: dict[str, Any] | None = None
    vocab_size: int = DEFAULT_VOCAB_SIZE
    image_layout: str = "pixels"
    patch_size: int = 1
    length_multiple: int = 1


TASK_MODEL_OPTIONS = ("vocab_size", "num_classes", "output_type")
"""Model options that the task sets (from its data), never the user."""

LM_STEPS_PER_EPOCH = 200
"""Steps between the evaluations of the language model (``steps_per_epoch`` default)."""

EvalShare = Callable[[np.ndarray], np.ndarray]
"""Picks this process's share of the evaluation items (all of them in a single process)."""


class Task:
    """One task: its data source and defaults, and every answer that depends on its kind.

    Attributes:
        name, spec: the :data:`~wavelearn.training.datasets.TASKS` key and entry.
        model_defaults, training_defaults: its :data:`TASK_DEFAULTS` (empty if none).

    Class attributes (one value per kind):
        kind: ``'classification'`` or ``'lm'`` (as :attr:`TaskData.kind`).
        metric: the test metric reported (``'accuracy'`` or ``'bpc'``).
        unit: what the evaluation counts (``'examples'`` or ``'characters'``).
        eval_limit: default number of units scored by a per-epoch evaluation.
        generates_text: whether ``wavelearn generate`` can sample from its model.
    """

    kind: ClassVar[str]
    metric: ClassVar[str]
    unit: ClassVar[str]
    eval_limit: ClassVar[int]
    generates_text: ClassVar[bool] = False

    def __init__(self, name: str, spec: wdata.TaskSpec,
                 defaults: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.name, self.spec = name, spec
        self.model_defaults = dict((defaults or {}).get("model", {}))
        self.training_defaults = dict((defaults or {}).get("training", {}))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @property
    def input_type(self) -> str:
        """``'signal'`` (floats through a projection) or ``'tokens'`` (ids)."""
        return self.spec["input_type"]

    @property
    def model_class(self) -> type[Module]:
        """The model this task trains."""
        raise NotImplementedError

    # -- data -----------------------------------------------------------------------

    def prepare(self, *, max_seq_len: int | None = None, limit_train: int | None = None,
                limit_test: int | None = None, tokenizer_state: dict[str, Any] | None = None,
                vocab_size: int = DEFAULT_VOCAB_SIZE, image_layout: str = "pixels",
                patch_size: int = 1, length_multiple: int = 1) -> TaskData:
        """Load and preprocess the task's train and test splits (module docstring).

        Args:
            max_seq_len: cut sequences to this length (default: the task's own).
                For the LM it is the training window length.
            limit_train, limit_test: keep only a seeded subset of this many examples
                of each split (:func:`~wavelearn.training.batches.subset_indices`;
                the LM: the first characters); for quick runs and tests.
            tokenizer_state: a saved tokenizer (``to_dict``) to reuse instead of
                fitting a new one, e.g. when re-evaluating a checkpoint.
            vocab_size: word vocabulary size of the text tasks.
            image_layout: ``'pixels'`` or ``'rows'`` for the image tasks.
            patch_size: signal tasks (not image rows): ``P`` consecutive samples
                become the ``C = P`` features of one time step (a last partial
                patch is dropped); ``max_seq_len`` then counts patches.
            length_multiple: text tasks: cut each text to a multiple of this many
                tokens (:func:`round_lengths_down`) so that texts share lengths.
        """
        return self.load(DataOptions(max_seq_len, limit_train, limit_test, tokenizer_state,
                                     vocab_size, image_layout, patch_size, length_multiple))

    def load(self, options: DataOptions) -> TaskData:
        """:meth:`prepare` with its options in one object."""
        raise NotImplementedError

    def data_for(self, config: TrainConfig, tokenizer_state: dict[str, Any] | None = None,
                 load_train: bool = True) -> TaskData:
        """The task data of a run (``load_train=False``: the test split only)."""
        return self.load(DataOptions(
            config.max_seq_len, config.limit_train if load_train else 0, config.limit_test,
            tokenizer_state, config.vocab_size, config.image_layout, config.patch_size,
            config.length_multiple))

    def seq_len(self, max_seq_len: int | None) -> int:
        """The model's sequence length: ``max_seq_len`` or the task's own."""
        seq_len = int(max_seq_len or self.spec["max_seq_len"])
        if seq_len < 1:
            raise ValueError(f"max_seq_len must be positive, got {seq_len}")
        return seq_len

    # -- the model ------------------------------------------------------------------

    def head_options(self, data: TaskData) -> dict[str, Any]:
        """The model options taken from the data (a subset of :data:`TASK_MODEL_OPTIONS`)."""
        raise NotImplementedError

    def model_config(self, data: TaskData, model: Mapping[str, Any], seed: int) -> dict[str, Any]:
        """The user's model options completed from the task: sizes, head and seed.

        Raises ValueError (naming the keys) when ``model`` sets something the task
        decides (:data:`TASK_MODEL_OPTIONS`).
        """
        fixed = sorted(set(TASK_MODEL_OPTIONS) & set(model))
        if fixed:
            raise ValueError(f"model options {fixed} are set by the task, not by the config")
        config = {"max_sequence_length": data.seq_len, "seed": seed, **model,
                  **self.head_options(data)}
        if config["max_sequence_length"] < data.seq_len:
            raise ValueError(f"model max_sequence_length {config['max_sequence_length']} is "
                             f"shorter than the task's sequences ({data.seq_len})")
        return self.model_class.config_class.from_dict(config).to_dict()

    def build_models(self, data: TaskData, model_config: Mapping[str, Any],
                     seed: int) -> tuple[Module, Module | None]:
        """The model (on the active backend) and, for signal inputs, the input projection
        ``Linear(C, D)`` that turns the ``C`` features of a step into ``inputs_embeds``."""
        from wavelearn.nn.layers import Linear

        model = self.model_class(**model_config)
        if data.input_type != "signal":
            return model, None
        return model, Linear(data.in_features, model.hidden_dim,
                             rng=np.random.default_rng([seed, 7]))

    # -- training batches -----------------------------------------------------------

    def steps_per_epoch(self, data: TaskData, config: TrainConfig) -> int:
        """Optimizer steps between two evaluations."""
        raise NotImplementedError

    def epoch_order(self, data: TaskData, config: TrainConfig, rng: np.random.Generator,
                    perm: np.ndarray) -> np.ndarray:
        """The example order of a new epoch (``perm``: the last one)."""
        return perm

    def train_batch(self, data: TaskData, perm: np.ndarray, pos: int, batch_size: int,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Batch ``pos`` of the epoch whose order is ``perm``."""
        raise NotImplementedError

    # -- evaluation -----------------------------------------------------------------

    def eval_batches(self, data: TaskData, limit: int | None, batch_size: int,
                     share: EvalShare) -> Iterator[dict[str, np.ndarray]]:
        """The test batches of an evaluation of at most ``limit`` units (None: all)."""
        raise NotImplementedError

    def correct(self, logits: Any, targets: np.ndarray) -> int:
        """How many predictions of a batch are right (0 where the metric needs none)."""
        return 0

    def metrics(self, loss_sum: float, correct: float, count: float) -> dict[str, float]:
        """``{'loss', metric, 'examples'}`` from sums over the evaluated units."""
        raise NotImplementedError

    def test_size(self, data: TaskData) -> int:
        """Units scored by an evaluation of the whole test split."""
        raise NotImplementedError

    def baselines(self, data: TaskData) -> dict[str, float]:
        """The simple baselines of :mod:`wavelearn.training.baselines` -> ``{name: metric}``."""
        raise NotImplementedError


class ClassificationTask(Task):
    """One label per example: accuracy, a classification head, epochs over the examples."""

    kind, metric, unit, eval_limit = "classification", "accuracy", "examples", 2_000

    @property
    def model_class(self) -> type[Module]:
        from wavelearn.models import WaveletTransformer

        return WaveletTransformer

    def load(self, options: DataOptions) -> TaskData:
        o = options
        seq_len = self.seq_len(o.max_seq_len)
        (train_in, train_y), (test_in, test_y) = (
            [take_subset(items, limit) for items in self.spec["loader"](split)]
            for split, limit in (("train", o.limit_train), ("test", o.limit_test)))
        common = dict(name=self.name, kind=self.kind, train_y=np.asarray(train_y),
                      test_y=np.asarray(test_y), num_classes=self.spec["num_classes"])
        if self.input_type == "signal":
            features = (o.max_seq_len, o.image_layout, o.patch_size)
            train_x = signal_features(self.name, train_in, *features)
            test_x = signal_features(self.name, test_in, *features)
            return TaskData(input_type="signal", seq_len=train_x.shape[1], train_x=train_x,
                            test_x=test_x, in_features=train_x.shape[2], **common)
        if o.tokenizer_state is not None:
            tokenizer = wdata.tokenizer_from_dict(o.tokenizer_state)
        else:
            tokenizer = wdata.WordTokenizer.fit(train_in, vocab_size=o.vocab_size)
        train_x, train_mask = round_lengths_down(*tokenizer.encode_batch(train_in, seq_len),
                                                 o.length_multiple, tokenizer.pad_id)
        test_x, test_mask = round_lengths_down(*tokenizer.encode_batch(test_in, seq_len),
                                               o.length_multiple, tokenizer.pad_id)
        return TaskData(input_type="tokens", seq_len=seq_len, train_x=train_x, test_x=test_x,
                        train_mask=train_mask, test_mask=test_mask, tokenizer=tokenizer,
                        **common)

    def head_options(self, data: TaskData) -> dict[str, Any]:
        return {"vocab_size": data.vocab_size, "num_classes": data.num_classes,
                "output_type": "classification"}

    def steps_per_epoch(self, data: TaskData, config: TrainConfig) -> int:
        """One pass over the training examples."""
        return max(1, data.num_train // config.batch_size)

    def epoch_order(self, data: TaskData, config: TrainConfig, rng: np.random.Generator,
                    perm: np.ndarray) -> np.ndarray:
        """A random permutation; text in length-sorted buckets with ``bucket_batches``."""
        perm = rng.permutation(data.num_train)
        if config.bucket_batches and data.train_mask is not None:
            perm = bucketed_order(perm, data.train_mask.sum(axis=1), config.batch_size,
                                  config.bucket_batches, rng)
        return perm

    def train_batch(self, data: TaskData, perm: np.ndarray, pos: int, batch_size: int,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
        index = perm[pos * batch_size:(pos + 1) * batch_size]
        return classification_batch(data, "train", index)

    def eval_batches(self, data: TaskData, limit: int | None, batch_size: int,
                     share: EvalShare) -> Iterator[dict[str, np.ndarray]]:
        """A fixed seeded subset of the test examples."""
        chosen = share(subset_indices(data.test_x.shape[0], limit))
        for start in range(0, chosen.size, batch_size):
            yield classification_batch(data, "test", chosen[start:start + batch_size])

    def correct(self, logits: Any, targets: np.ndarray) -> int:
        from wavelearn.backend import to_numpy

        return int(np.sum(to_numpy(logits).argmax(axis=-1) == targets))

    def metrics(self, loss_sum: float, correct: float, count: float) -> dict[str, float]:
        return {"loss": loss_sum / count, "accuracy": correct / count, "examples": int(count)}

    def test_size(self, data: TaskData) -> int:
        return int(data.test_x.shape[0])

    def baselines(self, data: TaskData) -> dict[str, float]:
        """The majority class and a logistic regression (test accuracy)."""
        return {"majority": wbase.majority_accuracy(data.train_y, data.test_y),
                "logistic_regression": wbase.logistic_regression_accuracy(data)}


class LanguageModelTask(Task):
    """Next-character prediction: bits per character, a decoder, random training windows."""

    kind, metric, unit, eval_limit = "lm", "bpc", "characters", 100_000
    generates_text = True
    ngram_order = 5

    @property
    def model_class(self) -> type[Module]:
        from wavelearn.models import WaveletDecoder

        return WaveletDecoder

    def load(self, options: DataOptions) -> TaskData:
        """One id stream per split (the word-, image- and patch options do not apply)."""
        seq_len = self.seq_len(options.max_seq_len)
        train_text = self.spec["loader"]("train")[:options.limit_train]  # contiguous text
        test_text = self.spec["loader"]("test")[:options.limit_test]
        if options.tokenizer_state is not None:
            tokenizer = wdata.tokenizer_from_dict(options.tokenizer_state)
        else:
            tokenizer = wdata.CharTokenizer.fit(train_text)
        train_x, test_x = tokenizer.encode(train_text), tokenizer.encode(test_text)
        if test_x.size <= seq_len or 0 < train_x.size <= seq_len:
            raise ValueError(f"{self.name}: each split needs more than max_seq_len={seq_len} "
                             "characters")
        return TaskData(name=self.name, kind="lm", input_type="tokens", seq_len=seq_len,
                        train_x=train_x, test_x=test_x, tokenizer=tokenizer)

    def head_options(self, data: TaskData) -> dict[str, Any]:
        return {"vocab_size": data.vocab_size}

    def steps_per_epoch(self, data: TaskData, config: TrainConfig) -> int:
        """``steps_per_epoch`` (default :data:`LM_STEPS_PER_EPOCH`)."""
        return config.steps_per_epoch or LM_STEPS_PER_EPOCH

    def train_batch(self, data: TaskData, perm: np.ndarray, pos: int, batch_size: int,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Windows at random starts."""
        starts = rng.integers(0, data.train_x.size - data.seq_len, size=batch_size)
        inputs, targets = lm_windows(data.train_x, starts, data.seq_len)
        return {"input_ids": inputs, "targets": targets}

    def eval_batches(self, data: TaskData, limit: int | None, batch_size: int,
                     share: EvalShare) -> Iterator[dict[str, np.ndarray]]:
        """Non-overlapping windows spread over the test text."""
        starts = share(lm_eval_starts(data.test_x.size, data.seq_len, limit))
        for i in range(0, starts.size, batch_size):
            inputs, targets = lm_windows(data.test_x, starts[i:i + batch_size], data.seq_len)
            yield {"input_ids": inputs, "targets": targets}

    def metrics(self, loss_sum: float, correct: float, count: float) -> dict[str, float]:
        loss = loss_sum / count
        return {"loss": loss, "bpc": loss / math.log(2.0), "examples": int(count)}

    def test_size(self, data: TaskData) -> int:
        return int(lm_eval_starts(data.test_x.size, data.seq_len, None).size * data.seq_len)

    def baselines(self, data: TaskData) -> dict[str, float]:
        """A character n-gram model (test bits per character)."""
        model = wbase.CharNGram(self.ngram_order).fit(data.train_x, data.vocab_size)
        return {f"char_{self.ngram_order}gram_bpc": model.bits_per_char(data.test_x)}


TASK_KINDS: dict[str, type[Task]] = {"classification": ClassificationTask,
                                     "lm": LanguageModelTask}
"""Task kind (:data:`wavelearn.training.datasets.TaskSpec` ``kind``) -> its class."""


def get_task(name: str) -> Task:
    """The :class:`Task` of a :data:`~wavelearn.training.datasets.TASKS` name."""
    if name not in wdata.TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {sorted(wdata.TASKS)}")
    spec = wdata.TASKS[name]
    return TASK_KINDS[spec["kind"]](name, spec, TASK_DEFAULTS.get(name))
