"""Writing the predictions of `annotate` (spacy_bioner.annotate.outputs): every
output format reads back with the project's readers at the same offsets and
labels, existing annotations are kept or replaced, ids never collide, scores
are where the format has room for them, and every byte is reproducible."""
from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from spacy_bioner.annotate.inputs import read_documents
from spacy_bioner.annotate.outputs import (
    assemble,
    brat_name,
    output_name,
    shard_path,
    writable,
    write_shard,
)
from spacy_bioner.annotate.types import OUTPUT_FORMATS, Failure, Shard
from spacy_bioner.corpora.base import DocBuilder, SourceAnnotation, SourceDocument
from spacy_bioner.corpora.bioc import read_bioc_json, read_bioc_xml
from spacy_bioner.corpora.brat import read_brat
from spacy_bioner.corpora.convert import make_nlp
from spacy_bioner.corpora.pubtator import read_pubtator
from spacy_bioner.corpora.report import ConversionReport
from spacy_bioner.corpora.writers import (
    bioc_json_from_sources,
    bioc_xml_from_sources,
    jsonl_from_source,
    pubtator_from_source,
)
from spacy_bioner.errors import BioNERInputError

PUBTATOR = (
    "1001|t|Aspirin in ovarian and breast cancer\n"
    "1001|a|Famotidine and ibuprofen.\n"
    "1001\t0\t7\tAspirin\tChemical\tD001241\n"
    "1001\t11\t36\tovarian and breast cancer\tDisease\n\n"
    "1002|t|No entity at all\n\n"
    "1003|t|ibuprofen, ibuprofen\n"
    "1003\t11\t20\tibuprofen\tChemical\n"
)
BIOC = ('<?xml version="1.0"?><collection><source>PubTator</source><date>2020-01-02</date><key>k.key</key>'
        '<document><id>11</id><passage><infon key="type">title</infon><offset>0</offset>'
        '<text>Caf\u00e9 and Aspirin</text><annotation id="0"><infon key="type">Chemical</infon>'
        '<location offset="9" length="7"/><text>Aspirin</text></annotation></passage>'
        '<passage><infon key="type">abstract</infon><offset>17</offset><text>cancer \U0001d6fc ibuprofen</text>'
        '<annotation id="T3"><infon key="type">Disease</infon><location offset="17" length="6"/>'
        "<text>cancer</text></annotation></passage></document>"
        '<document><id>12</id><passage><offset>0</offset><text>Aspirin &amp; cancer</text></passage></document>'
        "</collection>")
JSONL = [
    {"id": "j1", "text": "Aspirin\r\nand\tibuprofen \u00e9", "meta": {"n": 1},
     "spans": [{"start": 14, "end": 23, "label": "Chemical"}]},
    {"id": "j2", "text": ""},
    {"id": "j3", "text": "  cancer  ", "annotations": [{"start": 2, "end": 8, "label": "Disease"}]},
]
BRAT_TXT = "Aspirin and ibuprofen\r\nfor cancer"
BRAT_ANN = "T1\tChemical 0 7\tAspirin\nT5\tDisease 27 33\tcancer\n"
#: The files the inputs above are read from, and their format.
INPUTS = {"a.pubtator": "pubtator", "sub/b.xml": "bioc-xml", "c.jsonl": "jsonl", "sub/d.txt": "brat",
          "e.txt": "text"}
WORDS = {"Aspirin": "Chemical", "ibuprofen": "Chemical", "cancer": "Disease", "\U0001d6fc": "Symbol"}
SHARD_SIZE = 2


def write_inputs(folder: Path) -> None:
    (folder / "sub").mkdir(parents=True)
    (folder / "a.pubtator").write_text(PUBTATOR, encoding="utf-8")
    (folder / "sub" / "b.xml").write_text(BIOC, encoding="utf-8")
    (folder / "c.jsonl").write_text("".join(json.dumps(o) + "\n" for o in JSONL), encoding="utf-8")
    (folder / "sub" / "d.txt").write_bytes(BRAT_TXT.encode())
    (folder / "sub" / "d.ann").write_bytes(BRAT_ANN.encode())
    (folder / "e.txt").write_bytes("\ufeffAspirin for cancer".encode())


def predict(doc: SourceDocument) -> SourceDocument:
    """Add scored predictions, as the Annotator does: every occurrence of WORDS, plus a
    discontinuous "ovarian ... cancer" where the text has one."""
    preds = []
    for word, label in WORDS.items():
        for m in re.finditer(re.escape(word), doc.text):
            preds.append(SourceAnnotation(f"P{len(preds) + 1}", label, [(m.start(), m.end())], text=m.group(),
                                          score=1 / 3 + len(preds) / 7))
    if "ovarian and breast cancer" in doc.text:
        start = doc.text.index("ovarian")
        end = doc.text.index("cancer", start)
        preds.append(SourceAnnotation("P99", "Disease", [(start, start + 7), (end, end + 6)],
                                      text="ovarian cancer", score=0.123456))
    return dataclasses.replace(doc, annotations=[*doc.annotations, *preds])


def plan(folder: Path) -> list[tuple[Shard, list[SourceDocument]]]:
    """Shards of SHARD_SIZE documents per input file, each with its predicted documents."""
    out: list[tuple[Shard, list[SourceDocument]]] = []
    for name, fmt in INPUTS.items():
        docs = list(read_documents(folder / name, fmt, folder))
        assert not any(isinstance(d, Failure) for d in docs), docs
        for first in range(0, len(docs), SHARD_SIZE):
            part = docs[first:first + SHARD_SIZE]
            out.append((Shard(len(out), name, first, len(part)), [predict(d) for d in part]))  # type: ignore[arg-type]
    return out


@pytest.fixture
def planned(tmp_path: Path) -> list[tuple[Shard, list[SourceDocument]]]:
    write_inputs(tmp_path / "in")
    return plan(tmp_path / "in")


def run(planned: list[tuple[Shard, list[SourceDocument]]], out: Path, fmt: str, existing: str,
        reverse: bool = False) -> list[str]:
    """Write every shard (in reverse order if asked: shards finish in any order) and assemble."""
    written: list[str] = []
    for shard, docs in (reversed(planned) if reverse else planned):
        written += write_shard(docs, shard, out, fmt, existing)
    return written + assemble(out, [shard for shard, _ in planned], fmt)


def read_back(out: Path, fmt: str) -> list[SourceDocument]:
    """The output, read with the project's readers (JSONL: with annotate's own)."""
    report = ConversionReport()
    if fmt == "brat":
        return list(read_brat(out, report))
    readers = {"bioc-xml": read_bioc_xml, "bioc-json": read_bioc_json, "pubtator": read_pubtator}
    docs: list[SourceDocument] = []
    for name in sorted(EXPECTED_FILES[fmt]):
        if fmt == "jsonl":
            docs += [d for d in read_documents(out / name, "jsonl", out) if isinstance(d, SourceDocument)]
        else:
            docs += readers[fmt](out / name, report)
    return docs


def spans(anns: list[SourceAnnotation], flat: bool = False) -> list[tuple[str, list[tuple[int, int]]]]:
    out = [(a.label, [(min(s for s, _ in a.fragments), max(e for _, e in a.fragments))] if flat
            else sorted(a.fragments)) for a in anns]
    return sorted(out)


EXPECTED_FILES = {
    "brat": {"a/1001", "a/1002", "a/1003", "sub/b/11", "sub/b/12", "c/j1", "c/j2", "c/j3", "sub/d", "e"},
    "bioc-xml": {"a.xml", "sub/b.xml", "c.xml", "sub/d.xml", "e.xml"},
    "bioc-json": {"a.json", "sub/b.json", "c.json", "sub/d.json", "e.json"},
    "pubtator": {"a.pubtator", "sub/b.pubtator", "c.pubtator", "sub/d.txt", "e.txt"},
    "jsonl": {"a.jsonl", "sub/b.jsonl", "c.jsonl", "sub/d.jsonl", "e.jsonl"},
}


def output_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("existing", ["keep", "replace"])
@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_round_trip(tmp_path: Path, planned: list[tuple[Shard, list[SourceDocument]]], fmt: str,
                    existing: str) -> None:
    out = tmp_path / "out"
    written = run(planned, out, fmt, existing)
    final = {p for p in output_files(out) if not p.startswith(".shards/")}
    if fmt == "brat":
        assert final == {f"{n}{s}" for n in EXPECTED_FILES["brat"] for s in (".txt", ".ann")}
    else:
        assert final == EXPECTED_FILES[fmt]
    assert set(written) == set(output_files(out))
    back = {d.doc_id: d for d in read_back(out, fmt)}
    sources = [d for _, docs in planned for d in docs]
    assert sorted(back) == sorted(d.doc_id for d in sources)
    for src in sources:
        got = back[src.doc_id]
        expected_text = re.sub("[\t\r]", " ", src.text) if fmt == "pubtator" else src.text
        assert got.text == expected_text, src.doc_id
        wanted = [a for a in src.annotations if a.score is not None or existing == "keep"]
        assert spans(got.annotations) == spans(wanted, flat=fmt == "pubtator"), (fmt, src.doc_id)
    assert sum(len(d.annotations) for d in back.values()) > len(back)
    # the annotations' texts match the text at their offsets (the builder rejects a mismatch)
    report = ConversionReport()
    builder = DocBuilder(make_nlp(), report)
    for doc in back.values():
        builder.build(doc)
    assert report.totals()["rejected"] == 0, report.rejected_records


def test_existing_annotations_are_kept_apart(tmp_path: Path, planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    run(planned, tmp_path / "keep", "jsonl", "keep")
    run(planned, tmp_path / "replace", "jsonl", "replace")
    sources = {d.doc_id: d for _, docs in planned for d in docs}
    for policy in ("keep", "replace"):
        for line in (tmp_path / policy / "a.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            src = sources[record["id"]]
            existing = [a for a in src.annotations if a.score is None]
            predicted = [a for a in src.annotations if a.score is not None]
            assert [(s["start"], s["end"], s["label"]) for s in record.get("annotations", [])] == (
                [(a.fragments[0][0], a.fragments[-1][1], a.label) for a in existing] if policy == "keep" else [])
            assert [(s["label"], s["score"], s["text"]) for s in record["spans"]] == [
                (a.label, round(a.score, 4), " ".join(src.text[s:e] for s, e in a.fragments)) for a in predicted]
            for span in record["spans"]:
                assert ("fragments" in span) == (span["label"] == "Disease" and span["text"] == "ovarian cancer")


def test_jsonl_keeps_the_other_keys_of_the_input(tmp_path: Path,
                                                 planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    run(planned, tmp_path, "jsonl", "keep")
    first = json.loads((tmp_path / "c.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert list(first) == ["id", "text", "meta", "annotations", "spans"]
    assert first["meta"] == {"n": 1}


# -- ids and scores -----------------------------------------------------------------------------
def ann_lines(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The T lines (id -> rest) and the notes (annotated id -> note) of a .ann file."""
    ts, notes = {}, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, rest = line.split("\t", 1)
        if key.startswith("T"):
            assert key not in ts, f"T id {key} twice"
            ts[key] = rest
        else:
            kind, ref = rest.split("\t")[0].split()
            assert kind == "AnnotatorNotes"
            notes[ref] = rest.split("\t")[1]
    return ts, notes


@pytest.mark.parametrize("existing", ["keep", "replace"])
def test_brat_ids_never_collide_and_scores_are_notes(tmp_path: Path, existing: str,
                                                     planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    run(planned, tmp_path, "brat", existing)
    for _, docs in planned:
        for src in docs:
            ts, notes = ann_lines(tmp_path / f"{brat_name(src)}.ann")
            kept = [a for a in src.annotations if a.score is None] if existing == "keep" else []
            predicted = [a for a in src.annotations if a.score is not None]
            ids = list(ts)
            assert len(ids) == len(kept) + len(predicted)
            kept_ids, predicted_ids = ids[:len(kept)], ids[len(kept):]
            # kept annotations first, with their BRAT ids; predictions numbered after all of them
            assert [ts[i].split("\t")[0].split()[0] for i in kept_ids] == [a.label for a in kept]
            assert all(a.ann_id == i for a, i in zip(kept, kept_ids, strict=True) if re.fullmatch(r"T\d+", a.ann_id))
            assert min((int(i[1:]) for i in predicted_ids), default=10**9) > max(
                (int(i[1:]) for i in kept_ids), default=0)
            # only predictions have notes, with their scores
            assert list(notes) == predicted_ids
            assert [notes[i] for i in predicted_ids] == [f"score={round(a.score, 4)}" for a in predicted]  # type: ignore[arg-type]


def test_brat_keeps_existing_ids(tmp_path: Path, planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    run(planned, tmp_path, "brat", "keep")
    ts, notes = ann_lines(tmp_path / "sub" / "d.ann")
    assert ts["T1"] == "Chemical 0 7\tAspirin" and ts["T5"] == "Disease 27 33\tcancer"
    assert sorted(notes) == ["T6", "T7", "T8"]


@pytest.mark.parametrize("fmt", ["bioc-xml", "bioc-json"])
def test_bioc_predictions_have_source_and_score(tmp_path: Path, fmt: str,
                                                planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    run(planned, tmp_path, fmt, "keep")
    if fmt == "bioc-xml":
        root = ET.parse(tmp_path / "sub" / "b.xml").getroot()
        got = [[(a.get("id"), {i.get("key"): i.text or "" for i in a.findall("infon")},
                 [(int(loc.get("offset") or 0), int(loc.get("offset") or 0) + int(loc.get("length") or 0))
                  for loc in a.findall("location")]) for a in d.iter("annotation")] for d in root.iter("document")]
    else:
        data = json.loads((tmp_path / "sub" / "b.json").read_text(encoding="utf-8"))
        got = [[(a["id"], a["infons"], [(loc["offset"], loc["offset"] + loc["length"]) for loc in a["locations"]])
                for p in d["passages"] for a in p["annotations"]] for d in data["documents"]]
    sources = [d for shard, docs in planned if shard.file == "sub/b.xml" for d in docs]
    assert len(got) == len(sources) == 2
    for anns, src in zip(got, sources, strict=True):
        assert sorted((i["type"], loc, i.get("source", ""), i.get("score", "")) for _, i, loc in anns) == sorted(
            (a.label, a.fragments, "" if a.score is None else "spacy_bioner",
             "" if a.score is None else str(round(a.score, 4))) for a in src.annotations)
        assert len({ann_id for ann_id, _, _ in anns}) == len(anns)
    assert sum(1 for anns in got for _, i, _ in anns if "score" in i) >= 3


def test_bioc_ids_continue_after_existing(tmp_path: Path, planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    shard, docs = next((s, d) for s, d in planned if s.file == "sub/b.xml")
    write_shard(docs, shard, tmp_path, "bioc-xml", "keep")
    root = ET.parse(tmp_path / shard_path(shard, "bioc-xml")).getroot()
    first = root.find("document")
    assert first is not None
    ids = [a.get("id") for a in first.iter("annotation")]
    scored = [a.get("id") for a in first.iter("annotation") if a.find("infon[@key='score']") is not None]
    assert len(ids) == len(set(ids)) and scored and set(scored).isdisjoint({"0", "T3"})
    assert all(int(i[1:]) > 3 for i in scored if i)


def test_pubtator_has_no_score_column(tmp_path: Path, planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    run(planned, tmp_path, "pubtator", "replace")
    mentions = [line.split("\t") for line in (tmp_path / "a.pubtator").read_text(encoding="utf-8").splitlines()
                if "\t" in line]
    assert mentions and all(len(cols) == 5 for cols in mentions)


@pytest.mark.parametrize("doc_id,label", [("12|3", "Chemical"), ("12\t3", "Chemical"), (" 12", "Chemical"),
                                          ("12", "Chem\tical"), ("12", "")])
def test_pubtator_refuses_what_it_cannot_hold(tmp_path: Path, doc_id: str, label: str) -> None:
    doc = SourceDocument(doc_id, "Aspirin", "a.txt", [SourceAnnotation("P1", label, [(0, 7)], score=0.5)])
    with pytest.raises(BioNERInputError, match="E957"):
        write_shard([doc], Shard(0, "a.txt", 0, 1), tmp_path, "pubtator", "keep")
    assert not list(tmp_path.rglob("*.pubtator"))


# -- determinism and atomic writes ---------------------------------------------------------------
@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_output_is_byte_identical_when_redone(tmp_path: Path, fmt: str,
                                              planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    run(planned, tmp_path / "one", fmt, "keep")
    first = output_files(tmp_path / "one")
    run(planned, tmp_path / "two", fmt, "keep", reverse=True)
    assert output_files(tmp_path / "two") == first
    # again into the same directory: the same bytes, and no temporary file left behind
    run(planned, tmp_path / "one", fmt, "keep", reverse=True)
    assert output_files(tmp_path / "one") == first
    assert not [name for name in first if Path(name).name.startswith(".")]


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    good = SourceDocument("1", "Aspirin", "a.txt", [SourceAnnotation("P1", "Chemical", [(0, 7)], score=0.5)])
    shard = Shard(0, "a.txt", 0, 2)
    write_shard([good], shard, tmp_path, "pubtator", "keep")
    before = output_files(tmp_path)
    bad = dataclasses.replace(good, doc_id="1|2")
    with pytest.raises(BioNERInputError, match="E957"):
        write_shard([good, bad], shard, tmp_path, "pubtator", "keep")
    assert output_files(tmp_path) == before


# -- assembling ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["bioc-xml", "bioc-json", "pubtator", "jsonl"])
def test_assemble_joins_shards_as_if_written_at_once(tmp_path: Path, fmt: str,
                                                     planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    first = run(planned, tmp_path, fmt, "replace", reverse=True)
    shards = [shard for shard, _ in planned]
    again = assemble(tmp_path, list(reversed(shards)), fmt)
    assert sorted(again) == sorted(EXPECTED_FILES[fmt]) and set(again) <= set(first)
    docs = [dataclasses.replace(d, annotations=[a for a in d.annotations if a.score is not None])
            for shard, part in planned if shard.file == "a.pubtator" for d in part]
    text = (tmp_path / output_name("a.pubtator", fmt)).read_text(encoding="utf-8")
    header = {"source": "spacy_bioner", "date": "", "key": "BioC.key"}
    if fmt == "bioc-xml":
        assert text == bioc_xml_from_sources(
            [dataclasses.replace(d, annotations=[dataclasses.replace(a, ann_id=f"T{k}") for k, a in
                                                 enumerate(d.annotations, 1)]) for d in docs], **header)
    elif fmt == "bioc-json":
        assert json.loads(text) == json.loads(bioc_json_from_sources(
            [dataclasses.replace(d, annotations=[dataclasses.replace(a, ann_id=f"T{k}") for k, a in
                                                 enumerate(d.annotations, 1)]) for d in docs], **header))
    elif fmt == "pubtator":
        assert text == "".join(pubtator_from_source(d) + "\n" for d in docs)
    else:
        assert text == "".join(jsonl_from_source(d) for d in docs)


def test_assemble_is_idempotent_and_keeps_the_collection_header(tmp_path: Path,
                                                                planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    # the first shard of sub/b.xml wrote no documents (all failed): the header comes from a later one
    shard, docs = next((s, d) for s, d in planned if s.file == "sub/b.xml")
    empty = Shard(shard.index, shard.file, shard.first, 1)
    later = Shard(len(planned), shard.file, shard.first + 1, 1)
    for fmt in ("bioc-xml", "bioc-json"):
        write_shard([], empty, tmp_path, fmt, "keep")
        write_shard(docs[1:], later, tmp_path, fmt, "keep")
        names = assemble(tmp_path, [empty, later], fmt)
        before = output_files(tmp_path)
        assert assemble(tmp_path, [later, empty], fmt) == names
        assert output_files(tmp_path) == before
        back = (read_bioc_xml if fmt == "bioc-xml" else read_bioc_json)(tmp_path / names[0], ConversionReport())
        assert [d.doc_id for d in back] == ["12"]
    assert "<source>PubTator</source><date>2020-01-02</date><key>k.key</key>" in (tmp_path / "sub/b.xml").read_text()
    data = json.loads((tmp_path / "sub/b.json").read_text())
    assert (data["source"], data["date"], data["key"]) == ("PubTator", "2020-01-02", "k.key")


def test_assemble_errors(tmp_path: Path, planned: list[tuple[Shard, list[SourceDocument]]]) -> None:
    shard, docs = planned[0]
    with pytest.raises(BioNERInputError, match="E958"):
        assemble(tmp_path, [shard], "jsonl")
    write_shard(docs, shard, tmp_path, "bioc-xml", "keep")
    (tmp_path / shard_path(shard, "bioc-xml")).write_text("<collection/>")
    with pytest.raises(BioNERInputError, match="E960"):
        assemble(tmp_path, [shard], "bioc-xml")
    write_shard(docs, shard, tmp_path, "jsonl", "keep")
    twin = Shard(1, "a.ndjson.gz", 0, 1)
    write_shard(docs, twin, tmp_path, "jsonl", "keep")
    with pytest.raises(BioNERInputError, match="E959"):
        assemble(tmp_path, [shard, Shard(1, "a.txt", 0, 1)], "jsonl")
    assert assemble(tmp_path, [twin], "jsonl") == ["a.ndjson"]
    assert assemble(tmp_path, [shard], "brat") == []
    with pytest.raises(BioNERInputError, match="E011"):
        assemble(tmp_path, [shard], "text")


# -- names --------------------------------------------------------------------------------------
@pytest.mark.parametrize("file,fmt,expected", [
    ("sub/a.xml.gz", "bioc-xml", "sub/a.xml"),
    ("a.XML", "bioc-xml", "a.XML"),
    ("a.pubtator", "bioc-json", "a.json"),
    ("a.txt", "pubtator", "a.txt"),
    ("a.jsonl.gz", "pubtator", "a.pubtator"),
    ("README", "jsonl", "README.jsonl"),
])
def test_output_name(file: str, fmt: str, expected: str) -> None:
    assert output_name(file, fmt) == expected


@pytest.mark.parametrize("path,fmt,doc_id,expected", [
    ("sub/a.txt.gz", "brat", "a", "sub/a"),
    ("sub/a.txt", "text", "sub/a", "sub/a"),
    ("c.xml", "bioc", "PMC1/x y", "c/PMC1_x_y"),
    ("c.jsonl", "jsonl", "..", "c/_.."),
    ("", "jsonl", "d", "d"),
])
def test_brat_name(path: str, fmt: str, doc_id: str, expected: str) -> None:
    assert brat_name(SourceDocument(doc_id, "", path, meta={"format": fmt})) == expected


@pytest.mark.parametrize("path", ["../a.txt", "/abs/a.txt"])
def test_brat_name_stays_inside(path: str) -> None:
    with pytest.raises(BioNERInputError, match="E962"):
        brat_name(SourceDocument("a", "", path, meta={"format": "text"}))


def test_brat_refuses_two_documents_on_one_name(tmp_path: Path) -> None:
    docs = [SourceDocument("x/1", "a", "c.xml"), SourceDocument("x 1", "b", "c.xml")]
    with pytest.raises(BioNERInputError, match=r"E961.*#4 and #5"):
        write_shard(docs, Shard(0, "c.xml", 3, 2), tmp_path, "brat", "keep")


@pytest.mark.parametrize("fmt,existing", [("text", "keep"), ("brat", "merge")])
def test_write_shard_checks_its_options(tmp_path: Path, fmt: str, existing: str) -> None:
    with pytest.raises(BioNERInputError, match="E011"):
        write_shard([], Shard(0, "a", 0, 0), tmp_path, fmt, existing)


def test_writable_fails_only_the_documents_the_format_cannot_hold() -> None:
    shard = Shard(0, "in.jsonl", 0, 3)
    good = SourceDocument("a", "Aspirin helps.", "in.jsonl", meta={"format": "jsonl"},
                          annotations=[SourceAnnotation("P1", "Chemical", [(0, 7)], "Aspirin", score=0.9)])
    spaced = SourceDocument("b", "Aspirin helps.", "in.jsonl", meta={"format": "jsonl"},
                            annotations=[SourceAnnotation("P1", "Simple chemical", [(0, 7)], "Aspirin", score=0.9)])
    twin = dataclasses.replace(good, annotations=[])
    docs, failures = writable([good, spaced, twin], shard, "brat", "keep")
    assert docs == [good]
    assert [(f.doc, f.reason[:6]) for f in failures] == [("b", "[E201]"), ("a", "[E961]")]
    # the same documents are all writable where the format holds them
    docs, failures = writable([good, spaced], shard, "jsonl", "keep")
    assert docs == [good, spaced] and failures == []
