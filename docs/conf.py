"""Sphinx configuration of the wavelearn website (tutorials + API reference).

Build it from the repository root, with the ``docs`` extra installed::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The notebooks are rendered with their stored outputs (``nb_execution_mode =
'off'``): nothing is executed. MathJax is served from the build folder (the
``sphinx-mathjax-offline`` package ships its files), so formulas render
without a network. The tutorials live in ``tutorials/``; each build copies
the notebooks and their pages into ``docs/tutorials/`` (not tracked).
"""

from __future__ import annotations

import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
TUTORIALS = ROOT / "tutorials"


def copy_tutorials() -> None:
    """Mirror the notebooks, the notation and references pages and the solutions."""
    target = DOCS / "tutorials"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    for path in sorted(TUTORIALS.glob("*.ipynb")):
        shutil.copy2(path, target / path.name)
    for name in ("notation.md", "references.md", "solutions.py"):
        shutil.copy2(TUTORIALS / name, target / name)
    shutil.copytree(TUTORIALS / "figures", target / "figures")  # images the pages link to
    notebooks = "\n".join(path.stem for path in sorted(TUTORIALS.glob("*.ipynb")))
    toctree = f"\n\n```{{toctree}}\n:hidden:\n\n{notebooks}\nnotation\nreferences\n```\n"
    readme = (TUTORIALS / "README.md").read_text(encoding="utf-8")
    (target / "index.md").write_text(readme + toctree, encoding="utf-8")


copy_tutorials()

project = "wavelearn"
author = "the wavelearn authors"
copyright = "the wavelearn authors, MIT licence"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 files copied into _static/mathjax
]

exclude_patterns = ["_build", "check_site.py", "tutorials/solutions.py"]
nb_execution_mode = "off"  # render the stored outputs, never execute
nb_merge_streams = True
nb_render_markdown_format = "myst"  # Markdown outputs (tables with math) parsed like the cells
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 2  # '## Mallat 2009' -> #mallat-2009, as on GitHub

autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "pydata_sphinx_theme"
html_title = "wavelearn"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list[str] = []

# Section headers that napoleon does not know, used by some class docstrings
# (e.g. ``WaveletTransformer``): map them to Google-style sections.
_SECTION_ALIASES = {
    "Args (the ``spectrans`` signature):": "Args:",
    "Keyword-only extras:": "Keyword Args:",
}


def _google_sections(app, what, name, obj, options, lines) -> None:
    for i, line in enumerate(lines):
        if line.strip() in _SECTION_ALIASES:
            indent = line[: len(line) - len(line.lstrip())]
            lines[i] = indent + _SECTION_ALIASES[line.strip()]


def setup(app):
    app.connect("autodoc-process-docstring", _google_sections, priority=100)  # before napoleon
