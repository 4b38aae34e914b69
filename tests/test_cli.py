"""The ``wavelearn`` command line: train / evaluate / generate / info, exit codes,
Ctrl-C, resume, and that a failed run never replaces saved files."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wavelearn import cli
from wavelearn.training import checkpoints as ckpt
from wavelearn.training import trainer as wt

TINY_LM = """\
# a seconds-long character LM
task: shakespeare
model:
  hidden_dim: 16
  num_layers: 1
  levels: 2
training:
  steps: 6
  steps_per_epoch: 3
  batch_size: 4
  max_seq_len: 32
  limit_train: 20000
  limit_test: 2000
  eval_limit: 512
"""

TINY_FORDA = ["--task", "forda", "--limit-train", "48", "--limit-test", "16", "--patch-size",
              "25", "--hidden-dim", "8", "--num-layers", "1", "--levels", "2", "--batch-size",
              "8", "--steps", "4", "--no-progress"]


@pytest.fixture(autouse=True)
def _keep_thread_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process ``main()`` calls must not change this test process's BLAS threads
    (``set_threads`` itself runs in the subprocess tests)."""
    real = cli.set_threads

    def check_only(count: int) -> list[str]:
        return real(count) if count <= 0 else []  # 0 and invalid counts change nothing

    monkeypatch.setattr(cli, "set_threads", check_only)


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "WAVELEARN_BACKEND"}
    return subprocess.run([sys.executable, "-m", "wavelearn", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_train_evaluate_generate_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY_LM)
    train = _run("train", "--config", "tiny.yaml", "--out", "lm", "--threads", "1", cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    assert "tok_s=" in train.stderr and "loss=" in train.stderr  # the progress bar
    assert "test bpc" in train.stdout and "char_5gram_bpc" in train.stdout
    out = tmp_path / "lm"
    assert {p.name for p in out.iterdir()} == {"checkpoint.npz", "metrics.jsonl", "curves.png"}
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6] and all("eval_bpc" in r for r in records)

    evaluate = _run("evaluate", "--checkpoint", "lm/checkpoint.npz", cwd=tmp_path)
    assert evaluate.returncode == 0, evaluate.stderr
    assert "test bpc" in evaluate.stdout

    generate = _run("generate", "--checkpoint", "lm/checkpoint.npz", "--prompt", "ROMEO:",
                    "--max-new-tokens", "20", cwd=tmp_path)
    assert generate.returncode == 0, generate.stderr
    text = generate.stdout.removesuffix("\n")
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 20


def test_info_without_torch_and_cupy(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['torch'] = None; sys.modules['cupy'] = None\n"
            "from wavelearn.cli import main; sys.exit(main(['info']))")
    env = {k: v for k, v in os.environ.items() if k != "WAVELEARN_BACKEND"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "numpy: available" in result.stdout
    assert "torch: unavailable" in result.stdout and "cupy: unavailable" in result.stdout
    assert "forda" in result.stdout


def test_console_script_is_declared() -> None:
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert any(e.name == "wavelearn" and e.value == "wavelearn.cli:main" for e in scripts)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--task", "nope"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--epochs", "1", "--steps", "2"])
    assert info.value.code == 2
    assert cli.main(["evaluate", "--checkpoint", "x.npz", "--threads", "-1"]) == 1
    assert "--threads must be >= 0" in capsys.readouterr().err


def test_ctrl_c_exits_130_and_resume_finishes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    step = wt.Trainer.train_step

    def press_ctrl_c_on_step_3(self: wt.Trainer, batch: dict) -> float:
        if self.step == 2:
            raise KeyboardInterrupt
        return step(self, batch)

    monkeypatch.setattr(wt.Trainer, "train_step", press_ctrl_c_on_step_3)
    assert cli.main(["train", *TINY_FORDA, "--out", str(out)]) == cli.EXIT_INTERRUPTED
    assert "wavelearn train --resume" in capsys.readouterr().err
    _, meta = ckpt.read_checkpoint(out / ckpt.CHECKPOINT_NAME)
    assert meta["interrupted"] and meta["step"] == 2
    monkeypatch.setattr(wt.Trainer, "train_step", step)
    assert cli.main(["train", "--resume", "--out", str(out), "--no-progress"]) == 0
    assert "resuming" in capsys.readouterr().out
    _, meta = ckpt.read_checkpoint(out / ckpt.CHECKPOINT_NAME)
    assert meta["step"] == 4 and not meta["interrupted"] and meta["final"]


def test_resume_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["train", "--resume", "--out", str(tmp_path / "none")]) == 1
    assert "no checkpoint" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / ckpt.CHECKPOINT_NAME).write_bytes(b"PK\x03\x04 not really a zip")
    assert cli.main(["train", "--resume", "--out", str(tmp_path / "bad")]) == 1
    assert "truncated, corrupt" in capsys.readouterr().err
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "none.npz")]) == 1


def test_failed_runs_leave_saved_files_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert cli.main(["train", *TINY_FORDA, "--out", str(out)]) == 0
    saved = _snapshot(out)
    assert set(saved) == {"checkpoint.npz", "metrics.jsonl", "curves.png"}

    # a resume whose options contradict the checkpoint
    assert cli.main(["train", "--resume", "--out", str(out), "--levels", "3"]) == 1
    assert "incompatible" in capsys.readouterr().err
    # a new run with a bad config file
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": {"wavelet": "nope"}}))
    assert cli.main(["train", *TINY_FORDA, "--out", str(out), "--config", str(bad)]) == 1
    # a new run that crashes in its first step
    def crash(self: wt.Trainer, batch: dict) -> float:
        raise RuntimeError("boom")

    monkeypatch.setattr(wt.Trainer, "train_step", crash)
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["train", *TINY_FORDA, "--out", str(out)])
    assert _snapshot(out) == saved


def test_train_on_the_torch_backend(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch")
    assert cli.main(["train", *TINY_FORDA, "--backend", "torch", "--out", str(tmp_path)]) == 0
    _, meta = ckpt.read_checkpoint(tmp_path / ckpt.CHECKPOINT_NAME)
    assert meta["backend"] == "torch" and meta["step"] == 4
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / ckpt.CHECKPOINT_NAME),
                     "--backend", "numpy"]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_ctrl_c_before_training_saves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(wt.Trainer, "create", interrupted)
    assert cli.main(["train", *TINY_FORDA, "--out", str(tmp_path / "run")]) == 130
    assert "nothing was saved" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
