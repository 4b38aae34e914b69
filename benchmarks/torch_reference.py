"""A pure-PyTorch twin of :class:`wavelearn.models.WaveletTransformer`, trained by autograd.

It is the yardstick of ``benchmarks/model.py``: the same architecture, written
the way one would write it in PyTorch from scratch, with standard modules and
ops only --

* ``nn.Embedding``, a fixed sinusoidal table, ``nn.Dropout``;
* per block ``h = x + Dropout(Mix(LN1(x)))``, ``y = h + FFN(LN2(h))`` with
  ``FFN = Linear(D, 4D) -> GELU(tanh) -> Dropout -> Linear(4D, D) -> Dropout``;
* final ``nn.LayerNorm`` -> mean over the sequence -> ``nn.Linear(D, C)``;
* ``Mix`` (:class:`TorchWaveletMixing`, ``'pointwise'``): per channel, a
  multilevel DWT along the sequence in periodization mode, one gain per band
  and channel, and the inverse DWT. The channels are the conv batch,
  ``(B*D, 1, N)``: analysis is a stride-2 ``conv1d`` with the two reversed
  analysis filters after periodic padding (``torch.cat`` wrap-around),
  synthesis a stride-2 ``conv_transpose1d`` with the synthesis filters whose
  overhanging ends are wrapped back (the adjoint of the periodic padding).

Parameter names equal wavelearn's, so :func:`copy_from_wavelearn` is a
name-by-name copy, and :func:`check_matches_wavelearn` confirms that both
forwards agree (1e-5 in float32, 1e-10 in float64) before anything is timed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pywt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

# ---------------------------------------------------------------------------
# The DWT / inverse DWT in periodization mode, channels as the conv batch
# ---------------------------------------------------------------------------


def _periodic_pad(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """``x (M, 1, n)`` extended periodically by ``left``/``right`` samples."""
    n = x.shape[-1]
    if left <= n and right <= n:
        return torch.cat([x[..., n - left :], x, x[..., :right]], dim=-1)
    idx = torch.arange(-left, n + right, device=x.device) % n  # very short signals
    return x[..., idx]


def _periodic_fold(z: torch.Tensor, left: int, n: int) -> torch.Tensor:
    """Wrap ``z (M, 1, left + n + right)`` onto ``n`` samples (adjoint of the periodic pad)."""
    right = z.shape[-1] - left - n
    if left > n or right > n:  # very short signals
        idx = (torch.arange(z.shape[-1], device=z.device) - left) % n
        out = torch.zeros(*z.shape[:-1], n, dtype=z.dtype, device=z.device)
        return out.index_add(-1, idx, z)
    mid = z[..., left : left + n]
    head = F.pad(z[..., left + n :], (0, n - right))  # right overhang -> start
    tail = F.pad(z[..., :left], (n - left, 0))  # left overhang -> end
    return mid + head + tail


class PeriodizedDWT(nn.Module):
    """``wavedec``/``waverec`` in periodization mode on ``(M, 1, N)`` tensors."""

    def __init__(self, wavelet: str, levels: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        w = pywt.Wavelet(wavelet)
        self.levels, self.flen = levels, w.dec_len
        dec = np.stack([w.dec_lo[::-1], w.dec_hi[::-1]])[:, None, :]  # (2, 1, F): correlation
        rec = np.stack([w.rec_lo, w.rec_hi])[:, None, :]  # (2, 1, F)
        # rounded once from float64 to ``dtype`` (casting float32 buffers up later would not
        # give the float64 filters back: build the module in the dtype it will run in)
        self.register_buffer("dec", torch.tensor(dec, dtype=dtype))
        self.register_buffer("rec", torch.tensor(rec, dtype=dtype))

    def analysis(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x (M, 1, N)`` -> ``[cA_J, cD_J, ..., cD_1]``, each ``(M, 1, ceil(n/2))``."""
        left, details = self.flen // 2 - 1, []
        for _ in range(self.levels):
            if x.shape[-1] % 2:  # periodization: odd lengths repeat their last sample
                x = torch.cat([x, x[..., -1:]], dim=-1)
            c = F.conv1d(_periodic_pad(x, left, left), self.dec, stride=2)  # (M, 2, n/2)
            x = c[:, :1]
            details.append(c[:, 1:])
        return [x, *details[::-1]]

    def synthesis(self, bands: list[torch.Tensor], n: int) -> torch.Tensor:
        """Inverse of :meth:`analysis`: ``(M, 1, n)``."""
        left, a = self.flen // 2 - 1, bands[0]
        for d in bands[1:]:
            a = a[..., : d.shape[-1]]  # drop the extra sample an odd length left
            z = F.conv_transpose1d(torch.cat([a, d], dim=1), self.rec, stride=2)  # (M, 1, 2m+F-2)
            a = _periodic_fold(z, left, 2 * d.shape[-1])  # (M, 1, 2m)
        return a[..., :n]


class TorchWaveletMixing(nn.Module):
    """``'pointwise'`` wavelet mixing: ``(B, N, D) -> (B, N, D)``, weight ``(K, D)``."""

    def __init__(self, hidden_dim: int, wavelet: str = "db4", levels: int = 3,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.dwt = PeriodizedDWT(wavelet, levels, dtype)
        self.weight = nn.Parameter(torch.ones(levels + 1, hidden_dim, dtype=dtype))  # (K, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        u = x.transpose(1, 2).reshape(B * D, 1, N)  # channels as the conv batch
        bands = self.dwt.analysis(u)
        mixed = [(c.reshape(B, D, -1) * w[:, None]).reshape(B * D, 1, -1)
                 for c, w in zip(bands, self.weight, strict=True)]
        return self.dwt.synthesis(mixed, N).reshape(B, D, N).transpose(1, 2)  # (B, N, D)


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------


def sinusoidal_table(max_len: int, dim: int) -> torch.Tensor:
    """``P[t, 2i] = sin(t w_i)``, ``P[t, 2i+1] = cos(t w_i)``, ``w_i = 10000^(-2i/D)``."""
    freq = torch.pow(10000.0, -torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    theta = torch.arange(max_len, dtype=torch.float64)[:, None] * freq[None]
    table = torch.zeros(max_len, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(theta)
    table[:, 1::2] = torch.cos(theta[:, : dim // 2])
    return table


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float, dtype: torch.dtype) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, dtype=dtype)
        self.fc2 = nn.Linear(hidden, dim, dtype=dtype)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.gelu(self.fc1(x), approximate="tanh")))


class Block(nn.Module):
    """Pre-norm block: ``h = x + drop(Mix(LN1 x))``, ``y = h + drop(FFN(LN2 h))``."""

    def __init__(self, dim: int, ffn_dim: int, wavelet: str, levels: int, dropout: float,
                 eps: float, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim, eps=eps, dtype=dtype)
        self.mixing = TorchWaveletMixing(dim, wavelet, levels, dtype)
        self.drop1 = nn.Dropout(dropout)
        self.ln2 = nn.LayerNorm(dim, eps=eps, dtype=dtype)
        self.ffn = FeedForward(dim, ffn_dim, dropout, dtype)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.drop1(self.mixing(self.ln1(x)))
        return h + self.drop2(self.ffn(self.ln2(h)))


class TorchWaveletTransformer(nn.Module):
    """Embedding + sinusoidal PE -> dropout -> blocks -> LayerNorm -> mean pool -> Linear.

    ``gradient_checkpointing=True`` wraps each block in ``torch.utils.checkpoint``
    (its forward is recomputed during backward), as wavelearn's option does.

    Parameter names are those of ``wavelearn.models.WaveletTransformer``
    (``embedding.weight``, ``blocks.0.ln1.weight``, ``blocks.0.mixing.weight``,
    ``blocks.0.ffn.fc1.weight``, ..., ``final_norm.weight``, ``head.weight``).
    """

    def __init__(self, vocab_size: int, hidden_dim: int, num_layers: int, num_classes: int,
                 max_sequence_length: int, wavelet: str = "db4", levels: int = 3,
                 ffn_hidden_dim: int | None = None, dropout: float = 0.0,
                 norm_eps: float = 1e-12, final_norm_eps: float | None = None,
                 dtype: torch.dtype = torch.float32, gradient_checkpointing: bool = False
                 ) -> None:
        super().__init__()
        self.gradient_checkpointing = gradient_checkpointing
        ffn = ffn_hidden_dim or 4 * hidden_dim
        self.embedding = nn.Embedding(vocab_size, hidden_dim, dtype=dtype)
        self.register_buffer("pe", sinusoidal_table(max_sequence_length, hidden_dim).to(dtype))
        self.embed_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(hidden_dim, ffn, wavelet, levels, dropout, norm_eps, dtype)
            for _ in range(num_layers)
        )
        eps = norm_eps if final_norm_eps is None else final_norm_eps
        self.final_norm = nn.LayerNorm(hidden_dim, eps=eps, dtype=dtype)
        self.head = nn.Linear(hidden_dim, num_classes, dtype=dtype)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        x = self.embed_drop(self.embedding(ids) + self.pe[:n])  # (B, N, D)
        for block in self.blocks:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)  # recomputed in backward
            else:
                x = block(x)
        return self.head(self.final_norm(x).mean(dim=1))  # (B, C)


# ---------------------------------------------------------------------------
# Building it from a wavelearn model, and checking that both agree
# ---------------------------------------------------------------------------


def _to_numpy(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)


def from_wavelearn(model: Any) -> TorchWaveletTransformer:
    """A :class:`TorchWaveletTransformer` with the architecture, dtype and parameter
    values of ``model`` (a ``wavelearn.models.WaveletTransformer``)."""
    cfg = model.config
    kind = cfg.positional_encoding_type if cfg.use_positional_encoding else "none"
    supported = {"mixing_mode": (cfg.mixing_mode, "pointwise"),
                 "mode": (cfg.mode, "periodization"), "pooling": (cfg.pooling, "mean"),
                 "positional_encoding_type": (kind, "sinusoidal"),
                 "output_type": (cfg.output_type, "classification")}
    for key, (got, want) in supported.items():
        if got != want:
            raise ValueError(f"the torch reference supports {key}={want!r} only, got {got!r}")
    ref = TorchWaveletTransformer(
        vocab_size=cfg.vocab_size, hidden_dim=cfg.hidden_dim, num_layers=cfg.num_layers,
        num_classes=cfg.num_classes, max_sequence_length=cfg.max_sequence_length,
        wavelet=cfg.wavelet, levels=cfg.levels, ffn_hidden_dim=cfg.ffn_hidden_dim,
        dropout=cfg.dropout, norm_eps=cfg.norm_eps,
        dtype=getattr(torch, np.dtype(model.dtype).name),
        gradient_checkpointing=cfg.gradient_checkpointing,
    )
    copy_from_wavelearn(ref, model)
    return ref


def copy_from_wavelearn(ref: nn.Module, model: Any) -> None:
    """Copy every wavelearn parameter into ``ref`` (same names; dtype of ``ref``)."""
    params = dict(ref.named_parameters())
    theirs = {name: p.data for name, p in model.named_parameters()}
    missing = sorted(set(params) - set(theirs))
    extra = sorted(set(theirs) - set(params))
    if missing or extra:
        raise KeyError(f"parameter names differ: torch only {missing}, wavelearn only {extra}")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(torch.as_tensor(_to_numpy(theirs[name]), dtype=p.dtype))


def check_matches_wavelearn(model: Any, ref: nn.Module, ids: np.ndarray,
                            tol: float | None = None) -> float:
    """Max |difference| of the two forwards on ``ids`` (both in eval mode); raises
    AssertionError above ``tol`` (default 1e-5 for float32, 1e-10 for float64)."""
    was_training = model.training
    model.eval()
    ref.eval()
    try:
        ours = _to_numpy(model(ids)).astype(np.float64)
        with torch.no_grad():
            theirs = ref(torch.as_tensor(ids, dtype=torch.long)).double().numpy()
    finally:
        model.train(was_training)
    dtype = next(ref.parameters()).dtype
    tol = tol if tol is not None else (1e-10 if dtype == torch.float64 else 1e-5)
    scale = max(1.0, float(np.max(np.abs(ours))))
    err = float(np.max(np.abs(ours - theirs))) / scale
    assert err <= tol, f"torch reference differs from wavelearn: {err:.3g} > {tol:g}"
    return err


__all__ = [
    "PeriodizedDWT",
    "TorchWaveletMixing",
    "TorchWaveletTransformer",
    "check_matches_wavelearn",
    "copy_from_wavelearn",
    "from_wavelearn",
    "sinusoidal_table",
]
