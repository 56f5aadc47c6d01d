"""`spacy project run base`: the base model's corpora as checksummed assets,
and convert-base -> train-base -> evaluate-base -> package-base on two tiny
synthetic catalogue corpora (CoNLL files written here) with the tiny BERT;
the document split of a corpus without splits; configs/from_base.cfg, which
trains on one's own corpus from a saved base pipeline."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import pytest
import spacy
import srsly
import typer
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin
from typer.testing import CliRunner
from weasel.util import get_checksum, substitute_project_variables

from spacy_bioner.catalogue import load_catalogue
from spacy_bioner.errors import BioNERInputError
from spacy_bioner.experiments.base import data as base_data
from spacy_bioner.experiments.base import evaluation as base_evaluation
from spacy_bioner.experiments.fewshot.evaluation import score_labels

ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = ROOT.parent / "shared" / "corpora"
BASE_CFG = ROOT / "configs" / "base.cfg"
CORPORA = ["conll/BC5CDR-IOB", "conll/NCBI-disease-IOB"]
RECIPE = [f"--catalogue.corpora={json.dumps(CORPORA)}", f"--catalogue.dev_corpora={json.dumps(CORPORA)}"]
# token, raw tag: the sentences of every split (words the tiny BERT knows)
CDR = [
    [("Cisplatin", "B-Chemical"), ("induced", "O"), ("nephrotoxicity", "B-Disease"), ("in", "O"), ("two", "O"),
     ("rats", "O"), (".", "O")],
    [("Patients", "O"), ("with", "O"), ("breast", "B-Disease"), ("cancer", "I-Disease"), ("received", "O"),
     ("tamoxifen", "B-Chemical"), ("daily", "O"), (".", "O")],
    [("No", "O"), ("adverse", "O"), ("events", "O"), ("were", "O"), ("seen", "O"), (".", "O")],
]
NCBI = [
    [("Women", "O"), ("treated", "O"), ("for", "O"), ("lung", "B-Disease"), ("carcinoma", "I-Disease"), (".", "O")],
    [("Mutations", "O"), ("cause", "O"), ("ovarian", "B-Disease"), ("cancer", "I-Disease"), (".", "O")],
]
DATA = {"conll/BC5CDR-IOB": CDR, "conll/NCBI-disease-IOB": NCBI}
# files of an upstream folder that ../shared/corpora leaves out (SOURCES.md): name -> its bytes' source
CG_LICENSE = "brat/bionlp-st-2013-cg/LICENSE"  # each upstream split folder holds the corpus licence
UPSTREAM_EXTRAS: dict[str, dict[str, str | bytes]] = {
    **{f"brat/bionlp-st-2013-cg/{split}": {"LICENSE": CG_LICENSE} for split in ("train", "dev", "test")},
    "brat/maccrobat2020": {"hi.txt": b"hi"},  # the stray MACCROBAT2020/hi.txt, not copied
}


def _script(name: str) -> ModuleType:
    """A project script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_base_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _invoke(module: ModuleType, args: list[str]) -> Any:
    app = getattr(module, "app", None)
    if app is None:
        app = typer.Typer(add_completion=False)
        app.command()(module.main)
    return CliRunner().invoke(app, args)


def _project(**overrides: str) -> dict[str, Any]:
    config = srsly.read_yaml(ROOT / "project.yml")
    return substitute_project_variables(config, {f"vars.{k}": v for k, v in overrides.items()})


def _commands(**overrides: str) -> dict[str, dict[str, Any]]:
    return {cmd["name"]: cmd for cmd in _project(**overrides)["commands"]}


def _gold_mentions(sentences: list[list[tuple[str, str]]], tag: str) -> int:
    return sum(1 for sent in sentences for _, t in sent if t == f"B-{tag}")


def write_conll(root: Path) -> Path:
    """The two corpora under a corpora root, laid out as ../shared/corpora (train/devel/test.tsv)."""
    for corpus, sentences in DATA.items():
        for split in ("train", "devel", "test"):
            path = root / corpus / f"{split}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in sentences), encoding="utf8")
    return root


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """convert-base on the tiny corpora: the converted root (corpus/base)."""
    tmp = tmp_path_factory.mktemp("base")
    out = tmp / "corpus" / "base"
    result = _invoke(_script("convert_base"), [str(BASE_CFG), str(write_conll(tmp / "corpora")), str(out), *RECIPE])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def base_model(converted: Path, tiny_bert_dir: Path) -> Path:
    """train-base (2 updates) on the converted corpora: model-best."""
    output = converted.parent.parent / "training" / "base"
    overrides = {"paths.corpus": str(converted), "paths.encoder": str(tiny_bert_dir), "catalogue.corpora": CORPORA,
                 "catalogue.dev_corpora": CORPORA, "training.max_steps": 2, "training.eval_frequency": 1,
                 "training.optimizer.learn_rate.warmup_steps": 1}
    spacy_train(BASE_CFG, output, use_gpu=-1, overrides=overrides)
    return output / "model-best"


@pytest.fixture(scope="module")
def metrics(base_model: Path, converted: Path) -> tuple[Path, dict[str, Any]]:
    """evaluate-base: metrics/base.json and its contents."""
    out = base_model.parent.parent.parent / "metrics" / "base.json"
    result = _invoke(_script("evaluate_base"), [str(base_model), str(converted), str(out),
                                                "--markdown", str(out.with_suffix(".md"))])
    assert result.exit_code == 0, result.output
    return out, srsly.read_json(out)


# ---- convert-base ----------------------------------------------------------------


def test_convert_base_writes_raw_tags_per_corpus_and_split(converted: Path) -> None:
    nlp = spacy.blank("en")
    assert sorted(str(p.relative_to(converted)) for p in converted.rglob("*.spacy")) == sorted(
        f"{c}/{s}.spacy" for c in CORPORA for s in ("train", "dev", "test"))
    for corpus, sentences in DATA.items():
        for split in ("train", "dev", "test"):
            path = converted / corpus / f"{split}.spacy"
            docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
            assert [[t.text for t in d] for d in docs] == [[w for w, _ in s] for s in sentences]  # one Doc a sentence
            labels = [s.label_ for d in docs for s in d.spans["sc"]]
            for tag in ("Chemical", "Disease"):  # the raw tags, not catalogue labels
                assert labels.count(tag) == _gold_mentions(sentences, tag)
            report = srsly.read_json(path.with_suffix(".report.json"))
            assert report["totals"]["source"] == report["totals"]["exact"] == len(labels)


def _write_brat(root: Path, doc_ids: list[str]) -> Path:
    source = root / "brat" / "maccrobat2020"
    source.mkdir(parents=True)
    for i, doc_id in enumerate(doc_ids):
        (source / f"{doc_id}.txt").write_text(f"A {doc_id} year old man .\n", encoding="utf8")
        (source / f"{doc_id}.ann").write_text(f"T1\tAge 2 {2 + len(doc_id)}\t{doc_id}\n" if i % 2 == 0 else "",
                                              encoding="utf8")
    (source / "hi.txt").write_text("hi", encoding="utf8")  # as in the Git copy: in no split
    return source


def test_document_split_converts_each_split_s_documents(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    _write_brat(tmp_path / "corpora", ["11", "22", "33", "44"])
    split_file = tmp_path / "split.json"
    srsly.write_json(split_file, {"seed": 3, "train": ["11", "33"], "dev": ["22"], "test": ["44"]})
    plan = base_data.plan_conversions(catalogue, tmp_path / "corpora", ["brat/maccrobat2020"], tmp_path / "out",
                                      {"brat/maccrobat2020": split_file})
    assert {c.split: c.documents for c in plan} == {"train": ("11", "33"), "dev": ("22",), "test": ("44",)}
    assert base_data.unassigned_documents(plan) == {"brat/maccrobat2020": ["hi"]}
    nlp = spacy.blank("en")
    for conversion in plan:
        report = base_data.convert(conversion)
        docs = list(DocBin().from_disk(conversion.output).get_docs(nlp.vocab))
        assert sorted(d.text.split()[1] for d in docs) == sorted(conversion.documents or ())
        assert report.documents == len(conversion.documents or ())
        assert str(split_file) in srsly.read_json(conversion.output.with_suffix(".report.json"))["corpus"]
    train = list(DocBin().from_disk(tmp_path / "out" / "brat/maccrobat2020/train.spacy").get_docs(nlp.vocab))
    assert [s.label_ for d in train for s in d.spans["sc"]] == ["Age", "Age"]  # 11 and 33, the raw type


def test_document_split_errors(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    root = tmp_path / "corpora"
    _write_brat(root, ["11", "22"])
    write_conll(root)
    mac = ["brat/maccrobat2020"]
    cases: list[tuple[dict[str, Any], list[str], str]] = [
        ({}, mac, "E912"),
        ({"conll/BC5CDR-IOB": tmp_path / "s.json"}, ["conll/BC5CDR-IOB"], "E913"),
        ({"brat/maccrobat2020": tmp_path / "s.json", "data": {"train": ["11", "99"]}}, mac, "E911"),
        ({"brat/maccrobat2020": tmp_path / "s.json", "data": {"train": ["11"], "test": ["11"]}}, mac, "E910"),
        ({"brat/maccrobat2020": tmp_path / "s.json", "data": {"train": "11"}}, mac, "E910"),
        ({}, ["conll/BC2GM-IOB"], "E914"),
    ]
    for splits, corpora, code in cases:
        splits = dict(splits)
        srsly.write_json(tmp_path / "s.json", splits.pop("data", {"train": ["11"]}))
        with pytest.raises(BioNERInputError, match=rf"\[{code}\]"):
            base_data.plan_conversions(catalogue, root, corpora, tmp_path / "out", splits)
    with pytest.raises(BioNERInputError, match=r"\[E917\]"):
        base_data.parse_document_splits(["brat/maccrobat2020"])


def test_recipe_reads_only_converted_splits(tmp_path: Path) -> None:
    """JNLPBA has no training split: the recipe must read it as conll/JNLPBA@dev."""
    root = tmp_path / "corpora"
    for split in ("devel", "test"):
        (root / "conll" / "JNLPBA").mkdir(parents=True, exist_ok=True)
        (root / "conll" / "JNLPBA" / f"{split}.tsv").write_text("IL-2\tB-protein\n\n", encoding="utf8")
    plan = base_data.plan_conversions(load_catalogue(), root, ["conll/JNLPBA"], tmp_path / "out")
    assert sorted(c.split for c in plan) == ["dev", "test"]
    base_data.check_recipe_splits([("conll/JNLPBA@dev", "dev"), ("conll/JNLPBA", "test")], plan)
    with pytest.raises(BioNERInputError, match=r"\[E915\]"):
        base_data.check_recipe_splits([("conll/JNLPBA", "train")], plan)
    config = spacy.util.load_config(BASE_CFG, interpolate=True)
    entries = base_data.recipe_entries(config)
    assert ("conll/JNLPBA@dev", "dev") in entries and not [e for e in entries if e[0] == "conll/JNLPBA"]
    assert base_data.recipe_corpora(config) == [e.partition("@")[0] for e in config["catalogue"]["corpora"]]


# ---- train-base, evaluate-base -------------------------------------------------------


def test_train_base_learns_the_catalogue_labels(base_model: Path) -> None:
    nlp = spacy.load(base_model)
    assert set(nlp.get_pipe("bioner_prompted").labels) == {"cdr.chemical", "cdr.disease", "ncbi.disease"}


def test_evaluate_base_scores_each_corpus_on_its_own_labels(metrics: tuple[Path, dict[str, Any]],
                                                            base_model: Path, converted: Path) -> None:
    path, report = metrics
    catalogue = load_catalogue()
    assert list(report["corpora"]) == CORPORA
    for corpus, sentences in DATA.items():
        row = report["corpora"][corpus]
        assert row["labels"] == catalogue.corpus_labels(corpus)
        assert row["docs"] == len(sentences)
        for label in row["labels"]:
            tag = next(tag for tag, target in catalogue.label_map(corpus).items() if target == label)
            assert row["per_label"][label]["n_gold"] == _gold_mentions(sentences, tag)
        for key in base_evaluation.SCORES:
            assert row[key] is None or 0.0 <= row[key] <= 1.0
    # the same scores as the few-shot scoring gives for the corpus's labels alone
    nlp = spacy.load(base_model)
    tagger = nlp.get_pipe("bioner_prompted")
    labels, refs = base_evaluation.corpus_test_set(nlp, converted, "conll/BC5CDR-IOB", {"spans_key": "sc"},
                                                   catalogue, tagger.labels) or ([], [])
    tagger.set_labels({label: tagger.label_descriptions[label] for label in labels})
    direct = score_labels(nlp, refs, labels, "sc")
    for label in labels:
        assert report["corpora"]["conll/BC5CDR-IOB"]["per_label"][label]["span_f"] == pytest.approx(direct[label]["span_f"])
        assert report["corpora"]["conll/BC5CDR-IOB"]["per_label"][label]["token_f"] == pytest.approx(direct[label]["token_f"])
    assert set(report["overall"]) == set(report["macro"]) == set(base_evaluation.SCORES)
    table = path.with_suffix(".md").read_text(encoding="utf8")
    assert all(f"| {corpus} |" in table for corpus in CORPORA) and "all corpora (micro)" in table


def test_evaluate_base_leaves_the_labels_as_they_were(base_model: Path, converted: Path) -> None:
    nlp = spacy.load(base_model)
    tagger = nlp.get_pipe("bioner_prompted")
    tagger.set_threshold("cdr.disease", 0.3)
    before = (dict(tagger.label_descriptions), tagger.thresholds, dict(tagger.cfg["names"]))
    base_evaluation.evaluate_base(nlp, converted)
    assert (tagger.label_descriptions, tagger.thresholds, tagger.cfg["names"]) == before



def test_evaluate_base_limit_scores_the_first_test_sentences_only(base_model: Path, converted: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "limited.json"
    result = _invoke(_script("evaluate_base"), [str(base_model), str(converted), str(out), "--limit", "1", "--bf16"])
    assert result.exit_code == 0, result.output
    report = srsly.read_json(out)
    assert report["limit"] == 1 and report["bf16"] is True
    catalogue = load_catalogue()
    for corpus, sentences in DATA.items():
        row = report["corpora"][corpus]
        assert row["docs"] == 1
        for label in row["labels"]:
            tag = next(tag for tag, target in catalogue.label_map(corpus).items() if target == label)
            assert row["per_label"][label]["n_gold"] == _gold_mentions(sentences[:1], tag)
    bad = _invoke(_script("evaluate_base"), [str(base_model), str(converted), str(out), "--limit", "-1"])
    assert bad.exit_code != 0 and "greater than or equal to 0" in bad.output


# ---- package-base --------------------------------------------------------------------


def _zeroshot_report() -> dict[str, Any]:
    """A zeroshot.json as `python -m spacy_bioner zeroshot` writes it (k = 0 and k = 1)."""
    def entry(token: float, span: float) -> dict[str, Any]:
        return {"token_f": {"mean": token, "sd": 0.01, "n": 2}, "span_f": {"mean": span, "sd": None, "n": 2}}
    by_prompt = {"name": {"0": entry(0.4123, 0.25), "1": entry(0.9, 0.9)}, "description": {"0": entry(0.3456, 0.2)}}
    return {"settings": {"held_out": ["biored.cell_line"], "seeds": [0, 1]}, "paper_zero_shot_token_f": 0.3544,
            "summary": {"average": by_prompt, "per_label": {"biored.cell_line": by_prompt}}}


@pytest.mark.parametrize("with_zeroshot", [False, True])
def test_package_base_meta_lists_corpora_licences_scores(metrics: tuple[Path, dict[str, Any]], base_model: Path,
                                                         tmp_path: Path, with_zeroshot: bool) -> None:
    path, report = metrics
    zeroshot = tmp_path / "zeroshot.json"
    if with_zeroshot:
        srsly.write_json(zeroshot, _zeroshot_report())
    package = _script("package_base")
    meta = package.stage(base_model, path, ROOT / "configs" / "meta_base.json", zeroshot,
                         ["cdr.disease", "cdr.chemical"], tmp_path)
    catalogue = load_catalogue()
    assert meta["sources"] == [{"name": f"{catalogue.corpus(c).name} ({c})", "license": catalogue.corpus(c).licence}
                               for c in CORPORA]
    assert srsly.read_json(tmp_path / "sources.json") == {"base": meta["sources"]}
    assert srsly.read_json(tmp_path / "meta.json") == meta
    # one line: it is the wheel's summary; the card is in the notes, which spaCy puts in the README
    assert meta["description"] == srsly.read_json(ROOT / "configs" / "meta_base.json")["description"]
    assert "\n" not in meta["description"]
    description = meta["notes"]
    for corpus in CORPORA:
        info, row = catalogue.corpus(corpus), report["corpora"][corpus]
        line = next(line for line in description.splitlines() if f"(`{corpus}`)" in line)
        assert info.licence in line and f"{100 * row['span_f']:.2f}" in line and f"{100 * row['token_f']:.2f}" in line
    rows = {r["corpus"]: r for r in meta["bioner_base"]["corpora"]}
    assert {c: rows[c]["span_f"] for c in CORPORA} == {c: report["corpora"][c]["span_f"] for c in CORPORA}
    assert ("not measured" in description) is not with_zeroshot
    if with_zeroshot:
        assert "| biored.cell_line | name | 41.23 ± 1.00 | 25.00 |" in description
        assert "| mean over labels | description | 34.56 ± 1.00 | 20.00 |" in description
        assert meta["bioner_base"]["zeroshot"]["held_out"] == ["biored.cell_line"]
    else:
        assert meta["bioner_base"]["zeroshot"] is None
    # the packaged copy tags the default labels, by their catalogue names; the trained pipeline is unchanged
    staged = spacy.load(tmp_path / "pipeline").get_pipe("bioner_prompted")
    assert staged.labels == ("Disease", "Chemical")
    assert staged.label_descriptions["Disease"] == catalogue.label("cdr.disease").description
    assert meta["bioner_base"]["default_labels"] == {"Disease": "cdr.disease", "Chemical": "cdr.chemical"}
    assert set(spacy.load(base_model).get_pipe("bioner_prompted").labels) == {"cdr.chemical", "cdr.disease", "ncbi.disease"}


def test_package_base_refuses_unknown_default_labels(metrics: tuple[Path, dict[str, Any]], base_model: Path,
                                                     tmp_path: Path) -> None:
    # the default set names BioNLP-ST 2013 CG and LINNAEUS labels, which this tiny model never saw
    result = _invoke(_script("package_base"), [str(base_model), str(metrics[0]), str(tmp_path / "packages")])
    assert result.exit_code == 1 and "[E916]" in result.output
    assert not (tmp_path / "packages").exists()


@pytest.mark.parametrize("by_hand", [None, 0.3])
def test_package_base_sets_the_threshold_of_added_labels(metrics: tuple[Path, dict[str, Any]], base_model: Path,
                                                         tmp_path: Path, by_hand: float | None) -> None:
    report = _zeroshot_report()
    by_threshold = {"0.1": {"token_f": 0.30, "span_f": 0.1}, "0.2": {"token_f": 0.25, "span_f": 0.1},
                    "0.5": {"token_f": 0.14, "span_f": 0.1}}
    report["thresholds"] = {"description": {"by_threshold": by_threshold, "leave_one_out": {"token_f": 0.26},
                                            "per_label": {}}}
    srsly.write_json(tmp_path / "zeroshot.json", report)
    before = spacy.load(base_model).get_pipe("bioner_prompted").threshold_for("cdr.disease")
    meta = _script("package_base").stage(base_model, metrics[0], ROOT / "configs" / "meta_base.json",
                                         tmp_path / "zeroshot.json", ["cdr.disease"], tmp_path, by_hand)
    expected = 0.1 if by_hand is None else by_hand
    staged = spacy.load(tmp_path / "pipeline")
    tagger = staged.get_pipe("bioner_prompted")
    assert staged.config["components"]["bioner_prompted"]["threshold"] == expected
    assert tagger.threshold_for("Disease") == before  # the trained label keeps its threshold
    tagger.add_label("Cell line", "cell line")
    assert tagger.threshold_for("Cell line") == expected
    assert meta["bioner_base"]["new_label_threshold"]["threshold"] == expected
    assert f"gets the threshold {expected:g}" in meta["notes"]
    assert ("30.00, against 14.00 at 0.5; 26.00 when each label" in meta["notes"]) is (by_hand is None)
    # the trained pipeline itself is unchanged
    assert spacy.load(base_model).config["components"]["bioner_prompted"]["threshold"] == 0.5


@pytest.mark.parametrize("paths, warned", [
    ({"train": None, "corpus": "corpus/base"}, False),  # the base recipe, as spacy train saves it
    ({"corpus": "corpus/base"}, False),
    ({"train": None, "corpus": "/elsewhere"}, True),
    ({"train": "corpus/base/train.spacy"}, False),
    ({"train": "corpus/other/train.spacy"}, True),
])
def test_package_warns_only_when_the_pipeline_was_trained_on_another_corpus(
        paths: dict[str, Any], warned: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["[paths]"] + [f"{key} = {'null' if value is None else json.dumps(value)}" for key, value in paths.items()]
    (tmp_path / "config.cfg").write_text("\n".join(lines) + "\n", encoding="utf8")
    _script("package_pipeline").check_trained_on(tmp_path, "base")
    assert ("LICENSES_SOURCES describes corpus" in " ".join(capsys.readouterr().out.split())) is warned


@pytest.mark.slow
def test_package_base_builds_the_wheel(metrics: tuple[Path, dict[str, Any]], base_model: Path, tmp_path: Path) -> None:
    """package-base as the project runs it (scripts/package_base.py, then package_pipeline.py)."""
    cmd = [sys.executable, str(ROOT / "scripts" / "package_base.py"), str(base_model), str(metrics[0]),
           str(tmp_path), "--default-label", "cdr.disease", "--default-label", "ncbi.disease", "--version", "0.0.1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 1 and "[E916]" in proc.stdout and "name 'Disease'" in proc.stdout  # two named so
    cmd[-3] = "cdr.chemical"
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    full = "en_bioner_base-0.0.1"
    with zipfile.ZipFile(tmp_path / full / "dist" / f"{full}-py3-none-any.whl") as zf:
        meta = json.loads(zf.read(f"en_bioner_base/{full}/meta.json"))
        sources = zf.read(f"{full}.dist-info/licenses/LICENSES_SOURCES").decode("utf8")
        readme = zf.read(f"{full}.dist-info/METADATA").decode("utf8")  # the model card is the long description
    assert meta["labels"]["bioner_prompted"] == ["Disease", "Chemical"]
    catalogue = load_catalogue()
    for corpus in CORPORA:
        assert catalogue.corpus(corpus).licence in sources and f"(`{corpus}`)" in readme
    assert "corpus/base" in sources and meta["bioner_base"]["default_labels"]["Chemical"] == "cdr.chemical"


# ---- configs/from_base.cfg -------------------------------------------------------------


def test_from_base_config_trains_from_a_saved_base_pipeline(base_model: Path, tiny_bert_dir: Path,
                                                            tmp_path: Path) -> None:
    """The component comes from the base pipeline (its weights), its labels from the user's corpus."""
    nlp = spacy.blank("en")
    docs = []
    for text, start, end in (("Patients received tamoxifen daily .", 18, 27), ("Cisplatin was given to women .", 0, 9)):
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(start, end, label="Drug")]
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "mine.spacy")
    output = tmp_path / "mine"
    overrides = {"paths.base": str(base_model), "paths.train": str(tmp_path / "mine.spacy"),
                 "paths.dev": str(tmp_path / "mine.spacy"), "training.max_epochs": 0, "training.max_steps": 1,
                 "training.eval_frequency": 1, "training.optimizer.learn_rate.initial_rate": 0.0}
    spacy_train(ROOT / "configs" / "from_base.cfg", output, use_gpu=-1, overrides=overrides)
    trained = spacy.load(output / "model-last").get_pipe("bioner_prompted")
    assert trained.labels == ("Drug",)
    base = spacy.load(base_model).get_pipe("bioner_prompted")
    weights = trained.model.shims[0].module.state_dict()
    base_weights = base.model.shims[0].module.state_dict()
    assert weights.keys() == base_weights.keys()
    # one update at learning rate 0: the base model's weights exactly, not the raw encoder's
    assert all(bool((weights[k] == base_weights[k]).all()) for k in weights)
    from transformers import AutoModel
    raw = AutoModel.from_pretrained(str(tiny_bert_dir)).state_dict()
    changed = [k for k in raw if f"encoder.{k}" in weights and not bool((raw[k] == weights[f"encoder.{k}"]).all())]
    assert changed  # the base model's 2 updates moved the encoder


def test_initialize_sourced_needs_a_known_component(base_model: Path) -> None:
    from spacy_bioner.experiments.base.sourced import make_initialize_sourced

    nlp = spacy.load(base_model)
    with pytest.raises(ValueError, match=r"\[E918\]"):
        make_initialize_sourced(["ner"])(nlp)


# ---- the project: commands and assets ----------------------------------------------------

BIOC = """<?xml version="1.0" encoding="UTF-8"?>
<collection><source>t</source><date>2025</date><key>k</key><document><id>1</id>
<passage><infon key="type">title</infon><offset>0</offset><text>Cisplatin induced nephrotoxicity .</text>
<annotation id="1"><infon key="type">ChemicalEntity</infon><location offset="0" length="9"/><text>Cisplatin</text>
</annotation></passage></document></collection>
"""


def write_every_base_corpus(root: Path) -> None:
    """A tiny file (or document) for every file the catalogue reads for the recipe's 16 corpora."""
    catalogue = load_catalogue()
    for corpus in base_data.recipe_corpora(spacy.util.load_config(BASE_CFG, interpolate=True)):
        for path in catalogue.corpus(corpus).files(root).values():
            path.parent.mkdir(parents=True, exist_ok=True)
            if corpus.startswith("conll/"):
                path.write_text("Cisplatin\tB-X\ninduced\tO\n\n", encoding="utf8")
            elif corpus.startswith("bioc/"):
                path.write_text(BIOC, encoding="utf8")
            else:
                split = srsly.read_json(ROOT / "configs" / "maccrobat_split.json") if "maccrobat" in corpus else {}
                path.mkdir(exist_ok=True)
                for doc_id in [d for key, ids in split.items() if key != "seed" for d in ids] or ["d1"]:
                    (path / f"{doc_id}.txt").write_text("A man .\n", encoding="utf8")
                    (path / f"{doc_id}.ann").write_text("T1\tSex 2 5\tman\n", encoding="utf8")


def test_project_convert_base_command(tmp_path: Path) -> None:
    """convert-base as `spacy project run` runs it, on a corpora root holding every corpus of the recipe."""
    project = tmp_path / "project"
    for name in ("project.yml", "LICENSE", "configs", "scripts"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            project.mkdir(exist_ok=True)
            shutil.copy(source, project / name)
    write_every_base_corpus(tmp_path / "corpora")
    proc = subprocess.run([sys.executable, "-m", "spacy", "project", "run", "convert-base", ".",
                           "--vars.corpora_root", str(tmp_path / "corpora")], cwd=project, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    catalogue = load_catalogue()
    split = srsly.read_json(ROOT / "configs" / "maccrobat_split.json")
    nlp = spacy.blank("en")
    for corpus in base_data.recipe_corpora(spacy.util.load_config(BASE_CFG, interpolate=True)):
        splits = [k for k in split if k != "seed"] if "maccrobat" in corpus else list(catalogue.corpus(corpus).splits)
        for name in splits:
            docs = list(DocBin().from_disk(project / "corpus" / "base" / corpus / f"{name}.spacy").get_docs(nlp.vocab))
            expected = len(split[name]) if "maccrobat" in corpus else 1
            assert len(docs) == expected and all(len(d.spans["sc"]) == 1 for d in docs), (corpus, name)
    lock = srsly.read_yaml(project / "project.lock")
    assert {out["path"] for out in lock["convert-base"]["outs"]} == set(_commands()["convert-base"]["outputs"])


def test_project_base_workflow_commands() -> None:
    project = _project()
    assert project["workflows"]["base"] == ["encoder", "convert-base", "train-base", "evaluate-base", "package-base"]
    commands = _commands(corpora_root="../shared/corpora", base_max_steps="2")
    corpora = base_data.recipe_corpora(spacy.util.load_config(BASE_CFG, interpolate=True))
    assert len(corpora) == 16
    convert = commands["convert-base"]
    assert shlex.split(convert["script"][0])[2:5] == ["configs/base.cfg", "../shared/corpora", "corpus/base"]
    assert set(convert["deps"]) >= {f"../shared/corpora/{c}" for c in corpora} | {"configs/maccrobat_split.json"}
    assert convert["outputs"] == [f"corpus/base/{c}" for c in corpora]
    train = shlex.split(commands["train-base"]["script"][0])
    assert train[:5] == ["python", "-m", "spacy", "train", "configs/base.cfg"]
    for option, value in (("--paths.corpus", "corpus/base"), ("--output", "training/base"),
                          ("--training.max_steps", "2"), ("--gpu-id", "-1")):
        assert train[train.index(option) + 1] == value
    assert "metrics/base.json" in commands["evaluate-base"]["outputs"]
    assert commands["package-base"]["outputs_no_cache"][0].endswith("en_bioner_base-0.1.0-py3-none-any.whl")
    fetched = [shlex.split(line)[2] for line in commands["corpora-base"]["script"] if "fetch_git_asset.py" in line]
    pinned = [a["dest"] for a in project["assets"] if "pinned_git" in a and a["dest"].startswith("assets/corpora/brat/")]
    assert sorted(fetched) == sorted(pinned)
    assert commands["corpora-base"]["outputs"] == [f"assets/corpora/{c}" for c in corpora]


def test_project_zeroshot_base_command_feeds_the_model_card() -> None:
    from spacy_bioner.cli.zeroshot import parse_seeds, parse_thresholds
    from spacy_bioner.experiments.fewshot import parse_shots

    project = _project()
    workflow = project["workflows"]["base-zeroshot"]
    assert workflow.index("zeroshot-base") < workflow.index("package-base")
    command = _commands()["zeroshot-base"]
    args = shlex.split(command["script"][0])
    assert args[:6] == ["python", "-m", "spacy_bioner", "zeroshot", "corpus/base", "results/zeroshot"]
    # it writes the report package-base reads by default
    assert project["vars"]["base_zeroshot"] in command["outputs"]
    catalogue = load_catalogue()
    held_out = [args[i + 1] for i, arg in enumerate(args) if arg == "--hold-out"]
    assert len(held_out) == 8
    removed = catalogue.overlap_closure(held_out)  # every id is a catalogue label (E803 otherwise)
    assert set(held_out) <= removed
    assert parse_seeds(args[args.index("--seeds") + 1]) == [0, 1, 2]
    assert parse_shots(args[args.index("--shots") + 1]) == [0, 1, 10, 100]
    assert parse_thresholds(args[args.index("--thresholds") + 1])[-1] == 0.5
    assert args[args.index("--training.max_steps") + 1] == str(project["vars"]["base_max_steps"])


def _extracted(project: dict[str, Any]) -> dict[str, str]:
    """dest -> md5 of the files corpora-base extracts from an archive asset."""
    lines = next(c for c in project["commands"] if c["name"] == "corpora-base")["script"]
    return {args[4]: args[args.index("--md5") + 1] for args in map(shlex.split, lines) if "unzip_member.py" in args[1]}


def _asset_for(path: str, project: dict[str, Any]) -> tuple[str, str]:
    """The asset (or extracted file) that provides a catalogue file: its dest and checksum."""
    for asset in project["assets"]:
        if path == asset["dest"] or path.startswith(asset["dest"] + "/"):
            return asset["dest"], asset["checksum"]
    extracted = _extracted(project)
    assert path in extracted, f"no asset provides {path}"
    return path, extracted[path]


def _upstream_checksum(copy: Path, extras: dict[str, str | bytes]) -> str:
    """weasel's checksum of a folder as upstream has it: the shared copy plus the files it left out."""
    files: dict[PurePosixPath, bytes] = {PurePosixPath(p.relative_to(copy).as_posix()): p.read_bytes()
                                         for p in copy.rglob("*") if p.is_file()}
    for name, content in extras.items():
        files[PurePosixPath(name)] = content if isinstance(content, bytes) else (SHARED_CORPORA / content).read_bytes()
    md5 = hashlib.md5()
    for name in sorted(files):
        md5.update(files[name])
    return md5.hexdigest()


@pytest.mark.skipif(not SHARED_CORPORA.is_dir(), reason="../shared/corpora not found")
def test_base_corpora_assets_match_the_shared_copies() -> None:
    """Every file the catalogue reads for a corpus of configs/base.cfg is a project
    asset (or extracted from one) laid out as in ../shared/corpora, with that copy's checksum."""
    project = _project()
    catalogue = load_catalogue()
    checked = set()
    for corpus in base_data.recipe_corpora(spacy.util.load_config(BASE_CFG, interpolate=True)):
        for path in catalogue.corpus(corpus).files("assets/corpora").values():
            dest, checksum = _asset_for(path.as_posix(), project)
            copy = SHARED_CORPORA / Path(dest).relative_to("assets/corpora")
            if copy.is_file():
                assert hashlib.md5(copy.read_bytes()).hexdigest() == checksum, dest
            else:
                extras = UPSTREAM_EXTRAS.get(copy.relative_to(SHARED_CORPORA).as_posix(), {})
                assert _upstream_checksum(copy, {}) == get_checksum(copy)  # the helper computes weasel's checksum
                assert _upstream_checksum(copy, extras) == checksum, dest
            checked.add(dest)
    assert len(checked) == 11 * 3 + 2 + 6 + 1 + 3  # CoNLL files (JNLPBA: 2), BRAT split folders, MACCROBAT, BioRED


# ---- configs/base_biencoder.cfg: the same recipe, the bi-encoder layer -----------------------


def test_base_biencoder_recipe_differs_only_in_the_layer_and_negatives() -> None:
    base = spacy.util.load_config(BASE_CFG, interpolate=False)
    bi = spacy.util.load_config(ROOT / "configs" / "base_biencoder.cfg", interpolate=False)
    assert bi["components"]["bioner_prompted"]["model"]["@architectures"] == "spacy_bioner.LabelMatcher.v1"
    assert bi["components"]["bioner_prompted"]["max_negatives"] is None
    for section in ("catalogue", "corpora", "training", "initialize", "paths", "nlp"):
        assert bi[section] == base[section], section
    shared = set(base["components"]["bioner_prompted"]["model"]) - {"@architectures"}
    for key in shared:
        assert bi["components"]["bioner_prompted"]["model"][key] == base["components"]["bioner_prompted"]["model"][key]


def test_base_biencoder_trains_on_the_converted_corpora(converted: Path, tiny_bert_dir: Path) -> None:
    output = converted.parent.parent / "training" / "base_biencoder"
    overrides = {"paths.corpus": str(converted), "paths.encoder": str(tiny_bert_dir), "catalogue.corpora": CORPORA,
                 "catalogue.dev_corpora": CORPORA, "training.max_steps": 2, "training.eval_frequency": 1,
                 "training.optimizer.learn_rate.warmup_steps": 1}
    spacy_train(ROOT / "configs" / "base_biencoder.cfg", output, use_gpu=-1, overrides=overrides)
    nlp = spacy.load(output / "model-best")
    pipe = nlp.get_pipe("bioner_prompted")
    assert nlp.config["components"]["bioner_prompted"]["model"]["@architectures"] == "spacy_bioner.LabelMatcher.v1"
    assert {"disease", "chemical"} <= {label.split(".")[-1] for label in pipe.labels}
    doc = nlp("Aspirin caused nausea.")
    assert "sc" in doc.spans


def test_project_base_config_var_switches_the_architecture() -> None:
    train = shlex.split(_commands(base_config="configs/base_biencoder.cfg")["train-base"]["script"][0])
    assert train[:5] == ["python", "-m", "spacy", "train", "configs/base_biencoder.cfg"]
    assert "configs/base_biencoder.cfg" in _commands(base_config="configs/base_biencoder.cfg")["train-base"]["deps"]
