"""Corpus readers: BRAT, BioC (XML, JSON), CoNLL/IOB and PubTator -> spaCy Docs.

Each format module parses its files into :class:`SourceDocument` objects;
:class:`DocBuilder` turns them into Docs and fills the
:class:`ConversionReport`; :func:`convert_corpus` ties both together.
"""
from .base import DEFAULT_SPANS_KEY, SOURCE_KEY, DocBuilder, SourceAnnotation, SourceDocument
from .convert import FORMATS, convert_corpus, convert_to_disk, iter_docs, load_label_map, make_nlp
from .limits import Limits
from .report import ConversionReport

__all__ = [
    "DEFAULT_SPANS_KEY",
    "FORMATS",
    "SOURCE_KEY",
    "ConversionReport",
    "DocBuilder",
    "Limits",
    "SourceAnnotation",
    "SourceDocument",
    "convert_corpus",
    "convert_to_disk",
    "iter_docs",
    "load_label_map",
    "make_nlp",
]
