"""The network of the LLaMA-family labeler (Bian et al., "VANER: Leveraging
Large Language Model for Versatile and Adaptive Biomedical Named Entity
Recognition").

A decoder-only model (any ``transformers`` base model of type llama, mistral
or qwen2, loaded with ``AutoModel``: no LM head) reads
``instruction + sentence`` and a dropout + linear head scores every position
with O / B / I. What makes it a sequence labeler rather than a generator is
the attention mask: with ``bidirectional=True`` every token attends to every
other token of its row, in both directions.

* Bidirectional: the decoder gets a 4-D additive float mask of shape
  ``(batch, 1, length, length)``: 0 where a key may be attended, the dtype's
  minimum where the key is padding (:func:`bidirectional_mask`). Given a 4-D
  mask, transformers (4.53) uses it as it is, for "eager" and "sdpa"
  attention alike, so there is no causal triangle. VANER's code replaces the
  mask by zeros, which also lets real tokens attend to padding (their outputs
  then depend on how much padding their batch has); we keep the padding mask,
  so a row's outputs do not depend on its batch.
* Causal (``bidirectional=False``, the ablation): the usual 2-D padding mask,
  from which the decoder builds its causal mask.

Mistral and Qwen2 configs may ask for sliding-window attention; a custom 4-D
mask replaces that too (every key of the row is visible), which only matters
for rows longer than the window (4,096 tokens and more).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel

#: Decoder model types the labeler accepts (their attention takes a 4-D mask as given).
SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2")
#: The tags, in logit order.
LABELER_TAGS = ("O", "B", "I")
#: Target value of positions without a label (PyTorch's default ignore_index).
IGNORE_INDEX = -100


def bidirectional_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A 4-D additive mask that keeps the padding mask and nothing else.

    attention_mask (torch.Tensor): (batch, length), 1 for tokens, 0 for padding.
    dtype (torch.dtype): The dtype of the decoder's hidden states.
    RETURNS (torch.Tensor): (batch, 1, length, length): 0 where the key is a
        token, the dtype's minimum where it is padding, for every query.
    """
    batch, length = attention_mask.shape
    padding = ~attention_mask.to(torch.bool)
    mask = torch.zeros((batch, 1, length, length), dtype=dtype, device=attention_mask.device)
    return mask.masked_fill(padding[:, None, None, :], torch.finfo(dtype).min)


class LlamaLabelerModule(nn.Module):
    """A decoder, dropout and a linear O/B/I head over its last hidden state.

    decoder (PreTrainedModel): A base decoder (`AutoModel`, no LM head) of a type
        in `SUPPORTED_MODEL_TYPES`, possibly 4-bit and wrapped by peft.
    n_tags (int): Tags per position (3: O, B, I).
    dropout (float): Dropout on the hidden states before the head.
    bidirectional (bool): Attend in both directions (keeping the padding mask);
        False: the decoder's causal mask.
    """

    def __init__(
        self, decoder: PreTrainedModel, n_tags: int = 3, dropout: float = 0.1, bidirectional: bool = True
    ) -> None:
        super().__init__()
        model_type = getattr(decoder.config, "model_type", None)
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"model type {model_type!r} is not one of {SUPPORTED_MODEL_TYPES}")
        if n_tags < 2:
            raise ValueError(f"n_tags must be at least 2, not {n_tags}")
        self.decoder = decoder
        self.n_tags = n_tags
        self.bidirectional = bidirectional
        self.dropout = nn.Dropout(dropout)
        # the head stays float32 whatever the decoder's dtype (it is tiny and trained)
        self.classifier = nn.Linear(int(decoder.config.hidden_size), n_tags)
        std = float(getattr(decoder.config, "initializer_range", 0.02))
        nn.init.normal_(self.classifier.weight, mean=0.0, std=std)
        nn.init.zeros_(self.classifier.bias)

    @property
    def hidden_dtype(self) -> torch.dtype:
        """The dtype of the decoder's hidden states: that of its input embeddings."""
        embeddings = self.decoder.get_input_embeddings()
        assert isinstance(embeddings, nn.Module)
        return cast(torch.dtype, embeddings.weight.dtype)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The decoder's last hidden state under the configured mask.

        input_ids (torch.Tensor): (batch, length) token ids, right-padded.
        attention_mask (torch.Tensor): (batch, length), 1 for tokens, 0 for padding.
        RETURNS (torch.Tensor): (batch, length, hidden).
        """
        mask = bidirectional_mask(attention_mask, self.hidden_dtype) if self.bidirectional else attention_mask
        # position ids 0, 1, ... suit right padding, the only padding the batches use
        output = self.decoder(input_ids=input_ids, attention_mask=mask, use_cache=False, return_dict=True)
        return output.last_hidden_state

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Score every position with the tags.

        input_ids (torch.Tensor): (batch, length) token ids, right-padded.
        attention_mask (torch.Tensor): (batch, length), 1 for tokens, 0 for padding.
        token_type_ids (torch.Tensor | None): Ignored: decoders have no segments
            (accepted so that the encoder taggers' batch runner can call it).
        RETURNS (torch.Tensor): (batch, length, n_tags) float32 logits.
        """
        hidden = self.hidden_states(input_ids, attention_mask)
        return self.classifier(self.dropout(hidden.to(self.classifier.weight.dtype)))


def labeler_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labelled positions.

    Only the first subword of each word carries its word's tag; later
    subwords, instruction tokens, special tokens and padding have
    `IGNORE_INDEX` and add nothing.

    logits (torch.Tensor): (..., n_tags) logits.
    targets (torch.Tensor): (...) int64 tags, `IGNORE_INDEX` where unlabelled.
    RETURNS (torch.Tensor): The scalar loss; 0 (with a gradient of 0) when no
        position is labelled.
    """
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_targets = targets.reshape(-1)
    if not bool((flat_targets != IGNORE_INDEX).any()):
        return flat_logits.sum() * 0.0
    return F.cross_entropy(flat_logits.float(), flat_targets, ignore_index=IGNORE_INDEX)
