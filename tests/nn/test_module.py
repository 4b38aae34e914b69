"""Misuse of layers (issue 13, item 10): ``backward`` before ``forward`` and
``backward(None)`` say what is wrong, for every layer, instead of a KeyError or
AttributeError from inside; ``load_state_dict`` checks its argument."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from wavelearn.nn import block, layers, mixing, positional
from wavelearn.nn.feedforward import FeedForward
from wavelearn.nn.module import Cache, cast_to

X = np.ones((2, 8, 4), np.float32)


LAYERS = {  # name -> (a fresh layer, its input)
    "Linear": lambda: (layers.Linear(4, 4), X),
    "LayerNorm": lambda: (layers.LayerNorm(4), X),
    "GELU": lambda: (layers.GELU(), X),
    "Dropout": lambda: (layers.Dropout(0.5, seed=0), X),
    "Embedding": lambda: (layers.Embedding(10, 4), np.zeros((2, 8), np.int64)),
    "FeedForward": lambda: (FeedForward(4, 8), X),
    "WaveletMixing": lambda: (mixing.WaveletMixing(4, "haar", 2), X),
    "CausalWaveletMixing": lambda: (mixing.CausalWaveletMixing(4, "haar", 2), X),
    "WaveletBlock": lambda: (block.WaveletBlock(4, 8, mixing.WaveletMixing(4, "haar", 2),
                                                0.0, 1e-5), X),
    "LearnedPositionalEncoding": lambda: (positional.make_positional_encoding("learned", 8, 4),
                                          X),
}


@pytest.mark.parametrize("name", LAYERS)
def test_backward_before_forward_says_so(name):
    layer, _ = LAYERS[name]()
    with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward\(\) first"):
        layer.backward(np.ones((2, 8, 4), np.float32))


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("bad", [None, [[1.0]], "dy"])
def test_backward_of_a_non_array_is_a_type_error(name, bad):
    layer, x = LAYERS[name]()
    layer(x)
    with pytest.raises(TypeError, match="array"):
        layer.backward(bad)


def test_cache_is_a_cache_whatever_dict_is_assigned():
    layer = layers.Linear(3, 2)
    assert isinstance(layer.cache, Cache) and len(layer.cache) == 0
    layer.cache = {"x": 1}
    assert isinstance(layer.cache, Cache) and layer.cache["x"] == 1
    with pytest.raises(RuntimeError, match="Linear.backward"):
        layer.cache["missing"]
    assert "x" in layer.cache and layer.cache.get("y") is None  # dict reads stay as they were
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert isinstance(clone.cache, Cache) and clone.cache.owner == "Linear"
        assert dict(clone.cache) == {"x": 1}


def test_cast_to_names_what_it_got():
    with pytest.raises(TypeError, match="NoneType"):
        cast_to(None, np.float32)


@pytest.mark.parametrize("state, match", [
    (None, "mapping"),
    ([("weight", np.ones((2, 3)))], "mapping"),
    ({"weight": None, "bias": np.zeros(2)}, r"state\['weight'\].*array"),
    ({"weight": [[1.0] * 3] * 2, "bias": np.zeros(2)}, r"state\['weight'\].*array"),
    ({"weight": np.ones((2, 3), complex), "bias": np.zeros(2)}, "real numbers"),
    ({"weight": np.array([["a"] * 3] * 2), "bias": np.zeros(2)}, "real numbers"),
])
def test_load_state_dict_checks_its_argument(state, match):
    layer = layers.Linear(3, 2)
    before = layer.state_dict()
    with pytest.raises(TypeError, match=match):
        layer.load_state_dict(state)
    for key, value in layer.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(value, before[key])
