"""The ``wavelearn`` command line: train / evaluate / generate / info, exit codes,
Ctrl-C, resume, and that a failed run never replaces saved files."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
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
        cli.main(["train", *TINY_FORDA, "--out", str(out), "--overwrite"])
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


# --------------------------------------------------------------------------- misuse (issue #13)

DATA = Path(__file__).parent / "training" / "data"  # checkpoints of wavelearn 0.1.0
LM = str(DATA / "v0.1.0_shakespeare.npz")
FORDA = str(DATA / "v0.1.0_forda_finished.npz")

# (name, argv, environment, exit code, what stderr names); config files come from CONFIGS
MISUSE = [
    ("unwritable --out", ["train", "--out", "/proc/x/run", "--steps", "40"], {}, 1, "--out"),
    ("--lr -1", ["train", "--lr", "-1"], {}, 1, "--lr"),
    ("--batch-size 0", ["train", "--batch-size", "0"], {}, 1, "--batch-size"),
    ("--steps 0", ["train", "--steps", "0"], {}, 1, "--steps"),
    ("--epochs 0", ["train", "--epochs", "0"], {}, 1, "--epochs"),
    ("--seed -1", ["train", "--seed", "-1"], {}, 1, "--seed"),
    ("--levels 0", ["train", "--levels", "0"], {}, 1, "--levels"),
    ("--hidden-dim -3", ["train", "--hidden-dim", "-3"], {}, 1, "--hidden-dim"),
    ("--wavelet nope", ["train", "--wavelet", "nope"], {}, 1, "--wavelet"),
    ("--limit-train 0", ["train", "--limit-train", "0"], {}, 1, "--limit-train"),
    ("--threads -1", ["train", "--threads", "-1"], {}, 1, "--threads"),
    ("--nproc 0", ["train", "--nproc", "0", "--backend", "torch"], {}, 1, "--nproc"),
    ("grad_clip: -1", ["train", "--config", "{grad_clip}"], {}, 1,
     "grad_clip.yaml: training.grad_clip"),
    ("weight_decay: -100", ["train", "--config", "{decay}"], {}, 1,
     "decay.yaml: training.weight_decay"),
    ("unclosed [", ["train", "--config", "{unclosed}"], {}, 1, "unclosed.yaml: invalid YAML"),
    ("tab indent", ["train", "--config", "{tabs}"], {}, 1, "tabs.yaml: invalid YAML"),
    ("lr: abc", ["train", "--config", "{abc}"], {}, 1, "abc.yaml: training.lr"),
    ("lr: [1, 2]", ["train", "--config", "{list}"], {}, 1, "list.yaml: training.lr"),
    ("bad JSON", ["train", "--config", "{json}"], {}, 1, "bad.json: invalid JSON"),
    ("binary config", ["train", "--config", "{binary}"], {}, 1, "binary.yaml: not a text file"),
    ("evaluate --backend bogus", ["evaluate", "--checkpoint", FORDA, "--backend", "bogus"], {},
     1, "--backend bogus"),
    ("--top-k 0", ["generate", "--checkpoint", LM, "--top-k", "0"], {}, 1, "--top-k"),
    ("--top-k -5", ["generate", "--checkpoint", LM, "--top-k", "-5"], {}, 1, "--top-k"),
    ("--top-k 100000", ["generate", "--checkpoint", LM, "--top-k", "100000"], {}, 1, "--top-k"),
    ("--temperature nan", ["generate", "--checkpoint", LM, "--temperature", "nan"], {}, 1,
     "--temperature"),
    ("--temperature inf", ["generate", "--checkpoint", LM, "--temperature", "inf"], {}, 1,
     "--temperature"),
    ("--seed -1", ["generate", "--checkpoint", LM, "--seed", "-1"], {}, 1, "--seed"),
    ("--max-new-tokens -1", ["generate", "--checkpoint", LM, "--max-new-tokens", "-1"], {}, 1,
     "--max-new-tokens"),
    ("generate from a classifier", ["generate", "--checkpoint", FORDA], {}, 1, "--checkpoint"),
    ("WAVELEARN_BACKEND=bogus", ["train", "--steps", "1"], {"WAVELEARN_BACKEND": "bogus"}, 1,
     "WAVELEARN_BACKEND bogus: unknown backend 'bogus'"),
    ("WAVELEARN_BACKEND=cupy", ["evaluate", "--checkpoint", FORDA],
     {"WAVELEARN_BACKEND": "cupy:7"}, 1, "WAVELEARN_BACKEND cupy:7"),
    ("--resume --overwrite", ["train", "--resume", "--overwrite"], {}, 2, "--overwrite"),
]
CONFIGS = {"grad_clip": "training:\n  grad_clip: -1\n",
           "decay": "training:\n  weight_decay: -100\n",
           "unclosed": "training: [1, 2\n", "tabs": "training:\n\tlr: 0.1\n",
           "abc": "training:\n  lr: abc\n", "list": "training:\n  lr: [1, 2]\n"}


@pytest.mark.parametrize(("argv", "env", "code", "named"),
                         [case[1:] for case in MISUSE], ids=[case[0] for case in MISUSE])
def test_misuse_fails_before_any_work_with_one_line_naming_the_option(
        argv: list[str], env: dict[str, str], code: int, named: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    files = {name: tmp_path / f"{name}.yaml" for name in CONFIGS}
    for name, text in CONFIGS.items():
        files[name].write_text(text)
    files["json"] = tmp_path / "bad.json"
    files["json"].write_text('{"training": {"lr": 0.1,}}')
    files["binary"] = tmp_path / "binary.yaml"
    files["binary"].write_bytes(bytes(range(256)))
    argv = [arg.format(**files) for arg in argv]
    monkeypatch.delenv("WAVELEARN_BACKEND", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the data were loaded before the options were checked")

    monkeypatch.setattr(wt.Trainer, "create", no_work)
    if code == 2:
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2
    else:
        assert cli.main(argv) == code
    lines = capsys.readouterr().err.strip().splitlines()  # usage errors: argparse's usage first
    assert (len(lines) == 1 or code == 2) and named in lines[-1], lines
    assert lines[-1].startswith(f"wavelearn {argv[0]}: error: ")
    assert not (tmp_path / "runs").exists()


def test_a_fresh_run_never_replaces_a_checkpoint_without_overwrite(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert cli.main(["train", *TINY_FORDA, "--out", str(out)]) == 0
    saved = _snapshot(out)
    assert cli.main(["train", *TINY_FORDA, "--steps", "2", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "--resume" in err
    assert "--overwrite" in err and _snapshot(out) == saved
    assert cli.main(["train", *TINY_FORDA, "--steps", "2", "--out", str(out),
                     "--overwrite"]) == 0
    _, meta = ckpt.read_checkpoint(out / ckpt.CHECKPOINT_NAME)
    assert meta["step"] == 2


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from wavelearn.training.runfolder import locked
with locked(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_run_into_a_locked_folder_is_refused_with_the_first_ones_pid(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(out)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert cli.main(["train", *TINY_FORDA, "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"process {holder.pid}" in err and "--out" in err
    finally:
        holder.kill()
        holder.wait()
    # the lock of a process that died is taken over
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (out / ".wavelearn.lock").write_text(dead)
    assert cli.main(["train", *TINY_FORDA, "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"checkpoint.npz", "metrics.jsonl", "curves.png"}


def test_sigterm_saves_a_resumable_checkpoint_and_exits_143(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    step = wt.Trainer.train_step

    def sigterm_on_step_3(self: wt.Trainer, batch: dict) -> float:
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self, batch)

    monkeypatch.setattr(wt.Trainer, "train_step", sigterm_on_step_3)
    assert cli.main(["train", *TINY_FORDA, "--out", str(out)]) == cli.EXIT_TERMINATED == 143
    err = capsys.readouterr().err
    assert "SIGTERM" in err and "wavelearn train --resume" in err
    _, meta = ckpt.read_checkpoint(out / ckpt.CHECKPOINT_NAME)
    assert meta["interrupted"] and meta["step"] in (2, 3)
    monkeypatch.setattr(wt.Trainer, "train_step", step)
    assert cli.main(["train", "--resume", "--out", str(out), "--no-progress"]) == 0
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler is put back


def test_sigterm_from_outside_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WAVELEARN_BACKEND"}
    argv = [a if a != "4" else "100000" for a in TINY_FORDA]  # --steps 100000
    run = subprocess.Popen([sys.executable, "-m", "wavelearn", "train", *argv, "--out", "run"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    for line in run.stdout:  # the run describes itself, then trains
        if line.startswith("training:"):
            break
    time.sleep(1.0)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=240)  # generous: a loaded machine finishes the step slowly
    assert run.returncode == 143, err
    assert "Traceback" not in err and "terminated" in err
    _, meta = ckpt.read_checkpoint(tmp_path / "run" / ckpt.CHECKPOINT_NAME)
    assert meta["interrupted"]


def test_wavelearn_backend_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.setenv("WAVELEARN_BACKEND", "torch")
    assert cli.main(["train", *TINY_FORDA, "--out", str(tmp_path)]) == 0
    _, meta = ckpt.read_checkpoint(tmp_path / ckpt.CHECKPOINT_NAME)
    assert meta["backend"] == "torch"


def test_ctrl_c_during_start_up_prints_no_traceback(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["info"]) == 130
    assert capsys.readouterr().err.strip() == "wavelearn: interrupted; nothing was saved"


def test_output_files_follow_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        assert cli.main(["train", *TINY_FORDA, "--out", str(tmp_path / "run")]) == 0
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir()}
    assert modes == {name: 0o640 for name in ("checkpoint.npz", "metrics.jsonl", "curves.png")}


def test_threads_option_also_sets_wavelearn_threads() -> None:
    code = ("from wavelearn import cli, threads; cli.set_threads(3); "
            "print(threads.num_threads())")
    env = {k: v for k, v in os.environ.items() if k != "WAVELEARN_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "3"
