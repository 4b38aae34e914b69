"""Chapter 1 of the library: signals and their wavelet transforms.

* :mod:`.wavelets` -- a discrete wavelet's four filters and the nine boundary modes;
* :mod:`.filterbank` -- the three linear pieces of a DWT level (boundary extension,
  filter-and-downsample, upsample-and-filter), each with its exact adjoint;
* :mod:`.transforms` -- ``dwt``/``idwt``/``wavedec``/``waverec`` (PyWavelets' API) and
  their adjoints;
* :mod:`.causal` -- the causal *à trous* bank of the decoder, its adjoint, and its
  streaming form (ring buffers of fixed size, :func:`causal_analysis_step`).
"""

from wavelearn.dwt.causal import (
    causal_analysis,
    causal_analysis_adjoint,
    causal_analysis_step,
    causal_filter,
    causal_filter_adjoint,
    causal_lowpass,
    filter_taps,
    history_lengths,
    init_history,
)
from wavelearn.dwt.transforms import (
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
from wavelearn.dwt.wavelets import MODES, Wavelet, as_wavelet, check_mode

__all__ = [
    "MODES",
    "Wavelet",
    "as_wavelet",
    "causal_analysis",
    "causal_analysis_adjoint",
    "causal_analysis_step",
    "causal_filter",
    "causal_filter_adjoint",
    "causal_lowpass",
    "check_mode",
    "dwt",
    "dwt_adjoint",
    "dwt_coeff_len",
    "dwt_max_level",
    "filter_taps",
    "history_lengths",
    "idwt",
    "idwt_adjoint",
    "init_history",
    "wavedec",
    "wavedec_adjoint",
    "waverec",
    "waverec_adjoint",
]
