r"""Data-parallel training with ``torch.distributed``: ``wavelearn train --nproc N``.

Data parallelism keeps one replica of the model per process. Every process
draws the *same* global batch of :math:`B` examples (the same seed, the same
data order as a single-process run) and keeps its shard: rank :math:`r` of
:math:`W` takes examples :math:`r, r+W, r+2W, \dots` -- what
``torch.utils.data.DistributedSampler`` would hand it from the run's
permutation. Each rank computes the mean loss :math:`L_r` of its
:math:`B/W` examples and its gradient with wavelearn's hand-written backward;
one ``all_reduce`` averages the gradients:

.. math::

    \frac{1}{W}\sum_{r} \nabla L_r
    = \frac{1}{W}\sum_r \frac{W}{B} \sum_{i \in \text{shard}_r} \nabla \ell_i
    = \frac{1}{B}\sum_{i=1}^{B} \nabla \ell_i ,

the gradient of the full batch. So every rank applies the same AdamW update
and the replicas stay identical (checked at the end of the run), equal to a
single-process run up to the order of floating-point sums.

The engine is ``torch.distributed``: processes are started by ``torchrun``
(``--standalone`` on one machine; ``--nnodes``/``--rdzv-*`` across
machines), gloo on the CPU and nccl on CUDA GPUs. Only rank 0 prints,
evaluates the baselines and writes checkpoints (the same format as any other
run). Evaluation is sharded the same way and its sums are all-reduced.

This module imports torch; ``import wavelearn`` does not import it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wavelearn.backend import load_backend

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched_by_torchrun() -> bool:
    """True in a process that ``torchrun`` started (it sets RANK, WORLD_SIZE, ...)."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def usable_cpus() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_launch(nproc: int, backend: str | None) -> None:
    """Refuse a ``--nproc`` launch that cannot work, before any process starts.

    Raises:
        ValueError: ``nproc`` < 1, a backend other than torch, a device index,
            or more processes than CPU cores (CPU) or GPUs (CUDA).
        BackendUnavailableError: torch is not installed, or no CUDA GPU.
    """
    if nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    name = backend or "numpy"
    if name.split(":")[0] != "torch":
        raise ValueError(f"--nproc {nproc} needs --backend torch (CPU processes, gloo) or "
                         f"--backend torch:cuda (one GPU per process, nccl); got --backend {name}")
    if name.count(":") > 1:
        raise ValueError(f"--nproc {nproc}: give --backend torch:cuda without a device index "
                         f"(got {name}); process i uses cuda:i")
    load_backend(name)  # torch installed? a GPU for torch:cuda?
    if name == "torch:cuda":
        import torch

        gpus = torch.cuda.device_count()
        if nproc > gpus:
            raise ValueError(f"--nproc {nproc} is more than the {gpus} CUDA GPU(s) available "
                             "(one process per GPU)")
    elif nproc > usable_cpus():
        raise ValueError(f"--nproc {nproc} is more than the {usable_cpus()} CPU core(s) "
                         "available to this process")


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """The command line without ``--nproc N`` / ``--nproc=N`` (torchrun starts the copies)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``torchrun --standalone --nproc-per-node nproc -m wavelearn <argv>``; the exit code.

    torchrun's agent runs in this process and starts the copies in their own
    sessions. Ctrl-C reaches the agent, which passes it on to every copy (rank
    0 saves a resumable checkpoint) and waits for them: the exit code is then
    130. When a copy fails (its message is printed above), the exit code is
    that copy's.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    rest = strip_nproc(argv)
    print(f"starting {nproc} processes: torchrun --standalone --nproc-per-node={nproc} "
          f"-m wavelearn {' '.join(rest)}", flush=True)
    try:
        run(parse_args(["--standalone", f"--nproc-per-node={nproc}", "-m", "wavelearn", *rest]))
    except SignalException as e:
        return 128 + int(e.sigval)
    except ChildFailedError as e:
        rank, failure = min(e.failures.items())
        print(f"wavelearn train: process {rank} of {nproc} exited with code {failure.exitcode}",
              file=sys.stderr)
        return failure.exitcode if failure.exitcode > 0 else 1
    return 0


class SingleProcess:
    """The group of a run in one process: every collective of :class:`DataParallel` is trivial.

    The trainer talks to its group the same way in both cases.
    """

    rank, world_size, is_main = 0, 1, True

    def shard(self, batch: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """The whole batch."""
        return batch

    def share(self, items: np.ndarray) -> np.ndarray:
        """All the evaluation items."""
        return items

    def average_gradients(self, params: Sequence[Any], loss: float) -> float:
        """Nothing to average: the loss."""
        return loss

    def sum(self, values: Sequence[float]) -> list[float]:
        """The values themselves."""
        return list(values)

    def check_replicas(self, params: Sequence[Any]) -> None:
        """One replica: nothing to compare."""


class DataParallel:
    """This process's place in a ``torch.distributed`` group, and the collectives training uses.

    Build it with :meth:`from_environment` inside a process torchrun started.
    """

    def __init__(self, rank: int, world_size: int, device: str) -> None:
        import torch

        self.torch = torch
        self.rank, self.world_size, self.device = rank, world_size, device

    @classmethod
    def from_environment(cls, backend: str | None) -> tuple[DataParallel, str]:
        """Join the group torchrun set up; returns it and this rank's wavelearn backend.

        ``torch`` runs on the CPU with gloo; ``torch:cuda`` puts local rank
        :math:`i` on ``cuda:i`` with nccl.
        """
        name = backend or "numpy"
        world = int(os.environ["WORLD_SIZE"])
        if name.split(":")[0] != "torch":
            raise ValueError(f"this process was started by torchrun (WORLD_SIZE={world}) but "
                             f"--backend is {name}: distributed training needs --backend torch "
                             "or torch:cuda")
        import torch

        local = int(os.environ["LOCAL_RANK"])
        spec = f"torch:cuda:{local}" if name.startswith("torch:cuda") else "torch"
        device = str(load_backend(spec).device)
        if device.startswith("cuda"):
            torch.cuda.set_device(device)
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        return cls(torch.distributed.get_rank(), torch.distributed.get_world_size(), device), spec

    @property
    def is_main(self) -> bool:
        """Rank 0 prints, evaluates baselines and writes the checkpoints."""
        return self.rank == 0

    def shard(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """This rank's examples of a global batch: rows ``rank, rank + W, ...``.

        The batch size divides by ``W`` (:meth:`wavelearn.training.trainer.Trainer.distribute`
        checks), so every rank's mean loss weighs the same.
        """
        return {k: v[self.rank::self.world_size] for k, v in batch.items()}

    def share(self, items: np.ndarray) -> np.ndarray:
        """This rank's evaluation items: ``rank, rank + W, ...``."""
        return items[self.rank::self.world_size]

    def average_gradients(self, params: Sequence[Any], loss: float) -> float:
        r"""Replace every ``p.grad`` by its mean over the ranks; returns the mean loss.

        One ``all_reduce`` of a flat buffer ``[g_1, ..., g_P, loss]``
        (a parameter without a gradient contributes zeros; it gets one if any
        rank has one).
        """
        torch = self.torch
        grads = [p.grad for p in params]
        like = next(g for g in grads if g is not None)
        flat = torch.cat([(g if g is not None else torch.zeros(p.shape, dtype=like.dtype,
                                                               device=like.device)).reshape(-1)
                          for g, p in zip(grads, params, strict=True)]
                         + [torch.tensor([loss], dtype=like.dtype, device=like.device),
                            torch.tensor([g is not None for g in grads], dtype=like.dtype,
                                         device=like.device)])  # (sum(sizes) + 1 + P,)
        torch.distributed.all_reduce(flat)
        flat /= self.world_size
        have = flat[-len(params):] > 0
        offset = 0
        for i, p in enumerate(params):
            size = int(np.prod(p.shape))
            if have[i]:
                p.grad = flat[offset:offset + size].reshape(p.shape).clone()
            offset += size
        return float(flat[offset])

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums of ``values`` over the ranks (float64)."""
        t = self.torch.tensor(list(values), dtype=self.torch.float64, device=self.device)
        self.torch.distributed.all_reduce(t)
        return t.tolist()

    def join(self, params: Sequence[Any], generators: Mapping[str, np.random.Generator],
             batch_size: int) -> None:
        """Make a run's replica on this rank (``Trainer.distribute``).

        The batch size must split evenly over the ranks; rank 0's parameters are
        copied to every rank; ranks > 0 get their own dropout streams (every
        Generator but ``'data'``: all ranks draw the same batches). Each step then
        trains on this rank's shard of the global batch and averages the
        gradients over the ranks.
        """
        if batch_size % self.world_size:
            raise ValueError(f"--batch-size {batch_size} does not split evenly over "
                             f"{self.world_size} processes; use a multiple of {self.world_size}")
        self.broadcast_parameters(params)
        self.decorrelate({k: g for k, g in generators.items() if k != "data"})

    def check_replicas(self, params: Sequence[Any]) -> None:
        """Data-parallel runs end with the same parameters on every rank, bit for bit."""
        worst = self.max_replica_difference(params)
        if worst != 0.0:
            raise RuntimeError(f"the {self.world_size} replicas ended with different "
                               f"parameters (max difference {worst:.3g}); this is a bug")

    def broadcast_parameters(self, params: Sequence[Any]) -> None:
        """Copy rank 0's parameters to every rank (as DistributedDataParallel does)."""
        for p in params:
            self.torch.distributed.broadcast(p.data, src=0)

    def max_replica_difference(self, params: Sequence[Any]) -> float:
        """:math:`\\max |p - p^{(0)}|` over parameters and ranks (0.0: identical replicas)."""
        torch = self.torch
        worst = torch.zeros((), dtype=torch.float64, device=self.device)
        for p in params:
            reference = p.data.clone()
            torch.distributed.broadcast(reference, src=0)
            worst = torch.maximum(worst, (p.data - reference).abs().max().to(torch.float64))
        torch.distributed.all_reduce(worst, op=torch.distributed.ReduceOp.MAX)
        return float(worst)

    def decorrelate(self, generators: Mapping[str, np.random.Generator]) -> None:
        """Give ranks > 0 their own dropout streams, derived from rank 0's state.

        Every rank starts from the same Generators (seed or checkpoint). Rank 0
        keeps them (its checkpoints resume them); rank :math:`r` re-seeds each
        from one draw and :math:`r`, so dropout masks differ between shards.
        """
        if self.rank == 0:
            return
        for g in generators.values():
            g.bit_generator.state = np.random.PCG64([int(g.integers(2**63)), self.rank]).state

    def close(self) -> None:
        """Leave the process group."""
        if self.torch.distributed.is_initialized():
            self.torch.distributed.destroy_process_group()
