"""The zero-/few-shot experiment of bioner_prompted: its pieces, and one tiny run of the command."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from thinc.api import Config
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.errors import BioNERInputError
from spacy_bioner.fewshot import (
    PAPER_TOKEN_F,
    Sentence,
    aggregate,
    describe,
    fewshot_schedule,
    hidden_references,
    label_counts,
    load_descriptions,
    matplotlib_available,
    parse_shots,
    remove_labels,
    sample_sentences,
    sentence_example,
    sentence_pool,
)

ROOT = Path(__file__).resolve().parents[2]
Gold = list[tuple[str, str]]  # (span text, label)

TRAIN: list[tuple[str, Gold]] = [
    ("Patients with breast cancer received tamoxifen daily .", [("breast cancer", "Disease"), ("tamoxifen", "Chemical")]),
    ("Cisplatin induced nephrotoxicity in two rats .", [("Cisplatin", "Chemical"), ("nephrotoxicity", "Disease")]),
    ("Mutations in brca1 cause ovarian cancer .", [("brca1", "Gene"), ("ovarian cancer", "Disease")]),
    ("Mutations in brca2 cause breast cancer .", [("brca2", "Gene"), ("breast cancer", "Disease")]),
    ("Women with brca1 mutations were treated for lung carcinoma .", [("brca1", "Gene"), ("lung carcinoma", "Disease")]),
    ("No adverse events were seen .", []),
]
DEV: list[tuple[str, Gold]] = [
    ("Tamoxifen was given to women with breast cancer .", [("Tamoxifen", "Chemical"), ("breast cancer", "Disease")]),
    ("Brca2 mutations cause ovarian cancer .", [("Brca2", "Gene"), ("ovarian cancer", "Disease")]),
]
TEST: list[tuple[str, Gold]] = [
    ("Brca1 and brca2 mutations cause breast cancer .", [("Brca1", "Gene"), ("brca2", "Gene"), ("breast cancer", "Disease")]),
    ("Cisplatin was given after surgery .", [("Cisplatin", "Chemical")]),
]


def make_doc(nlp: Language, text: str, gold: Gold, doc_id: str | None = None) -> Doc:
    doc = nlp.make_doc(text)
    spans = []
    for span_text, label in gold:
        start = text.index(span_text)
        span = doc.char_span(start, start + len(span_text), label=label)
        assert span is not None
        spans.append(span)
    doc.spans["sc"] = spans
    doc.set_ents(spacy.util.filter_spans(spans), default="outside")
    if doc_id is not None:
        doc.user_data["bioner_source"] = {"doc_id": doc_id}
    return doc


def write_docbin(path: Path, docs: list[Doc]) -> Path:
    doc_bin = DocBin(store_user_data=True)
    for doc in docs:
        doc_bin.add(doc)
    doc_bin.to_disk(path)
    return path


def read(path: Path) -> list[Doc]:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def labels_of(doc: Doc) -> dict[str, list[str]]:
    out = {"ents": sorted(e.label_ for e in doc.ents)}
    for key, group in doc.spans.items():
        out[key] = sorted(s.label_ for s in group)
    return out


@pytest.fixture(scope="module")
def nlp() -> Language:
    return spacy.blank("en")


# ---- hidden-label removal ---------------------------------------------------


def test_remove_labels_from_ents_and_every_span_group(nlp: Language) -> None:
    doc = make_doc(nlp, *TRAIN[2], doc_id="d3")
    doc.spans["other"] = [Span(doc, 2, 3, label="Gene"), Span(doc, 0, 1, label="Chemical")]
    doc.spans["other"].attrs["scores"] = [0.9, 0.8]
    # one token with missing entity annotation must stay missing
    doc.set_ents([], missing=[doc[-1:]], default="unmodified")
    (out,), removed = remove_labels([doc], ["Gene"])
    assert labels_of(out) == {"ents": ["Disease"], "sc": ["Disease"], "other": ["Chemical"]}
    assert removed == {"ents": {"Gene": 1}, "sc": {"Gene": 1}, "other": {"Gene": 1}}
    brca1 = out[2]
    assert (brca1.text, brca1.ent_iob_, brca1.ent_type_) == ("brca1", "O", "")
    assert out[-1].ent_iob_ == ""
    assert "scores" not in out.spans["other"].attrs  # no longer one per span
    assert out.user_data["bioner_source"] == {"doc_id": "d3"}
    # the input is not modified
    assert labels_of(doc)["sc"] == ["Disease", "Gene"] and doc[2].ent_type_ == "Gene"


def test_remove_labels_doc_with_ents_only(nlp: Language) -> None:
    doc = make_doc(nlp, *DEV[1])
    del doc.spans["sc"]
    (out,), removed = remove_labels([doc], ["Gene", "Species"])
    assert labels_of(out) == {"ents": ["Disease"]} and removed == {"ents": {"Gene": 1}}
    assert label_counts([out], "sc") == {"Disease": 1}


# ---- sentences and sampling ---------------------------------------------------


def test_sentence_pool_splits_sentences_and_dedupes(nlp: Language) -> None:
    text = "Mutations in brca1 cause ovarian cancer . No adverse events were seen . Brca2 was seen ."
    doc = make_doc(nlp, text, [("brca1", "Gene"), ("ovarian cancer", "Disease"), ("Brca2", "Gene")])
    for token in doc:
        token.is_sent_start = token.i == 0 or doc[token.i - 1].text == "."
    no_sents = make_doc(nlp, *TRAIN[3])
    duplicate = make_doc(nlp, *TRAIN[3])
    chem_only = make_doc(nlp, *TRAIN[0])
    pool = sentence_pool([doc, no_sents, duplicate, chem_only], "Gene", "sc")
    assert [(s.doc_index, s.start, s.text) for s in pool] == [
        (0, 0, "Mutations in brca1 cause ovarian cancer ."),
        (0, 13, "Brca2 was seen ."),
        (1, 0, "Mutations in brca2 cause breast cancer ."),
    ]
    assert [s.spans for s in pool] == [((2, 3),), ((0, 1),), ((2, 3),)]


def make_pool(n: int) -> list[Sentence]:
    return [Sentence(i, 0, 3, ("gene", f"g{i}", "."), (True, True, False), ((1, 2),)) for i in range(n)]


def test_sample_sentences_without_replacement() -> None:
    pool = make_pool(12)
    samples = {seed: sample_sentences(pool, 5, seed, "Gene") for seed in range(4)}
    for seed, sample in samples.items():
        assert len(sample) == 5 and len({s.doc_index for s in sample}) == 5  # distinct
        assert all(s in pool and s.spans for s in sample)  # all contain the label
        assert sample == sample_sentences(pool, 5, seed, "Gene")  # deterministic
        assert sample_sentences(pool, 2, seed, "Gene") == sample[:2]  # nested across k
    assert len({tuple(s.doc_index for s in sample) for sample in samples.values()}) == 4  # differ by seed
    assert sample_sentences(pool, 5, 0, "Gene") != sample_sentences(pool, 5, 0, "Disease")
    # k larger than the pool: everything, once
    everything = sample_sentences(pool, 50, 1, "Gene")
    assert sorted(s.doc_index for s in everything) == list(range(12))
    assert sample_sentences(pool, 0, 0, "Gene") == [] and sample_sentences([], 3, 0, "Gene") == []


def test_sentence_example_keeps_only_the_label(nlp: Language) -> None:
    doc = make_doc(nlp, *TRAIN[4])
    (sentence,) = sentence_pool([doc], "Gene", "sc")
    eg = sentence_example(nlp, sentence, "Gene", "sc")
    assert [(s.text, s.label_) for s in eg.reference.spans["sc"]] == [("brca1", "Gene")]
    assert [(s.text, s.label_) for s in eg.reference.ents] == [("brca1", "Gene")]
    assert eg.predicted.text == doc.text and not eg.predicted.ents


def test_hidden_references(nlp: Language) -> None:
    docs = [make_doc(nlp, text, gold) for text, gold in TEST] + [nlp.make_doc("Not annotated .")]
    refs = hidden_references(docs, ["Gene"], "sc")
    assert len(refs) == 2
    assert [labels_of(ref) for ref in refs] == [{"ents": ["Gene", "Gene"], "sc": ["Gene", "Gene"]},
                                                {"ents": [], "sc": []}]


# ---- options -------------------------------------------------------------------


def test_parse_shots() -> None:
    assert parse_shots("0,1,10,100") == [0, 1, 10, 100]
    assert parse_shots(" 10, 1,1") == [1, 10]
    assert parse_shots([2, 0]) == [0, 2]
    for bad in ("a", "-1", "", "1.5", "1,,2", "--1", "²", [True]):
        with pytest.raises(BioNERInputError, match="--shots"):
            parse_shots(bad)


def test_fewshot_schedule() -> None:
    assert fewshot_schedule(1, 16) == 10
    assert fewshot_schedule(100, 16) == 21  # 3 passes of 7 batches
    assert fewshot_schedule(100, 16, epochs=2) == 14
    assert fewshot_schedule(5, 16, steps=4) == 4
    with pytest.raises(BioNERInputError, match="not both"):
        fewshot_schedule(5, 16, steps=4, epochs=2)
    with pytest.raises(BioNERInputError, match="positive"):
        fewshot_schedule(5, 16, steps=0)


def test_descriptions(tmp_path: Path) -> None:
    assert describe("Gene_or_gene_product") == "gene or gene product"
    assert describe("SpecificDisease") == "specific disease"
    assert describe("Gene", {"Gene": "gene or protein"}, {"Gene": "gene"}) == "gene or protein"
    assert describe("Gene", None, {"Gene": "a gene"}) == "a gene"
    path = tmp_path / "d.json"
    srsly.write_json(path, {"Gene": "gene or protein"})
    assert load_descriptions(path) == {"Gene": "gene or protein"}
    srsly.write_json(path, {"Gene": ""})
    with pytest.raises(BioNERInputError, match="description of 'Gene'"):
        load_descriptions(path)
    srsly.write_json(path, ["Gene"])
    with pytest.raises(BioNERInputError, match="not an object"):
        load_descriptions(path)


# ---- report ------------------------------------------------------------------------


def run(label: str, k: int, seed: int | None, token_f: float, span_f: float, k_used: int | None = None) -> dict:
    scores = {"span_p": span_f, "span_r": span_f, "span_f": span_f,
              "token_p": token_f, "token_r": token_f, "token_f": token_f}
    return {"label": label, "k": k, "seed": seed, "k_used": k if k_used is None else k_used, **scores}


def test_aggregate_mean_and_sd() -> None:
    runs = [
        run("A", 0, None, 0.30, 0.10),
        run("B", 0, None, 0.50, 0.30),
        *(run("A", 1, s, f, 0.2) for s, f in enumerate([0.2, 0.4, 0.6])),
        *(run("B", 1, s, 0.4, 0.4) for s in range(3)),
        *(run("B", 10, s, 0.7, 0.5, k_used=4) for s in range(3)),
        *(run("A", 10, s, 0.9, 0.5) for s in range(3)),
    ]
    summary = aggregate(runs)
    a1 = summary["per_label"]["A"]["1"]["token_f"]
    assert a1["mean"] == pytest.approx(0.4) and a1["sd"] == pytest.approx(0.2) and a1["n"] == 3
    assert a1["values"] == [0.2, 0.4, 0.6]
    assert summary["per_label"]["B"]["1"]["token_f"]["sd"] == pytest.approx(0.0)
    assert summary["per_label"]["B"]["10"]["k_used"] == [4]
    zero = summary["per_label"]["A"]["0"]["token_f"]
    assert (zero["mean"], zero["sd"], zero["n"]) == (pytest.approx(0.3), None, 1)
    # the average is macro over labels per seed, then summarised over seeds
    avg1 = summary["average"]["1"]["token_f"]
    assert avg1["values"] == pytest.approx([0.3, 0.4, 0.5])
    assert avg1["mean"] == pytest.approx(0.4) and avg1["sd"] == pytest.approx(0.1)
    avg0 = summary["average"]["0"]
    assert avg0["token_f"]["mean"] == pytest.approx(0.4) and avg0["token_f"]["sd"] is None
    assert avg0["span_f"]["mean"] == pytest.approx(0.2)
    assert avg0["paper_token_f"] == PAPER_TOKEN_F[0]
    assert avg0["token_f_gap"] == pytest.approx(0.4 - 0.3544)
    assert summary["average"]["10"]["token_f_gap"] == pytest.approx(0.8 - 0.6994)
    assert list(summary["average"]) == ["0", "1", "10"]


def test_aggregate_k_without_paper_figure() -> None:
    summary = aggregate([run("A", 2, 0, 0.5, 0.5)])
    assert summary["average"]["2"]["paper_token_f"] is None and summary["average"]["2"]["token_f_gap"] is None


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


def test_finetune_learns_the_new_label(tiny_bert_dir: Path) -> None:
    from thinc.api import fix_random_seed

    from spacy_bioner.fewshot import finetune, score_labels

    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_prompted", config={"model": {"encoder": str(tiny_bert_dir), "dropout": 0.0},
                                            "labels": {"Disease": "disease"}})
    doc = make_doc(nlp, *TRAIN[3])
    nlp.initialize(lambda: [Example(nlp.make_doc(doc.text), doc)])
    nlp.get_pipe("bioner_prompted").set_labels({"Gene": "gene"})
    (sentence,) = sentence_pool([doc], "Gene", "sc")
    optimizer = {"@optimizers": "Adam.v1", "learn_rate": 0.005}
    finetune(nlp, "bioner_prompted", [sentence_example(nlp, sentence, "Gene", "sc")], steps=40, batch_size=4,
             optimizer_config=optimizer, seed=0)
    scores = score_labels(nlp, hidden_references([doc], ["Gene"], "sc"), ["Gene"], "sc")
    assert scores["Gene"]["span_f"] == 1.0 and scores["Gene"]["token_f"] == 1.0


def test_write_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from spacy_bioner.fewshot import write_plot

    runs = [run("A", 0, None, 0.3, 0.1), *(run("A", 1, s, 0.2 + s / 10, 0.2) for s in range(2))]
    report = {"summary": aggregate(runs), "paper": {"token_f": {str(k): v for k, v in PAPER_TOKEN_F.items()}}}
    assert write_plot(report, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fewshot_optimizer_uses_a_constant_rate() -> None:
    from spacy_bioner.fewshot import fewshot_optimizer

    schedule = {"@schedules": "warmup_linear.v1", "warmup_steps": 60, "total_steps": 600, "initial_rate": 5e-5}
    block = {"@optimizers": "Adam.v1", "learn_rate": schedule, "L2": 0.01}
    assert fewshot_optimizer(block) == {"@optimizers": "Adam.v1", "learn_rate": 5e-5, "L2": 0.01}
    assert fewshot_optimizer(block, 1e-4)["learn_rate"] == 1e-4
    assert block["learn_rate"] is schedule  # the base config is not modified
    assert fewshot_optimizer({"@optimizers": "Adam.v1", "learn_rate": 0.001})["learn_rate"] == 0.001
    with pytest.raises(BioNERInputError, match="--fewshot-lr"):
        fewshot_optimizer({"@optimizers": "Adam.v1", "learn_rate": {"@schedules": "constant.v1", "rate": 0.1}})
