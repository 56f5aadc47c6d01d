"""``spacy_bioner.CatalogueCorpus.v1``: a multi-corpus training reader whose
label mappings come from the label catalogue.

    [corpora.train]
    @readers = "spacy_bioner.CatalogueCorpus.v1"
    path = "corpus"
    split = "train"
    corpora = ["conll/NCBI-disease-IOB", "brat/bionlp-st-2013-cg", "conll/JNLPBA@dev"]
    hold_out = ["bionlp13.cell"]
    sampling_exponent = 0.5

Each corpus's DocBin is ``{path}/{corpus id}/{split}.spacy`` (as the project's
``convert`` writes it, raw tags kept); ``ID@SPLIT`` reads another split of
that corpus (JNLPBA has no training split in the MTL collection). Raw tags
become catalogue label ids (``"cdr.disease"``), and every doc records its
corpus's labels (``spacy_bioner.MultiDatasetCorpus.v1``), so ``bioner_prompted``
pairs a sentence only with labels its corpus annotates.

``hold_out`` labels are removed together with every label that overlaps them
(:meth:`LabelCatalogue.overlap_closure`) from every corpus: their spans are
dropped and no sentence is trained as "no X here" for them, which is the
held-out (zero-shot) protocol. Generic catch-all labels (MACCROBAT
Other_entity, Coreference) are left out unless ``include_generic``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.training import Example

from ..corpora.multi_dataset import MultiDatasetCorpus
from ..errors import Errors
from . import LabelCatalogue, load_catalogue


def training_labels(
    catalogue: LabelCatalogue, corpus: str, hold_out: set[str], include_generic: bool
) -> dict[str, str | None]:
    """Raw tag -> catalogue label id of a corpus, None for tags not trained on.

    catalogue (LabelCatalogue): The catalogue.
    corpus (str): Corpus id.
    hold_out (set[str]): Label ids removed (already closed over overlaps).
    include_generic (bool): Keep generic labels.
    RETURNS (dict[str, str | None]): The mapping (MultiDatasetCorpus `labels`).
    """
    mapping = catalogue.label_map(corpus)
    for tag, label in mapping.items():
        if label is not None and (label in hold_out or (catalogue.label(label).generic and not include_generic)):
            mapping[tag] = None
    return mapping


def catalogue_datasets(
    path: str | Path,
    split: str,
    corpora: list[str],
    hold_out: list[str],
    *,
    include_generic: bool = False,
    limit: int = 0,
    catalogue: LabelCatalogue | None = None,
) -> list[dict[str, Any]]:
    """The MultiDatasetCorpus datasets of some catalogue corpora.

    path (str | Path): Root of the converted corpora ({path}/{corpus id}/{split}.spacy).
    split (str): "train", "dev" or "test"; "ID@SPLIT" entries override it.
    corpora (list[str]): Catalogue corpus ids.
    hold_out (list[str]): Catalogue label ids to remove (with their overlaps).
    include_generic (bool): Keep generic labels.
    limit (int): Most docs read per corpus (the first ones; 0: all), e.g. a
        bounded dev set for model selection.
    catalogue (LabelCatalogue | None): The catalogue; None: the packaged one.
    RETURNS (list[dict[str, Any]]): Per corpus: name, path, labels.
    """
    catalogue = catalogue or load_catalogue()
    removed = catalogue.overlap_closure(hold_out) if hold_out else set()
    datasets = []
    for entry in corpora:
        corpus, _, corpus_split = entry.partition("@")
        info = catalogue.corpus(corpus)
        file = Path(path) / corpus / f"{corpus_split or split}.spacy"
        if not file.exists():
            raise ValueError(Errors.E806.format(corpus=corpus, path=file, split=corpus_split or split))
        mapping = training_labels(catalogue, corpus, removed, include_generic)
        if not any(mapping.values()):
            continue
        datasets.append({"name": info.dataset, "path": str(file), "labels": mapping, "limit": limit})
    return datasets


@spacy.registry.readers("spacy_bioner.CatalogueCorpus.v1")
def create_catalogue_corpus(
    path: str,
    corpora: list[str],
    split: str = "train",
    hold_out: list[str] = [],  # noqa: B006 (a config default, never mutated)
    include_generic: bool = False,
    spans_key: str = "sc",
    shuffle: bool = True,
    sampling_exponent: float = 1.0,
    examples_per_pass: int = 0,
    limit: int = 0,
) -> Callable[[Language], Iterator[Example]]:
    """A reader over several converted corpora with catalogue labels (see the module docstring).

    path (str): Root of the converted corpora.
    corpora (list[str]): Catalogue corpus ids, optionally "ID@SPLIT".
    split (str): The split to read.
    hold_out (list[str]): Catalogue label ids held out (with every overlapping label).
    include_generic (bool): Keep generic catch-all labels.
    spans_key (str): The span group of the gold spans.
    shuffle (bool): Shuffle on every pass (training).
    sampling_exponent (float): Temperature sampling of the corpora's shares.
    examples_per_pass (int): Examples per pass; 0: the corpora's total.
    limit (int): Most docs read per corpus (the first ones); 0: all.
    RETURNS (Callable[[Language], Iterator[Example]]): The reader.
    """
    datasets = catalogue_datasets(
        path, split, list(corpora), list(hold_out), include_generic=include_generic, limit=limit
    )
    if not datasets:
        raise ValueError(Errors.E807.format(corpora=list(corpora), hold_out=list(hold_out)))
    return MultiDatasetCorpus(
        datasets,
        spans_key=spans_key,
        shuffle=shuffle,
        sampling_exponent=sampling_exponent,
        examples_per_pass=examples_per_pass,
    )
