"""Tests of the ``annotate`` command, run through typer's CliRunner with the
tiny saved pipeline: formats, the summary, failed documents, labels, the
HTML sample, the checks of OUTPUT; and its progress bar."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_fakes import write_jsonl_corpus
from typer.testing import CliRunner

from spacy_bioner.annotate.progress import Progress
from spacy_bioner.annotate.types import Failure, Shard, ShardResult
from spacy_bioner.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["annotate", *args, "--quiet"])
    return result.exit_code, result.output


def _predicted(line: str) -> list[dict]:
    return json.loads(line)["spans"]


def test_jsonl_run_with_a_malformed_document(annotate_pipeline_dir: Path, tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "corpus", files=2, docs=5, bad=[(0, 2)])
    out = tmp_path / "out"
    code, output = _run(str(annotate_pipeline_dir), str(corpus), str(out), "--format", "jsonl",
                        "--shard-size", "2")
    assert code == 0, output
    assert "10 documents: 9 done, 1 failed" in output
    assert "part0.jsonl:3 [#3]: [E954]" in output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["in"] == 10 and manifest["counts"]["failed"] == 1
    assert manifest["failures"][0]["file"] == "part0.jsonl:3" and "[E954]" in manifest["failures"][0]["reason"]
    assert manifest["outputs"] == ["part0.jsonl", "part1.jsonl"]
    # the other documents are all written, in input order, each with its predictions
    inputs = [json.loads(line)["id"] for line in (corpus / "part0.jsonl").read_text().splitlines()
              if not line.endswith(": ")]
    lines = (out / "part0.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == inputs
    assert sum(len(_predicted(line)) for line in lines) > 0
    assert not (out / ".shards").exists()


def test_brat_input_with_labels_two_workers_and_a_html_sample(
        annotate_pipeline_dir: Path, tmp_path: Path, write_brat: Callable[..., Path]) -> None:
    texts = ["Patients with breast cancer received tamoxifen daily .",
             "Cisplatin induced nephrotoxicity in two rats .", "No adverse events were seen ."]
    for k, text in enumerate(texts):
        write_brat(tmp_path / "corpus" / f"sub{k % 2}", f"doc{k}", text, ann="T1\tOld 0 8\tPatients\n" if k == 0 else "")
    out = tmp_path / "out"
    code, output = _run(str(annotate_pipeline_dir), str(tmp_path / "corpus"), str(out), "--format", "brat",
                        "--labels", "Disease=disease", "--workers", "2", "--shard-size", "1", "--html", "2")
    assert code == 0, output
    assert "3 documents: 3 done, 0 failed" in output
    for k, text in enumerate(texts):
        txt = out / f"sub{k % 2}" / f"doc{k}.txt"
        assert txt.read_text(encoding="utf8") == text
        ann_lines = txt.with_suffix(".ann").read_text(encoding="utf8").splitlines()
        labels = {line.split("\t")[1].split()[0] for line in ann_lines if line.startswith("T")}
        assert labels <= {"Disease", "Old"}  # only the label asked for is predicted
        if k == 0:
            assert "Old" in labels  # the existing annotation is kept (--existing keep)
    assert "document(s) shown in" in output and "sample.html" in output
    page = (out / "sample.html").read_text(encoding="utf8")
    assert "<html" in page.lower() and page.count("Disease") >= 1


def test_text_input_is_written_as_brat(
        annotate_pipeline_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Women with breast cancer were given tamoxifen .", encoding="utf8")
    code, output = _run(str(annotate_pipeline_dir), str(tmp_path / "corpus"), str(tmp_path / "out"),
                        "--format", "text", "--existing", "replace")
    assert code == 0, output
    assert (tmp_path / "out" / "a.txt").read_text(encoding="utf8") == \
        (tmp_path / "corpus" / "a.txt").read_text(encoding="utf8")
    assert (tmp_path / "out" / "a.ann").exists()


@pytest.fixture
def finished(annotate_pipeline_dir: Path, tmp_path: Path) -> list[str]:
    """The arguments of a finished run in tmp_path/out."""
    corpus = write_jsonl_corpus(tmp_path / "corpus", files=1, docs=3)
    args = [str(annotate_pipeline_dir), str(corpus), str(tmp_path / "out"), "--format", "jsonl"]
    assert _run(*args)[0] == 0
    return args


def test_output_with_a_run_needs_resume_or_overwrite(finished: list[str]) -> None:
    code, output = _run(*finished)
    assert code == 1 and "[E966]" in output and "complete" in output
    code, output = _run(*finished, "--resume")
    assert code == 0 and "3 documents: 3 done, 0 failed" in output and "nothing to do" in output
    code, output = _run(*finished, "--resume", "--existing", "replace")
    assert code == 1 and "[E967]" in output and "--existing" in output
    code, output = _run(*finished, "--resume", "--overwrite")
    assert code == 1 and "[E970]" in output
    code, output = _run(*finished, "--overwrite")
    assert code == 0 and "3 documents: 3 done" in output


def test_bad_arguments_fail_with_a_message(annotate_pipeline_dir: Path, tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "corpus", files=1, docs=1)
    code, output = _run(str(tmp_path / "no-pipeline"), str(corpus), str(tmp_path / "out"), "--format", "jsonl")
    assert code == 1 and "[E972]" in output and "no-pipeline" in output
    code, output = _run(str(annotate_pipeline_dir), str(corpus), str(tmp_path / "out"), "--format", "jsonl",
                        "--labels", "=x")
    assert code == 1 and "[E990]" in output
    code, output = _run(str(annotate_pipeline_dir), str(corpus), str(tmp_path / "out"), "--format", "conll")
    assert code == 2 and "conll" in output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine", encoding="utf8")
    code, output = _run(str(annotate_pipeline_dir), str(corpus), str(tmp_path / "full"), "--format", "jsonl")
    assert code == 1 and "[E965]" in output
    assert (tmp_path / "full" / "notes.txt").read_text(encoding="utf8") == "mine"


def test_the_progress_bar_counts_documents_and_words(capsys: pytest.CaptureFixture[str]) -> None:
    shard = Shard(0, "a.jsonl", 0, 3)
    with Progress(10, initial=4) as progress:
        progress.update(ShardResult(shard, done=2, failures=[Failure("a.jsonl:1", "#1", "bad")], words=30))
    assert (progress.documents, progress.words) == (3, 30)
    assert progress.words_per_second > 0 and progress.docs_per_second > 0
    shown = capsys.readouterr().err
    assert "Annotating" in shown and "7/10" in shown and "docs/s" in shown and "words/s" in shown
    with Progress(10, enabled=False) as quiet:
        quiet.update(ShardResult(shard, done=3, words=5))
    assert quiet.documents == 3 and capsys.readouterr().err == ""


def test_documents_the_output_format_cannot_hold_fail_alone(annotate_pipeline_dir: Path, tmp_path: Path) -> None:
    # two documents with one id would be one BRAT file; a third is fine: the twin fails, the run goes on
    (tmp_path / "corpus").mkdir()
    docs = [{"id": "d1", "text": "Patients with breast cancer ."}, {"id": "d2", "text": "Cisplatin induced nephrotoxicity ."},
            {"id": "d1", "text": "No adverse events were seen ."}]
    (tmp_path / "corpus" / "in.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf8")
    out = tmp_path / "out"
    code, output = _run(str(annotate_pipeline_dir), str(tmp_path / "corpus"), str(out), "--format", "jsonl",
                        "--output-format", "brat")
    assert code == 0, output
    assert "3 documents: 2 done, 1 failed" in output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [f["doc"] for f in manifest["failures"]] == ["d1"] and "[E961]" in manifest["failures"][0]["reason"]
    assert (out / "in" / "d1.txt").read_text(encoding="utf8") == docs[0]["text"]
    assert (out / "in" / "d2.txt").read_text(encoding="utf8") == docs[1]["text"]
