"""Tagging for `annotate`: SourceDocuments in, the same documents with scored
predictions out, at the exact character offsets of their source text.

Each text is tokenised with the pipeline's own tokenizer (`nlp.make_doc`), so
the Doc's text is the source text and every span's character offsets index
it. Sentence boundaries come from the corpus converters' rule-based splitter
(`split_sentences`, a sentence always starting at a passage start) unless a
component of the pipeline sets them. Documents are tagged in batches of
similar length across the documents given (less padding), and returned in
their order.

Where the predictions are read: `doc.spans[key]` with the scores in the group's
``attrs["scores"]``, key being `spans_key` or else the key of the last span
component of the pipeline (bioner_prompted, bioner_btl, bioner_llama,
spancat); a pipeline without one (e.g. spaCy's `ner`) gives `doc.ents`, each
with score 1.0, since it has no confidence to give and a prediction must have a
score (existing annotations have none).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy
import spacy
import srsly
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.pipeline import SpanCategorizer
from spacy.tokens import Doc, Span

from ..corpora.base import SourceAnnotation, SourceDocument, split_sentences
from ..errors import BioNERInputError, Errors, location
from ..pipeline.prompted import PromptedTagger
from .types import Failure

# What spacy.load raises for a bad name, path, config or meta.json.
_LOAD_ERRORS = (OSError, ValueError, KeyError, ImportError)
# What a component declares it assigns when it sets sentence boundaries.
_SENTENCE_ATTRS = frozenset({"token.is_sent_start", "token.sent_start", "doc.sents"})
#: The score of a prediction read from doc.ents (a pipeline without span scores).
ENTS_SCORE = 1.0


class Annotator:
    """Tag SourceDocuments with a pipeline.

    nlp (Language): The pipeline (loaded once; the Annotator changes its labels
        when `labels` is given, never the saved pipeline).
    labels (Mapping[str, str | None] | None): Label -> description (None: the
        label's name in words) for every bioner_prompted component, replacing
        its labels for this Annotator (zero-shot); None keeps them.
    batch_size (int): Documents per `nlp.pipe` batch.
    spans_key (str | None): The span group to read predictions from; None:
        the key of the last span component, or doc.ents without one.
    """

    def __init__(self, nlp: Language, *, labels: Mapping[str, str | None] | None = None,
                 batch_size: int = 64, spans_key: str | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise BioNERInputError(Errors.E029.format(setting="batch size", value=batch_size))
        self.nlp = nlp
        self.batch_size = batch_size
        if labels is not None:
            set_prompted_labels(nlp, labels)
        self.spans_key = spans_key if spans_key is not None else find_spans_key(nlp)
        self.sets_sentences = sets_sentences(nlp)
        #: Tokens of the documents tagged so far (for words/s).
        self.words = 0

    def annotate(self, docs: Sequence[SourceDocument]) -> list[SourceDocument | Failure]:
        """Tag documents; one that cannot be tokenised or tagged fails alone.

        docs (Sequence[SourceDocument]): The documents (not changed).
        RETURNS (list[SourceDocument | Failure]): In the order of `docs`: a copy
            of each document with its predictions appended to its annotations
            (scored SourceAnnotations), or a Failure saying why.
        """
        out: list[SourceDocument | Failure | None] = [None] * len(docs)
        prepared: list[tuple[int, Doc]] = []
        for i, src in enumerate(docs):
            doc = self._make_doc(src)
            if isinstance(doc, Failure):
                out[i] = doc
            else:
                prepared.append((i, doc))
        # stable: documents of equal length keep their order
        prepared.sort(key=lambda item: len(item[1]))
        for start in range(0, len(prepared), self.batch_size):
            batch = prepared[start:start + self.batch_size]
            indices = [i for i, _ in batch]
            tagged_batch = self._tag([docs[i] for i in indices], [doc for _, doc in batch])
            for i, tagged in zip(indices, tagged_batch, strict=True):
                if isinstance(tagged, Failure):
                    out[i] = tagged
                else:
                    self.words += len(tagged)
                    out[i] = self._predicted(docs[i], tagged)
        return [result for result in out if result is not None]

    def _make_doc(self, src: SourceDocument) -> Doc | Failure:
        """The document's Doc, with sentence boundaries unless the pipeline sets them."""
        try:
            doc = self.nlp.make_doc(src.text)
        except Exception as err:  # whatever the tokenizer raises fails this document only
            return Failure(src.path, src.doc_id, Errors.E987.format(loc=_where(src), err=_describe(err)))
        if not self.sets_sentences and len(doc):
            set_sentences(doc, passage_tokens(doc, src.passage_starts))
        return doc

    def _tag(self, srcs: list[SourceDocument], docs: list[Doc]) -> list[Doc | Failure]:
        """Run the pipeline on a batch; if it raises, on each document alone, so
        that the document that raises fails and the others are tagged."""
        if len(docs) == 1:
            return [self._tag_one(srcs[0], docs[0])]
        try:
            return list(self.nlp.pipe(docs, batch_size=len(docs)))
        except Exception:
            # fresh Docs: the failed batch may have left some components' output on them
            return [self._tag_one(src, self._make_doc(src)) for src in srcs]

    def _tag_one(self, src: SourceDocument, doc: Doc | Failure) -> Doc | Failure:
        if isinstance(doc, Failure):
            return doc
        try:
            return self.nlp(doc)
        except Exception as err:  # whatever a component raises fails this document only
            return Failure(src.path, src.doc_id, Errors.E986.format(loc=_where(src), err=_describe(err)))

    def _predicted(self, src: SourceDocument, doc: Doc) -> SourceDocument:
        """A copy of the source document with the Doc's predictions appended."""
        spans = sorted(self._scored_spans(src, doc), key=lambda item: (item[0].start_char, item[0].end_char,
                                                                      item[0].label_))
        predictions = [
            SourceAnnotation(f"P{k}", span.label_, [(span.start_char, span.end_char)], text=span.text,
                             kb_id=span.kb_id_, score=score)
            for k, (span, score) in enumerate(spans, start=1)
        ]
        return dataclasses.replace(src, annotations=[*src.annotations, *predictions])

    def _scored_spans(self, src: SourceDocument, doc: Doc) -> list[tuple[Span, float]]:
        if self.spans_key is None:
            return [(span, ENTS_SCORE) for span in doc.ents]
        if self.spans_key not in doc.spans:
            raise BioNERInputError(Errors.E993.format(loc=_where(src), key=self.spans_key,
                                                      keys=sorted(doc.spans.keys())))
        group = doc.spans[self.spans_key]
        scores = group.attrs.get("scores")
        if scores is None or len(scores) != len(group):
            return [(span, ENTS_SCORE) for span in group]
        return [(span, float(score)) for span, score in zip(group, scores, strict=True)]


def load_annotator(pipeline: str | Path, **kwargs: Any) -> Annotator:
    """Load a pipeline and make an Annotator of it.

    pipeline (str | Path): A saved pipeline's directory or an installed package's name.
    kwargs (Any): The Annotator's settings (labels, batch_size, spans_key).
    RETURNS (Annotator): The Annotator.
    RAISES (BioNERInputError): E985 naming the pipeline when it cannot be loaded.
    """
    try:
        nlp = spacy.load(pipeline)
    except _LOAD_ERRORS as err:
        raise BioNERInputError(Errors.E985.format(path=pipeline, err=err)) from err
    return Annotator(nlp, **kwargs)


def set_prompted_labels(nlp: Language, labels: Mapping[str, str | None]) -> None:
    """Replace the labels of every (enabled) bioner_prompted component.

    nlp (Language): The pipeline.
    labels (Mapping[str, str | None]): Label -> description, or None for its name in words.
    RAISES (BioNERInputError): E988 when there is no bioner_prompted, E989 for no labels.
    """
    pipes = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, PromptedTagger)]
    if not pipes:
        components = ", ".join(f"{name} ({nlp.get_pipe_meta(name).factory})" for name in nlp.pipe_names)
        raise BioNERInputError(Errors.E988.format(labels=list(labels), components=components or "none"))
    if not labels:
        raise BioNERInputError(Errors.E989)
    for pipe in pipes:
        pipe.set_labels(dict(labels))


def find_spans_key(nlp: Language) -> str | None:
    """nlp (Language): A pipeline. RETURNS (str | None): The span group of its
    last span component (spacy_bioner's taggers, spancat), or None (doc.ents)."""
    key = None
    for _, pipe in nlp.pipeline:
        found = pipe.key if isinstance(pipe, SpanCategorizer) else getattr(pipe, "spans_key", None)
        if isinstance(found, str):
            key = found
    return key


def sets_sentences(nlp: Language) -> bool:
    """nlp (Language): A pipeline. RETURNS (bool): Whether one of its enabled
    components assigns sentence boundaries (senter, sentencizer, parser)."""
    return any(_SENTENCE_ATTRS & set(nlp.get_pipe_meta(name).assigns) for name in nlp.pipe_names)


def passage_tokens(doc: Doc, starts: Iterable[int]) -> list[int]:
    """The first token of each passage: the token holding its start offset, or
    the next one when the offset is whitespace after a token.

    doc (Doc): A document.
    starts (Iterable[int]): Character offsets.
    RETURNS (list[int]): Token indices (offsets past the last token left out).
    """
    ends = numpy.asarray([token.idx + len(token.text) for token in doc], dtype="int64")
    found = numpy.searchsorted(ends, numpy.asarray(list(starts), dtype="int64"), side="right")
    return [int(i) for i in found if i < len(doc)]


def set_sentences(doc: Doc, forced: Iterable[int] = ()) -> None:
    """Set the sentence boundaries of `split_sentences` on a Doc.

    doc (Doc): A non-empty document.
    forced (Iterable[int]): Token indices that start a sentence (passage starts).
    """
    flags = numpy.full((len(doc), 1), -1, dtype="int64")
    flags[[start for start, _ in split_sentences(doc, (), forced)], 0] = 1
    doc.from_array([SENT_START], flags.astype("uint64"))  # type: ignore[arg-type]


def parse_labels(values: Sequence[str]) -> dict[str, str | None]:
    """Read the `--labels` values of the command line.

    values (Sequence[str]): Each NAME (described by its name), NAME=description,
        or the path of a JSON file of name -> description (or null).
    RETURNS (dict[str, str | None]): Label -> description, in the order given.
    RAISES (BioNERInputError): E990-E992 naming the value or file that is wrong.
    """
    labels: dict[str, str | None] = {}
    for value in values:
        if "=" not in value and value.strip().lower().endswith(".json"):
            items, where = _labels_file(Path(value.strip())), f"in '{value.strip()}'"
        else:
            items, where = [_label_value(value)], f"as {value!r}"
        for name, description in items:
            if name in labels:
                raise BioNERInputError(Errors.E992.format(label=name, where=f"again {where}"))
            labels[name] = description
    return labels


def _label_value(value: str) -> tuple[str, str | None]:
    name, sep, description = value.partition("=")
    if not name.strip():
        raise BioNERInputError(Errors.E990.format(value=value, what="no label name"))
    if sep and not description.strip():
        raise BioNERInputError(Errors.E990.format(value=value, what="an empty description after '='"))
    return name.strip(), description.strip() if sep else None


def _labels_file(path: Path) -> list[tuple[str, str | None]]:
    if not path.is_file():
        raise BioNERInputError(Errors.E991.format(path=path, what="there is no such file"))
    try:
        data = srsly.read_json(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise BioNERInputError(Errors.E991.format(path=path, what=f"not valid JSON ({err})")) from err
    if not isinstance(data, dict) or not data:
        what = "an empty object" if data == {} else f"a JSON {type(data).__name__}, not an object"
        raise BioNERInputError(Errors.E991.format(path=path, what=what))
    for name, description in data.items():
        if not name.strip():
            raise BioNERInputError(Errors.E991.format(path=path, what="an empty label name"))
        if description is not None and (not isinstance(description, str) or not description.strip()):
            raise BioNERInputError(Errors.E991.format(
                path=path, what=f"the description of {name!r} is {description!r}"))
    return [(name.strip(), description.strip() if description is not None else None)
            for name, description in data.items()]


def _where(src: SourceDocument) -> str:
    return location(src.path, None, src.doc_id)


def _describe(err: Exception) -> str:
    return f"{type(err).__name__}: {err}"
