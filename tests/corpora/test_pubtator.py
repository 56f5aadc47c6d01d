"""Tests of the PubTator reader, run through ``convert_corpus`` (reader + DocBuilder + DocBin)."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import srsly
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.corpora.base import SOURCE_KEY
from spacy_bioner.corpora.convert import convert_corpus, make_nlp
from spacy_bioner.corpora.limits import Limits
from spacy_bioner.corpora.pubtator import read_pubtator
from spacy_bioner.corpora.report import ConversionReport
from spacy_bioner.errors import BioNERInputError

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "pubtator"

TITLE1 = "Famotidine-associated delirium in an elderly patient"
SENT1 = "Famotidine is a histamine H2-receptor antagonist used in ovarian and breast cancer patients."
SENT2 = "Delirium resolved after withdrawal of famotidine."
TITLE2 = "BRCA1 mutations in hereditary breast cancer"
ABSTRACT2 = "Germline BRCA1 mutations were found in 12 families."

# Offsets index TITLE + "\n" + ABSTRACT; the abstract of 1001 starts at 53, of 1002 at 44.
# 1001: a composite mention with a 7th column, a "-1" id, a 4-column relation.
# 1002: the NCBI quirk (trailing space in the mention column), a 5-column relation.
PUBTATOR = f"""1001|t|{TITLE1}
1001|a|{SENT1} {SENT2}
1001\t0\t10\tFamotidine\tChemical\tD015738
1001\t22\t30\tdelirium\tDisease\tD003693
1001\t110\t135\tovarian and breast cancer\tDisease\tD010051|D001943\tovarian cancer|breast cancer
1001\t146\t154\tDelirium\tDisease\tD003693
1001\t184\t194\tfamotidine\tChemical\t-1
1001\tCID\tD015738\tD003693

1002|t|{TITLE2}
1002|a|{ABSTRACT2}
1002\t0\t5\tBRCA1\tGene\t672
1002\t19\t43\thereditary breast cancer \tDisease\tD061325
1002\t53\t58\tBRCA1\tGene\t672
1002\tAssociation\t672\tD061325\tNovel
"""
ENTS1 = [("Famotidine", "Chemical", "D015738"), ("delirium", "Disease", "D003693"),
         ("ovarian and breast cancer", "Disease", "D010051|D001943"), ("Delirium", "Disease", "D003693"),
         ("famotidine", "Chemical", "")]
ENTS2 = [("BRCA1", "Gene", "672"), ("hereditary breast cancer", "Disease", "D061325"), ("BRCA1", "Gene", "672")]


# -- helpers ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def nlp() -> Language:
    return make_nlp("en")


def _write(tmp_path: Path, content: str, name: str = "corpus.pubtator", newline: str = "\n",
           prefix: bytes = b"") -> Path:
    path = tmp_path / name
    path.write_bytes(prefix + content.replace("\n", newline).encode("utf-8"))
    return path


def _convert(nlp: Language, path: Path, **options) -> tuple[list[Doc], ConversionReport]:
    docbin, report = convert_corpus(path, "pubtator", nlp=nlp, **options)
    return list(docbin.get_docs(nlp.vocab)), report


def _ents(doc: Doc) -> list[tuple[str, str, str]]:
    return [(e.text, e.label_, e.kb_id_) for e in doc.ents]


def _error(path: Path) -> str:
    with pytest.raises(BioNERInputError) as excinfo:
        list(read_pubtator(path, ConversionReport()))
    return str(excinfo.value)


def _plain(output: str) -> str:
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", output).split())


# -- documents, spans, report -----------------------------------------------------------
def _check_fixture(docs: list[Doc], report: ConversionReport) -> None:
    assert [d.text for d in docs] == [f"{TITLE1}\n{SENT1} {SENT2}", f"{TITLE2}\n{ABSTRACT2}"]
    assert [_ents(d) for d in docs] == [ENTS1, ENTS2]
    assert [(e.start_char, e.end_char) for e in docs[0].ents] == [(0, 10), (22, 30), (110, 135), (146, 154),
                                                                  (184, 194)]
    assert [(e.start_char, e.end_char) for e in docs[1].ents] == [(0, 5), (19, 43), (53, 58)]
    assert report.documents == 2 and report.output_docs == 2
    assert report.totals() == {"source": 8, "exact": 8, "adjusted": 0, "rejected": 0, "dropped": 0}
    assert {k: c["source"] for k, c in report.labels.items()} == {"Chemical": 2, "Disease": 4, "Gene": 2}
    assert report.is_balanced()
    assert report.skipped == {"relations": 2, "composite parts without offsets": 2}


def test_title_abstract_offsets_and_report(nlp: Language, tmp_path: Path) -> None:
    docs, report = _convert(nlp, _write(tmp_path, PUBTATOR))
    _check_fixture(docs, report)
    meta = docs[0].user_data[SOURCE_KEY]
    assert meta["doc_id"] == meta["pmid"] == "1001" and meta["file"] == "corpus.pubtator"
    assert [(p["offset"], p["length"], p["type"]) for p in meta["passages"]] == [
        (0, 52, "t"), (53, len(SENT1) + 1 + len(SENT2), "a")]
    assert docs[1].user_data[SOURCE_KEY]["doc_id"] == "1002"


def test_crlf_and_bom(nlp: Language, tmp_path: Path) -> None:
    docs, report = _convert(nlp, _write(tmp_path, PUBTATOR, newline="\r\n", prefix=b"\xef\xbb\xbf"))
    _check_fixture(docs, report)
    assert all("\r" not in d.text and "\ufeff" not in d.text for d in docs)


def test_no_final_blank_line(nlp: Language, tmp_path: Path) -> None:
    docs, report = _convert(nlp, _write(tmp_path, PUBTATOR.rstrip("\n")))
    _check_fixture(docs, report)


def test_sentences_split_at_the_passage_start(nlp: Language, tmp_path: Path) -> None:
    docs, _ = _convert(nlp, _write(tmp_path, PUBTATOR))
    # the title has no full stop, yet it is a sentence of its own
    assert [s.text.rstrip("\n") for s in docs[0].sents] == [TITLE1, SENT1, SENT2]
    assert [s.text.rstrip("\n") for s in docs[1].sents] == [TITLE2, ABSTRACT2]


def test_sentences_mode(nlp: Language, tmp_path: Path) -> None:
    path = _write(tmp_path, PUBTATOR)
    whole, _ = _convert(nlp, path)
    sents, report = _convert(nlp, path, sentences=True)
    assert [d.text.rstrip("\n") for d in sents] == [TITLE1, SENT1, SENT2, TITLE2, ABSTRACT2]
    assert [_ents(d) for d in sents] == [ENTS1[:2], ENTS1[2:3], ENTS1[3:], ENTS2[:2], ENTS2[2:]]
    meta = [d.user_data[SOURCE_KEY] for d in sents]
    assert [(m["doc_id"], m["sentence"], m["char_offset"]) for m in meta] == [
        ("1001", 0, 0), ("1001", 1, 53), ("1001", 2, 53 + len(SENT1) + 1), ("1002", 0, 0), ("1002", 1, 44)]
    texts = {d.user_data[SOURCE_KEY]["doc_id"]: d.text for d in whole}
    for doc, m in zip(sents, meta, strict=True):
        assert texts[m["doc_id"]][m["char_offset"]: m["char_offset"] + len(doc.text)] == doc.text
        for ent in doc.ents:  # entity offsets map back to the document
            start = m["char_offset"] + ent.start_char
            assert texts[m["doc_id"]][start: start + len(ent.text)] == ent.text
    assert report.documents == 2 and report.sentences == 5 and report.output_docs == 5
    assert report.totals()["exact"] == 8


def test_same_pmid_twice(nlp: Language, tmp_path: Path) -> None:
    block = PUBTATOR.split("\n\n")[1]
    docs, report = _convert(nlp, _write(tmp_path, f"{block}\n{block}\n"))
    assert [d.user_data[SOURCE_KEY]["doc_id"] for d in docs] == ["1002", "1002"]
    assert [_ents(d) for d in docs] == [ENTS2, ENTS2]
    assert report.documents == 2 and report.totals()["exact"] == 6


def test_rejected_mentions(nlp: Language, tmp_path: Path) -> None:
    content = f"""7|t|{TITLE2}
7|a|{ABSTRACT2}
7\t0\t5\tBRCA2\tGene\t675
7\t19\t43\thereditary breast cancer\tDisease\tD061325
7\t95\t100\tBRCA1\tGene\t672
7\t10\t10\tin\tGene\t-1
"""
    docs, report = _convert(nlp, _write(tmp_path, content))
    assert _ents(docs[0]) == [("hereditary breast cancer", "Disease", "D061325")]
    assert report.totals() == {"source": 4, "exact": 1, "adjusted": 0, "rejected": 3, "dropped": 0}
    assert report.is_balanced()
    records = report.rejected_records
    assert [(r["line"], r["doc_id"], r["file"]) for r in records] == [
        (3, "7", "corpus.pubtator"), (5, "7", "corpus.pubtator"), (6, "7", "corpus.pubtator")]
    assert records[0]["reason"] == "[W012] text mismatch: the offsets cover 'BRCA1'"
    assert records[1]["reason"] == "[W010] offsets 95-100 outside the text (length 95)"
    assert records[2]["reason"].startswith("[W011] empty or inverted offsets 10-10")


def test_text_lines_only(nlp: Language, tmp_path: Path) -> None:
    docs, report = _convert(nlp, _write(tmp_path, f"5|t|{TITLE2}\n5|a|\n"))
    assert [d.text for d in docs] == [TITLE2 + "\n"]
    assert report.documents == 1 and report.totals()["source"] == 0


def test_nested_mentions_kept_in_spans(nlp: Language, tmp_path: Path) -> None:
    content = f"""8|t|{TITLE2}
8|a|{ABSTRACT2}
8\t19\t43\thereditary breast cancer\tDisease\tD061325
8\t30\t43\tbreast cancer\tDisease\tD001943
"""
    docs, report = _convert(nlp, _write(tmp_path, content))
    assert _ents(docs[0]) == [("hereditary breast cancer", "Disease", "D061325")]
    assert [(s.text, s.kb_id_) for s in docs[0].spans["sc"]] == [
        ("hereditary breast cancer", "D061325"), ("breast cancer", "D001943")]
    assert report.totals()["exact"] == 2 and report.not_in_ents == {"Disease": 1}

# -- errors ----------------------------------------------------------------------------------
HEAD = f"1002|t|{TITLE2}\n1002|a|{ABSTRACT2}\n"


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        (HEAD + "1002\t0\t5\tBRCA1\tGene\n1003\t53\t58\tBRCA1\tGene\t672\n", 4, "PMID '1003' differs"),
        (HEAD + "1002\t0\t5\tBRCA1\n", 3, "mention line needs PMID, start, end, mention and type"),
        (HEAD + "1002\t0\t5\n", 3, "mention line needs"),
        (HEAD + "1002\t5\t0\tBRCA1\tGene\t672\n", 3, "start 5 is after end 0"),
        (HEAD + "1002\t-1\t5\tBRCA1\tGene\t672\n", 3, "not both non-negative integers"),
        ("1002\t0\t5\tBRCA1\tGene\t672\n" + HEAD, 1, "annotation line before the 'PMID|t|' title line"),
        (HEAD + "this is not PubTator\n", 3, "is neither a text"),
        (HEAD + "1002\t0\n", 3, "is neither a text"),
        (HEAD + "1003|a|Another abstract.\n", 3, "PMID 1003 inside the block of PMID 1002"),
        (HEAD + "1002\t0\t5\tBRCA1\tGene\t672\n1002|a|More.\n", 4, "text line after mention lines"),
        # offsets that are not plain integers: errors, never relations (whose 2nd column starts with a letter)
        (HEAD + "1002\t\t5\tBRCA1\tGene\t672\n", 3, "offsets ''-'5' are not both non-negative integers"),
        (HEAD + "1002\t0.0\t5\tBRCA1\tGene\t672\n", 3, "offsets '0.0'-'5' are not both"),
        (HEAD + "1002\t+0\t5\tBRCA1\tGene\t672\n", 3, "offsets '+0'-'5' are not both"),
        (HEAD + "1002\t0\t5.0\tBRCA1\tGene\t672\n", 3, "offsets '0'-'5.0' are not both"),
        (HEAD + "1002\t\u0661\t5\tBRCA1\tGene\t672\n", 3, "are not both non-negative integers"),
    ],
)
def test_malformed_line(tmp_path: Path, content: str, line: int, expected: str) -> None:
    message = _error(_write(tmp_path, "\n" + content, name="bad.pubtator"))
    assert message.startswith(f"[E006] bad.pubtator:{line + 1}: ")  # the file starts with a blank line
    assert expected in message


def test_relation_lines_are_told_by_their_type(nlp: Language, tmp_path: Path) -> None:
    content = HEAD + "1002\tCID\t672\tD061325\n1002\t Association\t672\tD061325\tNovel\n"
    docs, report = _convert(nlp, _write(tmp_path, content))
    assert report.skipped["relations"] == 2 and report.totals()["source"] == 0


def test_offset_over_the_limit(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, HEAD + "1002\t0\t99999999999999999999999\tBRCA1\tGene\n", name="big.pubtator"))
    assert message.startswith("[E023] big.pubtator:3: offset 99999999999999999999999 is larger than the maximum offset")


def test_document_over_the_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD, name="long.pubtator")
    with pytest.raises(BioNERInputError, match=r"^\[E024\] long\.pubtator \[document 1002\]: the document has"):
        list(read_pubtator(path, ConversionReport(), limits=Limits(max_chars=50)))


@pytest.mark.parametrize("label", ["", " "])
def test_empty_type_is_rejected_not_exact(nlp: Language, tmp_path: Path, label: str) -> None:
    # a span without a label would sit in doc.spans but never in doc.ents
    content = HEAD + f"1002\t0\t5\tBRCA1\t{label}\t672\n1002\t53\t58\tBRCA1\tGene\t672\n"
    docs, report = _convert(nlp, _write(tmp_path, content))
    assert [(s.text, s.label_) for s in docs[0].spans["sc"]] == [("BRCA1", "Gene")]
    assert report.totals() == {"source": 2, "exact": 1, "adjusted": 0, "rejected": 1, "dropped": 0}
    (record,) = report.rejected_records
    assert record["line"] == 3 and record["reason"].startswith("[W016] empty entity type")


def test_invalid_utf8_reports_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.pubtator"
    path.write_bytes(HEAD.encode() + b"\n9|t|caf\xe9\n")
    message = _error(path)
    assert message.startswith("[E001] bad.pubtator:4:") and "not valid UTF-8" in message


def test_directory_skips_readme_files(nlp: Language, tmp_path: Path) -> None:
    _write(tmp_path, PUBTATOR, name="train.PubTator.txt")
    _write(tmp_path, "This corpus is public domain.\n", name="README.txt")
    _write(tmp_path, "Disclaimer.\n", name="DISCLAIMER.txt")
    docs, report = _convert(nlp, tmp_path)
    assert report.files == 1
    _check_fixture(docs, report)


# -- command line -----------------------------------------------------------------------
def test_cli_convert(nlp: Language, tmp_path: Path) -> None:
    src = _write(tmp_path, PUBTATOR, name="cdr.pubtator")
    out = tmp_path / "cdr.spacy"
    result = CliRunner().invoke(app, ["convert", str(src), str(out), "--format", "pubtator", "--quiet"])
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    assert [_ents(d) for d in docs] == [ENTS1, ENTS2]
    report = srsly.read_json(tmp_path / "cdr.report.json")
    assert report["format"] == "pubtator" and report["documents"] == 2
    assert report["totals"]["source"] == report["totals"]["exact"] == 8
    assert report["skipped"] == {"composite parts without offsets": 2, "relations": 2}


def test_cli_malformed_file(tmp_path: Path) -> None:
    src = _write(tmp_path, HEAD + "1002\t5\t0\tBRCA1\tGene\t672\n", name="bad.pubtator")
    out = tmp_path / "bad.spacy"
    result = CliRunner().invoke(app, ["convert", str(src), str(out), "--format", "pubtator", "-q"])
    assert result.exit_code == 1, result.output
    assert "bad.pubtator:3" in _plain(result.output)
    assert "Traceback" not in result.output
    assert not out.exists()


# -- real corpora ---------------------------------------------------------------------------
# documents, entity mentions, relations as stated in SOURCES.md
EXPECTED = {
    "bc5cdr/CDR_TrainingSet.PubTator.txt": (500, 9385, 1038),
    "bc5cdr/CDR_DevelopmentSet.PubTator.txt": (500, 9591, 1012),
    "bc5cdr/CDR_TestSet.PubTator.txt": (500, 9809, 1066),
    "biored/Train.PubTator.txt": (400, 13351, 4178),
    "biored/Dev.PubTator.txt": (100, 3533, 1162),
    "biored/Test.PubTator.txt": (100, 3535, 1163),
    "ncbi-disease/NCBItrainset_corpus.txt": (593, 5145, 0),
    "ncbi-disease/NCBIdevelopset_corpus.txt": (100, 787, 0),
    "ncbi-disease/NCBItestset_corpus.txt": (100, 960, 0),
    "bc5cdr-sample/CDR_sample.gold.PubTator": (50, 934, 123),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_corpus(nlp: Language, name: str) -> None:
    path = CORPORA / name
    if not path.is_file():
        pytest.skip(f"real corpus not found: {path}")
    start = time.perf_counter()
    docbin, report = convert_corpus(path, "pubtator", nlp=nlp)
    seconds = time.perf_counter() - start
    totals = report.totals()
    reasons = sorted({r["reason"].split(":")[0] for r in report.rejected_records})
    print(f"\n{name}: documents {report.documents}, sentences {report.sentences}, source {totals['source']}, "
          f"exact {totals['exact']}, adjusted {totals['adjusted']}, rejected {totals['rejected']} {reasons}, "
          f"skipped {dict(report.skipped)}, {seconds:.1f}s")
    documents, mentions, relations = EXPECTED[name]
    assert report.documents == len(docbin) == documents
    assert totals["source"] == mentions
    assert report.skipped.get("relations", 0) == relations
    assert report.is_balanced()
    assert totals["exact"] + totals["adjusted"] + totals["rejected"] == totals["source"]
    assert totals["rejected"] <= 0.005 * totals["source"]
