"""Wavelet mixing layers: exact reconstruction at identity, gradients (finite
differences and torch autograd), band/channel mixing, causality, backends, dtypes.

The torch reference model of ``benchmarks/torch_reference.py`` is checked here
too (its forward equals :class:`wavelearn.models.WaveletTransformer`'s).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import pywt
import torch
from gradcheck import check_layer_backward, rel_error

import wavelearn
from wavelearn.nn.mixing import (
    MIXING_MODES,
    CausalWaveletMixing,
    WaveletMixing,
    identity_weight,
)

F64 = np.float64
BOUNDARY_MODES = ("periodization", "symmetric", "zero", "reflect")
WAVELETS = ("haar", "db4", "sym5", "bior2.2")
LENGTHS = (1, 2, 3, 7, 16, 33)
LEVELS = (1, 2, 3, 4)


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def random_weight(layer, seed: int = 1) -> np.ndarray:
    """Identity plus a random perturbation (every entry moved), float64 numpy."""
    k, d = layer.levels + 1, layer.hidden_dim
    base = identity_weight(layer.mixing_mode, k, d)
    return base + 0.5 * randn(*base.shape, seed=seed)


def randomized(layer, seed: int = 1):
    layer.weight.data = random_weight(layer, seed).astype(layer.weight.dtype)
    return layer


def too_short_for_reflect(n: int, wavelet: str, levels: int) -> bool:
    """True when some level of a reflect-mode DWT would get fewer than 2 samples."""
    f = pywt.Wavelet(wavelet).dec_len
    for _ in range(levels):
        if n < 2:
            return True
        n = (n + f - 1) // 2
    return False


def pywt_roundtrip(x: np.ndarray, wavelet: str, mode: str, levels: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # levels above dwt_max_level
        c = pywt.wavedec(x, wavelet, mode, level=levels, axis=1)
        return pywt.waverec(c, wavelet, mode, axis=1)[:, : x.shape[1]]


# PyWavelets stores sym5's filters to ~13 digits: sum(h**2) - 1 = -1.7e-13, and
# PyWavelets' own waverec(wavedec(x)) is off by ~1.4e-12 for O(1) signals. Its
# reconstruction can be no better than that; the other filters are exact.
def reconstruction_tol(wavelet: str) -> float:
    return 5e-12 if wavelet == "sym5" else 1e-12


# -- identity weights reconstruct the input ---------------------------------------

@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("boundary", BOUNDARY_MODES)
@pytest.mark.parametrize("wavelet", WAVELETS)
def test_identity_reconstructs_input(mixing_mode: str, boundary: str, wavelet: str) -> None:
    checked = 0
    for n in LENGTHS:
        for levels in LEVELS:
            if boundary == "reflect" and too_short_for_reflect(n, wavelet, levels):
                continue  # see test_reflect_too_short_raises_like_pywavelets
            layer = WaveletMixing(4, wavelet, levels, mixing_mode, mode=boundary, dtype=F64)
            x = randn(2, n, 4, seed=n + 10 * levels)
            y = layer(x)
            where = f"N={n} levels={levels}"
            assert y.shape == x.shape and y.dtype == F64, where
            err = np.max(np.abs(y - x))
            assert err <= reconstruction_tol(wavelet), f"{where}: max |y - x| = {err:.2e}"
            ref = pywt_roundtrip(x, wavelet, boundary, levels)
            assert np.max(np.abs(y - ref)) <= 1e-12, f"{where}: differs from PyWavelets"
            checked += 1
    assert checked >= 12


@pytest.mark.parametrize("wavelet", ["haar", "db4"])
def test_reflect_too_short_raises_like_pywavelets(wavelet: str) -> None:
    # reflect needs >= 2 samples at every level, as in PyWavelets (which raises too).
    # NB: WaveletMixing's docstring says "any N >= 1"; that holds for periodization only.
    layer = WaveletMixing(3, wavelet, 1, mode="reflect", dtype=F64)
    assert too_short_for_reflect(1, wavelet, 1)
    with pytest.raises(ValueError, match="reflect"):
        layer(randn(1, 1, 3))
    with pytest.raises(ValueError):
        pywt.dwt(np.ones(1), wavelet, "reflect")
    if wavelet == "haar":  # the second level of haar gets 1 sample from N = 2
        assert too_short_for_reflect(2, wavelet, 2)
        with pytest.raises(ValueError, match="reflect"):
            WaveletMixing(3, wavelet, 2, mode="reflect", dtype=F64)(randn(1, 2, 3))


@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("wavelet", [*WAVELETS, "coif3"])
def test_causal_identity_reconstructs_input(mixing_mode: str, wavelet: str) -> None:
    for n in LENGTHS:
        for levels in LEVELS:
            layer = CausalWaveletMixing(4, wavelet, levels, mixing_mode, dtype=F64)
            x = randn(2, n, 4, seed=n + 10 * levels)
            y = layer(x)
            assert y.shape == x.shape and y.dtype == F64
            err = np.max(np.abs(y - x))
            assert err <= 1e-12, f"N={n} levels={levels}: max |y - x| = {err:.2e}"


def test_random_weights_do_change_the_output() -> None:
    # guards the identity tests against a layer that ignores its weight
    for mixing_mode in MIXING_MODES:
        for cls in (WaveletMixing, CausalWaveletMixing):
            layer = randomized(cls(4, "db4", 2, mixing_mode, dtype=F64))
            x = randn(2, 16, 4)
            assert np.max(np.abs(layer(x) - x)) > 1e-2, (cls.__name__, mixing_mode)


# -- backward: finite differences ------------------------------------------------------

@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("boundary", BOUNDARY_MODES)
@pytest.mark.parametrize("wavelet", ["haar", "db4", "bior2.2"])
def test_gradcheck(mixing_mode: str, boundary: str, wavelet: str) -> None:
    for n, levels in ((11, 2), (16, 3)):
        layer = WaveletMixing(3, wavelet, levels, mixing_mode, mode=boundary, dtype=F64)
        randomized(layer, seed=n)
        check_layer_backward(layer, randn(2, n, 3, seed=n), tol=1e-6)


@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("wavelet", ["haar", "db4", "sym5"])
def test_causal_gradcheck(mixing_mode: str, wavelet: str) -> None:
    for n, levels in ((9, 2), (12, 3)):
        layer = randomized(CausalWaveletMixing(3, wavelet, levels, mixing_mode, dtype=F64))
        check_layer_backward(layer, randn(2, n, 3, seed=n), tol=1e-6)


# -- backward: torch autograd of the same forward -------------------------------------

# wavelearn's forward calls xp.asarray(t, copy=True) on tensors that require grad; torch 2.13
# warns that asarray now keeps requires_grad (which is what autograd needs here)
AUTOGRAD_WARNING = "ignore:torch.asarray. unspecified requires_grad:UserWarning"


def autograd_vs_handwritten(make, x: np.ndarray, w: np.ndarray, seed: int = 5) -> None:
    """Run ``make()``'s forward on torch float64 tensors under autograd and compare
    ``dx`` and ``dW`` with the hand-written backward of the numpy layer."""
    ref = make()
    ref.weight.data = w.copy()
    y = ref(x)
    g = randn(*y.shape, seed=seed)
    dx = ref.backward(g.copy())
    with wavelearn.use_backend("torch"):
        layer = make()
    tw = torch.tensor(w, requires_grad=True)
    layer.weight.data = tw
    tx = torch.tensor(x, requires_grad=True)
    ty = layer(tx)
    (ty * torch.tensor(g)).sum().backward()
    assert rel_error(ty.detach().numpy(), y) < 1e-12
    assert rel_error(tx.grad.numpy(), dx) < 1e-10, "dx differs from torch autograd"
    assert rel_error(tw.grad.numpy(), ref.weight.grad) < 1e-10, "dW differs from autograd"


@pytest.mark.filterwarnings(AUTOGRAD_WARNING)
@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("boundary", BOUNDARY_MODES)
@pytest.mark.parametrize("wavelet", ["haar", "db4", "sym5", "bior2.2"])
def test_backward_matches_torch_autograd(mixing_mode: str, boundary: str, wavelet: str) -> None:
    for n, levels in ((13, 2), (32, 3)):
        def make(n=n, levels=levels):
            return WaveletMixing(5, wavelet, levels, mixing_mode, mode=boundary, dtype=F64)

        w = random_weight(make(), seed=n)
        autograd_vs_handwritten(make, randn(3, n, 5, seed=n), w)


@pytest.mark.filterwarnings(AUTOGRAD_WARNING)
@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("wavelet", ["haar", "db4", "coif3"])
def test_causal_backward_matches_torch_autograd(mixing_mode: str, wavelet: str) -> None:
    for n, levels in ((13, 2), (32, 3)):
        def make(n=n, levels=levels):
            return CausalWaveletMixing(5, wavelet, levels, mixing_mode, dtype=F64)

        w = random_weight(make(), seed=n)
        autograd_vs_handwritten(make, randn(3, n, 5, seed=n), w)


# -- gradients reach every mixing parameter --------------------------------------------

@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("cls", [WaveletMixing, CausalWaveletMixing])
def test_every_weight_entry_gets_a_gradient(mixing_mode: str, cls) -> None:
    d, levels = 6, 3
    layer = randomized(cls(d, "db4", levels, mixing_mode, dtype=F64))
    k = levels + 1
    expected = {"pointwise": (k, d), "channel": (k, d, d), "level": (k, k, d)}[mixing_mode]
    assert layer.weight.shape == expected
    y = layer(randn(2, 40, d))
    layer.backward(randn(*y.shape, seed=3))
    dw = layer.weight.grad
    assert dw.shape == expected
    assert np.all(np.abs(dw) > 1e-8), f"{np.sum(np.abs(dw) <= 1e-8)} entries without gradient"


def test_gradients_accumulate() -> None:
    layer = randomized(WaveletMixing(3, "db4", 2, "channel", dtype=F64))
    x, g = randn(2, 16, 3), randn(2, 16, 3, seed=4)
    layer(x)
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-12)


# -- 'level' moves information between bands, 'channel' between channels ------------

def test_level_mode_moves_a_detail_band_into_the_approximation() -> None:
    n, levels, d, w = 32, 2, 3, "db4"
    lengths = [8, 8, 16]  # cA_2, cD_2, cD_1 (periodization)
    cd1 = randn(1, 16, d, seed=7)
    coeffs = [np.zeros((1, m, d)) for m in lengths[:-1]] + [cd1]
    x = pywt.waverec(coeffs, w, "periodization", axis=1)  # energy in cD_1 only
    assert x.shape == (1, n, d)
    bands_x = pywt.wavedec(x, w, "periodization", level=levels, axis=1)
    assert np.max(np.abs(bands_x[0])) < 1e-12 and np.max(np.abs(bands_x[1])) < 1e-12

    layer = WaveletMixing(d, w, levels, "level", dtype=F64)
    gain = np.array([1.0, -2.0, 0.5])  # per channel
    weight = np.zeros((3, 3, d))
    weight[0, 2] = gain  # band 0 (cA_2) takes band 2 (cD_1); nothing else survives
    layer.weight.data = weight
    y = layer(x)
    out = pywt.wavedec(y, w, "periodization", level=levels, axis=1)
    # R_2 repeats each cD_1 coefficient twice (r=2), P_0 averages groups of r=4:
    # each cA_2 coefficient is the mean of the two cD_1 coefficients under it.
    expected_ca = gain * 0.5 * (cd1[:, 0::2] + cd1[:, 1::2])  # (1, 8, d)
    assert np.max(np.abs(out[0])) > 0.1
    np.testing.assert_allclose(out[0], expected_ca, atol=1e-12)
    assert np.max(np.abs(out[1])) < 1e-12 and np.max(np.abs(out[2])) < 1e-12
    np.testing.assert_allclose(y, pywt.waverec([expected_ca, 0 * out[1], 0 * out[2]], w,
                                               "periodization", axis=1), atol=1e-12)

    layer.weight.data = identity_weight("level", 3, d)  # diagonal: no transfer
    out_id = pywt.wavedec(layer(x), w, "periodization", level=levels, axis=1)
    assert np.max(np.abs(out_id[0])) < 1e-12


def test_level_mode_causal_moves_bands() -> None:
    layer = CausalWaveletMixing(2, "db4", 2, "level", dtype=F64)
    x = randn(1, 20, 2)
    from wavelearn.nn.mixing import causal_analysis
    bands = causal_analysis(np, x, layer.lowpass, 2)
    weight = np.zeros((3, 3, 2))
    weight[1, 2] = [2.0, -1.0]  # only band 1 (d_2), fed by band 2 (d_1)
    layer.weight.data = weight
    np.testing.assert_allclose(layer(x), bands[2] * np.array([2.0, -1.0]), atol=1e-12)


@pytest.mark.parametrize("cls", [WaveletMixing, CausalWaveletMixing])
def test_channel_mode_mixes_channels(cls) -> None:
    d, levels = 3, 2
    layer = cls(d, "db4", levels, "channel", dtype=F64)
    x = np.zeros((2, 16, d))
    x[..., 0] = randn(2, 16, seed=3)  # a signal in channel 0 only
    assert np.max(np.abs(layer(x)[..., 1])) == 0.0
    move = np.zeros((d, d))
    move[0, 1] = 1.0  # c W: column 1 of the output takes channel 0
    layer.weight.data = np.broadcast_to(move, (levels + 1, d, d)).copy()
    y = layer(x)
    np.testing.assert_allclose(y[..., 1], x[..., 0], atol=1e-12)
    assert np.max(np.abs(y[..., 0])) < 1e-12 and np.max(np.abs(y[..., 2])) < 1e-12


# -- causality -----------------------------------------------------------------------

@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("wavelet", ["haar", "db4", "sym5", "coif3"])
def test_causal_mixing_is_causal(mixing_mode: str, wavelet: str) -> None:
    rng = np.random.default_rng(0)
    for levels in (1, 2, 3):
        for n in (9, 14):
            layer = randomized(CausalWaveletMixing(3, wavelet, levels, mixing_mode, dtype=F64),
                               seed=levels + n)
            x = rng.standard_normal((2, n, 3))
            y = layer(x)
            for t in range(n - 1):
                x2 = x.copy()
                x2[:, t + 1 :] = 10.0 * rng.standard_normal((2, n - t - 1, 3))
                y2 = layer(x2)
                where = f"levels={levels} N={n} t={t}"
                assert np.max(np.abs(y2[:, : t + 1] - y[:, : t + 1])) <= 1e-12, where
                assert np.max(np.abs(y2[:, t + 1 :] - y[:, t + 1 :])) > 1e-6, where


@pytest.mark.parametrize("dtype", [np.float32, F64])
def test_causal_pointwise_sum_is_the_sum_of_the_mixed_bands(dtype, monkeypatch) -> None:
    """The decoder's pointwise map and synthesis in one pass, block of rows by block on
    the threads: the values of mixing each band and adding them up."""
    from wavelearn.nn import rowwise
    from wavelearn.nn.mixing import mix_forward, pointwise_sum

    monkeypatch.setattr(rowwise, "ELEMENTWISE_BLOCK", 5 * 6)  # blocks of 5 rows
    monkeypatch.setattr(rowwise, "ELEMENTWISE_PARALLEL_MIN", 0)
    bands = [randn(3, 17, 6, seed=k).astype(dtype) for k in range(4)]
    weight = randn(4, 6, seed=9).astype(dtype)
    got = pointwise_sum(np, bands, weight)
    want = sum(mix_forward(np, "pointwise", bands, weight, [1] * 4))
    assert got.dtype == dtype and got.shape == (3, 17, 6)
    np.testing.assert_array_equal(got, want)


def test_the_causal_mixer_gives_its_band_gradients_to_the_pool() -> None:
    """The decoder mixer's backward hands the bands' gradients (and the weight
    gradient's products) back to :mod:`wavelearn.buffers` once read: the next arrays
    of the step take that memory instead of new pages (measured: 2.5 arrays of the
    input's size pooled after the backward, 0.5 before)."""
    from wavelearn import buffers

    layer = CausalWaveletMixing(16, "db4", 3, dtype=F64)
    x = randn(2, 1 << 15, 16)  # 8 MiB
    y = layer.forward(x)
    buffers.clear()
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape
    assert buffers.held_bytes() >= 2 * x.nbytes, buffers.held_bytes() / x.nbytes


def test_decimated_mixing_is_not_causal() -> None:
    # the causality test above can tell: the encoder's mixer looks ahead
    layer = randomized(WaveletMixing(3, "db4", 2, "pointwise", dtype=F64))
    x = randn(1, 16, 3)
    x2 = x.copy()
    x2[:, 8:] += 1.0
    assert np.max(np.abs(layer(x2)[:, :8] - layer(x)[:, :8])) > 1e-6


# -- torch backend parity --------------------------------------------------------------

@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
@pytest.mark.parametrize("causal", [False, True])
def test_torch_backend_matches_numpy(mixing_mode: str, causal: bool) -> None:
    for boundary, n in (("periodization", 21), ("symmetric", 16)):
        def make(boundary=boundary):
            if causal:
                return CausalWaveletMixing(4, "db4", 3, mixing_mode, dtype=F64)
            return WaveletMixing(4, "db4", 3, mixing_mode, mode=boundary, dtype=F64)

        ref = randomized(make(), seed=n)
        x, g = randn(2, n, 4, seed=1), randn(2, n, 4, seed=2)
        y = ref(x)
        dx = ref.backward(g)
        with wavelearn.use_backend("torch"):
            layer = make()
        assert torch.is_tensor(layer.weight.data)
        layer.weight.data = torch.tensor(ref.weight.data)
        ty = layer(torch.tensor(x))
        tdx = layer.backward(torch.tensor(g))
        assert torch.is_tensor(ty) and torch.is_tensor(tdx) and torch.is_tensor(layer.weight.grad)
        assert ty.dtype == torch.float64
        np.testing.assert_allclose(ty.numpy(), y, rtol=0, atol=1e-10)
        np.testing.assert_allclose(tdx.numpy(), dx, rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.weight.grad.numpy(), ref.weight.grad, rtol=0, atol=1e-10)


# -- dtypes ------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [WaveletMixing, CausalWaveletMixing])
@pytest.mark.parametrize("mixing_mode", MIXING_MODES)
def test_float32_default_and_no_promotion(cls, mixing_mode: str) -> None:
    layer = cls(4, "db4", 2, mixing_mode)
    assert layer.weight.dtype == np.float32
    x64 = randn(2, 16, 4)
    y = layer(x64)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x64, atol=1e-5)
    dx = layer.backward(randn(2, 16, 4, seed=1))  # float64 gradient in
    assert dx.dtype == np.float32 and layer.weight.grad.dtype == np.float32
    with wavelearn.use_backend("torch"):
        tl = cls(4, "db4", 2, mixing_mode)
    assert tl.weight.dtype == torch.float32
    ty = tl(torch.tensor(x64))
    assert ty.dtype == torch.float32
    assert tl.backward(torch.tensor(randn(2, 16, 4, seed=1))).dtype == torch.float32
    assert tl.weight.grad.dtype == torch.float32


def test_float32_matches_float64() -> None:
    l32 = WaveletMixing(4, "db4", 3, "channel")
    l64 = WaveletMixing(4, "db4", 3, "channel", dtype=F64)
    w = random_weight(l64)
    l64.weight.data, l32.weight.data = w, w.astype(np.float32)
    x = randn(2, 64, 4).astype(np.float32)
    np.testing.assert_allclose(l32(x), l64(x.astype(F64)), atol=1e-5)


# -- the torch reference model of the benchmark ----------------------------------------

@functools.cache
def _load_reference():
    if importlib.util.find_spec("wavelearn.models") is None:
        pytest.skip("wavelearn.models is not there yet")
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "torch_reference.py"
    spec = importlib.util.spec_from_file_location("torch_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("torch_reference", module)
    spec.loader.exec_module(module)
    return module


def _small_model(dtype=None, **kw):
    from wavelearn.models import WaveletTransformer

    return WaveletTransformer(vocab_size=50, hidden_dim=16, num_layers=2, wavelet="db4",
                              levels=3, num_classes=5, max_sequence_length=128, dropout=0.0,
                              dtype=dtype, seed=3, **kw)


@pytest.mark.parametrize("dtype", [None, "float64"])
def test_torch_reference_forward_matches_wavelearn(dtype) -> None:
    ref_mod = _load_reference()
    model = _small_model(dtype)
    for block in model.blocks:  # non-trivial mixing weights
        block.mixing.weight.data = randomized(block.mixing, seed=5).weight.data
    ref = ref_mod.from_wavelearn(model)
    assert next(ref.parameters()).dtype == (torch.float64 if dtype else torch.float32)
    for n in (64, 37, 5):
        ids = np.random.default_rng(n).integers(0, 50, (3, n))
        err = ref_mod.check_matches_wavelearn(model, ref, ids)
        assert err <= (1e-10 if dtype else 1e-5)
    model.blocks[0].mixing.weight.data[0, 0] += 0.1  # the check can fail
    with pytest.raises(AssertionError):
        ref_mod.check_matches_wavelearn(model, ref, ids)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_torch_reference_gradients_match_wavelearn(checkpointing: bool) -> None:
    ref_mod = _load_reference()
    model = _small_model("float64", gradient_checkpointing=checkpointing)
    for block in model.blocks:
        block.mixing.weight.data = randomized(block.mixing, seed=5).weight.data
    ref = ref_mod.from_wavelearn(model)
    assert ref.gradient_checkpointing == checkpointing
    ids = np.random.default_rng(0).integers(0, 50, (3, 40))
    g = randn(3, 5, seed=9)
    model.zero_grad()
    model(ids)
    model.backward(g.copy())
    out = ref(torch.as_tensor(ids))
    (out * torch.tensor(g)).sum().backward()
    theirs = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        assert rel_error(p.grad, theirs[name].grad.numpy()) < 1e-10, name
