"""``wavelearn train --task ucr:<Name>`` / ``--train FILE``, ``wavelearn predict``, ``info``."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from wavelearn import cli

TINY = ["--steps", "3", "--hidden-dim", "8", "--num-layers", "1", "--levels", "1",
        "--no-progress"]


def _csv(path, n: int, T: int, labels=("a", "b"), seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    path.write_text("".join(f"{labels[i % len(labels)]}," + ",".join(
        f"{v:.3f}" for v in rng.normal(size=T)) + "\n" for i in range(n)))


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # one line
    return err


def test_train_on_a_ucr_set_and_predict_its_test_file(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert cli.main(["train", "--task", "ucr:Coffee", *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "task ucr:Coffee: 28 training / 28 test series" in printed
    assert "baseline  1nn_euclidean" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["task"] == "ucr:Coffee" and report["recipe"]["steps"] == 3
    from wavelearn.training import ucr

    test_file = ucr.data_dir() / "Coffee_TEST.tsv"
    assert cli.main(["predict", "--checkpoint", str(out / "checkpoint.npz"), "--input",
                     str(test_file), "--label-column", "0", "--output",
                     str(tmp_path / "p.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert len(rows) == 28 and set(rows[0]) == {"row", "prediction", "p_0", "p_1"}


def test_train_on_a_variable_length_ucr_set(tmp_path, capsys) -> None:
    assert cli.main(["train", "--task", "ucr:GesturePebbleZ1", *TINY, "--out",
                     str(tmp_path)]) == 0
    assert "length 455" in capsys.readouterr().out


def test_train_on_own_files_and_predict_to_stdout(tmp_path, capsys) -> None:
    _csv(tmp_path / "train.csv", 16, 20)
    _csv(tmp_path / "test.csv", 6, 20, seed=1)
    out = tmp_path / "run"
    assert cli.main(["train", "--train", str(tmp_path / "train.csv"), "--test",
                     str(tmp_path / "test.csv"), *TINY, "--out", str(out)]) == 0
    assert "16 training / 6 test series" in capsys.readouterr().out
    assert cli.main(["predict", "--checkpoint", str(out / "checkpoint.npz"), "--input",
                     str(tmp_path / "test.csv"), "--label-column", "0"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["row"] for r in rows] == [str(i) for i in range(1, 7)]
    assert all(r["prediction"] in ("a", "b") for r in rows)


def test_multivariate_npz_without_a_test_file(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(20, 3, 12)), y=np.arange(20) % 2)
    assert cli.main(["train", "--train", str(tmp_path / "d.npz"), *TINY, "--out",
                     str(tmp_path / "run")]) == 0
    assert "16 training / 4 test series, 3 channel(s)" in capsys.readouterr().out


@pytest.mark.parametrize(("content", "message"), [
    ("", "train.csv: the file is empty"),
    ("a,1,2\nb,1\n", "train.csv, row 2: has 2 cells, but row 1 has 3"),
    ("a,1,2\nb,1,zz\n", "train.csv, row 2: column 3: 'zz' is not a number"),
    ("a,1,2\na,1,3\n", "train.csv: all 2 rows have the same label a"),
])
def test_bad_training_files_fail_with_one_line(tmp_path, capsys, content, message) -> None:
    (tmp_path / "train.csv").write_text(content)
    assert cli.main(["train", "--train", str(tmp_path / "train.csv"), *TINY]) == 1
    assert message in _error(capsys)


def test_unseen_test_labels_and_too_long_series(tmp_path, capsys) -> None:
    _csv(tmp_path / "train.csv", 8, 10)
    _csv(tmp_path / "test.csv", 4, 10, labels=("a", "c"))
    assert cli.main(["train", "--train", str(tmp_path / "train.csv"), "--test",
                     str(tmp_path / "test.csv"), *TINY]) == 1
    assert "test.csv, row 2: label c does not occur in the training file" in _error(capsys)
    _csv(tmp_path / "long.csv", 4, 30)
    assert cli.main(["train", "--train", str(tmp_path / "train.csv"), "--test",
                     str(tmp_path / "long.csv"), *TINY]) == 1
    assert "long.csv, row 1: the series has 30 samples; the model reads at most 10" \
        in _error(capsys)


def test_usage_errors(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--task", "nonesuch"])
    assert info.value.code == 2 and "ucr:<Name>" in capsys.readouterr().err
    assert cli.main(["train", "--task", "ucr:Cofee", *TINY]) == 1
    assert "did you mean Coffee" in _error(capsys)
    assert cli.main(["train", "--task", "ucr:Coffee", "--epochs", "2", "--no-progress"]) == 1
    assert "--epochs cannot be used with --task ucr:<Name>" in _error(capsys)
    assert cli.main(["train", "--test", "x.csv", *TINY]) == 1
    assert "--test needs --train FILE" in _error(capsys)


def test_info_lists_ucr_sets_with_sizes(capsys) -> None:
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "ucr:Coffee" in out and "ucr:FordA" in out
    line = next(x for x in out.splitlines() if "ucr:Coffee " in x)
    assert "28 /    28" in line and "T   286" in line and "2 classes" in line
