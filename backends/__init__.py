"""Backend modules of wavelearn, installed as ``wavelearn.backends``.

One module per array library: :mod:`.numpy`, :mod:`.cupy`, :mod:`.torch`.
Each defines ``load(device) -> Backend`` and is imported only when selected
(``wavelearn.set_backend``), so importing wavelearn never imports cupy or torch.
The CUDA sources of the CuPy kernels live in ``cuda/``.
"""
