"""BRAT standoff reader: line kinds, layouts, offsets, encodings, errors, real corpora."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import filter_spans

from spacy_bioner.corpora.base import SOURCE_KEY
from spacy_bioner.corpora.brat import parse_fragments, read_brat
from spacy_bioner.corpora.convert import convert_corpus, iter_docs, load_label_map
from spacy_bioner.corpora.limits import Limits
from spacy_bioner.corpora.report import ConversionReport
from spacy_bioner.errors import BioNERInputError


def t_line(ann_id: str, label: str, text: str, mention: str, occurrence: int = 0) -> str:
    """A ``T`` line for the ``occurrence``-th occurrence of ``mention`` in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(mention, start + 1)
    return f"{ann_id}\t{label} {start} {start + len(mention)}\t{mention}\n"


def convert(path: Path, nlp: Language, **options) -> tuple[list[Doc], ConversionReport]:
    report = ConversionReport(corpus=str(path), fmt="brat")
    docs = list(iter_docs(path, "brat", nlp, report, **options))
    return docs, report


def ents(doc: Doc) -> list[tuple[str, str, int, int]]:
    return [(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents]


def spans(doc: Doc, key: str = "sc") -> list[tuple[str, str, int, int]]:
    return [(s.text, s.label_, s.start_char, s.end_char) for s in doc.spans[key]]


# -- plain T lines -------------------------------------------------------------

TEXT = "Mutations in BRCA1 cause breast cancer.\n"


def test_plain_t_lines(tmp_path, write_brat, nlp_bio):
    ann = t_line("T1", "Gene", TEXT, "BRCA1") + t_line("T2", "Disease", TEXT, "breast cancer")
    write_brat(tmp_path, "d1", TEXT, ann=ann)
    docs, report = convert(tmp_path, nlp_bio)
    assert len(docs) == 1
    doc = docs[0]
    assert doc.text == TEXT
    assert ents(doc) == [("BRCA1", "Gene", 13, 18), ("breast cancer", "Disease", 25, 38)]
    assert spans(doc) == ents(doc)
    assert [s.id_ for s in doc.spans["sc"]] == ["T1", "T2"]
    assert report.files == 1 and report.documents == 1
    assert report.totals() == {"source": 2, "exact": 2, "adjusted": 0, "rejected": 0, "dropped": 0}
    assert dict(report.labels["Gene"]) == {"source": 1, "exact": 1}
    assert doc.user_data[SOURCE_KEY]["doc_id"] == "d1"
    assert doc.user_data[SOURCE_KEY]["file"] == "d1.txt"


def test_reading_a_single_pair_by_its_ann_path(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "one", TEXT, ann=t_line("T1", "Gene", TEXT, "BRCA1"))
    write_brat(tmp_path, "two", "Other text.\n", ann="")
    docs, report = convert(tmp_path / "one.ann", nlp_bio)
    assert [d.user_data[SOURCE_KEY]["doc_id"] for d in docs] == ["one"]
    assert ents(docs[0]) == [("BRCA1", "Gene", 13, 18)]
    assert report.files == 1


# -- discontinuous mentions ------------------------------------------------------

DISC_TEXT = "Right and left breast cancer were seen.\n"
#            0    5    10   15   20   25   30
DISC_ANN = "T1\tCancer 0 5;15 28\tRight breast cancer\n"


def test_discontinuous_policy_span(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "d", DISC_TEXT, ann=DISC_ANN)
    (doc,), report = convert(tmp_path, nlp_bio, discontinuous="span")
    assert spans(doc) == [("Right and left breast cancer", "Cancer", 0, 28)]
    assert doc.spans["sc"][0].id_ == "T1"
    assert report.totals()["adjusted"] == 1
    (rec,) = report.adjusted_records
    assert rec["ann_id"] == "T1" and rec["line"] == 1 and rec["file"] == "d.ann"
    assert rec["fragments"] == [[0, 5], [15, 28]]
    assert rec["converted"] == [[0, 28]]
    assert "discontinuous" in rec["reason"]


def test_discontinuous_policy_split(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "d", DISC_TEXT, ann=DISC_ANN)
    (doc,), report = convert(tmp_path, nlp_bio, discontinuous="split")
    assert spans(doc) == [("Right", "Cancer", 0, 5), ("breast cancer", "Cancer", 15, 28)]
    assert [s.id_ for s in doc.spans["sc"]] == ["T1", "T1"]
    assert ents(doc) == spans(doc)
    assert report.totals() == {"source": 1, "exact": 0, "adjusted": 1, "rejected": 0, "dropped": 0}
    (rec,) = report.adjusted_records
    assert rec["converted"] == [[0, 5], [15, 28]]
    assert rec["converted_text"] == ["Right", "breast cancer"]
    assert "split into 2" in rec["reason"]


def test_discontinuous_policy_skip(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "d", DISC_TEXT, ann=DISC_ANN + t_line("T2", "Organ", DISC_TEXT, "breast"))
    (doc,), report = convert(tmp_path, nlp_bio, discontinuous="skip")
    assert spans(doc) == [("breast", "Organ", 15, 21)]
    assert report.totals() == {"source": 2, "exact": 1, "adjusted": 0, "rejected": 1, "dropped": 0}
    (rec,) = report.rejected_records
    assert rec["ann_id"] == "T1" and "discontinuous" in rec["reason"]
    assert report.is_balanced()


# -- overlapping and nested annotations --------------------------------------------

NEST_TEXT = "Familial breast cancer and ovarian cancer were found.\n"
NEST_ANN = (
    t_line("T1", "Disease", NEST_TEXT, "Familial breast cancer")
    + t_line("T2", "Disease", NEST_TEXT, "breast cancer")  # nested in T1
    + t_line("T3", "Organ", NEST_TEXT, "breast")  # nested in T1 and T2
    + t_line("T4", "Disease", NEST_TEXT, "ovarian cancer")
    + t_line("T5", "Phrase", NEST_TEXT, "cancer and ovarian")  # crosses T1 and T4
)


@pytest.mark.parametrize("key", ["sc", "all_mentions"])
def test_overlapping_and_nested_all_kept_in_span_group(tmp_path, write_brat, nlp_bio, key):
    write_brat(tmp_path, "d", NEST_TEXT, ann=NEST_ANN)
    (doc,), report = convert(tmp_path, nlp_bio, spans_key=key)
    assert list(doc.spans.keys()) == [key]
    assert sorted(s.id_ for s in doc.spans[key]) == ["T1", "T2", "T3", "T4", "T5"]
    # doc.ents: non-overlapping, longest first, earlier start on ties (T1 beats T5)
    assert ents(doc) == [("Familial breast cancer", "Disease", 0, 22), ("ovarian cancer", "Disease", 27, 41)]
    assert [e.text for e in doc.ents] == [s.text for s in filter_spans(doc.spans[key])]
    assert report.totals() == {"source": 5, "exact": 5, "adjusted": 0, "rejected": 0, "dropped": 0}
    assert report.to_dict()["spans_only"] == {"Disease": 1, "Organ": 1, "Phrase": 1}


# -- line kinds that are not entities ------------------------------------------------

def test_other_line_kinds_are_skipped_and_counted(tmp_path, write_brat, nlp_bio):
    text = "Aspirin inhibits COX1 in platelets.\n"
    ann = (
        t_line("T1", "Chemical", text, "Aspirin")
        + t_line("T2", "Inhibition", text, "inhibits")
        + t_line("T3", "Gene", text, "COX1")
        + t_line("T4", "Cell", text, "platelets")
        + "E1\tInhibition:T2 Cause:T1 Theme:T3 \n"
        + "R1\tTarget Arg1:T1 Arg2:T3\t\n"
        + "R2\tLocation Arg1:T3 Arg2:T4\t\n"
        + "A1\tNegation E1\n"
        + "M1\tSpeculation E1\n"
        + "N1\tReference T1 MeSH:D001241\tAspirin\n"
        + "N2\tReference T3 HGNC:9604\n"
        + "#1\tAnnotatorNotes T1\tchecked\n"
        + "*\tEquiv T3 T4\n"
    )
    write_brat(tmp_path, "d", text, ann=ann)
    (doc,), report = convert(tmp_path, nlp_bio)
    assert dict(report.skipped) == {
        "events": 1, "relations": 2, "attributes": 1, "modifications": 1,
        "normalizations": 2, "notes": 1, "equivalences": 1,
    }
    # in .ann files triggers cannot be told from entities: all T lines kept
    assert [s.id_ for s in doc.spans["sc"]] == ["T1", "T2", "T3", "T4"]
    assert report.totals()["source"] == 4


def test_normalizations_become_kb_ids(tmp_path, write_brat, nlp_bio):
    ann = (
        t_line("T1", "Gene", TEXT, "BRCA1")
        + t_line("T2", "Disease", TEXT, "breast cancer")
        + "N1\tReference T2 MeSH:D001943\tBreast Neoplasms\n"
        + "N2\tReference T2 OMIM:114480\n"
    )
    write_brat(tmp_path, "d", TEXT, ann=ann)
    (doc,), report = convert(tmp_path, nlp_bio)
    kb = {s.id_: s.kb_id_ for s in doc.spans["sc"]}
    assert kb == {"T1": "", "T2": "MeSH:D001943|OMIM:114480"}
    assert {e.text: e.kb_id_ for e in doc.ents}["breast cancer"] == "MeSH:D001943|OMIM:114480"
    assert report.skipped["normalizations"] == 2


# -- BioNLP-ST .a1 + .a2 layout ----------------------------------------------------

ST_TEXT = "BRCA1 expression increased at the promoter of TP53.\n"
ST_A1 = t_line("T1", "Gene_or_gene_product", ST_TEXT, "BRCA1") + t_line(
    "T2", "Gene_or_gene_product", ST_TEXT, "TP53")
ST_A2 = (
    t_line("T3", "Gene_expression", ST_TEXT, "expression")
    + t_line("T4", "Positive_regulation", ST_TEXT, "increased")
    + t_line("T5", "DNA_domain_or_region", ST_TEXT, "promoter")  # secondary entity, not a trigger
    + "E1\tGene_expression:T3 Theme:T1\n"
    + "E2\tPositive_regulation:T4 Theme:E1 Site:T5\n"
    + "M1\tNegation E2\n"
)


def test_a1_a2_triggers_skipped(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "PMID-1", ST_TEXT, a1=ST_A1, a2=ST_A2)
    (doc,), report = convert(tmp_path, nlp_bio)
    assert spans(doc) == [
        ("BRCA1", "Gene_or_gene_product", 0, 5),
        ("promoter", "DNA_domain_or_region", 34, 42),
        ("TP53", "Gene_or_gene_product", 46, 50),
    ]
    assert dict(report.skipped) == {"event triggers": 2, "events": 2, "modifications": 1}
    assert report.totals()["source"] == 3 and report.totals()["exact"] == 3
    a2_span = [s for s in doc.spans["sc"] if s.id_ == "T5"][0]
    assert a2_span.label_ == "DNA_domain_or_region"


def test_a1_a2_include_triggers(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "PMID-1", ST_TEXT, a1=ST_A1, a2=ST_A2)
    (doc,), report = convert(tmp_path, nlp_bio, reader_options={"include_triggers": True})
    assert [s.id_ for s in doc.spans["sc"]] == ["T1", "T3", "T4", "T5", "T2"]
    assert "event triggers" not in report.skipped
    assert report.totals()["source"] == report.totals()["exact"] == 5
    assert dict(report.skipped) == {"events": 2, "modifications": 1}


def test_a1_only_layout(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "PMID-2", ST_TEXT, a1=ST_A1)
    (doc,), report = convert(tmp_path, nlp_bio)
    assert [s.id_ for s in doc.spans["sc"]] == ["T1", "T2"]
    assert report.document_issues == []


# -- line endings and BOM -------------------------------------------------------

CRLF_TEXT = "Line one has BRCA1.\r\nLine two has TP53 here.\r\n"


def test_crlf_offsets_counting_cr_are_kept(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "d", CRLF_TEXT, ann=t_line("T1", "Gene", CRLF_TEXT, "TP53"))
    (doc,), report = convert(tmp_path, nlp_bio)
    assert doc.text == CRLF_TEXT
    assert ents(doc) == [("TP53", "Gene", 34, 38)]
    assert report.document_issues == []
    assert report.totals()["exact"] == 1
    assert [t.text for t in doc if t.is_sent_start] == ["Line", "Line"]


def test_crlf_file_with_lf_offsets_uses_lf(tmp_path, write_brat, nlp_bio):
    lf_text = CRLF_TEXT.replace("\r\n", "\n")
    ann = t_line("T1", "Gene", lf_text, "TP53") + t_line("T2", "Gene", lf_text, "BRCA1")
    write_brat(tmp_path, "d", CRLF_TEXT, ann=ann)
    (doc,), report = convert(tmp_path, nlp_bio)
    assert doc.text == lf_text
    assert ents(doc) == [("BRCA1", "Gene", 13, 18), ("TP53", "Gene", 33, 37)]
    assert report.totals()["exact"] == 2 and report.totals()["rejected"] == 0
    (issue,) = report.document_issues
    assert issue["file"] == "d.txt" and "LF" in issue["issue"]
    assert doc.user_data[SOURCE_KEY]["newlines"] == "crlf-as-lf"


BOM_TEXT = "\ufeffPaciente de 45 años con diabetes.\nVive en Madrid.\n"


def test_bom_counted_as_character_zero(tmp_path, write_brat, nlp_bio):
    ann = t_line("T1", "EDAD", BOM_TEXT, "45 años") + t_line("T2", "TERRITORIO", BOM_TEXT, "Madrid")
    assert ann.startswith("T1\tEDAD 13 20\t")  # the BOM is character 0
    write_brat(tmp_path, "d", BOM_TEXT, ann="\ufeff" + ann)
    (doc,), report = convert(tmp_path, nlp_bio)
    file_text = (tmp_path / "d.txt").read_bytes().decode("utf-8")
    assert len(doc.text) == len(file_text) == len(BOM_TEXT)
    assert doc.text[1:] == BOM_TEXT[1:]
    assert ents(doc) == [("45 años", "EDAD", 13, 20), ("Madrid", "TERRITORIO", 43, 49)]
    assert doc.ents[0].text == "45 años"
    assert report.totals()["exact"] == 2 and report.document_issues == []
    assert doc[0].text != "\ufeffPaciente"


def test_bom_not_counted_is_dropped_and_reported(tmp_path, write_brat, nlp_bio):
    no_bom = BOM_TEXT[1:]
    ann = t_line("T1", "EDAD", no_bom, "45 años") + t_line("T2", "TERRITORIO", no_bom, "Madrid")
    write_brat(tmp_path, "d", BOM_TEXT, ann=ann)
    (doc,), report = convert(tmp_path, nlp_bio)
    assert doc.text == no_bom
    assert ents(doc) == [("45 años", "EDAD", 12, 19), ("Madrid", "TERRITORIO", 42, 48)]
    assert report.totals()["exact"] == 2
    (issue,) = report.document_issues
    assert "BOM" in issue["issue"]


def test_non_ascii_code_point_offsets(tmp_path, write_brat, nlp_bio):
    text = ("Dose 5\u200aμg/kg of IL\u200b6 for 2–4 weeks;\u200bp53 and (TNF-α) rose.\n")
    mentions = ["5\u200aμg/kg", "μg", "IL\u200b6", "2–4 weeks", "p53", "TNF-α"]
    assert len(text.encode("utf-8")) > len(text)  # byte offsets would differ
    ann = "".join(t_line(f"T{i}", "X", text, m) for i, m in enumerate(mentions, start=1))
    write_brat(tmp_path, "d", text, ann=ann)
    (doc,), report = convert(tmp_path, nlp_bio)
    got = {s.id_: (s.text, s.start_char, s.end_char) for s in doc.spans["sc"]}
    assert got == {
        "T1": ("5\u200aμg/kg", 5, 12),
        "T2": ("μg", 7, 9),
        "T3": ("IL\u200b6", 16, 20),
        "T4": ("2–4 weeks", 25, 34),
        "T5": ("p53", 36, 39),
        "T6": ("TNF-α", 45, 50),
    }
    assert report.totals() == {"source": 6, "exact": 6, "adjusted": 0, "rejected": 0, "dropped": 0}


# -- label maps ---------------------------------------------------------------------

LM_TEXT = "Familial breast cancer and ovarian cancer in BRCA1 carriers.\n"
LM_ANN = (
    t_line("T1", "SpecificDisease", LM_TEXT, "breast cancer")
    + t_line("T2", "Modifier", LM_TEXT, "ovarian cancer")
    + t_line("T3", "Gene", LM_TEXT, "BRCA1")
)


@pytest.mark.parametrize("fmt", ["json", "tsv"])
def test_label_map_renames_and_drops(tmp_path, write_brat, nlp_bio, fmt):
    write_brat(tmp_path / "corpus", "d", LM_TEXT, ann=LM_ANN)
    if fmt == "json":
        map_path = tmp_path / "map.json"
        map_path.write_text(json.dumps({"SpecificDisease": "Disease", "Modifier": None}))
    else:
        map_path = tmp_path / "map.tsv"
        map_path.write_text("# source\ttarget\nSpecificDisease\tDisease\nModifier\t\n")
    label_map = load_label_map(map_path)
    assert label_map == {"SpecificDisease": "Disease", "Modifier": None}
    (doc,), report = convert(tmp_path / "corpus", nlp_bio, label_map=label_map)
    assert spans(doc) == [("breast cancer", "Disease", 9, 22), ("BRCA1", "Gene", 45, 50)]
    assert ents(doc) == spans(doc)
    assert report.totals() == {"source": 3, "exact": 2, "adjusted": 0, "rejected": 0, "dropped": 1}
    assert report.labels["Modifier"]["dropped"] == 1
    assert report.labels["SpecificDisease"]["exact"] == 1
    assert report.is_balanced()


# -- annotations that do not fit the text -----------------------------------------

def test_text_mismatch_rejected(tmp_path, write_brat, nlp_bio):
    ann = "T1\tGene 13 18\tBRCA2\n" + t_line("T2", "Disease", TEXT, "breast cancer")
    write_brat(tmp_path, "d", TEXT, ann=ann)
    (doc,), report = convert(tmp_path, nlp_bio)
    assert [s.id_ for s in doc.spans["sc"]] == ["T2"]
    (rec,) = report.rejected_records
    assert rec["ann_id"] == "T1" and rec["line"] == 1 and rec["text"] == "BRCA2"
    assert rec["reason"].startswith("[W012] text mismatch") and "BRCA1" in rec["reason"]
    assert report.labels["Gene"]["rejected"] == 1 and report.is_balanced()


def test_offsets_beyond_text_rejected(tmp_path, write_brat, nlp_bio):
    n = len(TEXT)
    ann = t_line("T1", "Gene", TEXT, "BRCA1") + f"T2\tGene {n - 2} {n + 5}\tx\n"
    write_brat(tmp_path, "d", TEXT, ann=ann)
    (doc,), report = convert(tmp_path, nlp_bio)
    assert [s.id_ for s in doc.spans["sc"]] == ["T1"]
    (rec,) = report.rejected_records
    assert rec["ann_id"] == "T2" and "outside the text" in rec["reason"] and str(n) in rec["reason"]
    assert report.totals() == {"source": 2, "exact": 1, "adjusted": 0, "rejected": 1, "dropped": 0}


# -- malformed input -----------------------------------------------------------------

@pytest.mark.parametrize(
    "bad_line,what",
    [
        ("T2 Gene 0 5 Mutat", "no TAB"),
        ("T2\tGene 0 five\tMutat", "not 'START END'"),
        ("T2\tGene 0 ²\tMutat", "not 'START END'"),
        ("T2\tGene 9 5\tMutat", "start 9 is after end 5"),
        ("T2\tGene\tMutat", "no offsets"),
        ("X2\tsomething", "unknown annotation id 'X2'"),
        ("E1\tPositive_regulation", "event line has no 'Type:Trigger'"),
        ("E1\t", "event line has no 'Type:Trigger'"),
        ("T1\tGene 13 18\tBRCA1", "duplicate annotation id T1"),
        ("N1\tReference T1", "normalisation line"),
    ],
)
def test_malformed_lines_raise_with_location(tmp_path, write_brat, nlp_bio, bad_line, what):
    ann = t_line("T1", "Gene", TEXT, "BRCA1") + bad_line + "\n"
    write_brat(tmp_path, "bad", TEXT, ann=ann)
    with pytest.raises(BioNERInputError) as exc:
        convert(tmp_path, nlp_bio)
    message = str(exc.value)
    assert re.match(r"\[E002\] bad\.ann:2\b", message), message
    assert what in message


def test_parse_fragments():
    assert parse_fragments("0 5;12 20", "f:1") == [(0, 5), (12, 20)]
    assert parse_fragments(" 3 7 ", "f:1") == [(3, 7)]
    with pytest.raises(BioNERInputError, match=r"\[E002\] f:9"):
        parse_fragments("0 5;", "f:9")


def test_txt_without_annotation_file(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "lonely", TEXT)
    docs, report = convert(tmp_path, nlp_bio)
    assert len(docs) == 1 and docs[0].text == TEXT
    assert list(docs[0].ents) == [] and list(docs[0].spans["sc"]) == []
    (issue,) = report.document_issues
    assert issue["file"] == "lonely.txt" and issue["doc_id"] == "lonely"
    assert issue["issue"].startswith("[W001] ")
    assert report.documents == 1 and report.totals()["source"] == 0


@pytest.mark.parametrize("given", ["dir", "ann"])
def test_annotation_file_without_text_is_an_error(tmp_path, write_brat, nlp_bio, given):
    # an .ann nobody converts would lose its annotations without a word
    write_brat(tmp_path, "kept", TEXT, ann=t_line("T1", "Gene", TEXT, "BRCA1"))
    (tmp_path / "orphan.ann").write_text(t_line("T1", "Gene", TEXT, "BRCA1"))
    with pytest.raises(BioNERInputError, match=r"^\[E016\] orphan\.ann: .*looked for orphan\.txt"):
        convert(tmp_path if given == "dir" else tmp_path / "orphan.ann", nlp_bio)


def test_cr_only_line_ends_in_ann(tmp_path, write_brat, nlp_bio):
    ann = (t_line("T1", "Gene", TEXT, "BRCA1") + t_line("T2", "Disease", TEXT, "breast cancer")
           + "N1\tReference T1 HGNC:1100\n").replace("\n", "\r")
    write_brat(tmp_path, "mac", TEXT, ann=ann)
    (doc,), report = convert(tmp_path, nlp_bio)
    assert ents(doc) == [("BRCA1", "Gene", 13, 18), ("breast cancer", "Disease", 25, 38)]
    assert doc.ents[0].kb_id_ == "HGNC:1100"
    assert report.totals()["exact"] == 2 and report.skipped["normalizations"] == 1


@pytest.mark.parametrize("given", ["dir", "TXT", "ANN"])
def test_upper_case_endings(tmp_path, nlp_bio, given):
    (tmp_path / "UP.TXT").write_text(TEXT)
    (tmp_path / "UP.ANN").write_text(t_line("T1", "Gene", TEXT, "BRCA1"))
    (doc,), report = convert(tmp_path if given == "dir" else tmp_path / f"UP.{given}", nlp_bio)
    assert ents(doc) == [("BRCA1", "Gene", 13, 18)]
    assert report.document_issues == [] and report.files == 1


def test_endings_differing_only_in_case_are_an_error(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "twice", TEXT, ann=t_line("T1", "Gene", TEXT, "BRCA1"))
    (tmp_path / "twice.ANN").write_text(t_line("T1", "Disease", TEXT, "breast cancer"))
    with pytest.raises(BioNERInputError, match=r"^\[E030\] twice: twice\.ANN, twice\.ann differ only in the case"):
        convert(tmp_path, nlp_bio)


def test_offset_over_the_limit(tmp_path, write_brat, nlp_bio):
    # 23 digits: checked before int(), which refuses more than 4,300 digits without a location
    for digits in ("99999999999999999999999", "9" * 5000):
        write_brat(tmp_path, "big", TEXT, ann=f"T1\tGene 0 {digits}\tx\n")
        with pytest.raises(BioNERInputError, match=r"^\[E023\] big\.ann:1: offset 9+.* maximum offset 1000000"):
            convert(tmp_path, nlp_bio)
    write_brat(tmp_path, "big", TEXT, ann="T1\tGene 13 18\tBRCA1\n")
    with pytest.raises(BioNERInputError, match=r"^\[E023\] big\.ann:1: offset 13 .* maximum offset 12"):
        convert(tmp_path, nlp_bio, limits=Limits(max_offset=12))


def test_document_over_the_limit(tmp_path, write_brat, nlp_bio):
    write_brat(tmp_path, "long", TEXT, ann="")
    with pytest.raises(BioNERInputError, match=r"^\[E024\] long\.txt: the document has 40 characters, .* 39"):
        convert(tmp_path, nlp_bio, limits=Limits(max_chars=39))
    (doc,), _ = convert(tmp_path, nlp_bio, limits=Limits(max_chars=40))
    assert doc.text == TEXT
    # a file that cannot fit (more than 4 bytes per character allowed) is refused before it is read
    write_brat(tmp_path, "long", "x" * 200, ann="")
    with pytest.raises(BioNERInputError, match=r"^\[E024\] long\.txt: the document has at least 50 characters"):
        convert(tmp_path, nlp_bio, limits=Limits(max_chars=39))


@pytest.mark.parametrize("which", ["txt", "ann"])
def test_invalid_utf8_names_file_and_line(tmp_path, write_brat, nlp_bio, which):
    if which == "txt":
        write_brat(tmp_path, "enc", b"First line.\nSecond \xff line.\n", ann="")
    else:
        write_brat(tmp_path, "enc", TEXT, ann=t_line("T1", "Gene", TEXT, "BRCA1").encode() + b"T2\tGene 0 1\t\xfe\n")
    with pytest.raises(BioNERInputError, match=rf"^\[E001\] .*enc\.{which}:2\b.*UTF-8"):
        convert(tmp_path, nlp_bio)


def test_read_brat_yields_document_offsets_unchanged(tmp_path, write_brat):
    ann = "T1\tCancer 0 5;15 28\tRight breast cancer\n"
    write_brat(tmp_path, "d", DISC_TEXT, ann=ann)
    report = ConversionReport()
    (src,) = list(read_brat(tmp_path, report))
    assert src.doc_id == "d" and src.text == DISC_TEXT
    (a,) = src.annotations
    assert (a.ann_id, a.label, a.fragments, a.text, a.line, a.file) == (
        "T1", "Cancer", [(0, 5), (15, 28)], "Right breast cancer", 1, "d.ann")


# -- the real corpora (slow) -------------------------------------------------------

SHARED_BRAT = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "brat"

# split dir -> (documents, source entities) as given in SOURCES.md; None: not given there
REAL_SPLITS: dict[str, tuple[int, int | None]] = {
    "anatem/train": (606, 6946),
    "anatem/dev": (202, 2139),
    "anatem/test": (404, 4616),
    "bionlp-st-2013-cg/train": (300, None),
    "bionlp-st-2013-cg/dev": (100, None),
    "bionlp-st-2013-cg/test": (200, 6955),  # .a1 only
    "brat-example-bionlp-st-2011/BioNLP-ST_2011_EPI": (20, 367),
    "brat-example-bionlp-st-2011/BioNLP-ST_2011_GE": (20, 520),
    "brat-example-bionlp-st-2011/BioNLP-ST_2011_ID": (20, 1133),
    "brat-example-bionlp-st-2011/BioNLP-ST_2011_REL": (20, 452),
    "maccrobat2020": (200, 25189),
    "meddocan/train": (500, 11333),
    "meddocan/dev": (250, 5801),
    "meddocan/test": (250, 5661),
    "ncbi-disease/train": (593, 5145),
    "ncbi-disease/dev": (100, 787),
    "ncbi-disease/test": (100, 960),
}
# BioNLP-ST 2013 CG: .a1 entities and .a2 event-trigger T lines (SOURCES.md)
CG_A1_A2 = {"train": (10935, 7469), "dev": (3634, 2451)}


@pytest.fixture(scope="module")
def shared_brat() -> Path:
    if not SHARED_BRAT.is_dir():
        pytest.skip(f"real BRAT corpora not found at {SHARED_BRAT}")
    return SHARED_BRAT


@pytest.mark.slow
@pytest.mark.parametrize("split", list(REAL_SPLITS))
def test_real_corpus(shared_brat, nlp_bio, split):
    path = shared_brat / split
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    start = time.perf_counter()
    docbin, report = convert_corpus(path, "brat", nlp=nlp_bio)
    seconds = time.perf_counter() - start
    t = report.totals()
    n_docs, n_source = REAL_SPLITS[split]
    assert report.is_balanced()
    assert t["dropped"] == 0
    assert t["exact"] + t["adjusted"] + t["rejected"] == t["source"]
    assert t["rejected"] <= 0.005 * t["source"], report.rejected_records[:5]
    assert report.documents == len(docbin) == n_docs
    if n_source is not None:
        assert t["source"] == n_source
    if split.startswith("bionlp-st-2013-cg/") and split.endswith(("train", "dev")):
        a1, triggers = CG_A1_A2[split.rsplit("/", 1)[1]]
        a1_lines = sum(
            sum(1 for line in p.read_text(encoding="utf-8").splitlines() if line.startswith("T"))
            for p in path.glob("*.a1"))
        assert a1_lines == a1
        # every .a2 T line is either an event trigger (skipped) or a kept secondary entity
        assert t["source"] + report.skipped["event triggers"] == a1 + triggers
        assert t["source"] > a1
    print(f"\n{split}: {report.documents} docs, source {t['source']}, exact {t['exact']}, "
          f"adjusted {t['adjusted']}, rejected {t['rejected']}, {seconds:.1f}s")
