"""The tutorial notebooks: in sync with their sources, stored executed, and runnable.

Each tutorial is written as a jupytext "percent" file, ``tutorials/NN_name.py``
(the text that is reviewed and edited), and stored as ``NN_name.ipynb`` with
its outputs, so that it renders with pictures on a code host.
``python tutorials/build.py`` regenerates and re-executes the notebooks.

These tests check, for every ``tutorials/*.ipynb``:

* its markdown and code cells are exactly those of its ``.py`` source
  (``jupytext.read`` of the ``.py`` against ``nbformat.read`` of the notebook);
* it is stored executed: every code cell ran, once, top to bottom, and the
  file stays small;
* it runs top to bottom in a fresh kernel of *this* Python (checked inside the
  kernel), with ``MPLBACKEND=Agg`` and ``WAVELEARN_TUTORIAL_QUICK=1`` (which
  notebooks may use to shrink their expensive cells).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
MAX_BYTES = 500_000
"""Largest stored notebook; figures are saved at a modest dpi to stay well below."""
CELL_TIMEOUT = 300
"""Seconds one cell may run under the test (quick mode, 2 CPU cores)."""
REBUILD = "python tutorials/build.py {name}.py"


def _load_build():
    spec = importlib.util.spec_from_file_location("tutorials_build", TUTORIALS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _cells(nb) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_there_are_tutorials():
    assert NOTEBOOKS, f"no notebooks in {TUTORIALS}"


def test_every_source_has_a_notebook():
    missing = [p.name for p in build.sources() if not p.with_suffix(".ipynb").exists()]
    assert not missing, f"sources without a notebook: {missing}; run: python tutorials/build.py"


def test_readme_links_every_tutorial_in_order():
    readme = (TUTORIALS.parent / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\(tutorials/(\d\d[a-z]?_\w+)\.ipynb\)", readme)
    assert links == [p.stem for p in NOTEBOOKS], "README.md's tutorial list is not the notebooks"
    table = (TUTORIALS / "README.md").read_text(encoding="utf-8")
    assert re.findall(r"\((\d\d[a-z]?_\w+)\.ipynb\)", table) == [p.stem for p in NOTEBOOKS]


def test_sources_are_the_notebooks_in_order():
    assert [p.stem for p in build.sources()] == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_matches_its_source(notebook: Path):
    source = notebook.with_suffix(".py")
    assert source.exists(), f"{notebook.name} has no jupytext source {source.name}"
    expected = _cells(jupytext.read(source, fmt="py:percent"))
    stored = _cells(nbformat.read(notebook, as_version=4))
    fix = f"edit {source.name}, then run: {REBUILD.format(name=notebook.stem)}"
    for i, (want, got) in enumerate(zip(expected, stored, strict=False)):
        assert got == want, (
            f"{notebook.name} cell {i} differs from {source.name} ({fix}):\n"
            f"--- source ({want[0]}):\n{want[1]}\n--- notebook ({got[0]}):\n{got[1]}"
        )
    assert len(stored) == len(expected), (
        f"{notebook.name} has {len(stored)} cells, {source.name} has {len(expected)} ({fix})"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stored_executed(notebook: Path):
    size = notebook.stat().st_size
    assert size <= MAX_BYTES, f"{notebook.name} is {size} bytes (limit {MAX_BYTES}): lower the dpi"
    nb = nbformat.read(notebook, as_version=4)
    counts = [cell.execution_count for cell in nb.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{notebook.name} was not stored executed top to bottom in one fresh kernel "
        f"(execution counts {counts}); run: {REBUILD.format(name=notebook.stem)}"
    )
    errors = [o for cell in nb.cells if cell.cell_type == "code"
              for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{notebook.name} is stored with an error output"


KERNEL_CHECK = "import sys\nprint(repr(sys.executable))\nprint(repr(sys.prefix))"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(notebook: Path):
    nb = jupytext.read(notebook.with_suffix(".py"), fmt="py:percent")
    nb.cells.append(nbformat.v4.new_code_cell(KERNEL_CHECK))
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", WAVELEARN_TUTORIAL_QUICK="1", WAVELEARN_STATIC_FIGURES="1",
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    build.execute(nb, timeout=CELL_TIMEOUT, env=env)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs).split("\n")
    assert printed[:2] == [repr(sys.executable), repr(sys.prefix)], (
        f"the notebook ran in another Python: {printed[:2]}, expected {sys.executable}"
    )
