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


def _peak_bytes(f) -> int:
    """The most memory ``f()`` held at once beyond what was held before (NumPy reports its
    buffers to tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        f()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("p", [0.1, 0.0], ids=["dropout", "no dropout"])
def test_fused_training_step_writes_gelu_and_its_gradient_over_temporaries(
        p: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """In training, GELU's output is written over ``h = x W_1^T`` and the gradient of ``h``
    over fc2's ``dx``: the forward holds ``h`` and the slope (2 hidden-sized arrays, not 3),
    the backward one hidden-sized array at a time (not 2). The mask is 1 byte a value.
    (Without :mod:`wavelearn.buffers`, which would keep the last step's arrays.)"""
    from wavelearn import buffers

    monkeypatch.setattr(buffers, "ENABLED", False)
    buffers.clear()
    x = np.random.default_rng(0).standard_normal((8, 512, 8)).astype(np.float32)
    ff = FeedForward(8, 256, dropout=p, dtype=np.float32, rng=0)
    hidden = 8 * 512 * 256 * 4  # bytes of one (8, 512, 256) float32 array
    ff(x)  # a first step: what the second holds is its own, not the first's
    y = None

    def forward() -> None:
        nonlocal y
        y = ff(x)

    fwd = _peak_bytes(forward)
    # h (then y), slope, mask (0.25), the blocks' temporaries: 2.5 (3.6-3.9 with a new y)
    assert fwd <= 2.75 * hidden, fwd / hidden
    bwd = _peak_bytes(lambda: ff.backward(np.ones_like(y)))
    assert bwd <= 1.3 * hidden, bwd / hidden  # dh, then fc1's small products: 1.04 (2.4)


def test_torch_cpu_tensors_take_the_compiled_loops_on_their_own_memory(count_calls) -> None:
    """On torch CPU tensors that autograd does not record, the fused bias + GELU + dropout
    and the block's dropout + residual run the compiled loops on NumPy views of the
    tensors (``Backend.host_view``): the values of the NumPy backend (its products aside),
    torch tensors in and out; a tensor that autograd records takes torch's operations."""
    torch = pytest.importorskip("torch")
    import wavelearn
    from wavelearn.nn import compiled
    from wavelearn.nn.block import _dropout_residual
    from wavelearn.nn.layers import Dropout

    calls = count_calls(compiled, ("bias_gelu_dropout", "mask_scale_times", "mask_scale_plus"))
    x = np.random.default_rng(0).standard_normal((3, 40, 8))
    out = {}
    for backend in ("numpy", "torch"):
        with wavelearn.use_backend(backend):
            ff = FeedForward(8, 32, dropout=0.25, dtype="float64", rng=1)
            xb = wavelearn.asarray(x)
        y = ff(xb)
        assert ff.cache["fused"]
        dx = ff.backward(y * 1.0)
        res = _dropout_residual(Dropout(0.5, seed=2, inplace=True), y * 2.0, y, True)
        out[backend] = [wavelearn.to_numpy(a) for a in (y, dx, res)]
        assert all(type(a) is type(xb) for a in (y, dx, res, ff.act.cache["slope"]))
    assert calls == {"bias_gelu_dropout": 2, "mask_scale_times": 2, "mask_scale_plus": 2}
    for a, b in zip(out["numpy"], out["torch"], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    with wavelearn.use_backend("torch"):
        ff = FeedForward(8, 32, dropout=0.25, dtype="float64", rng=1)
    ff(torch.tensor(x, requires_grad=True))
    assert not ff.cache["fused"]
