"""The decoder as a streaming model: ``init_state`` / ``step`` against the full forward
(every position, float64 1e-12 and float32 1e-5), prompts of different lengths,
positions past ``max_sequence_length``, the size of the state, ``generate``."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
import torch

import wavelearn
from wavelearn.dwt.causal import causal_lowpass, filter_taps
from wavelearn.models import WaveletDecoder
from wavelearn.models.streaming import DecoderState

MIXING_MODES = ("pointwise", "channel", "level")
WAVELETS = ("haar", "db2", "db4", "sym3", "coif1", "bior2.2")
POSITIONAL = ("sinusoidal", "learned", "rotary", "none")
VOCAB = 11


def decoder(dtype: str = "float64", **kw) -> WaveletDecoder:
    """A small decoder with random weights everywhere (mixing and norms moved off
    their identity / ones-zeros init too)."""
    base = dict(vocab_size=VOCAB, hidden_dim=6, num_layers=2, max_sequence_length=24,
                wavelet="db2", levels=2, ffn_hidden_dim=8, dropout=0.0, dtype=dtype, seed=1)
    base.update(kw)
    model = WaveletDecoder(**base)
    rng = np.random.default_rng(base["seed"])
    for name, p in model.named_parameters():
        if "mixing" in name or "ln" in name or "norm" in name:
            p.data = p.data + (0.3 * rng.standard_normal(p.shape)).astype(p.data.dtype)
    return model.eval()


def streamed_logits(model: WaveletDecoder, ids: np.ndarray, cuts: list[int]) -> np.ndarray:
    """Logits ``(B, N, V)`` of ``ids (B, N)`` fed in chunks ending at ``cuts``
    (a chunk of one token goes in as ``(B,)``, the single-token path)."""
    state = model.init_state(ids.shape[0])
    pieces, start = [], 0
    for stop in [*cuts, ids.shape[1]]:
        if stop > start:
            if stop - start == 1:
                logits, state = model.step(ids[:, start], state)  # (B, V)
                pieces.append(logits[:, None])
            else:
                logits, state = model.step(ids[:, start:stop], state)  # (B, n, V)
                pieces.append(logits)
            start = stop
    assert np.all(state.positions == ids.shape[1])
    return np.concatenate(pieces, axis=1)


def max_error(model: WaveletDecoder, ids: np.ndarray, cuts: list[int]) -> float:
    want = model(ids)
    got = streamed_logits(model, ids, cuts)
    return float(np.abs(got - want).max() / max(1.0, np.abs(want).max()))


# -- exactness: every position, every configuration -----------------------------------------

CASES = list(itertools.product(MIXING_MODES, WAVELETS, (1, 2, 3), POSITIONAL))


@pytest.mark.parametrize(("mixing_mode", "wavelet", "levels", "positional"), CASES)
def test_streamed_logits_equal_the_full_forward_float64(mixing_mode, wavelet, levels,
                                                        positional) -> None:
    model = decoder(mixing_mode=mixing_mode, wavelet=wavelet, levels=levels,
                    positional_encoding_type=positional, seed=levels)
    ids = np.random.default_rng(levels).integers(0, VOCAB, (2, 21))
    # a prefill of 5, single tokens, a chunk of 7, single tokens to the end
    assert max_error(model, ids, [5, 6, 7, 14, 15, 16, 17, 18, 19, 20]) < 1e-12


@pytest.mark.parametrize(("mixing_mode", "positional"),
                         list(itertools.product(MIXING_MODES, POSITIONAL)))
def test_streamed_logits_equal_the_full_forward_float32(mixing_mode, positional) -> None:
    model = decoder("float32", mixing_mode=mixing_mode, wavelet="db4", levels=3,
                    positional_encoding_type=positional, hidden_dim=16, ffn_hidden_dim=32)
    ids = np.random.default_rng(0).integers(0, VOCAB, (3, 24))
    assert max_error(model, ids, list(range(4, 24))) < 1e-5


def test_one_token_at_a_time_from_the_start() -> None:
    model = decoder(wavelet="db4", levels=3, mixing_mode="level")
    ids = np.random.default_rng(7).integers(0, VOCAB, (2, 24))
    assert max_error(model, ids, list(range(1, 24))) < 1e-12


# -- prompts of different lengths in one batch ----------------------------------------------

def test_right_padded_prefill_then_steps_match_each_row_alone() -> None:
    model = decoder(wavelet="sym3", levels=2, mixing_mode="channel")
    rng = np.random.default_rng(3)
    lengths = np.array([3, 9, 1, 6])
    rows = [rng.integers(0, VOCAB, n + 5) for n in lengths]  # prompt + 5 fed tokens
    ids = np.zeros((4, 9), dtype=np.int64)
    for b, n in enumerate(lengths):
        ids[b, :n] = rows[b][:n]
        ids[b, n:] = rng.integers(0, VOCAB, 9 - n)  # padding: any token, must not matter
    mask = (np.arange(9)[None, :] < lengths[:, None]).astype(np.int64)
    state = model.init_state(4)
    logits, state = model.step(ids, state, attention_mask=mask)  # (4, 9, V)
    np.testing.assert_array_equal(state.positions, lengths)
    fed = [logits[b, : lengths[b]] for b in range(4)]
    for k in range(5):
        token = np.array([rows[b][lengths[b] + k] for b in range(4)])
        step_logits, state = model.step(token, state)  # (4, V)
        fed = [np.concatenate([f, step_logits[b:b + 1]]) for b, f in enumerate(fed)]
    for b in range(4):
        want = model(rows[b][None])[0]  # (n + 5, V): the row alone, full forward
        np.testing.assert_allclose(fed[b], want, rtol=0, atol=1e-12)


def test_generate_with_prompts_of_different_lengths() -> None:
    model = decoder(positional_encoding_type="rotary", max_sequence_length=4)
    rng = np.random.default_rng(4)
    prompts = [rng.integers(0, VOCAB, n) for n in (2, 7, 4)]  # 7 > max_sequence_length
    seen = []
    out = model.generate(prompts, 6, temperature=0, on_token=seen.append)
    assert isinstance(out, list) and [o.shape for o in out] == [(8,), (13,), (10,)]
    np.testing.assert_array_equal(np.stack(seen, axis=1), np.stack([o[-6:] for o in out]))
    for prompt, row in zip(prompts, out, strict=True):
        np.testing.assert_array_equal(row[: prompt.size], prompt)
        # greedy decoding, checked against the full forward of a model with a longer table
        full = decoder(positional_encoding_type="rotary", max_sequence_length=32)
        for t in range(prompt.size, row.size):
            assert row[t] == np.argmax(full(row[None, :t])[0, -1])
    # the same prompts one by one give the same tokens
    for prompt, row in zip(prompts, out, strict=True):
        np.testing.assert_array_equal(model.generate([prompt], 6, temperature=0)[0], row)


def test_generate_matches_the_old_full_forward_loop() -> None:
    model = decoder(wavelet="db4", levels=3)
    prompt = np.random.default_rng(5).integers(0, VOCAB, (3, 4))
    rng, ids = np.random.default_rng(9), prompt
    for _ in range(10):  # what generate did before: a full forward per token
        z = model(ids)[:, -1].astype(np.float64)
        z = (z - z.max(axis=-1, keepdims=True)) / 0.7
        cdf = np.cumsum(np.exp(z), axis=-1)
        nxt = np.argmax(cdf > rng.random((3, 1)) * cdf[:, -1:], axis=-1)
        ids = np.concatenate([ids, nxt[:, None]], axis=1)
    np.testing.assert_array_equal(model.generate(prompt, 10, temperature=0.7, seed=9), ids)


def test_long_prompt_is_prefilled_in_chunks() -> None:
    model = decoder(max_sequence_length=5, wavelet="db4", levels=2)
    prompts = [np.random.default_rng(6).integers(0, VOCAB, n) for n in (13, 4)]
    out = model.generate(prompts, 3, temperature=0)
    big = decoder(max_sequence_length=32, wavelet="db4", levels=2)
    for prompt, row in zip(prompts, out, strict=True):
        assert [int(t) for t in row[prompt.size:]] == [
            int(np.argmax(big(row[None, :t])[0, -1])) for t in range(prompt.size, row.size)]


# -- positions past max_sequence_length ------------------------------------------------------

@pytest.mark.parametrize("positional", ["sinusoidal", "rotary", "none"])
def test_formula_encodings_go_on_past_the_table(positional: str) -> None:
    short = decoder(positional_encoding_type=positional, max_sequence_length=8)
    long = decoder(positional_encoding_type=positional, max_sequence_length=40)
    ids = np.random.default_rng(8).integers(0, VOCAB, (2, 30))
    got = streamed_logits(short, ids, [3, *range(4, 30)])  # positions up to 29 > 7
    np.testing.assert_allclose(got, long(ids), rtol=0, atol=1e-12)


def test_learned_table_refuses_positions_past_its_end() -> None:
    model = decoder(positional_encoding_type="learned", max_sequence_length=6)
    ids = np.random.default_rng(9).integers(0, VOCAB, (1, 6))
    logits, state = model.step(ids, model.init_state(1))  # positions 0..5: fine
    with pytest.raises(ValueError, match="position 6 does not exist.*never shifted"):
        model.step(ids[:, 0], state)
    assert state.positions[0] == 6  # the failed step changed nothing
    with pytest.raises(ValueError, match="learned positional table.*position 6"):
        model.generate(ids[:, :4], 4)  # refused before any work: positions 0..6 needed
    assert model.generate(ids[:, :4], 3).shape == (1, 7)  # positions 0..5: fine


# -- the state: fixed size, independent of the context --------------------------------------

@pytest.mark.parametrize(("wavelet", "levels", "dtype"),
                         [("haar", 1, "float32"), ("db4", 2, "float32"), ("sym3", 3, "float64")])
def test_state_size_is_the_documented_formula(wavelet, levels, dtype) -> None:
    B, D, L = 3, 8, 2
    model = decoder(dtype, wavelet=wavelet, levels=levels, hidden_dim=D, num_layers=L)
    taps = filter_taps(causal_lowpass(wavelet))
    per_layer = B * D * (taps - 1) * (2**levels - 1) * np.dtype(dtype).itemsize
    state = model.init_state(B)
    ids = np.random.default_rng(0).integers(0, VOCAB, (B, 20))
    for t in range(20):
        assert all(state.layer_nbytes(i) == per_layer for i in range(L))
        assert state.nbytes == L * per_layer + 8 * B
        _, state = model.step(ids[:, t], state)
    assert taps == {"haar": 2, "db4": 8, "sym3": 6}[wavelet]


def test_memory_does_not_grow_with_the_context() -> None:
    # what stays allocated after n steps is the same at n = 50 and n = 400
    model = decoder("float32", wavelet="db4", levels=3, hidden_dim=16)
    ids = np.random.default_rng(1).integers(0, VOCAB, 400)
    state = model.init_state(1)
    tracemalloc.start()
    try:
        held = {}
        for t in range(400):
            _, state = model.step(ids[t:t + 1], state)
            if t + 1 in (50, 400):
                held[t + 1] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert abs(held[400] - held[50]) < 4096, held


def test_state_copy_branches() -> None:
    model = decoder()
    ids = np.random.default_rng(2).integers(0, VOCAB, (2, 6))
    _, state = model.step(ids, model.init_state(2))
    branch = state.copy()
    a, state = model.step(ids[:, 0], state)
    b, branch = model.step(ids[:, 0], branch)
    np.testing.assert_array_equal(a, b)
    _, state = model.step(ids[:, 1], state)
    assert branch.positions[0] == 7 and state.positions[0] == 8


# -- errors and backends ---------------------------------------------------------------------

def test_step_errors() -> None:
    model = decoder()
    state = model.init_state(2)
    with pytest.raises(ValueError, match="B = 2"):
        model.step(np.zeros((3, 4), dtype=np.int64), state)
    with pytest.raises(ValueError, match="right-padded"):
        model.step(np.zeros((2, 3), dtype=np.int64), state,
                   attention_mask=np.array([[0, 1, 1], [1, 1, 1]]))
    with pytest.raises(TypeError, match="init_state"):
        model.step(np.zeros(2, dtype=np.int64), DecoderState(np.zeros(2, np.int64), []))
    with pytest.raises(ValueError, match="batch_size"):
        model.init_state(0)
    with pytest.raises(ValueError, match="list of 1-D prompts"):
        model.generate(np.zeros(3, dtype=np.int64), 2)


def test_step_runs_in_inference_mode() -> None:
    model = decoder(dropout=0.5).train()
    ids = np.random.default_rng(3).integers(0, VOCAB, (2, 9))
    got = streamed_logits(model, ids, [4, 5, 6, 7, 8])
    model.eval()
    np.testing.assert_allclose(got, model(ids), rtol=0, atol=1e-12)


def test_torch_backend_streams_the_same_logits() -> None:
    model = decoder(wavelet="db4", levels=2, mixing_mode="level",
                    positional_encoding_type="rotary", max_sequence_length=8)
    ids = np.random.default_rng(4).integers(0, VOCAB, (2, 12))
    with wavelearn.use_backend("torch"):
        tm = WaveletDecoder.from_config(model.config)
    tm.load_state_dict(model.state_dict())
    state = tm.init_state(2)
    first, state = tm.step(torch.tensor(ids[:, :5]), state,
                           attention_mask=torch.ones(2, 5, dtype=torch.int64))
    rest = [tm.step(torch.tensor(ids[:, t]), state)[0][:, None] for t in range(5, 12)]
    got = torch.cat([first, *rest], dim=1).numpy()
    np.testing.assert_allclose(got, streamed_logits(model, ids, [5, *range(6, 12)]),
                               rtol=0, atol=1e-12)


def test_generate_never_draws_excluded_ids() -> None:
    model = decoder()
    prompt = np.random.default_rng(5).integers(0, VOCAB, (4, 3))
    out = model.generate(prompt, 40, temperature=3.0, seed=0, exclude_ids=(0, 1, 2))
    assert not np.isin(out[:, 3:], [0, 1, 2]).any()
    assert np.isin(model.generate(prompt, 40, temperature=3.0, seed=0)[:, 3:], [0, 1, 2]).any()
    with pytest.raises(ValueError, match="exclude_ids"):
        model.generate(prompt, 1, exclude_ids=(VOCAB,))
    with pytest.raises(ValueError, match="every token"):
        model.generate(prompt, 1, exclude_ids=range(VOCAB))


def test_generate_text_streams_what_it_returns() -> None:
    from types import SimpleNamespace

    from wavelearn.training.datasets import CharTokenizer
    from wavelearn.training.generation import generate_text

    tokenizer = CharTokenizer.fit("abcdefghi")  # 2 specials + 9 characters = VOCAB
    data = SimpleNamespace(kind="lm", name="toy", tokenizer=tokenizer)
    trainer = SimpleNamespace(data=data, model=decoder(), backend="numpy",
                              task=SimpleNamespace(generates_text=True))
    pieces = []
    text = generate_text(trainer, "abc", 25, temperature=2.0, seed=1, on_text=pieces.append)
    assert len(pieces) == 26 and pieces[0] == "abc" and "".join(pieces) == text
    assert len(text) == 28 and "\ufffd" not in text  # <pad>/<unk> never drawn
