"""Chapter 3: the models, built from the layers of :mod:`wavelearn.nn`.

* :mod:`.config` -- one validated config dataclass per model (the single source of
  each model's arguments, their defaults and their checks);
* :mod:`.transformer` -- the shared backbone, ``WaveletTransformer`` and ``WaveletEncoder``;
* :mod:`.decoder` -- ``WaveletDecoder``, the causal language model, with streaming decoding;
* :mod:`.streaming` -- the decoder's streaming state (``DecoderState``) and generation helpers.
"""

from wavelearn.models.config import (
    ConfigError,
    WaveletDecoderConfig,
    WaveletEncoderConfig,
    WaveletTransformerConfig,
)
from wavelearn.models.decoder import WaveletDecoder
from wavelearn.models.streaming import DecoderState
from wavelearn.models.transformer import WaveletEncoder, WaveletTransformer

__all__ = [
    "ConfigError",
    "DecoderState",
    "WaveletDecoder",
    "WaveletDecoderConfig",
    "WaveletEncoder",
    "WaveletEncoderConfig",
    "WaveletTransformer",
    "WaveletTransformerConfig",
]
