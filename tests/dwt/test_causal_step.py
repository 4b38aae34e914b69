"""The causal bank as a recurrence: ``causal_analysis_step`` over ring buffers against
its NumPy reference, the full ``causal_analysis`` of the whole sequence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wavelearn.dwt.causal import (
    causal_analysis,
    causal_analysis_step,
    causal_lowpass,
    filter_taps,
    history_lengths,
    init_history,
)

WAVELETS = ("haar", "db2", "db4", "sym3", "coif1", "bior2.2", "rbio3.1")


def stream(x: np.ndarray, h: np.ndarray, levels: int, cuts: list[int]) -> list:
    """Feed ``x (B, N, D)`` in chunks ending at ``cuts``; the bands, concatenated."""
    B, N, D = x.shape
    history = init_history(np, B, D, h, levels, x.dtype)
    positions, pieces, start = np.zeros(B, dtype=np.int64), [], 0
    for stop in [*cuts, N]:
        if stop > start:
            pieces.append(causal_analysis_step(np, x[:, start:stop], history, positions, h))
            positions += stop - start
            start = stop
    return [np.concatenate([p[k] for p in pieces], axis=1) for k in range(levels + 1)]


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("levels", [1, 2, 3])
def test_one_sample_at_a_time_is_the_full_transform(wavelet: str, levels: int) -> None:
    h = causal_lowpass(wavelet)
    x = np.random.default_rng(levels).standard_normal((2, 40, 3))
    got = stream(x, h, levels, list(range(1, 40)))
    for g, want in zip(got, causal_analysis(np, x, h, levels), strict=True):
        np.testing.assert_array_equal(g, want)  # same operations, same order: every bit


@given(wavelet=st.sampled_from(WAVELETS), levels=st.integers(1, 4),
       n=st.integers(1, 50), cuts=st.lists(st.integers(1, 49), max_size=8),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_any_chunking_is_the_full_transform(wavelet, levels, n, cuts, dtype, seed) -> None:
    h = causal_lowpass(wavelet)
    x = np.random.default_rng(seed).standard_normal((2, n, 3)).astype(dtype)
    got = stream(x, h, levels, sorted(c for c in set(cuts) if c < n))
    for g, want in zip(got, causal_analysis(np, x, h, levels), strict=True):
        assert g.dtype == dtype
        np.testing.assert_array_equal(g, want)


@given(wavelet=st.sampled_from(WAVELETS), levels=st.integers(1, 3),
       lengths=st.lists(st.lists(st.integers(0, 7), min_size=3, max_size=3), min_size=1,
                        max_size=6),
       seed=st.integers(0, 2**16))
def test_rows_advance_by_their_own_lengths(wavelet, levels, lengths, seed) -> None:
    # each chunk is right-padded: row b takes lengths[c][b] real samples of chunk c
    h = causal_lowpass(wavelet)
    rng = np.random.default_rng(seed)
    lengths = np.array(lengths)  # (chunks, B)
    rows = [rng.standard_normal((int(total), 2)) for total in lengths.sum(axis=0)]
    history = init_history(np, 3, 2, h, levels, np.float64)
    positions = np.zeros(3, dtype=np.int64)
    got = [[[] for _ in range(3)] for _ in range(levels + 1)]
    for chunk in lengths:
        n = max(int(chunk.max()), 1)
        x = rng.standard_normal((3, n, 2))  # padding: random, must not matter
        for b in range(3):
            x[b, : chunk[b]] = rows[b][positions[b]: positions[b] + chunk[b]]
        bands = causal_analysis_step(np, x, history, positions, h, lengths=chunk)
        for k, band in enumerate(bands):
            for b in range(3):
                got[k][b].append(band[b, : chunk[b]])
        positions += chunk
    for b in range(3):
        want = causal_analysis(np, rows[b][None], h, levels)
        for k in range(levels + 1):
            np.testing.assert_array_equal(np.concatenate(got[k][b])[None], want[k])


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_history_holds_exactly_the_receptive_field(wavelet: str) -> None:
    # R_j = (F - 1) 2^(j-1): the filter of level j reaches back (F - 1) 2^(j-1) samples
    h = causal_lowpass(wavelet)
    taps = filter_taps(h)
    assert h[taps - 1] != 0 and not np.any(h[taps:])
    assert history_lengths(h, 3) == [(taps - 1) * 1, (taps - 1) * 2, (taps - 1) * 4]
    rings = init_history(np, 5, 4, h, 3, np.float32)
    assert [r.shape for r in rings] == [(5, r, 4) for r in history_lengths(h, 3)]
    assert sum(r.nbytes for r in rings) == 5 * 4 * (taps - 1) * (2**3 - 1) * 4
    # the receptive field of a_J is sum_j R_j: a sample that far back still counts,
    # one step further it no longer does
    reach = sum(history_lengths(h, 3))
    x = np.zeros((1, reach + 2, 1))
    x[0, 0] = 1.0
    a3 = causal_analysis(np, x, h, 3)[0][0, :, 0]
    assert a3[reach] != 0.0 and a3[reach + 1] == 0.0


def _plain_filter(x: np.ndarray, h: np.ndarray, dilation: int, adjoint: bool) -> np.ndarray:
    """The textbook loop with a new array per tap (as before the scratch buffer)."""
    n, s = x.shape[1], np.zeros_like(x)
    for i, hi in enumerate(h.tolist()):
        lag = i * dilation
        if lag < n and hi != 0.0:
            if adjoint:
                s[:, : n - lag, :] += hi * x[:, lag:, :]
            else:
                s[:, lag:, :] += hi * x[:, : n - lag, :]
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("adjoint", [False, True], ids=["filter", "adjoint"])
@pytest.mark.parametrize("loops", [True, False], ids=["compiled", "scratch"])
def test_numpy_paths_give_the_bits_of_a_new_array_per_tap(dtype, adjoint: bool, loops: bool,
                                                         monkeypatch) -> None:
    """NumPy arrays take one compiled pass, or (``USE_COMPILED = False``) write every
    tap's product into one buffer in turn; both into pooled memory, which may hold old
    values. The same bits as the plain loop, negative zeros included."""
    from wavelearn import buffers
    from wavelearn.dwt import compiled
    from wavelearn.dwt.causal import causal_filter, causal_filter_adjoint

    monkeypatch.setattr(compiled, "USE_COMPILED", loops)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 300, 5)).astype(dtype)
    x[0, :7] = -0.0
    h = causal_lowpass("db4")
    monkeypatch.setattr(buffers, "MIN_BYTES", 1)  # pool this test's small arrays
    fn = causal_filter_adjoint if adjoint else causal_filter
    for dilation in (1, 4, 43, 512):
        buffers.give(np.full(x.size, np.nan, dtype))  # stale memory the pool hands out
        got = fn(np, x, h, dilation)
        want = _plain_filter(x, h, dilation, adjoint)
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))
    buffers.clear()
