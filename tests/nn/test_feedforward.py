"""FeedForward's fused bias + GELU + dropout: the same bits as the layers run one by one."""

from __future__ import annotations

import numpy as np
import pytest

from wavelearn.nn import FeedForward, rowwise


def chain_forward(ff: FeedForward, x: np.ndarray) -> np.ndarray:
    """The four layers' own forwards, in order (no fusion)."""
    return ff.fc2(ff.drop(ff.act(ff.fc1(x))))


def chain_backward(ff: FeedForward, dy: np.ndarray) -> np.ndarray:
    return ff.fc1.backward(ff.act.backward(ff.drop.backward(ff.fc2.backward(dy))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [6, 700], ids=["one block", "many blocks on threads"])
@pytest.mark.parametrize("p", [0.3, 0.0], ids=["dropout", "no dropout"])
def test_fused_gelu_dropout_gives_the_bits_of_the_layer_chain(
        dtype: type, rows: int, p: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rowwise, "ELEMENTWISE_BLOCK", 64)  # 700 rows of 16: 175 blocks
    monkeypatch.setattr(rowwise, "ELEMENTWISE_PARALLEL_MIN", 256)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows // 2, 2, 4)).astype(dtype) * 3
    dy = rng.standard_normal((rows // 2, 2, 4)).astype(dtype)
    fused, chain = (FeedForward(4, 16, dropout=p, dtype=dtype, rng=7) for _ in range(2))
    for _ in range(2):  # a second step: the dropout streams stay in step
        y = fused(x)
        assert fused.cache["fused"]
        np.testing.assert_array_equal(y, chain_forward(chain, x))
        np.testing.assert_array_equal(fused.backward(dy), chain_backward(chain, dy))
        for (name, p), q in zip(fused.named_parameters(), chain.parameters(), strict=True):
            np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)
    # both layers' caches are theirs: their own backwards run from them
    np.testing.assert_array_equal(fused.drop.cache["mask"], chain.drop.cache["mask"])
    np.testing.assert_array_equal(fused.act.cache["slope"], chain.act.cache["slope"])


@pytest.mark.parametrize(("training", "p", "fused"),
                         [(True, 0.1, True), (False, 0.1, False), (True, 0.0, True),
                          (True, 1.0, True)])
def test_fusion_in_training_only(training: bool, p: float, fused: bool) -> None:
    ff = FeedForward(4, 8, dropout=p, dtype=np.float64, rng=0).train(training)
    x = np.random.default_rng(1).standard_normal((3, 5, 4))
    y = ff(x)
    assert ff.cache["fused"] is fused
    reference = FeedForward(4, 8, dropout=p, dtype=np.float64, rng=0).train(training)
    np.testing.assert_array_equal(y, chain_forward(reference, x))
