"""Tests of wavelearn/backend.py and the backend modules in wavelearn.backends."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch  # in the dev extra: these tests need it

import wavelearn
from wavelearn import backend as B
from wavelearn.backend import BackendUnavailableError

HAS_CUPY = importlib.util.find_spec("cupy") is not None
TORCH_HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(autouse=True)
def _restore_numpy_backend():
    """Every test starts and ends on the numpy backend."""
    wavelearn.set_backend("numpy")
    yield
    wavelearn.set_backend("numpy")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: no WAVELEARN_BACKEND, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("WAVELEARN_BACKEND", "PYTHONPATH")}
    env.update(extra)
    return env


def _run_python(code: str, tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in ``tmp_path`` (not the repo), capturing its output."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


# --------------------------------------------------------------------------
# The default, set_backend, get_backend
# --------------------------------------------------------------------------


def test_default_is_numpy(monkeypatch):
    monkeypatch.delenv("WAVELEARN_BACKEND", raising=False)
    monkeypatch.setattr(B, "_global_default", None)  # as after a fresh import
    backend = wavelearn.get_backend()
    assert backend.name == "numpy"
    assert backend.device == "cpu"
    assert backend.spec == "numpy"
    assert isinstance(wavelearn.asarray([1.0, 2.0]), np.ndarray)


def test_default_in_fresh_process_is_numpy(tmp_path):
    result = _run_python("import wavelearn; print(wavelearn.get_backend().spec)", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"


def test_set_backend_and_get_backend():
    returned = wavelearn.set_backend("torch")
    assert returned is wavelearn.get_backend()
    assert returned.name == "torch"
    assert returned.device == "cpu"
    assert returned.spec == "torch:cpu"
    assert "torch:cpu" in repr(returned)
    assert torch.is_tensor(wavelearn.asarray([1.0, 2.0]))

    wavelearn.set_backend("numpy")
    assert wavelearn.get_backend().name == "numpy"
    assert isinstance(wavelearn.asarray([1.0, 2.0]), np.ndarray)


@pytest.mark.parametrize("spec", ["numpy", "numpy:cpu", "NumPy", " numpy "])
def test_numpy_spellings(spec):
    assert wavelearn.set_backend(spec).spec == "numpy"


@pytest.mark.parametrize("spec", ["torch", "torch:cpu", "Torch", " torch:cpu "])
def test_torch_cpu_spellings(spec):
    assert wavelearn.set_backend(spec).spec == "torch:cpu"


def test_load_backend_is_cached():
    assert B.load_backend("torch") is B.load_backend("torch")
    assert B.load_backend("numpy") is B.load_backend("numpy")


def test_xp_namespaces():
    import array_api_compat.numpy as xp_numpy
    import array_api_compat.torch as xp_torch

    assert B.load_backend("numpy").xp is xp_numpy
    assert B.load_backend("torch").xp is xp_torch


def test_failed_set_backend_keeps_the_current_one():
    wavelearn.set_backend("torch")
    with pytest.raises(ValueError):
        wavelearn.set_backend("jax")
    assert wavelearn.get_backend().spec == "torch:cpu"


def test_set_backend_rejects_non_strings():
    with pytest.raises(TypeError, match="str"):
        wavelearn.set_backend(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# use_backend and threads
# --------------------------------------------------------------------------


def test_use_backend_nesting_restores_outer():
    assert wavelearn.get_backend().name == "numpy"
    with wavelearn.use_backend("torch") as outer:
        assert outer is wavelearn.get_backend()
        assert outer.name == "torch"
        with wavelearn.use_backend("numpy") as inner:
            assert inner.name == "numpy"
            assert wavelearn.get_backend().name == "numpy"
            with wavelearn.use_backend("torch:cpu"):
                assert wavelearn.get_backend().name == "torch"
            assert wavelearn.get_backend().name == "numpy"
        assert wavelearn.get_backend() is outer
    assert wavelearn.get_backend().name == "numpy"


def test_use_backend_restores_after_an_exception():
    with pytest.raises(RuntimeError, match="boom"):
        with wavelearn.use_backend("torch"):
            raise RuntimeError("boom")
    assert wavelearn.get_backend().name == "numpy"


def test_use_backend_with_unknown_name_changes_nothing():
    with pytest.raises(ValueError):
        with wavelearn.use_backend("nope"):
            pass  # pragma: no cover
    assert wavelearn.get_backend().name == "numpy"


def test_use_backend_does_not_change_the_global_default():
    with wavelearn.use_backend("torch"):
        assert B._global_default is not None
        assert B._global_default.name == "numpy"
    assert wavelearn.get_backend().name == "numpy"


def test_set_backend_inside_use_backend():
    with wavelearn.use_backend("torch"):
        with wavelearn.use_backend("numpy"):
            wavelearn.set_backend("torch")
            assert wavelearn.get_backend().name == "torch"
        # the outer block's own choice comes back
        assert wavelearn.get_backend().name == "torch"
    # and set_backend also changed the process-wide default
    assert wavelearn.get_backend().name == "torch"


def _backend_seen_by_new_thread() -> str:
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.append(wavelearn.get_backend().spec))
    thread.start()
    thread.join(timeout=60)
    assert seen, "thread did not run"
    return seen[0]


def test_new_thread_starts_from_global_default_not_from_use_backend():
    with wavelearn.use_backend("torch"):
        assert wavelearn.get_backend().name == "torch"
        assert _backend_seen_by_new_thread() == "numpy"
        assert wavelearn.get_backend().name == "torch"  # the main thread keeps its block


def test_new_thread_sees_set_backend():
    wavelearn.set_backend("torch")
    with wavelearn.use_backend("numpy"):
        assert _backend_seen_by_new_thread() == "torch:cpu"


def test_use_backend_in_a_thread_does_not_leak_to_main():
    entered = threading.Event()
    release = threading.Event()

    def worker() -> None:
        with wavelearn.use_backend("torch"):
            entered.set()
            release.wait(timeout=60)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert entered.wait(timeout=60)
        assert wavelearn.get_backend().name == "numpy"
    finally:
        release.set()
        thread.join(timeout=60)


# --------------------------------------------------------------------------
# WAVELEARN_BACKEND
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("torch", "torch:cpu"), ("torch:cpu", "torch:cpu"), ("numpy", "numpy"), ("", "numpy")],
)
def test_env_var_sets_the_default(tmp_path, value, expected):
    code = (
        "import wavelearn\n"
        "print(wavelearn.get_backend().spec)\n"
        "print(type(wavelearn.asarray([1.0])).__module__.split('.')[0])\n"
    )
    result = _run_python(code, tmp_path, WAVELEARN_BACKEND=value)
    assert result.returncode == 0, result.stderr
    spec, library = result.stdout.split()
    assert spec == expected
    assert library == expected.partition(":")[0]


def test_env_var_default_is_overridden_by_set_backend(tmp_path):
    code = "import wavelearn\nwavelearn.set_backend('numpy')\nprint(wavelearn.get_backend().spec)"
    result = _run_python(code, tmp_path, WAVELEARN_BACKEND="torch")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"


def test_env_var_with_unknown_name_fails_on_use(tmp_path):
    code = (
        "import wavelearn\n"
        "try:\n"
        "    wavelearn.get_backend()\n"
        "except ValueError as e:\n"
        "    print('ValueError', e)\n"
    )
    result = _run_python(code, tmp_path, WAVELEARN_BACKEND="tensorflow")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ValueError")
    assert "tensorflow" in result.stdout


# --------------------------------------------------------------------------
# Bad names, missing packages, missing devices
# --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["jax", "tensorflow", "", "np", "cuda"])
def test_unknown_name_lists_the_choices(spec):
    with pytest.raises(ValueError) as info:
        wavelearn.set_backend(spec)
    message = str(info.value)
    for name in ("'numpy'", "'cupy'", "'torch'"):
        assert name in message


@pytest.mark.parametrize("spec", ["numpy:cuda", "numpy:cuda:0", "numpy:1"])
def test_numpy_on_a_gpu_is_a_value_error(spec):
    with pytest.raises(ValueError, match="CPU"):
        wavelearn.set_backend(spec)


@pytest.mark.parametrize("spec", ["torch:bogus", "torch:cuda:x", "torch:mps"])
def test_torch_with_a_bad_device_is_a_value_error(spec):
    with pytest.raises(ValueError, match="torch"):
        wavelearn.set_backend(spec)


@pytest.mark.skipif(HAS_CUPY, reason="cupy is installed")
@pytest.mark.parametrize("spec", ["cupy", "cupy:1"])
def test_cupy_without_cupy_says_how_to_install(spec):
    with pytest.raises(BackendUnavailableError) as info:
        wavelearn.set_backend(spec)
    assert isinstance(info.value, ImportError)
    assert "pip install" in str(info.value)
    assert "cupy" in str(info.value).lower()
    assert wavelearn.get_backend().name == "numpy"


@pytest.mark.skipif(HAS_CUPY, reason="cupy is installed")
def test_use_backend_cupy_without_cupy():
    with pytest.raises(BackendUnavailableError, match="pip install"):
        with wavelearn.use_backend("cupy"):
            pass  # pragma: no cover
    assert wavelearn.get_backend().name == "numpy"


@pytest.mark.skipif(TORCH_HAS_CUDA, reason="torch sees a CUDA device")
@pytest.mark.parametrize("spec", ["torch:cuda", "torch:cuda:0"])
def test_torch_cuda_without_cuda(spec):
    with pytest.raises(BackendUnavailableError) as info:
        wavelearn.set_backend(spec)
    assert "CUDA" in str(info.value)
    assert wavelearn.get_backend().name == "numpy"


def test_torch_without_torch_says_how_to_install(tmp_path):
    # sys.modules['torch'] = None makes `import torch` raise ImportError
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "import wavelearn\n"
        "try:\n"
        "    wavelearn.set_backend('torch')\n"
        "except wavelearn.BackendUnavailableError as e:\n"
        "    print('unavailable:', e)\n"
    )
    result = _run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("unavailable:")
    assert "pip install" in result.stdout


@pytest.mark.gpu
def test_torch_cuda_on_a_gpu():
    backend = wavelearn.set_backend("torch:cuda")
    assert backend.spec == "torch:cuda:0"
    x = wavelearn.asarray(np.arange(4.0), dtype="float32")
    assert x.is_cuda
    assert B.backend_of(x).spec == "torch:cuda:0"
    np.testing.assert_array_equal(wavelearn.to_numpy(x), np.arange(4.0, dtype=np.float32))
    with pytest.raises(TypeError):
        wavelearn.array_namespace(x, torch.zeros(4))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUPY, reason="cupy is not installed")
def test_cupy_on_a_gpu():
    backend = wavelearn.set_backend("cupy")
    assert backend.spec == "cupy:0"
    x = wavelearn.asarray(np.arange(4.0)[::-1], dtype="float32")
    assert type(x).__module__.split(".")[0] == "cupy"
    np.testing.assert_array_equal(wavelearn.to_numpy(x), np.arange(4.0, dtype=np.float32)[::-1])
    with pytest.raises(TypeError):
        wavelearn.array_namespace(x, np.zeros(4))


# --------------------------------------------------------------------------
# Which backend owns an array
# --------------------------------------------------------------------------


def test_backend_of():
    assert B.backend_of(np.zeros(3)).spec == "numpy"
    assert B.backend_of(np.float64(1.0)).spec == "numpy"
    assert B.backend_of(torch.zeros(3)).spec == "torch:cpu"
    assert B.backend_of(torch.nn.Parameter(torch.zeros(3))).spec == "torch:cpu"
    for not_an_array in ([1.0, 2.0], 1.0, "abc", None):
        with pytest.raises(TypeError):
            B.backend_of(not_an_array)


def test_owns():
    numpy_backend = B.load_backend("numpy")
    torch_backend = B.load_backend("torch")
    assert numpy_backend.owns(np.zeros(2))
    assert not numpy_backend.owns(torch.zeros(2))
    assert torch_backend.owns(torch.zeros(2))
    assert not torch_backend.owns(np.zeros(2))


def test_array_namespace_single_library():
    import array_api_compat.numpy as xp_numpy
    import array_api_compat.torch as xp_torch

    assert wavelearn.array_namespace(np.zeros(2)) is xp_numpy
    assert wavelearn.array_namespace(np.zeros(2), None, np.ones(3)) is xp_numpy
    assert wavelearn.array_namespace(torch.zeros(2), torch.ones(1)) is xp_torch


def test_array_namespace_ignores_the_active_backend():
    import array_api_compat.numpy as xp_numpy

    with wavelearn.use_backend("torch"):
        assert wavelearn.array_namespace(np.zeros(2)) is xp_numpy


def test_array_namespace_refuses_two_libraries():
    with pytest.raises(TypeError, match="different backends") as info:
        wavelearn.array_namespace(np.zeros(2), torch.zeros(2))
    assert "to_numpy" in str(info.value) or "asarray" in str(info.value)
    with pytest.raises(TypeError):
        wavelearn.array_namespace(torch.zeros(2), None, np.zeros(2))


def test_array_namespace_without_arrays():
    with pytest.raises(TypeError):
        wavelearn.array_namespace()
    with pytest.raises(TypeError):
        wavelearn.array_namespace(None)
    with pytest.raises(TypeError):
        wavelearn.array_namespace([1.0, 2.0])


# --------------------------------------------------------------------------
# Moving data: to_numpy and asarray
# --------------------------------------------------------------------------


def test_numpy_torch_round_trip():
    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    t = wavelearn.asarray(x, backend="torch")
    assert torch.is_tensor(t)
    assert t.dtype == torch.float64
    assert t.shape == (3, 4)
    assert str(t.device) == "cpu"
    back = wavelearn.to_numpy(t)
    assert isinstance(back, np.ndarray)
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back, x)

    again = wavelearn.asarray(t, backend="numpy")
    assert isinstance(again, np.ndarray)
    np.testing.assert_array_equal(again, x)


@pytest.mark.parametrize("dtype", ["float32", np.float32, np.dtype("float32")])
def test_asarray_dtype_to_torch(dtype):
    t = wavelearn.asarray(np.arange(5), dtype=dtype, backend="torch")
    assert t.dtype == torch.float32
    np.testing.assert_array_equal(wavelearn.to_numpy(t), np.arange(5, dtype=np.float32))


@pytest.mark.parametrize("dtype", ["float64", np.float64, "complex128", "int32"])
def test_asarray_dtype_from_torch(dtype):
    t = torch.arange(5, dtype=torch.float32)
    x = wavelearn.asarray(t, dtype=dtype, backend="numpy")
    assert isinstance(x, np.ndarray)
    assert x.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(x, np.arange(5))


def test_asarray_dtype_torch_to_torch():
    t = torch.arange(4, dtype=torch.int64)
    out = wavelearn.asarray(t, dtype="float64", backend="torch")
    assert out.dtype == torch.float64
    assert wavelearn.asarray(t, backend="torch") is t  # already there: no copy


def test_asarray_uses_the_active_backend():
    assert isinstance(wavelearn.asarray([1, 2, 3]), np.ndarray)
    with wavelearn.use_backend("torch"):
        t = wavelearn.asarray([1.0, 2.0], dtype="float32")
        assert torch.is_tensor(t)
        assert t.dtype == torch.float32
        # an explicit backend wins over the active one
        assert isinstance(wavelearn.asarray([1.0], backend="numpy"), np.ndarray)


def test_asarray_accepts_a_backend_object():
    torch_backend = B.load_backend("torch")
    assert torch.is_tensor(wavelearn.asarray([1.0], backend=torch_backend))


def test_asarray_from_python_scalars_and_lists():
    assert wavelearn.asarray(2.5, backend="numpy").shape == ()
    t = wavelearn.asarray([[1, 2], [3, 4]], backend="torch")
    assert t.shape == (2, 2)
    assert wavelearn.asarray(True, backend="torch").dtype == torch.bool


def test_asarray_to_torch_from_reversed_and_read_only_arrays():
    # Reversed views (filters are often flipped with [::-1]) and read-only
    # views (NumpyBackend.as_strided) must move to torch without error or warning.
    x = np.arange(6.0)
    np.testing.assert_array_equal(wavelearn.to_numpy(wavelearn.asarray(x[::-1], backend="torch")),
                                  x[::-1])
    view = B.load_backend("numpy").as_strided(x, (3, 2), (2, 1))
    assert not view.flags.writeable
    t = wavelearn.asarray(view, backend="torch")
    np.testing.assert_array_equal(wavelearn.to_numpy(t), view)
    t += 1  # writing to the tensor leaves the read-only source alone
    np.testing.assert_array_equal(x, np.arange(6.0))


def test_to_numpy_of_torch_tensors_with_grad_and_lazy_views():
    w = torch.ones(3, requires_grad=True)
    np.testing.assert_array_equal(wavelearn.to_numpy(w * 2), np.full(3, 2.0))
    z = torch.tensor([1 + 2j, 3 - 4j])
    np.testing.assert_array_equal(wavelearn.to_numpy(z.conj()), np.array([1 - 2j, 3 + 4j]))
    np.testing.assert_array_equal(wavelearn.to_numpy(z.conj().imag), np.array([-2.0, 4.0]))


def test_to_numpy_of_numpy_and_array_likes():
    x = np.arange(3.0)
    assert wavelearn.to_numpy(x) is x
    np.testing.assert_array_equal(wavelearn.to_numpy([1, 2]), np.array([1, 2]))


# --------------------------------------------------------------------------
# as_strided counts strides in elements on every backend
# --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["numpy", "torch"])
def test_as_strided_in_elements(spec):
    backend = B.load_backend(spec)
    x = backend.asarray(np.arange(10.0))
    frames = backend.as_strided(x, (4, 3), (2, 1))  # 4 windows of 3, hop 2
    expected = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8]], dtype=float)
    np.testing.assert_array_equal(wavelearn.to_numpy(frames), expected)


# --------------------------------------------------------------------------
# import wavelearn stays light
# --------------------------------------------------------------------------


def test_import_wavelearn_imports_neither_torch_nor_cupy(tmp_path):
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import wavelearn\n"
        "assert wavelearn.get_backend().spec == 'numpy'\n"
        "wavelearn.set_backend('numpy')\n"
        "with wavelearn.use_backend('numpy'):\n"
        "    x = wavelearn.asarray([1.0, 2.0, 3.0, 4.0], dtype='float32')\n"
        "assert wavelearn.array_namespace(x) is not None\n"
        "assert wavelearn.to_numpy(x).dtype == np.float32\n"
        "if hasattr(wavelearn, 'dwt'):\n"
        "    wavelearn.dwt(np.arange(8.0), 'db2')\n"
        "for name in ('torch', 'cupy'):\n"
        "    assert name not in sys.modules, name + ' was imported'\n"
        "print('ok')\n"
    )
    result = _run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_exports():
    for name in (
        "BackendUnavailableError",
        "array_namespace",
        "asarray",
        "get_backend",
        "set_backend",
        "to_numpy",
        "use_backend",
    ):
        assert name in wavelearn.__all__
        assert hasattr(wavelearn, name)
    assert issubclass(BackendUnavailableError, ImportError)


# ---------------------------------------------------------------------------
# Backend.matmul: the products of Linear
# ---------------------------------------------------------------------------


def _operands(layout: str, dtype: torch.dtype, m: int = 37, k: int = 19, n: int = 23):
    """``a (m, k)`` and ``b (k, n)``, each row-major ('n') or a transposed view ('t')."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=g, dtype=dtype)
    b = torch.randn(k, n, generator=g, dtype=dtype)
    if layout[0] == "t":
        a = a.t().contiguous().t()
    if layout[1] == "t":
        b = b.t().contiguous().t()
    return a, b


@pytest.mark.parametrize("layout", ["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_matmul_is_the_product(layout, dtype):
    a, b = _operands(layout, dtype)
    got = B.load_backend("torch").matmul(a, b)
    want = a.double() @ b.double()
    assert got.dtype == dtype and got.shape == (37, 23)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(got.double(), want, rtol=tol, atol=tol)


def _spy_onednn(monkeypatch) -> tuple[object, list]:
    backend = B.backend_of(torch.zeros(1))  # the backend of CPU tensors
    if backend._onednn is None:
        pytest.skip("this torch build has no oneDNN linear")
    calls, real = [], backend._onednn

    def spy(*args):
        calls.append(args[0].dtype)
        return real(*args)

    monkeypatch.setattr(backend, "_onednn", spy)
    return backend, calls


def test_torch_matmul_float32_goes_to_onednn_the_rest_to_torch(monkeypatch):
    backend, calls = _spy_onednn(monkeypatch)
    backend.matmul(*_operands("tn", torch.float32))
    assert calls == [torch.float32]
    backend.matmul(*_operands("nn", torch.float64))  # oneDNN has no float64 product
    a, b = _operands("nn", torch.float32)
    backend.matmul(a[:, ::2], b[::2])  # neither row- nor column-major: oneDNN refuses it
    empty = backend.matmul(torch.ones(3, 0), torch.ones(0, 2))  # K = 0: oneDNN refuses it
    assert calls == [torch.float32]
    torch.testing.assert_close(empty, torch.zeros(3, 2))


def test_torch_matmul_copies_a_column_major_operand_into_pooled_memory(monkeypatch):
    """A weight gradient's ``dy^T`` (a transposed view) is copied row-major into memory
    from the pool and handed back after the product: the bits of the row-major product,
    and no fresh memory at the next one."""
    from wavelearn import buffers

    backend, calls = _spy_onednn(monkeypatch)
    g = torch.Generator().manual_seed(1)
    dy, x = torch.randn(640, 512, generator=g), torch.randn(640, 48, generator=g)
    a = dy.t()  # (512, 640) column-major: 1.25 MiB of float32, above buffers.MIN_BYTES
    buffers.clear()
    try:
        got = backend.matmul(a, x)  # (512, 48)
        assert buffers.held_bytes() == a.numel() * 4  # the copy went back to the pool
        again = backend.matmul(a, x)
        assert buffers.stats()["taken"] == 1 and buffers.held_bytes() == a.numel() * 4
    finally:
        buffers.clear()
    assert torch.equal(got, backend.matmul(a.contiguous(), x)) and torch.equal(got, again)
    assert calls == [torch.float32] * 3
    torch.testing.assert_close(got.double(), a.double() @ x.double(), rtol=1e-5, atol=1e-4)


def test_torch_matmul_under_autograd_is_recorded(monkeypatch):
    backend, calls = _spy_onednn(monkeypatch)
    a, b = _operands("nn", torch.float32)
    a.requires_grad_(True)
    backend.matmul(a, b).sum().backward()
    assert calls == []  # torch.matmul, which autograd differentiates
    torch.testing.assert_close(a.grad, b.sum(dim=1).expand(37, -1))
    with torch.no_grad():
        backend.matmul(a, b)
    assert calls == [torch.float32]


@pytest.mark.parametrize("name", ["numpy", "torch"])
def test_linear_does_its_three_products_through_backend_matmul(name, monkeypatch):
    from wavelearn.nn import Linear

    with wavelearn.use_backend(name):
        layer = Linear(5, 3, rng=0)
        x = wavelearn.asarray(np.ones((2, 4, 5), dtype=np.float32))
    backend = B.backend_of(x)
    shapes, real = [], backend.matmul

    def spy(a, b, out=None):
        shapes.append((tuple(a.shape), tuple(b.shape)))
        return real(a, b, out=out)

    monkeypatch.setattr(backend, "matmul", spy)
    layer.backward(layer.forward(x))
    assert shapes == [((8, 5), (5, 3)), ((3, 8), (8, 5)), ((8, 3), (3, 5))]


def test_onednn_op_is_probed_before_use():
    """An internal op: one that fails or gives another product is not used."""
    from types import SimpleNamespace

    import wavelearn.backends.torch as torch_backend

    def fake_torch(op):
        return SimpleNamespace(backends=torch.backends, arange=torch.arange,
                               float32=torch.float32, equal=torch.equal,
                               ops=SimpleNamespace(mkldnn=SimpleNamespace(_linear_pointwise=op)))

    def changed(*args):
        raise RuntimeError("_linear_pointwise() got an unexpected argument")

    def good(x, w, *rest):
        return x @ w.T

    assert torch_backend._onednn_linear(fake_torch(changed)) is None
    assert torch_backend._onednn_linear(fake_torch(lambda x, w, *rest: x @ w.T + 1)) is None
    assert torch_backend._onednn_linear(fake_torch(None)) is None
    assert torch_backend._onednn_linear(fake_torch(good)) is good
