"""The report of the held-out protocol: per label, prompt and k, mean ± sd
over seeds (macro over the label's corpora), the mean over labels, per
corpus; written as zeroshot.json, zeroshot.md and zeroshot.png."""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import srsly
from wasabi import Printer

from ..fewshot.evaluation import METRICS
from ..fewshot.report import pct_summary, plot_average, save_f1_plot, summarise

#: The paper's zero-shot token F1 with BioBERT (Košprdić et al., table of hidden classes).
PAPER_ZERO_SHOT_TOKEN_F = 0.3544


def _macro(runs: Iterable[Mapping[str, Any]], keys: Sequence[str]) -> dict[tuple[Any, ...], dict[str, float]]:
    """Per group of `keys`, the mean of every metric over the group's runs."""
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[tuple(run[key] for key in keys)].append(run)
    return {key: {m: statistics.fmean(float(r[m]) for r in group) for m in METRICS} for key, group in groups.items()}


def summarise_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per label and per corpus, and averaged over labels, mean ± sd over seeds.

    A label's score in one seed is the macro-average over the corpora that
    annotate it; the average over labels is taken per seed, then summarised.

    runs (Sequence[Mapping[str, Any]]): label, corpus, prompt, k, seed and METRICS.
    RETURNS (dict[str, Any]): {"per_label": {label: {prompt: {k: {metric: summary}}}},
        "per_corpus": {label: {corpus: {prompt: {k: {...}}}}}, "average": {prompt: {k: {...}}}}.
    """
    per_seed = _macro(runs, ("label", "prompt", "k", "seed"))
    per_label: dict[str, Any] = defaultdict(lambda: defaultdict(dict))
    grouped: dict[tuple[Any, ...], list[dict[str, float]]] = defaultdict(list)
    for (label, prompt, k, _), scores in sorted(per_seed.items(), key=lambda item: str(item[0])):
        grouped[(label, prompt, k)].append(scores)
    for (label, prompt, k), seeds in grouped.items():
        per_label[label][prompt][str(k)] = {m: summarise([s[m] for s in seeds]) for m in METRICS}
    average: dict[str, Any] = defaultdict(dict)
    over_labels = _macro(({"label": key[0], "prompt": key[1], "k": key[2], "seed": key[3], **scores}
                          for key, scores in per_seed.items()), ("prompt", "k", "seed"))
    by_prompt_k: dict[tuple[str, int], list[dict[str, float]]] = defaultdict(list)
    for (prompt, k, _), scores in over_labels.items():
        by_prompt_k[(prompt, k)].append(scores)
    for (prompt, k), seeds in sorted(by_prompt_k.items()):
        average[prompt][str(k)] = {m: summarise([s[m] for s in seeds]) for m in METRICS}
    per_corpus: dict[str, Any] = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for (label, corpus, prompt, k), scores in _per_corpus(runs).items():
        per_corpus[label][corpus][prompt][str(k)] = scores
    return {"per_label": _plain(per_label), "per_corpus": _plain(per_corpus), "average": _plain(average)}


def _per_corpus(runs: Sequence[Mapping[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[(run["label"], run["corpus"], run["prompt"], run["k"])].append(run)
    return {key: {m: summarise([float(r[m]) for r in group]) for m in ("span_f", "token_f")}
            for key, group in groups.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def summarise_thresholds(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Zero-shot scores against the threshold, and the leave-one-label-out threshold.

    A threshold cannot be tuned on a label the model never saw, but it can be
    chosen on the other held-out labels: for each label, the threshold with
    the best mean token F1 over the OTHER labels (ties: nearest 0.5) is
    applied to it. A label's score is the macro over its corpora, averaged
    over seeds.

    With two seeds or more, "by_threshold_sd" and "leave_one_out_sd" give the
    sample sd over seeds of those means (each seed's labels at the same
    thresholds), so a threshold's gain can be set against the seed spread.

    runs (Sequence[Mapping[str, Any]]): label, corpus, prompt, seed, threshold and METRICS.
    RETURNS (dict[str, Any]): Per prompt: "by_threshold" {t: {metric: mean over
        labels}}, "leave_one_out" {metric: mean over labels}, "per_label"
        {label: {"threshold", metric...}}, and "by_threshold_sd" {t: {metric: sd}}
        and "leave_one_out_sd" {metric: sd} (None with one seed).
    """
    # a threshold read back from JSON by srsly (ujson) can be off in its last digit: 0.30000000000000004
    rounded = ({**run, "threshold": round(float(run["threshold"]), 6)} for run in runs)
    per_seed = _macro(rounded, ("label", "prompt", "threshold", "seed"))
    seeds_of: dict[str, dict[Any, dict[str, dict[float, dict[str, float]]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(dict)))
    for (label, prompt, value, seed), row in per_seed.items():
        seeds_of[prompt][seed][label][value] = row
    scores: dict[str, dict[str, dict[float, dict[str, float]]]] = defaultdict(lambda: defaultdict(dict))
    for prompt, seeds in seeds_of.items():
        for label, value in {(lab, v) for labels in seeds.values() for lab, by_t in labels.items() for v in by_t}:
            rows = [labels[label][value] for labels in seeds.values() if value in labels.get(label, {})]
            scores[prompt][label][value] = {m: statistics.fmean(row[m] for row in rows) for m in METRICS}
    out: dict[str, Any] = {}
    for prompt, labels in sorted(scores.items()):
        grid = sorted({value for by_t in labels.values() for value in by_t})
        by_threshold = {str(value): {m: statistics.fmean(labels[lab][value][m] for lab in labels if value in labels[lab])
                                     for m in METRICS} for value in grid}
        per_label: dict[str, Any] = {}
        for label, by_t in sorted(labels.items()):
            chosen = best_on_others(labels, label, [value for value in grid if value in by_t])
            if chosen is not None:
                per_label[label] = {"threshold": chosen, **by_t[chosen]}
        loo = {m: statistics.fmean(row[m] for row in per_label.values()) for m in METRICS} if per_label else {}
        picked = {label: row["threshold"] for label, row in per_label.items()}
        out[prompt] = {"by_threshold": by_threshold, "leave_one_out": loo, "per_label": per_label,
                       **_seed_spread(seeds_of[prompt], grid, picked)}
    return out


def _seed_spread(
    seeds: Mapping[Any, Mapping[str, Mapping[float, Mapping[str, float]]]], grid: Sequence[float],
    chosen: Mapping[str, float],
) -> dict[str, Any]:
    """The sd over seeds of the mean over labels, per threshold and at the chosen ones (None with one seed)."""
    def spread(pick: Any) -> dict[str, float | None]:
        per_seed = [rows for labels in seeds.values()
                    if (rows := [by_t[t] for label, by_t in labels.items() if (t := pick(label)) in by_t])]
        return {m: summarise([statistics.fmean(row[m] for row in rows) for rows in per_seed])["sd"] for m in METRICS}

    return {"by_threshold_sd": {str(value): spread(lambda _label, v=value: v) for value in grid},
            "leave_one_out_sd": spread(chosen.get) if chosen else {}}


def best_on_others(
    labels: Mapping[str, Mapping[float, Mapping[str, float]]], label: str, grid: Sequence[float]
) -> float | None:
    """The threshold of `grid` with the best mean token F1 over the labels other
    than `label` (ties: the one nearest 0.5); None without other labels."""
    others = [other for other in labels if other != label]
    if not others or not grid:
        return None

    def key(value: float) -> tuple[float, float]:
        return (statistics.fmean(labels[o].get(value, {}).get("token_f", 0.0) for o in others), -abs(value - 0.5))

    return max(grid, key=key)


def write_zeroshot_report(
    options: Any, removed: Sequence[str], corpora: Sequence[str], data: Any, runs: Sequence[Mapping[str, Any]],
    msg: Printer, threshold_runs: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Write zeroshot.json, zeroshot.md and (with matplotlib) zeroshot.png.

    RETURNS (dict[str, Any]): The report.
    """
    report: dict[str, Any] = {
        "settings": {"config": str(options.config_path), "corpus_root": str(options.corpus_root),
                     "held_out": list(options.held_out), "removed_with_overlaps": list(removed),
                     "corpora": list(corpora), "seeds": list(options.seeds), "shots": list(options.shots),
                     "fewshot_seeds": options.fewshot_seeds, "overrides": dict(options.overrides)},
        "test_docs": {label: {c: len(docs) for c, docs in refs.items()} for label, refs in data.references.items()},
        "pool_sizes": {label: len(pool) for label, pool in data.pools.items()},
        "paper_zero_shot_token_f": PAPER_ZERO_SHOT_TOKEN_F,
        "runs": list(runs),
        "summary": summarise_runs(runs),
    }
    if threshold_runs:
        report["settings"]["thresholds"] = sorted({float(r["threshold"]) for r in threshold_runs})
        report["threshold_runs"] = list(threshold_runs)
        report["thresholds"] = summarise_thresholds(threshold_runs)
    out = Path(options.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out / "zeroshot.json", report)
    (out / "zeroshot.md").write_text(render_markdown(report), encoding="utf8")
    if write_plot(report, out / "zeroshot.png"):
        msg.good(f"Wrote {out / 'zeroshot.png'}")
    msg.good(f"Wrote {out / 'zeroshot.json'} and {out / 'zeroshot.md'}")
    return report


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown tables: the mean over labels, then each label and corpus."""
    summary = report["summary"]
    lines = [f"Held out: {', '.join(report['settings']['held_out'])}; removed with their overlaps: "
             f"{', '.join(report['settings']['removed_with_overlaps'])}. Seeds: {report['settings']['seeds']}.", ""]
    lines += ["| prompt | k | token F1 | strict span F1 |", "|---|--:|--:|--:|"]
    for prompt, by_k in summary["average"].items():
        for k, entry in by_k.items():
            lines.append(f"| {prompt} | {k} | {pct_summary(entry['token_f'])} | {pct_summary(entry['span_f'])} |")
    lines += ["", f"Paper (BioBERT, zero-shot token F1): {100 * report['paper_zero_shot_token_f']:.2f}", ""]
    lines += ["| label | prompt | k | token F1 | strict span F1 |", "|---|---|--:|--:|--:|"]
    for label, prompts in summary["per_label"].items():
        for prompt, by_k in prompts.items():
            for k, entry in by_k.items():
                lines.append(f"| {label} | {prompt} | {k} | {pct_summary(entry['token_f'])} | {pct_summary(entry['span_f'])} |")
    lines += render_thresholds(report.get("thresholds"))
    lines += ["", "| label | corpus | prompt | k | token F1 | strict span F1 |", "|---|---|---|--:|--:|--:|"]
    for label, corpora in summary["per_corpus"].items():
        for corpus, prompts in corpora.items():
            for prompt, by_k in prompts.items():
                for k, entry in by_k.items():
                    lines.append(f"| {label} | {corpus} | {prompt} | {k} | {pct_summary(entry['token_f'])} "
                                 f"| {pct_summary(entry['span_f'])} |")
    return "\n".join(lines) + "\n"


def render_thresholds(thresholds: Mapping[str, Any] | None) -> list[str]:
    """The threshold tables (mean over labels per threshold; leave-one-label-out), if scored."""
    if not thresholds:
        return []
    lines = ["", "Zero-shot against the threshold (mean over held-out labels; ± sd over seeds), and each label at "
             "the threshold that is best on the other held-out labels (leave one label out):", "",
             "| prompt | threshold | token F1 | strict span F1 |", "|---|--:|--:|--:|"]
    def cell(row: Mapping[str, float], sds: Mapping[str, float | None], metric: str) -> str:
        spread = sds.get(metric)
        return f"{100 * row[metric]:.2f}" + ("" if spread is None else f" ± {100 * spread:.2f}")

    for prompt, entry in thresholds.items():
        sds = entry.get("by_threshold_sd") or {}
        for value, row in entry["by_threshold"].items():
            lines.append(f"| {prompt} | {value} | {cell(row, sds.get(value) or {}, 'token_f')} | "
                         f"{cell(row, sds.get(value) or {}, 'span_f')} |")
        loo, loo_sd = entry["leave_one_out"], entry.get("leave_one_out_sd") or {}
        if loo:
            lines.append(f"| {prompt} | leave one label out | {cell(loo, loo_sd, 'token_f')} | "
                         f"{cell(loo, loo_sd, 'span_f')} |")
    lines += ["", "| label | prompt | chosen on the others | token F1 | strict span F1 |", "|---|---|--:|--:|--:|"]
    for prompt, entry in thresholds.items():
        for label, row in entry["per_label"].items():
            lines.append(f"| {label} | {prompt} | {row['threshold']} | {100 * row['token_f']:.2f} | "
                         f"{100 * row['span_f']:.2f} |")
    return lines


def write_plot(report: Mapping[str, Any], path: Path) -> bool:
    """Token and span F1 against k (description prompt; k = 0 is zero-shot), mean ± sd, if matplotlib is there."""

    def draw(ax: Any) -> list[int]:
        ks = plot_average(ax, report["summary"]["average"].get("description", {}), "mean over held-out labels,")
        ax.axhline(report["paper_zero_shot_token_f"] * 100, color="k", linestyle=":",
                   label="paper zero-shot token F1 (BioBERT)")
        return sorted(ks)

    return save_f1_plot(path, "bioner_prompted base model: held-out labels",
                        "k (training sentences of the held-out label)", draw)
