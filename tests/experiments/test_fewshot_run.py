"""The few-shot experiment end to end: one tiny run of the `fewshot` command, and its errors."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import spacy
import srsly
from fewshot_helpers import DEV, ROOT, TEST, TRAIN, make_doc, read, write_docbin
from thinc.api import Config
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.experiments.fewshot.data import label_counts
from spacy_bioner.experiments.fewshot.report import matplotlib_available

# ---- the command -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    nlp = spacy.blank("en")
    root = tmp_path_factory.mktemp("fewshot_corpus")
    return {
        name: write_docbin(root / f"{name}.spacy",
                           [make_doc(nlp, text, gold, doc_id=f"{name}{i}") for i, (text, gold) in enumerate(data)])
        for name, data in (("train", TRAIN), ("dev", DEV), ("test", TEST))
    }


def fewshot_args(corpus: dict[str, Path], output: Path, *extra: str) -> list[str]:
    return [
        "fewshot", "--train", str(corpus["train"]), "--dev", str(corpus["dev"]), "--test", str(corpus["test"]),
        "--output", str(output), "--config", str(ROOT / "configs" / "prompted.cfg"), *extra,
    ]


@pytest.fixture(scope="module")
def fewshot_run(corpus: dict[str, Path], tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    output = tmp_path_factory.mktemp("fewshot_out")
    args = fewshot_args(
        corpus, output, "--hidden", "Gene", "--shots", "0,1,2", "--seeds", "2",
        "--encoder", str(tiny_bert_dir), "--max-steps", "2", "--fewshot-steps", "2",
        "--training.batcher.size=4", "--training.optimizer.learn_rate.initial_rate=0.001",
    )
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return output, result


def test_fewshot_command_outputs(fewshot_run) -> None:
    output, result = fewshot_run
    report = srsly.read_json(output / "fewshot.json")
    assert report["settings"]["hidden"] == ["Gene"] and report["settings"]["shots"] == [0, 1, 2]
    assert report["descriptions"] == {"Gene": "gene", "Chemical": "chemical", "Disease": "disease"}
    assert report["hidden"]["Gene"] == {"description": "gene", "train_spans": 3, "train_sentences": 3,
                                        "test_spans": 2}
    runs = report["runs"]
    assert [(r["k"], r["seed"], r["k_used"], r["steps"]) for r in runs] == [
        (0, None, 0, 0), (1, 0, 1, 2), (1, 1, 1, 2), (2, 0, 2, 2), (2, 1, 2, 2)]
    assert all(r["label"] == "Gene" for r in runs)
    for r in runs:
        assert r["span_n_gold"] == 2 and r["token_n_gold"] == 2  # only the hidden label's gold
        assert all(0.0 <= r[m] <= 1.0 for m in ("span_p", "span_r", "span_f", "token_p", "token_r", "token_f"))
    # one sample per seed, nested across k, sentences of the training file that contain Gene
    samples = {(r["k"], r["seed"]): [tuple(s) for s in r["sentences"]] for r in runs if r["k"]}
    assert samples[(2, 0)][:1] == samples[(1, 0)] and len(set(samples[(2, 0)])) == 2
    assert {doc for sample in samples.values() for doc, _ in sample} <= {2, 3, 4}
    per_label = report["summary"]["per_label"]["Gene"]
    assert list(per_label) == ["0", "1", "2"]
    assert [per_label[k]["token_f"]["n"] for k in ("0", "1", "2")] == [1, 2, 2]
    assert per_label["0"]["token_f"]["sd"] is None and per_label["1"]["token_f"]["sd"] is not None
    average = report["summary"]["average"]
    assert list(average) == ["0", "1", "2"] and average["1"]["token_f"]["n"] == 2
    assert average["0"]["paper_token_f"] == pytest.approx(0.3544) and average["2"]["paper_token_f"] is None
    assert average["1"]["token_f_gap"] == pytest.approx(average["1"]["token_f"]["mean"] - 0.5010)
    markdown = (output / "fewshot.md").read_text(encoding="utf8")
    assert "| k | span P | span R | span F1 | token F1 | paper token F1 | gap (points) |" in markdown
    assert "| 0 |" in markdown and "35.44" in markdown and "| Gene | 2 | 2 | 2 |" in markdown
    png = output / "fewshot.png"
    if matplotlib_available():
        assert png.is_file() and report["plot"] == str(png)
    else:
        assert not png.exists() and report["plot"] is None
        assert "matplotlib is not installed" in result.output


def test_fewshot_base_model_never_saw_the_hidden_label(fewshot_run) -> None:
    output, _ = fewshot_run
    report = srsly.read_json(output / "fewshot.json")
    base = spacy.load(report["base"]["path"])
    assert base.get_pipe("bioner_prompted").label_descriptions == {"Chemical": "chemical", "Disease": "disease"}
    assert report["base"]["labels"] == {"Chemical": "chemical", "Disease": "disease"}
    assert report["base"]["removed_spans"] == {"train": {"ents": {"Gene": 3}, "sc": {"Gene": 3}},
                                               "dev": {"ents": {"Gene": 1}, "sc": {"Gene": 1}}}
    cfg = Config().from_disk(output / "base.cfg", interpolate=False)
    assert cfg["initialize"]["components"]["bioner_prompted"]["labels"] == {"Chemical": "chemical",
                                                                             "Disease": "disease"}
    assert cfg["components"]["bioner_prompted"]["labels"] is None
    # the corpora the training loop read are the filtered files, without any Gene span
    dev_path = Path(cfg["corpora"]["dev"]["path"])
    train_path = Path(cfg["corpora"]["train"]["path"])
    assert dev_path == output / "data" / "dev.seen.spacy" and train_path == output / "data" / "train.seen.spacy"
    for path, n_docs in ((dev_path, len(DEV)), (train_path, len(TRAIN))):
        docs = read(path)
        assert len(docs) == n_docs
        assert label_counts(docs, "sc")["Gene"] == 0 and all(e.label_ != "Gene" for d in docs for e in d.ents)
        assert label_counts(docs, "sc")["Disease"] > 0
    assert read(dev_path)[1].user_data["bioner_source"] == {"doc_id": "dev1"}
    assert "Gene" not in base.meta.get("labels", {}).get("bioner_prompted", [])
    assert math.isfinite(report["base"]["seconds"])


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--hidden", "Species"], "no gold span in the test set"),
        (["--hidden", "Gene", "--hidden", "Gene"], "given more than once"),
        (["--hidden", "Gene", "--shots", "1,x"], "Invalid --shots"),
        (["--hidden", "Gene", "--seeds", "0"], "Invalid --seeds"),
        (["--hidden", "Gene", "--fewshot-steps", "2", "--fewshot-epochs", "2"], "not both"),
        (["--hidden", "Gene", "--hidden", "Disease", "--hidden", "Chemical"], "Every label of the training set"),
    ],
)
def test_fewshot_command_errors(corpus: dict[str, Path], tmp_path: Path, extra: list[str], expected: str) -> None:
    result = CliRunner().invoke(app, fewshot_args(corpus, tmp_path / "out", *extra))
    assert result.exit_code == 1, result.output
    assert expected in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (tmp_path / "out" / "base").exists()


def test_fewshot_command_hidden_label_not_in_train(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    train = write_docbin(tmp_path / "train.spacy", [make_doc(nlp, *TRAIN[0]), make_doc(nlp, *TRAIN[1])])
    test = write_docbin(tmp_path / "test.spacy", [make_doc(nlp, *TEST[0])])
    corpus = {"train": train, "dev": train, "test": test}
    result = CliRunner().invoke(app, fewshot_args(corpus, tmp_path / "out", "--hidden", "Gene", "--shots", "0,1"))
    assert result.exit_code == 1
    assert "no gold span in any training sentence" in " ".join(result.output.split())


def test_fewshot_command_missing_file(corpus: dict[str, Path], tmp_path: Path) -> None:
    args = fewshot_args({**corpus, "dev": tmp_path / "nope.spacy"}, tmp_path / "out", "--hidden", "Gene")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "nope.spacy" in result.output and "no such file" in result.output
    (tmp_path / "bad.spacy").write_text("not a docbin")
    result = CliRunner().invoke(app, fewshot_args({**corpus, "test": tmp_path / "bad.spacy"}, tmp_path / "o",
                                                  "--hidden", "Gene"))
    assert result.exit_code == 1 and "cannot be read as a DocBin" in " ".join(result.output.split())

