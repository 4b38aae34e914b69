r"""A wavelearn model as a ``torch.nn.Module``, with wavelearn's own backward.

:class:`TorchModel` wraps a model built on the torch backend. Its parameters
are ``torch.nn.Parameter`` objects that *share storage* with the wavelearn
parameters, so torch optimisers, ``DistributedDataParallel`` and gradient
clipping see and update the very arrays the model computes with. The forward
pass goes through one ``torch.autograd.Function`` (:class:`_WaveletFunction`):

* ``forward`` runs wavelearn's forward (which caches what it needs);
* ``backward`` runs wavelearn's hand-written backward and hands torch the
  gradients it wrote into ``param.grad`` -- autograd never looks inside.

So the gradients are exactly those of the numpy backend (tests check them
against torch autograd of the same forward). One wavelearn forward must be
followed by its backward before the next forward, as with any cached layer.

Mixed precision (bf16 autocast): the wrapped model computes in its own
dtype (float32 by default) whatever the autocast state. ``torch.autocast``
would otherwise reach *inside* the Function -- wavelearn's layers call
``torch.matmul`` on the torch backend, so its Linear layers would run in bf16
and the model would return bf16 logits. :class:`_WaveletFunction` therefore
runs wavelearn's forward and its hand-written backward with autocast disabled
for the parameters' device type. Under
``torch.autocast(device_type='cuda', dtype=torch.bfloat16)`` the surrounding
torch code (an embedding, a head, ...) runs in bf16, while the wavelet layers,
their gradients and the logits stay float32 (the same values as without
autocast); bf16 ``inputs_embeds`` are cast to the model dtype on the way in and
their gradient is returned in bf16. A loss computed on these logits (autocast
runs ``cross_entropy`` in float32 anyway) keeps its scale. bf16 needs no
``GradScaler``; parameters and optimiser state stay float32.

This module imports torch; ``import wavelearn`` does not import it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from wavelearn.backend import backend_of
from wavelearn.nn.module import Module


def _autocast_off(device_type: str) -> contextlib.AbstractContextManager:
    """A context in which autocast is disabled for ``device_type`` (a no-op for a device
    type autocast does not know)."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


class _WaveletFunction(torch.autograd.Function):
    """Forward and backward of a wavelearn model as one autograd node, both run in the
    model's dtype with autocast off (see the module docstring)."""

    @staticmethod
    def forward(ctx: Any, wrapper: TorchModel, input_ids: Any, inputs_embeds: Any,
                attention_mask: Any, *params: torch.Tensor) -> torch.Tensor:
        ctx.wrapper = wrapper
        with torch.no_grad(), _autocast_off(wrapper.device_type()):
            embeds = None if inputs_embeds is None else inputs_embeds.detach()
            return wrapper.model(input_ids=input_ids, inputs_embeds=embeds,
                                 attention_mask=attention_mask)

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor) -> tuple:
        wrapper = ctx.wrapper
        model = wrapper.model
        for p in model.parameters():
            p.grad = None
        # autograd hands dout in the output's dtype; model.backward casts it anyway, and
        # returns d inputs_embeds in the dtype inputs_embeds came in.
        with torch.no_grad(), _autocast_off(wrapper.device_type()):
            d_embeds = model.backward(dout.contiguous())
        grads = tuple(p.grad for p in model.parameters())
        return (None, None, d_embeds, None, *grads)


class TorchModel(torch.nn.Module):
    """``torch.nn.Module`` view of a wavelearn model (built on the torch backend).

    Example::

        wavelearn.set_backend("torch")
        net = TorchModel(WaveletTransformer(vocab_size=100, hidden_dim=64,
                                            num_layers=2, num_classes=3))
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        loss = torch.nn.functional.cross_entropy(net(ids), labels)
        loss.backward(); opt.step()
    """

    def __init__(self, model: Module) -> None:
        super().__init__()
        params = model.parameters()
        if params and backend_of(params[0].data).name != "torch":
            raise TypeError(
                "TorchModel needs a model built on the torch backend: build it inside "
                "`with wavelearn.use_backend('torch'):` (or set_backend('torch'))"
            )
        self.model = model
        self.names = [name.replace(".", "__") for name, _ in model.named_parameters()]
        for name, p in zip(self.names, params, strict=True):
            self.register_parameter(name, torch.nn.Parameter(p.data))
            p.data = getattr(self, name).data  # the same storage, seen by both

    def device_type(self) -> str:
        """``'cpu'``, ``'cuda'``, ... of the parameters (the device type autocast is
        switched off for inside the wavelet model)."""
        return getattr(self, self.names[0]).device.type if self.names else "cpu"

    def forward(self, input_ids: Any = None, inputs_embeds: Any = None,
                attention_mask: Any = None) -> torch.Tensor:
        self.model.train(self.training)
        params = [getattr(self, name) for name in self.names]
        return _WaveletFunction.apply(self, input_ids, inputs_embeds, attention_mask, *params)
