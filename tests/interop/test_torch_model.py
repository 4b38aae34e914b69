"""wavelearn.torch.TorchModel: torch optimisers on wavelearn's hand-written backward."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import wavelearn as wl  # noqa: E402
from wavelearn.torch import TorchModel  # noqa: E402

CONFIG = dict(vocab_size=40, hidden_dim=16, num_layers=2, num_classes=3, dropout=0.0,
              max_sequence_length=32, dtype="float64")


@pytest.fixture(autouse=True)
def _torch_backend():
    with wl.use_backend("torch"):
        yield


# torch 2.13 warns about torch.asarray on tensors that require grad (the reference run)
@pytest.mark.filterwarnings("ignore:torch.asarray. unspecified requires_grad:UserWarning")
@pytest.mark.parametrize("mixing_mode", ["pointwise", "channel", "level"])
def test_gradients_equal_torch_autograd_of_the_same_forward(mixing_mode):
    ids = torch.randint(0, 40, (4, 19), generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 2, 1, 2])
    net = TorchModel(wl.WaveletTransformer(mixing_mode=mixing_mode, **CONFIG))
    torch.nn.functional.cross_entropy(net(ids), y).backward()

    ref = wl.WaveletTransformer(mixing_mode=mixing_mode, **CONFIG)  # same seed: same init
    for p in ref.parameters():
        p.data.requires_grad_(True)
    torch.nn.functional.cross_entropy(ref(ids), y).backward()
    for name, p in ref.named_parameters():
        got = getattr(net, name.replace(".", "__")).grad
        np.testing.assert_allclose(got.numpy(), p.data.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_inputs_embeds_get_a_gradient_and_optimiser_updates_shared_storage():
    cfg = dict(CONFIG, vocab_size=None)
    net = TorchModel(wl.WaveletTransformer(**cfg))
    x = torch.randn(3, 11, 16, dtype=torch.float64, requires_grad=True)
    before = net.model.head.weight.data.clone()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net(inputs_embeds=x).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape and x.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(net.model.head.weight.data, before)  # wavelearn sees the update


def test_a_numpy_model_is_refused():
    with wl.use_backend("numpy"):
        model = wl.WaveletTransformer(**CONFIG)
    with pytest.raises(TypeError, match="torch backend"):
        TorchModel(model)


# -- mixed precision: bf16 autocast around a TorchModel ------------------------------------

LM = dict(vocab_size=50, hidden_dim=16, num_layers=2, max_sequence_length=32, dropout=0.0)
DEVICES = ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs torch.cuda")])]


def _autocast(device: str, enabled: bool):
    return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=enabled)


def _lm_step(net, ids, autocast: bool, backward_inside: bool):
    """Logits, next-token loss and parameter gradients of one step (optionally under bf16
    autocast, with ``loss.backward()`` inside or after the autocast region)."""
    net.zero_grad()
    with _autocast(ids.device.type, autocast):
        logits = net(ids)
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, LM["vocab_size"]), ids[:, 1:].reshape(-1))
        if backward_inside:
            loss.backward()
    if not backward_inside:
        loss.backward()
    return logits.detach(), loss.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backward_inside", [False, True])
def test_bf16_autocast_leaves_the_wavelet_lm_in_float32(device, backward_inside):
    with wl.use_backend(f"torch:{device}"):
        net = TorchModel(wl.WaveletDecoder(**LM))  # float32
    assert net.device_type() == device
    ids = torch.randint(0, 50, (3, 32), generator=torch.Generator().manual_seed(0)).to(device)
    with _autocast(device, True):  # autocast is live here: a plain torch matmul is bf16
        w = torch.ones(4, 4, device=device)
        assert (w @ w).dtype == torch.bfloat16
    ref_logits, ref_loss, ref_grads = _lm_step(net, ids, autocast=False, backward_inside=False)
    logits, loss, grads = _lm_step(net, ids, autocast=True, backward_inside=backward_inside)

    assert logits.dtype == torch.float32 and loss.dtype == torch.float32
    torch.testing.assert_close(logits, ref_logits, rtol=1e-6, atol=1e-6)
    assert abs(loss.item() - ref_loss.item()) <= 1e-6 * ref_loss.item()
    assert abs(ref_loss.item() - np.log(LM["vocab_size"])) < 0.5  # the LM's scale at init
    for name, g in grads.items():
        assert g.dtype == torch.float32, name
        torch.testing.assert_close(g, ref_grads[name], rtol=1e-5, atol=1e-7, msg=name)
    for name, p in net.named_parameters():
        assert p.dtype == torch.float32, name


class _MixedLM(torch.nn.Module):
    """torch layers around a wavelet encoder: under bf16 autocast the torch Linears run
    in bf16, the wavelet layers in float32."""

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng():  # a fixed init, leaving the global generator alone
            torch.manual_seed(0)
            self.embed = torch.nn.Embedding(LM["vocab_size"], LM["hidden_dim"])
            self.proj = torch.nn.Linear(LM["hidden_dim"], LM["hidden_dim"])
            self.head = torch.nn.Linear(LM["hidden_dim"], LM["vocab_size"])
        self.wavelet = TorchModel(wl.WaveletEncoder(
            hidden_dim=LM["hidden_dim"], num_layers=2, max_sequence_length=32, dropout=0.0))
        self.seen: dict[str, torch.dtype] = {}

    def forward(self, ids):
        x = self.proj(self.embed(ids))
        x.register_hook(lambda g: self.seen.__setitem__("d_embeds", g.dtype))
        h = self.wavelet(inputs_embeds=x)
        out = self.head(h)
        self.seen.update(embeds=x.dtype, hidden=h.dtype, logits=out.dtype)
        return out


def test_a_mixed_bf16_model_trains_with_finite_loss():
    net = _MixedLM()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    ids = torch.randint(0, 50, (3, 32), generator=torch.Generator().manual_seed(1))
    mixing_before = net.wavelet.model.blocks[0].mixing.weight.data.clone()
    losses = []
    for _ in range(8):
        opt.zero_grad()
        with _autocast("cpu", True):
            loss = torch.nn.functional.cross_entropy(net(ids).reshape(-1, 50), ids.reshape(-1))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert net.seen == {"embeds": torch.bfloat16, "hidden": torch.float32,
                        "logits": torch.bfloat16, "d_embeds": torch.bfloat16}
    assert loss.dtype == torch.float32
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    for name, p in net.named_parameters():
        assert p.dtype == torch.float32 and p.grad.dtype == torch.float32, name
        assert torch.isfinite(p.grad).all(), name
    # the optimiser updated the arrays the wavelet model computes with
    assert not torch.equal(net.wavelet.model.blocks[0].mixing.weight.data, mixing_before)


@pytest.mark.filterwarnings("ignore::UserWarning")  # dynamo notes our lru_cache'd pure helpers
def test_torch_compile_of_the_module_gives_the_same_logits_and_gradients():
    import torch

    from wavelearn.models import WaveletTransformer

    net = TorchModel(WaveletTransformer(vocab_size=40, hidden_dim=16, num_layers=1,
                                        num_classes=3, max_sequence_length=32, dropout=0.0,
                                        dtype="float64", seed=3))
    ids, y = torch.randint(0, 40, (4, 32)), torch.randint(0, 3, (4,))
    expected = net(ids)
    torch.nn.functional.cross_entropy(expected, y).backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    net.zero_grad()
    compiled = torch.compile(net, backend="eager")  # dynamo's tracing, torch's own kernels
    got = compiled(ids)
    torch.nn.functional.cross_entropy(got, y).backward()
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], rtol=0, atol=1e-12, msg=name)
