"""numpy vs torch backend: the same layer code, the same hand-written backward.

For each model (classifier, encoder, causal LM), each mixing mode and each dtype,
one model is built per backend from the same seed and trained on the same five
batches with :class:`~wavelearn.nn.losses.CrossEntropyLoss` and
:class:`~wavelearn.training.optim.AdamW` (weight decay on). The torch run must agree with
the numpy run on the first step's logits, loss, every parameter gradient (and
``d inputs_embeds``), and on every parameter after the five steps:
``1e-10`` in float64, ``1e-5`` (times ``max(1, max|reference|)``) in float32.

The torch run builds no autograd graph: its gradients come from wavelearn's own
``backward``, so these tests check that code path on torch tensors.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import wavelearn as wl  # noqa: E402
from wavelearn.backend import to_numpy  # noqa: E402
from wavelearn.models import WaveletDecoder, WaveletEncoder, WaveletTransformer  # noqa: E402
from wavelearn.nn.losses import CrossEntropyLoss  # noqa: E402
from wavelearn.training.optim import AdamW  # noqa: E402

VOCAB, D, N, B, STEPS, NUM_CLASSES = 50, 16, 32, 3, 5, 4
# AdamW moves every element by about lr, whatever the size of its gradient: an element
# whose gradient is ~1e-8 (a nearly dead GELU unit), where float32 roundoff already shows
# in the leading digit, moves by a different fraction of lr on each backend. A realistic
# lr and, in float32, eps=1e-6 keep that well inside 1e-5 (lr=1e-2, eps=1e-8 did not).
LR, WEIGHT_DECAY = 1e-3, 0.1
ADAM_EPS = {"float64": 1e-8, "float32": 1e-6}
COMMON = dict(hidden_dim=D, num_layers=2, max_sequence_length=N, dropout=0.0, seed=7)
MODELS = {
    "classifier": (WaveletTransformer, dict(vocab_size=VOCAB, num_classes=NUM_CLASSES)),
    "encoder": (WaveletEncoder, {}),
    "decoder": (WaveletDecoder, dict(vocab_size=VOCAB)),
}
MIXING_MODES = ("pointwise", "channel", "level")
DTYPES = ("float64", "float32")
CASES = [(m, mix, dt) for m in MODELS for mix in MIXING_MODES for dt in DTYPES]
IGNORE = -100


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """These tensors are tiny: torch's thread pool only costs time (a lot of it on a
    busy machine). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_batches(kind: str, dtype: str) -> list[dict[str, np.ndarray | None]]:
    """``STEPS`` batches of numpy arrays: model inputs, a right-padded mask (not for the
    causal LM) and the loss targets (``IGNORE`` at padding / the LM's last position)."""
    batches = []
    for step in range(STEPS):
        rng = np.random.default_rng([11, step])
        lengths = np.array([N, N - 5, N - 13])  # right padding in two rows
        mask = (np.arange(N)[None, :] < lengths[:, None]).astype(np.int64)  # (B, N)
        if kind == "encoder":
            x = rng.standard_normal((B, N, D)).astype(dtype)  # inputs_embeds
            y = np.where(mask == 1, rng.integers(0, D, (B, N)), IGNORE)  # classes = D
            batches.append(dict(input_ids=None, inputs_embeds=x, attention_mask=mask, y=y))
        elif kind == "classifier":
            ids = rng.integers(0, VOCAB, (B, N))
            y = rng.integers(0, NUM_CLASSES, (B,))
            batches.append(dict(input_ids=ids, inputs_embeds=None, attention_mask=mask, y=y))
        else:  # next-token targets
            ids = rng.integers(0, VOCAB, (B, N))
            y = np.concatenate([ids[:, 1:], np.full((B, 1), IGNORE)], axis=1)
            batches.append(dict(input_ids=ids, inputs_embeds=None, attention_mask=None, y=y))
    return batches


def perturb(model, dtype: str) -> None:
    """Move the mixing weights and LayerNorm parameters off their identity / ones-zeros
    init (the same numbers on both backends), so the three mixing modes differ."""
    rng = np.random.default_rng(5)
    for name, p in model.named_parameters():
        if "mixing" in name or "ln" in name or "norm" in name:
            p.data = p.data + wl.asarray(0.3 * rng.standard_normal(p.shape), dtype=dtype)


def train(backend: str, kind: str, mixing_mode: str, dtype: str) -> dict:
    """Five AdamW steps on ``backend``; everything that is compared, as numpy arrays."""
    cls, kw = MODELS[kind]
    with wl.use_backend(backend):
        model = cls(mixing_mode=mixing_mode, dtype=dtype, **kw, **COMMON)
        perturb(model, dtype)
        opt = AdamW(model, lr=LR, eps=ADAM_EPS[dtype], weight_decay=WEIGHT_DECAY)
        crit = CrossEntropyLoss(ignore_index=IGNORE)
        rec: dict = {"losses": [], "init": {n: to_numpy(p.data)
                                            for n, p in model.named_parameters()}}
        for step, batch in enumerate(make_batches(kind, dtype)):
            args = {k: None if v is None else wl.asarray(v) for k, v in batch.items()}
            y = args.pop("y")
            model.zero_grad()
            out = model(**args)
            rec["losses"].append(crit(out, y))
            dx = model.backward(crit.backward())
            if step == 0:
                rec["out"] = to_numpy(out)
                rec["out_type"] = type(out)
                rec["out_dtype"] = str(out.dtype).removeprefix("torch.")
                rec["grad_fn"] = getattr(out, "grad_fn", None)
                rec["dx"] = None if dx is None else to_numpy(dx)
                rec["grads"] = {n: to_numpy(p.grad) for n, p in model.named_parameters()}
            opt.step()
        rec["params"] = {n: to_numpy(p.data) for n, p in model.named_parameters()}
        rec["param_types"] = {type(p.data) for p in model.parameters()}
    return rec


@functools.cache
def runs(kind: str, mixing_mode: str, dtype: str) -> tuple[dict, dict]:
    """(numpy run, torch run) of one case, computed once for the three tests below."""
    return (train("numpy", kind, mixing_mode, dtype),
            train("torch", kind, mixing_mode, dtype))


def assert_close(got: np.ndarray, want: np.ndarray, dtype: str, what: str) -> None:
    assert got.dtype == want.dtype == np.dtype(dtype), what
    tol = 1e-10 if dtype == "float64" else 1e-5
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


@pytest.mark.parametrize("kind, mixing_mode, dtype", CASES)
def test_forward_matches_numpy(kind, mixing_mode, dtype) -> None:
    ref, got = runs(kind, mixing_mode, dtype)
    assert ref["out_type"] is np.ndarray and got["out_type"] is torch.Tensor
    assert got["out_dtype"] == ref["out_dtype"] == dtype
    assert got["grad_fn"] is None  # no autograd graph: the backward is wavelearn's
    assert_close(got["out"], ref["out"], dtype, "logits / hidden states")
    np.testing.assert_allclose(got["losses"][0], ref["losses"][0],
                               rtol=1e-10 if dtype == "float64" else 1e-5)


@pytest.mark.parametrize("kind, mixing_mode, dtype", CASES)
def test_gradients_match_numpy(kind, mixing_mode, dtype) -> None:
    ref, got = runs(kind, mixing_mode, dtype)
    assert list(got["grads"]) == list(ref["grads"])
    for name, want in ref["grads"].items():
        assert np.any(want != 0), name  # every parameter takes part
        assert_close(got["grads"][name], want, dtype, f"grad of {name}")
    if kind == "encoder":
        assert_close(got["dx"], ref["dx"], dtype, "d inputs_embeds")
    else:
        assert got["dx"] is None and ref["dx"] is None


@pytest.mark.parametrize("kind, mixing_mode, dtype", CASES)
def test_five_adamw_steps_match_numpy(kind, mixing_mode, dtype) -> None:
    ref, got = runs(kind, mixing_mode, dtype)
    assert got["param_types"] == {torch.Tensor} and ref["param_types"] == {np.ndarray}
    for name, want in ref["params"].items():
        assert_close(got["params"][name], want, dtype, f"{name} after {STEPS} AdamW steps")
    np.testing.assert_allclose(got["losses"], ref["losses"],
                               rtol=1e-10 if dtype == "float64" else 1e-5)
    for name, want in ref["params"].items():  # the steps do move every parameter
        assert np.max(np.abs(want - ref["init"][name])) > LR, name
