"""Module.modules() / named_modules(): the one walk of the module tree."""

from __future__ import annotations

from wavelearn.models import WaveletTransformer
from wavelearn.nn.layers import Dropout, Linear


def test_named_modules_walks_the_tree_depth_first_with_dotted_names() -> None:
    model = WaveletTransformer(vocab_size=11, hidden_dim=8, num_layers=2, num_classes=3,
                               max_sequence_length=16)
    named = list(model.named_modules())
    assert named[0] == ("", model)
    names = [name for name, _ in named]
    assert len(names) == len(set(names))
    assert "blocks.0" in names and "blocks.1" in names
    assert names.index("blocks.0") < names.index("blocks.1")
    for name, module in named[1:]:  # every name leads to its module
        node = model
        for part in name.split("."):
            node = getattr(node, part) if not part.isdigit() else node[int(part)]
        assert node is module
    assert [m for _, m in named] == list(model.modules())
    prefixed = [name for name, _ in model.named_modules("model")]
    assert prefixed == ["model"] + [f"model.{n}" for n in names[1:]]
    kinds = {type(m) for m in model.modules()}
    assert Linear in kinds and Dropout in kinds
    linear = Linear(2, 3)
    assert list(linear.named_modules()) == [("", linear)]
