"""The label catalogue: every entity type of every corpus, as data.

``labels.json`` (shipped as package data) holds three tables:

* ``labels``: one catalogue label per entity type *as one annotation
  guideline defines it* (``"genia.protein"`` is not ``"bionlp13.gene_or_gene_product"``),
  with a readable ``name`` and a one-line ``description``, either of which can
  be the prompt of ``bioner_prompted``;
* ``corpora``: per corpus (keyed by its path under ``../shared/corpora``,
  e.g. ``"conll/BC5CDR-IOB"``): name, format(s) and path pattern, splits,
  licence, the ``documents`` it is built on, and the mapping of each raw tag
  to a catalogue label (``tags``) or the reason it is not an entity type
  (``excluded``, e.g. event triggers);
* ``overlap_groups``: sets of labels that overlap, i.e. whose mentions the
  guidelines would (partly) annotate as one another. A held-out label is
  removed from training together with every label it overlaps
  (:meth:`LabelCatalogue.overlap_closure`).

>>> from spacy_bioner.catalogue import load_catalogue
>>> catalogue = load_catalogue()
>>> catalogue.lookup("conll/JNLPBA", "protein").name
'Protein'
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import BioNERInputError, Errors

#: The catalogue file inside this package.
DATA_FILE = "labels.json"
#: The input formats of `python -m spacy_bioner convert`, as the catalogue names them.
FORMATS = ("conll", "brat", "bioc-xml", "bioc-json", "pubtator")
#: The split name of a corpus that has no splits (one file or directory).
WHOLE = "all"

_LABEL_KEYS = {"name", "description", "source", "generic"}
_CORPUS_KEYS = {"name", "dataset", "documents", "language", "paths", "splits", "licence", "tags",
                "excluded", "notes"}
_CORPUS_TEXT = ("name", "dataset", "language", "licence")


@dataclass(frozen=True)
class CatalogueLabel:
    """One entity type as one annotation guideline defines it.

    id (str): The catalogue key, e.g. "cdr.disease"; use it as the component label.
    name (str): Readable label, e.g. "Disease" (may repeat across guidelines).
    description (str): One-line definition written from the guideline (unique).
    source (str): The guideline the definition follows.
    generic (bool): A catch-all or structural type (e.g. MACCROBAT Other_entity,
        Coreference) that a training recipe may want to leave out.
    """

    id: str
    name: str
    description: str
    source: str
    generic: bool = False


@dataclass(frozen=True)
class CatalogueCorpus:
    """One corpus in one directory (and format) under the corpora root.

    id (str): Path under the corpora root, e.g. "brat/anatem".
    name (str): Readable corpus name.
    dataset (str): Short name used in the project (instructions, reports).
    documents (tuple[str, ...]): Document collections it is built on; corpora
        sharing a key share (some) documents, so never train on one and test on the other.
    language (str): ISO 639-1 code of the texts.
    licence (str): Licence of the annotations, as SOURCES.md gives it.
    paths (dict[str, str]): Path pattern per format, with "{split}" where there are splits.
    splits (dict[str, str]): Split name ("train", "dev", "test") -> the "{split}" value.
    tags (dict[str, str]): Raw tag -> catalogue label id.
    excluded (dict[str, str]): Raw tag that is not an entity type -> why.
    notes (str): Quirks that matter when training or evaluating on it.
    """

    id: str
    name: str
    dataset: str
    documents: tuple[str, ...]
    language: str
    licence: str
    paths: dict[str, str]
    splits: dict[str, str]
    tags: dict[str, str]
    excluded: dict[str, str]
    notes: str = ""

    def files(self, root: str | Path, fmt: str | None = None) -> dict[str, Path]:
        """The file or directory of each split of the corpus under a corpora root.

        root (str | Path): The corpora root, e.g. ../shared/corpora.
        fmt (str | None): One of the corpus's formats; None: the first listed.
        RETURNS (dict[str, Path]): Split name -> path; {"all": path} without splits.
        """
        if fmt is None:
            fmt = next(iter(self.paths))
        if fmt not in self.paths:
            raise BioNERInputError(Errors.E804.format(corpus=self.id, fmt=fmt, formats=sorted(self.paths)))
        pattern = self.paths[fmt]
        if not self.splits:
            return {WHOLE: Path(root) / pattern}
        return {split: Path(root) / pattern.format(split=value) for split, value in self.splits.items()}


class LabelCatalogue:
    """The catalogue: labels, corpora and overlaps, validated on construction.

    data (Mapping[str, Any]): The parsed catalogue file.
    source (str): Where the data came from, for error messages.
    """

    def __init__(self, data: Mapping[str, Any], source: str = "<data>") -> None:
        problems = validate_catalogue(data)
        if problems:
            raise BioNERInputError(Errors.E800.format(path=source, n=len(problems), problems="; ".join(problems[:5])))
        self.source = source
        self.labels: dict[str, CatalogueLabel] = {
            key: CatalogueLabel(id=key, name=value["name"], description=value["description"],
                                source=value["source"], generic=bool(value.get("generic", False)))
            for key, value in data["labels"].items()
        }
        self.corpora: dict[str, CatalogueCorpus] = {
            key: CatalogueCorpus(id=key, name=value["name"], dataset=value["dataset"],
                                 documents=tuple(value["documents"]), language=value["language"],
                                 licence=value["licence"], paths=dict(value["paths"]),
                                 splits=dict(value["splits"]), tags=dict(value["tags"]),
                                 excluded=dict(value.get("excluded", {})), notes=value.get("notes", ""))
            for key, value in data["corpora"].items()
        }
        self.overlap_groups: dict[str, tuple[str, ...]] = {
            group["id"]: tuple(group["labels"]) for group in data["overlap_groups"]
        }
        self._overlaps: dict[str, set[str]] = {key: set() for key in self.labels}
        for members in self.overlap_groups.values():
            for label in members:
                self._overlaps[label].update(m for m in members if m != label)

    def corpus(self, corpus: str) -> CatalogueCorpus:
        """A corpus by its id (its path under the corpora root, e.g. "conll/JNLPBA")."""
        if corpus not in self.corpora:
            raise BioNERInputError(Errors.E801.format(corpus=corpus, corpora=", ".join(sorted(self.corpora))))
        return self.corpora[corpus]

    def label(self, label: str) -> CatalogueLabel:
        """A catalogue label by its id (e.g. "cdr.disease")."""
        if label not in self.labels:
            raise BioNERInputError(Errors.E803.format(label=label))
        return self.labels[label]

    def lookup(self, corpus: str, tag: str) -> CatalogueLabel | None:
        """The catalogue label of a corpus's raw tag.

        corpus (str): Corpus id, e.g. "conll/BioNLP13CG-IOB".
        tag (str): The raw type as the corpus writes it, e.g. "Gene_or_gene_product".
        RETURNS (CatalogueLabel | None): Its label; None for an excluded tag (not an entity type).
        """
        info = self.corpus(corpus)
        if tag in info.excluded:
            return None
        if tag not in info.tags:
            raise BioNERInputError(Errors.E802.format(corpus=corpus, tag=tag, tags=sorted(info.tags)))
        return self.labels[info.tags[tag]]

    def corpus_labels(self, corpus: str) -> list[str]:
        """The catalogue labels a corpus annotates, in the order of its tags, without repeats."""
        return list(dict.fromkeys(self.corpus(corpus).tags.values()))

    def label_map(self, corpus: str) -> dict[str, str | None]:
        """Raw tag -> catalogue label id, None for excluded tags (which drops them).

        The format of `convert --label-map` and of MultiDatasetCorpus `labels`.
        """
        info = self.corpus(corpus)
        mapping: dict[str, str | None] = dict(info.tags)
        mapping.update({tag: None for tag in info.excluded})
        return mapping

    def corpora_annotating(self, labels: Iterable[str]) -> list[str]:
        """The corpora that annotate any of the labels (e.g. to evaluate a held-out label everywhere)."""
        wanted = {self.label(label).id for label in labels}
        return [key for key, info in self.corpora.items() if wanted & set(info.tags.values())]

    def sharing_documents(self, corpus: str) -> list[str]:
        """The other corpora built on (some of) the same documents as a corpus."""
        keys = set(self.corpus(corpus).documents)
        return [key for key, info in self.corpora.items() if key != corpus and keys & set(info.documents)]

    def overlaps(self, label: str) -> set[str]:
        """The labels that overlap a label (it shares an overlap group with them); never itself."""
        return set(self._overlaps[self.label(label).id])

    def overlap_closure(self, labels: Iterable[str], *, transitive: bool = False) -> set[str]:
        """The labels together with every label that overlaps one of them.

        This is what a held-out protocol removes from training for held-out `labels`.
        One step by default: overlap is not transitive (Cancer overlaps Disease and
        Anatomical entity, which do not overlap each other).

        labels (Iterable[str]): Catalogue label ids.
        transitive (bool): Repeat until nothing is added (the connected component).
        RETURNS (set[str]): The closure, including the labels themselves.
        """
        closure = {self.label(label).id for label in labels}
        frontier = set(closure)
        while frontier:
            added = set().union(*(self._overlaps[label] for label in frontier)) - closure
            closure |= added
            frontier = added if transitive else set()
        return closure

    def prompts(self, labels: Iterable[str], field: str = "name") -> dict[str, str]:
        """Label id -> prompt text, for a `bioner_prompted` `labels` table.

        labels (Iterable[str]): Catalogue label ids.
        field (str): "name" or "description".
        RETURNS (dict[str, str]): The prompts.
        """
        if field not in ("name", "description"):
            raise BioNERInputError(Errors.E805.format(field=field))
        return {label: getattr(self.label(label), field) for label in labels}


def load_catalogue(path: str | Path | None = None) -> LabelCatalogue:
    """Load and validate a catalogue file; the packaged one (cached) by default.

    path (str | Path | None): A catalogue JSON file; None: spacy_bioner's own.
    RETURNS (LabelCatalogue): The catalogue.
    """
    if path is None:
        return _packaged_catalogue()
    text = Path(path).read_text(encoding="utf-8")
    return LabelCatalogue(_parse(text, str(path)), source=str(path))


def read_catalogue_data(path: str | Path | None = None) -> dict[str, Any]:
    """The catalogue file as parsed JSON, unvalidated (for tools and tests).

    path (str | Path | None): A catalogue JSON file; None: the packaged one.
    RETURNS (dict[str, Any]): The data.
    """
    if path is None:
        text = resources.files(__name__).joinpath(DATA_FILE).read_text(encoding="utf-8")
        return _parse(text, f"{__name__}/{DATA_FILE}")
    return _parse(Path(path).read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=1)
def _packaged_catalogue() -> LabelCatalogue:
    return LabelCatalogue(read_catalogue_data(), source=f"{__name__}/{DATA_FILE}")


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise BioNERInputError(Errors.E800.format(path=source, n=1, problems=f"not valid JSON ({err})")) from None
    if not isinstance(data, dict):
        raise BioNERInputError(Errors.E800.format(path=source, n=1, problems="the top level is not a JSON object"))
    return data


def validate_catalogue(data: Mapping[str, Any]) -> list[str]:
    """Check a catalogue for consistency.

    Checks: every label has a name, a non-empty description distinct from all
    others and a source, and some corpus maps a tag to it; every corpus has its
    fields, known formats, "{split}" in its paths exactly when it has splits,
    and maps every tag to an existing label; every overlap group names at least
    two existing labels, is not contained in another group, and holds no two
    labels that one corpus annotates side by side (its guidelines keep them apart).

    data (Mapping[str, Any]): The parsed catalogue file.
    RETURNS (list[str]): The problems found, each naming its place; empty if valid.
    """
    tables = {"labels": dict, "corpora": dict, "overlap_groups": list}
    problems = [f"'{key}' is missing or not a JSON {kind.__name__}"
                for key, kind in tables.items() if not isinstance(data.get(key), kind)]
    if problems:
        return problems
    problems += _label_problems(data["labels"])
    problems += _corpus_problems(data["corpora"], data["labels"])
    problems += _group_problems(data["overlap_groups"], data["labels"], data["corpora"])
    return problems


def _entry_problems(where: str, value: Any, allowed: set[str], text: tuple[str, ...]) -> list[str]:
    """Problems of one table entry: not an object, unknown fields, missing text fields."""
    if not isinstance(value, dict):
        return [f"{where} is not an object"]
    problems = [f"{where} has unknown field {extra!r}" for extra in sorted(set(value) - allowed)]
    problems += [f"{where} has no {field}" for field in text
                 if not isinstance(value.get(field), str) or not value[field].strip()]
    return problems


def _label_problems(labels: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, str] = {}
    for key, value in labels.items():
        where = f"labels[{key!r}]"
        problems += _entry_problems(where, value, _LABEL_KEYS, ("name", "description", "source"))
        if not isinstance(value, dict):
            continue
        if not isinstance(value.get("generic", False), bool):
            problems.append(f"{where}: 'generic' is not true/false")
        description = " ".join(str(value.get("description", "")).lower().split())
        if description and description in seen:
            problems.append(f"{where} has the same description as labels[{seen[description]!r}]")
        seen.setdefault(description, key)
    return problems


def _corpus_problems(corpora: Mapping[str, Any], labels: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    used: set[str] = set()
    for key, value in corpora.items():
        where = f"corpora[{key!r}]"
        problems += _entry_problems(where, value, _CORPUS_KEYS, _CORPUS_TEXT)
        if not isinstance(value, dict):
            continue
        documents = value.get("documents")
        if not isinstance(documents, list) or not documents or not all(isinstance(d, str) for d in documents):
            problems.append(f"{where}: 'documents' is not a non-empty list of names")
        problems += _path_problems(where, value.get("paths"), value.get("splits"))
        tags, excluded = value.get("tags"), value.get("excluded", {})
        if not isinstance(tags, dict) or not tags or not isinstance(excluded, dict):
            problems.append(f"{where}: 'tags' (non-empty) and 'excluded' must be objects")
            continue
        for tag, label in tags.items():
            if label not in labels:
                problems.append(f"{where}: tag {tag!r} maps to unknown label {label!r}")
            used.add(label)
        problems += [f"{where}: tag {tag!r} is both mapped and excluded" for tag in sorted(set(tags) & set(excluded))]
        problems += [f"{where}: excluded tag {tag!r} has no reason" for tag, why in excluded.items()
                     if not isinstance(why, str) or not why.strip()]
    problems += [f"labels[{key!r}] is not used by any corpus" for key in labels if key not in used]
    return problems


def _path_problems(where: str, paths: Any, splits: Any) -> list[str]:
    if not isinstance(paths, dict) or not paths or not isinstance(splits, dict):
        return [f"{where}: 'paths' (non-empty) and 'splits' must be objects"]
    problems = [f"{where}: unknown format {fmt!r} (known: {', '.join(FORMATS)})" for fmt in paths if fmt not in FORMATS]
    for fmt, pattern in paths.items():
        if not isinstance(pattern, str) or ("{split}" in pattern) != bool(splits):
            problems.append(f"{where}: path {fmt!r} must contain '{{split}}' exactly when the corpus has splits")
    return problems


def _group_problems(groups: list[Any], labels: Mapping[str, Any], corpora: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    members: dict[str, frozenset[str]] = {}
    for i, group in enumerate(groups):
        gid = group.get("id") if isinstance(group, dict) else None
        where = f"overlap_groups[{i}] ({gid!r})"
        if not isinstance(gid, str) or not gid or gid in members:
            problems.append(f"{where} has no id or a repeated one")
        names = group.get("labels") if isinstance(group, dict) else None
        if not isinstance(names, list) or len(set(names)) < 2 or len(set(names)) != len(names):
            problems.append(f"{where} must list two or more different labels")
            continue
        problems += [f"{where} names unknown label {name!r}" for name in names if name not in labels]
        if not isinstance(group.get("why"), str) or not group["why"].strip():
            problems.append(f"{where} does not say why the labels overlap")
        members[str(gid)] = frozenset(names)
    for gid, names in members.items():
        problems += [f"overlap group {gid!r} is contained in group {other!r}"
                     for other, bigger in members.items() if other != gid and names <= bigger]
    for key, value in corpora.items():
        if not isinstance(value, dict) or not isinstance(value.get("tags"), dict):
            continue
        own = set(value["tags"].values())
        for gid, names in members.items():
            if len(own & names) > 1:
                problems.append(f"overlap group {gid!r} holds {sorted(own & names)}, which corpora[{key!r}] "
                                "annotates side by side")
    return problems
