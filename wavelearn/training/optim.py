"""Optimizers, gradient clipping and a learning-rate schedule.

The update rules match ``torch.optim`` step for step (tests compare them to
1e-10 in float64). Each optimizer holds a plain list of
:class:`~wavelearn.nn.Parameter` and reads ``param.grad``; a parameter whose
``grad`` is ``None`` is skipped, as in torch. Updates rebind ``param.data`` to a
new array, so they work the same on numpy, cupy and torch.

There are no parameter groups: to exempt biases and norms from weight decay,
build two optimizers (one with ``weight_decay=0``) over the two lists, and let
one :class:`WarmupCosineSchedule` drive both (it sets the learning rate of every
optimizer it is given).

``state_dict()`` is a flat ``{str: array}`` dict (``'lr'``, ``'step.3'``,
``'exp_avg.3'``, ...) that :func:`wavelearn.nn.serialization.save` can write, so
training can be resumed exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from wavelearn.backend import array_namespace, backend_of
from wavelearn.nn import compiled
from wavelearn.nn.module import Module, Parameter, move_like


def _as_param_list(params: Module | Iterable[Parameter]) -> list[Parameter]:
    """A module's parameters, or the given iterable as a list (checked)."""
    plist = params.parameters() if isinstance(params, Module) else list(params)
    for p in plist:
        if not isinstance(p, Parameter):
            raise TypeError(f"expected wavelearn Parameters, got {type(p).__name__}")
    return plist


class Optimizer:
    """Shared bookkeeping: the parameter list, ``lr``, per-parameter ``state``.

    Subclasses set ``state_names`` (the per-parameter entries, ``'step'`` being an
    int and the rest arrays shaped like the parameter) and define ``update``.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, params: Module | Iterable[Parameter], lr: float) -> None:
        if lr < 0:
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {lr}")
        self.params = _as_param_list(params)
        self.lr = lr
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Set every ``param.grad`` to zeros."""
        for p in self.params:
            p.grad = array_namespace(p.data).zeros_like(p.data)

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is not None:
                self.update(p, state)

    def update(self, p: Parameter, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """``{'lr': ..., 'step.i': ..., '<buffer>.i': copy of array}`` for parameter ``i``."""
        out: dict[str, Any] = {"lr": np.asarray(self.lr, dtype=np.float64)}
        for i, state in enumerate(self.state):
            for name, value in state.items():
                if isinstance(value, int):
                    out[f"{name}.{i}"] = np.asarray(value, dtype=np.int64)
                else:
                    out[f"{name}.{i}"] = array_namespace(value).asarray(value, copy=True)
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict` output (arrays from any backend).

        Raises:
            ValueError: naming every unexpected key, every incomplete parameter
                state and every shape mismatch; nothing is changed then.
        """
        new_state: list[dict[str, Any]] = [{} for _ in self.params]
        problems = []
        for key, value in state.items():
            if key == "lr":
                continue
            name, _, index = key.rpartition(".")
            if name not in self.state_names or not index.isdigit() \
                    or int(index) >= len(self.params):
                problems.append(f"unexpected key {key!r}")
                continue
            p = self.params[int(index)]
            if name == "step":
                new_state[int(index)][name] = int(value)
            elif tuple(value.shape) != p.shape:
                problems.append(f"{key}: expected shape {p.shape}, got {tuple(value.shape)}")
            else:
                new_state[int(index)][name] = move_like(value, p.data)
        for i, entry in enumerate(new_state):
            missing = [f"{n}.{i}" for n in self.state_names if entry and n not in entry]
            problems += [f"missing key {k!r}" for k in missing]
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        self.state = new_state
        if "lr" in state:
            self.lr = float(state["lr"])


class AdamW(Optimizer):
    r"""Adam with decoupled weight decay, exactly as ``torch.optim.AdamW``.

    With step count :math:`t` (per parameter), gradient :math:`g`:

    .. math::
        \theta &\leftarrow \theta\,(1 - \eta\lambda) \\
        m &\leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \theta &\leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,
            \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}
    """

    state_names = ("step", "exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Module | Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def update(self, p: Parameter, state: dict[str, Any]) -> None:
        xp = array_namespace(p.data, p.grad)
        beta1, beta2 = self.betas
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
        state["step"] += 1
        g = p.grad
        step_size = self.lr / (1.0 - beta1 ** state["step"])
        bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** state["step"])
        k = [beta1, 1.0 - beta1, beta2, 1.0 - beta2, step_size, bias_correction2_sqrt,
             self.eps, 1.0 - self.lr * self.weight_decay]
        if _compiled_adamw(xp, p, state, k):  # the same operations in one pass
            return
        state["exp_avg"] = beta1 * state["exp_avg"] + (1.0 - beta1) * g
        state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1.0 - beta2) * (g * g)
        denom = xp.sqrt(state["exp_avg_sq"]) / bias_correction2_sqrt + self.eps
        decayed = p.data * (1.0 - self.lr * self.weight_decay)
        p.data = decayed - step_size * (state["exp_avg"] / denom)


def _compiled_adamw(xp: Any, p: Parameter, state: dict[str, Any], k: list[float]) -> bool:
    """:meth:`AdamW.update`'s arithmetic as one compiled pass
    (:func:`wavelearn.nn.compiled.adamw`, the same bits) into new arrays, for NumPy
    arrays and torch CPU tensors (through their memory,
    :meth:`~wavelearn.backend.Backend.host_view`) of float32/float64; False where it
    does not run (other arrays: the plain code above)."""
    arrays = [p.data, p.grad, state["exp_avg"], state["exp_avg_sq"]]
    backend = backend_of(p.data)
    hosts = [backend.host_view(a) for a in arrays]
    if any(h is None or h.shape != hosts[0].shape for h in hosts) or not compiled.available(*hosts):
        return False
    new = [xp.empty_like(a) for a in arrays[:1] + arrays[2:]]  # p', m', v'
    compiled.adamw(*hosts, tuple(backend.host_view(a) for a in new), k)
    p.data, state["exp_avg"], state["exp_avg_sq"] = new
    return True


class SGD(Optimizer):
    r"""Stochastic gradient descent, exactly as ``torch.optim.SGD``.

    .. math::
        d &= g + \lambda\theta \\
        b &\leftarrow d \text{ (first step)}, \quad
            b \leftarrow \mu b + (1-\tau) d \text{ (later)} \\
        d &\leftarrow d + \mu b \text{ (Nesterov)}, \quad d \leftarrow b \text{ (otherwise)} \\
        \theta &\leftarrow \theta - \eta d

    (the momentum lines only when :math:`\mu \ne 0`; :math:`\tau` is ``dampening``).
    """

    state_names = ("momentum_buffer",)

    def __init__(
        self,
        params: Module | Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
    ) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, lr)
        self.momentum, self.weight_decay = momentum, weight_decay
        self.nesterov, self.dampening = nesterov, dampening

    def update(self, p: Parameter, state: dict[str, Any]) -> None:
        d = p.grad
        if self.weight_decay != 0:
            d = d + self.weight_decay * p.data
        if self.momentum != 0:
            if "momentum_buffer" not in state:
                buf = array_namespace(d).asarray(d, copy=True)
            else:
                buf = self.momentum * state["momentum_buffer"] + (1.0 - self.dampening) * d
            state["momentum_buffer"] = buf
            d = d + self.momentum * buf if self.nesterov else buf
        p.data = p.data - self.lr * d


def decoupled_adamw(params: Sequence[Parameter], decayed: Iterable[Parameter], lr: float,
                    weight_decay: float) -> tuple[AdamW, AdamW]:
    """Two AdamW over ``params``: with ``weight_decay`` on the ``decayed`` ones, without on
    the rest (biases, norms, embeddings); drive both with one :class:`WarmupCosineSchedule`."""
    chosen = {id(p) for p in decayed}
    return (AdamW([p for p in params if id(p) in chosen], lr=lr, weight_decay=weight_decay),
            AdamW([p for p in params if id(p) not in chosen], lr=lr, weight_decay=0.0))


def clip_grad_norm(params: Module | Iterable[Parameter], max_norm: float) -> float:
    r"""Scale all gradients together so their global L2 norm is at most ``max_norm``.

    .. math::
        n = \sqrt{\textstyle\sum_p \lVert g_p \rVert_2^2}, \qquad
        g_p \leftarrow g_p \cdot \min\!\Big(1, \frac{\text{max\_norm}}{n + 10^{-6}}\Big)

    as ``torch.nn.utils.clip_grad_norm_``. Returns :math:`n` (before clipping)
    as a Python float. Parameters without a gradient are ignored.
    """
    grads = [p for p in _as_param_list(params) if p.grad is not None]
    total = math.sqrt(sum(float(array_namespace(p.grad).sum(p.grad * p.grad)) for p in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in grads:
            p.grad = p.grad * coef
    return total


class WarmupCosineSchedule:
    r"""Linear warm-up, then cosine decay to ``min_lr_ratio * base_lr``.

    With :math:`s` the number of completed ``step()`` calls, :math:`W` =
    ``warmup_steps``, :math:`T` = ``total_steps``, :math:`r` = ``min_lr_ratio``:

    .. math::
        \eta(s) = \begin{cases}
            \eta_0\,\frac{s+1}{W} & s < W \\
            \eta_0\big(r + (1-r)\tfrac12(1 + \cos \pi p)\big),\
                p = \min\big(1, \frac{s - W}{\max(1, T - W)}\big) & s \ge W
        \end{cases}

    :math:`\eta_0` is ``optimizer.lr`` when the schedule is built. The schedule
    sets ``optimizer.lr = get_lr()`` at construction and after each ``step()``;
    call ``schedule.step()`` once after each ``optimizer.step()``. Given a list
    of optimizers (e.g. one with weight decay and one without, all built with
    the same ``lr``), it sets the learning rate of each of them.
    """

    def __init__(
        self, optimizer: Optimizer | Sequence[Optimizer], warmup_steps: int, total_steps: int,
        min_lr_ratio: float = 0.0
    ) -> None:
        if not 0 <= warmup_steps <= total_steps or total_steps <= 0:
            raise ValueError(f"WarmupCosineSchedule: need 0 <= warmup_steps <= total_steps and "
                             f"total_steps > 0, got {warmup_steps}, {total_steps}")
        self.optimizers = [optimizer] if isinstance(optimizer, Optimizer) else list(optimizer)
        if not self.optimizers or len({o.lr for o in self.optimizers}) != 1:
            raise ValueError("WarmupCosineSchedule: give one optimizer or several with the same "
                             f"lr, got lr {[o.lr for o in self.optimizers]}")
        self.optimizer = self.optimizers[0]
        self.base_lr = self.optimizer.lr
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        self.min_lr_ratio = min_lr_ratio
        self.step_count = 0
        self._apply()

    def get_lr(self, step: int | None = None) -> float:
        """The learning rate after ``step`` steps (default: the current count)."""
        s = self.step_count if step is None else step
        if s < self.warmup_steps:
            return self.base_lr * (s + 1) / self.warmup_steps
        progress = min(1.0, (s - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.base_lr * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)

    def _apply(self) -> None:
        """Set every optimizer's ``lr`` to :meth:`get_lr`."""
        for optimizer in self.optimizers:
            optimizer.lr = self.get_lr()

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {"step_count": np.asarray(self.step_count, dtype=np.int64),
                "base_lr": np.asarray(self.base_lr, dtype=np.float64)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step_count = int(state["step_count"])
        self.base_lr = float(state["base_lr"])
        self._apply()
