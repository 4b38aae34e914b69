"""The compiled loops of wavelearn.nn.compiled (LayerNorm, GELU's forward with its
slope) against the NumPy chains they stand for.

The NumPy chain is checked against torch autograd and central differences in
test_layers.py (those tests now run the loops too); here the two paths are
compared directly, and a spy makes sure the loops ran.
"""

from __future__ import annotations

import numpy as np
import pytest

from wavelearn.nn import LayerNorm, compiled, layers


@pytest.fixture(name="spy")
def spy_fixture(monkeypatch):
    calls = {"forward": 0, "backward": 0}
    for key in calls:
        real = getattr(compiled, f"layernorm_{key}")

        def counted(*args, _real=real, _key=key):
            calls[_key] += 1
            return _real(*args)

        monkeypatch.setattr(compiled, f"layernorm_{key}", counted)
    return calls


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3, 7, 64), (2050, 16), (5, 300, 256), (1, 1)])
def test_loops_equal_the_numpy_chain(shape, dtype, spy, monkeypatch):
    rng = np.random.default_rng(0)
    D = shape[-1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    tol = {"float32": 2e-5, "float64": 1e-12}[dtype]
    results = []
    for on in (True, False):
        monkeypatch.setattr(compiled, "USE_COMPILED", on)
        ln = LayerNorm(D, dtype=dtype)
        ln.weight.data[...] = rng.standard_normal(D) if on else results[0][-1]
        ln.bias.data[...] = np.linspace(-1, 1, D)
        y = ln.forward(x)
        cache = {k: v.copy() for k, v in ln.cache.items()}
        dx = ln.backward(dy)
        results.append((y, cache, dx, ln.weight.grad, ln.bias.grad, ln.weight.data.copy()))
    assert spy == {"forward": 1, "backward": 1}
    (y1, c1, dx1, dw1, db1, _), (y2, c2, dx2, dw2, db2, _) = results
    for a, b, what in [(y1, y2, "y"), (c1["xhat"], c2["xhat"], "xhat"),
                       (c1["rstd"], c2["rstd"], "rstd"), (dx1, dx2, "dx"),
                       (dw1, dw2, "dw"), (db1, db2, "db")]:
        assert a.shape == b.shape and a.dtype == b.dtype, what
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=0, atol=tol * scale * (8 if what[0] == "d" and
                                   what != "dx" else 1), err_msg=what)


def test_what_the_loops_take():
    f32, f64 = np.zeros((2, 3), np.float32), np.zeros((2, 3))
    assert compiled.available(f32, np.zeros(3, np.float32)) and compiled.available(f64)
    assert not compiled.available(np.zeros((2, 3), np.float16))
    assert not compiled.available(f32, f64)  # one dtype
    assert not compiled.available(np.zeros((2, 6))[:, ::2])  # rows not contiguous


def test_torch_tensors_take_the_chain(spy):
    torch = pytest.importorskip("torch")
    ln = LayerNorm(8, dtype="float64")
    x = np.random.default_rng(1).standard_normal((4, 8))
    import wavelearn

    with wavelearn.use_backend("torch"):
        ln_t = LayerNorm(8, dtype="float64")
    ln_t.backward(ln_t.forward(torch.from_numpy(x)))
    assert spy == {"forward": 0, "backward": 0}
    ln.backward(ln.forward(x))
    assert spy == {"forward": 1, "backward": 1}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gelu_and_slope_loops_give_the_numpy_bits(dtype, monkeypatch):
    """Same operations in the same order and dtype: the same bits."""
    x = (np.random.default_rng(2).standard_normal((300, 96)) * 4).astype(dtype)
    x[0, :4] = [0.0, -0.0, 30.0, -30.0]
    calls = {"n": 0}
    real = compiled.gelu_and_slope

    def counted(*args):
        calls["n"] += 1
        return real(*args)

    monkeypatch.setattr(compiled, "gelu_and_slope", counted)
    y, s = layers.gelu_and_slope(np, x)
    assert calls["n"] == 1
    monkeypatch.setattr(compiled, "USE_COMPILED", False)
    y_np, s_np = layers.gelu_and_slope(np, x)
    assert calls["n"] == 1
    assert y.dtype == s.dtype == x.dtype
    np.testing.assert_array_equal(y, y_np)
    np.testing.assert_array_equal(s, s_np)


@pytest.mark.parametrize("p", [0.0, 0.3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_feed_forward_and_residual_loops_give_the_numpy_bits(dtype, p, monkeypatch,
                                                              count_calls):
    """The fused feed-forward and the block's dropout + residual, with the loops and
    without: the same bits (and the loops did run)."""
    from wavelearn.nn.block import _dropout_residual
    from wavelearn.nn.feedforward import FeedForward
    from wavelearn.nn.layers import Dropout

    calls = count_calls(compiled, ("bias_gelu_dropout", "mask_scale_times", "mask_scale_plus"))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 50, 16)).astype(dtype)
    dy = rng.standard_normal((4, 50, 16)).astype(dtype)
    out = []
    for on in (True, False):
        monkeypatch.setattr(compiled, "USE_COMPILED", on)
        ff = FeedForward(16, 64, dropout=p, dtype=dtype, rng=5)
        y = ff.forward(x)
        dx = ff.backward(dy)
        drop = Dropout(0.25, seed=9, inplace=True)
        branch = x * 2
        res = _dropout_residual(drop, branch, x, temporary=True)
        out.append((y, dx, ff.fc1.weight.grad, res))
    assert calls["bias_gelu_dropout"] > 0 and calls["mask_scale_plus"] > 0, calls
    assert (calls["mask_scale_times"] > 0) == (p > 0), calls
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_loops_give_one_result_wherever_they_write(dtype):
    """bias_gelu_dropout and mask_scale_times into new arrays, into their input (the
    feed-forward's way) or into another array: the same bits, and an input that is not
    the output stays as it was."""
    rng = np.random.default_rng(3)
    h = rng.standard_normal((300, 48)).astype(dtype)
    bias = rng.standard_normal(48).astype(dtype)
    keep = (rng.random((300, 48)) > 0.2).astype(np.uint8)
    args = (bias, keep, 1 / 0.8, layers.GELU_C, layers.GELU_A)
    y_new, s_new = compiled.bias_gelu_dropout(h.copy(), *args)
    for target in ("input", "other"):
        hx = h.copy()
        y = hx if target == "input" else np.full_like(h, np.nan)
        got_y, got_s = compiled.bias_gelu_dropout(hx, *args, y=y, slope=np.empty_like(h))
        assert got_y is y and np.array_equal(got_y, y_new) and np.array_equal(got_s, s_new)
        if target == "other":
            assert np.array_equal(hx, h)
    g, other = rng.standard_normal((2, 300, 48)).astype(dtype)
    want = compiled.mask_scale_times(g, keep, 1 / 0.8, other)
    assert np.array_equal(want, (g * keep) * np.asarray(1 / 0.8, dtype) * other)
    in_place = g.copy()
    got = compiled.mask_scale_times(in_place, keep, 1 / 0.8, other, out=in_place)
    assert got is in_place and np.array_equal(got, want)
    gx, out = g.copy(), np.full_like(g, np.nan)
    got = compiled.mask_scale_times(gx, keep, 1 / 0.8, other, out=out)
    assert got is out and np.array_equal(got, want) and np.array_equal(gx, g)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_loop_gives_the_numpy_bits(dtype, inplace, monkeypatch, count_calls):
    """Dropout's ``(x m) s`` forward and backward as one compiled pass and as NumPy's
    chain: the same bits, the loop did run, and only the in-place forward writes over x."""
    from wavelearn.nn import rowwise
    from wavelearn.nn.layers import Dropout

    monkeypatch.setattr(rowwise, "ELEMENTWISE_BLOCK", 1000)  # several blocks of rows
    calls = count_calls(compiled, ("mask_scale",))
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((5, 61, 37)) * 3).astype(dtype)
    x[0, 0, :3] = [np.inf, -0.0, np.nan]
    dy = rng.standard_normal(x.shape).astype(dtype)
    out = []
    for on in (True, False):
        monkeypatch.setattr(compiled, "USE_COMPILED", on)
        layer, x_in = Dropout(0.35, seed=6, inplace=inplace), x.copy()
        y = layer.forward(x_in)
        assert (y is x_in) == inplace and y.dtype == x.dtype
        out.append((y.copy(), layer.backward(dy), dy))
        if on:
            assert calls["mask_scale"] == 2 * len(rowwise.elementwise_blocks(x.reshape(-1, 37)))
    assert calls["mask_scale"] > 0
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out[0][2], dy)  # the incoming gradient stays as it was


@pytest.mark.parametrize("inplace", [False, True])
def test_dropout_loop_runs_on_torch_cpu_tensors_too(inplace, count_calls):
    """A torch CPU tensor goes through the same loop (over its own memory): the bits of
    the NumPy layer with the same seed; a tensor that autograd records takes torch's ops."""
    torch = pytest.importorskip("torch")
    import wavelearn
    from wavelearn.nn.layers import Dropout

    calls = count_calls(compiled, ("mask_scale",))
    x = np.random.default_rng(5).standard_normal((3, 40, 24)).astype(np.float32)
    ref = Dropout(0.3, seed=8)
    y_ref, dx_ref = ref(x.copy()), ref.backward(2 * x)
    with wavelearn.use_backend("torch"):
        layer = Dropout(0.3, seed=8, inplace=inplace)
    xt = torch.from_numpy(x.copy())
    y = layer(xt)
    dx = layer.backward(torch.from_numpy(2 * x))
    assert calls["mask_scale"] == 4 and torch.is_tensor(y) and torch.is_tensor(dx)  # 2 + 2
    assert (y.data_ptr() == xt.data_ptr()) == inplace
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(dx.numpy(), dx_ref)
    recorded = torch.from_numpy(x.copy()).requires_grad_(True)
    with wavelearn.use_backend("torch"):
        layer = Dropout(0.3, seed=8)
    np.testing.assert_array_equal(layer(recorded).detach().numpy(), y_ref)
    assert calls["mask_scale"] == 4
