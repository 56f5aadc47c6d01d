"""The committed sample corpus (assets/sample) is exactly what its generators
make from assets/sample/documents.json: BRAT by make_sample_brat.py, the BioC
XML and CoNLL copies by make_sample_formats.py."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "sample"
GENERATED = ("brat", "bioc", "conll")


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sample_{name}", SAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_brat() -> ModuleType:
    return _load("make_sample_brat")


@pytest.fixture(scope="module")
def regenerated(make_brat: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    make_brat.generate(out / "brat")
    _load("make_sample_formats").write_formats(out / "brat", out)
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("folder", GENERATED)
def test_committed_sample_is_regenerated_byte_for_byte(regenerated: Path, folder: str) -> None:
    committed, fresh = _tree(SAMPLE / folder), _tree(regenerated / folder)
    assert committed, folder
    assert sorted(committed) == sorted(fresh)
    differ = [name for name in committed if committed[name] != fresh[name]]
    assert not differ, f"regenerate assets/sample ({folder}: {differ[:5]} differ from documents.json)"


def test_sample_passes_its_checks(make_brat: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert make_brat.check(SAMPLE / "brat")
    report = capsys.readouterr().out
    assert "all checks passed" in report


def test_generator_holds_no_document_data(make_brat: ModuleType) -> None:
    """The documents live in the data file only: no title of it appears in the script."""
    source = (SAMPLE / "make_sample_brat.py").read_text(encoding="utf8")
    titles = [doc["title"] for doc in json.loads((SAMPLE / "documents.json").read_text(encoding="utf8"))["documents"]]
    assert len(titles) == 24
    assert not [title for title in titles if title in source]


def test_changed_data_changes_the_output(make_brat: ModuleType, tmp_path: Path) -> None:
    """The generator reads documents.json: a moved mention moves its offsets."""
    data = json.loads((SAMPLE / "documents.json").read_text(encoding="utf8"))
    first = data["documents"][0]
    first["mentions"] = [m for m in first["mentions"] if m.get("key") != "olaparib" and m.get("text") != "carboplatin"]
    first["extras"] = [e for e in first.get("extras", []) if e.get("normalization") != "olaparib"]
    path = tmp_path / "documents.json"
    path.write_text(json.dumps(data), encoding="utf8")
    make_brat.generate(tmp_path / "brat", make_brat.load_documents(path))
    ann = (tmp_path / "brat" / "train" / f"{first['name']}.ann").read_text(encoding="utf8")
    committed = (SAMPLE / "brat" / "train" / f"{first['name']}.ann").read_text(encoding="utf8")
    assert "olaparib" in committed and "olaparib" not in ann


@pytest.mark.parametrize("mention,problem", [
    ({"label": "Gene", "text": "BRCA1", "fragments": ["BRCA1"]}, "a mention has label, text or fragments"),
    ({"label": "Gene", "txt": "BRCA1"}, "a mention has label, text or fragments"),
])
def test_bad_mention_names_the_document(make_brat: ModuleType, tmp_path: Path, mention: dict, problem: str) -> None:
    data = {"documents": [{"name": "doc-x", "split": "train", "title": "BRCA1", "sentences": ["BRCA1."],
                           "mentions": [mention]}]}
    path = tmp_path / "documents.json"
    path.write_text(json.dumps(data), encoding="utf8")
    with pytest.raises(ValueError, match=rf"documents.json: document 0 \(doc-x\): {problem}"):
        make_brat.load_documents(path)
