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
