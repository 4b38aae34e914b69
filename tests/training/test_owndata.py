"""Every installed UCR set, training on the user's files, and predicting to CSV."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from wavelearn.training import owndata, ucr
from wavelearn.training.files import DataFileError

TUNING_SETS = ("Adiac", "ArrowHead", "Beef", "Car", "Coffee", "Computers", "CricketX", "ECG200",
               "ECG5000", "Earthquakes", "FaceAll", "FiftyWords", "Fish", "FordA",
               "FreezerRegularTrain")
TINY = {"hidden_dim": 8, "num_layers": 1, "steps": 4, "ensemble": 1}


def test_ucr_lists_the_installed_sets_with_sizes() -> None:
    assert set(TUNING_SETS) <= set(ucr.names())
    assert ucr.info("Coffee") == ucr.UCRInfo("Coffee", 28, 28, 286, 2, False)
    assert ucr.info("AllGestureWiimoteX").variable_length


def test_ucr_variable_length_set_keeps_nan_padding() -> None:
    X, y = ucr.load("AllGestureWiimoteX", "train")
    lengths = (~np.isnan(X)).sum(axis=1)
    assert lengths.min() < X.shape[1] and y.max() == 9
    assert not np.isnan(X[np.arange(X.shape[0]), lengths - 1]).any()  # NaN only at the end


def test_unknown_ucr_name_suggests_close_names() -> None:
    with pytest.raises(ValueError, match="did you mean Coffee"):
        ucr.check_name("Cofee")
    assert ucr.check_name("coffee") == "Coffee"


def _write_csv(path, n: int, T: int, seed: int = 0, labels=("a", "b")) -> None:
    rng = np.random.default_rng(seed)
    rows = [[labels[i % len(labels)], *rng.normal(size=T).round(3)] for i in range(n)]
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")


def test_train_on_a_file_with_a_held_out_split_then_predict(tmp_path) -> None:
    _write_csv(tmp_path / "train.csv", 20, 24)
    data = owndata.load_data(train=str(tmp_path / "train.csv"))
    assert (data.X_train.shape[0], data.X_test.shape[0]) == (16, 4)  # stratified 80/20
    np.testing.assert_array_equal(np.bincount(data.y_test), [2, 2])
    again = owndata.load_data(train=str(tmp_path / "train.csv"))
    np.testing.assert_array_equal(again.X_test, data.X_test)  # fixed seed
    report = owndata.train(data, tmp_path / "run", TINY, progress=False)
    assert 0 <= report["accuracy"] <= 1 and "1nn_euclidean" in report["baselines"]
    assert json.loads((tmp_path / "run" / "report.json").read_text())["train"] == 16

    _write_csv(tmp_path / "new.csv", 3, 20, seed=5, labels=("x",))
    text = owndata.predict(tmp_path / "run" / "checkpoint.npz", tmp_path / "new.csv",
                           tmp_path / "out.csv", label_column=0)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["row"] for r in rows] == ["1", "2", "3"]
    assert all(r["prediction"] in ("a", "b") for r in rows)
    assert all(abs(float(r["p_a"]) + float(r["p_b"]) - 1) < 1e-4 for r in rows)
    assert (tmp_path / "out.csv").read_text() == text


def test_predict_rejects_series_longer_than_training(tmp_path) -> None:
    _write_csv(tmp_path / "train.csv", 10, 16)
    owndata.train(owndata.load_data(train=str(tmp_path / "train.csv")), tmp_path / "run", TINY,
                  progress=False)
    (tmp_path / "long.csv").write_text("1,2,3" + "," * 57 + "\n" + ",".join(["1"] * 60) + "\n")
    with pytest.raises(DataFileError, match=r"long\.csv, row 2: the series has 60 samples; "
                                            r"the model reads at most \d+"):
        owndata.predict(tmp_path / "run" / "checkpoint.npz", tmp_path / "long.csv")


def test_train_and_test_files_multivariate_npz(tmp_path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", X=rng.normal(size=(12, 3, 16)), y=np.arange(12) % 2)
    np.savez(tmp_path / "b.npz", X=rng.normal(size=(6, 3, 16)), y=np.arange(6) % 2)
    data = owndata.load_data(train=str(tmp_path / "a.npz"), test=str(tmp_path / "b.npz"))
    assert data.X_train.shape == (12, 3, 16) and data.X_test.shape == (6, 3, 16)
    owndata.train(data, tmp_path / "run", TINY, progress=False)
    np.savez(tmp_path / "c.npz", X=rng.normal(size=(2, 2, 16)))
    with pytest.raises(DataFileError, match=r"c\.npz: has 2 channel\(s\); the model was "
                                            r"trained on 3"):
        owndata.predict(tmp_path / "run" / "checkpoint.npz", tmp_path / "c.npz")


def test_test_file_problems(tmp_path) -> None:
    _write_csv(tmp_path / "train.csv", 10, 16)
    _write_csv(tmp_path / "unseen.csv", 4, 16, labels=("a", "z"))
    with pytest.raises(DataFileError, match=r"unseen\.csv, row 2: label z does not occur"):
        owndata.load_data(train=str(tmp_path / "train.csv"), test=str(tmp_path / "unseen.csv"))
    _write_csv(tmp_path / "long.csv", 4, 30)
    with pytest.raises(DataFileError, match=r"long\.csv, row 1: the series has 30 samples"):
        owndata.load_data(train=str(tmp_path / "train.csv"), test=str(tmp_path / "long.csv"))
    with pytest.raises(ValueError, match="either --task ucr:<Name> or --train FILE"):
        owndata.load_data()


def test_ucr_task_data_and_a_checkpoint_that_is_not_ours(tmp_path) -> None:
    data = owndata.load_data(task="ucr:Coffee")
    assert data.name == "ucr:Coffee" and data.X_train.shape == (28, 1, 286)
    assert data.classes.tolist() == [0.0, 1.0]
    (tmp_path / "x.npz").write_bytes(b"junk")
    with pytest.raises(ValueError):
        owndata.load(tmp_path / "x.npz")
