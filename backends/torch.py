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

    @property
    def gelu(self) -> Any:
        """torch's own tanh-GELU kernels (one pass each way; ``wavelearn.nn.GELU`` uses them)."""
        return TorchGelu(self.torch)


class TorchGelu:
    """``torch.nn.functional.gelu(x, approximate='tanh')`` and its backward kernel:
    the formula of :class:`wavelearn.nn.GELU`, fused."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def forward(self, x: Any) -> Any:
        return self.torch.nn.functional.gelu(x, approximate="tanh")

    def backward(self, dy: Any, x: Any) -> Any:
        return self.torch.ops.aten.gelu_backward(dy, x, approximate="tanh")


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
