"""``Parameter`` and ``Module``: the bookkeeping shared by every layer.

A wavelearn layer is an explicit pair of methods, in the style of cs231n and
llm.c:

* ``forward(x)`` computes the output and keeps in ``self.cache`` exactly what
  the backward pass will need;
* ``backward(dy)`` takes :math:`\\partial L / \\partial y`, returns
  :math:`\\partial L / \\partial x`, and **adds** (``+=``) the gradient of every
  parameter into ``param.grad``. Adding, never overwriting, is what makes a
  weight shared by two layers (tied embeddings) receive the sum of both
  contributions.

There is no autograd: the chain rule is written out by hand in every layer.
:class:`Module` only does the bookkeeping: finding parameters (recursively,
with dotted names), switching train/eval mode, zeroing gradients, and reading
or writing a *state dict* (name -> array).

Arrays are created on the *active* backend (:func:`wavelearn.get_backend`) when
a layer is built; operations run on whatever backend their inputs come from.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from wavelearn import buffers
from wavelearn.backend import array_namespace, backend_of, get_backend, to_numpy

DEFAULT_DTYPE = np.float32


class Parameter:
    """A trainable array and its gradient.

    Attributes:
        data: the array (numpy, cupy or torch), created on the active backend.
        grad: ``None`` until the first ``backward`` (or ``zero_grad``); then an
            array of the same shape, dtype and backend as ``data`` to which
            every ``backward`` adds its contribution.
    """

    def __init__(self, data: Any) -> None:
        self.data = data
        self.grad: Any = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    def accumulate_grad(self, g: Any) -> None:
        """``grad += g`` (``grad = g`` the first time). ``g`` must be a fresh array."""
        self.grad = g if self.grad is None else self.grad + g

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


def new_parameter(values: np.ndarray, dtype: Any = None) -> Parameter:
    """A :class:`Parameter` holding numpy ``values`` moved to the active backend.

    Initial values are always drawn with numpy, so every backend starts from
    bit-identical parameters for the same seed.
    """
    return Parameter(get_backend().asarray(np.asarray(values), dtype=numpy_dtype(dtype)))


def numpy_dtype(dtype: Any) -> np.dtype:
    """A numpy dtype from ``None`` (the float32 default), a name, a numpy or a torch dtype."""
    if dtype is None:
        return np.dtype(DEFAULT_DTYPE)
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).removeprefix("torch."))


def make_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator: ``rng`` itself, a new one seeded with an int, or a fresh one."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def may_overwrite(x: Any) -> bool:
    """Whether a layer may write over its temporary ``x`` in place: always, except for
    a torch tensor that autograd tracks (the tests run the layers under torch autograd
    as an oracle, and autograd needs the values it recorded)."""
    return not getattr(x, "requires_grad", False)


def cast_to(x: Any, dtype: Any) -> Any:
    """``x`` converted to ``dtype`` when it differs (no copy otherwise).

    Layers call this on their inputs so a float64 input never silently promotes
    a float32 layer (and its output) to float64. ``x`` must be an array (a
    TypeError names what it got: ``layer.backward(None)`` ends here).
    """
    backend_of(x)  # TypeError for None, lists, ...
    if x.dtype == dtype:
        return x
    return array_namespace(x).astype(x, dtype)


class LoadResult(NamedTuple):
    """What :meth:`Module.load_state_dict` found missing or unexpected (non-strict)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Cache(dict):
    """A layer's forward cache. Reading an entry that no forward stored means
    ``backward`` ran before (or without) ``forward``: a RuntimeError says so,
    instead of a bare KeyError from inside the layer."""

    __slots__ = ("owner",)

    def __init__(self, owner: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner

    def __missing__(self, key: str) -> Any:
        raise RuntimeError(f"{self.owner}.backward() needs a forward() first (its cache has "
                           f"no {key!r}: no forward ran since the layer was built or reset)")

    def __reduce__(self) -> tuple:
        return Cache, (self.owner, dict(self))


class Module:
    """Base class of layers and models.

    Subclasses assign ``Parameter`` objects, child ``Module`` objects and
    lists/tuples of modules as attributes in ``__init__`` and define
    ``forward`` and ``backward``. Attribute order gives the parameter order.
    ``self.cache`` is a :class:`Cache` (whatever dict is assigned to it).
    Calling a module (``layer(x)``) empties its cache before ``forward`` runs, and
    a replaced cache hands its big NumPy arrays that nothing else refers to to
    :mod:`wavelearn.buffers`, for the next arrays of the same shape.
    """

    def __init__(self) -> None:
        self.training = True
        self.cache = {}

    @property
    def cache(self) -> Cache:
        return self._cache

    @cache.setter
    def cache(self, value: dict[str, Any]) -> None:
        old = self.__dict__.get("_cache")
        self._cache = value if isinstance(value, Cache) else Cache(type(self).__name__, value)
        if old:
            buffers.offer(old)  # its big arrays that nothing else refers to: for the next ones

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.cache = {}  # the last call's cache first: its big arrays may serve this call's
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def backward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    # -- the module tree -----------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct submodules, in attribute order: ``('mlp', m)``, ``('blocks.0', b)``, ..."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every module below it, depth first, with dotted names.

        ``('', model)``, ``('blocks.0', b)``, ``('blocks.0.mixing', m)``, ...;
        ``prefix`` is put in front of every name (``'model'``: ``'model.blocks.0'``).
        """
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        """This module and every module below it (as :meth:`named_modules`, without names)."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """All parameters, recursively, with dotted names (``'blocks.0.mixing.weight'``).

        A parameter reachable under two names (tied weights) is yielded once,
        under the first name met, so optimizers update it once.
        """
        seen: set[int] = set()
        for name, p in self._all_named_parameters(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _all_named_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child._all_named_parameters(f"{prefix}{name}.")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        """Total number of scalars in all (distinct) parameters."""
        return sum(math.prod(p.shape) for p in self.parameters())

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active) here and in every submodule."""
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Set every ``param.grad`` to zeros (same shape, dtype, backend as the data)."""
        for p in self.parameters():
            p.grad = array_namespace(p.data).zeros_like(p.data)

    # -- state dicts ---------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """``{name: array}`` -- *copies* of the parameter arrays, on their backend."""
        return {
            name: array_namespace(p.data).asarray(p.data, copy=True)
            for name, p in self.named_parameters()
        }

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> LoadResult:
        """Copy arrays from ``state`` into the parameters (any backend -> this module's
        backend and dtype).

        Raises:
            ValueError: naming every missing and unexpected key (when ``strict``)
                and every shape mismatch as ``key: expected (..), got (..)``.
                Nothing is loaded when it raises.
        """
        _check_state(state, type(self).__name__)
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        problems = [f"missing keys: {missing}"] if strict and missing else []
        problems += [f"unexpected keys: {unexpected}"] if strict and unexpected else []
        common = [k for k in params if k in state]
        for key in common:
            got = tuple(state[key].shape)
            if got != params[key].shape:
                problems.append(f"{key}: expected shape {params[key].shape}, got {got}")
        if problems:
            raise ValueError(f"load_state_dict of {type(self).__name__}: " + "; ".join(problems))
        for key in common:
            params[key].data = move_like(state[key], params[key].data)
        return LoadResult(missing, unexpected)


def _check_state(state: Any, owner: str) -> None:
    """A state dict is a mapping ``{name: array}``; TypeError naming the entry otherwise."""
    if not isinstance(state, Mapping):
        raise TypeError(f"load_state_dict of {owner}: state must be a mapping of parameter "
                        f"name -> array (as state_dict() returns), got {type(state).__name__}")
    for key, value in state.items():
        try:
            xp = backend_of(value).xp
        except TypeError:
            raise TypeError(f"load_state_dict of {owner}: state[{key!r}] must be an array "
                            f"(numpy, cupy or torch), got {type(value).__name__}") from None
        if not xp.isdtype(value.dtype, ("bool", "integral", "real floating")):
            raise TypeError(f"load_state_dict of {owner}: state[{key!r}] must hold real "
                            f"numbers, got dtype {value.dtype}")


def move_like(value: Any, like: Any) -> Any:
    """A copy of ``value`` (any backend) on the backend, device and dtype of ``like``."""
    moved = backend_of(like).asarray(np.array(to_numpy(value)))
    return cast_to(moved, like.dtype)
