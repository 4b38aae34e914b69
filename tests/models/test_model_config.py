"""Model configs: fields = constructor arguments, validation, unknown keys, JSON/YAML files."""

from __future__ import annotations

import dataclasses
import inspect
import json

import numpy as np
import pytest
import torch
import yaml

from wavelearn import (
    WaveletDecoder,
    WaveletDecoderConfig,
    WaveletEncoder,
    WaveletEncoderConfig,
    WaveletTransformer,
    WaveletTransformerConfig,
)
from wavelearn.models.config import ConfigError

PAIRS = [
    (WaveletTransformer, WaveletTransformerConfig),
    (WaveletEncoder, WaveletEncoderConfig),
    (WaveletDecoder, WaveletDecoderConfig),
]
SMALL = dict(hidden_dim=8, num_layers=2, max_sequence_length=32, ffn_hidden_dim=12)


def small_config(config_cls, **kw):
    base = dict(SMALL, vocab_size=11) if config_cls is WaveletDecoderConfig else dict(SMALL)
    base.update(kw)
    return config_cls(**base)


@pytest.mark.parametrize("model_cls, config_cls", PAIRS)
def test_fields_are_exactly_the_constructor_arguments(model_cls, config_cls) -> None:
    params = inspect.signature(model_cls).parameters
    args = {k: p.default for k, p in params.items() if k != "self"}
    fields = {f.name: f.default for f in dataclasses.fields(config_cls)}
    assert list(fields) == list(args)
    for name, default in args.items():
        if default is not inspect.Parameter.empty:
            assert fields[name] == default, name
    assert list(fields)[-2:] == ["dtype", "seed"]
    # spectrans' arguments are positional; wavelearn's extras are keyword-only
    keyword_only = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keyword_only == [k for k in ("mode", "pooling", "dtype", "seed") if k in fields]
    with pytest.raises(TypeError, match="positional"):
        model_cls(*[fields[k] for k in fields])  # an extra given by position is refused


def test_decoder_has_no_mode_or_pooling_and_needs_vocab_size() -> None:
    names = WaveletDecoderConfig.field_names()
    assert "mode" not in names and "pooling" not in names
    assert WaveletDecoderConfig(vocab_size=5).levels == 2
    with pytest.raises(ConfigError, match="missing required keys"):
        WaveletDecoderConfig.from_dict({"hidden_dim": 8})
    with pytest.raises(ConfigError, match=r"vocab_size must be an int >= 1; got None"):
        WaveletDecoderConfig(vocab_size=None)


BAD_VALUES = [
    ("vocab_size", 0, "an int >= 1 or None"),
    ("hidden_dim", 0, "an int >= 1"),
    ("hidden_dim", 7.5, "an int >= 1"),
    ("hidden_dim", True, "an int >= 1"),
    ("num_layers", -1, "an int >= 1"),
    ("max_sequence_length", "512", "an int >= 1"),
    ("wavelet", "db99", "discrete wavelet name"),
    ("wavelet", "morl", "discrete wavelet name"),
    ("levels", 0, "an int >= 1"),
    ("mixing_mode", "spectral", "'pointwise', 'channel', 'level'"),
    ("num_classes", 0, "an int >= 1 or None"),
    ("use_positional_encoding", 1, "True or False"),
    ("positional_encoding_type", "fourier", "'sinusoidal', 'learned', 'rotary', 'none'"),
    ("positional_encoding_type", "alibi", "attention scores"),
    ("dropout", 1.0, r"a number in \[0.0, 1.0\)"),
    ("dropout", -0.1, r"a number in \[0.0, 1.0\)"),
    ("dropout", "0.1", "a number in"),
    ("dropout", float("nan"), "a number in"),
    ("ffn_hidden_dim", 0, "an int >= 1 or None"),
    ("norm_eps", 0.0, r"a number in \(0.0, 1.0\)"),
    ("output_type", "tokens", "'classification', 'regression', 'sequence', 'lm', 'none'"),
    ("gradient_checkpointing", "no", "True or False"),
    ("mode", "wrap", "'periodization'"),
    ("pooling", "max", "'mean', 'cls'"),
    ("dtype", "int32", "'float32' or 'float64'"),
    ("dtype", "float16", "'float32' or 'float64'"),
    ("seed", -1, "an int >= 0"),
]


@pytest.mark.parametrize("field, value, allowed", BAD_VALUES)
def test_every_field_is_validated(field, value, allowed) -> None:
    with pytest.raises(ConfigError) as err:
        WaveletTransformerConfig(**{field: value})
    msg = str(err.value)
    assert f"WaveletTransformerConfig.{field}" in msg  # names the field
    if field != "positional_encoding_type" or value != "alibi":
        assert repr(value) in msg  # names the value
    assert err.match(allowed)  # says what is allowed


def test_config_error_is_value_and_type_error() -> None:
    with pytest.raises(ValueError):
        WaveletEncoderConfig(levels=0)
    with pytest.raises(TypeError):
        WaveletEncoderConfig(hidden_dim="big")


def test_cross_field_rules() -> None:
    with pytest.raises(ConfigError, match="even.*rotary"):
        WaveletEncoderConfig(hidden_dim=7, positional_encoding_type="rotary")
    WaveletEncoderConfig(hidden_dim=7, positional_encoding_type="rotary",
                         use_positional_encoding=False)
    with pytest.raises(ConfigError, match="output_type='lm'"):
        WaveletTransformerConfig(output_type="lm")
    WaveletTransformerConfig(output_type="lm", vocab_size=10)
    WaveletTransformerConfig(output_type="classification")  # num_classes checked at forward


def test_values_are_normalised() -> None:
    c = WaveletTransformerConfig(hidden_dim=np.int64(16), dropout=0, dtype=np.float64,
                                 norm_eps=1e-5)
    assert type(c.hidden_dim) is int and c.dropout == 0.0 and type(c.dropout) is float
    assert c.dtype == "float64"
    assert WaveletEncoderConfig(dtype=torch.float32).dtype == "float32"
    assert WaveletEncoderConfig(dtype=None).dtype is None
    import pywt

    assert WaveletEncoderConfig(wavelet=pywt.Wavelet("sym4")).wavelet == "sym4"
    json.dumps(c.to_dict())  # JSON-ready


def test_frozen_and_replace_validates() -> None:
    c = WaveletEncoderConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.hidden_dim = 4
    assert dataclasses.replace(c, hidden_dim=4).hidden_dim == 4
    with pytest.raises(ConfigError):
        dataclasses.replace(c, hidden_dim=-4)


@pytest.mark.parametrize("config_cls", [c for _, c in PAIRS])
def test_unknown_keys_are_rejected(config_cls) -> None:
    data = small_config(config_cls).to_dict()
    data["hiden_dim"] = 16
    with pytest.raises(ConfigError, match=r"unknown keys \['hiden_dim'\].*hidden_dim"):
        config_cls.from_dict(data)
    with pytest.raises(ConfigError, match="mapping"):
        config_cls.from_dict([("hidden_dim", 8)])


@pytest.mark.parametrize("config_cls", [c for _, c in PAIRS])
@pytest.mark.parametrize("ext", [".json", ".yaml", ".yml"])
def test_file_round_trip(tmp_path, config_cls, ext) -> None:
    config = small_config(config_cls, wavelet="sym5", dropout=0.25, dtype="float64", seed=7,
                          norm_eps=1e-12, positional_encoding_type="learned")
    path = tmp_path / f"config{ext}"
    config.save(path)
    assert config_cls.load(path) == config
    text = path.read_text()
    data = json.loads(text) if ext == ".json" else yaml.safe_load(text)
    assert data == config.to_dict()


def test_file_errors(tmp_path) -> None:
    config = WaveletEncoderConfig()
    with pytest.raises(ConfigError, match=r"unsupported extension '.toml'"):
        config.save(tmp_path / "config.toml")
    (tmp_path / "c.txt").write_text("{}")
    with pytest.raises(ConfigError, match="extension"):
        WaveletEncoderConfig.load(tmp_path / "c.txt")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        WaveletEncoderConfig.load(tmp_path / "list.yaml")
    (tmp_path / "bad.json").write_text('{"levels": 0}')
    with pytest.raises(ConfigError, match="levels"):
        WaveletEncoderConfig.load(tmp_path / "bad.json")
    (tmp_path / "extra.yml").write_text("levels: 2\ncolour: blue\n")
    with pytest.raises(ConfigError, match="colour"):
        WaveletEncoderConfig.load(tmp_path / "extra.yml")


@pytest.mark.parametrize("model_cls, config_cls", PAIRS)
def test_from_config_builds_an_equal_model(model_cls, config_cls, tmp_path) -> None:
    kw = dict(num_classes=3) if model_cls is WaveletTransformer else {}
    config = small_config(config_cls, levels=2, mixing_mode="channel", **kw)
    model = model_cls.from_config(config)
    direct = model_cls(**config.to_dict())
    assert model.config == config == direct.config
    assert type(model) is model_cls
    state, other = model.state_dict(), direct.state_dict()
    assert state.keys() == other.keys()
    for k in state:
        np.testing.assert_array_equal(state[k], other[k])
    config.save(tmp_path / "c.yaml")
    again = model_cls.from_config(config_cls.load(tmp_path / "c.yaml"))
    assert again.config == config
    assert model_cls.from_config(config.to_dict()).config == config


def test_from_config_wrong_class() -> None:
    with pytest.raises(TypeError, match="WaveletTransformerConfig"):
        WaveletTransformer.from_config(WaveletEncoderConfig())
    with pytest.raises(TypeError, match="WaveletDecoderConfig"):
        WaveletDecoder.from_config(WaveletTransformerConfig(vocab_size=4))


def test_constructors_validate_through_the_config() -> None:
    with pytest.raises(ConfigError, match="WaveletEncoderConfig.levels"):
        WaveletEncoder(**SMALL, levels=0)
    with pytest.raises(ConfigError, match="WaveletDecoderConfig.dropout"):
        WaveletDecoder(5, **SMALL, dropout=2.0)
