"""Reading the inputs of `annotate` (spacy_bioner.annotate.inputs): discovery,
documents as the project's readers give them, malformed documents that fail
alone, gzip, and slot numbering identical between counting and reading."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from spacy_bioner.annotate.inputs import count_documents, discover, read_documents
from spacy_bioner.annotate.types import INPUT_FORMATS, Failure
from spacy_bioner.corpora.base import SourceDocument
from spacy_bioner.corpora.convert import get_reader
from spacy_bioner.corpora.report import ConversionReport
from spacy_bioner.errors import BioNERInputError

PUBTATOR = (
    "1001|t|Famotidine-associated delirium\n"
    "1001|a|Famotidine is an H2 antagonist.\n"
    "1001\t0\t10\tFamotidine\tChemical\tD015738\n"
    "1001\t22\t30\tdelirium\tDisease\tD003693\n"
    "1001\tCID\tD015738\tD003693\n"
    "\n"
    "1002|t|BRCA1 in breast cancer\n"
    "1002|a|\n"
    "1002\t9\t22\tbreast cancer\tDisease\t-1\n"
    "\n"
    "1003|t|Aspirin\n"
)
# the middle block's mention has a non-integer end: that document fails, on its first line (7)
PUBTATOR_BAD_MIDDLE = PUBTATOR.replace("1002\t9\t22\t", "1002\t9\t22.0\t")


def bioc_document(doc_id: str, text: str, annotation: str = "") -> str:
    return (f"<document><id>{doc_id}</id><infon key=\"note\">n{doc_id}</infon><passage><infon key=\"type\">"
            f"title</infon><offset>0</offset><text>{text}</text>{annotation}</passage></document>")


CHEM = ('<annotation id="0"><infon key="type">Chemical</infon><infon key="identifier">D1</infon>'
        '<location offset="0" length="7"/><text>Aspirin</text></annotation>')
# an annotation without the 'type' infon: its document is malformed
NO_TYPE = '<annotation id="9"><location offset="0" length="7"/><text>Aspirin</text></annotation>'


def bioc_xml(*documents: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE collection SYSTEM "BioC.dtd"><collection>'
            "<source>PubTator</source><date>2020-01-02</date><key>k.key</key>" + "".join(documents)
            + "</collection>")


def bioc_json_document(doc_id: str, text: str, annotations: list | None = None) -> dict:
    return {"id": doc_id, "infons": {}, "passages": [{"offset": 0, "infons": {"type": "title"}, "text": text,
                                                     "annotations": annotations or []}]}


JSON_CHEM = {"id": "a1", "infons": {"type": "Chemical"}, "text": "Aspirin",
             "locations": [{"offset": 0, "length": 7}]}


def bioc_json(*documents: dict) -> str:
    return json.dumps({"source": "S", "date": "D", "key": "K", "documents": list(documents)})


def jsonl(*objects: object) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects)


JSONL_GOOD = [
    {"id": "j1", "text": "Aspirin and ibuprofen", "spans": [{"start": 0, "end": 7, "label": "Chemical"}],
     "meta": {"source": "x"}},
    {"id": 2, "text": "no spans here"},
    {"text": "ovarian and breast cancer", "annotations": [
        {"fragments": [[0, 7], [19, 25]], "label": "Disease", "text": "ovarian cancer", "kb_id": "D1"}]},
]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def read_all(path: Path, fmt: str, root: Path) -> list[SourceDocument | Failure]:
    return list(read_documents(path, fmt, root))


def ann_fields(doc: SourceDocument) -> list[tuple]:
    return [(a.ann_id, a.label, a.fragments, a.text, a.kb_id, a.score) for a in doc.annotations]


def good_corpus(tmp_path: Path, fmt: str, gz: str = "") -> Path:
    """One good file of the format (two for BRAT: the text and its annotations) below tmp_path/fmt."""
    folder = tmp_path / fmt
    if fmt == "pubtator":
        write(folder / f"sub/corpus.pubtator{gz}", PUBTATOR)
    elif fmt == "bioc-xml":
        write(folder / f"sub/corpus.xml{gz}", bioc_xml(bioc_document("11", "Aspirin x", CHEM),
                                                       bioc_document("12", "Caf\u00e9 \U0001d6fc")))
    elif fmt == "bioc-json":
        write(folder / f"sub/corpus.json{gz}", bioc_json(bioc_json_document("21", "Aspirin", [JSON_CHEM]),
                                                         bioc_json_document("22", "No entity")))
    elif fmt == "brat":
        write(folder / f"sub/doc.txt{gz}", "Aspirin and\r\nibuprofen")
        write(folder / f"sub/doc.ann{gz}", "T1\tChemical 0 7\tAspirin\nT4\tChemical 13 22\tibuprofen\n"
                                           "R1\tRel Arg1:T1 Arg2:T4\n#1\tAnnotatorNotes T1\tnote\n")
    elif fmt == "jsonl":
        write(folder / f"sub/corpus.jsonl{gz}", jsonl(*JSONL_GOOD))
    else:
        write(folder / f"sub/doc.txt{gz}", "Plain text\nwith two lines.\n")
    return folder


# -- discover -------------------------------------------------------------------------------
def test_discover_directory_recursive_with_gz_sorted_no_hidden(tmp_path: Path) -> None:
    for name in ("z.xml", "sub/b.xml.GZ", "sub/a.xml", ".hidden/c.xml", ".d.xml", "notes.txt", "sub/x.json"):
        write(tmp_path / name, "x")
    root, files = discover(tmp_path, "bioc-xml")
    assert root == tmp_path
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["sub/a.xml", "sub/b.xml.GZ", "z.xml"]


def test_discover_pubtator_skips_readme(tmp_path: Path) -> None:
    for name in ("README.txt", "a.pubtator", "b.txt", "c.pubtator.gz"):
        write(tmp_path / name, "x")
    _, files = discover(tmp_path, "pubtator")
    assert [f.name for f in files] == ["a.pubtator", "b.txt", "c.pubtator.gz"]


def test_discover_file_and_glob(tmp_path: Path) -> None:
    for name in ("data/a.xml.gz", "data/b.xml.gz", "data/c.xml", "data/deep/d.xml.gz"):
        write(tmp_path / name, "x")
    root, files = discover(tmp_path / "data" / "c.xml", "bioc-xml")
    assert (root, files) == (tmp_path / "data", [tmp_path / "data" / "c.xml"])
    root, files = discover(f"{tmp_path}/data/*.xml.gz", "bioc-xml")
    assert root == tmp_path / "data"
    assert [f.name for f in files] == ["a.xml.gz", "b.xml.gz"]
    root, files = discover(f"{tmp_path}/data/**/*.gz", "bioc-xml")
    assert [f.relative_to(root).as_posix() for f in files] == ["a.xml.gz", "b.xml.gz", "deep/d.xml.gz"]


@pytest.mark.parametrize("given,fmt,code", [
    ("nothing/*.xml", "bioc-xml", "E950"),
    ("missing.xml", "bioc-xml", "E009"),
    ("empty", "bioc-xml", "E010"),
    ("empty", "conll", "E011"),
])
def test_discover_errors(tmp_path: Path, given: str, fmt: str, code: str) -> None:
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / "a.json", "x")
    with pytest.raises(BioNERInputError, match=code):
        discover(tmp_path / given, fmt)


def test_discover_refuses_a_file_twice_with_and_without_gz(tmp_path: Path) -> None:
    write(tmp_path / "a.xml", "x")
    write(tmp_path / "a.xml.gz", "x")
    with pytest.raises(BioNERInputError, match=r"E951.*'a\.xml' and 'a\.xml\.gz'"):
        discover(tmp_path, "bioc-xml")


# -- good documents, as the project's readers read them ---------------------------------------------
@pytest.mark.parametrize("fmt", ["pubtator", "bioc-xml", "bioc-json", "brat"])
def test_documents_are_the_project_readers(tmp_path: Path, fmt: str) -> None:
    folder = good_corpus(tmp_path, fmt)
    expected = list(get_reader(fmt)(folder, ConversionReport()))
    root, files = discover(folder, fmt)
    got = [doc for file in files for doc in read_all(file, fmt, root)]
    assert all(isinstance(doc, SourceDocument) for doc in got)
    assert [(d.doc_id, d.text, d.path, ann_fields(d), d.passage_starts) for d in got] == \
           [(d.doc_id, d.text, d.path, ann_fields(d), d.passage_starts) for d in expected]
    for doc, exp in zip(got, expected, strict=True):
        assert {k: v for k, v in doc.meta.items() if k != "collection"} == exp.meta
    assert any(d.annotations for d in got)


def test_bioc_documents_keep_the_collection_header(tmp_path: Path) -> None:
    for fmt, header in (("bioc-xml", {"source": "PubTator", "date": "2020-01-02", "key": "k.key"}),
                        ("bioc-json", {"source": "S", "date": "D", "key": "K"})):
        root, files = discover(good_corpus(tmp_path, fmt), fmt)
        assert [d.meta["collection"] for d in read_all(files[0], fmt, root)] == [header, header]


def test_jsonl_documents(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", jsonl(*JSONL_GOOD))
    docs = read_all(path, "jsonl", tmp_path)
    assert [(d.doc_id, d.text, d.path) for d in docs] == [
        ("j1", JSONL_GOOD[0]["text"], "c.jsonl"), ("2", "no spans here", "c.jsonl"),
        ("#3", "ovarian and breast cancer", "c.jsonl")]
    first, _, third = docs
    assert isinstance(first, SourceDocument) and isinstance(third, SourceDocument)
    assert ann_fields(first) == [("T1", "Chemical", [(0, 7)], None, "", None)]
    assert first.meta == {"format": "jsonl", "jsonl": {"meta": {"source": "x"}}}
    assert ann_fields(third) == [("T1", "Disease", [(0, 7), (19, 25)], "ovarian cancer", "D1", None)]
    assert [a.line for a in first.annotations + third.annotations] == [1, 3]


def test_text_documents(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "a.txt", "\ufeffBOM first\r\nline two")
    write(tmp_path / "b.TXT", "")
    root, files = discover(tmp_path, "text")
    docs = [d for f in files for d in read_all(f, "text", root)]
    assert [(d.doc_id, d.text, d.path, d.annotations) for d in docs] == [
        ("b", "", "b.TXT", []), ("sub/a", " BOM first\r\nline two", "sub/a.txt", [])]
    assert docs[1].meta == {"format": "text", "bom": True}


@pytest.mark.parametrize("fmt", INPUT_FORMATS)
def test_gzip_inputs_read_like_plain_ones(tmp_path: Path, fmt: str) -> None:
    plain_root, plain = discover(good_corpus(tmp_path / "plain", fmt), fmt)
    gz_root, gzipped = discover(good_corpus(tmp_path / "gz", fmt, ".gz"), fmt)
    assert [f.name + ".gz" for f in plain] == [f.name for f in gzipped]
    for p, g in zip(plain, gzipped, strict=True):
        expected = read_all(p, fmt, plain_root)
        got = read_all(g, fmt, gz_root)
        assert all(isinstance(d, SourceDocument) for d in expected + got)
        assert [d.path for d in got] == [f"{d.path}.gz" for d in expected]
        assert [(d.doc_id, d.text, ann_fields(d)) for d in got] == \
               [(d.doc_id, d.text, ann_fields(d)) for d in expected]
        assert count_documents(g, fmt, gz_root) == count_documents(p, fmt, plain_root) == len(got)


def test_brat_companions_in_any_case_and_gz(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Aspirin x")
    write(tmp_path / "a.ANN", "T1\tChemical 0 7\tAspirin\n")
    write(tmp_path / "b.txt.gz", "Ibuprofen y")
    write(tmp_path / "b.a1.gz", "T1\tChemical 0 9\tIbuprofen\n")
    write(tmp_path / "b.a2", "T2\tProtein 10 11\ty\n")
    root, files = discover(tmp_path, "brat")
    docs = [d for f in files for d in read_all(f, "brat", root)]
    assert [(d.doc_id, d.path, [(a.label, a.fragments, a.file) for a in d.annotations])
            for d in docs] == [("a", "a.txt", [("Chemical", [(0, 7)], "a.ANN")]),
                               ("b", "b.txt.gz", [("Chemical", [(0, 9)], "b.a1"), ("Protein", [(10, 11)], "b.a2")])]


# -- malformed documents fail alone -----------------------------------------------------------------
def outcome(items: list[SourceDocument | Failure]) -> list[str]:
    return [f"fail {i.file} {i.doc} {i.reason[:6]}" if isinstance(i, Failure) else f"doc {i.doc_id}" for i in items]


def test_bad_pubtator_block_fails_alone(tmp_path: Path) -> None:
    path = write(tmp_path / "c.pubtator", PUBTATOR_BAD_MIDDLE)
    items = read_all(path, "pubtator", tmp_path)
    assert outcome(items) == ["doc 1001", "fail c.pubtator:7 1002 [E006]", "doc 1003"]
    assert "c.pubtator:9" in items[1].reason


def test_bad_json_lines_fail_alone(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", jsonl(
        JSONL_GOOD[0], "{not json", "[1, 2]", {"id": "x", "text": "ab", "spans": [{"start": 1, "end": 9, "label": "L"}]},
        {"id": "y", "text": "ab", "spans": [{"start": 0, "end": 1, "label": ""}]}, {"id": "z"},
        {"id": True, "text": "t"}, JSONL_GOOD[1]))
    items = read_all(path, "jsonl", tmp_path)
    assert outcome(items) == ["doc j1", "fail c.jsonl:2 #2 [E954]", "fail c.jsonl:3 #3 [E954]",
                              "fail c.jsonl:4 x [E954]", "fail c.jsonl:5 y [E954]", "fail c.jsonl:6 z [E954]",
                              "fail c.jsonl:7 #7 [E954]", "doc 2"]
    assert "<= 2" in items[3].reason and "label" in items[4].reason
    assert "text" in items[5].reason and "'id'" in items[6].reason


def test_bad_bioc_documents_fail_alone(tmp_path: Path) -> None:
    xml = write(tmp_path / "c.xml", bioc_xml(bioc_document("1", "Aspirin", CHEM), "<document><passage/></document>",
                                             bioc_document("3", "Aspirin", NO_TYPE), bioc_document("4", "ok")))
    assert outcome(read_all(xml, "bioc-xml", tmp_path)) == ["doc 1", "fail c.xml #2 [E007]", "fail c.xml 3 [E007]",
                                                            "doc 4"]
    bad_ann = dict(JSON_CHEM, infons={})
    js = write(tmp_path / "c.json", bioc_json(bioc_json_document("1", "Aspirin"), {"passages": []},
                                              bioc_json_document("3", "Aspirin", [bad_ann]),
                                              bioc_json_document("4", "Aspirin", [JSON_CHEM])))
    assert outcome(read_all(js, "bioc-json", tmp_path)) == ["doc 1", "fail c.json #2 [E007]",
                                                            "fail c.json 3 [E007]", "doc 4"]


def test_xml_that_breaks_off_is_read_up_to_there(tmp_path: Path) -> None:
    text = bioc_xml(bioc_document("1", "a"), bioc_document("2", "b"), bioc_document("3", "c"))
    path = write(tmp_path / "c.xml", text[: text.index("<id>3</id>") + 12])
    items = read_all(path, "bioc-xml", tmp_path)
    assert outcome(items) == ["doc 1", "doc 2", "fail c.xml #3 [E953]"]
    assert "[E007] c.xml:1:" in items[2].reason
    assert count_documents(path, "bioc-xml", tmp_path) == 3


def test_unreadable_json_file_is_one_slot(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", '{"documents": [{"id": "1"}, ')
    assert outcome(read_all(path, "bioc-json", tmp_path)) == ["fail c.json #1 [E953]"]
    assert count_documents(path, "bioc-json", tmp_path) == 1


def test_bad_brat_ann_fails_alone(tmp_path: Path) -> None:
    for name, ann in (("a", "T1\tChemical 0 3\tabc\n"), ("b", "T1\tChemical 0 x\tabc\n"), ("c", "")):
        write(tmp_path / f"{name}.txt", "abc def")
        write(tmp_path / f"{name}.ann", ann)
    root, files = discover(tmp_path, "brat")
    items = [i for f in files for i in read_all(f, "brat", root)]
    assert outcome(items) == ["doc a", "fail b.txt b [E002]", "doc c"]
    assert "b.ann:1" in items[1].reason


def test_not_utf8_fails_alone(tmp_path: Path) -> None:
    latin1 = "caf\u00e9".encode("latin-1")
    write(tmp_path / "text" / "a.txt", b"good")
    write(tmp_path / "text" / "b.txt", b"line\n" + latin1)
    root, files = discover(tmp_path / "text", "text")
    assert outcome([i for f in files for i in read_all(f, "text", root)]) == ["doc a", "fail b.txt b [E001]"]
    block = b"1002|t|" + latin1 + b"\n"
    path = write(tmp_path / "p.pubtator", PUBTATOR.encode().replace(b"1002|t|BRCA1 in breast cancer\n", block))
    items = read_all(path, "pubtator", tmp_path)
    assert outcome(items) == ["doc 1001", "fail p.pubtator:7 1002 [E001]", "doc 1003"]
    path = write(tmp_path / "c.jsonl", jsonl(JSONL_GOOD[0]).encode() + b'{"id": "x", "text": "' + latin1 + b'"}\n')
    assert outcome(read_all(path, "jsonl", tmp_path)) == ["doc j1", "fail c.jsonl:2 #2 [E001]"]
    path = write(tmp_path / "c.json", bioc_json(bioc_json_document("1", "x")).encode() + latin1)
    assert outcome(read_all(path, "bioc-json", tmp_path)) == ["fail c.json #1 [E953]"]


def test_damaged_gzip(tmp_path: Path) -> None:
    good = gzip.compress(jsonl(*JSONL_GOOD).encode(), mtime=0)
    (tmp_path / "cut.jsonl.gz").write_bytes(good[: len(good) - 12])
    (tmp_path / "no.xml.gz").write_bytes(b"not gzip at all")
    (tmp_path / "no.txt.gz").write_bytes(b"not gzip at all")
    cut = read_all(tmp_path / "cut.jsonl.gz", "jsonl", tmp_path)
    assert isinstance(cut[-1], Failure) and "E953" in cut[-1].reason and "E952" in cut[-1].reason
    assert len(cut) == count_documents(tmp_path / "cut.jsonl.gz", "jsonl", tmp_path)
    assert outcome(read_all(tmp_path / "no.xml.gz", "bioc-xml", tmp_path)) == ["fail no.xml.gz #1 [E953]"]
    assert outcome(read_all(tmp_path / "no.txt.gz", "text", tmp_path)) == ["fail no.txt.gz no [E952]"]


# -- slots --------------------------------------------------------------------------------------
def mixed_files(tmp_path: Path) -> list[tuple[Path, str]]:
    """Good, partly bad and unreadable files of every format."""
    text = bioc_xml(bioc_document("1", "a"), bioc_document("2", "b", NO_TYPE), bioc_document("3", "c"))
    files = [
        (write(tmp_path / "a.pubtator", PUBTATOR_BAD_MIDDLE * 2), "pubtator"),
        (write(tmp_path / "b.pubtator.gz", PUBTATOR + "\n\n\n"), "pubtator"),
        (write(tmp_path / "c.xml", text), "bioc-xml"),
        (write(tmp_path / "d.xml", text[:-30]), "bioc-xml"),
        (write(tmp_path / "e.xml", "<notbioc/>"), "bioc-xml"),
        (write(tmp_path / "f.json", bioc_json(*(bioc_json_document(str(k), "t") for k in range(5)), {})), "bioc-json"),
        (write(tmp_path / "g.json", "{"), "bioc-json"),
        (write(tmp_path / "h.jsonl", jsonl(JSONL_GOOD[0], "{", "", JSONL_GOOD[1], "[]", JSONL_GOOD[2])), "jsonl"),
        (write(tmp_path / "i.txt", b"\xff"), "text"),
        (write(tmp_path / "j.txt", "abc"), "brat"),
    ]
    write(tmp_path / "j.ann", "T1\tX 0 1\ta\nT1\tX 0 1\ta\n")
    return files


def test_count_equals_slots_and_windows_cover_the_file(tmp_path: Path) -> None:
    for path, fmt in mixed_files(tmp_path):
        full = read_all(path, fmt, tmp_path)
        assert count_documents(path, fmt, tmp_path) == len(full), path
        windows = [item for first in range(0, len(full), 2)
                   for item in read_documents(path, fmt, tmp_path, first, min(2, len(full) - first))]
        assert [repr(i) for i in windows] == [repr(i) for i in full], path
        assert [repr(i) for i in read_documents(path, fmt, tmp_path, 1)] == [repr(i) for i in full[1:]]


def test_slots_missing_from_a_changed_file_fail(tmp_path: Path) -> None:
    path = write(tmp_path / "c.pubtator", PUBTATOR)
    items = list(read_documents(path, "pubtator", tmp_path, 2, 3))
    assert outcome(items) == ["doc 1003", "fail c.pubtator #4 [E955]", "fail c.pubtator #5 [E955]"]
    assert outcome(list(read_documents(path, "pubtator", tmp_path, 5, 1))) == ["fail c.pubtator #6 [E955]"]
