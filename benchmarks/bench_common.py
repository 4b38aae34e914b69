"""What several benchmark scripts share: a wavelearn training step without the
optimizer, and the process's resident memory from ``/proc/self/status`` (Linux)."""

from __future__ import annotations

from typing import Any


def training_step(model: Any, ids: Any, labels: Any, loss: Any) -> None:
    """One training step without the optimizer: fresh gradients, forward, loss, backward."""
    for p in model.parameters():
        p.grad = None
    loss.forward(model(ids), labels)
    model.backward(loss.backward())


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``, ...)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
