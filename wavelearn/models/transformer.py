r"""Wavelet transformers: attention replaced by wavelet mixing, backward written by hand.

Three models share one architecture (the API follows ``spectrans``'s
``WaveletTransformer`` / ``WaveletEncoder`` / ``WaveletDecoder``)::

    ids (B, N) --Embedding--> (B, N, D)      or  inputs_embeds (B, N, D)
      -> cast to the model dtype -> + positional encoding -> Dropout
      -> num_layers x WaveletBlock  (pre-norm; wavelearn.nn.block)
           h = x + Dropout(Mix(LN1(x)))
           y = h + Dropout(Linear(GELU(Linear(LN2(h)))))   (GELU tanh, Dropout inside too)
      -> final LayerNorm -> head

* :class:`WaveletTransformer`: ``Mix`` = :class:`~wavelearn.nn.mixing.WaveletMixing`
  (decimated DWT, any boundary mode), head chosen by ``output_type``.
* :class:`WaveletEncoder`: the same without a token embedding or head; it maps
  ``inputs_embeds`` to hidden states.
* :class:`~wavelearn.models.decoder.WaveletDecoder` (:mod:`wavelearn.models.decoder`):
  ``Mix`` = :class:`~wavelearn.nn.mixing.CausalWaveletMixing`
  (causal à trous bands), a language-model head, and streaming generation
  (:meth:`WaveletDecoder.step`, :meth:`WaveletDecoder.generate`; constant cost per token).

**Contract.** ``out = model(input_ids)`` or ``model(inputs_embeds=x,
attention_mask=m)`` runs the forward pass and caches what the backward pass
needs; ``model.backward(dout)`` takes :math:`\partial L/\partial\,\text{out}`,
*adds* the gradient of every parameter into ``param.grad`` and returns
:math:`\partial L/\partial\,\text{inputs\_embeds}` (``None`` for token ids,
which have no gradient). There is no autograd: each layer's chain rule is
written out in its own ``backward``.

**Padding.** ``attention_mask (B, N)`` of 0/1 marks real tokens; rows must be
right-padded (ones, then zeros). Outputs at real positions -- and the pooled
output -- are then exactly those of the unpadded sequences: per-token layers
cannot mix positions, and each block runs its mixer on each group of rows of
equal real length separately (:mod:`wavelearn.nn.block`). The decoder is
causal, so padding at the end never reaches a real position anyway.

**Dtypes.** Parameters and activations are float32 unless ``dtype='float64'``;
float64 ``inputs_embeds`` are cast down, never promoting the model.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from wavelearn import buffers
from wavelearn.backend import array_namespace, check_same_backend, to_numpy
from wavelearn.models.config import (
    WaveletEncoderConfig,
    WaveletTransformerConfig,
)
from wavelearn.models.heads import Pooling
from wavelearn.nn.block import WaveletBlock
from wavelearn.nn.layers import Dropout, Embedding, LayerNorm, Linear
from wavelearn.nn.mixing import WaveletMixing
from wavelearn.nn.module import Module, cast_to, numpy_dtype
from wavelearn.nn.positional import make_positional_encoding

# Independent random streams derived from ``seed`` (numpy SeedSequence entropy lists).
_EMBED_STREAM, _BLOCK_STREAM, _HEAD_STREAM = 0, 1, 2


class WaveletModel(Module):
    """The backbone shared by the three models, built from one validated config.

    ``Model(*args, **kwargs)`` validates its arguments as the model's config class
    (:mod:`wavelearn.models.config`, the single source of arguments, defaults and
    checks) and builds embedding -> positions -> blocks -> final norm -> head from it.
    Subclasses set ``config_class`` (and ``causal`` for the decoder's mixer).
    """

    config_class: ClassVar[type]
    causal: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_class" in vars(cls):  # help() and IDEs show the config's arguments
            cls.__signature__ = inspect.signature(cls.config_class)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._setup(self.config_class(*args, **kwargs))

    @classmethod
    def from_config(cls, config: Any) -> WaveletModel:
        """Build the model described by ``config`` (its config class, or a mapping)."""
        if isinstance(config, Mapping):
            config = cls.config_class.from_dict(config)
        if type(config) is not cls.config_class:
            raise TypeError(f"{cls.__name__}.from_config needs a {cls.config_class.__name__}, "
                            f"got {type(config).__name__}")
        return cls(**config.to_dict())

    # -- construction ------------------------------------------------------------------

    def _setup(self, config: Any) -> None:
        """Build every layer from a validated config (shared by the three models)."""
        self.config = config
        self.vocab_size, self.num_classes = config.vocab_size, config.num_classes
        self.output_type, self.mode, self.pooling = config.output_type, config.mode, config.pooling
        self.hidden_dim, self.num_layers = config.hidden_dim, config.num_layers
        self.max_sequence_length = config.max_sequence_length
        self.wavelet, self.levels = config.wavelet, config.levels
        self.mixing_mode = config.mixing_mode
        self.ffn_hidden_dim = config.ffn_hidden_dim or 4 * config.hidden_dim
        self.dtype = numpy_dtype(config.dtype)
        self.gradient_checkpointing = config.gradient_checkpointing
        rng = np.random.default_rng([config.seed, _EMBED_STREAM])
        D, T = self.hidden_dim, self.max_sequence_length
        self.embedding = (None if self.vocab_size is None
                          else Embedding(self.vocab_size, D, self.dtype, rng))
        kind = config.positional_encoding_type if config.use_positional_encoding else "none"
        self.positional = make_positional_encoding(kind, T, D, self.dtype, rng)
        self.embed_drop = Dropout(config.dropout, seed=int(rng.integers(2**63)))
        self.blocks = self.build_blocks()
        self.final_norm = LayerNorm(D, eps=config.norm_eps, dtype=self.dtype)
        pooled = self.output_type in ("classification", "regression")
        self.pool = Pooling(self.pooling) if pooled else None
        self.head = self._build_head()

    def _make_mixing(self) -> Module:
        """The token mixer of one block."""
        return WaveletMixing(self.hidden_dim, self.wavelet, self.levels, self.mixing_mode,
                             self.mode, dtype=self.dtype)

    def build_blocks(self) -> list[WaveletBlock]:
        """``num_layers`` fresh blocks (same values on every call: seeded from ``seed``)."""
        rng = np.random.default_rng([self.config.seed, _BLOCK_STREAM])
        return [
            WaveletBlock(self.hidden_dim, self.ffn_hidden_dim, self._make_mixing(),
                         self.config.dropout, self.config.norm_eps, self.dtype,
                         checkpoint=self.gradient_checkpointing, rng=rng)
            for _ in range(self.num_layers)
        ]

    def _build_head(self) -> Linear | None:
        """The output layer of ``output_type`` (None for 'none', or while num_classes is
        missing for 'classification' / 'sequence': the first forward then raises)."""
        rng = np.random.default_rng([self.config.seed, _HEAD_STREAM])
        out = {"classification": self.num_classes, "sequence": self.num_classes,
               "regression": self.num_classes or 1, "lm": self.vocab_size,
               "none": None}[self.output_type]
        return None if out is None else Linear(self.hidden_dim, out, dtype=self.dtype, rng=rng)

    # -- forward ----------------------------------------------------------------------

    def forward(self, input_ids: Any = None, inputs_embeds: Any = None,
                attention_mask: Any = None) -> Any:
        """Logits / predictions / hidden states, by ``output_type``.

        Shapes: ``input_ids (B, N)`` integers or ``inputs_embeds (B, N, D)`` floats
        (exactly one), ``attention_mask (B, N)`` of 0/1, right-padded, or None.
        Output: ``(B, C)`` pooled heads, ``(B, N, C)`` per-token heads, ``(B, N, D)``
        for 'none'.
        """
        self._check_head()
        e = self._embed(input_ids, inputs_embeds)  # (B, N, D) model dtype
        lengths, weights = self._read_mask(attention_mask, e)
        x = self.embed_drop(self.positional(e))  # (B, N, D)
        buffers.give(e)  # consumed (inputs_embeds you passed, or kept, stay yours)
        del e
        block_lengths = None if self.causal else lengths
        for block in self.blocks:
            y = block(x, block_lengths)  # (B, N, D)
            buffers.give(x)  # consumed: its memory may serve the next array (wavelearn.buffers)
            x = y
        out = self._head_forward(self.final_norm(x), weights)
        self.cache["out_shape"] = tuple(out.shape)
        return out

    def _check_head(self) -> None:
        if self.head is None and self.output_type in ("classification", "sequence"):
            raise ValueError(f"output_type={self.output_type!r} needs num_classes (the size "
                             f"of its Linear head); construct the model with num_classes=...")

    def _embed(self, input_ids: Any, inputs_embeds: Any) -> Any:
        """Token lookup or the given embeddings, cast to the model dtype: ``(B, N, D)``."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids (B, N) or inputs_embeds (B, N, D)")
        ref = self.final_norm.weight.data
        if input_ids is not None:
            if self.embedding is None:
                raise ValueError(f"{type(self).__name__} has no token embedding (vocab_size="
                                 "None); pass inputs_embeds=(B, N, hidden_dim) instead")
            check_same_backend(input_ids, ref)
            if input_ids.ndim != 2:
                raise ValueError("input_ids must be 2-D (B, N), got shape "
                                 f"{tuple(input_ids.shape)}")
            self._check_length(input_ids.shape[1])
            self.cache = {"from_ids": True}
            return self.embedding(input_ids)  # (B, N, D)
        xp = array_namespace(inputs_embeds, ref)
        shape = tuple(inputs_embeds.shape)
        if len(shape) != 3 or shape[2] != self.hidden_dim:
            raise ValueError(f"inputs_embeds must have shape (B, N, {self.hidden_dim}), "
                             f"got {shape}")
        if not xp.isdtype(inputs_embeds.dtype, "real floating"):
            raise TypeError(f"inputs_embeds must be real floating point, got {inputs_embeds.dtype}")
        self._check_length(shape[1])
        self.cache = {"from_ids": False, "embeds_dtype": inputs_embeds.dtype}
        return cast_to(inputs_embeds, ref.dtype)  # (B, N, D)

    def _check_length(self, n: int) -> None:
        if n < 1:
            raise ValueError("the sequence is empty (N = 0)")
        if n > self.max_sequence_length:
            raise ValueError(f"sequence length {n} exceeds max_sequence_length "
                             f"{self.max_sequence_length}")

    def _read_mask(self, mask: Any, x: Any) -> tuple[list[int] | None, Any]:
        """Check a right-padded 0/1 mask; return (row lengths or None, pooling weights).

        The weights ``(B, N)`` are :math:`m_{bt} / L_b` (None without padding).
        """
        if mask is None:
            return None, None
        xp = array_namespace(mask, x)
        B, N = x.shape[:2]
        m = to_numpy(mask)
        if m.shape != (B, N):
            raise ValueError(f"attention_mask must have shape (B, N) = {(B, N)}, got {m.shape}")
        if not np.all((m == 0) | (m == 1)):
            raise ValueError("attention_mask must hold only 0 (padding) and 1 (real token)")
        m = m.astype(bool)
        if np.any(m[:, 1:] & ~m[:, :-1]):
            raise ValueError("attention_mask: only right padding is supported (each row must "
                             "be ones, then zeros); move the padding to the end of each row")
        lengths = m.sum(axis=1)
        if np.any(lengths == 0):
            raise ValueError("attention_mask: every row needs at least one real token")
        if np.all(lengths == N):
            return None, None
        mf = xp.astype(mask, x.dtype)  # (B, N)
        return [int(n) for n in lengths], mf / xp.sum(mf, axis=1, keepdims=True)

    # -- heads ------------------------------------------------------------------------

    def _head_forward(self, h: Any, weights: Any) -> Any:
        """Apply the head to the final hidden states ``h (B, N, D)``."""
        if self.output_type == "none":
            return h  # (B, N, D)
        if self.pool is not None:
            h = self.pool(h, weights)  # (B, D)
        return self.head(h)  # (B, C) or (B, N, C)

    def _head_backward(self, dout: Any) -> Any:
        if self.output_type == "none":
            return dout  # (B, N, D)
        dh = self.head.backward(dout)  # (B, D) or (B, N, D)
        if self.pool is not None:
            dh = self.pool.backward(dh)  # (B, N, D)
        return dh

    # -- backward ---------------------------------------------------------------------

    def backward(self, dout: Any) -> Any:
        """Back-propagate ``dout`` (the gradient of the output, same shape).

        Adds every parameter's gradient into ``param.grad``; returns the gradient
        w.r.t. ``inputs_embeds`` in its dtype, or None when the input was token ids.
        """
        if "out_shape" not in self.cache:
            raise RuntimeError(f"{type(self).__name__}.backward() needs a forward() first")
        ref = self.final_norm.weight.data
        xp = check_same_backend(dout, ref).xp  # TypeError for another backend
        if dout is None or not xp.isdtype(dout.dtype, "real floating"):
            got = "None" if dout is None else f"dtype {dout.dtype}"
            raise TypeError(f"dout must be a real floating-point array of the output's shape "
                            f"{self.cache['out_shape']}, got {got}")
        if tuple(dout.shape) != self.cache["out_shape"]:
            raise ValueError(f"dout must have the output's shape {self.cache['out_shape']}, "
                             f"got {tuple(dout.shape)}")
        dx = self.final_norm.backward(self._head_backward(cast_to(dout, ref.dtype)))
        for block in reversed(self.blocks):
            dy = dx
            dx = block.backward(dy)  # (B, N, D)
            buffers.give(dy)  # consumed: its memory may serve the next array (wavelearn.buffers)
        dx = self.positional.backward(self.embed_drop.backward(dx))  # (B, N, D)
        if self.cache["from_ids"]:
            self.embedding.backward(dx)
            return None
        return cast_to(dx, self.cache["embeds_dtype"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.to_dict().items())
        return f"{type(self).__name__}({args})"


class WaveletTransformer(WaveletModel):
    r"""Wavelet transformer: token/embedding input -> wavelet blocks -> task head.

    Args (the ``spectrans`` signature):
        vocab_size: size of the token vocabulary; ``None``: no embedding, the model
            takes ``inputs_embeds (B, N, hidden_dim)``.
        hidden_dim: ``D``. num_layers: number of blocks.
        max_sequence_length: the longest ``N`` accepted (and the positional tables' size).
        wavelet: a discrete wavelet name ('haar', 'db4', 'sym6', 'coif3', ...).
        levels: ``J``, decomposition levels of every mixer.
        mixing_mode: coefficient map, 'pointwise' | 'channel' | 'level'
            (:mod:`wavelearn.nn.mixing`).
        num_classes: output size of the 'classification' / 'sequence' heads
            ('regression': defaults to 1).
        use_positional_encoding / positional_encoding_type: 'sinusoidal',
            'learned', 'rotary' or 'none' (:mod:`wavelearn.nn.positional`).
        dropout: probability of every dropout layer.
        ffn_hidden_dim: FFN width ``H``; ``None`` means ``4 * hidden_dim``.
        norm_eps: ``eps`` of every LayerNorm.
        output_type: 'classification' (pool -> Linear(D, num_classes)),
            'regression' (pool -> Linear(D, num_classes or 1)),
            'sequence' (per token Linear(D, num_classes)),
            'lm' (per token Linear(D, vocab_size)) or 'none' (hidden states).
        gradient_checkpointing: blocks recompute their forward during backward.

    Keyword-only extras:
        mode: DWT boundary mode of the mixers, default 'periodization': every level
            exists for every length; when :math:`2^J` divides N the N samples give
            exactly N coefficients and the transform is orthogonal for orthogonal
            wavelets (its backward is its inverse, so gradients keep their norm).
            Other lengths are padded at each odd level, so the transform is then
            neither (tutorial 05 measures it), though it still reconstructs exactly.
        pooling: 'mean' (over the real tokens, honouring ``attention_mask``) or
            'cls' (the first token); used by the classification/regression heads.
        dtype: parameter and activation dtype, None (= 'float32') or 'float64'
            (float64 for gradient checks).
        seed: seeds parameter initialisation and the dropout generators.

    Attributes: ``config`` (a :class:`~wavelearn.models.config.WaveletTransformerConfig`),
    ``wavelet`` (name), ``levels``, ``mixing_mode``, ``blocks`` (list of
    :class:`~wavelearn.nn.block.WaveletBlock`), ``embedding`` (or None),
    ``positional``, ``final_norm``, ``head`` (or None).
    """

    config_class = WaveletTransformerConfig


class WaveletEncoder(WaveletModel):
    """The wavelet transformer without embedding or head: ``inputs_embeds (B, N, D)`` ->
    hidden states ``(B, N, D)`` (after the final LayerNorm).

    Called as ``encoder(inputs_embeds=x, attention_mask=None)``; ``backward(dh)``
    returns ``d inputs_embeds``. Arguments as :class:`WaveletTransformer`;
    ``pooling`` is kept for parity with the transformer's config and unused here.
    """

    config_class = WaveletEncoderConfig
