"""wavelearn: a NumPy-first, teachable library for wavelet transformers."""

from wavelearn.backend import (
    BackendUnavailableError,
    array_namespace,
    asarray,
    get_backend,
    set_backend,
    to_numpy,
    use_backend,
)

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "array_namespace",
    "asarray",
    "get_backend",
    "set_backend",
    "to_numpy",
    "use_backend",
]

from wavelearn.dwt.transforms import (  # noqa: E402
    dwt,
    dwt_adjoint,
    dwt_coeff_len,
    dwt_max_level,
    idwt,
    idwt_adjoint,
    wavedec,
    wavedec_adjoint,
    waverec,
    waverec_adjoint,
)
from wavelearn.dwt.wavelets import MODES, Wavelet  # noqa: E402

__all__ += [
    "MODES",
    "Wavelet",
    "dwt",
    "dwt_adjoint",
    "dwt_coeff_len",
    "dwt_max_level",
    "idwt",
    "idwt_adjoint",
    "wavedec",
    "wavedec_adjoint",
    "waverec",
    "waverec_adjoint",
]

from wavelearn.models import WaveletDecoder, WaveletEncoder, WaveletTransformer  # noqa: E402
from wavelearn.models.config import (  # noqa: E402
    WaveletDecoderConfig,
    WaveletEncoderConfig,
    WaveletTransformerConfig,
)

__all__ += [
    "WaveletDecoder",
    "WaveletDecoderConfig",
    "WaveletEncoder",
    "WaveletEncoderConfig",
    "WaveletTransformer",
    "WaveletTransformerConfig",
]
