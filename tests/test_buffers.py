"""wavelearn.buffers: the big arrays of a dropped cache serve the next forward, exactly
those that nothing else refers to; a training step gives the same bits with and without."""

from __future__ import annotations

import operator

import numpy as np
import pytest

from wavelearn import buffers, models
from wavelearn.nn import Module

BIG = buffers.MIN_BYTES // 8  # float64 values in an array just big enough to pool


@pytest.fixture(autouse=True)
def empty_pool():
    buffers.clear()
    yield
    buffers.clear()


class Holder(Module):
    """A module whose cache is whatever the test puts there."""

    def forward(self, cache: dict) -> None:
        self.cache = cache


def drop(cache: dict) -> None:
    """Put ``cache`` in a module, then replace it (the module drops it)."""
    m = Holder()
    m.cache = cache
    del cache
    m.cache = {}


def test_an_array_that_nothing_else_refers_to_serves_the_next_request() -> None:
    drop({"x": np.ones(BIG), "views": [np.ones(BIG).reshape(2, -1)]})
    assert buffers.held_bytes() == 2 * 8 * BIG
    a, b = buffers.empty((BIG,), np.float64), buffers.empty((BIG,), np.float64)
    assert a.base is None and a.sum() == BIG and b.sum() == BIG  # the old memory, as it was
    assert buffers.held_bytes() == 0
    assert buffers.empty((BIG,), np.float64) is not a  # the pool is empty: a new array


@pytest.mark.parametrize(("keep", "pooled"), [
    ("array", 1), ("view", 1), ("memoryview", 1), ("the cache", 0), ("its list", 1)])
def test_what_you_keep_stays_yours(keep: str, pooled: int) -> None:
    m = Holder()
    m.cache = {"x": np.ones(BIG), "list": [np.ones(BIG)]}
    kept = {"array": lambda c: c["x"], "view": lambda c: c["x"][::2],
            "memoryview": lambda c: memoryview(c["x"]), "the cache": lambda c: c,
            "its list": lambda c: c["list"]}[keep](m.cache)
    m.cache = {}
    assert buffers.held_bytes() == pooled * 8 * BIG
    assert kept is not None


@pytest.mark.parametrize(("make", "pooled"), [
    (lambda: np.ones(BIG // 2), False),  # small: malloc serves these without page faults
    (lambda: np.ones(BIG).reshape(2, -1), True),  # a view of an array nothing else holds
    (lambda: np.ones(2 * BIG)[:BIG], True),  # a part of one: the whole is pooled
    (lambda: np.ones((BIG, 2))[:, 0], True),  # the same, strided
    (lambda: np.array([None] * BIG, dtype=object), False),  # holds objects
    (lambda: np.frombuffer(bytearray(8 * BIG)), False),  # memory it does not own
    (lambda: np.ones(BIG)[::-1].copy()[::-1], True),  # reversed view of a contiguous owner
], ids=["small", "view", "part", "strided", "objects", "not its memory", "reversed"])
def test_big_arrays_that_own_their_memory_are_pooled(make, pooled: bool) -> None:
    drop({"a": make()})
    assert (buffers.held_bytes() > 0) == pooled


def test_a_temporary_given_back_serves_the_next_request_unless_something_holds_it() -> None:
    t = np.ones(BIG)
    buffers.give(t)  # the caller's variable is all that refers to it
    assert buffers.held_bytes() == 8 * BIG
    assert buffers.empty((BIG,), np.float64) is t
    kept = [t]
    buffers.give(t)  # also in a list
    buffers.give(t[::2])  # a view of it (the view is a temporary, t is not)
    buffers.give([np.ones(BIG)])  # not an array
    assert buffers.held_bytes() == 0 and kept


def test_an_untaken_array_is_dropped_after_max_age_offers(monkeypatch) -> None:
    monkeypatch.setattr(buffers, "MAX_AGE", 3)
    drop({"x": np.ones(BIG)})
    for _ in range(3):
        drop({"y": np.ones(3)})
    assert buffers.held_bytes() == 8 * BIG
    drop({"y": np.ones(3)})
    assert buffers.held_bytes() == 0


def test_the_pool_holds_at_most_max_bytes_oldest_dropped_first(monkeypatch) -> None:
    monkeypatch.setattr(buffers, "MAX_BYTES", 2 * 8 * BIG)
    drop({"a": np.zeros(BIG), "b": np.ones(BIG), "c": np.full(BIG, 2.0)})
    assert buffers.held_bytes() == 2 * 8 * BIG
    assert {float(buffers.empty((BIG,), float)[0]) for _ in range(2)} == {1.0, 2.0}


def test_switched_off_nothing_is_pooled(monkeypatch) -> None:
    monkeypatch.setattr(buffers, "ENABLED", False)
    drop({"x": np.ones(BIG)})
    assert buffers.held_bytes() == 0


def test_calling_a_module_drops_its_last_cache_first() -> None:
    """``module(x)`` empties the cache before ``forward`` runs: the arrays of the last call
    can serve this call's (and a failed forward leaves no stale cache for backward)."""
    from wavelearn.nn import Linear

    layer = Linear(4, 4)
    layer(np.ones((2, 4), np.float32))
    with pytest.raises(TypeError):
        layer("not an array")
    with pytest.raises(RuntimeError, match="needs a forward"):
        layer.backward(np.ones((2, 4), np.float32))


def _steps(make, x: dict, enabled: bool, monkeypatch, steps: int = 3) -> list:
    """Outputs and parameter gradients of ``steps`` forward + backward passes (inputs
    ``x`` by keyword, a fixed output gradient), with the pool switched on or off."""
    monkeypatch.setattr(buffers, "ENABLED", enabled)
    buffers.clear()
    model, out = make(), []
    for _ in range(steps):
        model.zero_grad()
        y = model(**x)
        out.append(y.copy())
        model.backward(np.cos(np.arange(y.size)).reshape(y.shape).astype(y.dtype))
        out += [p.grad.copy() for p in model.parameters()]
    return out


MODELS = {
    "transformer": lambda ck: models.WaveletTransformer(
        vocab_size=50, hidden_dim=32, num_layers=2, levels=2, num_classes=3,
        max_sequence_length=256, dropout=0.1, gradient_checkpointing=ck, seed=0),
    "encoder": lambda ck: models.WaveletEncoder(
        hidden_dim=32, num_layers=2, levels=2, max_sequence_length=256, dropout=0.1,
        gradient_checkpointing=ck, seed=0),
    "decoder": lambda ck: models.WaveletDecoder(
        vocab_size=50, hidden_dim=32, num_layers=2, levels=2, max_sequence_length=256,
        dropout=0.1, gradient_checkpointing=ck, seed=0),
}


@pytest.mark.parametrize("checkpoint", [False, True], ids=["", "checkpointed"])
@pytest.mark.parametrize("name", list(MODELS))
def test_training_steps_give_the_same_bits_with_and_without_the_pool(
        name: str, checkpoint: bool, monkeypatch) -> None:
    """Steps big enough for the pool (activations of 1-4 MB): arrays from the pool are
    written before they are read; nothing still in use is handed out."""
    monkeypatch.setattr(buffers, "MIN_BYTES", 1 << 16)  # pool the small test's arrays too
    rng = np.random.default_rng(0)
    x = ({"inputs_embeds": rng.standard_normal((4, 256, 32)).astype(np.float32)}
         if name == "encoder" else {"input_ids": rng.integers(0, 50, (4, 256))})

    def make():
        return MODELS[name](checkpoint)

    with_pool = _steps(make, x, True, monkeypatch)
    assert buffers.stats()["taken"] > 10  # the pool did serve arrays
    without = _steps(make, x, False, monkeypatch)
    for a, b in zip(with_pool, without, strict=True):
        np.testing.assert_array_equal(a, b)


def _new_memory_of_a_forward(enabled: bool, monkeypatch) -> int:
    """The most memory a training forward allocates beyond what it started with, after two
    forwards (tracemalloc sees every NumPy buffer)."""
    import tracemalloc

    from wavelearn.models import WaveletTransformer

    monkeypatch.setattr(buffers, "ENABLED", enabled)
    buffers.clear()
    ids = np.random.default_rng(0).integers(0, 50, (8, 512))
    model = WaveletTransformer(vocab_size=50, hidden_dim=64, num_layers=2, levels=3,
                               num_classes=3, max_sequence_length=512, seed=0)
    model(ids)
    model(ids)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        model(ids)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_a_forward_takes_its_big_arrays_from_the_last_forwards_cache(monkeypatch) -> None:
    """With the pool, a training forward writes its caches mostly into the memory of the
    last forward's and its consumed temporaries': it needs less than half the new memory
    (measured: 5-7 MB against 13-35 MB, depending on what ran before in the process)."""
    pooled = _new_memory_of_a_forward(True, monkeypatch)
    fresh = _new_memory_of_a_forward(False, monkeypatch)
    assert pooled < 0.5 * fresh, (pooled, fresh)


def test_an_array_of_as_many_values_serves_a_request_of_another_shape() -> None:
    """The rows ``(B N, D)`` of a ``Linear``'s gradient serve the next ``(B, N, D)`` one."""
    t = np.arange(BIG, dtype=np.float64)
    buffers.give(t)
    a = buffers.empty((2, BIG // 2), np.float64)
    assert a.shape == (2, BIG // 2) and a.base is t and a[1, 0] == BIG // 2
    assert buffers.empty((BIG,), np.float32).base is None  # another dtype: new memory


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul])
def test_combine_is_the_operator_written_into_pooled_memory(op) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, BIG // 2)).astype(np.float32)
    b = rng.standard_normal(BIG // 2)  # float64, broadcast along the rows
    t = np.empty(BIG)
    buffers.give(t)  # as many float64 values as the result
    got, want = buffers.combine(op, a, b), op(a, b)
    assert got.dtype == want.dtype and got.base is t
    np.testing.assert_array_equal(got, want)
    scaled = buffers.combine(op, a, 2.0)  # not two arrays: the operator itself
    assert scaled.dtype == np.float32 and np.array_equal(scaled, op(a, 2.0))


def _two_bands() -> list:
    """The two halves of one array (as a DWT level stores its bands), nothing else
    referring to that array."""
    pair = np.ones((2, BIG))
    return [pair[0], pair[1]]


def test_views_sharing_one_array_pool_it_when_they_are_all_that_refer_to_it() -> None:
    drop({"bands": _two_bands()})
    assert buffers.held_bytes() == 2 * 8 * BIG
    buffers.clear()
    kept = []

    def one_band_kept() -> dict:
        bands = _two_bands()
        kept.append(bands[1])
        return {"a": bands[0], "b": bands[1]}

    drop(one_band_kept())
    assert buffers.held_bytes() == 0 and kept[0].sum() == BIG  # half of it is still yours


def test_give_all_pools_a_list_of_temporaries_views_of_one_array_together() -> None:
    """A mixing layer's band gradients: the two bands of a level are views of one array,
    pooled once both are given; an array the caller still refers to stays the caller's."""
    kept = np.ones(BIG)
    grads = [*_two_bands(), np.ones(BIG), kept]
    buffers.give_all(grads)
    assert grads == [] and buffers.held_bytes() == 3 * 8 * BIG  # the pair and the third
    assert kept.sum() == BIG
    buffers.clear()
    grads = _two_bands()
    half = grads[1]
    buffers.give_all(grads)
    assert buffers.held_bytes() == 0 and half.sum() == BIG  # one view kept: not pooled


def test_embedding_and_positional_encoding_write_into_pooled_memory() -> None:
    """The first arrays of a model's forward (the token rows, and the rows plus the
    positional table) take freed memory too: the same values as a fresh array."""
    from wavelearn.nn import Embedding
    from wavelearn.nn.positional import make_positional_encoding

    emb = Embedding(50, 16, rng=0)
    ids = np.random.default_rng(1).integers(0, 50, (4, BIG // 32))  # 2 BIG float32 values
    want = emb.weight.data[ids]
    pool = np.empty(ids.size * 16, np.float32)
    buffers.give(pool)
    rows = emb(ids)
    assert rows.base is pool
    np.testing.assert_array_equal(rows, want)
    pe = make_positional_encoding("sinusoidal", ids.shape[1], 16, np.float32, 0)
    want = rows + pe.table[: ids.shape[1]]
    again = np.empty(ids.size * 16, np.float32)
    buffers.give(again)
    y = pe(rows)
    assert y.base is again
    np.testing.assert_array_equal(y, want)


def test_a_backward_takes_its_gradients_from_the_pool() -> None:
    """The gradients of a training backward (a ``Linear``'s and a ``LayerNorm``'s input
    gradients, the residual sums) are written into arrays that the step freed: in a
    subprocess where every array above 128 KiB is its own ``mmap`` (glibc's rule from
    32 MiB up, by default) and NumPy asks for no huge pages, a step page-faults half as
    often as with the pool off (measured: 81.7 against 164.2 thousand faults per step;
    110.7 thousand before the backward used the pool)."""
    import platform
    import subprocess
    import sys

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("counts page faults of glibc's mmap'd arrays (Linux)")
    env = {**__import__("os").environ, "MALLOC_MMAP_THRESHOLD_": "131072",
           "NUMPY_MADVISE_HUGEPAGE": "0"}
    faults = {}
    for enabled in (True, False):
        out = subprocess.run([sys.executable, "-c", _FAULTS_OF_A_STEP, str(int(enabled))],
                             env=env, capture_output=True, text=True, check=True)
        faults[enabled] = float(out.stdout.split()[-1])
    assert faults[True] < 0.6 * faults[False], faults


_FAULTS_OF_A_STEP = """
import resource, sys
import numpy as np
from wavelearn import buffers
from wavelearn.models import WaveletTransformer
from wavelearn.nn import CrossEntropyLoss
buffers.ENABLED = sys.argv[1] == "1"
n = 65536
model = WaveletTransformer(vocab_size=32, hidden_dim=32, ffn_hidden_dim=64, num_layers=2,
                           levels=3, num_classes=3, max_sequence_length=n, dropout=0.1,
                           seed=0).train()
ids, loss = np.random.default_rng(0).integers(0, 32, (1, n)), CrossEntropyLoss()
def step():
    model.zero_grad()
    loss.forward(model(ids), np.array([1]))
    model.backward(loss.backward())
step(); step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step(); step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 2)
"""
