"""Input handling of the transforms: arrays of any backend and shape, checked and
viewed as the ``(P, N, Q)`` arrays the filter banks work on (the transform runs
along axis 1; ``P`` collects the axes before it, ``Q`` those after it).

Part of :mod:`wavelearn.dwt.transforms`, which checks its inputs with these.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from wavelearn.backend import array_namespace, library_of


@dataclass(frozen=True)
class Layout:
    """How an n-d array was viewed as ``(P, N, Q)`` (to undo it)."""

    shape: tuple[int, ...]
    axis: int
    moved: bool  # True: rows stored as (1, N, P*Q) so the channels are many and contiguous


def normalize_axis(axis: Any, ndim: int, name: str = "axis") -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{name} must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an array with {ndim} dimension(s)")
    return int(axis) % ndim


def float_dtype(xp: Any, x: Any, name: str) -> Any:
    """PyWavelets' dtype rule: float32/64 and complex64/128 stay, float16 becomes
    float32, extended precision (longdouble, clongdouble) becomes float64 /
    complex128, integers and booleans become float64; anything else is an error."""
    if xp.isdtype(x.dtype, ("real floating", "complex floating")):
        if x.dtype in (xp.float32, xp.float64, xp.complex64, xp.complex128):
            return x.dtype
        if xp.isdtype(x.dtype, "complex floating"):  # clongdouble
            return xp.complex128
        return xp.float64 if x.dtype.itemsize > 8 else xp.float32  # longdouble; float16
    if xp.isdtype(x.dtype, ("integral", "bool")):
        return xp.float64
    raise TypeError(f"{name} must hold numbers (int, float or complex), got dtype {x.dtype}")


def as_array(data: Any, name: str) -> Any:
    if isinstance(data, (list, tuple, int, float, complex, np.generic)):
        data = np.asarray(data)
    if library_of(data) is None:
        raise TypeError(
            f"{name} must be an array (numpy, cupy or torch) or a list of numbers, "
            f"got {type(data).__name__}"
        )
    if isinstance(data, np.ndarray) and data.dtype == object:
        return _object_to_float(data, name)
    if isinstance(data, np.ndarray) and data.dtype.kind not in "biufc":
        raise TypeError(f"{name} must hold numbers, got dtype {data.dtype}")
    return data


def _object_to_float(data: np.ndarray, name: str) -> np.ndarray:
    """An object array of real numbers as float64 (as PyWavelets converts it);
    any other element (None, a string, a complex number, a list) raises."""
    for v in data.flat:
        if not (isinstance(v, numbers.Real)
                or (isinstance(v, numbers.Number) and not isinstance(v, numbers.Complex))):
            raise TypeError(f"{name} must hold numbers; its object array holds "
                            f"{type(v).__name__} {v!r}")
    return data.astype(np.float64)


def prepare(
    data: Any, axis: Any, name: str = "data", empty_axis: bool = False
) -> tuple[Any, Any, Layout]:
    """Check ``data`` and view it as ``(P, N, Q)``; returns ``(xp, x3, layout)``.

    Like PyWavelets, other axes may be empty (``P`` or ``Q`` is 0), the
    transformed axis only where ``empty_axis`` says so."""
    data = as_array(data, name)
    xp = array_namespace(data)
    axis = normalize_axis(axis, data.ndim)
    if data.shape[axis] == 0 and not empty_axis:
        raise ValueError(f"{name} is empty along axis {axis} (shape {tuple(data.shape)}); "
                         "it needs samples")
    x = xp.astype(data, float_dtype(xp, data, name), copy=False)
    return (xp, *to_3d(xp, x, axis))


def to_3d(xp: Any, x: Any, axis: int) -> tuple[Any, Layout]:
    shape = tuple(x.shape)
    P, N, Q = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])
    x3 = xp.reshape(x, (P, N, Q))
    if Q < 16 <= P * Q:  # few channels after the axis: put the others there
        x3 = xp.reshape(xp.permute_dims(x3, (1, 0, 2)), (1, N, P * Q))
        return x3, Layout(shape, axis, True)
    return x3, Layout(shape, axis, False)


def from_3d(xp: Any, y: Any, layout: Layout) -> Any:
    """Undo :func:`to_3d` for a result ``y`` with a new length along the axis."""
    n, shape, axis = y.shape[1], layout.shape, layout.axis
    if layout.moved:
        P, Q = math.prod(shape[:axis]), math.prod(shape[axis + 1 :])
        y = xp.permute_dims(xp.reshape(y, (n, P, Q)), (1, 0, 2))  # (P, n, Q)
    return xp.reshape(y, shape[:axis] + (n,) + shape[axis + 1 :])
