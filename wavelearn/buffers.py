"""Recycling the big arrays of the caches that a training forward replaces.

A training forward keeps what its backward will need in fresh arrays and drops the
previous step's. An array of more than a few MiB is its own ``mmap`` in glibc's
malloc: dropping it hands its pages back to the kernel, and the next step's array
of the same shape gets new pages, which the kernel zeroes on first touch (a page
fault per 4 KiB or 2 MiB page). For the spectrans example (batch 32 x 512, D 768,
12 layers: ~9 GB of caches per forward) that is seconds of system time per forward
on a virtual machine (:mod:`wavelearn.memory` says more).

So when a layer's ``cache`` is replaced (:attr:`wavelearn.nn.Module.cache`), the
big NumPy arrays of the old cache go to a pool here -- only those that nothing
else refers to -- and the next big array of as many values of the same dtype that
a layer asks for (:func:`empty`: the next layer's, or the same layer's at the next
step; reshaped, so that the ``(B N, D)`` rows of one layer serve the ``(B, N, D)``
array of another) is taken from the pool instead of fresh memory. Temporaries that
a layer has consumed go there too (:func:`give`: a block's LayerNorm output once the
mixer has read it, the residual stream between blocks, ``waverec``'s level
outputs, and in the backward each block's incoming gradient and the gradients
between its layers), and the gradients that ``Linear``, ``LayerNorm`` and the
pointwise mixing write are taken from it. Unlike :func:`wavelearn.keep_freed_memory`
this changes nothing outside wavelearn's own arrays. The spectrans example forward:
38-40 thousand page faults per forward with the caches pooled, 2,146 with the
temporaries too (74 thousand before), and 1.15-1.17x its matrix products. A
training step at N = 262,144 (D 64, 2 layers): 557 thousand page faults with the
forward pooled, 291 thousand with the backward too.

The price: memory the step would have freed stays in the pool until a request of
its size comes. At a step's peak that is at most two arrays of the feed-forward's
hidden size (tested; 7-17% of the peak of a one-layer model, 7-12% with the
forward's arrays alone; 4% of the two-layer step above).

What "nothing else refers to it" means, exactly: the array (or, for a view, the
array that owns the memory) is referred to by the old cache alone -- by Python
reference counts, which also count views (a view refers to the array that owns
its memory) and buffer exports (a ``memoryview``, ``torch.from_numpy``). An array
that you kept (``y = layer.cache['x']``), or a view of it, stays yours. At import
the counting is checked on probes (:func:`_counting_works`); where it does not
behave as expected (another Python), and on a free-threaded Python, nothing is
pooled.

An array that no layer takes within :data:`MAX_AGE` offers is dropped, and the
pool holds at most :data:`MAX_BYTES` (the oldest arrays go first): in a training
loop it holds about one layer's caches between the layer that drops them and the
next that takes them. :func:`clear` empties it, ``ENABLED = False`` switches it off.
"""

from __future__ import annotations

import math
import operator
import sys
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

ENABLED = True
MIN_BYTES = 1 << 20  # smaller arrays come from malloc's heap: no page faults to save
MAX_BYTES = 1 << 30  # pooled at most; the oldest arrays are dropped first
MAX_AGE = 64  # offers after which an array nobody took is dropped

_LOCK = threading.Lock()
_POOL: OrderedDict[int, tuple[tuple, np.ndarray, int]] = OrderedDict()  # id -> (key, a, offer)
_BY_KEY: dict[tuple, list[int]] = {}  # (size, dtype) -> ids, newest last
_STATE = {"held": 0, "offers": 0, "taken": 0}  # bytes pooled, offers and takes so far


def empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``np.empty(shape, dtype)``, from the pool where it holds an array of as many values
    of this dtype (then that array reshaped: a view of it where its shape differs, as
    ``(B N, D)`` rows for a ``(B, N, D)`` request). Its values are whatever was there:
    write every element."""
    dtype, shape = np.dtype(dtype), tuple(shape)
    key = (math.prod(shape), dtype.str)
    if _BY_KEY:
        with _LOCK:
            ids = _BY_KEY.get(key)
            if ids:
                _STATE["taken"] += 1
                a = _remove(ids[-1])
                return a if a.shape == shape else a.reshape(shape)  # (C order: a view)
    return np.empty(shape, dtype)


def offer(cache: dict) -> None:
    """Pool the big arrays of ``cache`` (a cache just replaced) that nothing else refers
    to. The caller drops ``cache`` right after."""
    if not ENABLED or not _WORKS:
        return
    _put(_poolable(cache))


_UFUNCS = {operator.add: np.add, operator.sub: np.subtract, operator.mul: np.multiply}


def combine(op: Any, a: Any, b: Any) -> Any:
    """``op(a, b)`` for ``op`` one of ``operator.add``, ``sub``, ``mul``: for two NumPy
    arrays written into memory from the pool (NumPy's ufunc with ``out=``: the same
    values), for other arrays the operator itself."""
    if not (type(a) is np.ndarray and type(b) is np.ndarray):
        return op(a, b)
    out = empty(np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b))
    return _UFUNCS[op](a, b, out=out)


def give(a: Any) -> None:
    """Pool ``a``, a temporary its caller is done with, if it is a big NumPy array that
    nothing else refers to (the caller's variable aside): a layer's output that the next
    layer consumed, say. Anything else is left alone."""
    if not ENABLED or not _WORKS or type(a) is not np.ndarray:
        return
    owner = _sole_owner(a)  # (the caller's variable, this argument: as a container's)
    _put([] if owner is None else [owner])


def give_all(arrays: list) -> None:
    """Pool the arrays of the list ``arrays``, temporaries its caller is done with (the
    gradients of a mixing layer's bands, say), where nothing else refers to them; views
    sharing one array (the two bands of a DWT level) are pooled together, as
    :func:`offer` does. The list is emptied."""
    if not ENABLED or not _WORKS:
        arrays.clear()
        return
    held = {"arrays": list(arrays)}  # a list that only this dict refers to
    arrays.clear()
    offer(held)


def clear() -> None:
    """Empty the pool (its arrays are freed as usual) and zero the counts of :func:`stats`."""
    with _LOCK:
        _POOL.clear()
        _BY_KEY.clear()
        _STATE.update(held=0, offers=0, taken=0)


def held_bytes() -> int:
    """Bytes now in the pool."""
    return _STATE["held"]


def stats() -> dict[str, int]:
    """``held`` (bytes now in the pool), ``offers`` (caches dropped so far) and ``taken``
    (arrays served from the pool so far)."""
    return dict(_STATE)


# ---------------------------------------------------------------------------
# Who refers to what
# ---------------------------------------------------------------------------


def _refs(x: Any) -> int:
    return sys.getrefcount(x)


_CALL = _refs(object())  # what a call of _refs adds to a count (its argument, twice)


def _poolable(cache: dict) -> list[np.ndarray]:
    """The arrays of ``cache`` that :func:`offer` may pool, if nothing refers to ``cache``
    itself but the caller of :func:`offer` and :func:`offer` (a cache also kept
    elsewhere, say by a block that restores it for its backward, gives none). An array
    whose memory several views in ``cache`` share (the two bands of a DWT level) is
    pooled if those views are all that refer to it."""
    owners: list[np.ndarray] = []
    shared: dict[int, list] = {}  # id(owner) -> [owner, how many of its views cache holds]
    if _refs(cache) == 3 + _CALL:  # the caller's variable, offer's and this argument
        _collect(cache, owners, shared, 0)
    for owner, count in shared.values():
        if _refs(owner) == count + 2 + _CALL:  # its views' bases, shared's list, this loop
            owners.append(owner)
    return owners


def _collect(container: Any, owners: list, shared: dict, depth: int) -> None:
    """Append to ``owners`` the poolable arrays reachable from ``container`` (a dict, list
    or tuple that only its parent refers to) through containers that only it refers to;
    count in ``shared`` the views of other arrays found so (:func:`_poolable` checks
    whether they are all that refer to those)."""
    values = container.values() if isinstance(container, dict) else container
    for v in values:  # v: referred to by the container and by this loop
        if type(v) is np.ndarray:
            if _refs(v) != 2 + _CALL:  # held elsewhere too
                continue
            owner = _memory_owner(v)
            if owner is v:
                owners.append(v)
            elif owner is not None:
                shared.setdefault(id(owner), [owner, 0])[1] += 1
        elif isinstance(v, (dict, list, tuple)) and depth < 4 and _refs(v) == 2 + _CALL:
            _collect(v, owners, shared, depth + 1)


def _memory_owner(v: np.ndarray) -> np.ndarray | None:
    """The array owning ``v``'s memory (``v`` or its base), if it may be pooled: a NumPy
    array that owns its memory, of plain values, big, writeable, contiguous. Else None."""
    owner = v if v.base is None else v.base
    if (type(owner) is not np.ndarray or owner.base is not None or not owner.flags.owndata
            or owner.dtype.hasobject):
        return None
    ok = owner.nbytes >= MIN_BYTES and owner.flags.writeable and owner.flags.c_contiguous
    return owner if ok else None


def _sole_owner(v: np.ndarray) -> np.ndarray | None:
    """:func:`_memory_owner` of ``v``, if nothing refers to ``v`` but its caller's variable
    and :func:`give`'s argument, and nothing to the owner but ``v``. Else None."""
    if _refs(v) != 3 + _CALL:  # the caller's variable, give's argument, this argument
        return None
    owner = _memory_owner(v)
    if owner is not None and owner is not v and _refs(owner) != 2 + _CALL:  # v's base, local
        return None
    return owner


def _counting_works() -> bool:
    """Whether :func:`_collect` pools exactly the arrays that nothing else refers to, on
    probes: an array alone, a view alone, an array also kept elsewhere, a view of a kept
    array, an array also held by a view kept elsewhere."""
    n = MIN_BYTES // 8
    kept = np.zeros(n)
    base_of_kept_view = np.zeros(n)
    kept_view = base_of_kept_view[:]  # noqa: F841 (kept alive: the probe needs it)
    alone, viewed_alone = np.zeros(n), np.zeros(n).reshape(2, -1)
    pair, half_kept = np.zeros((2, n)), np.zeros((2, n))
    other_half = half_kept[1]  # noqa: F841 (kept alive: the probe needs it)
    cache = {"alone": alone, "view": viewed_alone, "kept": kept,
             "kept_base": base_of_kept_view, "list": [np.zeros(n)],
             "pair": (pair[0], pair[1]), "half": half_kept[0]}
    del alone, viewed_alone, pair, half_kept

    def offer_like(c: dict) -> list[np.ndarray]:  # the depth of offer's call
        return _poolable(c)

    owners = offer_like(cache)
    kept_cache = {"alone": np.zeros(n)}
    holder = [kept_cache]  # noqa: F841 (a second reference to kept_cache)
    also_kept = offer_like(kept_cache)
    expected = [cache["alone"], cache["list"][0], cache["view"].base, cache["pair"][0].base]

    def give_like(a: np.ndarray) -> np.ndarray | None:  # the depth of give's call
        return _sole_owner(a)

    given, named_twice = np.zeros(n), np.zeros(n)
    second_name = named_twice  # noqa: F841 (a second reference to named_twice)
    return (len(owners) == 4 and not also_kept
            and all(a is b for a, b in zip(owners, expected, strict=True))
            and give_like(given) is given and give_like(named_twice) is None)


# (a free-threaded Python counts references per thread: no pooling there)
_WORKS = getattr(sys, "_is_gil_enabled", lambda: True)() and _counting_works()


# ---------------------------------------------------------------------------
# The pool
# ---------------------------------------------------------------------------


def _put(owners: list[np.ndarray]) -> None:
    """One offer: pool ``owners``, then drop what is too old or too much."""
    with _LOCK:
        _STATE["offers"] += 1
        for a in owners:
            _add(a)
        _drop_old()


def _add(a: np.ndarray) -> None:
    key = (a.size, a.dtype.str)  # what empty() looks for: as many values of the dtype
    _POOL[id(a)] = (key, a, _STATE["offers"])
    _BY_KEY.setdefault(key, []).append(id(a))
    _STATE["held"] += a.nbytes


def _drop_old() -> None:
    """Drop the oldest arrays while the pool holds too much or they are too old."""
    while _POOL:
        ident, (_, a, offer) = next(iter(_POOL.items()))
        if _STATE["held"] <= MAX_BYTES and _STATE["offers"] - offer <= MAX_AGE:
            return
        _remove(ident)


def _remove(ident: int) -> np.ndarray:
    key, a, _ = _POOL.pop(ident)
    ids = _BY_KEY[key]
    ids.remove(ident)
    if not ids:
        del _BY_KEY[key]
    _STATE["held"] -= a.nbytes
    return a
