"""The report step: the runs summarised over seeds and labels, next to the
paper's figures, written as JSON, Markdown and (with matplotlib) a PNG plot."""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import srsly
from wasabi import Printer

from ...util import pct
from .data import FewshotData
from .evaluation import METRICS
from .options import FewshotOptions
from .training import BaseConfig, BaseModel, FinetuneSettings

#: Token-level F1 averaged over nine unseen classes, BioBERT v1.1 (Košprdić et
#: al., abstract), as fractions; k -> F1.
PAPER_TOKEN_F: dict[int, float] = {0: 0.3544, 1: 0.5010, 10: 0.6994, 100: 0.7951}
PAPER_MODEL = "BioBERT v1.1 (Košprdić et al., arXiv 2305.04928)"


def build_report(
    options: FewshotOptions,
    base_config: BaseConfig,
    settings: FinetuneSettings,
    descriptions: Mapping[str, str],
    base: BaseModel,
    data: FewshotData,
    test_docs_scored: int,
    runs: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Everything fewshot.json holds: settings, descriptions, base model, data, runs and summary.

    options (FewshotOptions): The experiment's options.
    base_config (BaseConfig): The base model's config.
    settings (FinetuneSettings): How the few-shot runs were trained.
    descriptions (Mapping[str, str]): Label -> description, for every label.
    base (BaseModel): The base model.
    data (FewshotData): The experiment's data.
    test_docs_scored (int): Annotated test documents.
    runs (Sequence[Mapping[str, Any]]): Every zero- and few-shot run.
    RETURNS (dict[str, Any]): The report ("plot" is None until `write_report` plots).
    """
    return {
        "settings": _settings_section(options, base_config, settings),
        "descriptions": dict(descriptions),
        "base": _base_section(base, data),
        "hidden": {
            label: {"description": descriptions[label], "train_spans": data.train_counts[label],
                    "train_sentences": len(data.pools[label]), "test_spans": data.test_counts[label]}
            for label in options.hidden
        },
        "test_docs_scored": test_docs_scored,
        "runs": list(runs),
        "summary": aggregate(runs),
        "paper": {
            "model": PAPER_MODEL,
            "metric": "token-level F1, average over nine unseen classes",
            "token_f": {str(k): v for k, v in PAPER_TOKEN_F.items()},
        },
        "plot": None,
    }


def _settings_section(options: FewshotOptions, base_config: BaseConfig, settings: FinetuneSettings) -> dict[str, Any]:
    return {
        "train": str(options.train), "dev": str(options.dev), "test": str(options.test),
        "config": str(options.config_path), "output": str(options.output_dir), "hidden": options.hidden,
        "shots": options.shots, "seeds": options.seeds, "encoder": options.encoder, "max_steps": options.max_steps,
        "fewshot_learn_rate": settings.optimizer["learn_rate"],
        "overrides": {k: _jsonable(v) for k, v in (options.overrides or {}).items()},
        "component": base_config.name, "spans_key": base_config.spans_key,
        "fewshot": {
            "batch_size": settings.batch_size, "steps": settings.steps, "epochs": settings.epochs,
            "rule": settings.rule,
            "gold": "only the hidden label's spans; the model knows only that label",
            "selection": "none: the final model is scored",
            "sampling": "without replacement; first k of one seeded permutation per (label, seed)",
        },
    }


def _base_section(base: BaseModel, data: FewshotData) -> dict[str, Any]:
    return {
        "path": str(base.path),
        "labels": base.labels,
        "dev_scores": base.dev_scores,
        "seconds": base.seconds,
        "config": str(base.config_path),
        "train_data": str(base.train_path),
        "dev_data": str(base.dev_path),
        "removed_spans": {
            split: {where: dict(counts) for where, counts in removed.items()} for split, removed in data.removed.items()
        },
    }


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def write_report(report: dict[str, Any], output_dir: Path, msg: Printer) -> None:
    """Write fewshot.json, fewshot.md and, with matplotlib, fewshot.png (then set report["plot"]).

    report (dict[str, Any]): From `build_report`.
    output_dir (Path): The output directory.
    msg (Printer): Says what was written.
    """
    png = output_dir / "fewshot.png"
    if write_plot(report, png):
        report["plot"] = str(png)
        msg.good(f"Saved the plot to {png}")
    else:
        msg.warn(f"matplotlib is not installed: {png} was not written. Install matplotlib "
                 "and rerun, or plot fewshot.json yourself.")
    srsly.write_json(output_dir / "fewshot.json", report)
    (output_dir / "fewshot.md").write_text(render_markdown(report), encoding="utf8")
    msg.good(f"Saved the report to {output_dir / 'fewshot.json'} and {output_dir / 'fewshot.md'}")


# ---- summaries ---------------------------------------------------------------------


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (None for fewer than two values).

    values (Sequence[float]): One number per run.
    RETURNS (dict[str, Any]): {"mean", "sd", "n", "values"}.
    """
    vals = [float(v) for v in values]
    return {
        "mean": statistics.fmean(vals) if vals else None,
        "sd": statistics.stdev(vals) if len(vals) > 1 else None,
        "n": len(vals),
        "values": vals,
    }


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Summarise runs per hidden label and k, and averaged over hidden labels.

    Each run is a mapping with "label", "k", "seed", "k_used" and the scores
    of METRICS. Per label and k, each metric is summarised over its runs
    (seeds). The average over labels is taken per (k, seed) first, macro
    over the labels with a run for it, and then summarised over seeds, so its
    sd is the spread of the macro-average between samples. k keys are strings
    (JSON). The paper's token F1 and the gap (our mean token F1 minus the
    paper's) are added per k where the paper has a figure.

    runs (Sequence[Mapping[str, Any]]): The runs.
    RETURNS (dict[str, Any]): {"per_label": {label: {k: {...}}}, "average": {k: {...}}}.
    """
    by_label: dict[str, dict[int, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    by_seed: dict[int, dict[Any, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        by_label[run["label"]][int(run["k"])].append(run)
        by_seed[int(run["k"])][run["seed"]].append(run)
    per_label = {
        label: {str(k): _label_entry(by_label[label][k]) for k in sorted(by_label[label])} for label in sorted(by_label)
    }
    average = {str(k): _average_entry(k, by_seed[k]) for k in sorted(by_seed)}
    return {"per_label": per_label, "average": average}


def _label_entry(group: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One label's runs (seeds) at one k, summarised."""
    entry: dict[str, Any] = {metric: summarise([r[metric] for r in group]) for metric in METRICS}
    entry["k_used"] = sorted({int(r["k_used"]) for r in group})
    entry["n_runs"] = len(group)
    return entry


def _average_entry(k: int, seeds: Mapping[Any, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """The macro-average over labels per seed at one k, summarised over seeds, with the paper's figure."""
    order = sorted(seeds, key=lambda s: (s is None, s if s is not None else 0))
    entry: dict[str, Any] = {
        metric: summarise([statistics.fmean(r[metric] for r in seeds[s]) for s in order]) for metric in METRICS
    }
    entry["labels"] = sorted({r["label"] for s in order for r in seeds[s]})
    paper = PAPER_TOKEN_F.get(k)
    entry["paper_token_f"] = paper
    mean = entry["token_f"]["mean"]
    entry["token_f_gap"] = mean - paper if paper is not None and mean is not None else None
    return entry


# ---- Markdown ------------------------------------------------------------------------


def pct_summary(stat: Mapping[str, Any] | float | None) -> str:
    """A score, or a summary as "mean ± sd", in %."""
    if not isinstance(stat, Mapping):
        return pct(stat)
    text = pct(stat.get("mean"))
    if stat.get("mean") is not None and stat.get("sd") is not None:
        text += f" ± {pct(stat['sd'])}"
    return text


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: the average over hidden labels next to the paper, then per label.

    report (Mapping[str, Any]): The report of `run_fewshot`.
    RETURNS (str): The Markdown text.
    """
    lines = [*_markdown_header(report), *_markdown_average(report), *_markdown_per_label(report)]
    return "\n".join(lines) + "\n"


def _markdown_header(report: Mapping[str, Any]) -> list[str]:
    settings = report["settings"]
    descriptions = report["descriptions"]
    seen = report["base"]["labels"]
    return [
        "# Zero- and few-shot NER with bioner_prompted",
        "",
        "- hidden labels: " + ", ".join(f"`{label}` (\"{descriptions[label]}\")" for label in settings["hidden"]),
        "- seen labels (base model): " + (", ".join(f"`{label}` (\"{d}\")" for label, d in seen.items()) or "-"),
        f"- base model: `{report['base']['path']}`, selected on dev without the hidden labels",
        f"- few-shot: {settings['seeds']} seed(s) per k > 0, k sentences drawn without replacement; "
        f"{settings['fewshot']['rule']}; batch {settings['fewshot']['batch_size']}; "
        f"constant learning rate {settings.get('fewshot_learn_rate', '-')}; final model scored",
        "- scores in %: mean ± sample sd over seeds; k = 0 is one run (nothing is sampled)",
        "",
    ]


def _markdown_average(report: Mapping[str, Any]) -> list[str]:
    rows = []
    for k, entry in report["summary"]["average"].items():
        gap = entry["token_f_gap"]
        rows.append([k, *(pct_summary(entry[key]) for key in ("span_p", "span_r", "span_f", "token_f", "paper_token_f")),
                     "-" if gap is None else f"{gap * 100:+.2f}"])
    columns = ["k", "span P", "span R", "span F1", "token F1", "paper token F1", "gap (points)"]
    return [
        *_table("Average over hidden labels", columns, "rrrrrrr", rows),
        "",
        f"Paper: token-level F1 averaged over nine unseen classes, {report['paper']['model']}; "
        "its classes, corpora and encoder differ from this run unless chosen to match, so the gap is indicative.",
        "",
    ]


def _markdown_per_label(report: Mapping[str, Any]) -> list[str]:
    rows = []
    for label, by_k in report["summary"]["per_label"].items():
        for k, entry in by_k.items():
            used = ", ".join(str(u) for u in entry["k_used"])
            rows.append([label, k, used, str(entry["n_runs"]), *(pct_summary(entry[metric]) for metric in METRICS)])
    columns = ["label", "k", "k used", "runs", "span P", "span R", "span F1", "token P", "token R", "token F1"]
    lines = _table("Per hidden label", columns, "lrrrrrrrrr", rows)
    shots = report["settings"]["shots"]
    capped = [f"`{label}`: {info['train_sentences']}" for label, info in report["hidden"].items()
              if any(int(k) > info["train_sentences"] for k in shots)]
    if capped:
        lines += ["", "Fewer training sentences than k (all were used): " + ", ".join(capped) + "."]
    return lines


def _table(title: str, columns: Sequence[str], aligns: str, rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown section with one table; `aligns` has an "l" or "r" per column."""
    rule = "|" + "|".join("---" if align == "l" else "--:" for align in aligns) + "|"
    return [f"## {title}", "", _row(columns), rule, *(_row(cells) for cells in rows)]


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


# ---- the plot ----------------------------------------------------------------------------


def matplotlib_available() -> bool:
    """RETURNS (bool): Whether matplotlib can be imported (it is optional)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plot(report: Mapping[str, Any], path: Path) -> bool:
    """Plot F1 against k (mean ± sd over seeds) with the paper's figures, if matplotlib is installed.

    report (Mapping[str, Any]): The report of `run_fewshot`.
    path (Path): The PNG to write.
    RETURNS (bool): Whether the plot was written.
    """

    def draw(ax: Any) -> list[int]:
        ks = _plot_scores(ax, report["summary"])
        paper = report["paper"]["token_f"]
        ax.plot([int(k) for k in paper], [v * 100 for v in paper.values()], "k*", markersize=9,
                label="paper token F1 (BioBERT)")
        return sorted(set(ks) | {int(k) for k in paper})

    return save_f1_plot(path, "bioner_prompted: zero- and few-shot F1 on hidden labels",
                        "k (training sentences of the hidden label)", draw)


def save_f1_plot(path: Path, title: str, xlabel: str, draw: Callable[[Any], list[int]]) -> bool:
    """The figure of the zero- and few-shot reports: F1 (%) against k on a
    symlog axis; `draw(ax)` draws the curves and returns the k ticks.

    path (Path): The PNG to write.
    title (str): The figure title.
    xlabel (str): What k counts.
    draw (Callable[[Any], list[int]]): Draws on the axes; RETURNS the ticks.
    RETURNS (bool): Whether the plot was written (matplotlib is optional).
    """
    if not matplotlib_available():
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ticks = draw(ax)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(k) for k in ticks])
    ax.set_ylim(0, 100)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("F1 (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_average(ax: Any, average: Mapping[str, Any], label: str) -> list[int]:
    """Draw the average token and strict span F1 curves (mean ± sd bars); RETURNS the k values."""
    ks = [int(k) for k in average]
    for metric, name, style in (("token_f", "token F1", "-"), ("span_f", "strict span F1", "--")):
        means = [average[str(k)][metric]["mean"] * 100 for k in ks]
        sds = [(average[str(k)][metric]["sd"] or 0.0) * 100 for k in ks]
        ax.errorbar(ks, means, yerr=sds, marker="o", linestyle=style, capsize=3, label=f"{label} {name}")
    return ks


def _plot_scores(ax: Any, summary: Mapping[str, Any]) -> list[int]:
    """Draw the average F1 curves (with sd bars) and each label's token F1; RETURNS the k values."""
    ks = plot_average(ax, summary["average"], "average")
    for label, by_k in summary["per_label"].items():
        label_ks = [int(k) for k in by_k]
        ax.plot(label_ks, [by_k[str(k)]["token_f"]["mean"] * 100 for k in label_ks],
                linestyle=":", marker=".", alpha=0.6, label=f"{label} token F1")
    return ks
