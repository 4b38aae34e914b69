"""Misuse of the three models (issue 13, items 10 and 15): clear errors for
``backward`` before ``forward``, ``backward(None)``, ``load_state_dict(None)``,
and levels too deep for ``max_sequence_length`` (a warning, as ``wavedec``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import wavelearn as wl
from wavelearn.models import WaveletDecoder, WaveletEncoder, WaveletTransformer
from wavelearn.models.config import ConfigError, WaveletTransformerConfig

SMALL = dict(hidden_dim=8, num_layers=1, max_sequence_length=16, wavelet="haar", levels=2)
MODELS = {
    "transformer": lambda: WaveletTransformer(vocab_size=10, num_classes=3, **SMALL),
    "encoder": lambda: WaveletEncoder(**SMALL),
    "decoder": lambda: WaveletDecoder(vocab_size=10, **SMALL),
}


def _forward(model):
    if isinstance(model, WaveletEncoder):
        return model(inputs_embeds=np.zeros((2, 4, 8), np.float32))
    return model(np.zeros((2, 4), np.int64))


@pytest.mark.parametrize("kind", MODELS)
def test_backward_before_forward_says_so(kind):
    model = MODELS[kind]()
    for dout in (np.ones((2, 3), np.float32), None):
        with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward\(\) first"):
            model.backward(dout)


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("bad, error, match", [
    (None, TypeError, "dout must be a real floating-point array.*got None"),
    ("ones", TypeError, "array"),
    ("complex", TypeError, "complex128"),
    ("bool", TypeError, "bool"),
    ("shape", ValueError, "shape"),
])
def test_backward_of_a_bad_gradient(kind, bad, error, match):
    model = MODELS[kind]()
    out = _forward(model)
    dout = {None: None, "ones": np.ones(out.shape).tolist(),
            "complex": np.ones(out.shape, complex), "bool": np.ones(out.shape, bool),
            "shape": np.ones((1, *out.shape), np.float32)}[bad]
    with pytest.raises(error, match=match):
        model.backward(dout)
    model.backward(np.ones(out.shape, np.float32))  # the model still works


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("state, match", [
    (None, "mapping.*NoneType"),
    ("values None", r"state\['.*'\] must be an array"),
    ("values lists", r"state\['.*'\] must be an array.*list"),
])
def test_load_state_dict_of_a_bad_state(kind, state, match):
    model = MODELS[kind]()
    good = model.state_dict()
    state = {None: None,
             "values None": {k: None for k in good},
             "values lists": {k: v.tolist() for k, v in good.items()}}[state]
    with pytest.raises(TypeError, match=match):
        model.load_state_dict(state)
    model.load_state_dict(good)  # and a good one still loads


# ---------------------------------------------------------------------------
# Item 15: levels too deep for max_sequence_length warn, as wavedec does
# ---------------------------------------------------------------------------


def test_levels_above_dwt_max_level_warn_like_wavedec():
    with pytest.warns(UserWarning, match="dwt_max_level") as model_warning:
        WaveletTransformer(vocab_size=10, hidden_dim=8, num_layers=1, max_sequence_length=32,
                           levels=10, num_classes=2)
    with pytest.warns(UserWarning, match="dwt_max_level"):
        wl.wavedec(np.ones(32), "db4", level=10)
    assert "levels=10" in str(model_warning[0].message)
    assert "max_sequence_length=32" in str(model_warning[0].message)
    for cls, extra in ((WaveletEncoder, {}), (WaveletDecoder, {"vocab_size": 10})):
        with pytest.warns(UserWarning, match="dwt_max_level"):
            cls(hidden_dim=8, num_layers=1, max_sequence_length=32, levels=10, **extra)


def test_levels_within_dwt_max_level_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        WaveletTransformerConfig(max_sequence_length=512, wavelet="db4", levels=6)
        WaveletDecoder(vocab_size=5, hidden_dim=4, num_layers=1, max_sequence_length=8,
                       wavelet="haar", levels=3)


def test_absurd_levels_are_refused():
    with pytest.raises(ConfigError, match="levels"):
        WaveletTransformerConfig(levels=10**9)


def test_config_takes_wavelet_names_in_any_case_and_mode_aliases():
    config = WaveletTransformerConfig(wavelet="DB4", mode="per")
    assert (config.wavelet, config.mode) == ("db4", "periodization")
    assert WaveletTransformerConfig(mode=5).mode == "periodization"
    with pytest.raises(ConfigError, match="continuous"):
        WaveletTransformerConfig(wavelet="cmor1.5-1.0")


def test_causal_bank_refuses_a_custom_wavelet_without_low_pass():
    from wavelearn.nn.mixing import CausalWaveletMixing

    highpass_only = wl.Wavelet("z", filter_bank=([1, -1], [1, 1], [-1, 1], [1, 1]))
    with pytest.raises(ValueError, match="low-pass"):
        CausalWaveletMixing(4, highpass_only, 2)
