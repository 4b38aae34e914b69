"""Data-parallel training with torch.distributed (gloo on the CPU): ``wavelearn train --nproc``.

Two real processes started by torchrun train a signal task and the character LM;
their parameters must be bit-identical across ranks and equal (1e-6) to a
single-process run over the full batch. Bad ``--nproc`` input fails before any
process starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from wavelearn import cli  # noqa: E402
from wavelearn.backend import to_numpy  # noqa: E402
from wavelearn.training import checkpoints as ckpt  # noqa: E402
from wavelearn.training import config as wconfig  # noqa: E402
from wavelearn.training import (
    distributed,  # noqa: E402
    outputs,  # noqa: E402
)
from wavelearn.training import trainer as wt  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

# (task, training options, model options): small, no dropout (dropout masks are drawn per rank)
RUNS = {
    "forda": ({"steps": 3, "batch_size": 8, "limit_train": 48, "limit_test": 16,
               "patch_size": 25, "compute_baselines": False},
              {"hidden_dim": 8, "num_layers": 1, "levels": 2, "dropout": 0.0}),
    "shakespeare": ({"steps": 3, "steps_per_epoch": 3, "batch_size": 4, "max_seq_len": 32,
                     "limit_train": 20000, "limit_test": 2000, "eval_limit": 256,
                     "compute_baselines": False},
                    {"hidden_dim": 16, "num_layers": 1, "levels": 2, "dropout": 0.0}),
}

RANK_SCRIPT = """
import sys
import numpy as np
from wavelearn.training import distributed
from test_distributed import RUNS, ddp_batch, ddp_model, run_arrays

out = sys.argv[1]
group, backend = distributed.DataParallel.from_environment("torch")
for task in RUNS:
    np.savez(f"{out}/{task}_rank{group.rank}.npz", **run_arrays(task, backend, group))

# the torch.nn.Module view under DistributedDataParallel: each rank its shard of one batch
import torch
from wavelearn.torch import TorchModel
ids, labels = ddp_batch()
net = torch.nn.parallel.DistributedDataParallel(TorchModel(ddp_model()))
mine = slice(group.rank, None, group.world_size)
loss = torch.nn.functional.cross_entropy(net(torch.as_tensor(ids[mine])),
                                         torch.as_tensor(labels[mine]))
loss.backward()
np.savez(f"{out}/ddp_rank{group.rank}.npz",
         **{n: p.grad.numpy() for n, p in net.module.named_parameters()})
group.close()
"""


def ddp_model():
    """A small float64 classifier on the torch backend (no dropout)."""
    import wavelearn
    from wavelearn.models import WaveletTransformer

    with wavelearn.use_backend("torch"):
        return WaveletTransformer(vocab_size=40, hidden_dim=16, num_layers=2, num_classes=3,
                                  max_sequence_length=32, dropout=0.0, dtype="float64", seed=3)


def ddp_batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return rng.integers(0, 40, size=(6, 32)), rng.integers(0, 3, size=6)


def run_arrays(task: str, backend: str = "torch", group=None,
               train: bool = True) -> dict[str, np.ndarray]:
    """Parameters (and the final metric) of the run ``RUNS[task]``: data-parallel in
    ``group``, else one process over the full batch; ``train=False``: the initial ones."""
    training, model = RUNS[task]
    config, options = wconfig.resolve_configs(task, None, training, model)
    trainer = wt.Trainer.create(config, options, backend)
    if group is not None:
        trainer.distribute(group)
    metrics = trainer.fit(None, progress=False) if train else {}
    arrays = {name: to_numpy(p.data) for name, p in trainer.model.named_parameters()}
    if train:
        arrays["metric"] = np.asarray(metrics[trainer.metric_name])
    if trainer.proj is not None:
        arrays.update({"proj." + n: to_numpy(p.data) for n, p in trainer.proj.named_parameters()})
    return arrays


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), str(Path(__file__).parent)])}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node=2", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_rank_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ranks")
    script = out / "ranks.py"
    script.write_text(RANK_SCRIPT)
    done = torchrun(str(script), str(out), cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.parametrize("task", sorted(RUNS))
def test_two_processes_equal_one_process_over_the_full_batch(two_rank_results, task) -> None:
    rank0 = dict(np.load(two_rank_results / f"{task}_rank0.npz"))
    rank1 = dict(np.load(two_rank_results / f"{task}_rank1.npz"))
    assert rank0.keys() == rank1.keys()
    for name in rank0:  # the replicas agree bit for bit
        np.testing.assert_array_equal(rank0[name], rank1[name], err_msg=name)
    alone = run_arrays(task)
    assert alone.keys() == rank0.keys()
    initial = run_arrays(task, train=False)
    moved = max(float(np.abs(alone[k] - v).max()) for k, v in initial.items())
    assert moved > 1e-3  # training changed the parameters, so the comparison means something
    for name in alone:
        np.testing.assert_allclose(rank0[name], alone[name], rtol=0, atol=1e-6, err_msg=name)


def test_distributed_data_parallel_of_torch_model_gives_the_full_batch_gradient(
        two_rank_results) -> None:
    import torch

    from wavelearn.torch import TorchModel

    net = TorchModel(ddp_model())
    ids, labels = ddp_batch()
    torch.nn.functional.cross_entropy(net(torch.as_tensor(ids)),
                                      torch.as_tensor(labels)).backward()
    ranks = [dict(np.load(two_rank_results / f"ddp_rank{r}.npz")) for r in (0, 1)]
    for name, p in net.named_parameters():
        for grads in ranks:
            np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=0, atol=1e-12,
                                       err_msg=name)


def test_cli_nproc_2_writes_one_checkpoint_equal_to_a_single_process_run(tmp_path) -> None:
    options = ["--task", "forda", "--limit-train", "48", "--limit-test", "16", "--patch-size",
               "25", "--hidden-dim", "8", "--num-layers", "1", "--levels", "2",
               "--batch-size", "8", "--steps", "3", "--no-progress", "--backend", "torch"]
    config = tmp_path / "nodrop.json"
    config.write_text('{"model": {"dropout": 0.0}}')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    two = subprocess.run([sys.executable, "-m", "wavelearn", "train", *options, "--config",
                          str(config), "--nproc", "2", "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("preparing data") == 1  # rank 0 reports, rank 1 is quiet
    assert "data-parallel: 2 processes, 4 examples each per step" in two.stdout
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        ckpt.CHECKPOINT_NAME, outputs.CURVES_NAME, outputs.METRICS_NAME]
    assert cli.main(["train", *options, "--config", str(config), "--out",
                     str(tmp_path / "one")]) == 0
    a, meta_a = ckpt.read_checkpoint(tmp_path / "two" / ckpt.CHECKPOINT_NAME)
    b, meta_b = ckpt.read_checkpoint(tmp_path / "one" / ckpt.CHECKPOINT_NAME)
    assert a.keys() == b.keys() and meta_a["step"] == meta_b["step"] == 3
    assert (meta_a["processes"], meta_b["processes"]) == (2, 1)
    for name in a:
        if name.startswith(("model.", "proj.", "opt_")):
            np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-6, err_msg=name)
    # the checkpoint is an ordinary one: one process on the numpy backend evaluates it
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "two" / ckpt.CHECKPOINT_NAME),
                     "--backend", "numpy"]) == 0


def test_ctrl_c_saves_a_checkpoint_that_nproc_2_resumes(tmp_path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen([sys.executable, "-m", "wavelearn", "train", "--backend", "torch",
                            "--nproc", "2", "--task", "forda", "--limit-train", "64",
                            "--limit-test", "16", "--batch-size", "8", "--steps", "64",
                            "--no-progress", "--out", str(out)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in run.stdout:  # wait until the first epoch (8 steps) has been logged
        lines.append(line)
        if line.startswith("epoch"):
            break
    run.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends to the launcher
    rest, _ = run.communicate(timeout=120)
    log = "".join(lines) + rest
    assert run.returncode == cli.EXIT_INTERRUPTED, log
    assert "saved a resumable checkpoint" in log and "nothing was saved" not in log
    _, meta = ckpt.read_checkpoint(out / ckpt.CHECKPOINT_NAME)
    assert meta["interrupted"] and 8 <= meta["step"] < 64
    resumed = subprocess.run([sys.executable, "-m", "wavelearn", "train", "--resume", "--out",
                              str(out), "--backend", "torch", "--nproc", "2", "--no-progress"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {out / ckpt.CHECKPOINT_NAME} at step {meta['step']}" in resumed.stdout
    _, meta = ckpt.read_checkpoint(out / ckpt.CHECKPOINT_NAME)
    assert meta["step"] == 64 and not meta["interrupted"] and meta["final"] is not None


@pytest.mark.parametrize("argv, message", [
    (["--nproc", "0", "--backend", "torch"], "--nproc must be >= 1, got 0"),
    (["--nproc", "2"], "needs --backend torch"),
    (["--nproc", "2", "--backend", "cupy"], "got --backend cupy"),
    (["--nproc", "4096", "--backend", "torch"], "--nproc 4096 is more than the"),
    (["--nproc", "2", "--backend", "torch:cuda:1"], "without a device index"),
    (["--nproc", "2", "--backend", "torch", "--batch-size", "7"],
     "batch size 7 does not split evenly over 2 processes"),
])
def test_bad_nproc_fails_before_any_process_starts(argv, message, capsys, monkeypatch) -> None:
    monkeypatch.setattr(distributed, "launch", lambda *a, **k: pytest.fail("a process started"))
    assert cli.main(["train", *argv]) == cli.EXIT_FAILURE
    assert message in capsys.readouterr().err


def test_nproc_on_cuda_without_a_gpu_names_the_missing_device(capsys, monkeypatch) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    monkeypatch.setattr(distributed, "launch", lambda *a, **k: pytest.fail("a process started"))
    assert cli.main(["train", "--nproc", "2", "--backend", "torch:cuda"]) == cli.EXIT_FAILURE
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_nproc_without_torch_says_how_to_install_it() -> None:
    code = ("import sys; sys.modules['torch'] = None\n"
            "from wavelearn.cli import main\n"
            "sys.exit(main(['train', '--nproc', '2', '--backend', 'torch']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == cli.EXIT_FAILURE
    assert "needs PyTorch, which is not installed" in done.stderr
    assert "pip install" in done.stderr


def as_if_started_by_torchrun(monkeypatch) -> None:
    for name, value in [("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"),
                        ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")]:
        monkeypatch.setenv(name, value)


def test_nproc_under_torchrun_is_refused(monkeypatch, capsys) -> None:
    as_if_started_by_torchrun(monkeypatch)
    assert cli.main(["train", "--nproc", "2", "--backend", "torch"]) == cli.EXIT_FAILURE
    assert "torchrun's --nproc-per-node" in capsys.readouterr().err


def test_a_torchrun_process_with_the_numpy_backend_is_refused(monkeypatch, capsys) -> None:
    as_if_started_by_torchrun(monkeypatch)
    assert cli.main(["train", "--backend", "numpy"]) == cli.EXIT_FAILURE
    assert "distributed training needs --backend torch" in capsys.readouterr().err


def test_strip_nproc_keeps_everything_else() -> None:
    from wavelearn.training.distributed import strip_nproc

    assert strip_nproc(["train", "--nproc", "2", "--steps", "3", "--nproc=4", "--out", "x"]) == [
        "train", "--steps", "3", "--out", "x"]
