"""Bridges to other frameworks: :mod:`.torch` wraps a model as a ``torch.nn.Module``.

Importing this package imports no framework; ``wavelearn.interop.torch`` imports torch.
"""
