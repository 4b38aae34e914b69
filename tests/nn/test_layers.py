"""Layers, losses and Module bookkeeping: finite differences, torch autograd, backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import check_layer_backward, numerical_grad, rel_error

import wavelearn
from wavelearn.nn import (
    GELU,
    CrossEntropyLoss,
    Dropout,
    Embedding,
    FeedForward,
    LayerNorm,
    Linear,
    Module,
    MSELoss,
    Parameter,
    log_softmax,
    rowwise,
    scatter_add_rows,
)

F64 = np.float64


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def t64(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def randomize_layernorm(ln: LayerNorm, seed: int = 1) -> LayerNorm:
    ln.weight.data = 1.0 + 0.5 * randn(ln.dim, seed=seed)
    ln.bias.data = 0.5 * randn(ln.dim, seed=seed + 1)
    return ln


# -- finite differences (float64) ------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(bias: bool) -> None:
    check_layer_backward(Linear(4, 3, bias=bias, dtype=F64, rng=0), randn(2, 3, 4))


def test_layernorm_gradcheck() -> None:
    check_layer_backward(randomize_layernorm(LayerNorm(5, dtype=F64)), randn(2, 3, 5))


def test_gelu_gradcheck() -> None:
    check_layer_backward(GELU(), 2.0 * randn(3, 7))


def test_dropout_gradcheck_with_fixed_mask() -> None:
    layer = Dropout(0.4, seed=3)

    def reseed() -> None:
        layer.rng = np.random.default_rng(3)

    check_layer_backward(layer, randn(4, 6), before_forward=reseed)


def test_embedding_gradcheck_repeated_ids() -> None:
    ids = np.array([[1, 3, 1], [0, 1, 3]], dtype=np.int32)
    check_layer_backward(Embedding(5, 4, dtype=F64, rng=0), ids)


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_feedforward_gradcheck(p: float) -> None:
    ff = FeedForward(4, 6, dropout=p, dtype=F64, rng=0)

    def reseed() -> None:
        ff.drop.rng = np.random.default_rng(11)

    check_layer_backward(ff, randn(2, 3, 4), before_forward=reseed)


# -- torch autograd oracles --------------------------------------------------------

def torch_grads(fn, *tensors: torch.Tensor, g: np.ndarray) -> tuple[torch.Tensor, list]:
    y = fn(*tensors)
    (y * t64(g)).sum().backward()
    return y, [t.grad for t in tensors]


def test_linear_matches_torch() -> None:
    layer, x = Linear(4, 3, dtype=F64, rng=1), randn(2, 5, 4)
    g = randn(2, 5, 3, seed=2)
    y, dx = layer(x), layer.backward(g)
    ty, (tdx, tw, tb) = torch_grads(F.linear, t64(x, True), t64(layer.weight.data, True),
                                    t64(layer.bias.data, True), g=g)
    for ours, theirs in [(y, ty), (dx, tdx), (layer.weight.grad, tw), (layer.bias.grad, tb)]:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_layernorm_matches_torch() -> None:
    layer, x = randomize_layernorm(LayerNorm(6, eps=1e-5, dtype=F64)), randn(3, 4, 6)
    g = randn(3, 4, 6, seed=2)
    y, dx = layer(x), layer.backward(g)

    def fn(x, w, b):
        return F.layer_norm(x, (6,), w, b, eps=1e-5)

    ty, (tdx, tw, tb) = torch_grads(fn, t64(x, True), t64(layer.weight.data, True),
                                    t64(layer.bias.data, True), g=g)
    for ours, theirs in [(y, ty), (dx, tdx), (layer.weight.grad, tw), (layer.bias.grad, tb)]:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("training", [True, False], ids=["train: keeps the slope", "eval: keeps x"])
def test_gelu_matches_torch_tanh_approximation(training: bool) -> None:
    x, g = 3.0 * randn(5, 8), randn(5, 8, seed=1)
    layer = GELU().train(training)
    y, dx = layer(x), layer.backward(g)
    assert set(layer.cache) == ({"slope"} if training else {"x"})
    ty, (tdx,) = torch_grads(lambda t: F.gelu(t, approximate="tanh"), t64(x, True), g=g)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, tdx.numpy(), rtol=1e-12, atol=1e-14)


def test_embedding_matches_torch() -> None:
    layer = Embedding(7, 3, dtype=F64, rng=0)
    ids, g = np.array([[0, 6, 6], [2, 6, 0]]), randn(2, 3, 3, seed=1)
    y = layer(ids)
    layer.backward(g)
    tw = t64(layer.weight.data, True)
    ty, (tgw,) = torch_grads(lambda w: F.embedding(torch.tensor(ids), w), tw, g=g)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(layer.weight.grad, tgw.numpy(), rtol=1e-14, atol=1e-14)


def test_feedforward_matches_torch() -> None:
    ff, x, g = FeedForward(4, 8, dtype=F64, rng=0), randn(2, 3, 4), randn(2, 3, 4, seed=1)
    y, dx = ff(x), ff.backward(g)
    params = [t64(p.data, True) for p in ff.parameters()]

    def fn(x, w1, b1, w2, b2):
        return F.linear(F.gelu(F.linear(x, w1, b1), approximate="tanh"), w2, b2)

    ty, tgrads = torch_grads(fn, t64(x, True), *params, g=g)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, theirs in zip([dx] + [p.grad for p in ff.parameters()], tgrads, strict=True):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12)


# -- the torch backend gives the numpy results ----------------------------------------

def _forward_backward(layer: Module, x, g):
    y = layer(x)
    dx = layer.backward(g)
    return [wavelearn.to_numpy(a) for a in [y, dx] + [p.grad for p in layer.parameters()]]


@pytest.mark.parametrize("make", [
    lambda: Linear(5, 4, dtype=F64, rng=0),
    lambda: randomize_layernorm(LayerNorm(5, dtype=F64)),
    lambda: FeedForward(5, 7, dtype=F64, rng=0),
    lambda: GELU(),
], ids=["linear", "layernorm", "feedforward", "gelu"])
def test_torch_backend_matches_numpy(make) -> None:
    x, ref_layer = randn(2, 3, 5), make()
    g = randn(*ref_layer(x).shape, seed=1)
    expected = _forward_backward(ref_layer, x, g)
    with wavelearn.use_backend("torch"):
        layer = make()
        if isinstance(layer, LayerNorm):  # randomize_layernorm assigns numpy arrays
            for p, ref in zip(layer.parameters(), ref_layer.parameters(), strict=True):
                p.data = torch.tensor(ref.data)
        assert all(torch.is_tensor(p.data) for p in layer.parameters())
        got = _forward_backward(layer, torch.tensor(x), torch.tensor(g))
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_torch_layernorm_runs_torchs_kernels(monkeypatch) -> None:
    """On torch, LayerNorm is ``native_layer_norm`` and its backward (the values: the test
    above); backward before forward still names the missing forward."""
    calls, real = [], torch.native_layer_norm
    monkeypatch.setattr(torch, "native_layer_norm", lambda *a: calls.append(a[0].shape) or real(*a))
    with wavelearn.use_backend("torch"):
        ln = LayerNorm(5)
    with pytest.raises(RuntimeError, match="needs a forward"):
        ln.backward(torch.ones(2, 5))
    y = ln(torch.ones(2, 3, 5))
    assert calls == [(6, 5)] and set(ln.cache) == {"x", "mean", "rstd"}
    dx = ln.backward(torch.ones_like(y))
    assert dx.shape == (2, 3, 5) and ln.weight.grad.shape == (5,)


def test_torch_backend_embedding_and_dropout_match_numpy() -> None:
    ids = np.array([[1, 2, 2, 0]])
    ref_emb, ref_drop = Embedding(4, 3, rng=5), Dropout(0.5, seed=9)
    with wavelearn.use_backend("torch"):
        emb, drop = Embedding(4, 3, rng=5), Dropout(0.5, seed=9)
    y_ref, y = ref_drop(ref_emb(ids)), drop(emb(torch.tensor(ids, dtype=torch.int16)))
    assert torch.is_tensor(y) and y.dtype == torch.float32
    np.testing.assert_array_equal(y.numpy(), y_ref)
    assert drop.cache["mask"].dtype == torch.uint8 and ref_drop.cache["mask"].dtype == np.uint8
    np.testing.assert_array_equal(drop.cache["mask"].numpy(), ref_drop.cache["mask"])
    assert set(np.unique(ref_drop.cache["mask"])) <= {0, 1}
    g = randn(1, 4, 3, seed=2).astype(np.float32)
    ref_emb.backward(ref_drop.backward(g))
    emb.backward(drop.backward(torch.tensor(g)))
    np.testing.assert_allclose(emb.weight.grad.numpy(), ref_emb.weight.grad, rtol=1e-6)


def test_mixed_backends_raise_type_error() -> None:
    layer = Linear(3, 2, rng=0)
    with pytest.raises(TypeError, match="different backends"):
        layer(torch.zeros(1, 3))


# -- dtypes ---------------------------------------------------------------------------

def test_float32_default_and_no_silent_promotion() -> None:
    for layer in [Linear(4, 4, rng=0), LayerNorm(4), FeedForward(4, 8, rng=0), Embedding(4, 4)]:
        assert all(p.data.dtype == np.float32 for p in layer.parameters())
    layer = FeedForward(4, 8, dropout=0.1, rng=0)
    y = layer(randn(2, 4))  # float64 input
    assert y.dtype == np.float32
    dx = layer.backward(randn(2, 4))  # float64 upstream gradient
    assert dx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())
    ln = LayerNorm(4)
    assert ln(randn(3, 4)).dtype == np.float32


def test_float32_default_on_torch_backend() -> None:
    with wavelearn.use_backend("torch"):
        layer = Linear(3, 2, rng=0)
    assert layer.weight.data.dtype == torch.float32
    assert layer(torch.ones(1, 3, dtype=torch.float64)).dtype == torch.float32
    with wavelearn.use_backend("torch"):
        assert LayerNorm(3, dtype=torch.float64).weight.data.dtype == torch.float64
    assert Linear(2, 2, dtype="float64").weight.data.dtype == np.float64


def test_same_seed_same_parameters_across_backends() -> None:
    ref = FeedForward(3, 5, rng=42)
    with wavelearn.use_backend("torch"):
        other = FeedForward(3, 5, rng=42)
    for a, b in zip(ref.parameters(), other.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data.numpy())


# -- dropout ----------------------------------------------------------------------------

def test_dropout_seeded_determinism() -> None:
    x = np.ones((50, 40))
    a, b, c = Dropout(0.3, seed=1), Dropout(0.3, seed=1), Dropout(0.3, seed=2)
    ya, yb, yc = a(x), b(x), c(x)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc)
    assert not np.array_equal(a(x), ya)  # the next call draws a new mask


def test_dropout_inverted_scaling_and_backward() -> None:
    x, p = np.ones((200, 100)), 0.25
    layer = Dropout(p, seed=0)
    y = layer(x)
    assert set(np.unique(y)) <= {0.0, 1.0 / (1.0 - p)}
    assert abs(float(np.mean(y == 0.0)) - p) < 0.01
    assert abs(float(np.mean(y)) - 1.0) < 0.02
    g = randn(200, 100)
    np.testing.assert_array_equal(layer.backward(g), g * y)


@pytest.mark.parametrize("draws", Dropout.DRAWS)
@pytest.mark.parametrize("p", [0.05, 0.5, 0.9])
def test_dropout_draws_keep_1_minus_p(draws: str, p: float) -> None:
    keep = Dropout(p, seed=4, draws=draws)._keep((300, 1001))  # odd size: a half-used draw
    n = keep.size  # the kept fraction is within 5 binomial standard deviations of 1 - p
    assert abs(keep.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)


def bytes_keep_reference(seed: int, n: int, p: float) -> np.ndarray:
    """The ``"bytes"`` draws written out plainly: one piece of ``n <= DROPOUT_PIECE`` elements."""
    bg = np.random.default_rng(seed).bit_generator
    raw = bg.random_raw(-(-n // 8))
    b = ((raw[:, None] >> (8 * np.arange(8, dtype=np.uint64))) & 0xFF).reshape(-1)[:n]
    t = np.floor(256 * p)
    keep = b > t
    ties = np.flatnonzero(b == t)
    raw = bg.random_raw(-(-ties.size // 2))
    v = np.stack([raw & 0xFFFFFFFF, raw >> 32], axis=1).reshape(-1)[: ties.size]
    keep[ties] = v >= np.ceil((256 * p - t) * 2.0**32)
    return keep


@pytest.mark.parametrize("p", [0.1, 0.25, 0.7])
def test_dropout_bytes_draws_are_the_raw_stream_bytes_then_ties(p: float) -> None:
    keep = Dropout(p, seed=7)._keep((3, 5001))  # one piece of 15,003: ~60 ties
    np.testing.assert_array_equal(keep.reshape(-1), bytes_keep_reference(7, 15003, p))


def test_dropout_float64_draws_are_the_masks_of_0_1() -> None:
    keep = Dropout(0.3, seed=7, draws="float64")._keep((3, 33335))
    np.testing.assert_array_equal(keep.reshape(-1), np.random.default_rng(7).random(100005) >= 0.3)


def test_dropout_bad_draws_are_named() -> None:
    with pytest.raises(ValueError, match=r"draws must be one of \('bytes', 'float64'\), got 'f3"):
        Dropout(0.1, draws="f32")


def test_dropout_identity_in_eval_and_p0_and_zero_for_p1() -> None:
    x = randn(4, 5)
    layer = Dropout(0.5, seed=0).eval()
    assert layer(x) is x and layer.backward(x) is x
    assert Dropout(0.0)(x) is x
    np.testing.assert_array_equal(Dropout(1.0, seed=0)(x), np.zeros_like(x))
    with pytest.raises(ValueError, match="p must be"):
        Dropout(1.5)


def test_train_eval_recursive() -> None:
    ff = FeedForward(3, 4, dropout=0.5, rng=0)
    assert ff.eval() is ff and not ff.drop.training and not ff.fc1.training
    x = randn(2, 3).astype(np.float32)
    np.testing.assert_array_equal(ff(x), ff(x))
    ff.train()
    assert ff.training and ff.drop.training


# -- embedding ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16])
def test_embedding_integer_dtypes_and_repeated_ids(dtype) -> None:
    layer = Embedding(6, 2, dtype=F64, rng=0)
    ids = np.array([[5, 5, 1], [5, 0, 1]], dtype=dtype)
    y = layer(ids)
    assert y.shape == (2, 3, 2)
    np.testing.assert_array_equal(y[0, 0], layer.weight.data[5])
    g = randn(2, 3, 2)
    assert layer.backward(g) is None
    expected = np.zeros((6, 2))
    for (i, j), v in np.ndenumerate(ids):
        expected[v] += g[i, j]
    np.testing.assert_allclose(layer.weight.grad, expected, rtol=1e-15)


def test_embedding_bad_ids() -> None:
    layer = Embedding(4, 2, rng=0)
    with pytest.raises(TypeError, match="integer"):
        layer(np.array([0.0, 1.0]))
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        layer(np.array([0, 4]))
    with pytest.raises(IndexError):
        layer(np.array([-1]))


def test_scatter_add_rows_torch_and_numpy() -> None:
    idx, values = np.array([2, 0, 2]), randn(3, 2)
    got_np = scatter_add_rows(np, np.zeros((3, 2)), idx, values)
    xp = wavelearn.array_namespace(torch.zeros(1))
    got_t = scatter_add_rows(xp, torch.zeros(3, 2, dtype=torch.float64), torch.tensor(idx),
                             torch.tensor(values))
    np.testing.assert_allclose(got_np[2], values[0] + values[2])
    np.testing.assert_allclose(got_t.numpy(), got_np)


@pytest.mark.parametrize("chunk", [1 << 16, 5], ids=["one call", "chunks of 5 elements"])
def test_numpy_scatter_add_rows_adds_as_add_at_on_rows_bit_for_bit(
        chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import wavelearn.backends.numpy as numpy_backend

    monkeypatch.setattr(numpy_backend, "SCATTER_CHUNK", chunk)
    rng = np.random.default_rng(3)
    idx = rng.integers(-7, 7, 400)  # many repeats, negative rows count from the end
    scales = 10.0 ** rng.integers(-6, 6, (400, 1))  # sums that round differently by order
    values = (rng.standard_normal((400, 3)) * scales).astype(np.float32)
    target = rng.standard_normal((7, 3)).astype(np.float32)
    expected = target.copy()
    np.add.at(expected, idx, values)
    got = numpy_backend.NumpyBackend().scatter_add_rows(target, idx, values)
    assert got is target
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(IndexError):
        numpy_backend.NumpyBackend().scatter_add_rows(target, np.array([7]), values[:1])


# -- gradient accumulation, tied weights ----------------------------------------------------

def test_backward_accumulates_and_zero_grad() -> None:
    layer, x, g = Linear(3, 2, dtype=F64, rng=0), randn(4, 3), randn(4, 2, seed=1)
    layer(x)
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)
    layer.zero_grad()
    assert np.all(layer.weight.grad == 0) and layer.weight.grad.dtype == F64


class TiedLM(Module):
    """Embedding whose weight is reused as the output projection."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = Embedding(5, 3, dtype=F64, rng=0)
        self.head = Linear(3, 5, bias=False, dtype=F64, rng=1)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        return self.head(self.emb(ids))

    def backward(self, dy):
        self.emb.backward(self.head.backward(dy))


def test_tied_weights_accumulate_both_paths() -> None:
    model, ids, g = TiedLM(), np.array([[0, 3, 3]]), randn(1, 3, 5)
    assert [n for n, _ in model.named_parameters()] == ["emb.weight"]
    model(ids)
    model.backward(g)
    w = t64(model.emb.weight.data, True)
    (F.linear(F.embedding(torch.tensor(ids), w), w) * t64(g)).sum().backward()
    np.testing.assert_allclose(model.emb.weight.grad, w.grad.numpy(), rtol=1e-12)


# -- Module bookkeeping ------------------------------------------------------------------------

class Block(Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self.norm = LayerNorm(4)
        self.mlp = FeedForward(4, 8, dropout=0.1, rng=seed)


class Net(Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = Parameter(np.ones(1, dtype=np.float32))
        self.blocks = [Block(0), Block(1)]
        self.head = Linear(4, 2, rng=2)
        self.name = "not a module"


def test_named_parameters_names_and_order() -> None:
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    block = ["norm.weight", "norm.bias", "mlp.fc1.weight", "mlp.fc1.bias",
             "mlp.fc2.weight", "mlp.fc2.bias"]
    assert names == (["scale"] + [f"blocks.0.{n}" for n in block]
                     + [f"blocks.1.{n}" for n in block] + ["head.weight", "head.bias"])
    assert net.num_parameters() == 1 + 2 * (8 + 4 * 8 + 8 + 8 * 4 + 4) + 4 * 2 + 2
    assert len(net.parameters()) == len(names)
    net.eval()
    assert not net.blocks[1].mlp.drop.training


def test_state_dict_is_a_copy_and_round_trips() -> None:
    net, other = Net(), Net()
    other.head.weight.data = other.head.weight.data + 1.0
    state = net.state_dict()
    state["head.bias"][...] = 123.0
    assert not np.any(net.head.bias.data == 123.0)
    other.load_state_dict(net.state_dict())
    for (n, a), (_, b) in zip(net.named_parameters(), other.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data, err_msg=n)


def test_load_state_dict_names_every_problem() -> None:
    net = Net()
    state = net.state_dict()
    del state["head.bias"], state["blocks.1.norm.weight"]
    state["extra.weight"] = np.zeros(3)
    state["blocks.0.mlp.fc1.weight"] = np.zeros((9, 4))
    before = net.blocks[0].mlp.fc1.weight.data.copy()
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    msg = str(info.value)
    for part in ["head.bias", "blocks.1.norm.weight", "extra.weight",
                 "blocks.0.mlp.fc1.weight: expected shape (8, 4), got (9, 4)"]:
        assert part in msg
    np.testing.assert_array_equal(net.blocks[0].mlp.fc1.weight.data, before)
    with pytest.raises(ValueError, match="fc1.weight"):  # shapes are checked even non-strict
        net.load_state_dict(state, strict=False)
    del state["blocks.0.mlp.fc1.weight"]
    result = net.load_state_dict(state, strict=False)
    assert "head.bias" in result.missing_keys and result.unexpected_keys == ["extra.weight"]


def test_load_state_dict_moves_to_backend_and_dtype() -> None:
    ref = Linear(3, 2, dtype=F64, rng=0)
    with wavelearn.use_backend("torch"):
        layer = Linear(3, 2, rng=1)
    layer.load_state_dict(ref.state_dict())
    assert torch.is_tensor(layer.weight.data) and layer.weight.data.dtype == torch.float32
    np.testing.assert_allclose(layer.weight.data.numpy(), ref.weight.data, rtol=1e-6)
    back = Linear(3, 2, rng=2)
    back.load_state_dict(layer.state_dict())
    assert isinstance(back.weight.data, np.ndarray)
    np.testing.assert_array_equal(back.weight.data, layer.weight.data.numpy())


# -- losses ---------------------------------------------------------------------------------------

def test_cross_entropy_matches_torch_with_ignore_index() -> None:
    logits = 3.0 * randn(2, 5, 7)
    targets = np.array([[1, 6, -100, 0, 3], [-100, 2, 2, 5, 4]])
    crit = CrossEntropyLoss()
    loss, dlogits = crit(logits, targets), crit.backward()
    tl = t64(logits, True)
    tloss = F.cross_entropy(tl.reshape(-1, 7), torch.tensor(targets).reshape(-1))
    tloss.backward()
    assert abs(loss - tloss.item()) < 1e-12
    np.testing.assert_allclose(dlogits, tl.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert np.all(dlogits[targets == -100] == 0)


def test_cross_entropy_gradcheck_and_stability() -> None:
    logits, targets = randn(4, 5), np.array([0, 4, 4, 2], dtype=np.int32)
    crit = CrossEntropyLoss()
    crit(logits, targets)
    dlogits = crit.backward()
    numeric = numerical_grad(lambda z: crit(z, targets), logits)
    assert rel_error(dlogits, numeric) < 1e-7
    huge = np.array([[1e4, 0.0, -1e4]], dtype=np.float32)
    loss = crit(huge, np.array([1]))
    assert np.isclose(loss, 1e4) and np.all(np.isfinite(crit.backward()))


def test_cross_entropy_edge_cases() -> None:
    crit = CrossEntropyLoss(ignore_index=-1)
    assert np.isnan(crit(randn(2, 3), np.array([-1, -1])))
    assert np.all(crit.backward() == 0)
    with pytest.raises(ValueError, match="targets must be in"):
        crit(randn(2, 3), np.array([0, 3]))
    with wavelearn.use_backend("torch"):
        logits = torch.tensor(randn(3, 4))
        loss = crit(logits, torch.tensor([0, 3, -1]))
    ref = F.cross_entropy(logits, torch.tensor([0, 3, -1]), ignore_index=-1).item()
    assert abs(loss - ref) < 1e-12 and torch.is_tensor(crit.backward())


def _textbook_cross_entropy(logits: np.ndarray, targets: np.ndarray, ignore: int) -> tuple:
    """The loss and gradient as the formulas read: the whole ``(M, C)`` log-softmax."""
    z, t = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    valid = t != ignore
    t = np.where(valid, t, 0)
    logp = log_softmax(z)
    count = int(valid.sum())
    loss = float(-np.sum(logp[np.arange(len(t)), t] * valid.astype(z.dtype))) / count
    onehot = (t[:, None] == np.arange(z.shape[1])).astype(z.dtype)
    scale = valid.astype(z.dtype)[:, None] / count
    return loss, ((np.exp(logp) - onehot) * scale).reshape(logits.shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_gives_the_textbook_bits_block_by_block(dtype, monkeypatch) -> None:
    """The loss keeps two numbers per row instead of the log-probabilities and works
    block of rows by block, on the threads: the same bits as the whole-array formulas."""
    monkeypatch.setattr(rowwise, "ELEMENTWISE_BLOCK", 7 * 13)  # blocks of 7 rows
    monkeypatch.setattr(rowwise, "ELEMENTWISE_PARALLEL_MIN", 0)  # on the threads
    logits = (4.0 * randn(3, 50, 13)).astype(dtype)
    targets = np.random.default_rng(1).integers(0, 13, (3, 50))
    targets[:, ::9] = -100
    crit = CrossEntropyLoss()
    loss, grad = crit(logits, targets), crit.backward()
    want_loss, want_grad = _textbook_cross_entropy(logits, targets, -100)
    assert loss == want_loss and grad.dtype == dtype
    np.testing.assert_array_equal(grad.view(np.uint8), want_grad.view(np.uint8))


def test_cross_entropy_writes_one_array_of_the_logits_size() -> None:
    """A language model's logits ``(B, N, V)`` are its biggest arrays: forward and
    backward together allocate the gradient and a few blocks, not copies of the
    log-probabilities (the whole-array formulas peak at over 4 times the logits)."""
    import tracemalloc

    from wavelearn import buffers

    logits = randn(1, 16384, 256).astype(np.float32)  # 16 MiB
    targets = np.random.default_rng(1).integers(0, 256, (1, 16384))
    crit = CrossEntropyLoss()
    crit(logits, targets)
    crit.backward()  # a first call (the threads start), then the steady state
    buffers.clear()
    tracemalloc.start()
    try:
        crit(logits, targets)
        grad = crit.backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert grad.shape == logits.shape
    assert peak <= 1.5 * logits.nbytes, peak / logits.nbytes  # measured 1.25 (before: 4.3)


def test_mse_matches_torch() -> None:
    pred, target = randn(3, 4), randn(3, 4, seed=1)
    crit = MSELoss()
    loss, grad = crit(pred, target), crit.backward()
    tp = t64(pred, True)
    tloss = F.mse_loss(tp, t64(target))
    tloss.backward()
    assert abs(loss - tloss.item()) < 1e-12
    np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-12)
