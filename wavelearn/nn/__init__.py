"""Neural-network building blocks with hand-written backward passes.

Every layer is a :class:`Module` with ``forward(x)`` (which caches what it
needs) and ``backward(dy) -> dx`` (which *adds* parameter gradients into
``param.grad``).
"""

from wavelearn.nn.feedforward import FeedForward
from wavelearn.nn.layers import (
    GELU,
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
    scatter_add_rows,
)
from wavelearn.nn.losses import CrossEntropyLoss, MSELoss, log_softmax
from wavelearn.nn.module import (
    DEFAULT_DTYPE,
    LoadResult,
    Module,
    Parameter,
    cast_to,
    make_rng,
    move_like,
    new_parameter,
    numpy_dtype,
)

__all__ = [
    "DEFAULT_DTYPE",
    "GELU",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "FeedForward",
    "LayerNorm",
    "Linear",
    "LoadResult",
    "MSELoss",
    "Module",
    "Parameter",
    "cast_to",
    "log_softmax",
    "make_rng",
    "move_like",
    "new_parameter",
    "numpy_dtype",
    "scatter_add_rows",
]
