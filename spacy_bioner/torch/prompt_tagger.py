"""The network of the label-prompted tagger (Košprdić et al., "From Zero to Hero").

A pretrained encoder reads the pair ``[CLS] label [SEP] sentence [SEP]`` and a
linear layer scores every subword position with ``n_tags`` tags (2 for the
binary "inside an entity of this label or not", 3 for O/B/I). The softmax is
left to the caller, which computes the loss and the probabilities.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class PromptTaggerModule(nn.Module):
    """Encoder, dropout and a linear tag classifier over every subword.

    encoder (PreTrainedModel): An encoder whose output has `last_hidden_state`
        (any `AutoModel` of the BERT family).
    n_tags (int): Number of tags per subword.
    dropout (float): Dropout on the encoder output before the classifier.
    """

    def __init__(self, encoder: PreTrainedModel, n_tags: int, dropout: float = 0.1) -> None:
        super().__init__()
        if n_tags < 2:
            raise ValueError(f"n_tags must be at least 2, not {n_tags}")
        self.encoder = encoder
        self.n_tags = n_tags
        self.dropout = nn.Dropout(dropout)
        hidden = int(encoder.config.hidden_size)
        self.classifier = nn.Linear(hidden, n_tags)
        # the initialisation BERT uses for its task heads
        std = float(getattr(encoder.config, "initializer_range", 0.02))
        nn.init.normal_(self.classifier.weight, mean=0.0, std=std)
        nn.init.zeros_(self.classifier.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Score every subword position.

        input_ids (torch.Tensor): (batch, length) token ids.
        attention_mask (torch.Tensor): (batch, length), 1 for tokens, 0 for padding.
        token_type_ids (torch.Tensor | None): (batch, length), 0 for the label
            segment, 1 for the sentence segment; None for encoders without segments.
        RETURNS (torch.Tensor): (batch, length, n_tags) logits.
        """
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs, return_dict=True).last_hidden_state
        return self.classifier(self.dropout(hidden))
