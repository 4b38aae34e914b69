"""Chapter 3: the models, built from the layers of :mod:`wavelearn.nn`.

* :mod:`.config` -- one validated config dataclass per model (the single source of
  each model's arguments, their defaults and their checks);
* :mod:`.transformer` -- ``WaveletTransformer``, ``WaveletEncoder`` and ``WaveletDecoder``;
* :mod:`.streaming` -- the decoder's streaming state (``DecoderState``) and generation helpers.
"""

from wavelearn.models.config import (
    ConfigError,
    WaveletDecoderConfig,
    WaveletEncoderConfig,
    WaveletTransformerConfig,
)
from wavelearn.models.streaming import DecoderState
from wavelearn.models.transformer import WaveletDecoder, WaveletEncoder, WaveletTransformer

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
