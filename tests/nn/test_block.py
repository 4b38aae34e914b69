"""wavelearn.nn.block: the in-place dropout and residual adds of a block change nothing
but how many arrays it writes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from wavelearn.nn import block, layers, mixing
from wavelearn.nn.module import Module


class ForeignMixer(Module):
    """A mixer of a user's own that keeps its output (the block must not overwrite it)."""

    def __init__(self, inner: Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Any) -> Any:
        y = self.inner(x)
        self.cache = {"y": y, "copy": y.copy()}
        return y

    def backward(self, dy: Any) -> Any:
        np.testing.assert_array_equal(self.cache["y"], self.cache["copy"])  # untouched
        return self.inner.backward(dy)


def make_block(own: bool, causal: bool) -> block.WaveletBlock:
    kind = mixing.CausalWaveletMixing if causal else mixing.WaveletMixing
    mixer = kind(6, "db2", 2, dtype=np.float64)
    return block.WaveletBlock(6, 12, mixer if own else ForeignMixer(mixer), dropout=0.3,
                              norm_eps=1e-5, dtype=np.float64, rng=3).train()


@pytest.mark.parametrize("causal", [False, True])
def test_in_place_block_equals_the_out_of_place_one_and_keeps_its_input(causal: bool) -> None:
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((2, 16, 6)), rng.standard_normal((2, 16, 6))
    own, foreign = make_block(True, causal), make_block(False, causal)
    assert own.drop1.inplace and not foreign.drop1.inplace
    x_before = x.copy()
    y_own, y_foreign = own(x), foreign(x)
    np.testing.assert_array_equal(x, x_before)  # the residual did not write over x
    np.testing.assert_array_equal(y_own, y_foreign)
    np.testing.assert_array_equal(own.backward(dy), foreign.backward(dy))
    for a, b in zip(own.parameters(), foreign.parameters(), strict=True):
        np.testing.assert_array_equal(a.grad, b.grad)


@pytest.mark.parametrize("rows", [16, 400], ids=["one block", "many blocks on threads"])
def test_fused_dropout_and_residual_give_the_bits_of_the_two_layers(
        rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from wavelearn.nn import rowwise

    monkeypatch.setattr(rowwise, "ELEMENTWISE_BLOCK", 60)  # 10 rows of 6 per block
    monkeypatch.setattr(rowwise, "ELEMENTWISE_PARALLEL_MIN", 120)
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((2, rows, 6)), rng.standard_normal((2, rows, 6))
    fused, apart = make_block(True, False), make_block(True, False)
    y, dx = fused(x), fused.backward(dy)
    monkeypatch.setattr(block, "_dropout_residual",
                        lambda drop, b, x, temporary: block._residual(drop(b), x, temporary))
    np.testing.assert_array_equal(y, apart(x))
    np.testing.assert_array_equal(dx, apart.backward(dy))
    for (name, a), b in zip(fused.named_parameters(), apart.parameters(), strict=True):
        np.testing.assert_array_equal(a.grad, b.grad, err_msg=name)
    np.testing.assert_array_equal(fused.drop1.cache["mask"], apart.drop1.cache["mask"])
    assert fused.drop2.cache["mask"].mean() < 0.9  # dropout did act


def test_in_place_dropout_writes_over_its_input() -> None:
    x = np.random.default_rng(1).standard_normal((50, 40))
    want = layers.Dropout(0.3, seed=5)(x)
    y = layers.Dropout(0.3, seed=5, inplace=True)(x)
    assert y is x
    np.testing.assert_array_equal(y, want)
