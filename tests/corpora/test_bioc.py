"""BioC XML / JSON reader: offsets, passages, quirks, errors, and the real corpora."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from spacy.language import Language

from spacy_bioner.corpora.base import DocBuilder, SourceDocument
from spacy_bioner.corpora.bioc import read_bioc_json, read_bioc_xml
from spacy_bioner.corpora.convert import iter_docs, make_nlp
from spacy_bioner.corpora.limits import Limits
from spacy_bioner.corpora.report import ConversionReport
from spacy_bioner.errors import BioNERInputError

SHARED = Path(__file__).parents[2] / ".." / "shared"
BIOC = SHARED / "corpora" / "bioc"

TITLE = "Aspirin relieves headache."  # 26 characters
ABSTRACT = "Aspirin is an NSAID. It may cause ulcers."


@pytest.fixture(scope="module")
def nlp() -> Language:
    return make_nlp()


def ann_xml(ann_id: str | None, label: str | None, locs: list[tuple[int, int]], text: str,
            key: str = "type", extra: str = "") -> str:
    attr = f" id='{ann_id}'" if ann_id is not None else ""
    infon = f'<infon key="{key}">{label}</infon>' if label is not None else ""
    loc = "".join(f"<location offset='{o}' length='{n}' />" for o, n in locs)
    return f"<annotation{attr}>{infon}{extra}{loc}<text>{text}</text></annotation>"


def passage_xml(offset: int | str, text: str | None, anns: str = "", ptype: str | None = None,
                extra: str = "") -> str:
    infon = f'<infon key="type">{ptype}</infon>' if ptype else ""
    body = f"<text>{text}</text>" if text is not None else ""
    return f"<passage>{infon}<offset>{offset}</offset>{body}{anns}{extra}</passage>"


def collection_xml(*documents: str) -> str:
    return ("<?xml version='1.0' encoding='UTF-8'?><!DOCTYPE collection SYSTEM 'BioC.dtd'>\n"
            "<collection><source>test</source><date>2024</date><key>BioC.key</key>\n"
            + "\n".join(documents) + "\n</collection>\n")


def document_xml(doc_id: str, *passages: str, extra: str = "") -> str:
    return f"<document><id>{doc_id}</id>{''.join(passages)}{extra}</document>"


def two_passage_doc(doc_id: str = "1", abstract_offset: int = 27, abstract_anns: str | None = None) -> str:
    title_anns = (ann_xml("0", "Chemical", [(0, 7)], "Aspirin", extra='<infon key="identifier">D001241</infon>')
                  + ann_xml("1", "Disease", [(17, 8)], "headache"))
    if abstract_anns is None:
        abstract_anns = (ann_xml("2", "Chemical", [(27, 7)], "Aspirin")
                         + ann_xml("3", "Disease", [(61, 6)], "ulcers"))
    return document_xml(doc_id, passage_xml(0, TITLE, title_anns, "title"),
                        passage_xml(abstract_offset, ABSTRACT, abstract_anns, "abstract"))


def write(tmp_path: Path, content: str, name: str = "corpus.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))
    return path


def read_xml(path: Path, **kwargs) -> tuple[list[SourceDocument], ConversionReport]:
    report = ConversionReport()
    return list(read_bioc_xml(path, report, **kwargs)), report


# -- documents and passages ---------------------------------------------------------
def test_two_passages_document_level_offsets(tmp_path: Path, nlp: Language) -> None:
    path = write(tmp_path, collection_xml(two_passage_doc()))
    (src,), report = read_xml(path)
    assert report.files == 1
    assert src.doc_id == "1" and src.path == "corpus.xml"
    assert src.text == TITLE + "\n" + ABSTRACT
    assert src.passage_starts == [0, 27]
    assert src.meta == {"format": "bioc", "passages": [
        {"offset": 0, "length": 26, "type": "title"}, {"offset": 27, "length": len(ABSTRACT), "type": "abstract"}]}
    assert [(a.ann_id, a.label, a.fragments, a.text) for a in src.annotations] == [
        ("0", "Chemical", [(0, 7)], "Aspirin"), ("1", "Disease", [(17, 25)], "headache"),
        ("2", "Chemical", [(27, 34)], "Aspirin"), ("3", "Disease", [(61, 67)], "ulcers")]
    assert src.annotations[0].kb_id == "D001241" and src.annotations[1].kb_id == ""
    assert report.document_issues == []
    (doc,) = DocBuilder(nlp, report).build(src)
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("Aspirin", "Chemical"), ("headache", "Disease"), ("Aspirin", "Chemical"), ("ulcers", "Disease")]
    assert report.totals()["exact"] == 4
    # the abstract starts a sentence even though the title ends in "."
    assert [s.text for s in doc.sents][1].startswith("Aspirin is")


def test_gap_between_passages_filled_with_newline_and_spaces(tmp_path: Path) -> None:
    doc = document_xml("7", passage_xml(0, "Title"), passage_xml(10, "Body", ann_xml("a", "X", [(10, 4)], "Body")))
    (src,), report = read_xml(write(tmp_path, collection_xml(doc)))
    assert src.text == "Title\n    Body"
    assert src.text[10:14] == "Body"
    assert report.document_issues == []


def test_passages_sorted_by_offset(tmp_path: Path) -> None:
    doc = document_xml("7", passage_xml(6, "second", ptype="b"), passage_xml(0, "first", ptype="a"))
    (src,), _ = read_xml(write(tmp_path, collection_xml(doc)))
    assert src.text == "first\nsecond"
    assert [p["type"] for p in src.meta["passages"]] == ["a", "b"]


def test_passage_with_sentences_only(tmp_path: Path) -> None:
    sents = ("<sentence><offset>0</offset><text>Cells grow.</text>"
             + ann_xml("s1", "Cell", [(0, 5)], "Cells") + "</sentence>"
             "<sentence><offset>12</offset><text>IL-2 helps.</text>"
             + ann_xml("s2", "Gene", [(12, 4)], "IL-2") + "</sentence>")
    doc = document_xml("9", passage_xml(0, None, extra=sents))
    (src,), report = read_xml(write(tmp_path, collection_xml(doc)))
    assert src.text == "Cells grow.\nIL-2 helps."
    assert src.passage_starts == [0, 12]
    assert src.meta["passages"] == [{"offset": 0, "length": 23, "type": None}]
    assert [(a.ann_id, a.fragments) for a in src.annotations] == [("s1", [(0, 5)]), ("s2", [(12, 16)])]
    assert report.document_issues == []


def test_meta_is_serialisable(tmp_path: Path, nlp: Language) -> None:
    import srsly

    doc = two_passage_doc().replace("<id>1</id>", '<id>1</id><infon key="journal">J Test</infon>')
    (src,), report = read_xml(write(tmp_path, collection_xml(doc)))
    assert src.meta["infons"] == {"journal": "J Test"}
    (built,) = DocBuilder(nlp, report).build(src)
    assert srsly.msgpack_loads(srsly.msgpack_dumps(built.user_data))["bioner_source"]["doc_id"] == "1"
    json.dumps(src.meta)


# -- discontinuous mentions (CDR composite / individual mentions) -----------------------
COMPOSITE = "Ocular and auditory toxicity were seen."


@pytest.mark.parametrize("policy,expected_spans,outcome", [
    ("span", [(0, 28), (0, 28), (11, 28)], "adjusted"),
    ("split", [(0, 6), (0, 28), (11, 28), (20, 28)], "adjusted"),
    ("skip", [(0, 28), (11, 28)], "rejected"),
])
def test_discontinuous_locations(tmp_path: Path, nlp: Language, policy: str,
                                 expected_spans: list[tuple[int, int]], outcome: str) -> None:
    role = '<infon key="CompositeRole">{}</infon>'
    anns = (ann_xml("0", "Disease", [(0, 28)], "Ocular and auditory toxicity", extra=role.format("CompositeMention"))
            + ann_xml("1", "Disease", [(0, 6), (20, 8)], "Ocular toxicity", extra=role.format("IndividualMention"))
            + ann_xml("2", "Disease", [(11, 17)], "auditory toxicity", extra=role.format("IndividualMention")))
    path = write(tmp_path, collection_xml(document_xml("2234245", passage_xml(0, COMPOSITE, anns))))
    (src,), report = read_xml(path)
    assert src.annotations[1].fragments == [(0, 6), (20, 28)]
    (doc,) = DocBuilder(nlp, report, discontinuous=policy).build(src)
    assert sorted((s.start_char, s.end_char) for s in doc.spans["sc"]) == expected_spans
    # doc.ents keeps the composite mention, the longest of the overlapping spans
    assert [(e.start_char, e.end_char) for e in doc.ents] == [(0, 28)]
    totals = report.totals()
    assert totals["source"] == 3 and totals["exact"] == 2 and totals[outcome] == 1
    assert report.is_balanced()


# -- offsets that do not fit ---------------------------------------------------------------
def test_wrong_passage_offset_corrected_and_reported(tmp_path: Path, nlp: Language) -> None:
    # the producer declared 32 (as if the title were longer); annotations use 27
    path = write(tmp_path, collection_xml(two_passage_doc("2224762", abstract_offset=32)))
    (src,), report = read_xml(path)
    assert src.text == TITLE + "\n" + ABSTRACT
    assert src.passage_starts == [0, 27]
    assert src.meta["passages"][1] == {"offset": 27, "length": len(ABSTRACT), "type": "abstract",
                                       "declared_offset": 32}
    (issue,) = report.document_issues
    assert issue["file"] == "corpus.xml" and issue["doc_id"] == "2224762"
    assert issue["issue"].startswith("[W005] passage 1: offset declared 32")
    assert issue["issue"].endswith("placed at 27.")
    assert issue["fit_declared"] == 0 and issue["fit_placed"] == 2
    DocBuilder(nlp, report).build(src)
    assert report.totals()["exact"] == 4


def test_passage_offset_kept_when_annotations_fit_it(tmp_path: Path) -> None:
    # a larger gap is legitimate when the annotations agree with the declared offset
    anns = ann_xml("2", "Chemical", [(32, 7)], "Aspirin")
    path = write(tmp_path, collection_xml(two_passage_doc(abstract_offset=32, abstract_anns=anns)))
    (src,), report = read_xml(path)
    assert src.text == TITLE + "\n" + " " * 5 + ABSTRACT
    assert report.document_issues == []


def test_overlapping_passage_offset_placed_after_previous(tmp_path: Path) -> None:
    anns = ann_xml("2", "Chemical", [(27, 7)], "Aspirin")
    path = write(tmp_path, collection_xml(two_passage_doc(abstract_offset=10, abstract_anns=anns)))
    (src,), report = read_xml(path)
    assert src.text == TITLE + "\n" + ABSTRACT
    (issue,) = report.document_issues
    assert issue["issue"].startswith("[W004] passage 1: offset 10 overlaps the previous passage, which ends at 26")
    assert issue["placed"] == 27 and issue["fit_placed"] == 1


def test_wrong_annotation_offset_rejected_with_reason(tmp_path: Path, nlp: Language) -> None:
    anns = (ann_xml("2", "Chemical", [(27, 7)], "Aspirin")
            + ann_xml("3", "Disease", [(60, 6)], "ulcers"))  # one character early
    path = write(tmp_path, collection_xml(two_passage_doc(abstract_anns=anns)))
    (src,), report = read_xml(path)
    assert report.document_issues == []  # most annotations fit: the passage is right
    (doc,) = DocBuilder(nlp, report).build(src)
    (rejected,) = report.rejected_records
    assert rejected["ann_id"] == "3" and rejected["doc_id"] == "1" and rejected["file"] == "corpus.xml"
    assert rejected["reason"] == "[W012] text mismatch: the offsets cover ' ulcer'"
    assert report.totals() == {"source": 4, "exact": 3, "adjusted": 0, "rejected": 1, "dropped": 0}
    assert "ulcers" not in [e.text for e in doc.ents]


# -- options and skipped content -----------------------------------------------------------------
def test_infon_key_option(tmp_path: Path) -> None:
    anns = ann_xml("0", "Chemical", [(0, 7)], "Aspirin", key="entity_type")
    path = write(tmp_path, collection_xml(document_xml("5", passage_xml(0, TITLE, anns))))
    (src,), _ = read_xml(path, infon_key="entity_type")
    assert src.annotations[0].label == "Chemical"
    with pytest.raises(BioNERInputError) as err:
        read_xml(path)
    message = str(err.value)
    assert message.startswith("[E007] corpus.xml [document 5] annotation 0: ")
    assert "no infon 'type'" in message and "entity_type" in message and "--infon-key" in message


def test_relations_counted_as_skipped(tmp_path: Path) -> None:
    relation = ('<relation id="R{}"><infon key="relation">CID</infon>'
                '<node refid="0" role="Chemical"/><node refid="1" role="Disease"/></relation>')
    doc = document_xml("3", passage_xml(0, TITLE, ann_xml("0", "Chemical", [(0, 7)], "Aspirin"),
                                        extra=relation.format(0)),
                       extra=relation.format(1) + relation.format(2))
    (src,), report = read_xml(write(tmp_path, collection_xml(doc)))
    assert report.skipped["relations"] == 3
    assert len(src.annotations) == 1


def test_annotation_without_location_and_without_id(tmp_path: Path) -> None:
    anns = ann_xml(None, "Chemical", [(0, 7)], "Aspirin") + ann_xml("x", "Disease", [], "headache")
    (src,), report = read_xml(write(tmp_path, collection_xml(document_xml("4", passage_xml(0, TITLE, anns)))))
    assert [a.ann_id for a in src.annotations] == ["#1"]
    assert report.skipped["annotations without location"] == 1


def test_directory_of_files(tmp_path: Path) -> None:
    write(tmp_path, collection_xml(two_passage_doc("1")), "a.xml")
    (tmp_path / "sub").mkdir()
    write(tmp_path, collection_xml(two_passage_doc("2")), "sub/b.XML")
    write(tmp_path, "not xml", "notes.txt")
    docs, report = read_xml(tmp_path)
    assert [(d.doc_id, d.path) for d in docs] == [("1", "a.xml"), ("2", str(Path("sub") / "b.XML"))]
    assert report.files == 2


def test_crlf_and_single_quotes(tmp_path: Path) -> None:
    content = collection_xml(two_passage_doc()).replace("\n", "\r\n")
    (src,), _ = read_xml(write(tmp_path, content))
    assert src.text == TITLE + "\n" + ABSTRACT


# -- malformed input -------------------------------------------------------------------------------
def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    content = collection_xml(two_passage_doc()).replace("</passage>", "</pasage>", 1)
    path = write(tmp_path, content, "broken.xml")
    with pytest.raises(BioNERInputError) as err:
        read_xml(path)
    message = str(err.value)
    assert message.startswith("[E007] broken.xml:3:")
    assert "mismatched tag" in message


def test_missing_location_offset_names_file_document_and_annotation(tmp_path: Path) -> None:
    anns = "<annotation id='A7'><infon key=\"type\">Chemical</infon><location length='7' /><text>Aspirin</text></annotation>"
    path = write(tmp_path, collection_xml(document_xml("12345", passage_xml(0, TITLE, anns))))
    with pytest.raises(BioNERInputError) as err:
        read_xml(path)
    message = str(err.value)
    assert message.startswith("[E007] corpus.xml [document 12345] annotation A7: ")
    assert "offset is missing" in message


@pytest.mark.parametrize("doc,what", [
    (document_xml("1", passage_xml("", TITLE)), "<offset> is missing"),
    (document_xml("1", passage_xml("ten", TITLE)), "<offset> is missing or not an integer ('ten')"),
    (document_xml("1", passage_xml(0, TITLE, ann_xml("a", "X", [(-1, 3)], "Asp"))), "offset is negative"),
    (document_xml("1", passage_xml(0, TITLE, ann_xml("a", "X", [(0, "x")], "Asp"))), "length is missing"),
    ("<document>" + passage_xml(0, TITLE) + "</document>", "[document #1 in the file]: malformed BioC document: no <id>"),
])
def test_malformed_bioc_elements(tmp_path: Path, doc: str, what: str) -> None:
    with pytest.raises(BioNERInputError, match=r"^\[E007\] corpus\.xml") as err:
        read_xml(write(tmp_path, collection_xml(doc)))
    assert what in str(err.value)


def test_not_a_collection(tmp_path: Path) -> None:
    with pytest.raises(BioNERInputError, match=r"^\[E008\] corpus\.xml: not a BioC collection: the root element is <document>"):
        read_xml(write(tmp_path, "<?xml version='1.0'?>" + two_passage_doc()))


def test_no_external_dtd_loaded(tmp_path: Path) -> None:
    # the DOCTYPE points at a file that does not exist; it must not matter
    content = collection_xml(two_passage_doc()).replace("'BioC.dtd'", "'http://example.invalid/BioC.dtd'")
    (src,), _ = read_xml(write(tmp_path, content))
    assert src.doc_id == "1"


# -- JSON ------------------------------------------------------------------------------------------
def json_collection(passages_infons: bool = False) -> dict:
    def ann(ann_id: str, label: str, offset: int, text: str) -> dict:
        return {"id": ann_id, "infons": {"identifier": "-", "type": label}, "text": text,
                "locations": [{"offset": offset, "length": len(text)}]}

    title = {"offset": 0, "text": TITLE, "annotations": [ann("0", "Chemical", 0, "Aspirin")]}
    abstract = {"offset": 27, "text": ABSTRACT, "annotations": [ann("2", "Disease", 61, "ulcers")]}
    if passages_infons:
        title["infons"], abstract["infons"] = {"type": "title"}, {"type": "abstract"}
    return {"source": "PubTator", "date": "2021-11-30", "key": "BioC.key",
            "documents": [{"id": "10491763", "passages": [title, abstract],
                           "relations": [{"id": "R0", "infons": {"type": "Association"}, "nodes": []}]}]}


def read_json(path: Path, **kwargs) -> tuple[list[SourceDocument], ConversionReport]:
    report = ConversionReport()
    return list(read_bioc_json(path, report, **kwargs)), report


def test_json_without_infons_crlf(tmp_path: Path) -> None:
    content = json.dumps(json_collection(), indent=1).replace("\n", "\r\n")
    (src,), report = read_json(write(tmp_path, content, "Train.BioC.JSON"))
    assert src.text == TITLE + "\n" + ABSTRACT
    assert src.meta == {"format": "bioc", "passages": [
        {"offset": 0, "length": 26, "type": None}, {"offset": 27, "length": len(ABSTRACT), "type": None}]}
    assert [(a.label, a.fragments, a.kb_id) for a in src.annotations] == [
        ("Chemical", [(0, 7)], "-"), ("Disease", [(61, 67)], "-")]
    assert report.skipped["relations"] == 1


def test_json_and_xml_agree(tmp_path: Path) -> None:
    (from_json,), _ = read_json(write(tmp_path, json.dumps(json_collection(True)), "c.json"))
    anns = (ann_xml("0", "Chemical", [(0, 7)], "Aspirin", extra='<infon key="identifier">-</infon>'))
    abstract = ann_xml("2", "Disease", [(61, 6)], "ulcers", extra='<infon key="identifier">-</infon>')
    xml = collection_xml(document_xml("10491763", passage_xml(0, TITLE, anns, "title"),
                                      passage_xml(27, ABSTRACT, abstract, "abstract")))
    (from_xml,), _ = read_xml(write(tmp_path, xml, "c.xml"))
    assert from_json.text == from_xml.text
    assert from_json.meta == from_xml.meta
    assert from_json.annotations == from_xml.annotations


def test_json_syntax_error_names_file_line_column(tmp_path: Path) -> None:
    content = json.dumps(json_collection(), indent=1).replace('"offset": 27', '"offset": 27,,', 1)
    path = write(tmp_path, content, "bad.json")
    with pytest.raises(BioNERInputError) as err:
        read_json(path)
    line = content[:content.index(",,")].count("\n") + 1
    assert str(err.value).startswith(f"[E007] bad.json:{line}:")


@pytest.mark.parametrize("data,what", [
    ([1, 2], "not a BioC collection"),
    ({"docs": []}, 'expected an object with a "documents" list, got an object with keys docs'),
    ({"documents": [{"passages": []}]}, "[document #1 in the file]: malformed BioC document: no 'id'"),
    ({"documents": [{"id": "8", "passages": [{"text": "x"}]}]}, "[document 8] passage #0: malformed BioC passage: 'offset' is missing"),
])
def test_json_not_a_collection(tmp_path: Path, data: object, what: str) -> None:
    with pytest.raises(BioNERInputError, match=r"^\[E00[78]\] c\.json") as err:
        read_json(write(tmp_path, json.dumps(data), "c.json"))
    assert what in str(err.value)


def test_json_list_of_collections(tmp_path: Path) -> None:
    docs, _ = read_json(write(tmp_path, json.dumps([json_collection(), json_collection()]), "c.json"))
    assert len(docs) == 2


# -- annotations outside passages, misplaced or misspelled ------------------------------------
def test_xml_document_level_annotations_are_read(tmp_path: Path, nlp: Language) -> None:
    # the BioC DTD allows annotations directly in <document>; their offsets are document-level
    doc = document_xml("9", passage_xml(0, TITLE), passage_xml(27, ABSTRACT),
                       extra=ann_xml("d1", "Disease", [(61, 6)], "ulcers"))
    (src,), report = read_xml(write(tmp_path, collection_xml(doc)))
    assert [(a.ann_id, a.fragments) for a in src.annotations] == [("d1", [(61, 67)])]
    (out,) = DocBuilder(nlp, report).build(src)
    assert [(e.text, e.label_) for e in out.ents] == [("ulcers", "Disease")]
    assert report.totals()["exact"] == 1


@pytest.mark.parametrize("where,parent", [
    ("<relation id='R1'>{}</relation>", "relation"),
    ("<pasage><offset>0</offset>{}</pasage>", "pasage"),
    ("<sentence><offset>0</offset>{}</sentence>", "sentence"),  # a sentence belongs in a passage
])
def test_xml_annotation_where_none_is_read_is_an_error(tmp_path: Path, where: str, parent: str) -> None:
    stray = where.format(ann_xml("a9", "Disease", [(0, 7)], "Aspirin"))
    doc = document_xml("9", passage_xml(0, TITLE), extra=stray)
    with pytest.raises(BioNERInputError, match=rf"^\[E007\] corpus\.xml \[document 9\] annotation a9: "
                                               rf".*<annotation> inside <{parent}>"):
        read_xml(write(tmp_path, collection_xml(doc)))


def test_xml_annotation_outside_every_document(tmp_path: Path) -> None:
    content = collection_xml(two_passage_doc()).replace("</collection>", ann_xml("z", "X", [(0, 1)], "A") + "</collection>")
    with pytest.raises(BioNERInputError, match=r"^\[E007\] corpus\.xml \[after document #1 in the file\]: .*outside every"):
        read_xml(write(tmp_path, content))


def test_xml_unknown_elements_are_reported(tmp_path: Path) -> None:
    doc = document_xml("9", passage_xml(0, TITLE, extra="<note>see</note>"))
    (src,), report = read_xml(write(tmp_path, collection_xml(doc)))
    (issue,) = report.document_issues
    assert issue["doc_id"] == "9" and issue["issue"] == "[W008] elements not part of BioC, not read: <note> in <passage>."


@pytest.mark.parametrize("encoding", ["no-such-codec", "shift_jis"])
def test_xml_encoding_python_cannot_read(tmp_path: Path, encoding: str) -> None:
    content = collection_xml(two_passage_doc()).replace("encoding='UTF-8'", f"encoding='{encoding}'")
    with pytest.raises(BioNERInputError, match=r"^\[E007\] corpus\.xml:1: malformed BioC XML: the declared encoding"):
        read_xml(write(tmp_path, content))


def test_passage_offset_far_beyond_the_limit_allocates_nothing(tmp_path: Path) -> None:
    doc = document_xml("9", passage_xml(10**12, TITLE))
    with pytest.raises(BioNERInputError, match=r"^\[E023\] corpus\.xml \[document 9\] passage #0: offset 1000000000000 "):
        read_xml(write(tmp_path, collection_xml(doc)))
    # within the offset limit, but the text would end past the document limit: refused before it is built
    doc = document_xml("9", passage_xml(999_990, TITLE))
    with pytest.raises(BioNERInputError, match=r"^\[E024\] corpus\.xml \[document 9\]: the document has 1000016 characters"):
        read_xml(write(tmp_path, collection_xml(doc)))
    (src,), _ = read_xml(write(tmp_path, collection_xml(doc)), limits=Limits(max_chars=2_000_000))
    assert len(src.text) == 999_990 + len(TITLE)


def test_json_document_level_annotations_and_id_zero(tmp_path: Path, nlp: Language) -> None:
    data = json_collection()
    doc = data["documents"][0]
    doc["id"] = 0
    doc["annotations"] = [{"id": 0, "infons": {"type": "Disease"}, "text": "ulcers",
                           "locations": [{"offset": 61, "length": 6}]}]
    (src,), report = read_json(write(tmp_path, json.dumps(data), "c.json"))
    assert src.doc_id == "0"
    assert [(a.ann_id, a.label, a.fragments) for a in src.annotations][-1] == ("0", "Disease", [(61, 67)])
    DocBuilder(nlp, report).build(src)
    assert report.totals()["exact"] == 3


@pytest.mark.parametrize("label", [None, ""])
def test_json_null_or_empty_type_is_rejected(tmp_path: Path, nlp: Language, label: str | None) -> None:
    data = json_collection()
    data["documents"][0]["passages"][0]["annotations"][0]["infons"]["type"] = label
    (src,), report = read_json(write(tmp_path, json.dumps(data), "c.json"))
    (doc,) = DocBuilder(nlp, report).build(src)
    assert [(s.text, s.label_) for s in doc.spans["sc"]] == [("ulcers", "Disease")]
    assert report.totals() == {"source": 2, "exact": 1, "adjusted": 0, "rejected": 1, "dropped": 0}
    assert report.rejected_records[0]["reason"].startswith("[W016] empty entity type")


@pytest.mark.parametrize("key,holder", [("pasages", "document"), ("annotation", "passage"), ("locatons", "annotation")])
def test_json_misspelled_key_is_an_error(tmp_path: Path, key: str, holder: str) -> None:
    data = json_collection()
    doc = data["documents"][0]
    target = {"document": doc, "passage": doc["passages"][0], "annotation": doc["passages"][0]["annotations"][0]}[holder]
    right = {"pasages": "passages", "annotation": "annotations", "locatons": "locations"}[key]
    target[key] = target.pop(right)
    with pytest.raises(BioNERInputError, match=rf"^\[E007\] c\.json \[document 10491763\].*'{key}' is not read, "
                                               rf"but holds .*did you mean '{right}'"):
        read_json(write(tmp_path, json.dumps(data), "c.json"))


def test_json_keys_bioc_does_not_define_are_reported(tmp_path: Path) -> None:
    data = json_collection()
    data["documents"][0].update({"pmid": 10491763, "journal": "J", "bioctype": "BioCDocument"})
    (src,), report = read_json(write(tmp_path, json.dumps(data), "c.json"))
    (issue,) = report.document_issues
    assert issue["issue"] == "[W008] keys not part of BioC, not read: 'journal' in document, 'pmid' in document."
    assert len(src.annotations) == 2


def test_json_duplicate_key_is_an_error(tmp_path: Path) -> None:
    content = json.dumps(json_collection()).replace('"passages": [', '"annotations": [], "passages": [', 1)
    content = content.replace('"annotations": []', '"annotations": [], "annotations": []', 1)
    with pytest.raises(BioNERInputError, match=r"^\[E007\] c\.json \[document 10491763\]: .*'annotations' appears twice"):
        read_json(write(tmp_path, content, "c.json"))


def test_json_lone_surrogate_names_the_document(tmp_path: Path) -> None:
    content = json.dumps(json_collection()).replace("Aspirin relieves", "Aspirin \\ud83d relieves", 1)
    assert "\\ud83d" in content
    with pytest.raises(BioNERInputError, match=r"^\[E007\] c\.json \[document 10491763\] passage #0: .*lone surrogate U\+D83D"):
        read_json(write(tmp_path, content, "c.json"))


def test_json_too_deep_or_too_long_a_number(tmp_path: Path) -> None:
    deep = '{"documents": [{"id": "1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}]}"
    with pytest.raises(BioNERInputError, match=r"^\[E007\] c\.json: malformed BioC JSON: .*nested deeper"):
        read_json(write(tmp_path, deep, "c.json"))
    long_number = '{"documents": [{"id": "1",\n "passages": [{"offset": ' + "9" * 5000 + "}]}]}"
    with pytest.raises(BioNERInputError, match=r"^\[E007\] c\.json:2: malformed BioC JSON"):
        read_json(write(tmp_path, long_number, "c.json"))


# -- the real corpora -------------------------------------------------------------------------------
needs_shared = pytest.mark.skipif(not BIOC.is_dir(), reason=f"shared corpora not found at {BIOC}")


@pytest.mark.slow
@needs_shared
def test_real_cdr_sample_wrong_passage_offsets(nlp: Language) -> None:
    report = ConversionReport()
    docs = list(iter_docs(BIOC / "bc5cdr-sample" / "CDR_sample.gold.BioC.xml", "bioc-xml", nlp, report))
    assert len(docs) == 50
    corrected = {i["doc_id"] for i in report.document_issues if i["issue"].startswith("[W005] ")}
    # SOURCES.md says 6; the file has 5 such documents (their declared offsets
    # count the title's XML entities, e.g. &apos;, as several characters)
    assert corrected == {"2224762", "4027862", "8649546", "17466854", "19803309"}
    totals = report.totals()
    assert totals["source"] == 945
    assert totals["exact"] + totals["adjusted"] + totals["rejected"] == totals["source"]
    assert totals["rejected"] <= 0.005 * totals["source"]
    assert report.is_balanced()


@pytest.mark.slow
@needs_shared
def test_real_biored_xml_and_json_agree(nlp: Language) -> None:
    def spans(path: Path, fmt: str) -> tuple[list, ConversionReport]:
        report = ConversionReport()
        out = [(d.user_data["bioner_source"]["doc_id"], d.text,
                [(s.start_char, s.end_char, s.label_, s.kb_id_) for s in d.spans["sc"]])
               for d in iter_docs(path, fmt, nlp, report)]
        return out, report

    from_xml, rep_xml = spans(BIOC / "biored" / "Train.BioC.XML", "bioc-xml")
    from_json, rep_json = spans(BIOC / "biored" / "Train.BioC.JSON", "bioc-json")
    assert len(from_xml) == 400
    assert from_xml == from_json
    assert rep_xml.totals() == rep_json.totals()
    assert rep_xml.totals()["source"] == 13351 and rep_xml.totals()["rejected"] == 0
    assert rep_xml.skipped["relations"] == 4178
    assert rep_xml.document_issues == [] and rep_json.document_issues == []
