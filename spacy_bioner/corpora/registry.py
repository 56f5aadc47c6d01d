"""Corpus readers for spaCy configs: train straight from BRAT, BioC, CoNLL or
PubTator files without a separate conversion step.

    [corpora.train]
    @readers = "spacy_bioner.BratCorpus.v1"
    path = "assets/sample/brat/train"
    sentences = true

Each reader converts with the pipeline's own tokenizer (so gold tokens are the
tokens the pipeline will predict on), caches the converted Docs for later
epochs, and yields ``Example(nlp.make_doc(text), gold_doc)``. The conversion
report of the last run is kept on the reader as ``.report``.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from .base import DEFAULT_SPANS_KEY
from .convert import iter_docs
from .report import ConversionReport


class SourceCorpus:
    """Iterate Examples from a corpus in one of the supported source formats.

    path (str | Path): File or directory.
    fmt (str): ``brat``, ``bioc-xml``, ``bioc-json``, ``conll`` or ``pubtator``.
    limit (int): Use at most this many Docs (0: all).
    shuffle (bool): Shuffle the Docs on every pass (training).
    **options: DocBuilder options (spans_key, discontinuous, alignment,
        label_map, sentences) and ``reader_options`` for the format.
    """

    def __init__(self, path: str | Path, fmt: str, *, limit: int = 0, shuffle: bool = False, **options: Any) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.limit = limit
        self.shuffle = shuffle
        self.options = options
        self.report: ConversionReport | None = None
        self._docs: list[Doc] | None = None
        self._vocab_id: int | None = None

    def _load(self, nlp: Language) -> list[Doc]:
        if self._docs is None or self._vocab_id != id(nlp.vocab):
            self.report = ConversionReport(corpus=str(self.path), fmt=self.fmt)
            self._docs = list(iter_docs(self.path, self.fmt, nlp, self.report, **self.options))
            self._vocab_id = id(nlp.vocab)
        return self._docs

    def __call__(self, nlp: Language) -> Iterator[Example]:
        docs = list(self._load(nlp))
        if self.shuffle:
            random.shuffle(docs)
        if self.limit:
            docs = docs[: self.limit]
        for doc in docs:
            yield Example(nlp.make_doc(doc.text), doc)


def _corpus(fmt: str, path: Path, spans_key: str, discontinuous: str, alignment: str,
            label_map: dict[str, str | None] | None, sentences: bool, limit: int, shuffle: bool,
            reader_options: dict[str, Any]) -> Callable[[Language], Iterator[Example]]:
    return SourceCorpus(path, fmt, limit=limit, shuffle=shuffle, spans_key=spans_key,
                        discontinuous=discontinuous, alignment=alignment, label_map=label_map,
                        sentences=sentences, reader_options=reader_options)


@spacy.registry.readers("spacy_bioner.BratCorpus.v1")
def create_brat_corpus(
    path: Path, spans_key: str = DEFAULT_SPANS_KEY, discontinuous: str = "span", alignment: str = "expand",
    label_map: dict[str, str | None] | None = None, sentences: bool = True, include_triggers: bool = False,
    limit: int = 0, shuffle: bool = False,
) -> Callable[[Language], Iterator[Example]]:
    """Read BRAT standoff (``.txt`` + ``.ann`` or ``.a1``/``.a2``) for training or evaluation."""
    return _corpus("brat", path, spans_key, discontinuous, alignment, label_map, sentences, limit, shuffle,
                   {"include_triggers": include_triggers})


@spacy.registry.readers("spacy_bioner.BioCCorpus.v1")
def create_bioc_corpus(
    path: Path, json: bool = False, infon_key: str = "type", spans_key: str = DEFAULT_SPANS_KEY,
    discontinuous: str = "span", alignment: str = "expand", label_map: dict[str, str | None] | None = None,
    sentences: bool = True, limit: int = 0, shuffle: bool = False,
) -> Callable[[Language], Iterator[Example]]:
    """Read BioC XML (or BioC JSON with ``json = true``)."""
    return _corpus("bioc-json" if json else "bioc-xml", path, spans_key, discontinuous, alignment, label_map,
                   sentences, limit, shuffle, {"infon_key": infon_key})


@spacy.registry.readers("spacy_bioner.ConllCorpus.v1")
def create_conll_corpus(
    path: Path, scheme: str = "auto", spans_key: str = DEFAULT_SPANS_KEY,
    label_map: dict[str, str | None] | None = None, sentences: bool = True, limit: int = 0, shuffle: bool = False,
) -> Callable[[Language], Iterator[Example]]:
    """Read CoNLL/IOB files (IOB1, IOB2, BIOES/BILOU)."""
    return _corpus("conll", path, spans_key, "span", "expand", label_map, sentences, limit, shuffle,
                   {"scheme": scheme})


@spacy.registry.readers("spacy_bioner.PubTatorCorpus.v1")
def create_pubtator_corpus(
    path: Path, spans_key: str = DEFAULT_SPANS_KEY, alignment: str = "expand",
    label_map: dict[str, str | None] | None = None, sentences: bool = True, limit: int = 0, shuffle: bool = False,
) -> Callable[[Language], Iterator[Example]]:
    """Read PubTator files (title, abstract and mention lines)."""
    return _corpus("pubtator", path, spans_key, "span", alignment, label_map, sentences, limit, shuffle, {})
