"""The grading machinery of :mod:`wavelearn.exercises`: feedback, calling your
function safely, comparing its results, and gradient checks along seeded directions."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Feedback:
    """The result of :func:`check`: ``passed``, and a ``message`` for the reader.

    Truthy when the exercise passed. Its ``repr`` is the message, so a notebook
    cell that ends with ``check(...)`` shows the feedback.
    """

    exercise_id: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id (``'NN.k'``), title, the function to write and its grader."""

    exercise_id: str
    title: str
    signature: str
    task: str
    grader: Callable[[Callable[..., Any]], str]


class Fail(Exception):
    """Raised inside a grader with the reader-facing explanation."""


def fmt(v: Any) -> str:
    """A number as ``1.23457`` (6 significant digits); anything else as ``repr``."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(v)


def copy_arg(arg: Any) -> Any:
    """A copy of an array (or of a list of arrays), so that in-place edits stay private."""
    if isinstance(arg, np.ndarray):
        return arg.copy()
    if isinstance(arg, list):
        return [copy_arg(a) for a in arg]
    return arg


def call_user(fn: Callable[..., Any], desc: str, *args: Any) -> Any:
    """``fn(*copies of args)``; an exception becomes a :class:`Fail` that shows the call."""
    try:
        return fn(*(copy_arg(a) for a in args))
    except NotImplementedError:
        raise
    except Exception as e:  # the reader's code may raise anything
        raise Fail(f"calling {desc} raised {type(e).__name__}: {e}") from e


def as_array(what: str, got: Any) -> np.ndarray:
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise Fail(f"{what}: expected an array of numbers, got {type(got).__name__} "
                    f"({e})") from e
    return arr


def unpack(what: str, got: Any, n: int) -> tuple:
    """``got`` as a tuple of ``n`` items (a function that must return ``n`` values)."""
    if not isinstance(got, (tuple, list)) or len(got) != n:
        kind = f"{len(got)} values" if isinstance(got, (tuple, list)) else type(got).__name__
        raise Fail(f"{what}: expected {n} return values, got {kind}")
    return tuple(got)


def mismatch(what: str, expected: Any, got: Any, context: str = "", atol: float = 1e-9,
              rtol: float = 1e-7) -> str | None:
    """``None`` when ``got`` equals ``expected`` to tolerance, else what differs (a sentence).

    ``what`` names the returned array (its first differing index is appended),
    ``context`` says for which input (e.g. ``"for x = [...]"``).
    """
    e = np.asarray(expected, dtype=np.float64)
    g = as_array(what, got)
    ctx = f" {context}" if context else ""
    if g.shape != e.shape:
        return f"{what}{ctx}: expected shape {e.shape}, got shape {g.shape}"
    if not np.all(np.isfinite(g)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
        return f"{what}{list(idx) if idx else ''}{ctx} is {g[idx]} (not finite)"
    bad = ~np.isclose(g, e, atol=atol, rtol=rtol)
    if not bad.any():
        return None
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f"{what}{list(idx) if idx else ''}{ctx}"
    if bad.size == 1:
        return f"{where}: expected {fmt(e[idx])}, got {fmt(g[idx])}"
    return (f"{where}: expected {fmt(e[idx])}, got {fmt(g[idx])} ({int(bad.sum())} of "
            f"{bad.size} entries differ, the largest by {fmt(np.abs(g - e).max())})")


def all_close(expected: Any, got: Any) -> bool:
    e, g = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    return e.shape == g.shape and bool(np.allclose(g, e, atol=1e-9, rtol=1e-7))


def compare(what: str, expected: Any, got: Any,
             mistakes: Sequence[tuple[Any, str]] = (), context: str = "") -> None:
    """Raise :class:`Fail` naming the first differing entry, plus a hint for a known mistake.

    ``mistakes``: ``(wrong_value, hint)`` pairs; when ``got`` equals a wrong value,
    its hint is added.
    """
    problem = mismatch(what, expected, got, context)
    if problem is None:
        return
    try:
        hints = [hint for wrong, hint in mistakes if all_close(wrong, got)]
    except (TypeError, ValueError):
        hints = []
    raise Fail(problem + "".join(f"\nhint: {h}" for h in hints))


def direction_checks(loss: Callable[[np.ndarray], float], x: np.ndarray, grad: Any,
                      name: str, seeds: Sequence[int] = (0, 1, 2), eps: float = 1e-6) -> list[str]:
    """Sentences for the random directions along which ``grad`` fails a gradient check."""
    g = as_array(f"the gradient {name}", grad)
    if g.shape != x.shape:
        return [f"the gradient {name} has shape {g.shape}, but {name[1:]} has shape {x.shape}"]
    failures = []
    for seed in seeds:
        u = np.random.default_rng(seed).standard_normal(x.shape)
        fd = (loss(x + eps * u) - loss(x - eps * u)) / (2 * eps)
        yours = float(np.sum(g * u))
        if not math.isclose(fd, yours, rel_tol=1e-5, abs_tol=1e-7):
            failures.append(
                f"gradient check of {name} along the random direction u (numpy seed {seed}, "
                f"standard normal, shape {x.shape}) fails: central difference "
                f"(L(x + eps u) - L(x - eps u)) / (2 eps) = {fmt(fd)}, your <{name}, u> = "
                f"{fmt(yours)}")
    return failures


def check_gradient(what: str, expected: Any, got: Any, loss: Callable[[np.ndarray], float],
              x: np.ndarray, mistakes: Sequence[tuple[Any, str]] = ()) -> None:
    """Entry comparison *and* directional gradient checks of one gradient; raise on failure."""
    try:
        compare(what, expected, got, mistakes)
        return
    except Fail as fail:
        entry = str(fail)
    lines = [entry, *direction_checks(loss, x, got, what)]
    raise Fail("\n".join(lines))


def seeded_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([2024, seed])
