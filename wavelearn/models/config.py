"""Validated configurations of the three wavelet models, stored as JSON or YAML.

Each config is a frozen dataclass whose fields are exactly the arguments of
its model's constructor, so ``Model(**config.to_dict())`` and
``Model.from_config(config)`` build the same model:

* :class:`WaveletTransformerConfig` -> :class:`wavelearn.models.WaveletTransformer`
* :class:`WaveletEncoderConfig` -> :class:`wavelearn.models.WaveletEncoder`
* :class:`WaveletDecoderConfig` -> :class:`wavelearn.models.WaveletDecoder`

Every field is checked when the config is created (type, range, allowed
choices, plus a few cross-field rules); a failure raises :class:`ConfigError`,
whose message names the field, the value it got and what is allowed.
``ConfigError`` subclasses both ``ValueError`` and ``TypeError``, so either
``except`` clause catches it.

Files: ``config.save('model.json')`` / ``Config.load('model.yaml')`` pick the
format from the extension (``.json``, ``.yaml`` or ``.yml``; anything else
raises). A file holds one mapping ``{field: value}``; unknown keys are
rejected, never ignored, so a typo cannot silently fall back to a default.
To change a field of a (frozen) config use ``dataclasses.replace(config, ...)``,
which validates again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from wavelearn.dwt.transforms import LEVEL_LIMIT, dwt_max_level
from wavelearn.dwt.wavelets import MODES, as_wavelet, check_mode, discrete_names
from wavelearn.nn.mixing import MIXING_MODES
from wavelearn.nn.module import numpy_dtype
from wavelearn.nn.positional import ALIBI_MESSAGE, POSITIONAL_ENCODING_TYPES

OUTPUT_TYPES = ("classification", "regression", "sequence", "lm", "none")
POOLING_TYPES = ("mean", "cls")
DTYPES = ("float32", "float64")
FILE_FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}

C = TypeVar("C", bound="_ModelConfig")


class ConfigError(ValueError, TypeError):
    """An invalid configuration value, key or file (a ValueError and a TypeError)."""


# ---------------------------------------------------------------------------
# Field checks: each returns the (normalised) value or raises ConfigError
# ---------------------------------------------------------------------------


def _fail(name: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{name} must be {allowed}; got {value!r}")


def _int(minimum: int, optional: bool = False) -> Callable[[str, Any], Any]:
    """An int >= ``minimum`` (numpy ints accepted, bools refused); ``None`` if ``optional``."""
    allowed = f"an int >= {minimum}" + (" or None" if optional else "")

    def check(name: str, value: Any) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise _fail(name, value, allowed)
        if value < minimum:
            raise _fail(name, value, allowed)
        return int(value)

    return check


def _float(low: float, high: float, high_open: bool, low_open: bool = False) -> Callable:
    """A real number in the interval; ints are accepted and converted to float."""
    allowed = (f"a number in {'(' if low_open else '['}{low}, {high}"
               f"{')' if high_open else ']'}")

    def check(name: str, value: Any) -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise _fail(name, value, allowed)
        v = float(value)
        too_low = v <= low if low_open else v < low
        too_high = v >= high if high_open else v > high
        if not np.isfinite(v) or too_low or too_high:
            raise _fail(name, value, allowed)
        return v

    return check


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(name, value, "True or False")
    return bool(value)


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    allowed = "one of " + ", ".join(repr(c) for c in choices)

    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise _fail(name, value, allowed)
        return value

    return check


def _wavelet(name: str, value: Any) -> str:
    """A discrete wavelet name, in any letter case (stored in lower case); a
    ``Wavelet`` / ``pywt.Wavelet`` is stored by its name. A custom filter bank
    has no name to store, so it is refused."""
    allowed = ("a discrete wavelet name such as 'haar', 'db4', 'sym6', 'coif3' (any of "
               "pywt.wavelist(kind='discrete'))")
    try:
        w = as_wavelet(value)
    except (TypeError, ValueError) as e:
        raise _fail(name, value, f"{allowed} [{e}]") from None
    if w.name not in discrete_names() or as_wavelet(w.name) != w:
        raise _fail(name, value, f"{allowed}; a custom filter bank cannot be stored in a config")
    return w.name


def _mode(name: str, value: Any) -> str:
    """A boundary mode, stored by its name (PyWavelets' aliases and codes accepted)."""
    try:
        return check_mode(value)
    except (TypeError, ValueError):
        allowed = ("one of " + ", ".join(repr(m) for m in MODES)
                   + " (or a PyWavelets alias such as 'per', or a code 0..8)")
        raise _fail(name, value, allowed) from None


def _levels(name: str, value: Any) -> int:
    """Decomposition levels: an int from 1 to ``LEVEL_LIMIT`` (as ``wavedec``)."""
    levels = _int(1)(name, value)
    if levels > LEVEL_LIMIT:
        raise _fail(name, value, f"an int >= 1 and at most {LEVEL_LIMIT}")
    return levels


def _positional(name: str, value: Any) -> str:
    if value == "alibi":
        raise ConfigError(f"{name}: {ALIBI_MESSAGE}")
    return _choice(POSITIONAL_ENCODING_TYPES)(name, value)


def _dtype(name: str, value: Any) -> str | None:
    """``None`` (float32) or a float dtype, stored by name: 'float32' or 'float64'."""
    if value is None:
        return None
    try:
        dt = numpy_dtype(value).name
    except TypeError:
        dt = None
    if dt not in DTYPES:
        raise _fail(name, value, "None (float32), 'float32' or 'float64'")
    return dt


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside wavelearn.models (and the
    dataclass ``__init__``), so a warning points at the user's line."""
    here, frame, level = os.path.dirname(os.path.abspath(__file__)), sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename.startswith(here)
                                 or frame.f_code.co_filename.startswith("<")):
        frame, level = frame.f_back, level + 1
    return level


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "vocab_size": _int(1, optional=True),
    "hidden_dim": _int(1),
    "num_layers": _int(1),
    "max_sequence_length": _int(1),
    "wavelet": _wavelet,
    "levels": _levels,
    "mixing_mode": _choice(MIXING_MODES),
    "num_classes": _int(1, optional=True),
    "use_positional_encoding": _bool,
    "positional_encoding_type": _positional,
    "dropout": _float(0.0, 1.0, high_open=True),
    "ffn_hidden_dim": _int(1, optional=True),
    "norm_eps": _float(0.0, 1.0, high_open=True, low_open=True),
    "output_type": _choice(OUTPUT_TYPES),
    "gradient_checkpointing": _bool,
    "mode": _mode,
    "pooling": _choice(POOLING_TYPES),
    "dtype": _dtype,
    "seed": _int(0),
}


# ---------------------------------------------------------------------------
# The shared base: validation, dicts, files
# ---------------------------------------------------------------------------


class _ModelConfig:
    """Validation and (de)serialisation shared by the three config dataclasses."""

    required_ints: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            check = _int(1) if f.name in self.required_ints else _CHECKS[f.name]
            object.__setattr__(self, f.name, check(self._qualified(f.name), value))
        self._check_together()

    def _qualified(self, name: str) -> str:
        return f"{type(self).__name__}.{name}"

    def _check_together(self) -> None:
        """Rules that involve two fields."""
        pe = self.use_positional_encoding and self.positional_encoding_type == "rotary"
        if pe and self.hidden_dim % 2:
            raise ConfigError(
                f"{self._qualified('hidden_dim')} must be even with rotary positional encoding "
                f"(it rotates channel pairs (2i, 2i+1)); got {self.hidden_dim}")
        if self.output_type == "lm" and self.vocab_size is None:
            raise ConfigError(f"{self._qualified('vocab_size')} must be an int >= 1 with "
                              "output_type='lm' (the head predicts tokens); got None")
        self._warn_deep_levels()

    def _warn_deep_levels(self) -> None:
        """Warn, as ``wavedec`` does, when ``levels`` is above ``dwt_max_level`` even
        for the longest sequence: every coefficient then feels the boundary."""
        max_level = dwt_max_level(self.max_sequence_length, self.wavelet)
        if self.levels > max_level:
            warnings.warn(
                f"{self._qualified('levels')}={self.levels} is above dwt_max_level={max_level} "
                f"for max_sequence_length={self.max_sequence_length} and {self.wavelet} (F="
                f"{as_wavelet(self.wavelet).dec_len}): every coefficient is affected by the "
                "boundary (wavedec warns in the same case)",
                UserWarning,
                stacklevel=_caller_stacklevel(),
            )

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        """``{field: value}`` in field order, JSON/YAML-ready."""
        return {name: getattr(self, name) for name in self.field_names()}

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build and validate a config from a mapping; unknown keys raise ConfigError."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{cls.__name__}.from_dict needs a mapping of field -> value; "
                              f"got {type(data).__name__}")
        names = cls.field_names()
        unknown = [k for k in data if k not in names]
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown keys {unknown}; "
                              f"the allowed keys are {list(names)}")
        missing = [n for n in cls.required_ints if n not in data]
        if missing:
            raise ConfigError(f"{cls.__name__}: missing required keys {missing}")
        return cls(**dict(data))

    def save(self, path: str | os.PathLike) -> None:
        """Write the config to ``path`` as JSON (``.json``) or YAML (``.yaml`` / ``.yml``)."""
        fmt = _file_format(path)
        with open(path, "w", encoding="utf-8") as f:
            if fmt == "json":
                json.dump(self.to_dict(), f, indent=2)
                f.write("\n")
            else:
                import yaml

                yaml.safe_dump(self.to_dict(), f, sort_keys=False)

    @classmethod
    def load(cls: type[C], path: str | os.PathLike) -> C:
        """Read a config written by :meth:`save` (format from the extension)."""
        fmt = _file_format(path)
        with open(path, encoding="utf-8") as f:
            if fmt == "json":
                data = json.load(f)
            else:
                import yaml

                data = yaml.safe_load(f)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{os.fspath(path)!r}: expected a mapping of field -> value, "
                              f"got {type(data).__name__}")
        return cls.from_dict(data)


def _file_format(path: str | os.PathLike) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FILE_FORMATS:
        raise ConfigError(f"config file {os.fspath(path)!r}: unsupported extension {ext!r}; "
                          f"use one of {', '.join(FILE_FORMATS)}")
    return FILE_FORMATS[ext]


# ---------------------------------------------------------------------------
# The three configs (fields = constructor arguments, same order and defaults)
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WaveletTransformerConfig(_ModelConfig):
    """Arguments of :class:`~wavelearn.models.WaveletTransformer` (see there for meanings)."""

    vocab_size: int | None = None
    hidden_dim: int = 768
    num_layers: int = 12
    max_sequence_length: int = 512
    wavelet: str = "db4"
    levels: int = 3
    mixing_mode: str = "pointwise"
    num_classes: int | None = None
    use_positional_encoding: bool = True
    positional_encoding_type: str = "sinusoidal"
    dropout: float = 0.1
    ffn_hidden_dim: int | None = None
    norm_eps: float = 1e-12
    output_type: str = "classification"
    gradient_checkpointing: bool = False
    _: dataclasses.KW_ONLY
    mode: str = "periodization"
    pooling: str = "mean"
    dtype: str | None = None
    seed: int = 0


def _variant(name: str, doc: str, *, fixed: Mapping[str, Any], required: tuple[str, ...] = (),
             defaults: Mapping[str, Any] | None = None) -> type:
    """A config class with the fields of :class:`WaveletTransformerConfig` (same order,
    types, defaults and keyword-only extras) except the ``fixed`` ones, which become
    class attributes answering for the whole class (a decoder's ``output_type`` is
    always ``'lm'``); ``required`` fields lose their default, ``defaults`` change some."""
    fields = []
    for f in dataclasses.fields(WaveletTransformerConfig):
        if f.name in fixed:
            continue
        default = (defaults or {}).get(f.name, f.default)
        spec = dataclasses.field(kw_only=f.kw_only) if f.name in required else \
            dataclasses.field(default=default, kw_only=f.kw_only)
        fields.append((f.name, f.type, spec))
    namespace = {"__doc__": doc, "required_ints": required, **fixed}
    cls = dataclasses.make_dataclass(name, fields, bases=(_ModelConfig,), frozen=True,
                                     namespace=namespace)
    cls.__module__ = __name__  # pickle and the docs find it here
    return cls


WaveletEncoderConfig = _variant(
    "WaveletEncoderConfig",
    "Arguments of :class:`~wavelearn.models.WaveletEncoder`: those of the transformer "
    "without a vocabulary or a head (it maps ``inputs_embeds`` to hidden states).",
    fixed={"vocab_size": None, "num_classes": None, "output_type": "none"})

WaveletDecoderConfig = _variant(
    "WaveletDecoderConfig",
    "Arguments of :class:`~wavelearn.models.WaveletDecoder`: ``vocab_size`` required, "
    "``levels`` 2 by default, no ``mode``/``pooling`` (the causal bands are undecimated: "
    "no boundary mode), no ``num_classes`` (the head predicts tokens).",
    fixed={"num_classes": None, "output_type": "lm", "mode": None, "pooling": None},
    required=("vocab_size",), defaults={"levels": 2})
