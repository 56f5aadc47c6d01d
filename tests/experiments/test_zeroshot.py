"""The held-out protocol (python -m spacy_bioner zeroshot) end to end, with a
tiny encoder, two tiny catalogue corpora and a few updates."""
from __future__ import annotations

import json
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bioner.catalogue import load_catalogue
from spacy_bioner.cli import app
from spacy_bioner.experiments.fewshot import load_tagger

ROOT = Path(__file__).resolve().parents[2]
CDR = [
    ("Cisplatin induced nephrotoxicity in two rats .", [(0, 9, "Chemical"), (18, 32, "Disease")]),
    ("Patients with breast cancer received tamoxifen daily .", [(14, 27, "Disease"), (37, 46, "Chemical")]),
    ("No adverse events were seen .", []),
]
NCBI = [("Women treated for lung carcinoma .", [(18, 32, "Disease")]), ("Mutations cause ovarian cancer .", [(16, 30, "Disease")])]


def write_corpus(root: Path, corpus: str, data: list) -> None:
    nlp = spacy.blank("en")
    (root / corpus).mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        docs = []
        for text, spans in data:
            doc = nlp.make_doc(text)
            doc.ents = [doc.char_span(s, e, label=label) for s, e, label in spans]
            docs.append(doc)
        DocBin(docs=docs, store_user_data=True).to_disk(root / corpus / f"{split}.spacy")


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpora")
    write_corpus(root, "conll/BC5CDR-IOB", CDR)
    write_corpus(root, "conll/NCBI-disease-IOB", NCBI)
    return root


def test_zeroshot_command(corpus_root: Path, tiny_bert_dir: Path, tmp_path: Path) -> None:
    corpora = json.dumps(["conll/BC5CDR-IOB", "conll/NCBI-disease-IOB"])
    out = tmp_path / "out"
    args = ["zeroshot", str(corpus_root), str(out), "--hold-out", "cdr.chemical", "--config",
            str(ROOT / "configs" / "base.cfg"), "--seeds", "0", "--shots", "0,1", "--fewshot-seeds", "1", "--quiet",
            "--paths.encoder", str(tiny_bert_dir), "--catalogue.corpora", corpora, "--catalogue.dev_corpora", corpora,
            "--training.max_steps", "3", "--training.eval_frequency", "2", "--training.optimizer.learn_rate.warmup_steps", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "zeroshot.json").read_text())
    removed = load_catalogue().overlap_closure(["cdr.chemical"])
    assert set(report["settings"]["removed_with_overlaps"]) == removed
    # the base model never saw the held-out label, and kept the others
    _, tagger = load_tagger(out / "base-seed0" / "model-best", "bioner_prompted")
    assert not set(tagger.labels) & removed and "cdr.disease" in tagger.labels
    # zero-shot by name and by description on the corpus that annotates it; a few-shot run
    zero = {(r["prompt"], r["corpus"]) for r in report["runs"] if r["k"] == 0}
    assert zero == {("name", "conll/BC5CDR-IOB"), ("description", "conll/BC5CDR-IOB")}
    one = [r for r in report["runs"] if r["k"] == 1]
    assert len(one) == 1 and one[0]["k_used"] == 1 and 0.0 <= one[0]["token_f"] <= 1.0
    # the gold of the test split: only the held-out label's two spans
    assert report["test_docs"] == {"cdr.chemical": {"conll/BC5CDR-IOB": 3}}
    assert all(r["span_n_gold"] == 2 for r in report["runs"])
    assert "cdr.chemical" in (out / "zeroshot.md").read_text()
    # a second run reuses the trained base model; scored at thresholds too this time
    trained = (out / "base-seed0" / "model-last" / "meta.json").stat().st_mtime_ns
    again = CliRunner().invoke(app, [*args, "--thresholds", "0.5,0.2"])
    assert again.exit_code == 0, again.output
    assert (out / "base-seed0" / "model-last" / "meta.json").stat().st_mtime_ns == trained
    report = json.loads((out / "zeroshot.json").read_text())
    assert report["settings"]["thresholds"] == [0.2, 0.5]
    # at the component's own threshold (0.5) the threshold scoring gives exactly the k = 0 scores
    plain = {(r["prompt"], r["corpus"]): r for r in report["runs"] if r["k"] == 0}
    at_half = {(r["prompt"], r["corpus"]): r for r in report["threshold_runs"] if r["threshold"] == 0.5}
    # the threshold study adds the name+description ensemble
    assert at_half.keys() == plain.keys() | {("name+description", "conll/BC5CDR-IOB")}
    for key, run in plain.items():
        for metric in ("span_f", "token_f", "span_n_pred", "token_n_pred"):
            assert at_half[key][metric] == run[metric]
    assert set(report["thresholds"]["name"]["by_threshold"]) == {"0.2", "0.5"}
    # one held-out label: no other label to choose its threshold on
    assert report["thresholds"]["name"]["per_label"] == {}
    assert "| name | 0.2 |" in (out / "zeroshot.md").read_text()
    record = json.loads((out / "base-seed0" / "training.json").read_text())
    assert record["seed"] == 0 and set(record["removed"]) == removed and record["seconds"] > 0
    assert {r["base_seconds"] for r in report["runs"] if r["k"] == 0} == {record["seconds"]}


def test_zeroshot_trains_again_after_a_killed_run_and_refuses_other_held_out_labels(
    corpus_root: Path, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    corpora = json.dumps(["conll/BC5CDR-IOB", "conll/NCBI-disease-IOB"])
    out = tmp_path / "out"
    common = [str(corpus_root), str(out), "--config", str(ROOT / "configs" / "base.cfg"), "--seeds", "0",
              "--shots", "0", "--quiet", "--paths.encoder", str(tiny_bert_dir), "--catalogue.corpora", corpora,
              "--catalogue.dev_corpora", corpora, "--training.max_steps", "2", "--training.eval_frequency", "1",
              "--training.optimizer.learn_rate.warmup_steps", "1"]
    args = ["zeroshot", *common, "--hold-out", "cdr.chemical"]
    assert CliRunner().invoke(app, args).exit_code == 0
    # a killed training: spaCy wrote model-last at an evaluation, the run never finished
    (out / "base-seed0" / "training.json").unlink()
    meta = out / "base-seed0" / "model-last" / "meta.json"
    killed = meta.stat().st_mtime_ns
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert meta.stat().st_mtime_ns != killed and (out / "base-seed0" / "training.json").exists()
    # a finished base model that held out other labels is never scored for these
    other = CliRunner().invoke(app, ["zeroshot", *common, "--hold-out", "cdr.disease"])
    assert other.exit_code != 0 and "E416" in other.output
    assert json.loads((out / "zeroshot.json").read_text())["settings"]["held_out"] == ["cdr.chemical"]


def test_predict_at_thresholds_equals_predict_at_each_threshold(tiny_bert_dir: Path) -> None:
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("bioner_prompted", config={"labels": {"Disease": "disease", "Chemical": "chemical"},
                                                   "model": {"encoder": str(tiny_bert_dir)}})
    nlp.initialize()
    docs = [nlp.make_doc(text) for text, _ in CDR + NCBI]
    probs = sorted(float(p) for pred in pipe.predict(docs) for values in pred.word_probs.values()
                   for p in values if p == p)
    grid = [probs[len(probs) // 4], probs[len(probs) // 2], probs[3 * len(probs) // 4]]
    at = pipe.predict_at_thresholds(docs, grid)
    assert sorted(at) == sorted(grid)
    found = set()
    for value in grid:
        for label in pipe.labels:
            pipe.set_threshold(label, value)
        expected = [sorted(p.spans) for p in pipe.predict(docs)]
        assert [sorted(p.spans) for p in at[value]] == expected
        found.add(str(expected))
    assert len(found) == 3  # the thresholds give three different decodings
    with pytest.raises(ValueError, match=r"\[E319\]"):
        pipe.predict_at_thresholds(docs, [0.0])


def test_prompt_ensemble_averages_the_word_probabilities_of_the_prompts(tiny_bert_dir: Path) -> None:
    from spacy_bioner.experiments.zeroshot.run import ENSEMBLE, score_label_thresholds

    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("bioner_prompted", config={"labels": {"Chemical": "chemical"},
                                                   "model": {"encoder": str(tiny_bert_dir)}})
    nlp.initialize()
    refs = []
    for text, spans in CDR:
        doc = nlp.make_doc(text)
        doc.spans["sc"] = [doc.char_span(s, e, label=label) for s, e, label in spans if label == "Chemical"]
        refs.append(doc)
    grid = [0.3, 0.5, 0.7]
    # two identical prompts: the ensemble is the prompt itself, at every threshold
    same = score_label_thresholds(nlp, pipe, "Chemical", {"a": "a drug", "b": "a drug"}, {"c": refs}, grid)
    assert same[ENSEMBLE] == same["a"] == same["b"]
    # two different prompts: the ensemble decodes the mean of their word probabilities
    docs = [nlp.make_doc(text) for text, _ in CDR]
    probs = {}
    for key, text in (("a", "a drug"), ("b", "a chemical compound given to patients")):
        pipe.set_labels({"Chemical": text})
        probs[key] = [numpy.asarray(p.word_probs["Chemical"]) for p in pipe.predict(docs)]
    assert any(not numpy.allclose(a, b) for a, b in zip(probs["a"], probs["b"], strict=True))
    mean = [(a + b) / 2 for a, b in zip(probs["a"], probs["b"], strict=True)]
    # thresholds between the words' mean probabilities, where the prompts and their mean decode differently
    values = sorted(float(p) for doc_mean in mean for p in doc_mean)
    grid = sorted({round((values[i] + values[i + 1]) / 2, 6) for i in (len(values) // 4, len(values) // 2)})
    texts = {"a": "a drug", "b": "a chemical compound given to patients"}
    scores = score_label_thresholds(nlp, pipe, "Chemical", texts, {"c": refs}, grid)
    gold = {(i, t.i) for i, ref in enumerate(refs) for span in ref.spans["sc"] for t in span}
    differs = False
    for value in grid:
        predicted = {(i, w) for i, doc_mean in enumerate(mean) for w, p in enumerate(doc_mean) if p >= value}
        expected_f = 2 * len(predicted & gold) / (len(predicted) + len(gold))
        assert scores[ENSEMBLE][value]["c"]["token_n_pred"] == len(predicted)
        assert scores[ENSEMBLE][value]["c"]["token_f"] == pytest.approx(expected_f, abs=1e-6)
        differs |= any(scores[p][value]["c"]["token_n_pred"] != len(predicted) for p in texts)
    assert differs  # the ensemble is neither prompt alone


def test_leave_one_label_out_threshold_is_chosen_on_the_other_labels() -> None:
    from spacy_bioner.experiments.zeroshot.report import summarise_thresholds

    # token F1 per label at thresholds 0.2 / 0.5: A and B are best at 0.2, C at 0.5
    table = {"A": (0.6, 0.2), "B": (0.4, 0.3), "C": (0.1, 0.9)}
    runs = [{"label": label, "corpus": "c", "prompt": "name", "k": 0, "seed": 0, "threshold": t,
             **{m: f for m in ("span_p", "span_r", "span_f", "token_p", "token_r", "token_f")}}
            for label, scores in table.items() for t, f in zip((0.2, 0.5), scores, strict=True)]
    summary = summarise_thresholds(runs)["name"]
    # A: on B and C, 0.5 is better (0.6 vs 0.5 mean): A scores 0.2 there
    assert summary["per_label"]["A"] == pytest.approx({"threshold": 0.5, **{m: 0.2 for m in table_metrics()}})
    assert summary["per_label"]["B"]["threshold"] == 0.5 and summary["per_label"]["C"]["threshold"] == 0.2
    assert summary["leave_one_out"]["token_f"] == pytest.approx((0.2 + 0.3 + 0.1) / 3)
    assert summary["by_threshold"]["0.2"]["token_f"] == pytest.approx((0.6 + 0.4 + 0.1) / 3)


def test_threshold_tables_give_the_spread_over_seeds() -> None:
    import statistics

    from spacy_bioner.experiments.zeroshot.report import render_thresholds, summarise_thresholds

    # seed 1 scores every label 0.1 higher at 0.2 and the same at 0.5
    table = {"A": (0.6, 0.2), "B": (0.4, 0.3), "C": (0.1, 0.9)}
    runs = [{"label": label, "corpus": "c", "prompt": "name", "k": 0, "seed": seed, "threshold": t,
             **{m: f + (0.1 if seed and t == 0.2 else 0.0) for m in table_metrics()}}
            for seed in (0, 1) for label, scores in table.items() for t, f in zip((0.2, 0.5), scores, strict=True)]
    summary = summarise_thresholds(runs)["name"]
    at_02 = [(0.6 + 0.4 + 0.1) / 3, (0.7 + 0.5 + 0.2) / 3]
    assert summary["by_threshold"]["0.2"]["token_f"] == pytest.approx(statistics.fmean(at_02))
    assert summary["by_threshold_sd"]["0.2"]["token_f"] == pytest.approx(statistics.stdev(at_02))
    assert summary["by_threshold_sd"]["0.5"]["token_f"] == pytest.approx(0.0)
    # leave one label out, per seed at the thresholds chosen on the seed-averaged others
    per_seed = [[by_seed[summary["per_label"][label]["threshold"]] for label, by_seed in (
        ("A", {0.2: 0.6 + d, 0.5: 0.2}), ("B", {0.2: 0.4 + d, 0.5: 0.3}), ("C", {0.2: 0.1 + d, 0.5: 0.9}))]
        for d in (0.0, 0.1)]
    assert summary["leave_one_out_sd"]["token_f"] == pytest.approx(statistics.stdev(map(statistics.fmean, per_seed)))
    table_md = "\n".join(render_thresholds({"name": summary}))
    assert f"± {100 * statistics.stdev(at_02):.2f}" in table_md
    # a threshold read back from JSON a digit off is the same threshold
    off = [{**r, "threshold": 0.2 + 1e-12 if r["threshold"] == 0.2 and r["seed"] else r["threshold"]} for r in runs]
    assert summarise_thresholds(off)["name"]["by_threshold_sd"] == summary["by_threshold_sd"]
    # one seed: no spread, and none printed
    one = summarise_thresholds([r for r in runs if r["seed"] == 0])["name"]
    assert one["by_threshold_sd"]["0.2"]["token_f"] is None
    assert not [line for line in render_thresholds({"name": one}) if line.startswith("| name") and "±" in line]


def table_metrics() -> tuple[str, ...]:
    return ("span_p", "span_r", "span_f", "token_p", "token_r", "token_f")


def test_zeroshot_rejects_unknown_labels_and_seeds(corpus_root: Path, tmp_path: Path) -> None:
    base = ["zeroshot", str(corpus_root), str(tmp_path / "x"), "--config", str(ROOT / "configs" / "base.cfg")]
    unknown = CliRunner().invoke(app, [*base, "--hold-out", "no.such_label"])
    assert unknown.exit_code == 1 and "[E803]" in unknown.output
    bad_seeds = CliRunner().invoke(app, [*base, "--hold-out", "cdr.chemical", "--seeds", "a,b"])
    assert bad_seeds.exit_code == 1 and "[E809]" in bad_seeds.output
    for bad in ("0.1,x", "0,0.5", "1.5"):
        result = CliRunner().invoke(app, [*base, "--hold-out", "cdr.chemical", "--thresholds", bad])
        assert result.exit_code == 1 and "[E319]" in result.output, bad
