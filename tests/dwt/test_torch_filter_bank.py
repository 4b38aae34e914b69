"""The torch backend's own filter bank (``Backend.filter_bank``: tap loops that
add every term in place) against the textbook tap loop, its adjoint identity,
PyWavelets, and NaN/inf placement.
"""

from __future__ import annotations

import numpy as np
import pytest
import pywt
from hypothesis import given
from hypothesis import strategies as st

import wavelearn as wl
from wavelearn.backend import backend_of, load_backend
from wavelearn.dwt import filterbank as fb

torch = pytest.importorskip("torch")
import array_api_compat.torch as xp  # noqa: E402  (after the skip)

DTYPES = {"float64": (torch.float64, 1e-12), "float32": (torch.float32, 1e-5),
          "complex128": (torch.complex128, 1e-12), "complex64": (torch.complex64, 1e-5)}


def _bank():
    return backend_of(torch.zeros(0)).filter_bank  # the one the DWT of a CPU tensor uses


def _tensor(rng: np.random.Generator, shape: tuple, dtype: str) -> torch.Tensor:
    t = torch.from_numpy(rng.standard_normal(shape))
    if dtype.startswith("complex"):
        t = t + 1j * torch.from_numpy(rng.standard_normal(shape))
    return t.to(DTYPES[dtype][0])


def _filters(rng: np.random.Generator, B: int, F: int, source: str) -> np.ndarray:
    """``(B, F)`` float64: a wavelet's analysis pair, or random with some exact zeros."""
    if source != "random":
        w = pywt.Wavelet(source)
        return np.stack([w.dec_lo[::-1], w.dec_hi[::-1]])
    f = rng.standard_normal((B, F))
    f[rng.random((B, F)) < 0.2] = 0.0
    return f


def _close(got, ref, rtol: float, scale: float, what: str) -> None:
    assert got.shape == ref.shape, f"{what}: {tuple(got.shape)} != {tuple(ref.shape)}"
    assert got.dtype == ref.dtype, f"{what}: {got.dtype} != {ref.dtype}"
    err = float((got - ref).abs().max()) if got.numel() else 0.0
    assert err <= rtol * max(1.0, scale), f"{what}: max error {err:.3g}"


@st.composite
def _case(draw):
    source = draw(st.sampled_from(["random", "haar", "db4", "sym5", "bior2.4"]))
    F = draw(st.integers(1, 12)) if source == "random" else pywt.Wavelet(source).dec_len
    B = draw(st.integers(1, 3)) if source == "random" else 2
    n = draw(st.integers(1, 20))  # n_out of filter_down, the band length of filter_up
    extra = draw(st.integers(0, 3))  # input (or output) longer than needed
    P, Q = draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 5, 16]))
    dtype = draw(st.sampled_from(sorted(DTYPES)))
    return source, (B, F), n, extra, (P, Q), dtype, draw(st.integers(0, 2**32 - 1))


@given(_case())
def test_filter_down_equals_the_tap_loop(case):
    source, (B, F), n_out, extra, (P, Q), dtype, seed = case
    rng = np.random.default_rng(seed)
    filters = _filters(rng, B, F, source)
    x = _tensor(rng, (P, 2 * (n_out - 1) + F + extra, Q), dtype)
    got = _bank().filter_down(x, filters, n_out)
    ref = fb.filter_down_taps(xp, x, filters, n_out)
    assert got.shape == (filters.shape[0], P, n_out, Q)
    _close(got, ref, DTYPES[dtype][1], float(x.abs().max()) * F, "filter_down")


@given(_case())
def test_filter_up_equals_the_tap_loop(case):
    source, (B, F), n, extra, (P, Q), dtype, seed = case
    rng = np.random.default_rng(seed)
    filters = _filters(rng, B, F, source)
    bands = [_tensor(rng, (P, n, Q), dtype) for _ in range(filters.shape[0])]
    length = 2 * (n - 1) + F + extra
    got = _bank().filter_up(bands, filters, length)
    ref = fb.filter_up_taps(xp, bands, filters, length)
    assert got.shape == (P, length, Q)
    scale = max(float(b.abs().max()) for b in bands) * F * len(bands)
    _close(got, ref, DTYPES[dtype][1], scale, "filter_up")


@given(_case())
def test_filter_up_is_the_adjoint_of_filter_down(case):
    r""":math:`\langle D x, y \rangle = \langle x, D^T y \rangle` in float64."""
    source, (B, F), n_out, extra, (P, Q), _, seed = case
    rng = np.random.default_rng(seed)
    filters = _filters(rng, B, F, source)
    N = 2 * (n_out - 1) + F + extra
    x = _tensor(rng, (P, N, Q), "float64")
    y = _tensor(rng, (filters.shape[0], P, n_out, Q), "float64")
    lhs = float((_bank().filter_down(x, filters, n_out) * y).sum())
    rhs = float((x * _bank().filter_up(list(y), filters, N)).sum())
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, float(x.abs().sum() * y.abs().sum()) ** 0.5)


def test_strided_views_and_lazy_conjugates_are_read_right():
    """Inputs that are views: a slice with a storage offset, a permuted tensor
    (channels not contiguous), a broadcast one (stride 0), lazy ``conj()`` and negation."""
    rng = np.random.default_rng(3)
    filters = _filters(rng, 2, 0, "db4")
    base = _tensor(rng, (5, 40, 7), "float64")
    z = _tensor(rng, (3, 30, 4), "complex128")
    views = {
        "offset slice": base[1:4, 3:, 2:],
        "permuted": base.permute(2, 1, 0),  # (7, 40, 5), strides (1, 7, 280)
        "broadcast": base[:1].expand(3, 40, 7),
        "conj": z.conj(),
        "conj of a slice": z[:, 1:].conj(),
        "negative bit": z.conj().imag,  # a lazily negated view
    }
    for what, x in views.items():
        n_out = (x.shape[1] - 8) // 2 + 1
        got = _bank().filter_down(x, filters, n_out)
        ref = fb.filter_down_taps(xp, x.resolve_conj(), filters, n_out)
        _close(got, ref, 1e-12, float(x.abs().max()) * 8, what)
        bands = list(got)
        _close(_bank().filter_up(bands, filters, x.shape[1]),
               fb.filter_up_taps(xp, [b.contiguous() for b in bands], filters, x.shape[1]),
               1e-12, float(got.abs().max()) * 16, what + " (up)")


def test_the_dispatch_sends_torch_to_the_backend_and_numpy_elsewhere(monkeypatch, level_path):
    """``filterbank.filter_down``/``filter_up`` (and the DWT above them) use the torch
    backend's kernels for tensors, never the tap loop; NumPy never sees them."""
    calls = {"bank": 0}
    bank = _bank()

    def counted(f):
        def spy(*args):
            calls["bank"] += 1
            return f(*args)
        return spy

    def no_torch(f):
        def taps(xp_, data, *args):
            first = data[0] if isinstance(data, list) else data
            assert not torch.is_tensor(first), "the tap loop ran on torch tensors"
            return f(xp_, data, *args)
        return taps

    for name in ("filter_down", "filter_up"):
        monkeypatch.setattr(bank, name, counted(getattr(bank, name)))
        monkeypatch.setattr(fb, f"{name}_taps", no_torch(getattr(fb, f"{name}_taps")))
    x = torch.randn(3, 50, 4, dtype=torch.float64)
    coeffs = wl.wavedec(x, "db4", "symmetric", level=2, axis=1)
    wl.waverec(coeffs, "db4", "symmetric", axis=1)
    wl.wavedec_adjoint(coeffs, "db4", "symmetric", axis=1, length=50)
    assert calls["bank"] >= 6, calls
    assert load_backend("numpy").filter_bank is None
    calls["bank"] = 0
    wl.wavedec(np.random.default_rng(0).standard_normal((3, 300, 1)), "db4", level=2, axis=1)
    assert calls["bank"] == 0


@pytest.mark.parametrize("mode", ["symmetric", "periodization", "zero", "reflect", "smooth"])
@pytest.mark.parametrize("name", ["haar", "db4", "sym5", "bior2.4", "coif2"])
def test_wavedec_waverec_on_torch_match_pywt(name, mode):
    x = np.random.default_rng(5).standard_normal((2, 45, 3))
    ref = pywt.wavedec(x, name, mode, level=2, axis=1)
    got = wl.wavedec(torch.from_numpy(x), name, mode, level=2, axis=1)
    for j, (g, r) in enumerate(zip(got, ref, strict=True)):
        assert torch.is_tensor(g)
        np.testing.assert_allclose(g.numpy(), r, rtol=0, atol=1e-12, err_msg=f"wavedec[{j}]")
    rec = wl.waverec([torch.from_numpy(r) for r in ref], name, mode, axis=1)
    np.testing.assert_allclose(rec.numpy(), pywt.waverec(ref, name, mode, axis=1), atol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", ["symmetric", "periodization", "zero"])
@pytest.mark.parametrize("name", ["haar", "db2", "bior2.4"])
def test_nan_and_inf_land_where_pywt_puts_them(name, mode):
    """NaN and inf inside the signal (bior2.4 has exact zero taps: pywt computes
    0 * inf = NaN there, and so must the matmul and the in-place loop)."""
    x = np.random.default_rng(6).standard_normal((2, 64, 5))
    x[1, 41, 2], x[0, 20, 3], x[0, 30, 4] = np.inf, np.nan, -np.inf
    ref = pywt.dwt(x, name, mode, axis=1)
    got = wl.dwt(torch.from_numpy(x), name, mode, axis=1)
    rec_ref = pywt.idwt(*ref, name, mode, axis=1)
    rec = wl.idwt(*(torch.from_numpy(r) for r in ref), name, mode, axis=1)
    for g, r in [*zip(got, ref, strict=True), (rec, rec_ref)]:
        g = g.numpy()
        for test in (np.isnan, np.isposinf, np.isneginf):
            np.testing.assert_array_equal(test(g), test(r), err_msg=test.__name__)
        fin = np.isfinite(r)
        np.testing.assert_allclose(g[fin], r[fin], atol=1e-12)


def test_backend_of_a_tensor_is_the_loaded_backend():
    """``backend_of`` remembers the backend per device: the same object as
    ``load_backend`` gives, whatever the tensor."""
    torch_cpu = load_backend("torch:cpu")
    for t in (torch.zeros(2), torch.nn.Parameter(torch.ones(3)), torch.zeros(2)[1:]):
        assert backend_of(t) is torch_cpu
    assert wl.array_namespace(torch.zeros(1), None, torch.ones(2)) is torch_cpu.xp
