"""Chapter 1 of the library: signals and their wavelet transforms.

* :mod:`.wavelets` -- a discrete wavelet's four filters and the nine boundary modes;
* :mod:`.filterbank` -- the three linear pieces of a DWT level (boundary extension,
  filter-and-downsample, upsample-and-filter), each with its exact adjoint (the code:
  :mod:`.textbook`, the reference; :mod:`.blocked` and :mod:`.blocked_ends`, the fast
  NumPy paths, their middle as compiled loops in :mod:`.compiled`, cut into :mod:`.chunks`
  for :mod:`wavelearn.threads`; :mod:`.finite`, one finiteness check per transform);
* :mod:`.levels` -- one analysis or synthesis level on ``(P, N, Q)`` arrays, and its adjoint;
* :mod:`.transforms` -- ``dwt``/``idwt``/``wavedec``/``waverec`` (PyWavelets' API) and
  their adjoints, on arrays of any backend and shape (checked and viewed as ``(P, N, Q)``
  by :mod:`.arrays`); a short signal's whole multilevel transform as one matrix
  product (:mod:`.dense`);
* :mod:`.causal` -- the causal *à trous* bank of the decoder, and its adjoint.
"""

from wavelearn.dwt import causal, transforms
from wavelearn.dwt.causal import *  # noqa: F403 (its __all__)
from wavelearn.dwt.transforms import *  # noqa: F403 (its __all__)
from wavelearn.dwt.wavelets import MODES, Wavelet, as_wavelet, check_mode

__all__ = ["MODES", "Wavelet", "as_wavelet", "check_mode", *causal.__all__,
           *transforms.__all__]
