"""Rebuild the tutorial notebooks from their jupytext sources.

The text of every tutorial lives in ``tutorials/NN_name.py`` (jupytext
"percent" format: ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown
cell). The ``.ipynb`` next to it is generated from it, executed, and stored
with its outputs so that it renders (with pictures) on a code host; its
figures are re-encoded as palette PNGs to keep the file small.

Usage, from the repository root with the virtual environment active::

    python tutorials/build.py                 # convert and execute every tutorial
    python tutorials/build.py 03_multilevel_ecg.py 05_wavelet_mixing.py
    python tutorials/build.py --no-execute    # only sync the cells, keep old outputs

Always edit the ``.py`` file, then run this script; ``tests/test_tutorials.py``
fails when a notebook's cells differ from its source, and executes every
notebook (with ``WAVELEARN_TUTORIAL_QUICK=1`` and the Agg matplotlib backend).

The notebooks run in a kernel started from *this* Python (``sys.executable``):
:func:`python_kernel_path` writes a ``python3`` kernel spec pointing at it into
a temporary directory that is put first on ``JUPYTER_PATH``, so a ``python3``
kernel installed elsewhere on the machine is never picked by mistake.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_GLOBS = ("[0-9][0-9]_*.py", "[0-9][0-9][a-z]_*.py")
"""Tutorial sources: a two-digit number, optionally one letter (``05b``: a notebook inserted
between 05 and 06), an underscore, a name (``build.py`` and ``solutions.py`` are not ones)."""


def sources() -> list[Path]:
    """Every tutorial source in ``tutorials/``, in order (``05_...`` before ``05b_...``)."""
    return sorted(path for pattern in SOURCE_GLOBS for path in HERE.glob(pattern))


@contextlib.contextmanager
def python_kernel_path() -> Iterator[str]:
    """A temporary ``JUPYTER_PATH`` whose ``python3`` kernel runs ``sys.executable``.

    Sets ``os.environ['JUPYTER_PATH']`` while the block runs (and restores it).
    """
    with tempfile.TemporaryDirectory(prefix="wavelearn-kernels-") as tmp:
        spec_dir = Path(tmp) / "kernels" / "python3"
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = tmp if old is None else os.pathsep.join([tmp, old])
        try:
            yield tmp
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old


def read_source(path: Path):
    """The notebook (cells, no outputs) that jupytext reads from a ``.py`` source."""
    import jupytext

    return jupytext.read(path, fmt="py:percent")


def execute(nb, timeout: int = 600, env: dict[str, str] | None = None):
    """Run ``nb`` top to bottom in a fresh ``python3`` kernel (in ``tutorials/``).

    ``env`` is the kernel's whole environment (default: a copy of this
    process's). Raises ``nbclient.exceptions.CellExecutionError`` on the first
    failing cell. Returns the executed notebook.
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(HERE)}},
        record_timing=False,
    )
    with python_kernel_path():
        client.execute(env=dict(os.environ) if env is None else env)
    return nb


def notebook_env() -> dict[str, str]:
    """The environment of a kernel that renders figures inline, at full size.

    ``WAVELEARN_STATIC_FIGURES=1``: notebooks draw fixed figures instead of
    interactive sliders, so that the stored outputs (and the website) show them.
    """
    env = dict(os.environ)
    for name in ("MPLBACKEND", "WAVELEARN_TUTORIAL_QUICK"):
        env.pop(name, None)
    env["WAVELEARN_STATIC_FIGURES"] = "1"
    return env


def compress_images(nb) -> None:
    """Re-encode every PNG output with a 256-colour palette (in place).

    Matplotlib writes 32-bit RGBA PNGs; plots use few colours, so a palette
    image looks the same and takes about a third of the space. An image is
    replaced only when the palette version is smaller.
    """
    import base64
    import io

    from PIL import Image

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" not in data:
                continue
            raw = base64.b64decode(data["image/png"])
            image = Image.open(io.BytesIO(raw)).convert("RGB")
            palette = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                     dither=Image.Dither.NONE)
            buffer = io.BytesIO()
            palette.save(buffer, format="PNG", optimize=True)
            if buffer.tell() < len(raw):
                data["image/png"] = base64.b64encode(buffer.getvalue()).decode("ascii")


def build(path: Path, run: bool = True) -> Path:
    """Write ``path``'s ``.ipynb``: executed (``run``) or with the old outputs kept."""
    import jupytext
    import nbformat

    nb = read_source(path)
    target = path.with_suffix(".ipynb")
    if run:
        nb = execute(nb, env=notebook_env())
        compress_images(nb)
    elif target.exists():
        from jupytext.combine import combine_inputs_with_outputs

        old = nbformat.read(target, as_version=4)
        nb = combine_inputs_with_outputs(nb, old, fmt="py:percent")
    jupytext.write(nb, target, fmt="ipynb")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="sources to build (default: all)")
    parser.add_argument("--no-execute", action="store_true",
                        help="only copy the cells into the .ipynb, keeping its outputs")
    args = parser.parse_args(argv)
    paths = [HERE / Path(n).name for n in args.names] or sources()
    for path in paths:
        if path.suffix == ".ipynb":
            path = path.with_suffix(".py")
        start = time.perf_counter()
        target = build(path, run=not args.no_execute)
        size = target.stat().st_size / 1024
        print(f"{target.name}: {size:.0f} KB, {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
