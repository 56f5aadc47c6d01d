"""Round trips: SourceDocument -> writer -> file -> reader gives back the same annotations."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from spacy.language import Language

from spacy_bioner.corpora.base import DocBuilder, SourceAnnotation, SourceDocument
from spacy_bioner.corpora.bioc import read_bioc_json, read_bioc_xml
from spacy_bioner.corpora.brat import read_brat
from spacy_bioner.corpora.convert import make_nlp
from spacy_bioner.corpora.report import ConversionReport
from spacy_bioner.corpora.writers import (
    bioc_json_from_sources,
    bioc_xml_from_sources,
    brat_from_source,
    conll_from_doc,
    merge_sentence_sources,
    source_from_doc,
)
from spacy_bioner.errors import BioNERInputError

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Any text XML 1.0 can carry (so the same strategy serves BRAT and BioC):
# non-ASCII letters, CR, LF, TAB, NBSP, line/paragraph separators, emoji.
TEXT_CHARS = st.one_of(
    st.sampled_from(list("ab c.\n\r\t-()") + ["\u00e9", "\u03bc", "\u00a0", "\u2028", "\u2009", "\U0001f9ec", "\u00ae"]),
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff\ufffe\uffff"),
)
LABELS = st.sampled_from(["Chemical", "Disease", "Gene_or_gene_product", "Pro-tein", "Zellt\u00fcp"])
KB_IDS = st.sampled_from(["", "D001241", "3175,3630", "MESH:D00|OMIM:1"])


@st.composite
def source_documents(draw: st.DrawFn, brat_ids: bool = True) -> SourceDocument:
    text = draw(st.text(TEXT_CHARS, min_size=1, max_size=120))
    n = len(text)
    fragment = st.integers(0, n - 1).flatmap(lambda s: st.tuples(st.just(s), st.integers(s + 1, n)))
    anns = []
    for k in range(draw(st.integers(0, 6))):
        frags = draw(st.lists(fragment, min_size=1, max_size=3))  # overlapping and discontinuous
        ann_id = f"T{k + 1}" if brat_ids else draw(st.sampled_from([str(k), f"ann{k}", f"é {k}\"<&>"]))
        anns.append(SourceAnnotation(ann_id=ann_id, label=draw(LABELS), fragments=list(frags),
                                     text=" ".join(text[s:e] for s, e in frags),
                                     kb_id="" if brat_ids else draw(KB_IDS)))
    return SourceDocument(doc_id=draw(st.sampled_from(["doc1", "12345", "PMC7_x"])), text=text,
                          path="", annotations=anns)


def ann_fields(anns: list[SourceAnnotation]) -> list[tuple]:
    return [(a.ann_id, a.label, a.fragments, a.text, a.kb_id) for a in anns]


# -- BRAT ---------------------------------------------------------------------------------------
@SETTINGS
@given(src=source_documents())
def test_brat_round_trip(tmp_path_factory: pytest.TempPathFactory, src: SourceDocument) -> None:
    directory = tmp_path_factory.mktemp("brat")
    txt, ann = brat_from_source(src)
    (directory / f"{src.doc_id}.txt").write_bytes(txt.encode("utf-8"))
    (directory / f"{src.doc_id}.ann").write_bytes(ann.encode("utf-8"))
    (back,) = read_brat(directory, ConversionReport())
    assert back.doc_id == src.doc_id
    assert back.text == src.text
    # the .ann format is line-based: CR/LF inside a mention text become spaces
    expected = [(a.ann_id, a.label, a.fragments, a.text.replace("\r", " ").replace("\n", " "), a.kb_id)
                for a in src.annotations]
    assert ann_fields(back.annotations) == expected
    for a in back.annotations:
        assert a.line == int(a.ann_id[1:]) and a.file == f"{src.doc_id}.ann"


def test_brat_writer_renumbers_non_brat_ids() -> None:
    src = SourceDocument("d", "Aspirin and ibuprofen", "", [
        SourceAnnotation("T5", "Chemical", [(0, 7)], "Aspirin"),
        SourceAnnotation("0", "Chemical", [(12, 21)], "ibuprofen"),
    ])
    assert brat_from_source(src)[1] == "T5\tChemical 0 7\tAspirin\nT6\tChemical 12 21\tibuprofen\n"


def test_brat_writer_refuses_labels_with_whitespace() -> None:
    src = SourceDocument("d", "Aspirin", "", [SourceAnnotation("T1", "Small molecule", [(0, 7)], "Aspirin")])
    with pytest.raises(BioNERInputError, match=r"^\[E201\] Document d, annotation T1: label 'Small molecule' cannot be written to BRAT"):
        brat_from_source(src)


GARBAGE = st.text(st.sampled_from(list("0123456789 ;-+.,x\u00b2\u0661\u2003")), min_size=0, max_size=12)


def _accepted_by_reader(spec: str) -> bool:
    """Whether read_brat accepts an offsets field: START END pairs of ASCII digits, start <= end."""
    for part in spec.split(";"):
        bits = part.split()
        if len(bits) != 2 or not all(re.fullmatch(r"[0-9]+", b) for b in bits) or int(bits[0]) > int(bits[1]):
            return False
    return True


@settings(max_examples=100, deadline=None)
@given(spec=GARBAGE, before=st.integers(0, 3))
def test_malformed_brat_offsets_raise_with_file_and_line(tmp_path_factory: pytest.TempPathFactory,
                                                         spec: str, before: int) -> None:
    assume(not _accepted_by_reader(spec.strip()))
    directory = tmp_path_factory.mktemp("bad")
    (directory / "d.txt").write_text("Aspirin relieves headache.", encoding="utf-8")
    good = "".join(f"T{k + 1}\tChemical 0 7\tAspirin\n" for k in range(before))
    (directory / "d.ann").write_text(f"{good}T9\tDisease {spec}\theadache\n", encoding="utf-8")
    with pytest.raises(BioNERInputError) as err:
        list(read_brat(directory, ConversionReport()))
    assert str(err.value).startswith(f"[E002] d.ann:{before + 1}: ") or \
        str(err.value).startswith(f"[E023] d.ann:{before + 1}: ")


# -- BioC -----------------------------------------------------------------------------------------
@SETTINGS
@given(src=source_documents(brat_ids=False), fmt=st.sampled_from(["xml", "json"]))
def test_bioc_round_trip(tmp_path_factory: pytest.TempPathFactory, src: SourceDocument, fmt: str) -> None:
    directory = tmp_path_factory.mktemp("bioc")
    if fmt == "xml":
        path = directory / "c.xml"
        path.write_bytes(bioc_xml_from_sources([src], date="2024-01-01").encode("utf-8"))
        reader = read_bioc_xml
    else:
        path = directory / "c.json"
        path.write_bytes(bioc_json_from_sources([src], date="2024-01-01").encode("utf-8"))
        reader = read_bioc_json
    report = ConversionReport()
    (back,) = reader(path, report)
    assert back.doc_id == src.doc_id
    assert back.text == src.text
    assert ann_fields(back.annotations) == ann_fields(src.annotations)
    assert report.document_issues == []


@st.composite
def passage_documents(draw: st.DrawFn) -> SourceDocument:
    texts = draw(st.lists(st.text(TEXT_CHARS, min_size=1, max_size=40), min_size=1, max_size=4))
    types = draw(st.lists(st.sampled_from([None, "title", "abstract", "paragraph"]),
                          min_size=len(texts), max_size=len(texts)))
    passages, offset = [], 0
    for t, ptype in zip(texts, types, strict=True):
        passages.append({"offset": offset, "length": len(t), "type": ptype})
        offset += len(t) + 1
    text = "\n".join(texts)
    base = draw(source_documents(brat_ids=False))
    anns = []
    for a in base.annotations:
        frags = [(min(s, len(text) - 1), min(e, len(text))) for s, e in a.fragments]
        frags = [(s, max(e, s + 1)) for s, e in frags]
        anns.append(SourceAnnotation(a.ann_id, a.label, frags, " ".join(text[s:e] for s, e in frags),
                                     kb_id=a.kb_id))
    return SourceDocument(base.doc_id, text, "", anns, meta={"format": "bioc", "passages": passages})


@SETTINGS
@given(src=passage_documents(), fmt=st.sampled_from(["xml", "json"]))
def test_bioc_round_trip_with_passages(tmp_path_factory: pytest.TempPathFactory, src: SourceDocument,
                                       fmt: str) -> None:
    directory = tmp_path_factory.mktemp("bioc")
    write = bioc_xml_from_sources if fmt == "xml" else bioc_json_from_sources
    path = directory / f"c.{fmt}"
    path.write_bytes(write([src], date="2024-01-01").encode("utf-8"))
    (back,) = (read_bioc_xml if fmt == "xml" else read_bioc_json)(path, ConversionReport())
    assert back.text == src.text
    assert back.meta["passages"] == src.meta["passages"]
    assert back.passage_starts == [p["offset"] for p in src.meta["passages"]]
    # BioC lists annotations under their passage, so only the order may change
    assert sorted(ann_fields(back.annotations), key=repr) == sorted(ann_fields(src.annotations), key=repr)


def test_bioc_xml_writer_escapes_and_refuses_control_characters() -> None:
    src = SourceDocument("d", "a\r\nb <&> \"c\"", "", [SourceAnnotation("x\t\"1\"", "L", [(0, 3)], "a\r\n")])
    xml = bioc_xml_from_sources([src], date="2024-01-01")
    assert "&#13;" in xml and 'id="x&#9;&quot;1&quot;"' in xml
    with pytest.raises(BioNERInputError, match=r"^\[E202\] document 'd' passage 0: the text contains U\+0007"):
        bioc_xml_from_sources([SourceDocument("d", "bell\x07", "")])


def test_writers_refuse_sentence_documents() -> None:
    src = SourceDocument("d", "Second sentence.", "", meta={"char_offset": 20})
    for write in (brat_from_source, lambda s: bioc_xml_from_sources([s]), lambda s: bioc_json_from_sources([s])):
        with pytest.raises(BioNERInputError, match=r"^\[E200\] .*merge_sentence_sources"):
            write(src)


# -- Docs back to the source: CoNLL and source_from_doc ---------------------------------------------
@pytest.fixture(scope="module")
def nlp() -> Language:
    return make_nlp()


TEXT = "Ocular and auditory toxicity.\nCD28 activates T cells."


def built_docs(nlp: Language, policy: str, sentences: bool) -> tuple[SourceDocument, list]:
    src = SourceDocument("42", TEXT, "x.ann", [
        SourceAnnotation("T1", "Disease", [(0, 6), (20, 28)], "Ocular toxicity"),
        SourceAnnotation("T2", "Disease", [(11, 28)], "auditory toxicity"),
        SourceAnnotation("T3", "Gene", [(30, 34)], "CD28"),
        SourceAnnotation("T4", "Cell", [(45, 52)], "T cells"),
    ])
    return src, DocBuilder(nlp, ConversionReport(), discontinuous=policy, sentences=sentences).build(src)


@pytest.mark.parametrize("sentences", [False, True])
def test_source_from_doc_inverts_the_builder(nlp: Language, sentences: bool) -> None:
    src, docs = built_docs(nlp, "split", sentences)
    back = [source_from_doc(d, spans_key="sc") for d in docs]
    if sentences:
        assert [b.meta.get("char_offset", 0) for b in back] == [0, 30]
        back = merge_sentence_sources(back)
    (merged,) = back
    assert merged.doc_id == "42" and merged.path == "x.ann"
    assert merged.text == TEXT
    got = sorted((a.ann_id, a.label, sorted(a.fragments)) for a in merged.annotations)
    assert got == sorted((a.ann_id, a.label, a.fragments) for a in src.annotations)
    # and the result can be written back and read again
    assert brat_from_source(merged)[1].splitlines()[0].startswith("T")


def test_source_from_doc_ents_and_label_function(nlp: Language) -> None:
    _, (doc,) = built_docs(nlp, "span", False)
    out = source_from_doc(doc, label=lambda span: span.label_.upper())
    assert [(a.label, a.fragments, a.text) for a in out.annotations] == [
        ("DISEASE", [(0, 28)], "Ocular and auditory toxicity"),
        ("GENE", [(30, 34)], "CD28"), ("CELL", [(45, 52)], "T cells")]


def test_source_from_prediction_without_ids(nlp: Language) -> None:
    doc = nlp.make_doc("Aspirin and ibuprofen")
    doc.ents = [doc.char_span(0, 7, label="Chemical"), doc.char_span(12, 21, label="Chemical")]
    out = source_from_doc(doc)
    assert [(a.ann_id, a.fragments) for a in out.annotations] == [("T1", [(0, 7)]), ("T2", [(12, 21)])]


@pytest.mark.parametrize("scheme,expected", [
    ("iob2", ["Ocular\tB-Disease", "and\tI-Disease", "auditory\tI-Disease", "toxicity\tI-Disease", ".\tO", "",
              "CD28\tB-Gene", "activates\tO", "T\tB-Cell", "cells\tI-Cell", ".\tO", ""]),
    ("bioes", ["Ocular\tB-Disease", "and\tI-Disease", "auditory\tI-Disease", "toxicity\tE-Disease", ".\tO", "",
               "CD28\tS-Gene", "activates\tO", "T\tB-Cell", "cells\tE-Cell", ".\tO", ""]),
])
def test_conll_from_doc(nlp: Language, scheme: str, expected: list[str]) -> None:
    _, (doc,) = built_docs(nlp, "span", False)
    assert conll_from_doc(doc, scheme).split("\n") == expected + [""]


def test_conll_without_sentences_and_bad_scheme(nlp: Language) -> None:
    doc = nlp.make_doc("Aspirin  works")
    doc.ents = [doc.char_span(0, 7, label="Chemical")]
    assert conll_from_doc(doc) == "Aspirin\tB-Chemical\nworks\tO\n\n"
    assert conll_from_doc(nlp.make_doc("")) == ""
    with pytest.raises(BioNERInputError, match=r"^\[E011\] Unknown tag scheme 'bilou'"):
        conll_from_doc(doc, "bilou")
