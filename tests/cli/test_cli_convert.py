"""``spacy_bioner convert``: BRAT in, DocBin + report out, clean failures."""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
import srsly
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.corpora import convert as convert_module
from spacy_bioner.corpora.report import ConversionReport

TEXT_A = "Mutations in BRCA1 cause breast cancer. TP53 is also mutated.\n"
ANN_A = "T1\tGene 13 18\tBRCA1\nT2\tDisease 25 38\tbreast cancer\nT3\tGene 40 44\tTP53\n"
TEXT_B = "Ovarian cancer is rare.\n"
ANN_B = "T1\tDisease 0 14\tOvarian cancer\nN1\tReference T1 MeSH:D010051\n"


@pytest.fixture
def corpus(tmp_path, monkeypatch, write_brat) -> Path:
    """Two BRAT documents in ``corpus/``; the working directory is tmp_path, so
    paths (and messages) stay short."""
    monkeypatch.chdir(tmp_path)
    write_brat(Path("corpus"), "a", TEXT_A, ann=ANN_A)
    write_brat(Path("corpus"), "b", TEXT_B, ann=ANN_B)
    return Path("corpus")


def run(*args: str):
    result = CliRunner().invoke(app, ["convert", *map(str, args), "--format", "brat", "--quiet"])
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    return result, " ".join(plain.split())


def read_docs(path: Path, nlp) -> list[Doc]:
    return list(DocBin().from_disk(path).get_docs(nlp.vocab))


def ents(doc: Doc) -> list[tuple[str, str]]:
    return [(e.text, e.label_) for e in doc.ents]


def test_convert_writes_docbin_and_report(corpus, nlp_bio):
    result, out = run(corpus, "out/train.spacy")
    assert result.exit_code == 0, out
    assert "Traceback" not in out
    docs = read_docs(Path("out/train.spacy"), nlp_bio)
    assert [ents(d) for d in docs] == [
        [("BRCA1", "Gene"), ("breast cancer", "Disease"), ("TP53", "Gene")],
        [("Ovarian cancer", "Disease")],
    ]
    assert docs[1].ents[0].kb_id_ == "MeSH:D010051"
    assert [d.text for d in docs] == [TEXT_A, TEXT_B]
    sources = [d.user_data["bioner_source"] for d in docs]
    assert [(s["file"], s["doc_id"], s["char_offset"]) for s in sources] == [("a.txt", "a", 0), ("b.txt", "b", 0)]
    report = srsly.read_json("out/train.report.json")
    assert report["format"] == "brat" and report["documents"] == 2
    assert report["totals"] == {"source": 4, "exact": 4, "adjusted": 0, "rejected": 0, "dropped": 0}
    assert report["skipped"] == {"normalizations": 1}
    assert "out/train.spacy" in out
    # document mode keeps the sentence boundaries in the DocBin
    assert [s.text for s in docs[0].sents] == ["Mutations in BRCA1 cause breast cancer.", "TP53 is also mutated.\n"]


def test_directory_output_named_after_input(corpus, nlp_bio):
    result, out = run(corpus, "outdir")
    assert result.exit_code == 0, out
    assert sorted(p.name for p in Path("outdir").iterdir()) == ["corpus.report.json", "corpus.spacy"]
    assert len(read_docs(Path("outdir/corpus.spacy"), nlp_bio)) == 2


def test_sentences_option(corpus, nlp_bio):
    result, out = run(corpus, "sents.spacy", "--sentences")
    assert result.exit_code == 0, out
    docs = read_docs(Path("sents.spacy"), nlp_bio)
    assert [d.text for d in docs] == [
        "Mutations in BRCA1 cause breast cancer.", "TP53 is also mutated.\n", "Ovarian cancer is rare.\n"]
    assert [ents(d) for d in docs] == [
        [("BRCA1", "Gene"), ("breast cancer", "Disease")], [("TP53", "Gene")], [("Ovarian cancer", "Disease")]]
    sources = [d.user_data["bioner_source"] for d in docs]
    assert [(s["doc_id"], s["sentence"], s["char_offset"]) for s in sources] == [("a", 0, 0), ("a", 1, 40), ("b", 0, 0)]
    tp53 = docs[1].ents[0]
    assert TEXT_A[40 + tp53.start_char: 40 + tp53.end_char] == "TP53"
    report = srsly.read_json("sents.report.json")
    assert report["sentences"] == report["output_docs"] == 3


def test_spans_key_option(corpus, nlp_bio):
    result, out = run(corpus, "k.spacy", "--spans-key", "mentions")
    assert result.exit_code == 0, out
    doc = read_docs(Path("k.spacy"), nlp_bio)[0]
    assert list(doc.spans.keys()) == ["mentions"]
    assert [s.text for s in doc.spans["mentions"]] == ["BRCA1", "breast cancer", "TP53"]


def test_label_map_option(corpus, nlp_bio):
    Path("map.json").write_text(json.dumps({"Disease": "DISEASE", "Gene": None}))
    result, out = run(corpus, "m.spacy", "--label-map", "map.json")
    assert result.exit_code == 0, out
    docs = read_docs(Path("m.spacy"), nlp_bio)
    assert [ents(d) for d in docs] == [[("breast cancer", "DISEASE")], [("Ovarian cancer", "DISEASE")]]
    report = srsly.read_json("m.report.json")
    assert report["labels"]["Gene"]["dropped"] == 2
    assert report["totals"]["dropped"] == 2 and report["totals"]["exact"] == 2


def test_label_map_not_utf8_names_the_file(corpus):
    Path("latin1.tsv").write_bytes("Disease\tEnfermedad_\xf1\n".encode("latin-1"))
    result, out = run(corpus, "m.spacy", "--label-map", "latin1.tsv")
    assert result.exit_code == 1
    assert "Traceback" not in out
    assert "[E012] Label map 'latin1.tsv' is not valid: not UTF-8" in out


def test_invalid_option_value_fails_cleanly(corpus):
    result, out = run(corpus, "o.spacy", "--discontinuous", "merge")
    assert result.exit_code == 1
    assert "[E011] Unknown discontinuous-span policy 'merge'" in out and "span, split, skip" in out
    assert not Path("o.spacy").exists()


def test_strict_fails_without_writing(corpus):
    # spaCy's tokenizer keeps "BRCA1/2" whole, so T2 must be adjusted
    write_dir = Path("strict_in")
    text = "IL-6 levels in BRCA1/2 carriers.\n"
    write_dir.mkdir()
    (write_dir / "s.txt").write_text(text)
    (write_dir / "s.ann").write_text("T1\tGene 0 4\tIL-6\nT2\tGene 15 20\tBRCA1\n")
    Path("kept.spacy").write_bytes(b"previous output")
    result, out = run(write_dir, "kept.spacy", "--strict", "--tokenizer", "spacy")
    assert result.exit_code != 0
    assert "[E015]" in out and "s.ann:2" in out and "T2" in out and "BRCA1" in out
    assert "Traceback" not in out
    assert Path("kept.spacy").read_bytes() == b"previous output"
    assert not Path("kept.report.json").exists()
    result, out = run(write_dir, "new.spacy", "--strict", "--tokenizer", "spacy")
    assert result.exit_code != 0
    assert not Path("new.spacy").exists()
    # without --strict the same input converts, with the adjustment reported
    result, out = run(write_dir, "new.spacy", "--tokenizer", "spacy")
    assert result.exit_code == 0, out
    assert srsly.read_json("new.report.json")["totals"]["adjusted"] == 1


def test_malformed_input_fails_cleanly(corpus):
    Path("corpus/c.txt").write_text("Some text.\n")
    Path("corpus/c.ann").write_text("T1\tGene 0 4\tSome\nT2\tGene four 9\ttext\n")
    result, out = run(corpus, "bad.spacy")
    assert result.exit_code == 1
    assert "[E002] c.ann:2:" in out
    assert "Traceback" not in out
    assert not Path("bad.spacy").exists()


def test_missing_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result, out = run("no_such_corpus", "x.spacy")
    assert result.exit_code == 1
    assert "[E009] Input 'no_such_corpus' does not exist" in out
    assert "Traceback" not in out
    assert not Path("x.spacy").exists()


# -- bad options and outputs: a message naming the problem, nothing written -------------------------------
def assert_failed(result, out: str, code: str, *written: str) -> None:
    assert result.exit_code == 1, out
    assert f"[{code}]" in out and "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for path in written:
        assert not Path(path).exists(), path


def test_missing_label_map_is_named_as_the_label_map(corpus):
    result, out = run(corpus, "m.spacy", "--label-map", "no_map.json")
    assert_failed(result, out, "E012", "m.spacy")
    assert "Label map 'no_map.json' is not valid: no such file" in out and "Input" not in out


def test_unknown_language(corpus):
    result, out = run(corpus, "l.spacy", "--lang", "xx0")
    assert_failed(result, out, "E025", "l.spacy", "l.report.json")
    assert "Unknown language 'xx0'" in out


def test_output_is_an_existing_file_without_spacy_ending(corpus):
    Path("notes.txt").write_text("mine")
    result, out = run(corpus, "notes.txt")
    assert_failed(result, out, "E026")
    assert "OUTPUT 'notes.txt' is an existing file that is not a .spacy file" in out
    assert Path("notes.txt").read_text() == "mine"


def test_output_is_an_existing_directory_named_spacy(corpus, nlp_bio):
    Path("dir.spacy").mkdir()
    result, out = run(corpus, "dir.spacy")
    assert result.exit_code == 0, out
    assert sorted(p.name for p in Path("dir.spacy").iterdir()) == ["corpus.report.json", "corpus.spacy"]
    assert len(read_docs(Path("dir.spacy/corpus.spacy"), nlp_bio)) == 2


@pytest.mark.parametrize("directory", ["out.report.json", "out.spacy/corpus.spacy"])
def test_output_or_report_path_is_a_directory(corpus, directory):
    Path(directory).mkdir(parents=True)
    result, out = run(corpus, "out.spacy")
    assert_failed(result, out, "E027")
    assert f"'{directory}' is a directory" in out


def test_document_limit_option(corpus):
    result, out = run(corpus, "lim.spacy", "--max-doc-chars", "30")
    assert_failed(result, out, "E024", "lim.spacy", "lim.report.json")
    assert "a.txt: the document has 62 characters, more than the maximum document size of 30" in out


def test_huge_offsets_with_a_raised_limit_still_write_the_report(corpus):
    # ujson (srsly) raises OverflowError on integers over 64 bits; the report must be written anyway
    Path("corpus/c.txt").write_text("Some text.\n")
    Path("corpus/c.ann").write_text(f"T1\tGene 0 {10**25}\tSome text.\n")
    result, out = run(corpus, "big.spacy", "--max-offset", str(10**30))
    assert result.exit_code == 0, out
    report = json.loads(Path("big.report.json").read_text())
    assert report["totals"]["rejected"] == 1 and report["rejected"][0]["fragments"] == [[0, 10**25]]
    assert Path("big.spacy").stat().st_size > 0


def test_files_get_the_mode_the_umask_allows(corpus):
    old = os.umask(0o027)
    try:
        result, out = run(corpus, "perm.spacy")
    finally:
        os.umask(old)
    assert result.exit_code == 0, out
    assert stat.S_IMODE(Path("perm.spacy").stat().st_mode) == 0o640
    assert stat.S_IMODE(Path("perm.report.json").stat().st_mode) == 0o640


def _old_pair() -> tuple[bytes, bytes]:
    Path("pair.spacy").write_bytes(b"old DocBin")
    Path("pair.report.json").write_bytes(b"old report")
    return b"old DocBin", b"old report"


def test_report_that_cannot_be_serialised_leaves_the_old_pair(corpus, monkeypatch):
    old = _old_pair()

    def broken(self):
        raise OverflowError("int too big to convert")

    monkeypatch.setattr(ConversionReport, "to_bytes", broken)
    result, _ = run(corpus, "pair.spacy")
    assert isinstance(result.exception, OverflowError)
    assert (Path("pair.spacy").read_bytes(), Path("pair.report.json").read_bytes()) == old
    assert sorted(p.name for p in Path().iterdir() if p.name.startswith(".")) == []


def test_failed_move_of_the_docbin_puts_the_old_report_back(corpus, monkeypatch):
    old = _old_pair()
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(".spacy"):
            raise PermissionError(13, "Permission denied", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(convert_module.os, "replace", replace)
    result, out = run(corpus, "pair.spacy")
    assert_failed(result, out, "E028")
    assert "'pair.spacy' cannot be written" in out
    assert (Path("pair.spacy").read_bytes(), Path("pair.report.json").read_bytes()) == old
    assert sorted(p.name for p in Path().iterdir() if p.name.startswith(".")) == []
