"""DocBuilder: the format-independent half of every reader."""
from __future__ import annotations

import pytest
import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import filter_spans

from spacy_bioner.corpora.base import (
    SOURCE_KEY,
    DocBuilder,
    SourceAnnotation,
    SourceDocument,
    check_strict,
    split_sentences,
)
from spacy_bioner.corpora.limits import Limits
from spacy_bioner.corpora.report import ConversionReport
from spacy_bioner.errors import BioNERInputError


def ann(text: str, ann_id: str, label: str, mention: str, occurrence: int = 0) -> SourceAnnotation:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(mention, start + 1)
    return SourceAnnotation(ann_id=ann_id, label=label, fragments=[(start, start + len(mention))],
                            text=mention, line=int(ann_id[1:]), file="doc.ann")


def build(nlp: Language, text: str, anns: list[SourceAnnotation], meta: dict | None = None,
          **options) -> tuple[list[Doc], ConversionReport]:
    report = ConversionReport(corpus="test", fmt="test")
    builder = DocBuilder(nlp, report, **options)
    src = SourceDocument(doc_id="doc", text=text, path="doc.txt", annotations=anns, meta=meta or {})
    return builder.build(src), report


def span_tuples(doc: Doc, key: str = "sc") -> list[tuple[str, str, int, int]]:
    return [(s.text, s.label_, s.start_char, s.end_char) for s in doc.spans[key]]


# -- alignment ---------------------------------------------------------------------

ALIGN_TEXT = "IL-6-induced expression of BRCA1/2 rose."
#             0         1         2         3
#             0123456789012345678901234567890123456789


def test_spacy_tokenizer_creates_in_token_boundaries(nlp_spacy):
    doc = nlp_spacy(ALIGN_TEXT)
    assert "BRCA1/2" in [t.text for t in doc]
    assert doc.char_span(27, 32) is None


def test_alignment_expand(nlp_spacy):
    anns = [ann(ALIGN_TEXT, "T1", "Gene", "IL-6"), ann(ALIGN_TEXT, "T2", "Gene", "expression of BRCA1")]
    (doc,), report = build(nlp_spacy, ALIGN_TEXT, anns, alignment="expand")
    assert span_tuples(doc) == [("IL-6", "Gene", 0, 4), ("expression of BRCA1/2", "Gene", 13, 34)]
    assert report.totals() == {"source": 2, "exact": 1, "adjusted": 1, "rejected": 0, "dropped": 0}
    (rec,) = report.adjusted_records
    assert rec["ann_id"] == "T2" and rec["file"] == "doc.ann" and rec["line"] == 2
    assert rec["fragments"] == [[13, 32]] and rec["text"] == "expression of BRCA1"
    assert rec["converted"] == [[13, 34]]
    assert rec["converted_text"] == ["expression of BRCA1/2"]
    assert "expanded" in rec["reason"]


def test_alignment_contract(nlp_spacy):
    anns = [ann(ALIGN_TEXT, "T1", "Gene", "expression of BRCA1"), ann(ALIGN_TEXT, "T2", "Gene", "BRCA1")]
    (doc,), report = build(nlp_spacy, ALIGN_TEXT, anns, alignment="contract")
    assert span_tuples(doc) == [("expression of", "Gene", 13, 26)]
    (adj,) = report.adjusted_records
    assert adj["ann_id"] == "T1" and adj["converted_text"] == ["expression of"]
    assert "contracted" in adj["reason"]
    # nothing of "BRCA1/2" lies inside "BRCA1": contracting leaves no token
    (rej,) = report.rejected_records
    assert rej["ann_id"] == "T2" and "no token" in rej["reason"]
    assert report.totals() == {"source": 2, "exact": 0, "adjusted": 1, "rejected": 1, "dropped": 0}


def test_alignment_reject(nlp_spacy):
    anns = [ann(ALIGN_TEXT, "T1", "Gene", "IL-6"), ann(ALIGN_TEXT, "T2", "Gene", "expression of BRCA1")]
    (doc,), report = build(nlp_spacy, ALIGN_TEXT, anns, alignment="reject")
    assert span_tuples(doc) == [("IL-6", "Gene", 0, 4)]
    (rej,) = report.rejected_records
    assert rej["ann_id"] == "T2" and "inside a token" in rej["reason"]
    assert report.adjusted_records == []
    assert report.is_balanced()


def test_bio_tokenizer_needs_no_adjustment(nlp_bio):
    anns = [ann(ALIGN_TEXT, "T1", "Gene", "IL-6"), ann(ALIGN_TEXT, "T2", "Gene", "expression of BRCA1")]
    (doc,), report = build(nlp_bio, ALIGN_TEXT, anns, alignment="reject")
    assert span_tuples(doc) == [("IL-6", "Gene", 0, 4), ("expression of BRCA1", "Gene", 13, 32)]
    assert report.totals()["exact"] == 2


@pytest.mark.parametrize("option,value", [("alignment", "stretch"), ("discontinuous", "merge")])
def test_unknown_policy_raises(nlp_bio, option, value):
    with pytest.raises(BioNERInputError, match=rf"^\[E011\] Unknown .* '{value}'"):
        DocBuilder(nlp_bio, ConversionReport(), **{option: value})


@pytest.mark.parametrize("label", ["", "  "])
def test_empty_type_is_rejected(nlp_bio, label):
    text = "Familial breast cancer."
    anns = [ann(text, "T1", label, "breast cancer"), ann(text, "T2", "Disease", "Familial")]
    (doc,), report = build(nlp_bio, text, anns)
    assert span_tuples(doc) == [("Familial", "Disease", 0, 8)] == [(e.text, e.label_, e.start_char, e.end_char)
                                                                  for e in doc.ents]
    assert report.totals() == {"source": 2, "exact": 1, "adjusted": 0, "rejected": 1, "dropped": 0}
    assert report.rejected_records[0]["reason"].startswith("[W016] ")
    assert report.is_balanced()


def test_document_over_the_limit_names_file_and_document(nlp_bio):
    with pytest.raises(BioNERInputError, match=r"^\[E024\] doc\.txt \[document doc\]: the document has 11 characters"):
        build(nlp_bio, "x" * 11, [], limits=Limits(max_chars=10))
    # the limit replaces spaCy's nlp.max_length (1,000,000), in both directions
    (doc,), _ = build(nlp_bio, "word " * 250_000, [], limits=Limits(max_chars=1_250_000))
    assert len(doc) == 250_000


@pytest.mark.parametrize("settings", [{"max_chars": 0}, {"max_chars": "10"}, {"max_offset": -1}, {"max_chars": True}])
def test_invalid_limits(settings):
    with pytest.raises(BioNERInputError, match=r"^\[E029\] Invalid max_"):
        Limits(**settings)


def test_offset_limit_defaults_to_the_document_limit():
    assert Limits(max_chars=50).offset_limit == 50
    assert Limits(max_chars=50, max_offset=70).offset_limit == 70
    with pytest.raises(BioNERInputError, match=r"^\[E023\] f:1: offset 51 is larger than the maximum offset 50"):
        Limits(max_chars=50).offset("051", "f:1")
    with pytest.raises(BioNERInputError, match=rf"^\[E023\] f:1: offset of {(10**100).bit_length()} bits"):
        Limits().check_offset(10**100, "f:1")


# -- discontinuous mentions ---------------------------------------------------------

def test_discontinuous_fragments_in_any_order(nlp_bio):
    text = "Right and left breast cancer were seen."
    a = SourceAnnotation("T1", "Cancer", [(15, 28), (0, 5)], "breast cancer Right")
    (doc,), report = build(nlp_bio, text, [a], discontinuous="span")
    assert span_tuples(doc) == [("Right and left breast cancer", "Cancer", 0, 28)]
    (doc,), report = build(nlp_bio, text, [a], discontinuous="split")
    assert span_tuples(doc) == [("Right", "Cancer", 0, 5), ("breast cancer", "Cancer", 15, 28)]
    assert report.totals()["adjusted"] == 1


# -- doc.ents and doc.spans --------------------------------------------------------

NEST_TEXT = "Familial breast cancer and ovarian cancer were found."


def nest_anns() -> list[SourceAnnotation]:
    return [
        ann(NEST_TEXT, "T1", "Disease", "breast cancer"),
        ann(NEST_TEXT, "T2", "Disease", "Familial breast cancer"),
        ann(NEST_TEXT, "T3", "Organ", "breast"),
        ann(NEST_TEXT, "T4", "Disease", "ovarian cancer"),
    ]


def test_ents_are_longest_non_overlapping_subset(nlp_bio):
    (doc,), report = build(nlp_bio, NEST_TEXT, nest_anns(), spans_key="mentions")
    assert "sc" not in doc.spans
    assert sorted(s.id_ for s in doc.spans["mentions"]) == ["T1", "T2", "T3", "T4"]
    assert [(e.text, e.id_) for e in doc.ents] == [("Familial breast cancer", "T2"), ("ovarian cancer", "T4")]
    assert list(doc.ents) == filter_spans(doc.spans["mentions"])
    assert dict(report.not_in_ents) == {"Disease": 1, "Organ": 1}
    assert report.totals()["exact"] == 4


def test_label_map_in_builder(nlp_bio):
    (doc,), report = build(nlp_bio, NEST_TEXT, nest_anns(), label_map={"Disease": "DIS", "Organ": None})
    assert sorted((s.label_, s.id_) for s in doc.spans["sc"]) == [("DIS", "T1"), ("DIS", "T2"), ("DIS", "T4")]
    assert report.labels["Organ"]["dropped"] == 1
    assert report.labels["Disease"]["exact"] == 3
    assert "DIS" not in report.labels
    assert report.is_balanced()


def test_spans_only_count_survives_label_map(nlp_bio):
    (doc,), report = build(nlp_bio, NEST_TEXT, nest_anns(), label_map={"Disease": "DIS"})
    not_in_ents = len(doc.spans["sc"]) - len(doc.ents)
    assert not_in_ents == 2
    spans_only = report.to_dict()["spans_only"]
    assert sum(spans_only.values()) == not_in_ents
    assert "Disease" not in spans_only and spans_only["DIS"] >= 1


def test_spans_only_counts_duplicates(nlp_bio):
    anns = [ann(NEST_TEXT, "T1", "Disease", "breast cancer"), ann(NEST_TEXT, "T2", "Disease", "breast cancer")]
    (doc,), report = build(nlp_bio, NEST_TEXT, anns)
    assert len(doc.spans["sc"]) == 2 and len(doc.ents) == 1
    assert sum(report.not_in_ents.values()) == 1


# -- sentences ---------------------------------------------------------------------

SENT_TEXT = (
    "Smith et al. reported E. coli O157. H7 infection in 3 patients. "
    "Symptoms, e.g. fever, were seen (Fig. 2).\n"
    "A second line without a stop\n"
    "Third line. Fourth sentence here."
)
SENTENCES = [
    "Smith et al. reported E. coli O157. H7 infection in 3 patients.",
    "Symptoms, e.g. fever, were seen (Fig. 2).\n",
    "A second line without a stop\n",
    "Third line.",
    "Fourth sentence here.",
]


def sent_anns() -> list[SourceAnnotation]:
    return [
        ann(SENT_TEXT, "T1", "Species", "E. coli O157. H7"),
        ann(SENT_TEXT, "T2", "Disease", "E. coli O157. H7 infection"),
        ann(SENT_TEXT, "T3", "Symptom", "fever"),
        ann(SENT_TEXT, "T4", "Figure", "Fig. 2"),
        ann(SENT_TEXT, "T5", "Thing", "second line"),
        ann(SENT_TEXT, "T6", "Thing", "Fourth sentence"),
    ]


def test_splitter_would_cut_inside_the_entity(nlp_bio):
    # the premise of the next test: unprotected, "O157. H7" ends a sentence
    sents = [nlp_bio(SENT_TEXT)[s:e].text for s, e in split_sentences(nlp_bio(SENT_TEXT))]
    assert sents[:2] == ["Smith et al. reported E. coli O157.", "H7 infection in 3 patients."]


def test_one_doc_per_sentence(nlp_bio):
    docs, report = build(nlp_bio, SENT_TEXT, sent_anns(), sentences=True, meta={"char_offset": 100})
    assert [d.text for d in docs] == [s.rstrip(" ") for s in SENTENCES]
    assert report.documents == 1
    assert report.sentences == report.output_docs == len(SENTENCES) == 5
    n_spans = 0
    for k, doc in enumerate(docs):
        source = doc.user_data[SOURCE_KEY]
        assert source["sentence"] == k and source["doc_id"] == "doc" and source["file"] == "doc.txt"
        offset = source["char_offset"] - 100
        assert SENT_TEXT[offset:offset + len(doc.text)] == doc.text
        for span in doc.spans["sc"]:
            assert SENT_TEXT[offset + span.start_char: offset + span.end_char] == span.text
            n_spans += 1
    assert n_spans == 6
    assert [sorted(s.id_ for s in d.spans["sc"]) for d in docs] == [
        ["T1", "T2"], ["T3", "T4"], ["T5"], [], ["T6"]]
    assert [e.id_ for e in docs[0].ents] == ["T2"]
    assert report.totals()["exact"] == 6 and sum(report.not_in_ents.values()) == 1


def test_document_mode_sets_sentence_starts(nlp_bio):
    (doc,), report = build(nlp_bio, SENT_TEXT, sent_anns())
    assert [s.text for s in doc.sents] == [s.rstrip(" ") for s in SENTENCES]
    assert [t.text for t in doc if t.is_sent_start] == ["Smith", "Symptoms", "A", "Third", "Fourth"]
    assert report.sentences == 5 and report.output_docs == 1
    assert doc.user_data[SOURCE_KEY]["char_offset"] == 0


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Smith et al. Showed it. Then", ["Smith et al. Showed it.", "Then"]),
        ("Drugs, e.g. Aspirin, help. Yes", ["Drugs, e.g. Aspirin, help.", "Yes"]),
        ("See Fig. 2 here. Next", ["See Fig. 2 here.", "Next"]),
        ("no stop\nnew line", ["no stop\n", "new line"]),
        ("Is it? Yes! 3 more", ["Is it?", "Yes!", "3 more"]),
        ("as shown (1). (B) next", ["as shown (1).", "(B) next"]),
        ("the dose was 5 mg. daily", ["the dose was 5 mg. daily"]),
    ],
)
def test_split_sentences_rules(nlp_bio, text, expected):
    doc = nlp_bio(text)
    assert [doc[s:e].text for s, e in split_sentences(doc)] == expected


@pytest.mark.parametrize("space", ["  ", "\u2009"])
def test_sentence_ends_before_extra_whitespace(nlp_bio, space):
    doc = nlp_bio(f"First one.{space}Second one.")
    assert len(split_sentences(doc)) == 2


def test_no_whitespace_only_sentence(nlp_bio):
    docs, report = build(nlp_bio, "\nFirst one. Second one.", [], sentences=True)
    assert [d.text.strip() for d in docs] == ["First one.", "Second one."]


def test_empty_document(nlp_bio):
    docs, report = build(nlp_bio, "", [])
    assert len(docs) == 1 and len(docs[0]) == 0
    assert report.documents == 1 and report.sentences == 0


# -- the report --------------------------------------------------------------------

def mixed_report(nlp: Language) -> tuple[list[Doc], ConversionReport]:
    text = "Familial breast cancer and ovarian cancer were found."
    anns = nest_anns() + [
        SourceAnnotation("T5", "Disease", [(0, 8)], "Familiar", line=5),  # text mismatch
        SourceAnnotation("T6", "Gene", [(50, 60)], None, line=6),  # beyond the text
        SourceAnnotation("T7", "Cancer", [(9, 15), (16, 22)], "breast cancer", line=7),  # discontinuous
        SourceAnnotation("T8", "Noise", [(0, 8)], "Familial", line=8),  # dropped
    ]
    return build(nlp, text, anns, label_map={"Noise": None})


def test_report_accounts_for_every_annotation(nlp_bio):
    _, report = mixed_report(nlp_bio)
    assert report.is_balanced()
    assert report.totals() == {"source": 8, "exact": 4, "adjusted": 1, "rejected": 2, "dropped": 1}
    assert dict(report.labels["Disease"]) == {"source": 4, "exact": 3, "rejected": 1}
    assert [r["ann_id"] for r in report.rejected_records] == ["T5", "T6"]
    assert [r["ann_id"] for r in report.adjusted_records] == ["T7"]
    report.labels["Disease"]["exact"] += 1
    assert not report.is_balanced()


def test_report_json_round_trip(tmp_path, nlp_bio):
    _, report = mixed_report(nlp_bio)
    data = report.to_dict()
    assert srsly.json_loads(srsly.json_dumps(data)) == data
    assert data["documents"] == 1 and data["output_docs"] == 1
    assert data["totals"]["source"] == 8
    assert data["labels"]["Noise"]["dropped"] == 1
    assert len(data["adjusted"]) == 1 and len(data["rejected"]) == 2
    path = tmp_path / "report.json"
    report.write(path)
    assert srsly.read_json(path) == data


def test_report_summary_lists_problems(nlp_bio, capsys):
    _, report = mixed_report(nlp_bio)
    report.print_summary()
    out = capsys.readouterr().out
    assert "TOTAL" in out and "T5" in out and "text mismatch" in out


def test_check_strict_names_file_line_and_annotation(nlp_bio):
    _, report = mixed_report(nlp_bio)
    with pytest.raises(BioNERInputError, match=r"^\[E015\] --strict: 3 annotation\(s\).*doc\.txt:7 T7 Cancer"):
        check_strict(report)
    _, clean = build(nlp_bio, NEST_TEXT, nest_anns())
    check_strict(clean)  # raises nothing
    assert clean.adjusted_records == clean.rejected_records == []
