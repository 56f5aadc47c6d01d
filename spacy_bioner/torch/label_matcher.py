"""The network of the bi-encoder tagger: text and labels encoded apart, then matched.

The sentence is read once (``[CLS] window [SEP]``) whatever the number of
labels, each label text once (``[CLS] label [SEP]``, mean-pooled or its
[CLS]), by the same encoder or a second one. Both sides are projected to a
shared space of `dim` values; a label becomes one vector per tag, and the
logit of tag k at a subword is the dot product of the subword's vector with
the label's vector k, plus a bias (a bilinear score). The design idea is the
bi-encoder span model of GLiNER (Zaratiana et al.); here it scores subwords
with the binary (or BIO) tags of the cross-encoder, so the same pipe decodes
both. The softmax is left to the caller.

With ``interaction = "tokens"`` a label keeps one vector per token instead
of one pooled vector per tag. Each subword attends over its label's token
vectors; the agreement of the subword with what it attended to (their
elementwise product) and its best dot product with any label token go
through one linear layer shared by all labels. The head then learns a
function of how a subword matches a label's words, with no weights of its
own per label, so a label text that lists examples ("Dosage, e.g. 60 mg
daily") can be matched word by word (a late interaction, as in ColBERT).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel

#: How a label's encoder output becomes one vector.
LABEL_POOLING = ("mean", "cls")
#: How the projections start: BERT's task-head init, or the identity (the
#: pretrained dot product of token and label vectors).
HEAD_INITS = ("random", "identity")
#: How a subword meets a label: one pooled vector per tag, or the label's tokens.
INTERACTIONS = ("pooled", "tokens")


class LabelMatcherModule(nn.Module):
    """Text encoder, label encoder (or the same), projections and a bilinear score.

    encoder (PreTrainedModel): The text encoder (output `last_hidden_state`).
    label_encoder (PreTrainedModel | None): The label encoder; None: `encoder`.
    n_tags (int): Tags per subword (2: outside/inside; 3: O/B/I).
    dim (int): Size of the shared space.
    dropout (float): Dropout on both encoders' outputs before the projections.
    label_pooling (str): "mean" (over the label's tokens, [CLS] and [SEP]
        included, as sentence-transformers pool) or "cls".
    freeze_labels (bool): Keep the separate label encoder as pretrained (no
        gradient, always in eval mode), so label vectors stay in the sentence
        encoder's semantic space and a label never trained on lands near the
        trained labels whose texts mean something alike; only `label_proj`
        learns the label side. Needs a separate `label_encoder`.
    head_init (str): "random" (BERT's init for task heads) or "identity":
        both projections start as the identity and the outside tag's label
        vector at zero, so the first logit of "inside" is the encoder's own
        dot product of subword and label vectors. Plain SGD would then move
        the projections only along the seen labels' directions; Adam's
        per-element steps move them all (measured: lower zero-shot than
        "random", README). Needs `dim` equal to both encoders' hidden size.
    freeze_label_proj (bool): Keep the label projection as initialised (no
        gradient). With a frozen label encoder and the identity init, a
        label's vectors are then its pretrained embedding, the same function
        for seen and unseen labels: only the text side learns to land an
        entity's subwords near the embedding of its type's text.
    interaction (str): "pooled" (one vector per tag and label, a bilinear
        score) or "tokens" (attention over the label's token vectors, then a
        linear layer shared by every label; see the module docstring).
        `label_pooling` does not apply to "tokens", nor does the identity init.
    """

    def __init__(
        self,
        encoder: PreTrainedModel,
        label_encoder: PreTrainedModel | None = None,
        n_tags: int = 2,
        dim: int = 256,
        dropout: float = 0.1,
        label_pooling: str = "mean",
        freeze_labels: bool = False,
        head_init: str = "random",
        freeze_label_proj: bool = False,
        interaction: str = "pooled",
    ) -> None:
        super().__init__()
        if freeze_labels and label_encoder is None:
            raise ValueError("freeze_labels needs a separate label_encoder: the shared encoder also reads the text")
        if n_tags < 2:
            raise ValueError(f"n_tags must be at least 2, not {n_tags}")
        if dim < 1:
            raise ValueError(f"dim must be at least 1, not {dim}")
        if label_pooling not in LABEL_POOLING:
            raise ValueError(f"label_pooling must be one of {LABEL_POOLING}, not {label_pooling!r}")
        if head_init not in HEAD_INITS:
            raise ValueError(f"head_init must be one of {HEAD_INITS}, not {head_init!r}")
        if interaction not in INTERACTIONS:
            raise ValueError(f"interaction must be one of {INTERACTIONS}, not {interaction!r}")
        if interaction == "tokens" and head_init == "identity":
            raise ValueError("head_init 'identity' is defined for the pooled interaction only")
        self.encoder = encoder
        self.label_encoder = label_encoder
        self.n_tags = n_tags
        self.dim = dim
        self.label_pooling = label_pooling
        self.freeze_labels = freeze_labels
        self.interaction = interaction
        if label_encoder is not None and freeze_labels:
            label_encoder.requires_grad_(False)
            label_encoder.eval()
        self.dropout = nn.Dropout(dropout)
        label_side = encoder if label_encoder is None else label_encoder
        self.text_proj = nn.Linear(int(encoder.config.hidden_size), dim)
        tokens = interaction == "tokens"
        self.label_proj = nn.Linear(int(label_side.config.hidden_size), dim if tokens else n_tags * dim)
        # tokens: the tags' weights on (agreement, best dot product), shared by all labels
        self.match = nn.Linear(dim + 1, n_tags, bias=False) if tokens else None
        self.bias = nn.Parameter(torch.zeros(n_tags))
        if head_init == "identity":
            self._init_identity()
        else:
            # the initialisation BERT uses for its task heads
            std = float(getattr(encoder.config, "initializer_range", 0.02))
            for layer in (self.text_proj, self.label_proj):
                nn.init.normal_(layer.weight, mean=0.0, std=std)
                nn.init.zeros_(layer.bias)
            if self.match is not None:
                nn.init.normal_(self.match.weight, mean=0.0, std=std)
        if freeze_label_proj:
            self.label_proj.requires_grad_(False)

    def _init_identity(self) -> None:
        sizes = {"dim": self.dim, "text hidden size": self.text_proj.in_features,
                 "label hidden size": self.label_proj.in_features}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"head_init 'identity' needs dim equal to the encoders' hidden sizes: {sizes}")
        with torch.no_grad():
            nn.init.eye_(self.text_proj.weight)
            nn.init.zeros_(self.text_proj.bias)
            nn.init.zeros_(self.label_proj.weight)
            nn.init.zeros_(self.label_proj.bias)
            for tag in range(1, self.n_tags):
                nn.init.eye_(self.label_proj.weight[tag * self.dim:(tag + 1) * self.dim])

    def train(self, mode: bool = True) -> LabelMatcherModule:
        """Set the training mode; a frozen label encoder always stays in eval mode."""
        super().train(mode)
        if self.freeze_labels and self.label_encoder is not None:
            self.label_encoder.eval()
        return self

    @property
    def shared(self) -> bool:
        """RETURNS (bool): Whether labels are read by the text encoder."""
        return self.label_encoder is None

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Project every position of single-segment rows into the shared space.

        input_ids (torch.Tensor): (rows, length) token ids.
        attention_mask (torch.Tensor): (rows, length), 1 for tokens, 0 for padding.
        RETURNS (torch.Tensor): (rows, length, dim) vectors.
        """
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        return self.text_proj(self.dropout(hidden.last_hidden_state))

    def encode_labels(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """The vectors of each label text.

        input_ids (torch.Tensor): (labels, length) token ids of ``[CLS] label [SEP]``.
        attention_mask (torch.Tensor): (labels, length), 1 for tokens, 0 for padding.
        RETURNS (torch.Tensor | list[torch.Tensor]): pooled: (labels, n_tags,
            dim); tokens: per label, its (tokens, dim) vectors, padding dropped.
        """
        encoder = self.encoder if self.label_encoder is None else self.label_encoder
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_labels):
            hidden = encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state
        if self.interaction == "tokens":
            projected = self.label_proj(self.dropout(hidden))
            return [row[mask.bool()] for row, mask in zip(projected, attention_mask, strict=True)]
        if self.label_pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.label_proj(self.dropout(pooled)).view(-1, self.n_tags, self.dim)

    def score(self, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The bilinear score of each row's positions against its label.

        tokens (torch.Tensor): (rows, length, dim) position vectors.
        labels (torch.Tensor): (rows, n_tags, dim) the vectors of each row's label.
        RETURNS (torch.Tensor): (rows, length, n_tags) logits.
        """
        scores = torch.einsum("rld,rkd->rlk", tokens, labels.to(tokens.dtype))
        return scores / math.sqrt(self.dim) + self.bias

    def score_tokens(self, tokens: torch.Tensor, label_index: torch.Tensor, labels: list[torch.Tensor]) -> torch.Tensor:
        """The late-interaction score of each row's positions against its label's tokens.

        Rows are scored label by label against that label's unpadded token
        vectors, so a row's logits do not depend on the other labels' lengths.

        tokens (torch.Tensor): (rows, length, dim) position vectors.
        label_index (torch.Tensor): (rows,) each row's label in `labels`.
        labels (list[torch.Tensor]): Per label, its (label tokens, dim) vectors.
        RETURNS (torch.Tensor): (rows, length, n_tags) logits.
        """
        assert self.match is not None
        order = torch.argsort(label_index, stable=True)
        pieces = []
        for label in torch.unique_consecutive(label_index[order]).tolist():
            rows = order[label_index[order] == label]
            keys = labels[label].to(tokens.dtype)
            query = tokens[rows]
            sim = torch.matmul(query, keys.T) / math.sqrt(self.dim)
            attended = torch.matmul(torch.softmax(sim, dim=-1), keys)
            best = sim.max(dim=-1, keepdim=True).values
            pieces.append(self.match(torch.cat([query * attended, best], dim=-1)) + self.bias)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        return torch.cat(pieces)[inverse]

    def forward(
        self,
        text_chunks: list[tuple[torch.Tensor, torch.Tensor]],
        gathers: list[tuple[torch.Tensor, torch.Tensor]],
        labels: torch.Tensor | list[torch.Tensor] | None = None,
        label_ids: torch.Tensor | None = None,
        label_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Encode the distinct rows once, then score every (row, label) pair asked.

        text_chunks (list[tuple[torch.Tensor, torch.Tensor]]): Per padded chunk of
            distinct text rows, (input_ids, attention_mask).
        gathers (list[tuple[torch.Tensor, torch.Tensor]]): Per output chunk,
            (positions, label index): positions (rows, length) index the
            unpadded text positions, all chunks concatenated in order (the
            index one past the last is a zero vector, for padding); label
            index (rows,) says which label each row is scored against.
        labels (torch.Tensor | list[torch.Tensor] | None): The label vectors
            computed before (see `encode_labels`; the cache of prediction);
            None: encode them here
            from `label_ids` and `label_mask` (training: in the same graph).
        label_ids (torch.Tensor | None): (labels, length) label token ids.
        label_mask (torch.Tensor | None): (labels, length) their attention mask.
        RETURNS (torch.Tensor): The logits of every output chunk, flattened
            and concatenated in order.
        """
        if labels is None:
            if label_ids is None or label_mask is None:
                raise ValueError("give either labels or label_ids and label_mask")
            labels = self.encode_labels(label_ids, label_mask)
        flat = [self.encode_text(ids, mask)[mask.bool()] for ids, mask in text_chunks]
        device = self.bias.device
        flat.append(torch.zeros((1, self.dim), dtype=flat[0].dtype if flat else self.bias.dtype, device=device))
        positions = torch.cat(flat)
        if isinstance(labels, list):
            outputs = [self.score_tokens(positions[index], label, labels).reshape(-1) for index, label in gathers]
        else:
            outputs = [self.score(positions[index], labels[label]).reshape(-1) for index, label in gathers]
        if not outputs:
            return self.bias.new_zeros((0,))
        return torch.cat(outputs)
