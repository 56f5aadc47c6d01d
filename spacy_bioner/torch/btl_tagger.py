"""The network and the losses of the BTL tagger (Rehman et al., "Preserving
Empirical Probabilities in BERT for Small-sample Clinical Entity Recognition").

The network is an ordinary multi-class token classifier: an encoder reads
``[CLS] sentence [SEP]`` and a linear layer scores every subword with
``1 + 2 * n_labels`` tags laid out as ``O, B-0, I-0, B-1, I-1, ...``.

What BTL changes is the loss. All Token Labels (ATL, :func:`atl_loss`) is the
usual cross-entropy over all tags. Binary Token Labels (BTL, :func:`btl_loss`)
trains one "copy" of the batch per label c: in copy c only c's tags are
positive, every other tag is O, and the softmax runs over ``{O, B-c, I-c}``
only. The copies are computed from the same logits (one encoder pass, one
dropout mask), not by running the batch through the encoder once per label.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .prompt_tagger import PromptTaggerModule

if TYPE_CHECKING:
    from transformers import PreTrainedModel

#: Which labels get a BTL copy: every label, or those with a gold tag in the batch.
BTL_COPIES = ("all", "present")


def n_tags_for(n_labels: int) -> int:
    """n_labels (int): Entity labels. RETURNS (int): Tags: O plus B-/I- per label."""
    return 1 + 2 * n_labels


class BTLTaggerModule(PromptTaggerModule):
    """Encoder, dropout and a linear classifier with O and B-/I- per label.

    encoder (PreTrainedModel): A BERT-family encoder (`last_hidden_state`).
    n_labels (int): Entity labels (at least 1).
    dropout (float): Dropout on the encoder output before the classifier.
    """

    def __init__(self, encoder: PreTrainedModel, n_labels: int, dropout: float = 0.1) -> None:
        if n_labels < 1:
            raise ValueError(f"n_labels must be at least 1, not {n_labels}")
        super().__init__(encoder, n_tags_for(n_labels), dropout)
        self.n_labels = n_labels


def _weighted_mean_nll(log_probs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum(w * -log p_y) / sum(w) over the last axis of `targets` (PyTorch's
    weighted `cross_entropy` reduction), with `weights` per position; 0 where
    the weights sum to 0."""
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    total = weights.sum(dim=-1)
    return (weights * nll).sum(dim=-1) / total.clamp_min(torch.finfo(nll.dtype).tiny)


def atl_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """All Token Labels: (weighted) softmax cross-entropy over all tags.

    logits (torch.Tensor): (n, n_tags) logits of the trained positions.
    targets (torch.Tensor): (n,) gold tags (int64).
    weights (torch.Tensor | None): (n_tags,) class weights; None: all 1.
    RETURNS (torch.Tensor): The scalar loss, sum(w_y * CE) / sum(w_y).
    """
    if weights is None:
        weights = torch.ones(logits.shape[-1], dtype=logits.dtype, device=logits.device)
    if targets.numel() == 0:
        return logits.sum() * 0.0
    return _weighted_mean_nll(F.log_softmax(logits, dim=-1), targets, weights.to(logits.dtype)[targets])


def btl_targets(targets: torch.Tensor, n_labels: int) -> torch.Tensor:
    """The targets of each label's copy: 0 (O), 1 (B-c) or 2 (I-c).

    targets (torch.Tensor): (n,) gold tags in the full layout.
    n_labels (int): Entity labels.
    RETURNS (torch.Tensor): (n_labels, n) int64; another label's tags are O.
    """
    labels = torch.arange(n_labels, device=targets.device).unsqueeze(1)
    inside = targets > 0
    label_of = torch.where(inside, (targets - 1) // 2, torch.full_like(targets, -1))
    own = label_of.unsqueeze(0) == labels
    return torch.where(own, ((targets - 1) % 2 + 1).unsqueeze(0), torch.zeros_like(own, dtype=torch.int64))


def btl_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    n_labels: int,
    weights: torch.Tensor | None = None,
    copies: str = "all",
) -> torch.Tensor:
    """Binary Token Labels: the mean over labels c of the loss of copy c.

    Copy c's loss is the (weighted) cross-entropy of the softmax restricted to
    the logits of ``{O, B-c, I-c}``, against targets where only c's tags are
    kept and every other tag is O; its class weights are ``(w_O, w_B-c, w_I-c)``.
    Copies are averaged (not summed) so that the loss scale, and the learning
    rate that suits it, does not grow with the number of labels.

    logits (torch.Tensor): (n, 1 + 2 * n_labels) logits of the trained positions.
    targets (torch.Tensor): (n,) gold tags in the full layout.
    n_labels (int): Entity labels.
    weights (torch.Tensor | None): (1 + 2 * n_labels,) class weights; None: all 1.
    copies (str): "all": one copy per label; "present": only labels with a
        gold tag among `targets` (all-O batches then fall back to "all").
    RETURNS (torch.Tensor): The scalar loss.
    """
    if copies not in BTL_COPIES:
        raise ValueError(f"unknown BTL copies {copies!r}; choose one of {BTL_COPIES}")
    n_tags = n_tags_for(n_labels)
    if logits.shape[-1] != n_tags:
        raise ValueError(f"logits have {logits.shape[-1]} tags, {n_labels} labels need {n_tags}")
    if targets.numel() == 0:
        return logits.sum() * 0.0
    if weights is None:
        weights = torch.ones(n_tags, dtype=logits.dtype, device=logits.device)
    weights = weights.to(logits.dtype)
    n = logits.shape[0]
    # (n_labels, n, 3): [O, B-c, I-c] logits of each copy
    entity = logits[:, 1:].reshape(n, n_labels, 2).permute(1, 0, 2)
    outside = logits[:, :1].unsqueeze(0).expand(n_labels, n, 1)
    restricted = torch.cat([outside, entity], dim=-1)
    copy_targets = btl_targets(targets, n_labels)
    copy_weights = torch.cat([weights[:1].expand(n_labels, 1), weights[1:].reshape(n_labels, 2)], dim=-1)
    per_copy = _weighted_mean_nll(
        F.log_softmax(restricted, dim=-1), copy_targets, copy_weights.gather(-1, copy_targets)
    )
    chosen = torch.ones(n_labels, dtype=torch.bool, device=logits.device)
    if copies == "present":
        present = (copy_targets > 0).any(dim=1)
        if bool(present.any()):
            chosen = present
    return per_copy[chosen].mean()
