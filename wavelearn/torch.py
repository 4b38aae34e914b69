"""``wavelearn.torch.TorchModel``: the documented name of :mod:`wavelearn.interop.torch`.

Importing this module imports torch (``import wavelearn`` does not).
"""

from wavelearn.interop.torch import TorchModel

__all__ = ["TorchModel"]
