"""Tests of the ``evaluate`` command, run through typer's CliRunner."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.errors import Errors

PATTERNS = [
    {"label": "CHEM", "pattern": "aspirin"},
    {"label": "DISEASE", "pattern": "fever"},
]

# (text, gold (span text, label) pairs). Against the ruler's two patterns:
# CHEM: tp=2 (aspirin x2), fn=1 (Ibuprofen), fp=0.
# DISEASE: tp=1 (fever), fn=1 (headache), fp=1 (the unannotated "fever clinic").
GOLD = [
    ("Patients took aspirin for fever .", [("aspirin", "CHEM"), ("fever", "DISEASE")]),
    ("Ibuprofen and aspirin relieve headache .", [("Ibuprofen", "CHEM"), ("aspirin", "CHEM"), ("headache", "DISEASE")]),
    ("A fever clinic opened .", []),
]
COUNTS = {"CHEM": (2, 0, 1), "DISEASE": (1, 1, 1)}  # tp, fp, fn


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _gold_doc(nlp: Language, text: str, spans: list[tuple[str, str]]) -> Doc:
    doc = nlp.make_doc(text)
    doc.ents = [
        doc.char_span(text.index(t), text.index(t) + len(t), label=label, alignment_mode="strict")
        for t, label in spans
    ]
    return doc


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def pipeline_dir(tmp_path: Path) -> Path:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS)
    path = tmp_path / "pipeline"
    nlp.to_disk(path)
    return path


@pytest.fixture
def gold_path(tmp_path: Path) -> Path:
    nlp = spacy.blank("en")
    doc_bin = DocBin()
    for text, spans in GOLD:
        doc_bin.add(_gold_doc(nlp, text, spans))
    path = tmp_path / "gold.spacy"
    doc_bin.to_disk(path)
    return path


def _plain(output: str) -> str:
    """The output without colours and with wasabi's line wrapping undone."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", output).split())


def _assert_clean_failure(result, *expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    for text in expected:
        assert text in _plain(result.output)


def test_evaluate(runner: CliRunner, pipeline_dir: Path, gold_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "out" / "scores.json"
    result = runner.invoke(app, ["evaluate", str(pipeline_dir), str(gold_path), "--output", str(output)])
    assert result.exit_code == 0, result.output
    for label in ("CHEM", "DISEASE", "MICRO", "MACRO", "token F"):
        assert label in result.output
    assert "words/second" in result.output

    scores = srsly.read_json(output)
    per_label = {label: _prf(*counts) for label, counts in COUNTS.items()}
    for label, (p, r, f) in per_label.items():
        tp, fp, fn = COUNTS[label]
        assert scores["ents_per_type"][label]["p"] == pytest.approx(p)
        assert scores["ents_per_type"][label]["r"] == pytest.approx(r)
        assert scores["ents_per_type"][label]["f"] == pytest.approx(f)
        assert scores["ents_per_type"][label]["n_gold"] == tp + fn
        assert scores["ents_per_type"][label]["n_pred"] == tp + fp
    micro = _prf(*(sum(c[i] for c in COUNTS.values()) for i in range(3)))
    assert scores["ents_p"] == pytest.approx(micro[0])
    assert scores["ents_r"] == pytest.approx(micro[1])
    assert scores["ents_f"] == pytest.approx(micro[2])
    assert scores["ents_macro_f"] == pytest.approx(sum(f for _, _, f in per_label.values()) / 2)
    # Every entity here is one token, so token scores equal span scores.
    assert scores["token_f"] == pytest.approx(micro[2])
    assert scores["docs"] == len(GOLD)
    nlp = spacy.blank("en")
    assert scores["words"] == sum(len(nlp.make_doc(text)) for text, _ in GOLD)
    # The table shows the micro F as a percentage.
    assert f"{micro[2] * 100:.2f}" in result.output


def test_evaluate_spans_key(runner: CliRunner, tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("span_ruler", config={"spans_key": "sc"})
    ruler.add_patterns([{"label": "DISEASE", "pattern": "breast cancer"}, {"label": "ANATOMY", "pattern": "breast"}])
    nlp.to_disk(tmp_path / "pipeline")
    doc = nlp.make_doc("breast cancer cells")
    doc.spans["sc"] = [doc.char_span(0, 13, label="DISEASE"), doc.char_span(0, 19, label="ANATOMY")]
    DocBin(docs=[doc]).to_disk(tmp_path / "gold.spacy")
    output = tmp_path / "scores.json"
    args = ["evaluate", str(tmp_path / "pipeline"), str(tmp_path / "gold.spacy"), "-k", "sc", "-o", str(output)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "ANATOMY" in result.output and "DISEASE" in result.output
    scores = srsly.read_json(output)
    # DISEASE exact; ANATOMY "breast" vs gold "breast cancer cells": wrong.
    assert scores["spans_sc_per_type"]["DISEASE"]["f"] == pytest.approx(1.0)
    assert scores["spans_sc_per_type"]["ANATOMY"]["f"] == 0.0
    assert scores["spans_sc_f"] == pytest.approx(0.5)
    # Tokens, ANATOMY: gold 3 tokens, predicted 1, all right.
    assert scores["spans_sc_token_per_type"]["ANATOMY"]["r"] == pytest.approx(1 / 3)
    assert "ents_f" not in scores

    result = runner.invoke(app, ["evaluate", str(tmp_path / "pipeline"), str(tmp_path / "gold.spacy"), "-k", "nope"])
    _assert_clean_failure(result, "nope")


def test_evaluate_missing_docbin(runner: CliRunner, pipeline_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.spacy"
    result = runner.invoke(app, ["evaluate", str(pipeline_dir), str(missing)])
    _assert_clean_failure(result, "missing.spacy", "is not a spaCy DocBin")


def test_evaluate_not_a_docbin(runner: CliRunner, pipeline_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.spacy"
    bad.write_text("this is not a DocBin", encoding="utf8")
    result = runner.invoke(app, ["evaluate", str(pipeline_dir), str(bad)])
    _assert_clean_failure(result, "bad.spacy", "is not a spaCy DocBin")


def test_evaluate_unloadable_pipeline(runner: CliRunner, gold_path: Path, tmp_path: Path) -> None:
    for pipeline in (tmp_path / "no_such_pipeline", tmp_path):
        result = runner.invoke(app, ["evaluate", str(pipeline), str(gold_path)])
        _assert_clean_failure(result, str(pipeline), "could not be loaded")


def test_evaluate_empty_docbin(runner: CliRunner, pipeline_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.spacy"
    DocBin().to_disk(empty)
    result = runner.invoke(app, ["evaluate", str(pipeline_dir), str(empty)])
    _assert_clean_failure(result, Errors.E101.format(path=empty))
