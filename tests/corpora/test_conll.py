"""Tests of the CoNLL / IOB reader, run through ``convert_corpus`` (reader + DocBuilder + DocBin)."""
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
from spacy_bioner.corpora.conll import decode_tags, read_conll
from spacy_bioner.corpora.convert import convert_corpus, make_nlp
from spacy_bioner.corpora.limits import Limits
from spacy_bioner.corpora.report import ConversionReport
from spacy_bioner.errors import BioNERInputError

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "conll"


# -- helpers ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def nlp() -> Language:
    return make_nlp("en")


def _write(tmp_path: Path, content: str, name: str = "corpus.tsv", newline: str = "\n",
           prefix: bytes = b"") -> Path:
    """Write ``content`` (written with LF) as UTF-8 with the given line ends."""
    path = tmp_path / name
    path.write_bytes(prefix + content.replace("\n", newline).encode("utf-8"))
    return path


def _convert(nlp: Language, path: Path, **options) -> tuple[list[Doc], ConversionReport]:
    docbin, report = convert_corpus(path, "conll", nlp=nlp, **options)
    return list(docbin.get_docs(nlp.vocab)), report


def _ents(doc: Doc) -> list[tuple[str, str]]:
    return [(e.text, e.label_) for e in doc.ents]


def _sents(doc: Doc) -> list[str]:
    return [s.text for s in doc.sents]


def _error(path: Path, **reader_options) -> str:
    with pytest.raises(BioNERInputError) as excinfo:
        list(read_conll(path, ConversionReport(), **reader_options))
    return str(excinfo.value)


# Two sentences, no -DOCSTART-: a single-token entity, a three-token entity at
# the end of the last sentence, and no blank line (not even a newline) at the end.
IOB2 = """Famotidine\tB-Chemical
-\tO
associated\tO
delirium\tB-Disease
.\tO

Acute\tB-Disease
renal\tI-Disease
failure\tI-Disease"""


# -- columns, tag schemes -----------------------------------------------------------
def test_iob2_tab_separated(nlp: Language, tmp_path: Path) -> None:
    docs, report = _convert(nlp, _write(tmp_path, IOB2))
    # no -DOCSTART-: one Doc per sentence
    assert [d.text for d in docs] == ["Famotidine - associated delirium .", "Acute renal failure"]
    assert _ents(docs[0]) == [("Famotidine", "Chemical"), ("delirium", "Disease")]
    # entity at the end of the sentence and of the file, no trailing newline
    assert _ents(docs[1]) == [("Acute renal failure", "Disease")]
    assert [(e.start, e.end) for e in docs[1].ents] == [(0, 3)]
    assert [list(d.spans["sc"]) == list(d.ents) for d in docs] == [True, True]
    assert report.documents == 2 and report.sentences == 2 and report.output_docs == 2
    labels = report.to_dict()["labels"]
    assert labels["Chemical"]["source"] == 1 and labels["Chemical"]["exact"] == 1
    assert labels["Disease"]["source"] == 2 and labels["Disease"]["exact"] == 2
    assert report.totals() == {"source": 3, "exact": 3, "adjusted": 0, "rejected": 0, "dropped": 0}
    assert report.is_balanced()
    assert report.document_issues == []
    src = docs[1].user_data[SOURCE_KEY]
    assert src["file"] == "corpus.tsv" and src["line"] == 7


def test_report_balance_detects_a_missing_outcome() -> None:
    report = ConversionReport()
    report.count_source("Disease")
    report.exact("Disease")
    assert report.is_balanced()
    report.count_source("Disease")
    assert not report.is_balanced()


@pytest.mark.parametrize("sep", ["\t", " ", "  "])
def test_extra_middle_columns(nlp: Language, tmp_path: Path, sep: str) -> None:
    rows = [("Famotidine", "NNP", "B-NP", "B-Chemical"), ("-", "HYPH", "O", "O"),
            ("associated", "VBN", "B-VP", "O"), ("delirium", "NN", "B-NP", "B-Disease"), (".", ".", "O", "O")]
    content = "\n".join(sep.join(r) for r in rows) + "\n"
    docs, report = _convert(nlp, _write(tmp_path, content))
    assert [d.text for d in docs] == ["Famotidine - associated delirium ."]
    assert _ents(docs[0]) == [("Famotidine", "Chemical"), ("delirium", "Disease")]
    assert report.totals()["exact"] == 2


def test_space_separated_two_columns(nlp: Language, tmp_path: Path) -> None:
    docs, _ = _convert(nlp, _write(tmp_path, IOB2.replace("\t", " ") + "\n\n"))
    assert [_ents(d) for d in docs] == [[("Famotidine", "Chemical"), ("delirium", "Disease")],
                                        [("Acute renal failure", "Disease")]]


# I- starts an entity; B- separates adjacent entities of the same type.
IOB1 = """p53\tI-Gene
protein\tI-Gene
MDM2\tB-Gene
gene\tI-Gene
in\tO
cancer\tI-Disease
"""


def test_iob1_forced(nlp: Language, tmp_path: Path) -> None:
    docs, report = _convert(nlp, _write(tmp_path, IOB1), reader_options={"scheme": "iob1"})
    assert _ents(docs[0]) == [("p53 protein", "Gene"), ("MDM2 gene", "Gene"), ("cancer", "Disease")]
    assert report.totals()["exact"] == 3
    assert report.document_issues == []  # I- after O is legal IOB1


@pytest.mark.parametrize("scheme", ["auto", "iob2"])
def test_inside_after_outside_in_iob2_starts_an_entity_and_is_reported(
        nlp: Language, tmp_path: Path, scheme: str) -> None:
    docs, report = _convert(nlp, _write(tmp_path, IOB1), reader_options={"scheme": scheme})
    assert _ents(docs[0]) == [("p53 protein", "Gene"), ("MDM2 gene", "Gene"), ("cancer", "Disease")]
    assert report.is_balanced() and report.totals()["exact"] == 3
    assert len(report.document_issues) == 1
    issue = report.document_issues[0]
    assert issue["file"] == "corpus.tsv"
    assert issue["issue"].startswith("[W007] entities that begin with an inside tag (I-/M-/E-/L- without a B-): 2,")
    assert "in the lines from 1;" in issue["issue"]


def test_inside_tag_of_another_type_starts_a_new_entity(nlp: Language, tmp_path: Path) -> None:
    content = "Aspirin\tB-Chemical\nasthma\tI-Disease\n"
    docs, report = _convert(nlp, _write(tmp_path, content))
    assert _ents(docs[0]) == [("Aspirin", "Chemical"), ("asthma", "Disease")]
    assert len(report.document_issues) == 1 and report.document_issues[0]["issue"].startswith("[W007]")
    assert ": 1, in the lines from 1;" in report.document_issues[0]["issue"]


def test_adjacent_entities(nlp: Language, tmp_path: Path) -> None:
    content = ("cisplatin\tB-Chemical\nnephrotoxicity\tB-Disease\n"
               "BRCA1\tB-Gene\nBRCA2\tB-Gene\nmutation\tI-Gene\n")
    docs, report = _convert(nlp, _write(tmp_path, content))
    assert _ents(docs[0]) == [("cisplatin", "Chemical"), ("nephrotoxicity", "Disease"),
                              ("BRCA1", "Gene"), ("BRCA2 mutation", "Gene")]
    assert [(e.start, e.end) for e in docs[0].ents] == [(0, 1), (1, 2), (2, 3), (3, 5)]
    assert report.document_issues == []


BIOES = """IL-2\tS-Gene
IL-4\tS-Gene
induce\tO
acute\tB-Disease
renal\tI-Disease
failure\tE-Disease
in\tO
T\tB-Cell
cells\tE-Cell
"""
BIOES_ENTS = [("IL-2", "Gene"), ("IL-4", "Gene"), ("acute renal failure", "Disease"), ("T cells", "Cell")]


@pytest.mark.parametrize("scheme", ["auto", "bioes", "bilou"])
@pytest.mark.parametrize("letters", ["BIOES", "BILOU"])
def test_bioes_and_bilou(nlp: Language, tmp_path: Path, scheme: str, letters: str) -> None:
    content = BIOES
    if letters == "BILOU":
        content = content.replace("\tS-", "\tU-").replace("\tE-", "\tL-")
    docs, report = _convert(nlp, _write(tmp_path, content), reader_options={"scheme": scheme})
    assert _ents(docs[0]) == BIOES_ENTS
    assert report.totals()["exact"] == 4
    assert report.document_issues == []


def test_bioes_end_tag_closes_the_entity() -> None:
    # E- closes: the following I- opens a new (orphan) entity instead of continuing
    tags = [("B", "X"), ("E", "X"), ("I", "X"), ("O", ""), ("S", "X"), ("S", "X")]
    assert decode_tags(tags, "bioes") == ([(0, 2, "X"), (2, 3, "X"), (4, 5, "X"), (5, 6, "X")], 1)
    assert decode_tags(tags, "auto") == decode_tags(tags, "bilou") == decode_tags(tags, "bioes")
    assert decode_tags(tags[:3], "iob2") == ([(0, 3, "X")], 0)


def test_unknown_scheme(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, IOB2), scheme="bio")
    assert message.startswith("[E011] Unknown tag scheme 'bio'") and "bilou" in message


# -- documents and sentences ----------------------------------------------------------
DOCSTART = """-DOCSTART-\tO

IL-2\tB-protein
gene\tI-DNA
expression\tO
.\tO

T\tB-cell_type
cells\tI-cell_type
.\tO

-DOCSTART-\tO

NF-kappa\tB-protein
B\tI-protein
binds\tO
"""


def test_docstart_groups_sentences(nlp: Language, tmp_path: Path) -> None:
    docs, report = _convert(nlp, _write(tmp_path, DOCSTART))
    assert [d.text for d in docs] == ["IL-2 gene expression . T cells .", "NF-kappa B binds"]
    assert [t.is_sent_start for t in docs[0]] == [True, False, False, False, True, False, False]
    assert _sents(docs[0]) == ["IL-2 gene expression .", "T cells ."]
    assert _sents(docs[1]) == ["NF-kappa B binds"]
    assert _ents(docs[0]) == [("IL-2", "protein"), ("gene", "DNA"), ("T cells", "cell_type")]
    assert _ents(docs[1]) == [("NF-kappa B", "protein")]
    assert "-DOCSTART-" not in docs[0].text + docs[1].text
    assert report.documents == 2 and report.sentences == 3 and report.output_docs == 2
    ids = [d.user_data[SOURCE_KEY]["doc_id"] for d in docs]
    assert len(set(ids)) == 2
    # "gene" is I-DNA after B-protein: an entity begins with an inside tag
    assert [i["doc_id"] for i in report.document_issues] == [ids[0]]


def test_without_docstart_one_doc_per_sentence(nlp: Language, tmp_path: Path) -> None:
    docs, report = _convert(nlp, _write(tmp_path, DOCSTART.replace("-DOCSTART-\tO\n\n", "")))
    assert [d.text for d in docs] == ["IL-2 gene expression .", "T cells .", "NF-kappa B binds"]
    assert report.documents == 3 and report.sentences == 3
    assert all(d[0].is_sent_start for d in docs)


def test_sentences_mode_on_docstart_file(nlp: Language, tmp_path: Path) -> None:
    path = _write(tmp_path, DOCSTART)
    whole, _ = _convert(nlp, path)
    sents, report = _convert(nlp, path, sentences=True)
    assert [d.text for d in sents] == ["IL-2 gene expression .", "T cells .", "NF-kappa B binds"]
    assert [_ents(d) for d in sents] == [[("IL-2", "protein"), ("gene", "DNA")], [("T cells", "cell_type")],
                                         [("NF-kappa B", "protein")]]
    texts = {d.user_data[SOURCE_KEY]["doc_id"]: d.text for d in whole}
    meta = [d.user_data[SOURCE_KEY] for d in sents]
    assert [m["sentence"] for m in meta] == [0, 1, 0]
    assert [m["char_offset"] for m in meta] == [0, 23, 0]
    for doc, m in zip(sents, meta, strict=True):
        offset = m["char_offset"]
        assert texts[m["doc_id"]][offset: offset + len(doc.text)] == doc.text
    assert report.documents == 2 and report.sentences == 3 and report.output_docs == 3
    assert report.totals()["exact"] == 4


def test_directory_skips_label_and_readme_files(nlp: Language, tmp_path: Path) -> None:
    _write(tmp_path, IOB2, name="train.txt")
    _write(tmp_path, "O\nB-Chemical\nI-Chemical\nB-Disease\nI-Disease", name="labels.txt")
    _write(tmp_path, "Converted with a script.\n", name="README.txt")
    docs, report = _convert(nlp, tmp_path)
    assert report.files == 1
    assert [d.user_data[SOURCE_KEY]["file"] for d in docs] == ["train.txt", "train.txt"]
    assert report.totals()["exact"] == 3

# -- encodings, line ends, errors -----------------------------------------------------
def test_bom_and_crlf(nlp: Language, tmp_path: Path) -> None:
    path = _write(tmp_path, IOB2 + "\n", newline="\r\n", prefix=b"\xef\xbb\xbf")
    docs, report = _convert(nlp, path)
    assert [t.text for t in docs[0]][:2] == ["Famotidine", "-"]
    assert [d.text for d in docs] == ["Famotidine - associated delirium .", "Acute renal failure"]
    assert [_ents(d) for d in docs] == [[("Famotidine", "Chemical"), ("delirium", "Disease")],
                                        [("Acute renal failure", "Disease")]]
    assert report.totals()["exact"] == 3


def test_cr_line_ends(nlp: Language, tmp_path: Path) -> None:
    docs, _ = _convert(nlp, _write(tmp_path, IOB2, newline="\r"))
    assert [_ents(d) for d in docs] == [[("Famotidine", "Chemical"), ("delirium", "Disease")],
                                        [("Acute renal failure", "Disease")]]


def test_non_ascii_tokens(tmp_path: Path) -> None:
    content = ("Se\tO\nadministró\tO\nácido\tB-NORMALIZABLES\nacetilsalicílico\tI-NORMALIZABLES\n"
               "500\tO\nµg\tO\ny\tO\nα-sinucleína\tB-PROTEINAS\n")
    nlp_es = make_nlp("es")
    docs, report = _convert(nlp_es, _write(tmp_path, content, name="dev.txt"))
    assert docs[0].text == "Se administró ácido acetilsalicílico 500 µg y α-sinucleína"
    assert _ents(docs[0]) == [("ácido acetilsalicílico", "NORMALIZABLES"), ("α-sinucleína", "PROTEINAS")]
    assert [t.text for t in docs[0]][5] == "µg"
    assert report.totals() == {"source": 2, "exact": 2, "adjusted": 0, "rejected": 0, "dropped": 0}


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ("Aspirin\tB-Chemical\nasthma\n", 2, "has one column"),
        ("Aspirin\tB-Chemical\n\nasthma\tX-Disease\n", 3, "invalid tag 'X-Disease'"),
        ("Aspirin\tB-\n", 1, "invalid tag 'B-'"),
        ("Aspirin\tB-Chemical\n\tO\n", 2, "empty token"),
    ],
)
def test_malformed_line(tmp_path: Path, content: str, line: int, expected: str) -> None:
    message = _error(_write(tmp_path, content, name="bad.tsv"))
    assert re.match(rf"\[E00[45]\] bad\.tsv:{line}: ", message), message
    assert expected in message


@pytest.mark.parametrize("sep", ["\t", " "])
@pytest.mark.parametrize("char", ["\u00a0", "\u2009", "\x1c", "\x1f", "\x0b", "\x0c", "\x85", "\u2028"])
def test_token_keeps_no_break_space_and_control_characters(nlp: Language, tmp_path: Path, sep: str,
                                                           char: str) -> None:
    # str.split() would cut these tokens at the character (Unicode white space), changing their text
    content = f"10{char}mg{sep}B-Dose\nof{sep}O\nasp{char}irin{sep}B-Chemical\n"
    docs, report = _convert(nlp, _write(tmp_path, content))
    assert [t.text for t in docs[0]] == [f"10{char}mg", "of", f"asp{char}irin"]
    assert _ents(docs[0]) == [(f"10{char}mg", "Dose"), (f"asp{char}irin", "Chemical")]
    assert report.totals()["exact"] == 2


def test_line_of_unicode_space_is_not_blank(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, "Aspirin\tB-Chemical\n\u00a0\nasthma\tB-Disease\n", name="bad.tsv"))
    assert message.startswith("[E004] bad.tsv:2: ") and "has one column" in message


def test_cr_before_crlf_ends_a_line(nlp: Language, tmp_path: Path) -> None:
    # "I-X\r\r\n" is a line and an empty line: the sentence ends there
    path = tmp_path / "mixed.tsv"
    path.write_bytes(b"Acute\tB-Disease\r\r\nrenal\tI-Disease\r\n")
    docs, report = _convert(nlp, path)
    assert [_ents(d) for d in docs] == [[("Acute", "Disease")], [("renal", "Disease")]]
    assert report.totals()["source"] == 2


def test_document_over_the_limit(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, DOCSTART, name="long.tsv"), limits=Limits(max_chars=20))
    assert message.startswith("[E024] long.tsv:3 [document long-00001]: the document has")


def test_invalid_utf8_reports_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"Aspirin\tB-Chemical\n.\tO\n\nasthma\xff\tB-Disease\n")
    message = _error(path)
    assert message.startswith("[E001] bad.tsv:4:") and "not valid UTF-8" in message


# -- command line -----------------------------------------------------------------------
def _plain(output: str) -> str:
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", output).split())


def test_cli_convert(nlp: Language, tmp_path: Path) -> None:
    src = _write(tmp_path, DOCSTART, name="jnlpba.tsv")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["convert", str(src), str(out), "--format", "conll", "--quiet"])
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(out / "jnlpba.spacy").get_docs(nlp.vocab))
    assert [_ents(d) for d in docs] == [[("IL-2", "protein"), ("gene", "DNA"), ("T cells", "cell_type")],
                                        [("NF-kappa B", "protein")]]
    report = srsly.read_json(out / "jnlpba.report.json")
    assert report["format"] == "conll" and report["documents"] == 2 and report["sentences"] == 3
    assert report["totals"]["source"] == report["totals"]["exact"] == 4
    assert report["labels"]["protein"]["exact"] == 2


def test_cli_convert_sentences_and_scheme(tmp_path: Path) -> None:
    src = _write(tmp_path, BIOES.replace("\tS-", "\tU-").replace("\tE-", "\tL-"), name="bilou.tsv")
    out = tmp_path / "bilou.spacy"
    result = CliRunner().invoke(app, ["convert", str(src), str(out), "-f", "conll", "--scheme", "bilou",
                                      "--sentences", "-q"])
    assert result.exit_code == 0, result.output
    report = srsly.read_json(tmp_path / "bilou.report.json")
    assert report["totals"]["exact"] == 4 and report["output_docs"] == 1


def test_cli_malformed_file(tmp_path: Path) -> None:
    src = _write(tmp_path, "Aspirin\tB-Chemical\n\nasthma\tX-Disease\n", name="bad.tsv")
    result = CliRunner().invoke(app, ["convert", str(src), str(tmp_path / "out"), "--format", "conll", "-q"])
    assert result.exit_code == 1, result.output
    assert "bad.tsv:3" in _plain(result.output)
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "bad.spacy").exists()


# -- real corpora ---------------------------------------------------------------------------
def _real_files() -> list[Path]:
    if not CORPORA.is_dir():
        return []
    files = sorted(CORPORA.glob("*/*.tsv"))
    files += [CORPORA / "PharmaCoNER-CongSun" / f"{s}.txt" for s in ("train", "dev", "test")]
    return [f for f in files if f.is_file()]


# Entity counts stated in SOURCES.md (counted from B- tags).
EXPECTED = {
    "NCBI-disease-IOB/train.tsv": 5134,
    "NCBI-disease-IOB/devel.tsv": 787,
    "NCBI-disease-IOB/test.tsv": 960,
    "BC5CDR-IOB/train.tsv": 9385,
    "BC5CDR-IOB/devel.tsv": 9593,
    "BC5CDR-IOB/test.tsv": 9809,
    "BC2GM-IOB/test.tsv": 6325,
    "CRAFT-IOB/train.tsv": 29026,
    "JNLPBA/devel.tsv": 4551,
    "JNLPBA/test.tsv": 8662,
    "PharmaCoNER-CongSun/train.txt": 5047,
    "PharmaCoNER-CongSun/dev.txt": 563,
    "PharmaCoNER-CongSun/test.txt": 1842,
}
# Sentences stated in SOURCES.md; JNLPBA documents from its -DOCSTART- lines.
EXPECTED_SENTENCES = {"NCBI-disease-IOB/train.tsv": 5424, "JNLPBA/test.tsv": 3856,
                      "PharmaCoNER-CongSun/train.txt": 9411}
EXPECTED_DOCUMENTS = {"JNLPBA/devel.tsv": 200, "JNLPBA/test.tsv": 404}


@pytest.fixture(scope="module")
def real_nlps() -> dict[str, Language]:
    return {"en": make_nlp("en"), "es": make_nlp("es")}


@pytest.mark.slow
@pytest.mark.parametrize("path", _real_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_corpus(real_nlps: dict[str, Language], path: Path) -> None:
    """The whole conversion (reader, DocBuilder, DocBin) over every real split."""
    name = f"{path.parent.name}/{path.name}"
    nlp = real_nlps["es" if path.parent.name.startswith("PharmaCoNER") else "en"]
    start = time.perf_counter()
    docbin, report = convert_corpus(path, "conll", nlp=nlp)
    n_docs = len(docbin)
    seconds = time.perf_counter() - start
    totals = report.totals()
    print(f"\n{name}: documents {report.documents}, sentences {report.sentences}, source {totals['source']}, "
          f"exact {totals['exact']}, adjusted {totals['adjusted']}, rejected {totals['rejected']}, "
          f"issues {len(report.document_issues)}, {seconds:.1f}s")
    assert n_docs == report.output_docs == report.documents
    assert report.is_balanced()
    assert totals["exact"] + totals["adjusted"] + totals["rejected"] == totals["source"]
    assert totals["rejected"] <= 0.005 * totals["source"]
    if name in EXPECTED:
        assert totals["source"] == EXPECTED[name]
    if name in EXPECTED_SENTENCES:
        assert report.sentences == EXPECTED_SENTENCES[name]
    if name in EXPECTED_DOCUMENTS:
        assert report.documents == EXPECTED_DOCUMENTS[name]



@pytest.mark.slow
def test_real_corpus_through_convert_corpus(real_nlps: dict[str, Language]) -> None:
    """The whole path, DocBin included, on the file with -DOCSTART- documents."""
    path = CORPORA / "JNLPBA" / "test.tsv"
    if not path.is_file():
        pytest.skip(f"real corpus not found: {path}")
    nlp = real_nlps["en"]
    docbin, report = convert_corpus(path, "conll", nlp=nlp)
    docs = list(docbin.get_docs(nlp.vocab))
    assert len(docs) == report.documents == 404
    assert sum(len(list(d.sents)) for d in docs) == report.sentences == 3856
    assert sum(len(d.ents) for d in docs) == report.totals()["exact"] == 8662
    assert all("-DOCSTART-" not in t.text for d in docs for t in d)
    assert {e.label_ for d in docs for e in d.ents} == {"protein", "cell_type", "DNA", "cell_line", "RNA"}
