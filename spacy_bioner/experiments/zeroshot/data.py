"""The data step of the held-out protocol: per held-out label, the test
references of every corpus that annotates it (only that label's gold), and
the training sentences a few-shot run may draw."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from ...catalogue import LabelCatalogue
from ...corpora.multi_dataset import MultiDatasetCorpus
from ...errors import BioNERInputError, Errors
from ..fewshot.data import Sentence, sentence_pool
from ..fewshot.evaluation import hidden_references


@dataclass
class ZeroshotData:
    """What the runs score on and sample from.

    references (dict[str, dict[str, list[Doc]]]): Label -> corpus -> test docs
        whose gold is only that label.
    pools (dict[str, list[Sentence]]): Label -> training sentences that contain it.
    """

    references: dict[str, dict[str, list[Doc]]] = field(default_factory=dict)
    pools: dict[str, list[Sentence]] = field(default_factory=dict)


def corpus_docs(nlp: Language, root: Path, corpus: str, split: str, label_map: dict[str, str | None]) -> list[Doc]:
    """The gold docs of one split of a converted corpus, relabelled.

    nlp (Language): Gives the vocab and tokenizer.
    root (Path): Root of the converted corpora ({root}/{corpus}/{split}.spacy).
    corpus (str): Catalogue corpus id.
    split (str): The split.
    label_map (dict[str, str | None]): Raw tag -> label (None drops it).
    RETURNS (list[Doc]): The reference docs (read once per process).
    """
    path = root / corpus / f"{split}.spacy"
    reader = MultiDatasetCorpus([{"name": corpus, "path": str(path), "labels": label_map}], shuffle=False)
    return [eg.reference for eg in reader(nlp)]


def only(catalogue: LabelCatalogue, corpus: str, label: str) -> dict[str, str | None]:
    """The raw-tag mapping of a corpus that keeps `label` alone."""
    return {tag: (target if target == label else None) for tag, target in catalogue.label_map(corpus).items()}


def load_zeroshot_data(
    nlp: Language,
    catalogue: LabelCatalogue,
    root: Path,
    corpora: Sequence[str],
    held_out: Sequence[str],
    spans_key: str,
    *,
    pools: bool = True,
) -> ZeroshotData:
    """References and few-shot pools of every held-out label in the recipe's corpora.

    nlp (Language): Gives the vocab and tokenizer.
    catalogue (LabelCatalogue): The label catalogue.
    root (Path): Root of the converted corpora.
    corpora (Sequence[str]): The recipe's corpus ids ("ID@SPLIT" entries count as ID).
    held_out (Sequence[str]): Catalogue label ids.
    spans_key (str): The gold span group.
    pools (bool): Also collect the training sentences (few-shot).
    RETURNS (ZeroshotData): The data.
    RAISES (BioNERInputError): If a label has no converted test split to be scored on.
    """
    data = ZeroshotData()
    ids = list(dict.fromkeys(entry.partition("@")[0] for entry in corpora))
    for label in held_out:
        annotating = [c for c in ids if label in catalogue.corpus_labels(c)]
        tested = [c for c in annotating if (root / c / "test.spacy").exists()]
        if not tested:
            raise BioNERInputError(Errors.E808.format(label=label, corpora=annotating or "none", root=root))
        data.references[label] = {
            c: hidden_references(corpus_docs(nlp, root, c, "test", only(catalogue, c, label)), [label], spans_key)
            for c in tested
        }
        if pools:
            docs = [doc for c in annotating if (root / c / "train.spacy").exists()
                    for doc in corpus_docs(nlp, root, c, "train", only(catalogue, c, label))]
            data.pools[label] = sentence_pool(docs, label, spans_key)
    return data
