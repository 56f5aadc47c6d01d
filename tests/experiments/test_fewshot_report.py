"""The report step of the few-shot experiment: summaries over seeds and labels, the plot."""
from __future__ import annotations

from pathlib import Path

import pytest

from spacy_bioner.experiments.fewshot.report import PAPER_TOKEN_F, aggregate, write_plot

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


def test_write_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    runs = [run("A", 0, None, 0.3, 0.1), *(run("A", 1, s, 0.2 + s / 10, 0.2) for s in range(2))]
    report = {"summary": aggregate(runs), "paper": {"token_f": {str(k): v for k, v in PAPER_TOKEN_F.items()}}}
    assert write_plot(report, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

