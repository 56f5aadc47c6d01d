"""Thinc layer of the bi-encoder tagger: ``spacy_bioner.LabelMatcher.v1``.

A drop-in `model` of ``bioner_prompted``: it reads the same list of
:class:`~.queries.PromptQuery` (one per sentence and label) and returns the
same :class:`~.tagger_layer.PromptScores`, so the pipe decodes, trains and
tunes it unchanged. Inside, each distinct sentence is encoded once
(``[CLS] window [SEP]`` rows, windowed like the cross-encoder, no token
dropped) and each distinct label text once; the torch module
(:class:`~spacy_bioner.torch.LabelMatcherModule`) scores every (subword,
label) pair. The logits come back in the layout of single-segment query rows
(one row per query window, grouped by label as the pipe asks), so a query's
rows have no description subwords (`label_pos` is -1 everywhere).

Label vectors: in training they are computed in the same graph as the
sentences (they get gradients, never stale); in prediction they are cached by
text in the shim and the cache is emptied whenever the weights can have
changed (update, `use_params`, deserialization, initialization), and also
when a label-side parameter's version counter moved (any in-place change).
In prediction each label text is encoded alone, without padding, so its
vector (and thus its spans and scores) does not depend on the other labels.
With ``label_interaction = "tokens"`` the cache holds each label's token
vectors instead (see the torch module).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy
import spacy
import srsly
import torch
from thinc.api import ArgsKwargs, Model, NumpyOps, torch2xp, xp2torch

from ..errors import Errors
from ..torch.label_matcher import HEAD_INITS, INTERACTIONS, LABEL_POOLING, LabelMatcherModule
from .hf import encoder_from_config, hf_from_bytes, hf_to_bytes, load_hf_encoder
from .precision import use_bf16
from .prompt_tagger import PromptTaggerSettings, PromptTaggerShim
from .queries import TAG_SCHEMES, PromptBatch, PromptQuery
from .tagger_layer import Backprop, PromptScores, get_shim, load_row_encoder
from .windows import RowLayout, SentenceTokens, _tokenize_words, encode_rows

ARCHITECTURE = "spacy_bioner.LabelMatcher.v1"
#: Shortest sensible max_length: [CLS] one subword [SEP].
N_MIN_LENGTH = 3
#: Label texts kept in the prediction cache before it is emptied.
MAX_CACHED_LABELS = 10_000


@dataclass(frozen=True)
class LabelMatcherSettings(PromptTaggerSettings):
    """The runtime settings of spacy_bioner.LabelMatcher.v1."""

    label_encoder: str | None = None
    dim: int = 256
    label_pooling: str = "mean"
    freeze_label_encoder: bool = False
    head_learn_rate_scale: float = 1.0
    head_init: str = "random"
    freeze_label_projection: bool = False
    label_interaction: str = "pooled"

    def validate(self) -> None:
        """RAISES (ValueError): Naming the invalid setting (E306, E310, E342)."""
        if self.tag_scheme not in TAG_SCHEMES:
            raise ValueError(Errors.E306.format(scheme=self.tag_scheme, options=", ".join(TAG_SCHEMES)))
        if self.label_pooling not in LABEL_POOLING:
            raise ValueError(Errors.E342.format(pooling=self.label_pooling, options=", ".join(LABEL_POOLING)))
        self.check(ARCHITECTURE, N_MIN_LENGTH)
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(Errors.E310.format(setting="dim", value=self.dim, architecture=ARCHITECTURE,
                                                what="give 1 or more"))
        if self.freeze_label_encoder and self.label_encoder is None:
            raise ValueError(Errors.E310.format(
                setting="freeze_label_encoder", value=True, architecture=ARCHITECTURE,
                what="also set label_encoder (e.g. to the text encoder's name): the shared encoder reads the text "
                     "too, so it cannot be frozen for the labels alone"))
        scale = self.head_learn_rate_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(Errors.E310.format(setting="head_learn_rate_scale", value=scale,
                                                architecture=ARCHITECTURE, what="give a number above 0"))
        if self.head_init not in HEAD_INITS:
            raise ValueError(Errors.E310.format(setting="head_init", value=self.head_init, architecture=ARCHITECTURE,
                                                what="choose one of " + ", ".join(HEAD_INITS)))
        if not isinstance(self.freeze_label_projection, bool):
            raise ValueError(Errors.E310.format(setting="freeze_label_projection", value=self.freeze_label_projection,
                                                architecture=ARCHITECTURE, what="give true or false"))
        if self.label_interaction not in INTERACTIONS:
            raise ValueError(Errors.E310.format(setting="label_interaction", value=self.label_interaction,
                                                architecture=ARCHITECTURE, what="choose one of " + ", ".join(INTERACTIONS)))
        if self.label_interaction == "tokens" and self.head_init == "identity":
            raise ValueError(Errors.E310.format(setting="head_init", value=self.head_init, architecture=ARCHITECTURE,
                                                what='use "random" with label_interaction = "tokens" (the identity '
                                                     "init is defined for pooled label vectors)"))


@dataclass
class MatchBatch:
    """The queries' rows (what the pipe reads) and what the module encodes.

    batch (PromptBatch): One ``[CLS] window [SEP]`` row per query window, in
        the pipe's grouping; its chunks are the layout of the logits.
    text (PromptBatch): The rows of the distinct sentences, encoded once.
    gathers (list[tuple[numpy.ndarray, numpy.ndarray]]): Per chunk of
        `batch`, the (rows, length) index of each position into the unpadded
        positions of `text` (padding: one past the last) and the (rows,)
        index of each row's label in `label_texts`.
    label_texts (list[str]): The distinct label texts.
    label_ids (list[list[int]]): Their token ids, special tokens included.
    """

    batch: PromptBatch
    text: PromptBatch
    gathers: list[tuple[numpy.ndarray, numpy.ndarray]]
    label_texts: list[str]
    label_ids: list[list[int]]


def first_index(keys: list[Any]) -> tuple[list[Any], numpy.ndarray]:
    """keys (list[Any]): Hashable keys. RETURNS (tuple[list, numpy.ndarray]): The
    distinct keys in order of first appearance, and each key's index among them."""
    index: dict[Any, int] = {}
    for key in keys:
        index.setdefault(key, len(index))
    return list(index), numpy.asarray([index[key] for key in keys], dtype="int64")


def encode_matches(
    tokenizer: Any,
    label_tokenizer: Any,
    queries: list[PromptQuery],
    *,
    max_length: int,
    label_max_length: int,
    stride: int,
    batch_size: int,
) -> MatchBatch:
    """Tokenise each distinct sentence and label text once and lay out the rows.

    tokenizer (Any): The fast tokenizer of the text encoder.
    label_tokenizer (Any): The tokenizer of the label encoder (may be `tokenizer`).
    queries (list[PromptQuery]): The queries.
    max_length (int): Maximum text row length, special tokens included.
    label_max_length (int): Maximum label length, special tokens included.
    stride (int): Subwords shared by consecutive windows of a long sentence.
    batch_size (int): Maximum rows per padded chunk (text and query rows).
    RETURNS (MatchBatch): The rows and the gather indices.
    RAISES (ValueError): If a label text is longer than `label_max_length`.
    """
    sentences, sentence_of = first_index([tuple(q.words) for q in queries])
    label_texts, label_of = first_index([q.description for q in queries])
    tokens: list[SentenceTokens] = _tokenize_words(tokenizer, sentences)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    layout = RowLayout((tokenizer.cls_token_id,), (), (tokenizer.sep_token_id,), pad_id, False)

    def too_long(q: PromptQuery, n_prefix: int) -> Exception:
        return ValueError(Errors.E310.format(setting="max_length", value=max_length,
                                             architecture=ARCHITECTURE, what=f"give at least {N_MIN_LENGTH}"))

    def rows(row_queries: list[PromptQuery], row_tokens: list[SentenceTokens]) -> PromptBatch:
        return encode_rows(row_queries, row_tokens, [()] * len(row_queries), layout, max_length=max_length,
                           stride=stride, batch_size=batch_size, too_long=too_long)

    text = rows([PromptQuery(words, "") for words in sentences], tokens)
    batch = rows(queries, [tokens[i] for i in sentence_of])
    label_ids = label_token_ids(label_tokenizer, label_texts, label_max_length)
    gathers = gather_indices(text, batch, sentence_of, label_of)
    return MatchBatch(batch, text, gathers, label_texts, label_ids)


def label_token_ids(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    """texts (list[str]): Label texts. RETURNS (list[list[int]]): Their token ids
    with the tokenizer's special tokens. RAISES (ValueError): E340 if one is too long."""
    if not texts:
        return []
    ids = [list(row) for row in tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]]
    for text, row in zip(texts, ids, strict=True):
        if len(row) > max_length:
            raise ValueError(Errors.E340.format(text=text, n=len(row), max_length=max_length))
    return ids


def gather_indices(
    text: PromptBatch, batch: PromptBatch, sentence_of: numpy.ndarray, label_of: numpy.ndarray
) -> list[tuple[numpy.ndarray, numpy.ndarray]]:
    """Map every position of the query rows to the same position of its
    sentence's row in `text` (both have the layout ``[CLS] window [SEP]``).

    A row is known by the global subword of its first window subword
    (position 1): in `text` that is the row's key; for a query row, the same
    subword of its sentence. Text positions are counted unpadded, chunk by
    chunk, row by row (as the module flattens them).

    text (PromptBatch): The distinct sentences' rows.
    batch (PromptBatch): The query rows.
    sentence_of (numpy.ndarray): (n_queries,) each query's sentence in `text`.
    label_of (numpy.ndarray): (n_queries,) each query's label index.
    RETURNS (list[tuple[numpy.ndarray, numpy.ndarray]]): Per chunk of `batch`,
        (positions, label index); see MatchBatch.
    """
    if not text.chunks:
        return []
    keys = numpy.concatenate([chunk.subword[:, 1] for chunk in text.chunks])
    lengths = numpy.concatenate([chunk.attention_mask.sum(1) for chunk in text.chunks])
    starts = numpy.r_[0, numpy.cumsum(lengths)[:-1]]
    padding = int(lengths.sum())
    order = numpy.argsort(keys)
    out = []
    for chunk in batch.chunks:
        first = chunk.subword[:, 1] - batch.subword_offsets[chunk.query]
        sentence = sentence_of[chunk.query]
        key = text.subword_offsets[sentence] + first
        row = order[numpy.searchsorted(keys, key, sorter=order)]
        positions = starts[row][:, None] + numpy.arange(chunk.input_ids.shape[1])[None, :]
        positions[chunk.attention_mask == 0] = padding
        out.append((positions.astype("int64"), label_of[chunk.query]))
    return out


def pad_ids(rows: list[list[int]], pad_id: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    """rows (list[list[int]]): Token ids. pad_id (int): The padding id.
    RETURNS (tuple[numpy.ndarray, numpy.ndarray]): (rows, length) ids and attention mask."""
    length = max((len(row) for row in rows), default=0)
    ids = numpy.full((len(rows), length), pad_id, dtype="int64")
    mask = numpy.zeros((len(rows), length), dtype="int64")
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


class LabelMatcherShim(PromptTaggerShim):
    """The shim of ``spacy_bioner.LabelMatcher.v1``: the module, the text
    tokenizer, the label tokenizer (the text one when the encoder is shared)
    and the prediction cache of label vectors.

    tag_scheme (str): "binary" or "bio".
    dropout (float): Dropout before the projections, for rebuilt modules.
    dim (int): Size of the shared space (checked against saved data).
    label_pooling (str): "mean" or "cls".
    shared (bool): Labels are read by the text encoder (checked against saved data).
    inference_bf16 (bool): Predict under bfloat16 autocast.
    training_bf16 (bool): Train under bfloat16 autocast.
    freeze_labels (bool): The separate label encoder is not trained.
    head_lr_scale (float): The optimizer's learning rate is multiplied by this
        for the parameters outside the encoders (projections and bias).
    head_init (str): How a new module's projections start ("random" or "identity").
    freeze_label_proj (bool): The label projection is not trained.
    interaction (str): "pooled" or "tokens" (checked against saved data).
    """

    def __init__(self, tag_scheme: str, dropout: float, dim: int, label_pooling: str, shared: bool,
                 inference_bf16: bool = False, training_bf16: bool = False, freeze_labels: bool = False,
                 head_lr_scale: float = 1.0, head_init: str = "random", freeze_label_proj: bool = False,
                 interaction: str = "pooled") -> None:
        super().__init__(tag_scheme, dropout, inference_bf16, training_bf16)
        self.head_init = head_init
        self.freeze_label_proj = freeze_label_proj
        self.interaction = interaction
        self.freeze_labels = freeze_labels
        self.head_lr_scale = float(head_lr_scale)
        self.dim = dim
        self.label_pooling = label_pooling
        self.shared = shared
        self.label_tokenizer: Any = None
        self.label_cache: dict[str, torch.Tensor] = {}
        self._cache_version: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_settings(cls, settings: LabelMatcherSettings) -> LabelMatcherShim:
        """RETURNS (LabelMatcherShim): The shim the layer of `settings` holds."""
        return cls(settings.tag_scheme, settings.dropout, settings.dim, settings.label_pooling,
                   shared=settings.label_encoder is None, inference_bf16=settings.inference_bf16,
                   training_bf16=settings.training_bf16, freeze_labels=settings.freeze_label_encoder,
                   head_lr_scale=settings.head_learn_rate_scale, head_init=settings.head_init,
                   freeze_label_proj=settings.freeze_label_projection, interaction=settings.label_interaction)

    @property
    def module(self) -> Any:
        """RETURNS (LabelMatcherModule | None): The module, once initialized."""
        return self._model

    @property
    def label_max_positions(self) -> int:
        """The longest label the label encoder's position embeddings allow."""
        encoder = self._model.label_encoder or self._model.encoder
        return int(getattr(encoder.config, "max_position_embeddings", 512) or 512)

    def build_module(self, encoder: Any, n_tags: int, label_encoder: Any = None) -> Any:
        """The module around `encoder` and `label_encoder` (None: shared).

        RETURNS (LabelMatcherModule): The module, weights still to be loaded.
        """
        return LabelMatcherModule(encoder, label_encoder, n_tags, self.dim, self.dropout, self.label_pooling,
                                  freeze_labels=self.freeze_labels and label_encoder is not None,
                                  head_init=self.head_init, freeze_label_proj=self.freeze_label_proj,
                                  interaction=self.interaction)

    def set_module(self, module: torch.nn.Module, tokenizer: Any, label_tokenizer: Any = None) -> None:
        super().set_module(module, tokenizer)
        self.label_tokenizer = label_tokenizer if label_tokenizer is not None else tokenizer
        self.clear_cache()

    def reset(self) -> None:
        super().reset()
        self.label_tokenizer = None
        self.clear_cache()

    def clear_cache(self) -> None:
        """Forget the cached label vectors (the weights may have changed)."""
        self.label_cache.clear()
        self._cache_version = ()

    def finish_update(self, optimizer: Any) -> None:
        """Update as thinc's shim does, the head at `head_lr_scale` times the rate.

        A fresh head on a frozen label encoder has only its projection to
        learn the label side; at an encoder's fine-tuning rate (1e-4 in
        configs/base.cfg) it barely leaves its initialisation in a few thousand
        updates. thinc's shim has no per-parameter rate, hence its loop here
        (the default keeps thinc's own).
        """
        if self.head_lr_scale == 1.0:
            super().finish_update(optimizer)
        else:
            for name, param in self._model.named_parameters():
                if param.grad is None:
                    continue
                if not self._grad_scaler.found_inf:
                    in_encoder = name.startswith(("encoder.", "label_encoder."))
                    weights, _ = optimizer((self.id, name), torch2xp(param.data), torch2xp(param.grad),
                                           lr_scale=1.0 if in_encoder else self.head_lr_scale)
                    param.data = xp2torch(weights, requires_grad=True, device=param.device)
                param.grad.zero_()
            self._grad_scaler.update()
        self.clear_cache()

    @contextlib.contextmanager
    def use_params(self, params: Any) -> Iterator[None]:
        self.clear_cache()
        try:
            with super().use_params(params):
                yield
        finally:
            self.clear_cache()

    def _label_side_version(self) -> tuple[tuple[int, int], ...]:
        module = cast(LabelMatcherModule, self._model)
        encoder = module.label_encoder if module.label_encoder is not None else module.encoder
        params = [*encoder.parameters(), *module.label_proj.parameters()]
        return tuple((id(p), p._version) for p in params)

    def label_vectors(self, texts: list[str], ids: list[list[int]]) -> torch.Tensor | list[torch.Tensor]:
        """The label vectors for prediction: cached, or encoded one text at a time.

        texts (list[str]): Distinct label texts.
        ids (list[list[int]]): Their token ids.
        RETURNS (torch.Tensor | list[torch.Tensor]): float32; pooled: (labels,
            n_tags, dim); tokens: per label, its (tokens, dim) vectors.
        """
        version = self._label_side_version()
        if version != self._cache_version or len(self.label_cache) > MAX_CACHED_LABELS:
            self.clear_cache()
            self._cache_version = version
        module = cast(LabelMatcherModule, self._model)
        missing = [(text, row) for text, row in zip(texts, ids, strict=True) if text not in self.label_cache]
        if missing:
            module.eval()
            bf16 = use_bf16(self.inference_bf16, self.device.type, "inference_bf16")
            with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=bf16):
                for text, row in missing:
                    tensor = torch.tensor([row], dtype=torch.int64, device=self.device)
                    vector = module.encode_labels(tensor, torch.ones_like(tensor))[0]
                    self.label_cache[text] = vector.float()
            module.train()
        vectors = [self.label_cache[text] for text in texts]
        if module.interaction == "tokens":
            return vectors
        if not texts:
            return torch.zeros((0, module.n_tags, module.dim), device=self.device)
        return torch.stack(vectors)

    def to_bytes(self) -> bytes:
        if self._model is None:
            return srsly.msgpack_dumps({"initialized": False})
        module = cast(LabelMatcherModule, self._model)
        label_hf = None
        if module.label_encoder is not None:
            label_hf = hf_to_bytes(module.label_encoder.config, self.label_tokenizer, {})
        msg = {
            "initialized": True,
            "n_tags": self.n_tags,
            "dim": module.dim,
            "label_pooling": module.label_pooling,
            "label_interaction": module.interaction,
            "hf": hf_to_bytes(module.encoder.config, self.tokenizer, module.state_dict()),
            "label_hf": label_hf,
        }
        return srsly.msgpack_dumps(msg)

    def check_saved(self, msg: dict[str, Any]) -> None:
        """msg (dict[str, Any]): Saved shim data. RAISES (ValueError): If its
        shapes do not fit the config (E317, E341)."""
        self.check_saved_tags(int(msg["n_tags"]))
        saved = {"dim": msg.get("dim"), "label_pooling": msg.get("label_pooling"),
                 "label_encoder": "shared" if msg.get("label_hf") is None else "separate",
                 "label_interaction": msg.get("label_interaction", "pooled")}
        config = {"dim": self.dim, "label_pooling": self.label_pooling,
                  "label_encoder": "shared" if self.shared else "separate", "label_interaction": self.interaction}
        for setting, value in saved.items():
            if value != config[setting]:
                raise ValueError(Errors.E341.format(setting=setting, saved=value, config=config[setting]))

    def from_bytes(self, bytes_data: bytes) -> LabelMatcherShim:
        msg = self.read_message(bytes_data, Errors.E315)
        if msg is None:
            return self
        self.check_saved(msg)
        config, tokenizer, state_dict = hf_from_bytes(msg["hf"])
        label_encoder = label_tokenizer = None
        if msg["label_hf"] is not None:
            label_config, label_tokenizer, _ = hf_from_bytes(msg["label_hf"])
            label_encoder = encoder_from_config(label_config)
        module = self.build_module(encoder_from_config(config), int(msg["n_tags"]), label_encoder)
        try:
            module.load_state_dict(state_dict, strict=True)
        except RuntimeError as err:
            raise ValueError(Errors.E316.format(err=err)) from err
        self._model = None
        self.set_module(module, tokenizer, label_tokenizer)
        return self


@spacy.registry.architectures(ARCHITECTURE)
def build_label_matcher(
    encoder: str,
    label_encoder: str | None = None,
    tag_scheme: str = "binary",
    dim: int = 256,
    label_pooling: str = "mean",
    dropout: float = 0.1,
    max_length: int = 512,
    stride: int = 128,
    batch_size: int = 32,
    inference_bf16: bool = False,
    training_bf16: bool = False,
    freeze_label_encoder: bool = False,
    head_learn_rate_scale: float = 1.0,
    head_init: str = "random",
    freeze_label_projection: bool = False,
    label_interaction: str = "pooled",
) -> Model[list[PromptQuery], PromptScores]:
    """The bi-encoder tagger: sentences and labels encoded apart, then matched.

    Each distinct sentence of a batch is encoded once, whatever the number of
    labels, and each distinct label text once; a head shared by all labels
    scores every (subword, label) pair. The settings it shares with
    spacy_bioner.PromptTagger.v1 mean the same, so switching architecture is
    one config line. The README measures each option.

    encoder (str): HF model name or local directory of the text encoder;
        read only at initialize.
    label_encoder (str | None): A second encoder for the labels; None: the
        text encoder reads them too (one model, half the memory).
    tag_scheme (str): "binary" (inside an entity of the label or not) or "bio".
    dim (int): Size of the shared space of subword and label vectors.
    label_pooling (str): "mean" over the label's tokens or "cls".
    dropout (float): Dropout on both encoders' outputs, in training.
    max_length (int): Maximum sentence row length in subwords, special tokens included.
    stride (int): Subwords shared by consecutive windows of a long sentence.
    batch_size (int): Maximum rows per encoder pass (and per output chunk).
    inference_bf16 (bool): Predict under bfloat16 autocast.
    training_bf16 (bool): Train under bfloat16 autocast (weights stay float32).
    freeze_label_encoder (bool): Keep the separate `label_encoder` as pretrained.
    head_learn_rate_scale (float): Learning-rate multiple for the parameters
        outside the encoders (freshly initialised).
    head_init (str): "random" or "identity" (projections start as the
        identity; needs `dim` equal to the encoders' hidden size).
    freeze_label_projection (bool): Keep the label projection as initialised.
    label_interaction (str): "pooled" (one vector per label, bilinear score)
        or "tokens" (each subword attends over the label's token vectors).
    RETURNS (Model[list[PromptQuery], PromptScores]): The layer.
    """
    settings = LabelMatcherSettings(
        encoder=encoder, dropout=dropout, max_length=max_length, stride=stride, batch_size=batch_size,
        tag_scheme=tag_scheme, inference_bf16=inference_bf16, training_bf16=training_bf16,
        label_encoder=label_encoder, dim=dim, label_pooling=label_pooling,
        freeze_label_encoder=freeze_label_encoder, head_learn_rate_scale=head_learn_rate_scale,
        head_init=head_init, freeze_label_projection=freeze_label_projection, label_interaction=label_interaction,
    )
    return label_matcher_layer(settings)


def label_matcher_layer(settings: LabelMatcherSettings) -> Model[list[PromptQuery], PromptScores]:
    """The thinc layer of `settings` (validated here). Kept apart from the
    registered function, whose signature is the config's."""
    settings.validate()
    shim = LabelMatcherShim.from_settings(settings)
    attrs = {"tag_scheme": settings.tag_scheme, "n_tags": len(TAG_SCHEMES[settings.tag_scheme]),
             "dropout_rate": settings.dropout}

    def forward(model: Model, queries: list[PromptQuery], is_train: bool) -> tuple[PromptScores, Backprop]:
        return forward_matches(model, queries, is_train, settings)

    def initialize(model: Model, X: Any = None, Y: Any = None) -> None:
        _init(get_shim(model, LabelMatcherShim), settings)

    return Model("label_matcher", forward, init=initialize, shims=[shim], attrs=attrs)


def _init(shim: LabelMatcherShim, settings: LabelMatcherSettings) -> None:
    if shim.is_initialized:
        # keep trained weights when a pipeline is initialised again
        return
    encoder, tokenizer = load_row_encoder(settings.encoder, Errors.E343)
    label_encoder = label_tokenizer = None
    if settings.label_encoder is not None:
        label_encoder, label_tokenizer = load_hf_encoder(settings.label_encoder)
    if settings.head_init == "identity":
        for side, model in (("text", encoder), ("label", label_encoder or encoder)):
            hidden = int(model.config.hidden_size)
            if hidden != settings.dim:
                raise ValueError(Errors.E310.format(
                    setting="dim", value=settings.dim, architecture=ARCHITECTURE,
                    what=f"head_init = \"identity\" needs dim equal to the {side} encoder's hidden size, {hidden}"))
    n_tags = len(TAG_SCHEMES[settings.tag_scheme])
    shim.set_module(shim.build_module(encoder, n_tags, label_encoder), tokenizer, label_tokenizer)


def forward_matches(
    model: Model, queries: list[PromptQuery], is_train: bool, settings: LabelMatcherSettings
) -> tuple[PromptScores, Backprop]:
    """Encode the distinct sentences and labels of `queries` and score each query.

    model (Model): The layer.
    queries (list[PromptQuery]): The queries.
    is_train (bool): Training: dropout on, label vectors computed in the graph.
    settings (LabelMatcherSettings): The layer's settings.
    RETURNS (tuple[PromptScores, Callable]): The scores (one logit array per
        chunk of the query rows) and the callback that takes their gradients.
    RAISES (ValueError): If the layer is not initialized.
    """
    shim = get_shim(model, LabelMatcherShim)
    if not shim.is_initialized:
        raise ValueError(Errors.E300.format(name=model.name, component=ARCHITECTURE))
    if is_train:
        shim.set_dropout(float(model.attrs["dropout_rate"]))
    matches = encode_matches(
        shim.tokenizer, shim.label_tokenizer, queries, max_length=min(settings.max_length, shim.max_positions),
        label_max_length=shim.label_max_positions, stride=settings.stride, batch_size=settings.batch_size)
    if not matches.batch.chunks:
        return PromptScores(matches.batch, []), lambda d_logits: []
    output, callback = shim(module_inputs(shim, matches, is_train), is_train)
    numpy_ops = NumpyOps()
    flat = numpy.asarray(torch2xp(output.detach().float(), ops=numpy_ops), dtype="float32")
    shapes = [chunk.input_ids.shape + (shim.n_tags,) for chunk in matches.batch.chunks]
    bounds = numpy.cumsum([0] + [int(numpy.prod(shape)) for shape in shapes])
    logits = [flat[bounds[i]:bounds[i + 1]].reshape(shape) for i, shape in enumerate(shapes)]

    def backprop(d_logits: list[numpy.ndarray]) -> list:
        d_flat = numpy.concatenate([numpy.asarray(d, dtype="float32").reshape(-1) for d in d_logits])
        grad = xp2torch(cast(Any, numpy.ascontiguousarray(d_flat)), device=output.device)
        callback(ArgsKwargs(args=(output,), kwargs={"grad_tensors": (grad,)}))
        return []

    return PromptScores(matches.batch, logits), backprop


def module_inputs(shim: LabelMatcherShim, matches: MatchBatch, is_train: bool) -> ArgsKwargs:
    """The module's arguments: text chunks, gathers and, in training, the label
    tokens (encoded in the graph), else the cached label vectors."""
    device = shim.device

    def tensor(array: numpy.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(device)

    kwargs: dict[str, Any] = {
        "text_chunks": [(tensor(c.input_ids), tensor(c.attention_mask)) for c in matches.text.chunks],
        "gathers": [(tensor(positions), tensor(labels)) for positions, labels in matches.gathers],
    }
    if is_train:
        pad_id = shim.label_tokenizer.pad_token_id or 0
        ids, mask = pad_ids(matches.label_ids, pad_id)
        kwargs["label_ids"], kwargs["label_mask"] = tensor(ids), tensor(mask)
    else:
        kwargs["labels"] = shim.label_vectors(matches.label_texts, matches.label_ids)
    return ArgsKwargs(args=(), kwargs=kwargs)
