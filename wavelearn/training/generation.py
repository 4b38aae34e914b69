"""Text from a trained character language model: ``wavelearn generate``.

The sampling is the model's own (:mod:`wavelearn.models.sampling`, as in
:meth:`~wavelearn.models.WaveletDecoder.generate`): the last
``max_sequence_length`` characters as context, softmax of ``logits /
temperature``, optionally restricted to the ``top_k`` largest
(``temperature=0``: greedy), with the same argument checks. One difference:
``<pad>`` and ``<unk>`` are never drawn, so the continuation is always
printable text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from wavelearn.backend import asarray, to_numpy
from wavelearn.models.sampling import check_generate_args, sample


def generate_text(trainer: Any, prompt: str, max_new_tokens: int = 200,
                  temperature: float = 0.8, top_k: int | None = None, seed: int | None = 0,
                  names: Mapping[str, str] | None = None) -> str:
    """Sample a continuation of ``prompt`` from the model of ``trainer`` (a character LM).

    ``names`` says how to call the arguments in error messages (the command
    line passes ``{'top_k': '--top-k', ...}``).
    """
    if not trainer.task.generates_text:
        raise ValueError(f"generate needs a language-model checkpoint; this one is a "
                         f"{trainer.data.name} classifier")
    tokenizer, model = trainer.data.tokenizer, trainer.model
    check_generate_args(None, max_new_tokens, temperature, top_k, model.vocab_size, seed, names)
    ids = tokenizer.encode(prompt or "\n")[None, :]  # (1, n)
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            context = asarray(ids[:, -model.max_sequence_length:], backend=trainer.backend)
            z = to_numpy(model(input_ids=context))[:, -1].astype(np.float64)  # (1, V)
            z[:, [tokenizer.pad_id, tokenizer.unk_id]] = -np.inf
            ids = np.concatenate([ids, sample(z, temperature, top_k, rng)[:, None]], axis=1)
    finally:
        model.train(was_training)
    return tokenizer.decode(ids[0])
