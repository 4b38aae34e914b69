"""The PyTorch backend (CPU, or a CUDA device with ``'torch:cuda'``)."""

from __future__ import annotations

from typing import Any

from wavelearn.backend import Backend, BackendUnavailableError

INSTALL_HINT = (
    "install it with `pip install 'wavelearn[torch]'` (CPU build), or for a CUDA build "
    "`pip install torch --index-url https://download.pytorch.org/whl/cu128`"
)


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, torch: Any, device: str) -> None:
        import array_api_compat.torch as xp_torch

        self.torch = torch
        self.device = device
        self.xp = xp_torch
        self.filter_bank = TorchFilterBank(torch)
        self._onednn = _onednn_linear(torch) if device == "cpu" else None

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        import numpy as np

        torch = self.torch
        if dtype is not None:
            dtype = getattr(torch, np.dtype(dtype).name)
        if torch.is_tensor(x):
            return x.to(device=self.device, dtype=dtype)
        if type(x).__module__.split(".")[0] == "cupy":
            x = x.get()
        x = np.asarray(x)
        if not x.flags.writeable or any(s < 0 for s in x.strides):
            x = x.copy()  # torch can wrap neither read-only nor reversed (x[::-1]) arrays
        return torch.as_tensor(x, dtype=dtype, device=self.device)

    def owns(self, x: Any) -> bool:
        return self.torch.is_tensor(x) and str(x.device) == self.device

    def as_strided(self, x: Any, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
        return x.as_strided(shape, strides)

    def scatter_add_rows(self, target: Any, idx: Any, values: Any) -> Any:
        return target.index_add_(0, idx, values)

    def host_view(self, x: Any) -> Any:
        """``x.numpy()`` for a CPU tensor that autograd does not record, outside
        ``torch.compile``'s tracing: the same memory."""
        if (self.device != "cpu" or x.requires_grad or x.is_conj() or x.is_neg()
                or self.torch.compiler.is_compiling()):
            return None
        return x.numpy()

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        r"""``a @ b`` (2-D). On the CPU, float32 goes to oneDNN's matmul (the kernel of
        ``torch.ops.mkldnn._linear_pointwise``, computing :math:`a (b^\top)^\top`): on an AMD
        CPU the products of a training step took 1.7-1.9x less time in all than with
        ``torch.matmul`` (MKL) or NumPy's OpenBLAS (the floors of
        ``benchmarks/gemm_floor.py``). Everything else goes to
        ``torch.matmul``: other dtypes, tensors that torch's autograd records, an empty inner
        dimension and operands that are neither row- nor column-major (oneDNN refuses them).
        With ``out``: ``torch.matmul`` into it."""
        if out is not None:
            return self.torch.matmul(a, b, out=out)
        if self._onednn is not None and self._onednn_takes(a, b):
            if not a.is_contiguous():  # column-major a: dW = dy^T x
                return self._onednn_column_major(a, b)
            return self._onednn(a, b.t(), None, "none", [], "")  # (M, N)
        return self.torch.matmul(a, b)

    def _onednn_column_major(self, a: Any, b: Any) -> Any:
        r"""``a @ b`` through oneDNN for a column-major ``a`` (a transposed view, as the
        ``dy^T`` of a weight gradient :math:`dW = dy^\top x`). oneDNN wants ``a`` row-major
        and copies it into fresh memory itself, which glibc may have to map anew at every
        step (a page fault every 4 KiB; in ``benchmarks/gemm_floor.py``, where NumPy and
        torch steps take turns in one process, the default model's torch step faulted
        700-1,600 times a step before and 1-760 after). Here the copy goes into memory
        from :mod:`wavelearn.buffers` and back to it after the product: the same product,
        the same bits (tested)."""
        import numpy as np

        from wavelearn import buffers

        host = buffers.empty(tuple(a.shape), np.float32)  # (M, K): pooled memory
        row_major = self.torch.from_numpy(host).copy_(a)  # (M, K), a's values
        y = self._onednn(row_major, b.t(), None, "none", [], "")  # (M, N)
        del row_major  # the only other reference to host
        buffers.give(host)
        return y

    def _onednn_takes(self, a: Any, b: Any) -> bool:
        torch = self.torch
        return (a.dtype == torch.float32 == b.dtype and a.ndim == 2 == b.ndim
                and a.shape[1] > 0 and _one_major(a) and _one_major(b)
                and not (torch.is_grad_enabled() and (a.requires_grad or b.requires_grad)))

    @property
    def layernorm(self) -> Any:
        """torch's own LayerNorm kernels (``wavelearn.nn.LayerNorm`` uses them)."""
        return TorchLayerNorm(self.torch)

    @property
    def gelu(self) -> Any:
        """torch's own tanh-GELU kernels (one pass each way; ``wavelearn.nn.GELU`` uses them)."""
        return TorchGelu(self.torch)


class TorchLayerNorm:
    """``torch.native_layer_norm`` and its backward kernel: the formulas of
    :class:`wavelearn.nn.LayerNorm`, one pass each way (0.10 + 0.06 ms on ``(3200, 64)``
    float32, one thread, against 0.14 + 0.19 for the layer's chain of torch operations).
    What backward needs: the rows ``x``, their means and ``1/sqrt(var + eps)``."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def forward(self, x: Any, w: Any, b: Any, eps: float) -> tuple[Any, dict]:
        y, mean, rstd = self.torch.native_layer_norm(x, (x.shape[-1],), w, b, eps)  # (M, D)
        return y, {"x": x, "mean": mean, "rstd": rstd}  # mean, rstd (M, 1)

    def backward(self, dy: Any, saved: dict, w: Any, b: Any) -> tuple[Any, Any, Any]:
        x = saved["x"]  # (M, D)
        return self.torch.ops.aten.native_layer_norm_backward(
            dy, x, (x.shape[-1],), saved["mean"], saved["rstd"], w, b, [True, True, True])


class TorchGelu:
    """``torch.nn.functional.gelu(x, approximate='tanh')`` and its backward kernel:
    the formula of :class:`wavelearn.nn.GELU`, fused."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def forward(self, x: Any) -> Any:
        return self.torch.nn.functional.gelu(x, approximate="tanh")

    def backward(self, dy: Any, x: Any) -> Any:
        return self.torch.ops.aten.gelu_backward(dy, x, approximate="tanh")


class TorchFilterBank:
    r"""The two filter-bank primitives of :mod:`wavelearn.dwt.filterbank` for torch
    tensors on any device (the DWT's ``Backend.filter_bank``).

    Both are the textbook tap loop with every term added in place,
    ``out.add_(x_slice, alpha=f_b[i])``: one fused multiply-add pass per tap and
    band, where the plain loop builds a temporary product array per tap and then
    adds it (twice the memory traffic):

    - ``filter_down``: :math:`y_b[o] = \sum_i f_b[i]\, x[2o + i]`;
    - ``filter_up``, its adjoint: :math:`z[2o + i] \mathrel{+}= \sum_b f_b[i]\, y_b[o]`.

    Measured inside the training steps of ``benchmarks/gemm_floor.py`` (CPU,
    float32, db4), this beat the alternatives: ``conv2d`` with stride ``(2, 1)``,
    a batched ``matmul`` of the filter bank with a strided view of all the
    windows (fast on data in cache, slower in the step: it copies every window),
    and ``conv_transpose2d`` / a matmul followed by overlapping adds for
    ``filter_up``.

    Every tap is used, zeros too, so ``0 * inf`` gives NaN where the textbook
    loop and PyWavelets give NaN. Real and complex tensors alike (the taps are
    real, rounded to the data's real dtype). No ``out=`` arguments: tensors that
    require grad go through too.
    """

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self._cache: dict[tuple, Any] = {}

    def _cached(self, key: tuple, make: Any) -> Any:
        """``make()``, computed once per ``key`` (at most 256 kept)."""
        value = self._cache.get(key)
        if value is None:
            if len(self._cache) >= 256:
                self._cache.clear()
            value = self._cache[key] = make()
        return value

    def _taps(self, filters: Any, like: Any) -> list:
        """``filters`` rounded to ``like``'s real dtype, as nested lists of Python
        floats (the ``alpha`` of ``add_``); made once per filter bank and dtype."""
        real = like.real.dtype if like.is_complex() else like.dtype
        key = ("taps", filters.tobytes(), filters.shape, real)
        return self._cached(key, lambda: self.torch.as_tensor(filters).to(real).tolist())

    def filter_down(self, x: Any, filters: Any, n_out: int) -> Any:
        """``x`` ``(P, N, Q)`` -> ``(B, P, n_out, Q)``."""
        (P, _, Q), (B, F) = x.shape, filters.shape
        taps = self._taps(filters, x)  # (B, F) Python floats
        y = self.torch.zeros((B, P, n_out, Q), dtype=x.dtype, device=x.device)
        for b in range(B):
            y_b = y[b]  # (P, n_out, Q)
            for i in range(F):
                y_b.add_(x[:, i : i + 2 * n_out - 1 : 2], alpha=taps[b][i])  # += f_b[i] x[2o + i]
        return y

    def filter_up(self, bands: list, filters: Any, length: int) -> Any:
        """``B`` bands ``(P, n, Q)`` -> ``z`` ``(P, length, Q)``."""
        (P, n, Q), y0 = bands[0].shape, bands[0]
        z = self.torch.zeros((P, length, Q), dtype=y0.dtype, device=y0.device)
        taps = self._taps(filters, y0)  # (B, F) Python floats
        for i in range(filters.shape[1]):
            z_i = z[:, i : i + 2 * n - 1 : 2]  # (P, n, Q): z[2o + i]
            for b, y in enumerate(bands):
                z_i.add_(y, alpha=taps[b][i])  # z[2o + i] += f_b[i] y_b[o]
        return z


def _one_major(a: Any) -> bool:
    """Whether the 2-D tensor ``a`` is row-major or column-major (a transposed view)."""
    return a.is_contiguous() or a.t().is_contiguous()


def _onednn_linear(torch: Any) -> Any:
    """oneDNN's fp32 linear, ``op(x, w, None, "none", [], "") = x w^T``, where this torch
    build has it (it is the op torch's own compiler uses for ``Linear`` on the CPU) and it
    gives a small exact product (an internal op: another torch may change it), or None."""
    if not torch.backends.mkldnn.is_available():
        return None
    op = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)  # (2, 3)
    try:
        works = torch.equal(op(x, x, None, "none", [], ""), x @ x.T) if op else False
    except (RuntimeError, TypeError):
        works = False
    return op if works else None


def load(device: str | None) -> TorchBackend:
    try:
        import torch
    except ImportError as e:
        raise BackendUnavailableError(f"backend 'torch' needs PyTorch, which is not installed; "
                                      f"{INSTALL_HINT}") from e
    try:
        dev = torch.device(device or "cpu")
    except RuntimeError as e:
        raise ValueError(f"backend 'torch': invalid device {device!r} ({e})") from e
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"backend 'torch:{device}' needs a CUDA GPU, but torch {torch.__version__} "
                "sees none (a CPU build, or no GPU/driver); use 'torch' for the CPU or "
                f"{INSTALL_HINT}"
            )
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise BackendUnavailableError(
                f"backend 'torch:{device}': only {torch.cuda.device_count()} CUDA device(s)"
            )
        dev = torch.device("cuda", index)
    elif dev.type != "cpu":
        raise ValueError(f"backend 'torch': device {device!r} is not supported (cpu or cuda)")
    return TorchBackend(torch, str(dev))
