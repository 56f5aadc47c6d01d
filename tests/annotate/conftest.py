"""Fixtures of the `annotate` tests: a tiny bioner_prompted pipeline saved to
disk (a random tiny BERT fitted for a few steps, so it predicts something),
and a small sample of source documents with the text shapes that break
offsets: CRLF line ends, non-ASCII and astral characters, leading white
space, several passages, empty and blank texts, existing annotations."""
from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

import spacy_bioner  # noqa: F401  (registers the components)
from spacy_bioner.corpora.base import SourceAnnotation, SourceDocument

#: The labels (and descriptions) the saved pipeline is trained with.
LABELS = {"Disease": "disease", "Chemical": "chemical"}
#: (text, [(mention, label)]) the pipeline is fitted on.
TRAINING = [
    ("Patients with breast cancer received tamoxifen daily .", [("breast cancer", "Disease"),
                                                                 ("tamoxifen", "Chemical")]),
    ("Cisplatin induced nephrotoxicity in two rats .", [("Cisplatin", "Chemical"),
                                                        ("nephrotoxicity", "Disease")]),
    ("No adverse events were seen .", []),
]
FIRST_PASSAGE = "Cisplatin induced nephrotoxicity in two rats"
SECOND_PASSAGE = "Women with breast cancer were given tamoxifen ."


def _example(nlp: Language, text: str, mentions: list[tuple[str, str]]) -> Example:
    ref: Doc = nlp.make_doc(text)
    spans = [ref.char_span(text.index(m), text.index(m) + len(m), label=label) for m, label in mentions]
    assert all(span is not None for span in spans)
    ref.spans["sc"] = cast(list[Span], spans)
    ref.set_ents(cast(list[Span], spans), default="outside")
    ref.user_data["bioner_source"] = {"doc_id": "train"}
    return Example(nlp.make_doc(text), ref)


@pytest.fixture(scope="session")
def annotate_pipeline_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved bioner_prompted pipeline (labels LABELS, spans in "sc"), shared by
    the session: load it (spacy.load, load_annotator), never change the files."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_prompted", config={"model": {"encoder": str(tiny_bert_dir), "dropout": 0.0},
                                            "labels": LABELS})
    examples = [_example(nlp, text, mentions) for text, mentions in TRAINING]
    nlp.initialize(lambda: examples)
    optimizer = Adam(5e-3)
    for _ in range(60):
        nlp.update(examples, sgd=optimizer)
    path = tmp_path_factory.mktemp("annotate_pipeline") / "pipeline"
    nlp.to_disk(path)
    return path


@pytest.fixture
def annotate_nlp(annotate_pipeline_dir: Path) -> Language:
    """A fresh load of the saved pipeline (a test may change it)."""
    return spacy.load(annotate_pipeline_dir)


@pytest.fixture
def sample_documents() -> list[SourceDocument]:
    """Documents of different lengths and text shapes, as the readers give them."""
    passages = f"{FIRST_PASSAGE} {SECOND_PASSAGE}"
    existing = SourceAnnotation("T1", "Disease", [(18, 32)], text="nephrotoxicity", line=3)
    long_text = "\n".join(text for text, _ in TRAINING * 4)
    return [
        SourceDocument("crlf", "Patients with breast cancer received tamoxifen daily .\r\n"
                       "Cisplatin induced nephrotoxicity in two rats .\r\n", "a.txt"),
        SourceDocument("unicode", "  \u00a0Women with breast cancer (\u00d8 12 \u00b5m) were given "
                       "tamoxifen \U0001d6fc daily .\n\nNo adverse events were seen .", "b/c.txt"),
        SourceDocument("passages", passages, "d.xml", annotations=[existing],
                       passage_starts=[0, len(FIRST_PASSAGE) + 1], meta={"source": "test"}),
        SourceDocument("long", long_text, "d.xml"),
        SourceDocument("empty", "", "d.xml"),
        SourceDocument("blank", " \r\n\t ", "d.xml"),
        SourceDocument("short", "Cisplatin .", "e.txt"),
    ]
