"""Finite-difference gradient checks shared by the test suite.

Usage from a test module (``tests/`` is on ``sys.path`` under pytest)::

    from gradcheck import check_layer_backward, numerical_grad

``check_layer_backward`` needs a layer with float64 parameters on the numpy
backend; it checks ``dx`` and every parameter gradient against central
differences of the scalar :math:`f = \\sum y \\odot G` for a random ``G``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def numerical_grad(
    f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    r"""Central differences :math:`\partial f/\partial x_i \approx
    \frac{f(x + \epsilon e_i) - f(x - \epsilon e_i)}{2\epsilon}`.

    ``x`` must be a float64 numpy array; it is perturbed *in place* (and
    restored), so ``f`` may read it through another reference, e.g. a
    parameter's ``data``. Costs ``2 * x.size`` calls of ``f``.
    """
    if not (isinstance(x, np.ndarray) and x.dtype == np.float64):
        raise TypeError(f"numerical_grad needs a float64 numpy array, got {type(x)} {x.dtype}")
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        f_plus = f(x)
        x[idx] = old - eps
        f_minus = f(x)
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def rel_error(a: Any, b: Any) -> float:
    """``max|a - b| / max(max|a|, max|b|)`` (0 when both are zero)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return 0.0 if scale == 0.0 else float(np.max(np.abs(a - b), initial=0.0)) / scale


def check_layer_backward(
    layer: Any,
    x: np.ndarray,
    *,
    seed: int = 0,
    eps: float = 1e-6,
    tol: float = 1e-6,
    before_forward: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Assert ``layer.backward`` matches finite differences; return the relative errors.

    ``f(x, params) = sum(layer(x) * G)`` with ``G ~ N(0, 1)``; ``backward(G)``
    must return ``df/dx`` (skipped for integer ``x``, e.g. embedding ids) and
    leave ``df/dp`` in every ``param.grad``. ``before_forward`` runs before every
    forward (e.g. to reseed a dropout Generator so each call draws the same mask).
    """
    reset = before_forward or (lambda: None)
    for name, p in layer.named_parameters():
        if not (isinstance(p.data, np.ndarray) and p.data.dtype == np.float64):
            raise TypeError(f"check_layer_backward needs float64 numpy parameters; {name} is not")
        p.grad = None
    reset()
    y = layer(x)
    g = np.random.default_rng(seed).standard_normal(y.shape)

    def f(_: np.ndarray) -> float:
        reset()
        return float(np.sum(layer(x) * g))

    dx = layer.backward(g.copy())
    errors = {}
    if np.issubdtype(x.dtype, np.floating):
        errors["x"] = rel_error(dx, numerical_grad(f, x, eps))
    for name, p in layer.named_parameters():
        errors[name] = rel_error(p.grad, numerical_grad(f, p.data, eps))
    bad = {k: v for k, v in errors.items() if not v < tol}
    assert not bad, f"{type(layer).__name__}: gradient relative errors above {tol}: {bad}"
    return errors
