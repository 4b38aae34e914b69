"""Wavelet transformer models: examples, gradients (finite differences and torch autograd),
causality, padding, positional encodings, checkpointing, dtypes, errors, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gradcheck import check_layer_backward, rel_error

import wavelearn
from wavelearn.models import WaveletDecoder, WaveletEncoder, WaveletTransformer
from wavelearn.nn import Module, serialization
from wavelearn.nn.positional import (
    LearnedPositionalEncoding,
    RotaryPositionalEncoding,
    SinusoidalPositionalEncoding,
    make_positional_encoding,
)

MIXING_MODES = ("pointwise", "channel", "level")


# -- helpers --------------------------------------------------------------------------

def perturb(model: Module, seed: int = 0, scale: float = 0.3) -> Module:
    """Move every mixing weight and LayerNorm parameter away from its identity init."""
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        if "mixing" in name or "ln" in name or "norm" in name:
            p.data = p.data + scale * rng.standard_normal(p.shape)
    return model


def tiny(cls: type, **kw) -> Module:
    """A small float64 model without dropout and with non-identity mixing weights."""
    base = dict(hidden_dim=4, num_layers=2, max_sequence_length=16, wavelet="db2", levels=2,
                ffn_hidden_dim=6, dropout=0.0, dtype="float64", seed=3)
    if cls is not WaveletEncoder:
        base["vocab_size"] = 7
    base.update(kw)
    return perturb(cls(**base), seed=base["seed"])


class EmbedsCall(Module):
    """``model(inputs_embeds=x, attention_mask=mask)`` as a one-input layer for gradcheck."""

    def __init__(self, model: Module, mask: np.ndarray | None = None) -> None:
        super().__init__()
        self.model, self.mask = model, mask

    def forward(self, x):
        return self.model(inputs_embeds=x, attention_mask=self.mask)

    def backward(self, dy):
        return self.model.backward(dy)


class IdsCall(EmbedsCall):
    def forward(self, ids):
        return self.model(input_ids=ids, attention_mask=self.mask)


def torch_autograd_grads(model: Module, inputs: np.ndarray, g: np.ndarray,
                         mask: np.ndarray | None = None, ids: bool = True):
    """Run the SAME wavelearn forward on torch tensors and let torch autograd differentiate
    ``sum(out * g)``: ``({name: grad}, d inputs or None)``."""
    with wavelearn.use_backend("torch"):
        tm = type(model).from_config(model.config)
    tm.load_state_dict(model.state_dict())
    tm.train(model.training)
    params = dict(tm.named_parameters())
    for p in params.values():
        p.data.requires_grad_(True)
    x = torch.tensor(inputs) if ids else torch.tensor(inputs, requires_grad=True)
    tmask = None if mask is None else torch.tensor(mask)
    out = tm(input_ids=x, attention_mask=tmask) if ids else tm(inputs_embeds=x,
                                                               attention_mask=tmask)
    (out * torch.tensor(g)).sum().backward()
    grads = {k: p.data.grad.numpy() for k, p in params.items()}
    return grads, (None if ids else x.grad.numpy())


def hand_grads(model: Module, call, g: np.ndarray):
    for p in model.parameters():
        p.grad = None
    call()
    dx = model.backward(g)
    return {k: p.grad for k, p in model.named_parameters()}, dx


# -- the issue's examples ---------------------------------------------------------------

@pytest.fixture(scope="module")
def bert_sized() -> WaveletTransformer:
    return WaveletTransformer(vocab_size=30000, hidden_dim=768, num_layers=12, wavelet="db4",
                              levels=3, max_sequence_length=512, num_classes=10)


def test_issue_example_classifier_small_batch(bert_sized) -> None:
    input_ids = np.random.randint(0, 30000, (2, 512))
    logits = bert_sized(input_ids)
    assert logits.shape == (2, 10) and logits.dtype == np.float32
    assert np.all(np.isfinite(logits))


@pytest.mark.slow
def test_issue_example_classifier_full_batch(bert_sized) -> None:
    # eval mode: no dropout masks to keep; the forward caches still take ~11 GB
    bert_sized.eval()
    try:
        input_ids = np.random.randint(0, 30000, (32, 512))
        logits = bert_sized(input_ids)
        assert logits.shape == (32, 10)
    finally:
        bert_sized.train()


@pytest.mark.parametrize("wavelet, levels", [("db8", 4), ("sym6", 3)])
def test_issue_example_wavelet_families(wavelet, levels) -> None:
    model = WaveletTransformer(hidden_dim=512, wavelet=wavelet, levels=levels)
    assert (model.wavelet, model.levels, model.mixing_mode) == (wavelet, levels, "pointwise")
    assert len(model.blocks) == 12 and model.embedding is None
    assert model.blocks[0].mixing.wavelet.name == wavelet
    # no num_classes: construction works, the first forward says what is missing
    with pytest.raises(ValueError, match="num_classes"):
        model(inputs_embeds=np.zeros((1, 8, 512)))


@pytest.mark.parametrize("batch", [2, pytest.param(32, marks=pytest.mark.slow)])
def test_issue_example_encoder(batch) -> None:
    encoder = WaveletEncoder(hidden_dim=768, num_layers=6, wavelet="coif3", levels=2)
    embeddings = np.random.randn(batch, 100, 768)
    features = encoder(inputs_embeds=embeddings)
    assert features.shape == (batch, 100, 768) and features.dtype == np.float32


# -- whole-model gradients: central differences and torch autograd ----------------------

GRAD_CASES = {
    "transformer-ids-cls": (WaveletTransformer, dict(num_classes=3, pooling="cls",
                                                     positional_encoding_type="learned"), True),
    "transformer-embeds-mean": (WaveletTransformer, dict(vocab_size=None, num_classes=3,
                                                         mixing_mode="level"), False),
    "transformer-seq-rotary": (WaveletTransformer, dict(output_type="sequence", num_classes=2,
                                                        mixing_mode="channel",
                                                        positional_encoding_type="rotary",
                                                        mode="symmetric"), True),
    "encoder": (WaveletEncoder, dict(mixing_mode="channel", levels=3), False),
    "decoder": (WaveletDecoder, dict(mixing_mode="level", wavelet="db3"), True),
}


def _inputs(ids: bool, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 7, (2, 7)) if ids else rng.standard_normal((2, 7, 4))


@pytest.mark.parametrize("case", list(GRAD_CASES))
def test_model_gradients_match_finite_differences(case) -> None:
    cls, kw, ids = GRAD_CASES[case]
    model = tiny(cls, **kw)
    mask = np.array([[1] * 7, [1] * 5 + [0] * 2])
    layer = IdsCall(model, mask) if ids else EmbedsCall(model, mask)
    check_layer_backward(layer, _inputs(ids), tol=1e-6)


@pytest.mark.filterwarnings("ignore:torch.asarray")
@pytest.mark.parametrize("case", list(GRAD_CASES))
def test_model_gradients_match_torch_autograd(case) -> None:
    cls, kw, ids = GRAD_CASES[case]
    model = tiny(cls, **kw)
    x = _inputs(ids)
    mask = np.array([[1] * 4 + [0] * 3, [1] * 7])
    g = np.random.default_rng(2).standard_normal(model(x if ids else None, None if ids else x,
                                                       mask).shape)
    want, want_dx = torch_autograd_grads(model, x, g, mask, ids)
    got, got_dx = hand_grads(
        model, lambda: model(x if ids else None, None if ids else x, mask), g)
    assert got.keys() == want.keys()
    for name in got:
        assert rel_error(got[name], want[name]) < 1e-10, name
    if ids:
        assert got_dx is None
    else:
        assert rel_error(got_dx, want_dx) < 1e-10


@pytest.mark.parametrize("case", list(GRAD_CASES))
def test_torch_backend_forward_and_backward_match_numpy(case) -> None:
    cls, kw, ids = GRAD_CASES[case]
    model = tiny(cls, gradient_checkpointing=True, **kw)
    x = _inputs(ids)
    mask = np.array([[1] * 7, [1] * 3 + [0] * 4])
    out = model(x if ids else None, None if ids else x, mask)
    g = np.random.default_rng(2).standard_normal(out.shape)
    want, want_dx = hand_grads(model, lambda: model(x if ids else None, None if ids else x,
                                                    mask), g)
    with wavelearn.use_backend("torch"):
        tm = cls.from_config(model.config)
    tm.load_state_dict(model.state_dict())
    tx = torch.tensor(x)
    targs = (tx, None) if ids else (None, tx)
    np.testing.assert_allclose(tm(*targs, torch.tensor(mask)).numpy(), out, atol=1e-12)
    got, got_dx = hand_grads(tm, lambda: tm(*targs, torch.tensor(mask)), torch.tensor(g))
    for k in want:
        assert torch.is_tensor(got[k])
        np.testing.assert_allclose(got[k].numpy(), want[k], rtol=0, atol=1e-11, err_msg=k)
    if not ids:
        np.testing.assert_allclose(got_dx.numpy(), want_dx, rtol=0, atol=1e-11)


# -- causality of the decoder ---------------------------------------------------------------

@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("wavelet", ["haar", "db4", "sym5"])
@pytest.mark.parametrize("levels", [1, 2, 3])
def test_decoder_is_causal(mixing_mode, wavelet, levels) -> None:
    model = tiny(WaveletDecoder, mixing_mode=mixing_mode, wavelet=wavelet, levels=levels,
                 vocab_size=11, positional_encoding_type="learned", seed=levels)
    rng = np.random.default_rng(levels)
    for n in (1, 6, 11):
        ids = rng.integers(0, 11, (2, n))
        ref = model(ids)
        for t in sorted({0, n // 2, n - 2}):
            if t < 0 or t >= n - 1:
                continue
            changed = ids.copy()
            changed[:, t + 1:] = (ids[:, t + 1:] + rng.integers(1, 11, (2, n - t - 1))) % 11
            out = model(changed)
            np.testing.assert_allclose(out[:, : t + 1], ref[:, : t + 1], rtol=0, atol=1e-12)
            assert not np.allclose(out[:, t + 1:], ref[:, t + 1:])


# -- attention_mask: padding never changes the real positions ---------------------------

def _padded_batch(rng, lengths, n, dim=None):
    rows = [rng.integers(0, 7, length) if dim is None else rng.standard_normal((length, dim))
            for length in lengths]
    pad = (n,) if dim is None else (n, dim)
    batch = np.stack([np.concatenate([r, np.zeros((n - len(r),) + pad[1:], r.dtype)])
                      for r in rows])
    mask = (np.arange(n)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    return rows, batch, mask


@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_does_not_change_pooled_outputs(mixing_mode, pooling) -> None:
    model = tiny(WaveletTransformer, num_classes=3, mixing_mode=mixing_mode, pooling=pooling,
                 levels=3, wavelet="db3")
    lengths = [9, 5, 12, 5]
    rows, ids, mask = _padded_batch(np.random.default_rng(0), lengths, 12)
    out = model(ids, attention_mask=mask)
    for b, row in enumerate(rows):
        alone = model(row[None, :])
        np.testing.assert_allclose(out[b], alone[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
def test_padding_does_not_change_hidden_states_or_gradients(mixing_mode) -> None:
    model = tiny(WaveletEncoder, mixing_mode=mixing_mode, positional_encoding_type="rotary",
                 mode="reflect")
    lengths = [3, 8, 6, 8]
    rows, x, mask = _padded_batch(np.random.default_rng(1), lengths, 8, dim=4)
    g = np.random.default_rng(2).standard_normal(x.shape) * mask[:, :, None]
    got, dx = hand_grads(model, lambda: model(inputs_embeds=x, attention_mask=mask), g)
    out = model(inputs_embeds=x, attention_mask=mask)
    want = {k: 0.0 for k in got}
    for b, row in enumerate(rows):
        alone = model(inputs_embeds=row[None])
        np.testing.assert_allclose(out[b, : lengths[b]], alone[0], rtol=0, atol=1e-12)
        grads, dx_alone = hand_grads(model, lambda r=row: model(inputs_embeds=r[None]),
                                     g[b: b + 1, : lengths[b]])
        want = {k: want[k] + grads[k] for k in want}
        np.testing.assert_allclose(dx[b, : lengths[b]], dx_alone[0], rtol=0, atol=1e-12)
        assert np.all(dx[b, lengths[b]:] == 0)
    for k in got:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-12, err_msg=k)


def test_padding_decoder_and_sequence_head() -> None:
    for model in (tiny(WaveletDecoder, mixing_mode="channel"),
                  tiny(WaveletTransformer, output_type="sequence", num_classes=2)):
        lengths = [4, 7, 2]
        rows, ids, mask = _padded_batch(np.random.default_rng(3), lengths, 7)
        out = model(ids, attention_mask=mask)
        for b, row in enumerate(rows):
            np.testing.assert_allclose(out[b, : lengths[b]], model(row[None])[0],
                                       rtol=0, atol=1e-12)


@pytest.mark.parametrize("mask, match", [
    ([[0, 1, 1], [1, 1, 1]], "right padding"),
    ([[1, 0, 1], [1, 1, 1]], "right padding"),
    ([[1, 2, 1], [1, 1, 1]], "0 .padding. and 1"),
    ([[0, 0, 0], [1, 1, 1]], "at least one real token"),
    ([[1, 1], [1, 1]], "shape"),
])
def test_bad_attention_masks_raise(mask, match) -> None:
    model = tiny(WaveletTransformer, num_classes=2)
    with pytest.raises(ValueError, match=match):
        model(np.zeros((2, 3), dtype=np.int64), attention_mask=np.array(mask))


def test_full_mask_equals_no_mask() -> None:
    model = tiny(WaveletTransformer, num_classes=2)
    ids = np.random.default_rng(0).integers(0, 7, (2, 5))
    np.testing.assert_array_equal(model(ids, attention_mask=np.ones((2, 5))), model(ids))


# -- positional encodings -----------------------------------------------------------------

def test_sinusoidal_table_is_the_standard_one() -> None:
    pe = SinusoidalPositionalEncoding(50, 6, dtype="float64")
    x = np.zeros((1, 50, 6))
    y = pe(x)[0]
    t = np.arange(50)[:, None]
    for i in range(3):
        w = 10000.0 ** (-2 * i / 6)
        np.testing.assert_allclose(y[:, 2 * i], np.sin(t[:, 0] * w), atol=1e-15)
        np.testing.assert_allclose(y[:, 2 * i + 1], np.cos(t[:, 0] * w), atol=1e-15)
    g = np.ones((1, 50, 6))
    assert pe.backward(g) is g


def test_learned_positional_encoding_backward() -> None:
    pe = LearnedPositionalEncoding(9, 3, dtype="float64", rng=0)
    assert abs(pe.weight.data.std() - 0.02) < 0.01
    check_layer_backward(pe, np.random.default_rng(0).standard_normal((2, 6, 3)))
    assert np.all(pe.weight.grad[6:] == 0)


def test_rotary_positional_encoding() -> None:
    pe = RotaryPositionalEncoding(12, 6, dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 10, 6))
    y = pe(x)
    # a rotation: norms of every channel pair kept, position 0 untouched
    np.testing.assert_allclose(np.hypot(y[..., 0::2], y[..., 1::2]),
                               np.hypot(x[..., 0::2], x[..., 1::2]), atol=1e-14)
    np.testing.assert_allclose(y[:, 0], x[:, 0], atol=1e-15)
    angle = 3 * 10000.0 ** (-2 / 6)  # t = 3, pair i = 1
    c, s = np.cos(angle), np.sin(angle)
    np.testing.assert_allclose(y[:, 3, 2], c * x[:, 3, 2] - s * x[:, 3, 3], atol=1e-14)
    np.testing.assert_allclose(y[:, 3, 3], s * x[:, 3, 2] + c * x[:, 3, 3], atol=1e-14)
    check_layer_backward(pe, x)  # backward (= inverse rotation) vs finite differences
    np.testing.assert_allclose(pe.backward(y), x, atol=1e-14)
    with pytest.raises(ValueError, match="even"):
        RotaryPositionalEncoding(12, 5)


def test_positional_encoding_choices() -> None:
    with pytest.raises(ValueError, match="attention scores"):
        make_positional_encoding("alibi", 8, 4)
    with pytest.raises(ValueError, match="sinusoidal"):
        make_positional_encoding("fourier", 8, 4)
    ids = np.zeros((1, 4), dtype=np.int64)
    off = tiny(WaveletDecoder, use_positional_encoding=False)
    none = tiny(WaveletDecoder, positional_encoding_type="none")
    np.testing.assert_array_equal(off(ids), none(ids))
    assert not np.allclose(tiny(WaveletDecoder)(ids), none(ids))


# -- checkpointing, dropout, modes, dtypes ------------------------------------------------

@pytest.mark.parametrize("cls", [WaveletTransformer, WaveletDecoder])
def test_gradient_checkpointing_gives_the_same_gradients(cls) -> None:
    kw = dict(dropout=0.3, num_classes=3) if cls is WaveletTransformer else dict(dropout=0.3)
    plain, ckpt = tiny(cls, **kw), tiny(cls, gradient_checkpointing=True, **kw)
    ids = np.random.default_rng(0).integers(0, 7, (3, 9))
    mask = np.array([[1] * 9, [1] * 4 + [0] * 5, [1] * 6 + [0] * 3])
    for _ in range(2):  # twice: the dropout generators stay in step
        out = plain(ids, attention_mask=mask)
        out_c = ckpt(ids, attention_mask=mask)
        np.testing.assert_array_equal(out, out_c)
        assert set(ckpt.blocks[0].cache) == {"x", "lengths", "rng_before"}
        assert ckpt.blocks[0].ffn.fc1.cache == {}
        g = np.random.default_rng(1).standard_normal(out.shape)
        grads, _ = hand_grads(plain, lambda: plain(ids, attention_mask=mask), g)
        grads_c, _ = hand_grads(ckpt, lambda: ckpt(ids, attention_mask=mask), g)
        for k in grads:
            np.testing.assert_allclose(grads_c[k], grads[k], rtol=0, atol=1e-12, err_msg=k)


def test_dropout_is_seeded_and_off_in_eval() -> None:
    a, b = (tiny(WaveletTransformer, num_classes=2, dropout=0.5) for _ in range(2))
    ids = np.random.default_rng(0).integers(0, 7, (2, 6))
    first = a(ids)
    np.testing.assert_array_equal(first, b(ids))  # same seed, same masks
    assert not np.allclose(first, a(ids))  # new masks on the next call
    a.eval()
    np.testing.assert_array_equal(a(ids), a(ids))
    assert not a.blocks[0].training and a.train().blocks[0].ffn.drop.training


def test_float32_is_kept() -> None:
    model = WaveletTransformer(vocab_size=7, hidden_dim=4, num_layers=1, max_sequence_length=8,
                               ffn_hidden_dim=6, output_type="sequence", num_classes=3)
    assert all(p.dtype == np.float32 for p in model.parameters())
    out = model(np.zeros((2, 5), dtype=np.int32))
    assert out.dtype == np.float32
    model.backward(np.ones(out.shape))  # float64 gradient in, float32 grads out
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    enc = WaveletEncoder(hidden_dim=4, num_layers=1, max_sequence_length=8)
    x = np.random.default_rng(0).standard_normal((2, 5, 4))  # float64
    h = enc(inputs_embeds=x)
    assert h.dtype == np.float32 and enc.blocks[0].ln1.weight.dtype == np.float32
    dx = enc.backward(np.ones(h.shape, dtype=np.float32))
    assert dx.dtype == np.float64 and dx.shape == x.shape  # gradient in the input's dtype
    assert enc.blocks[0].mixing.weight.grad.dtype == np.float32


def test_heads_and_shapes() -> None:
    ids = np.zeros((2, 5), dtype=np.int64)
    assert tiny(WaveletTransformer, output_type="regression")(ids).shape == (2, 1)
    assert tiny(WaveletTransformer, output_type="regression", num_classes=3)(ids).shape == (2, 3)
    assert tiny(WaveletTransformer, output_type="lm")(ids).shape == (2, 5, 7)
    assert tiny(WaveletTransformer, output_type="none")(ids).shape == (2, 5, 4)
    assert tiny(WaveletDecoder)(ids).shape == (2, 5, 7)
    with pytest.raises(ValueError, match="num_classes"):
        tiny(WaveletTransformer, output_type="sequence")(ids)


def test_attributes_and_build_blocks() -> None:
    model = tiny(WaveletTransformer, num_classes=2, wavelet="sym4", levels=3,
                 mixing_mode="level")
    assert (model.wavelet, model.levels, model.mixing_mode) == ("sym4", 3, "level")
    assert isinstance(model.blocks, list) and len(model.blocks) == 2
    fresh = model.build_blocks()
    assert len(fresh) == 2 and fresh[0] is not model.blocks[0]
    assert fresh[1].ffn.fc1.weight.shape == (6, 4)
    assert model.config.wavelet == "sym4" and model.ffn_hidden_dim == 6
    assert WaveletTransformer(hidden_dim=8, num_layers=1).ffn_hidden_dim == 32
    assert type(tiny(WaveletDecoder).blocks[0].mixing).__name__ == "CausalWaveletMixing"
    assert type(model.blocks[0].mixing).__name__ == "WaveletMixing"
    assert model.blocks[0].mixing.mode == "periodization"


# -- generation -------------------------------------------------------------------------

def test_generate() -> None:
    model = tiny(WaveletDecoder, max_sequence_length=6, dropout=0.2)
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    out = model.generate(prompt, 8, seed=5)
    assert out.shape == (2, 11) and np.all((out >= 0) & (out < 7))
    np.testing.assert_array_equal(out[:, :3], prompt)
    np.testing.assert_array_equal(out, model.generate(prompt, 8, seed=5))
    assert model.training  # mode restored
    greedy = model.generate(prompt, 1, temperature=0)
    model.eval()
    np.testing.assert_array_equal(greedy[:, 3], np.argmax(model(prompt)[:, -1], axis=-1))
    top1 = model.generate(prompt, 4, top_k=1, seed=0)
    np.testing.assert_array_equal(top1, model.generate(prompt, 4, temperature=0))
    with pytest.raises(ValueError, match="top_k"):
        model.generate(prompt, 1, top_k=0)


def test_generate_on_torch_matches_numpy() -> None:
    model = tiny(WaveletDecoder, max_sequence_length=5)
    with wavelearn.use_backend("torch"):
        tm = WaveletDecoder.from_config(model.config)
    tm.load_state_dict(model.state_dict())
    prompt = np.array([[1, 2], [3, 4]])
    out = tm.generate(torch.tensor(prompt), 6, top_k=3, seed=1)
    assert torch.is_tensor(out) and out.dtype == torch.int64
    np.testing.assert_array_equal(out.numpy(), model.generate(prompt, 6, top_k=3, seed=1))


# -- errors --------------------------------------------------------------------------------

def test_errors() -> None:
    model = tiny(WaveletTransformer, num_classes=2, max_sequence_length=10)
    with pytest.raises(ValueError, match=r"11.*10"):
        model(np.zeros((1, 11), dtype=np.int64))
    with pytest.raises(ValueError, match="attention scores"):
        WaveletTransformer(hidden_dim=8, num_layers=1, positional_encoding_type="alibi")
    with pytest.raises(ValueError, match="'classification', 'regression'"):
        WaveletTransformer(hidden_dim=8, num_layers=1, output_type="tokens")
    with pytest.raises(ValueError, match="mixing_mode.*'pointwise'"):
        WaveletTransformer(hidden_dim=8, num_layers=1, mixing_mode="spectral")
    with pytest.raises(ValueError, match="exactly one"):
        model(np.zeros((1, 3), dtype=np.int64), inputs_embeds=np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="inputs_embeds"):
        tiny(WaveletEncoder)(np.zeros((1, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="integer"):
        model(np.zeros((1, 3)))
    with pytest.raises(RuntimeError, match="forward"):
        tiny(WaveletDecoder).backward(np.zeros((1, 3, 7)))


def test_numpy_input_to_torch_model_raises() -> None:
    with wavelearn.use_backend("torch"):
        model = WaveletTransformer(vocab_size=7, hidden_dim=4, num_layers=1, num_classes=2,
                                   max_sequence_length=8, dropout=0.0)
        enc = WaveletEncoder(hidden_dim=4, num_layers=1, max_sequence_length=8)
    assert torch.is_tensor(model.blocks[0].mixing.weight.data)
    assert model(torch.zeros(2, 5, dtype=torch.int64)).shape == (2, 2)
    with pytest.raises(TypeError, match="different backends"):
        model(np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(TypeError, match="different backends"):
        enc(inputs_embeds=np.zeros((2, 5, 4), dtype=np.float32))


# -- checkpoints ---------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path) -> None:
    model = tiny(WaveletTransformer, num_classes=3, positional_encoding_type="learned")
    path = tmp_path / "model.npz"
    serialization.save(model, path, metadata={"config": model.config.to_dict()})
    state, meta = serialization.load(path)
    fresh = WaveletTransformer.from_config(meta["config"])
    assert fresh.config == model.config
    fresh.load_state_dict(state)
    ids = np.random.default_rng(0).integers(0, 7, (2, 6))
    np.testing.assert_array_equal(fresh(ids), model(ids))


def test_load_into_another_architecture_names_the_problems(tmp_path) -> None:
    path = tmp_path / "model.npz"
    serialization.save(tiny(WaveletTransformer, num_classes=3), path)
    state, _ = serialization.load(path)
    other = tiny(WaveletTransformer, num_classes=3, num_layers=3, mixing_mode="channel",
                 positional_encoding_type="learned")
    with pytest.raises(ValueError) as err:
        other.load_state_dict(state)
    msg = str(err.value)
    assert "missing keys" in msg and "blocks.2.ln1.weight" in msg
    assert "positional.weight" in msg
    assert "blocks.0.mixing.weight: expected shape (3, 4, 4), got (3, 4)" in msg
