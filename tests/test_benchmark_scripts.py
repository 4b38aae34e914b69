"""The benchmark scripts still run (smoke runs on tiny shapes; nothing is timed here)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_backends_benchmark_trains_the_same_step_on_numpy_and_torch(tmp_path, capsys) -> None:
    pytest.importorskip("torch")
    bench = load("backends")
    assert bench.main(["--quick", "--backends", "numpy,torch", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "backends_bench.json").read_text())
    assert [r["backend"] for r in results] == ["numpy", "torch"]
    numpy_run, torch_run = results
    assert numpy_run["parameters"] == torch_run["parameters"] > 0
    assert torch_run["first_loss"] == pytest.approx(numpy_run["first_loss"], rel=1e-5)
    assert "torch / numpy tokens per second" in capsys.readouterr().out


def test_backends_benchmark_reports_a_backend_that_cannot_run(capsys) -> None:
    bench = load("backends")
    assert bench.main(["--quick", "--backends", "numpy,nonesuch"]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("nonesuch"))
    assert "cannot run: ValueError" in line and "choose one of" in line


def test_training_benchmark_feeds_attention_the_trainers_batches() -> None:
    from wavelearn.training import config as wconfig
    from wavelearn.training import trainer as wt

    bench = load("train")
    config, model = wconfig.resolve_configs(
        "rotten_tomatoes", None,
        {"limit_train": 48, "limit_test": 8, "max_seq_len": 16, "vocab_size": 300,
         "batch_size": 8, "length_multiple": 4, "bucket_batches": 2, "steps": 12,
         "compute_baselines": False}, {"hidden_dim": 8, "num_layers": 1, "levels": 2})
    trainer = wt.Trainer.create(config, model)
    stream = bench.batches(trainer.data, config)
    for _ in range(12):  # two epochs of 6 batches
        expected, got = trainer.next_batch(), next(stream)
        trainer.pos += 1
        assert expected.keys() == got.keys()
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_generate_benchmark_prints_the_three_paths(capsys) -> None:
    pytest.importorskip("torch")
    bench = load("generate")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "streaming" in out and "torch KV" in out and "full/stream" in out
    errors = dict(part.rsplit(" ", 1) for part in out.split("max |diff| / max(1, |logit|): ")[1]
                  .splitlines()[0].split(", "))
    assert float(errors["float64"]) < 1e-12 and float(errors["float32"]) < 1e-5


def test_ucr_benchmark_prints_the_table_with_both_baselines(tmp_path, capsys) -> None:
    bench = load("ucr")
    assert bench.main(["--sets", "Coffee", "--no-minirocket", "--recipe", "steps=2",
                       "--recipe", "ensemble=2", "--recipe", "hidden_dim=8",
                       "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "1-NN ED" in out and "wavelearn - 1-NN ED: mean" in out
    (row,) = json.loads((tmp_path / "r.json").read_text())
    assert row["set"] == "Coffee" and row["one_nn_ed"] == 1.0  # the archive's 1-NN ED
    assert row["recipe"]["steps"] == 2 and len(row["steps"]) == 2


def test_dwt_benchmark_times_the_level_path_too(capsys) -> None:
    from wavelearn.dwt import dense

    bench = load("dwt")
    before = dense.DENSE_MAX_ENTRIES
    bench.main(["--quick", "--repeat", "1", "--level-path"])
    assert dense.DENSE_MAX_ENTRIES == before  # switched back on after each call
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(("4x256x96", "8x64x32"))]
    assert len(rows) == 2 * 2 * 2 * 2  # two shapes x dtypes x modes x (wavedec, waverec)
    assert all(float(r[-1]) > 0 for r in rows)  # wl/levels printed for every case


def test_dwt_benchmark_times_the_adjoints_against_the_copy(capsys) -> None:
    bench = load("dwt")
    bench.main(["--quick", "--repeat", "1", "--adjoints"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(("4x256x96", "2x1024x32", "8x64x32"))]
    adjoints = [r for r in rows if r[3].endswith("^T")]
    assert len(rows) == 3 * 2 * 2 * 4 and len(adjoints) == 3 * 2 * 2 * 2
    for r in adjoints:  # no pywt column, a ratio to the copy
        assert r[5] == "-" and r[7] == "-" and float(r[8]) > 0
