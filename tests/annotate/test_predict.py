"""Tagging SourceDocuments (spacy_bioner.annotate.predict): exact offsets,
the pipeline's own predictions in the input order, failures that stay alone,
zero-shot labels that are not saved, and the --labels parser."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc

from spacy_bioner.annotate.predict import Annotator, load_annotator, parse_labels
from spacy_bioner.annotate.types import Failure
from spacy_bioner.corpora.base import SourceAnnotation, SourceDocument, split_sentences
from spacy_bioner.errors import BioNERInputError
from spacy_bioner.pipeline.prompted import PromptedTagger

Prediction = tuple[int, int, str, float]
# what the recording components below saw, per document
SEEN: list[object] = []
# the labels of the saved pipeline (tests/annotate/conftest.py)
LABELS = ("Disease", "Chemical")
FIRST_PASSAGE = "Cisplatin induced nephrotoxicity in two rats"


@Language.component("annotate_test_boom")
def _boom(doc: Doc) -> Doc:
    if "BOOM" in doc.text:
        raise ValueError("this document blows up")
    return doc


@Language.component("annotate_test_sentences")
def _record_sentences(doc: Doc) -> Doc:
    SEEN.append([sent.start_char for sent in doc.sents] if doc.has_annotation("SENT_START") else None)
    return doc


@Language.component("annotate_test_sentence_setter", assigns=["token.is_sent_start"])
def _record_sentence_setter(doc: Doc) -> Doc:
    SEEN.append(doc.has_annotation("SENT_START"))
    return doc


def prompted(nlp: Language) -> PromptedTagger:
    pipe = nlp.get_pipe("bioner_prompted")
    assert isinstance(pipe, PromptedTagger)
    return pipe


def predictions(doc: SourceDocument | Failure) -> list[Prediction]:
    assert isinstance(doc, SourceDocument), doc
    out = []
    for ann in doc.annotations:
        if ann.score is not None:
            ((start, end),) = ann.fragments
            out.append((start, end, ann.label, ann.score))
    return out


def expected(nlp: Language, src: SourceDocument) -> list[Prediction]:
    """What the pipeline predicts on the document's Doc, called directly, with
    the converters' sentences and a sentence at each passage start."""
    doc = nlp.make_doc(src.text)
    if len(doc):
        forced = []
        for char in src.passage_starts:
            span = doc.char_span(char, char + 1, alignment_mode="expand")
            if span is not None:
                forced.append(span.start)
        starts = {start for start, _ in split_sentences(doc, (), forced)}
        for token in doc:
            token.is_sent_start = token.i in starts
    doc = nlp(doc)
    group = doc.spans["sc"]
    return sorted((s.start_char, s.end_char, s.label_, score) for s, score in zip(group, group.attrs["scores"], strict=True))


def same(found: list[Prediction], wanted: list[Prediction]) -> bool:
    return [p[:3] for p in found] == [p[:3] for p in wanted] and all(
        a[3] == pytest.approx(b[3], abs=1e-5) for a, b in zip(found, wanted, strict=False))


def test_offsets_are_exact_and_existing_annotations_kept(
        annotate_nlp: Language, sample_documents: list[SourceDocument]) -> None:
    before = [list(doc.annotations) for doc in sample_documents]
    results = Annotator(annotate_nlp, batch_size=3).annotate(sample_documents)
    assert [r.doc_id for r in results] == [d.doc_id for d in sample_documents]
    for src, result, old in zip(sample_documents, results, before, strict=True):
        assert isinstance(result, SourceDocument)
        assert src.annotations == old and result.annotations[:len(old)] == old
        assert (result.text, result.path, result.meta, result.passage_starts) == (
            src.text, src.path, src.meta, src.passage_starts)
        for ann in result.annotations[len(old):]:
            ((start, end),) = ann.fragments
            assert ann.score is not None and 0.0 <= ann.score <= 1.0
            assert ann.label in LABELS
            assert src.text[start:end] == ann.text == ann.text.strip() != ""
    # offsets after CRLF, an astral character and leading white space are exercised
    for doc_id in ("crlf", "unicode", "passages", "long"):
        assert predictions(next(r for r in results if r.doc_id == doc_id)), doc_id
    assert predictions(results[4]) == predictions(results[5]) == []


@pytest.mark.parametrize("batch_size", [1, 2, 64])
def test_same_predictions_as_the_pipeline_in_input_order(
        annotate_nlp: Language, sample_documents: list[SourceDocument], batch_size: int) -> None:
    annotator = Annotator(annotate_nlp, batch_size=batch_size)
    # reversed: the longest documents are no longer last, so the length sort reorders them
    docs = list(reversed(sample_documents))
    results = annotator.annotate(docs)
    assert [r.doc_id for r in results] == [d.doc_id for d in docs]
    for src, result in zip(docs, results, strict=True):
        assert same(predictions(result), expected(annotate_nlp, src)), src.doc_id
    assert annotator.words == sum(len(annotate_nlp.make_doc(d.text)) for d in docs)
    assert annotator.annotate([]) == []


def test_passage_starts_start_sentences_unless_the_pipeline_sets_them() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("annotate_test_sentences")
    second = len(FIRST_PASSAGE) + 1
    text = f"{FIRST_PASSAGE} Women were given tamoxifen .\nNo adverse events ."
    docs = [SourceDocument("a", text, "a.txt", passage_starts=[0, second]),
            # a passage offset on the white space before the passage
            SourceDocument("b", text, "a.txt", passage_starts=[second - 1]),
            SourceDocument("c", text, "a.txt")]
    SEEN.clear()
    Annotator(nlp, batch_size=1).annotate(docs)
    newline = text.index("No adverse")
    assert SEEN == [[0, second, newline], [0, second, newline], [0, newline]]
    nlp.add_pipe("annotate_test_sentence_setter", first=True)
    SEEN.clear()
    Annotator(nlp).annotate(docs[:1])
    assert SEEN == [False, None]


def test_a_failing_document_fails_alone(annotate_nlp: Language, sample_documents: list[SourceDocument]) -> None:
    good = Annotator(annotate_nlp).annotate(sample_documents)
    bad = SourceDocument("bad", "BOOM Cisplatin .", "bad.txt")
    docs = [sample_documents[0], bad, *sample_documents[1:]]
    annotate_nlp.add_pipe("annotate_test_boom", first=True)
    annotator = Annotator(annotate_nlp, batch_size=len(docs))
    results = annotator.annotate(docs)
    failure = results[1]
    assert isinstance(failure, Failure)
    assert (failure.file, failure.doc) == ("bad.txt", "bad")
    assert "[E986]" in failure.reason and "bad.txt [document bad]" in failure.reason
    assert "ValueError: this document blows up" in failure.reason
    tagged = [results[0], *results[2:]]
    assert all(same(predictions(a), predictions(b)) for a, b in zip(tagged, good, strict=True))
    assert annotator.words == sum(len(annotate_nlp.make_doc(d.text)) for d in sample_documents)


def test_a_document_that_cannot_be_tokenized_fails_alone(annotate_nlp: Language) -> None:
    annotate_nlp.max_length = 20
    docs = [SourceDocument("ok", "Cisplatin .", "a.txt"),
            SourceDocument("long", "Cisplatin induced nephrotoxicity .", "a.txt")]
    ok, failure = Annotator(annotate_nlp).annotate(docs)
    assert isinstance(ok, SourceDocument) and ok.doc_id == "ok"
    assert isinstance(failure, Failure) and failure.doc == "long"
    assert "[E987]" in failure.reason and "a.txt [document long]" in failure.reason


def test_a_pipeline_without_span_groups_gives_its_ents() -> None:
    nlp = spacy.blank("en")
    ruler: Any = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "Chemical", "pattern": "tamoxifen"}])
    text = "\r\n  \u00b5 tamoxifen ."
    annotator = Annotator(nlp)
    assert annotator.spans_key is None
    (result,) = annotator.annotate([SourceDocument("d", text, "d.txt")])
    start = text.index("tamoxifen")
    assert predictions(result) == [(start, start + 9, "Chemical", 1.0)]
    with pytest.raises(BioNERInputError, match=r"\[E993\] d.txt \[document d\].*'nope'"):
        Annotator(nlp, spans_key="nope").annotate([SourceDocument("d", text, "d.txt")])


def _digest(path: Path) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def test_labels_are_zero_shot_and_not_saved(annotate_pipeline_dir: Path,
                                            sample_documents: list[SourceDocument]) -> None:
    before = _digest(annotate_pipeline_dir)
    plain = load_annotator(annotate_pipeline_dir).annotate(sample_documents)
    renamed = {"Illness": "disease", "Drug": "chemical"}
    annotator = load_annotator(annotate_pipeline_dir, labels=renamed, batch_size=2)
    assert prompted(annotator.nlp).labels == ("Illness", "Drug")
    zero_shot = annotator.annotate(sample_documents)
    # the same descriptions under other names: the same spans, under the new names
    rename = {"Disease": "Illness", "Chemical": "Drug"}
    for a, b in zip(plain, zero_shot, strict=True):
        wanted = sorted((s, e, rename[label], score) for s, e, label, score in predictions(a))
        assert same(sorted(predictions(b)), wanted)
    found = {p[2] for doc in zero_shot for p in predictions(doc)}
    assert found == {"Illness", "Drug"}
    assert _digest(annotate_pipeline_dir) == before
    assert prompted(spacy.load(annotate_pipeline_dir)).labels == LABELS


def test_labels_need_a_prompted_component(annotate_nlp: Language) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler")
    with pytest.raises(BioNERInputError, match=r"\[E988\].*entity_ruler \(entity_ruler\)"):
        Annotator(nlp, labels={"Disease": None})
    with pytest.raises(BioNERInputError, match=r"\[E989\]"):
        Annotator(annotate_nlp, labels={})
    Annotator(annotate_nlp, labels={"Specific_disease": None})
    assert prompted(annotate_nlp).label_descriptions == {"Specific_disease": "Specific disease"}


@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_invalid_batch_size(value: Any) -> None:
    with pytest.raises(BioNERInputError, match=r"\[E029\] Invalid batch size"):
        Annotator(spacy.blank("en"), batch_size=value)


def test_load_annotator_names_the_pipeline(tmp_path: Path) -> None:
    for path in (tmp_path / "missing", tmp_path):
        with pytest.raises(BioNERInputError, match=r"\[E985\] Pipeline '.*' could not be loaded") as info:
            load_annotator(path)
        assert str(path) in str(info.value)


def test_parse_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"Chemical": "a chemical or drug", "Species": None}), encoding="utf8")
    assert parse_labels(["Disease", " Gene = a gene or gene product ", str(path), "X=a=b"]) == {
        "Disease": None, "Gene": "a gene or gene product", "Chemical": "a chemical or drug",
        "Species": None, "X": "a=b"}
    assert parse_labels([]) == {}


@pytest.mark.parametrize("content,what", [
    ("{", "not valid JSON"),
    ("[\"Disease\"]", "a JSON list, not an object"),
    ("{}", "an empty object"),
    ("{\"\": \"x\"}", "an empty label name"),
    ("{\"Disease\": 3}", "the description of 'Disease' is 3"),
    ("{\"Disease\": \" \"}", "the description of 'Disease' is ' '"),
])
def test_parse_labels_bad_files(tmp_path: Path, content: str, what: str) -> None:
    path = tmp_path / "labels.json"
    path.write_text(content, encoding="utf8")
    with pytest.raises(BioNERInputError, match=r"\[E991\] Labels file '.*labels.json' is not valid") as info:
        parse_labels([str(path)])
    assert what in str(info.value)


def test_parse_labels_bad_values(tmp_path: Path) -> None:
    with pytest.raises(BioNERInputError, match=r"\[E991\].*no such file"):
        parse_labels([str(tmp_path / "missing.json")])
    with pytest.raises(BioNERInputError, match=r"\[E990\] Invalid --labels value '=a gene'.*no label name"):
        parse_labels(["=a gene"])
    with pytest.raises(BioNERInputError, match=r"\[E990\].*'Gene= '.*empty description"):
        parse_labels(["Gene= "])
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"Gene": None}), encoding="utf8")
    with pytest.raises(BioNERInputError, match=r"\[E992\] Label 'Gene' is given twice.*labels.json"):
        parse_labels(["Gene=a gene", str(path)])


def test_annotations_of_other_sources_are_not_predictions(annotate_nlp: Language) -> None:
    existing = SourceAnnotation("T7", "Chemical", [(0, 9)], text="Cisplatin")
    (result,) = Annotator(annotate_nlp).annotate([SourceDocument("d", "Cisplatin .", "d.txt", [existing])])
    assert isinstance(result, SourceDocument)
    assert result.annotations[0] is existing and existing.score is None
    assert all(ann.score is not None for ann in result.annotations[1:])


def test_the_span_group_and_sentence_setters_are_found(annotate_nlp: Language) -> None:
    annotator = Annotator(annotate_nlp, batch_size=1)
    assert (annotator.spans_key, annotator.sets_sentences) == ("sc", False)
    nlp = spacy.blank("en")
    nlp.add_pipe("spancat", config={"spans_key": "mentions"})
    assert (Annotator(nlp).spans_key, Annotator(nlp).sets_sentences) == ("mentions", False)
    nlp.add_pipe("senter", first=True)
    assert Annotator(nlp).sets_sentences and Annotator(nlp, spans_key="other").spans_key == "other"
