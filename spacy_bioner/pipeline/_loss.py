"""The one loss path of every spacy_bioner component: a torch loss over the
trained positions of the logits, and its gradient back as numpy arrays.

The layers return per-chunk logits as numpy arrays (the thinc layer owns the
torch graph of the encoder); the losses (cross-entropy, BTL's restricted
softmax, weighted ATL) are torch functions in ``spacy_bioner.torch``. This
bridge runs the loss on leaf tensors of the trained positions only and hands
their gradients to the layer's backprop.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy
import torch

#: (logits (n, n_tags) float32, gold (n,) int64) -> a scalar loss
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def loss_and_gradient(
    logits: Sequence[numpy.ndarray], targets: Sequence[numpy.ndarray], loss_fn: LossFunction
) -> tuple[float, list[numpy.ndarray]]:
    """The loss over the positions with a target, and d(loss)/d(logits) per chunk.

    logits (Sequence[numpy.ndarray]): Per chunk, (..., n_tags) logits.
    targets (Sequence[numpy.ndarray]): Per chunk, the gold tag of each position
        (the logits' shape without the last axis); negative: not trained.
    loss_fn (LossFunction): The loss of the trained positions' logits and tags.
    RETURNS (tuple[float, list[numpy.ndarray]]): The loss (0.0 when nothing is
        trained) and, per chunk, the float32 gradient (zero where untrained).
    """
    grads = [numpy.zeros(numpy.shape(x), dtype="float32") for x in logits]
    masks = [numpy.asarray(t) >= 0 for t in targets]
    if not any(m.any() for m in masks):
        return 0.0, grads
    leaves = [
        torch.tensor(numpy.asarray(x)[m], dtype=torch.float32, requires_grad=True)
        for x, m in zip(logits, masks, strict=True)
    ]
    gold = torch.from_numpy(
        numpy.concatenate([numpy.asarray(t, dtype="int64")[m] for t, m in zip(targets, masks, strict=True)])
    )
    loss = loss_fn(torch.cat(leaves), gold)
    loss.backward()
    for d, m, leaf in zip(grads, masks, leaves, strict=True):
        if leaf.grad is not None:
            d[m] = leaf.grad.numpy()
    return float(loss.detach()), grads
