"""Shared test set-up: Hypothesis profiles and the ``gpu`` marker.

* Hypothesis profiles: ``ci`` (derandomized, so a CI run is repeatable) and
  ``dev`` (random examples); chosen with the ``HYPOTHESIS_PROFILE`` environment
  variable, ``dev`` by default. ``.ci/run`` sets ``HYPOTHESIS_PROFILE=ci``.
* Tests marked ``@pytest.mark.gpu`` are skipped unless CuPy sees a GPU or
  ``torch.cuda.is_available()``. cupy and torch are imported only when a
  collected test carries that marker, so the rest of the suite never pays for
  (or depends on) importing them.
"""

from __future__ import annotations

import functools
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=40)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev") or "dev")


def _cupy_has_device() -> bool:
    try:
        import cupy
    except Exception:  # not installed, or a broken CUDA install
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver / no GPU
        return False


def _torch_has_cuda() -> bool:
    try:
        import torch
    except Exception:
        return False
    try:
        return bool(torch.cuda.is_available())
    except Exception:
        return False


@functools.cache
def has_cuda() -> bool:
    """True when CuPy sees a GPU or ``torch.cuda.is_available()``."""
    return _cupy_has_device() or _torch_has_cuda()


@pytest.fixture(name="has_cuda")
def has_cuda_fixture() -> bool:
    """The value of :func:`has_cuda`, as a fixture."""
    return has_cuda()


@pytest.fixture(name="level_path")
def level_path_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DWT's level-by-level path only: the whole-transform matrices of
    :mod:`wavelearn.dwt.dense` and the gathered levels of :mod:`wavelearn.dwt.gathered`
    switched off (for tests of that path's own code)."""
    from wavelearn.dwt import dense, gathered

    monkeypatch.setattr(dense, "DENSE_MAX_ENTRIES", 0)
    monkeypatch.setattr(gathered, "USE_GATHERED", False)


@pytest.fixture(name="blas_path")
def blas_path_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocked DWT's middle by BLAS products: the compiled loops of
    :mod:`wavelearn.dwt.compiled` and the gathered levels switched off (for tests of
    the BLAS code)."""
    from wavelearn.dwt import compiled, gathered

    monkeypatch.setattr(compiled, "USE_COMPILED", False)
    monkeypatch.setattr(gathered, "USE_GATHERED", False)


@pytest.fixture(name="count_calls")
def count_calls_fixture(monkeypatch: pytest.MonkeyPatch):
    """``count_calls(module, names)``: a dict ``name -> calls`` that counts, for the
    rest of the test, every call of ``module.name`` (which still runs)."""

    def install(module, names) -> dict[str, int]:
        calls = dict.fromkeys(names, 0)
        for name in names:
            real = getattr(module, name)

            def counted(*args, _real=real, _name=name, **kwargs):
                calls[_name] += 1
                return _real(*args, **kwargs)

            monkeypatch.setattr(module, name, counted)
        return calls

    return install


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items or has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (CuPy with a device, or torch.cuda)")
    for item in gpu_items:
        item.add_marker(skip)
