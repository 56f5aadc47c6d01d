"""The spaCy project runs end to end on the sample corpus (offline)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import DocBin

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "project.yml", dest / "project.yml")
    shutil.copytree(ROOT / "assets" / "sample", dest / "assets" / "sample")
    if (ROOT / "configs").exists():
        shutil.copytree(ROOT / "configs", dest / "configs")
    return dest


def _run(project_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spacy", "project", "run", *args], cwd=project_dir,
                          capture_output=True, text=True, check=False)


def test_project_convert_sample(project_dir: Path) -> None:
    proc = _run(project_dir, "convert-sample")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    nlp = spacy.blank("en")
    for split in ("train", "dev", "test"):
        path = project_dir / "corpus" / "sample" / f"{split}.spacy"
        docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
        report = srsly.read_json(path.with_suffix(".report.json"))
        totals = report["totals"]
        assert totals["source"] == totals["exact"] + totals["adjusted"] + totals["rejected"] + totals["dropped"]
        assert totals["rejected"] == 0
        # --sentences: one Doc per sentence, every annotation in the span group
        assert len(docs) == report["sentences"] > report["documents"]
        assert sum(len(d.spans["sc"]) for d in docs) >= totals["exact"] + totals["adjusted"]
        assert {e.label_ for d in docs for e in d.ents} == {"Disease", "Chemical", "Gene", "Species"}


def test_project_sample_formats_agree(project_dir: Path) -> None:
    proc = _run(project_dir, "convert-sample-formats")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if not (project_dir / "corpus" / "sample" / "train.spacy").exists():
        assert _run(project_dir, "convert-sample").returncode == 0
    nlp = spacy.blank("en")

    def ents(path: Path) -> list[tuple[tuple[str, ...], str]]:
        # compared as token sequences: CoNLL keeps tokens, not the spacing between them
        docs = DocBin().from_disk(path).get_docs(nlp.vocab)
        return sorted((tuple(t.text for t in e), e.label_) for d in docs for e in d.ents)

    brat = ents(project_dir / "corpus" / "sample" / "train.spacy")
    assert ents(project_dir / "corpus" / "sample-bioc" / "train.spacy") == brat
    assert ents(project_dir / "corpus" / "sample-conll" / "train.spacy") == brat
