r"""The causal language model: :class:`WaveletDecoder`, and decoding it as a stream.

The decoder is the backbone of :mod:`wavelearn.models.transformer` with the causal
*à trous* mixer (:class:`~wavelearn.nn.mixing.CausalWaveletMixing`) in every block
and a language-model head. Because each causal band at position ``t`` reads a
fixed window of the past, the model is a recurrence: :meth:`WaveletDecoder.step`
advances a fixed-size state (:class:`~wavelearn.models.streaming.DecoderState`)
by one token or a chunk, at a cost that does not grow with the context, and
:meth:`WaveletDecoder.generate` samples with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from wavelearn.backend import array_namespace, backend_of, check_same_backend, to_numpy
from wavelearn.models.config import WaveletDecoderConfig
from wavelearn.models.sampling import Sampler, check_exclude_ids, check_generate_args
from wavelearn.models.streaming import (
    DecoderState,
    as_prompts,
    like_prompt,
    right_pad,
    step_lengths,
)
from wavelearn.models.transformer import WaveletModel
from wavelearn.nn.mixing import CausalWaveletMixing
from wavelearn.nn.module import Module


class WaveletDecoder(WaveletModel):
    """Causal wavelet language model: ``input_ids (B, N)`` -> next-token logits
    ``(B, N, vocab_size)``, where the logits at position ``t`` depend on tokens
    ``<= t`` only (:class:`~wavelearn.nn.mixing.CausalWaveletMixing` in every block;
    everything else works token by token).

    Arguments as :class:`WaveletTransformer` (``vocab_size`` required, ``levels``
    defaults to 2; no ``mode`` / ``pooling``: the causal bands are undecimated and
    have no boundary mode). Right-padded ``attention_mask`` rows are accepted; by
    causality the padding cannot change the real positions.

    **Streaming** (:mod:`wavelearn.models.streaming`): ``state = init_state(B)``,
    ``logits, state = step(ids, state)`` continue the sequence token by token (or
    chunk by chunk) with the logits of the full forward, at a cost that does not
    depend on the context; :meth:`generate` uses it. The state is a fixed
    ``B * D * (F-1) * (2**levels - 1) * itemsize`` bytes per block. Positions past
    ``max_sequence_length``: sinusoidal/rotary go on, learned raises.
    """

    config_class = WaveletDecoderConfig
    causal = True

    def _make_mixing(self) -> Module:
        return CausalWaveletMixing(self.hidden_dim, self.wavelet, self.levels,
                                   self.mixing_mode, dtype=self.dtype)

    # -- streaming: the decoder as a recurrent model (wavelearn.models.streaming) ---------

    def init_state(self, batch_size: int) -> DecoderState:
        """The empty streaming state of ``batch_size`` sequences (no token yet).

        Per block, one ring buffer ``(B, R_j, D)`` per level; in all
        ``B * D * (F-1) * (2**levels - 1) * itemsize`` bytes per block, independent
        of the context length (:mod:`wavelearn.models.streaming`).
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"init_state: batch_size must be an int >= 1, got {batch_size!r}")
        return DecoderState(np.zeros(batch_size, dtype=np.int64),
                            [block.init_state(batch_size) for block in self.blocks])

    def step(self, token_ids: Any, state: DecoderState,
             attention_mask: Any = None) -> tuple[Any, DecoderState]:
        """Feed new tokens; return their logits and the updated state (the same object).

        ``token_ids (B,)`` (one token per row) -> logits ``(B, V)``, or ``(B, n)``
        (a prompt or a chunk of it, in one pass) -> ``(B, n, V)``. Token ``k`` of row
        ``b`` sits at position ``state.positions[b] + k``. The logits equal those of
        :meth:`forward` on the whole sequence at the same positions; the cost is
        that of a forward pass over the ``n`` new tokens only, whatever came before.

        ``attention_mask (B, n)``: right-padded 0/1; row ``b`` then advances by its
        real tokens only (possibly none), and the logits at its padded places mean
        nothing. Always inference: no dropout, and no backward through a step.

        Positions past ``max_sequence_length``: go on with 'sinusoidal', 'rotary'
        and 'none' encodings (computed on the fly); a ValueError with 'learned'
        (its table has no row there). Positions are never shifted.
        """
        if not isinstance(state, DecoderState) or len(state.layers) != len(self.blocks):
            raise TypeError("step: state must come from this model's init_state(batch_size)")
        ref = self.final_norm.weight.data
        check_same_backend(token_ids, ref)  # TypeError for another backend
        single = getattr(token_ids, "ndim", None) == 1
        ids = token_ids[:, None] if single else token_ids  # (B, n)
        if ids.ndim != 2 or ids.shape[0] != state.batch_size or ids.shape[1] < 1:
            raise ValueError(f"step: token_ids must be (B,) or (B, n) with B = "
                             f"{state.batch_size} (the state's batch), got {tuple(ids.shape)}")
        n = ids.shape[1]
        lengths = step_lengths(attention_mask, tuple(ids.shape))
        offsets = np.arange(n)[None, :]  # (1, n)
        positions = state.positions[:, None] + offsets  # (B, n)
        if lengths is not None:  # padded places get position 0: they exist in every table
            positions = np.where(offsets < lengths[:, None], positions, 0)
        x = self.positional.at_positions(self.embedding(ids), positions)  # (B, n, D)
        for block, rings in zip(self.blocks, state.layers, strict=True):
            x = block.step(x, rings, state.positions, lengths)  # (B, n, D)
        logits = self.head(self.final_norm(x))  # (B, n, V)
        state.positions += n if lengths is None else lengths
        return (logits[:, 0] if single else logits), state

    def generate(self, input_ids: Any, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, seed: int | None = None,
                 on_token: Callable[[np.ndarray], None] | None = None,
                 exclude_ids: Sequence[int] = ()) -> Any:
        r"""Sample ``max_new_tokens`` tokens after each prompt, streaming.

        ``input_ids``: a ``(B, N)`` array (prompts of equal length) -> ``(B, N + new)``
        on its backend; or a **list of 1-D prompts of any lengths** -> a list of
        1-D arrays (prompt + new tokens each). The prompts are fed with
        :meth:`step` in chunks of ``max_sequence_length`` tokens (right-padded to
        the longest, each row advancing by its own length), then each new token
        with one :meth:`step`: constant cost per token, whatever the context.

        Sampling: :math:`\mathrm{softmax}(z / T)` of the last logits ``z``,
        restricted to the ``top_k`` largest when given; ``temperature=0`` picks the
        argmax; ``seed`` seeds the Generator; ids in ``exclude_ids`` are never drawn
        (e.g. padding and unknown-token ids). ``on_token(tokens (B,))`` is called
        with each new column of tokens as soon as it is drawn (to print a stream).
        The whole prompt is the context (no window); positions go on past
        ``max_sequence_length`` except with a learned table, which raises before
        generating anything (see :meth:`step`). The train/eval mode is restored.
        """
        prompts, as_list = as_prompts(input_ids)
        check_generate_args(None, max_new_tokens, temperature, top_k, self.vocab_size, seed)
        exclude = check_exclude_ids(exclude_ids, self.vocab_size)
        last = max(p.size for p in prompts) - 1 + max(max_new_tokens - 1, 0)
        if not self.positional.extrapolates and last >= self.max_sequence_length:
            raise ValueError(
                f"generate: a learned positional table has max_sequence_length = "
                f"{self.max_sequence_length} rows, but this call would reach position {last} "
                f"(prompt + max_new_tokens - 1 tokens); positions are never shifted, so "
                f"shorten the prompt or max_new_tokens")
        rng = np.random.default_rng(seed)
        was_training = self.training
        self.eval()
        try:
            sampler = Sampler(temperature, top_k, exclude, rng)
            new = self._stream(prompts, max_new_tokens, sampler, on_token)
        finally:
            self.train(was_training)
        if as_list:
            return [like_prompt(p, np.concatenate([to_numpy(p) if hasattr(p, "shape") else
                                                   np.asarray(p), row]))
                    for p, row in zip(input_ids, new, strict=True)]
        xp = array_namespace(input_ids)
        added = xp.astype(backend_of(input_ids).asarray(new), input_ids.dtype)
        return xp.concat([input_ids, added], axis=1)  # (B, N + new)

    def _stream(self, prompts: list[np.ndarray], max_new_tokens: int, sampler: Sampler,
                on_token: Callable[[np.ndarray], None] | None) -> np.ndarray:
        """Prefill, then sample and step: the new tokens ``(B, max_new_tokens)``."""
        backend = backend_of(self.final_norm.weight.data)
        state = self.init_state(len(prompts))
        z = self._prefill(prompts, state, backend)  # (B, V) logits of each last prompt token
        new = np.zeros((len(prompts), max_new_tokens), dtype=np.int64)
        for k in range(max_new_tokens):
            new[:, k] = sampler(z)  # (B,)
            if on_token is not None:
                on_token(new[:, k].copy())
            if k + 1 < max_new_tokens:
                logits, state = self.step(backend.asarray(new[:, k]), state)  # (B, V)
                z = to_numpy(logits).astype(np.float64)
        return new

    def _prefill(self, prompts: list[np.ndarray], state: DecoderState, backend: Any) -> Any:
        """Feed the right-padded prompts in chunks of ``max_sequence_length``; return the
        logits ``(B, V)`` (float64, NumPy) at each prompt's last token."""
        ids, lengths = right_pad(prompts)  # (B, L), (B,)
        chunk, z = self.max_sequence_length, np.zeros((len(prompts), self.vocab_size))
        for start in range(0, ids.shape[1], chunk):
            part = ids[:, start:start + chunk]  # (B, n)
            n = part.shape[1]
            real = np.clip(lengths - start, 0, n)  # (B,) real tokens of each row in the chunk
            mask = (np.arange(n)[None, :] < real[:, None]).astype(np.int64)  # (B, n)
            logits, state = self.step(backend.asarray(part), state, attention_mask=mask)
            ends = np.flatnonzero((lengths > start) & (lengths <= start + n))  # rows ending here
            if ends.size:
                rows, cols = backend.asarray(ends), backend.asarray(real[ends] - 1)
                z[ends] = to_numpy(logits[rows, cols]).astype(np.float64)  # (b, V)
        return z

