"""Text from a trained character language model: ``wavelearn generate``.

The model's own streaming :meth:`~wavelearn.models.WaveletDecoder.generate`
(constant cost per character, whatever the context) with its sampler and
argument checks (:mod:`wavelearn.models.sampling`): softmax of ``logits /
temperature``, optionally restricted to the ``top_k`` largest (``temperature=0``:
greedy). One difference: ``<pad>`` and ``<unk>`` are never drawn, so the
continuation is always printable text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from wavelearn.backend import asarray, to_numpy
from wavelearn.models.sampling import check_generate_args


def generate_text(trainer: Any, prompt: str, max_new_tokens: int = 200,
                  temperature: float = 0.8, top_k: int | None = None, seed: int | None = 0,
                  names: Mapping[str, str] | None = None,
                  on_text: Callable[[str], None] | None = None) -> str:
    """Sample a continuation of ``prompt`` from the model of ``trainer`` (a character LM).

    ``names`` says how to call the arguments in error messages (the command
    line passes ``{'top_k': '--top-k', ...}``). ``on_text`` receives the prompt,
    then each new character as soon as it is drawn.
    """
    if not trainer.task.generates_text:
        raise ValueError(f"generate needs a language-model checkpoint; this one is a "
                         f"{trainer.data.name} classifier")
    tokenizer, model = trainer.data.tokenizer, trainer.model
    check_generate_args(None, max_new_tokens, temperature, top_k, model.vocab_size, seed, names)
    ids = np.asarray(tokenizer.encode(prompt or "\n"), dtype=np.int64)[None, :]  # (1, n)
    if on_text is not None:
        on_text(tokenizer.decode(ids[0]))
    hook = None if on_text is None else (lambda tokens: on_text(tokenizer.decode(tokens)))
    out = model.generate(asarray(ids, backend=trainer.backend), max_new_tokens, temperature,
                         top_k, seed, on_token=hook,
                         exclude_ids=(tokenizer.pad_id, tokenizer.unk_id))
    return tokenizer.decode(to_numpy(out)[0])
