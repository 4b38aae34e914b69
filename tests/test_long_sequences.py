"""Long sequences: memory linear in the length, for every transform and model.

The DWT of ``n`` samples must not build anything of size ``n * n`` (an
``np.eye(n)`` once hid in the boundary extension: 74.5 GiB for ``n = 10^5``),
nor anything much larger than its input and output. NumPy reports every
buffer it allocates to :mod:`tracemalloc`, so the peak of a call is a
deterministic number: these tests bound it.

* every transform and adjoint, every boundary mode, 10^6 float64 samples:
  peak at most 4x (input + output);
* a training step of each model (and mixing mode) at N = 65,536: the peak
  per token at most 1.1x that at N = 4,096, and below a fixed multiple of
  the activations the step has to keep (the arrays themselves, with the pool of
  :mod:`wavelearn.buffers` switched off); with the pool, at most two hidden-sized
  arrays more.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest
import pywt

import wavelearn as wl
from wavelearn import buffers
from wavelearn.dwt import blocked, gathered
from wavelearn.dwt import filterbank as fb
from wavelearn.models import WaveletDecoder, WaveletEncoder, WaveletTransformer
from wavelearn.nn import CrossEntropyLoss

N_SIGNAL = 10**6
WAVELET = "db4"


def traced_peak(fn: Callable[[], object]) -> tuple[object, int]:
    """``(fn(), peak bytes traced while it ran)``."""
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak


def _nbytes(arrays: object) -> int:
    if isinstance(arrays, np.ndarray):
        return arrays.nbytes
    return sum(_nbytes(a) for a in arrays)  # type: ignore[union-attr]


def _check(name: str, fn: Callable[[], object], inputs: object) -> object:
    out, peak = traced_peak(fn)
    limit = 4 * (_nbytes(inputs) + _nbytes(out))
    assert peak <= limit, f"{name}: peak {peak / 2**20:.1f} MiB > 4x (input + output) " \
                          f"= {limit / 2**20:.1f} MiB"
    return out


@pytest.mark.parametrize("mode", wl.MODES)
def test_transforms_of_a_million_samples_use_linear_memory(mode: str) -> None:
    x = np.random.default_rng(0).standard_normal(N_SIGNAL)  # (n,) float64
    a, d = _check("dwt", lambda: wl.dwt(x, WAVELET, mode), x)
    y = _check("idwt", lambda: wl.idwt(a, d, WAVELET, mode), (a, d))
    _check("dwt_adjoint", lambda: wl.dwt_adjoint(a, d, WAVELET, mode, length=N_SIGNAL), (a, d))
    _check("idwt_adjoint", lambda: wl.idwt_adjoint(y, WAVELET, mode), y)
    coeffs = _check("wavedec", lambda: wl.wavedec(x, WAVELET, mode, level=3), x)
    r = _check("waverec", lambda: wl.waverec(coeffs, WAVELET, mode), coeffs)
    _check("wavedec_adjoint",
           lambda: wl.wavedec_adjoint(coeffs, WAVELET, mode, length=N_SIGNAL), coeffs)
    lengths = [c.shape[0] for c in coeffs]
    _check("waverec_adjoint",
           lambda: wl.waverec_adjoint(r, WAVELET, mode, coeff_lengths=lengths), r)


def test_multichannel_transform_uses_linear_memory() -> None:
    """The blocked (BLAS) path: ``(B, N, D)`` activations along axis 1."""
    x = np.random.default_rng(1).standard_normal((2, 2**15, 16)).astype(np.float32)
    for mode in ("symmetric", "periodization", "antireflect"):
        coeffs = _check("wavedec", lambda m=mode: wl.wavedec(x, WAVELET, m, level=3, axis=1), x)
        _check("waverec", lambda c=coeffs, m=mode: wl.waverec(c, WAVELET, m, axis=1), coeffs)


# ---------------------------------------------------------------------------
# The single-channel blocked path (long 1-D signals) == PyWavelets, exact adjoints
# ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:level=3 is above:UserWarning")
@pytest.mark.filterwarnings("ignore:Level value of 3 is too high:UserWarning")
@pytest.mark.parametrize("name", ["haar", "db4", "sym7", "coif3", "bior3.5", "db20"])
def test_single_channel_rows_path_matches_pywt(name: str, monkeypatch) -> None:
    calls = {"_filter_down_rows": 0, "_filter_up_rows": 0}

    def counted(attr: str) -> Callable:
        fn = getattr(blocked, attr)  # called inside wavelearn.dwt.blocked

        def wrapped(*args: object) -> object:
            calls[attr] += 1
            return fn(*args)
        return wrapped

    for attr in calls:
        monkeypatch.setattr(blocked, attr, counted(attr))
    rng = np.random.default_rng(2)
    for n in (fb.ROWS_MIN, 1001):
        x = rng.standard_normal(n)
        for mode in wl.MODES:
            ref = pywt.wavedec(x, name, mode, level=3)
            got = wl.wavedec(x, name, mode, level=3)
            scale = max(float(np.abs(c).max()) for c in ref)
            for g, r in zip(got, ref, strict=True):
                np.testing.assert_allclose(g, r, rtol=0, atol=1e-12 * scale)
            back = wl.waverec(got, name, mode)
            np.testing.assert_allclose(back, pywt.waverec(ref, name, mode), rtol=0,
                                       atol=1e-12 * scale)
            # exact adjoint: <wavedec x, c> == <x, wavedec^T c>
            c = [rng.standard_normal(g.shape) for g in got]
            adj = wl.wavedec_adjoint(c, name, mode, length=n)
            lhs = sum(float(np.dot(g, h)) for g, h in zip(got, c, strict=True))
            norms = max(np.linalg.norm(np.concatenate(got)) * np.linalg.norm(np.concatenate(c)),
                        np.linalg.norm(x) * np.linalg.norm(adj))
            assert abs(lhs - float(np.dot(x, adj))) <= 1e-12 * norms, (mode, n)
    assert all(calls.values()), calls


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_single_channel_nonfinite_takes_the_tap_loop() -> None:
    """A long signal with a NaN and an inf: the same NaN/inf pattern as PyWavelets."""
    x = np.random.default_rng(3).standard_normal(1000)
    x[500], x[3] = np.nan, np.inf
    for mode in ("symmetric", "periodization"):
        for g, r in zip(wl.wavedec(x, "db4", mode, level=2),
                        pywt.wavedec(x, "db4", mode, level=2), strict=True):
            np.testing.assert_array_equal(np.isnan(g), np.isnan(r))
            np.testing.assert_array_equal(np.isinf(g), np.isinf(r))


# ---------------------------------------------------------------------------
# Models: a training step at N = 65,536
# ---------------------------------------------------------------------------

D, H, VOCAB = 16, 32, 32


def _model(kind: str, n: int, mixing_mode: str, mode: str):
    kw = dict(hidden_dim=D, ffn_hidden_dim=H, num_layers=1, levels=3, dropout=0.0,
              max_sequence_length=n, mixing_mode=mixing_mode)
    if kind == "transformer":
        return WaveletTransformer(vocab_size=VOCAB, num_classes=3, mode=mode, **kw).train()
    if kind == "encoder":
        return WaveletEncoder(mode=mode, **kw).train()
    return WaveletDecoder(vocab_size=VOCAB, **kw).train()


def _step(model, kind: str, n: int) -> None:
    """Forward, loss, backward (gradients reset first)."""
    for p in model.parameters():
        p.grad = None
    rng = np.random.default_rng(0)
    if kind == "encoder":
        out = model(inputs_embeds=rng.standard_normal((1, n, D)).astype(np.float32))
        model.backward(np.full(out.shape, 1.0 / out.size, dtype=out.dtype))
        return
    ids = rng.integers(0, VOCAB, (1, n))
    loss = CrossEntropyLoss()
    out = model(ids)
    if kind == "transformer":
        loss.forward(out, np.array([1]))
        model.backward(loss.backward())
    else:
        loss.forward(out.reshape(-1, VOCAB), ids.reshape(-1))
        model.backward(loss.backward().reshape(out.shape))


def _peak_per_token(kind: str, n: int, mixing_mode: str, mode: str) -> float:
    buffers.clear()
    model = _model(kind, n, mixing_mode, mode)
    _step(model, kind, 64)  # warm-up: filter caches, lazy imports
    _, peak = traced_peak(lambda: _step(model, kind, n))
    buffers.clear()
    return peak / n


STEPS = [
    ("transformer", "pointwise", "periodization"),
    ("transformer", "level", "symmetric"),
    ("transformer", "channel", "antireflect"),
    ("encoder", "pointwise", "zero"),
    ("decoder", "level", "periodization"),
]


@pytest.mark.parametrize(("kind", "mixing_mode", "mode"), STEPS)
def test_model_step_memory_is_linear_in_length(kind: str, mixing_mode: str, mode: str,
                                               monkeypatch) -> None:
    """What a step allocates, the pool of freed arrays aside (its share is bounded in
    :func:`test_the_pool_adds_at_most_two_hidden_sized_arrays_to_a_step`: at N = 4,096
    these arrays are too small to be pooled, at 65,536 not)."""
    monkeypatch.setattr(buffers, "ENABLED", False)
    short = _peak_per_token(kind, 4096, mixing_mode, mode)
    long = _peak_per_token(kind, 65536, mixing_mode, mode)
    assert long <= 1.1 * short, f"{long:.0f} B/token at N=65,536 vs {short:.0f} at N=4,096"
    # what a step must keep, per token and layer: about 12 float32 vectors of D and 3 of H
    budget = 2.0 * 4 * (12 * D + 3 * H) + 4 * VOCAB * 2
    assert long <= budget, f"{long:.0f} B/token at N=65,536 > {budget:.0f}"


@pytest.mark.parametrize(("kind", "mixing_mode", "mode"), STEPS)
def test_the_pool_adds_at_most_two_hidden_sized_arrays_to_a_step(
        kind: str, mixing_mode: str, mode: str, monkeypatch) -> None:
    """The pool keeps freed arrays for the next request of their size instead of handing
    their pages back (:mod:`wavelearn.buffers`): memory the step would otherwise free.
    At the peak it holds at most two arrays of the FFN's hidden size (measured: 1.0-1.4
    of them, 7-17% of a one-layer step's peak)."""
    n = 65536
    pooled = _peak_per_token(kind, n, mixing_mode, mode)
    monkeypatch.setattr(buffers, "ENABLED", False)
    plain = _peak_per_token(kind, n, mixing_mode, mode)
    hidden_array = 4 * H  # bytes per token of an (N, H) float32 array
    assert pooled - plain <= 2 * hidden_array, (pooled, plain)


# ---------------------------------------------------------------------------
# Fast paths == plain ones
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", wl.MODES)
def test_padding_by_matrix_products_equals_the_terms(mode: str) -> None:
    """Finite NumPy data get their padding from two small matrix products
    (``edge_pads_finite``); the plain terms (``edge_pads``) must give the same samples."""
    rng = np.random.default_rng(4)
    for n, left, right in ((2, 3, 4), (5, 7, 7), (40, 6, 7), (301, 2, 3)):
        x = rng.standard_normal((2, n, 3))
        for fast, plain in zip(fb.edge_pads_finite(x, left, right, mode),
                               fb.edge_pads(np, x, left, right, mode), strict=True):
            np.testing.assert_allclose(fast, plain, rtol=1e-13, atol=1e-13)


def test_batches_side_by_side_give_the_same_coefficients(monkeypatch) -> None:
    """(P, N, Q) batches run as one row of P Q channels (``one_row``) on the blocked
    levels: the same coefficients as each signal on its own, and views that chain
    without copies."""
    monkeypatch.setattr(gathered, "USE_GATHERED", False)  # (the tables come first)
    x = np.random.default_rng(5).standard_normal((6, 300, 20)).astype(np.float32)
    assert fb.one_row(x).shape == (1, 300, 120)
    coeffs = wl.wavedec(x, "db4", "symmetric", level=3, axis=1)
    for p in (0, 5):
        for c, r in zip(coeffs, wl.wavedec(x[p:p + 1], "db4", "symmetric", level=3, axis=1),
                        strict=True):
            np.testing.assert_allclose(c[p:p + 1], r, rtol=1e-5, atol=1e-5)
    assert np.shares_memory(fb.one_row(coeffs[1]), coeffs[1])  # already side by side
    back = wl.waverec(coeffs, "db4", "symmetric", axis=1)
    np.testing.assert_allclose(back, x, rtol=1e-4, atol=1e-4)


def test_gelu_blocks_and_fused_torch_kernel_equal_the_formula() -> None:
    """GELU by blocks of rows (NumPy) and torch's fused kernel (torch backend) give
    the tanh formula and its derivative, written out plainly here."""
    from wavelearn.backend import backend_of
    from wavelearn.nn import GELU, rowwise

    rng = np.random.default_rng(6)
    x = 3.0 * rng.standard_normal((3 * rowwise.ELEMENTWISE_BLOCK // 50 + 7, 50))  # > 3 blocks
    dy = rng.standard_normal(x.shape)
    c, a = np.sqrt(2.0 / np.pi), 0.044715
    t = np.tanh(c * (x + a * x**3))
    y_ref = 0.5 * x * (1.0 + t)
    dx_ref = dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * c * (1.0 + 3.0 * a * x**2))
    layer = GELU()
    assert len(rowwise.elementwise_blocks(x)) > 3
    np.testing.assert_allclose(layer(x), y_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.backward(dy), dx_ref, rtol=1e-12, atol=1e-13)
    torch = pytest.importorskip("torch")
    with wl.use_backend("torch"):
        fused = GELU()
        assert backend_of(torch.zeros(1)).gelu is not None
        y, dx = fused(torch.tensor(x)), fused.backward(torch.tensor(dy))
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx.numpy(), dx_ref, rtol=1e-12, atol=1e-13)


def test_layernorm_by_blocks_of_rows_equals_one_block(monkeypatch) -> None:
    from wavelearn.nn import LayerNorm, rowwise

    rng = np.random.default_rng(7)
    x = rng.standard_normal((3 * rowwise.ELEMENTWISE_BLOCK // 40 + 5, 40))
    dy = rng.standard_normal(x.shape)
    blocked = LayerNorm(40, dtype="float64")
    assert len(rowwise.elementwise_blocks(x)) > 3
    y, dx = blocked(x), blocked.backward(dy)
    monkeypatch.setattr(rowwise, "ELEMENTWISE_BLOCK", 1 << 40)
    whole = LayerNorm(40, dtype="float64")
    np.testing.assert_allclose(y, whole(x), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(dx, whole.backward(dy), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(blocked.weight.grad, whole.weight.grad, rtol=1e-13)


@pytest.mark.parametrize("layer_name", ["GELU", "LayerNorm"])
def test_elementwise_blocks_on_threads_give_the_same_bits(layer_name: str, monkeypatch) -> None:
    from wavelearn import nn
    from wavelearn.nn import rowwise

    rng = np.random.default_rng(8)
    x = rng.standard_normal((3 * rowwise.ELEMENTWISE_BLOCK // 40 + 5, 40)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    monkeypatch.setattr(rowwise, "ELEMENTWISE_PARALLEL_MIN", 0)  # threads for any size
    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("WAVELEARN_NUM_THREADS", threads)
        layer = nn.GELU() if layer_name == "GELU" else nn.LayerNorm(40)
        results.append((layer(x), layer.backward(dy)))
    for one, three in zip(*results, strict=True):
        np.testing.assert_array_equal(one, three)


@pytest.mark.parametrize("inplace", [False, True])
def test_dropout_by_blocks_on_threads_is_x_times_mask_over_1_minus_p(inplace: bool,
                                                                     monkeypatch) -> None:
    from wavelearn.nn import Dropout, rowwise

    monkeypatch.setattr(rowwise, "ELEMENTWISE_PARALLEL_MIN", 0)  # threads for any size
    monkeypatch.setenv("WAVELEARN_NUM_THREADS", "3")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, rowwise.ELEMENTWISE_BLOCK // 40 + 5, 40)).astype(np.float32)
    dy, x0 = rng.standard_normal(x.shape).astype(np.float32), x.copy()
    layer = Dropout(0.3, seed=2, inplace=inplace)
    y, dx = layer(x), layer.backward(dy)
    keep = layer.cache["mask"]
    assert len(rowwise.elementwise_blocks(x.reshape(-1, 40))) > 3 and 0 < keep.mean() < 1
    np.testing.assert_array_equal(y, x0 * keep * np.float32(1 / 0.7))
    np.testing.assert_array_equal(dx, dy * keep * np.float32(1 / 0.7))
    assert (y is x) == inplace


def test_dropout_masks_drawn_in_pieces_equal_one_draw() -> None:
    from wavelearn.nn import Dropout

    shape = (3, 100_000)  # more than one piece
    keep = Dropout(0.3, seed=5, draws="float64")._keep(shape)
    np.testing.assert_array_equal(keep, np.random.default_rng(5).random(shape) >= 0.3)
    from wavelearn.nn.layers import DROPOUT_PIECE

    one = Dropout(0.3, seed=5)  # the default draws: pieces of DROPOUT_PIECE from one stream
    pieces = np.concatenate([one._keep((DROPOUT_PIECE,)) for _ in range(3)])
    whole = Dropout(0.3, seed=5)._keep((3, DROPOUT_PIECE))
    np.testing.assert_array_equal(whole.reshape(-1), pieces)

    for p in (0.1, 0.5, 0.9):
        layer = Dropout(p, seed=1)
        y = layer(np.ones((400, 500), dtype=np.float32))
        assert abs(float(np.mean(y == 0)) - p) < 0.005
        assert set(np.unique(y).tolist()) == {0.0, np.float32(1 / (1 - p))}
    assert not np.any(Dropout(1.0, seed=0)(np.ones((3, 4))))


# ---------------------------------------------------------------------------
# The benchmark scripts of this issue still run (tiny shapes; nothing timed)
# ---------------------------------------------------------------------------


def _benchmark(name: str):
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_long_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_gemm_floor_counts_every_product_of_a_step() -> None:
    bench = _benchmark("gemm_floor")
    step, modules = bench.model_case("numpy", quick=True)
    step()
    shapes = bench.gemm_shapes(modules, backward=True)
    assert len(shapes) == 3 * (2 * 4 + 1)  # fc1, fc2 per block and the head; fwd + 2 bwd
    assert (2 * 64, 256, 1024) in shapes  # fc1 forward: (B N, D) @ (D, 4D)
    times = bench.run_case("model", quick=True, repeat=1, torch_too=False)
    assert set(times) == {"numpy", "floor"} and all(t[0] > 0 for t in times.values())


def test_scaling_benchmark_measures_and_plots(tmp_path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux's /proc/self/clear_refs")
    bench = _benchmark("scaling")
    results = {m: {256: bench.worker(m, 256, 1)} for m in bench.MODELS}
    for by_n in results.values():
        assert by_n[256]["seconds"] > 0 and by_n[256]["peak_bytes"] >= 0
    results["attention"][1024] = {"error": "time (~999 s predicted)"}
    results["wavelet"][1024] = results["wavelet"][256]
    bench.print_table(results, [256, 1024])
    bench.plot(results, tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").stat().st_size > 1000


@pytest.mark.parametrize("model", ["wavelet", "decoder"])
def test_scaling_benchmark_times_lengths_in_turn_at_equal_tokens(model, capsys) -> None:
    """``--tokens``: each length in its own process, every length once per round; the
    table keeps each length's fastest round and shows all of them."""
    bench = _benchmark("scaling")
    bench.same_tokens([256, 512, 384], 1024, repeat=2, rounds=2, model=model)
    out = capsys.readouterr().out
    rows = {int(line.split()[0].replace(",", "")): line for line in out.splitlines()
            if line.strip()[:1].isdigit() and "|" in line}
    assert set(rows) == {256, 512}, out
    for n, line in rows.items():
        cells = line.split()
        assert int(cells[1]) == 1024 // n
        rounds = [float(t) for t in line.split("|")[-1].split()]
        assert len(rounds) == 2 and float(cells[3]) == min(rounds) > 0
    assert "384: 1,024 tokens are not a whole number of sequences" in out
