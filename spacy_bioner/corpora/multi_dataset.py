"""``spacy_bioner.MultiDatasetCorpus.v1``: one training corpus from several
DocBins, each tagged with its dataset, for multi-dataset instruction tuning
(Bian et al., "VANER", section 3.5).

    [corpora.train]
    @readers = "spacy_bioner.MultiDatasetCorpus.v1"
    spans_key = "sc"

    [corpora.train.datasets]

    [corpora.train.datasets.ncbi]
    name = "NCBI-disease"
    path = "corpus/ncbi-disease/train.spacy"
    labels = {"Disease": "Disease"}

    [corpora.train.datasets.linnaeus]
    name = "linnaeus"
    path = "corpus/linnaeus/train.spacy"
    labels = {"Species": "Species"}

Each dataset's spans (``doc.spans[spans_key]`` and ``doc.ents``) are
relabelled with its `labels` mapping (corpus label -> component label; labels
not in the mapping are dropped; no mapping keeps every label). Both docs of
each Example then carry, in ``doc.user_data["bioner_dataset"]``
(:data:`DATASET_KEY`; DocBins keep user_data), a dict with

* "name": the dataset name the instruction mentions (None: the instruction
  without a dataset, VANER_adapt's), and
* "labels": the component labels the dataset annotates (the mapping's
  targets), or None when no mapping is given.

``bioner_llama`` reads that dict in training and prediction: a doc is asked
only about its dataset's labels (an NCBI-disease sentence is never trained as
"no chemical here", since NCBI-disease does not annotate chemicals) and with
its dataset's name. Docs without it use the component's `dataset` and every
label.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Corpus, Example
from spacy.util import filter_spans

from ..errors import Errors

#: Key of the dataset information in Doc.user_data.
DATASET_KEY = "bioner_dataset"


def dataset_info(doc: Doc) -> dict[str, Any] | None:
    """The dataset a doc belongs to, as the reader stored it.

    doc (Doc): The doc.
    RETURNS (dict[str, Any] | None): {"name": str | None, "labels": list[str] | None}, or None.
    """
    info = doc.user_data.get(DATASET_KEY) if doc.user_data else None
    return dict(info) if isinstance(info, Mapping) else None


def set_dataset_info(doc: Doc, name: str | None, labels: list[str] | None) -> None:
    """Record the dataset of a doc (what the reader does for every doc).

    doc (Doc): The doc.
    name (str | None): The dataset name for the instruction.
    labels (list[str] | None): The labels the dataset annotates; None: all.
    """
    doc.user_data[DATASET_KEY] = {"name": name, "labels": None if labels is None else list(labels)}


def relabel_doc(doc: Doc, labels: Mapping[str, str | None] | None, spans_key: str) -> None:
    """Rename the labels of a doc's gold spans in place; unmapped labels are dropped.

    doc (Doc): The gold doc.
    labels (Mapping[str, str | None] | None): Corpus label -> new label (None
        drops it); None: keep all.
    spans_key (str): The span group to relabel (doc.ents is relabelled too).
    """
    if labels is None:
        return

    def mapped(spans: Any) -> list[Span]:
        out = []
        for span in spans:
            target = labels.get(span.label_)
            if target:
                out.append(Span(doc, span.start, span.end, label=target))
        return out

    if spans_key in doc.spans:
        doc.spans[spans_key] = mapped(doc.spans[spans_key])
    if doc.has_annotation("ENT_IOB"):
        doc.set_ents(filter_spans(mapped(doc.ents)), default="outside")


@contextmanager
def fast_msgpack() -> Iterator[None]:
    """Read DocBins without srsly looking its msgpack extensions up again for
    every document.

    Every ``msgpack_loads`` (two per Doc: span groups and user data) asks
    catalogue for srsly's registered decoders, which walks every function of
    every registry (and the entry points) each time: most of the time of
    reading a sentence-level DocBin (measured here: 7.2 s for NCBI-disease's
    5,424 training sentences, 2.9 s without the entry points). The registries
    are looked up once for the duration instead, and restored after.
    """
    registries = (srsly.msgpack_encoders, srsly.msgpack_decoders)
    saved = [registry.get_all for registry in registries]
    for registry in registries:
        found = registry.get_all()
        registry.get_all = lambda found=found: found
    try:
        yield
    finally:
        for registry, get_all in zip(registries, saved, strict=True):
            registry.get_all = get_all


# (path, mtime, limit, labels, name, spans_key) -> the dataset's reference docs
_READ_CACHE: dict[tuple[Any, ...], list[Doc]] = {}


class MultiDatasetCorpus:
    """Examples from several DocBins, each with its dataset name and label mapping.

    datasets (list[dict[str, Any]]): Per dataset: "name" (str | None), "path"
        (a .spacy file or a directory of them), optionally "labels"
        ({corpus label: component label}) and "limit" (most docs; 0: all).
    spans_key (str): The span group of the gold spans.
    shuffle (bool): Shuffle the examples of all datasets together on every pass.
    sampling_exponent (float): A dataset's share of a pass is proportional to
        its size to this power (temperature sampling): 1 keeps the sizes (every
        example once), 0 gives every dataset the same share, in between large
        datasets do not drown small ones.
    examples_per_pass (int): Examples drawn per pass (0: as many as the
        datasets hold). A dataset drawn more often than its size repeats whole
        copies of itself before sampling the rest.
    """

    def __init__(
        self,
        datasets: list[dict[str, Any]],
        *,
        spans_key: str = "sc",
        shuffle: bool = True,
        sampling_exponent: float = 1.0,
        examples_per_pass: int = 0,
    ) -> None:
        self.datasets = datasets
        self.spans_key = spans_key
        self.shuffle = shuffle
        self.sampling_exponent = float(sampling_exponent)
        self.examples_per_pass = int(examples_per_pass)

    def __call__(self, nlp: Language) -> Iterator[Example]:
        per_dataset = [self._read(nlp, dataset) for dataset in self.datasets]
        if self.sampling_exponent != 1.0 or self.examples_per_pass:
            per_dataset = self._sample(per_dataset)
        examples = [eg for examples in per_dataset for eg in examples]
        if self.shuffle:
            random.shuffle(examples)
        yield from examples

    def _read(self, nlp: Language, dataset: Mapping[str, Any]) -> list[Example]:
        """The dataset's examples: the reference docs (relabelled, with their
        dataset) are read once per process and reused on every pass (the
        predicted docs are new each time)."""
        examples = []
        for reference in self._references(nlp, dataset):
            predicted = nlp.make_doc(reference.text)
            predicted.user_data[DATASET_KEY] = dict(reference.user_data[DATASET_KEY])
            examples.append(Example(predicted, reference))
        return examples

    def _references(self, nlp: Language, dataset: Mapping[str, Any]) -> list[Doc]:
        mapping = dataset.get("labels")
        labels = None if mapping is None else sorted({t for t in mapping.values() if t})
        path = Path(dataset["path"])
        mtime = max((f.stat().st_mtime_ns for f in ([path] if path.is_file() else path.rglob("*.spacy"))), default=0)
        limit = int(dataset.get("limit", 0) or 0)
        key = (str(path.resolve()), mtime, limit, json.dumps(mapping, sort_keys=True), dataset.get("name"),
               self.spans_key, id(nlp.vocab))
        if key not in _READ_CACHE:
            references = []
            with fast_msgpack():
                for eg in Corpus(str(path), limit=limit)(nlp):
                    reference = eg.reference
                    relabel_doc(reference, mapping, self.spans_key)
                    set_dataset_info(reference, dataset.get("name"), labels)
                    references.append(reference)
            _READ_CACHE[key] = references
        return _READ_CACHE[key]

    def _sample(self, per_dataset: list[list[Example]]) -> list[list[Example]]:
        """Each dataset's draw for one pass (seeded by `random`, as spaCy seeds it)."""
        sizes = [len(examples) for examples in per_dataset]
        total = self.examples_per_pass or sum(sizes)
        weights = [size**self.sampling_exponent if size else 0.0 for size in sizes]
        norm = sum(weights) or 1.0
        out = []
        for examples, weight in zip(per_dataset, weights, strict=True):
            target = round(total * weight / norm)
            copies, rest = divmod(target, len(examples)) if examples else (0, 0)
            out.append(examples * copies + random.sample(examples, rest))
        return out


def _check_datasets(datasets: Any) -> list[dict[str, Any]]:
    if isinstance(datasets, Mapping):
        datasets = list(datasets.values())
    if not isinstance(datasets, list) or not datasets:
        raise ValueError(Errors.E712.format(what=f"`datasets` is {datasets!r}"))
    out = []
    for i, dataset in enumerate(datasets):
        if not isinstance(dataset, Mapping):
            raise ValueError(Errors.E712.format(what=f"dataset {i} is {dataset!r}, not a table"))
        unknown = set(dataset) - {"name", "path", "labels", "limit"}
        if unknown:
            raise ValueError(Errors.E712.format(what=f"dataset {i} has unknown settings {sorted(unknown)}"))
        name = dataset.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(Errors.E712.format(what=f"dataset {i} has the name {name!r}"))
        path = dataset.get("path")
        if not path or not Path(path).exists():
            raise ValueError(Errors.E712.format(what=f"dataset {i} ({name!r}): the path {path!r} does not exist"))
        labels = dataset.get("labels")
        if labels is not None and (
            not isinstance(labels, Mapping)
            or not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in labels.items())
        ):
            raise ValueError(Errors.E712.format(what=f"dataset {i} ({name!r}) has the labels {labels!r}"))
        out.append(dict(dataset))
    return out


@spacy.registry.readers("spacy_bioner.MultiDatasetCorpus.v1")
def create_multi_dataset_corpus(
    datasets: dict[str, dict[str, Any]] | list[dict[str, Any]],
    spans_key: str = "sc",
    shuffle: bool = True,
    sampling_exponent: float = 1.0,
    examples_per_pass: int = 0,
) -> Callable[[Language], Iterator[Example]]:
    """A corpus reader over several DocBins with dataset names and label
    mappings (multi-dataset instruction tuning; see the module docstring).

    datasets (dict[str, dict[str, Any]] | list[dict[str, Any]]): The datasets,
        as config sections ([corpora.train.datasets.NAME]) or a list; each with
        "name", "path" and optionally "labels" and "limit".
    spans_key (str): The span group of the gold spans.
    shuffle (bool): Shuffle all examples together on every pass (training).
    sampling_exponent (float): Temperature sampling of the datasets' shares
        (1: by size, every example once; 0: equal shares).
    examples_per_pass (int): Examples per pass; 0: the datasets' total.
    RETURNS (Callable[[Language], Iterator[Example]]): The reader.
    """
    if isinstance(sampling_exponent, bool) or not isinstance(sampling_exponent, int | float) or sampling_exponent < 0:
        raise ValueError(Errors.E712.format(what=f"sampling_exponent = {sampling_exponent!r}: give a number >= 0"))
    if isinstance(examples_per_pass, bool) or not isinstance(examples_per_pass, int) or examples_per_pass < 0:
        raise ValueError(Errors.E712.format(what=f"examples_per_pass = {examples_per_pass!r}: give 0 or more"))
    return MultiDatasetCorpus(
        _check_datasets(datasets),
        spans_key=spans_key,
        shuffle=shuffle,
        sampling_exponent=sampling_exponent,
        examples_per_pass=examples_per_pass,
    )
