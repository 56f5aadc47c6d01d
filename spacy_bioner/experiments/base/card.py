"""The packaging step: the packaged base model's default labels and its model
card (meta.json ``description``, ``sources`` and ``bioner_base``): the
training corpora with their licences, the per-corpus test scores and the
zero-shot figures, when measured."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...catalogue import LabelCatalogue
from ...errors import BioNERInputError, Errors
from ...util import pct
from ..fewshot.report import pct_summary

#: What `nlp(text)` tags in the packaged model, as catalogue label ids: the
#: BC5CDR chemical and disease types (the most used biomedical NER types), the
#: CG gene-or-gene-product type (genes, RNAs, proteins, families and
#: complexes: the broad reading users expect) and the LINNAEUS species type.
#: Each is written on spans as its catalogue name ("Disease", "Chemical",
#: "Gene or gene product", "Species"). Few on purpose: every label is one
#: encoder pass per sentence.
DEFAULT_LABELS = ("cdr.disease", "cdr.chemical", "bionlp13.gene_or_gene_product", "linnaeus.species")
#: The prompts the zero-shot report scores.
PROMPTS = ("name", "description")


def set_default_labels(tagger: Any, labels: Sequence[str], catalogue: LabelCatalogue, path: str | Path) -> dict[str, str]:
    """Replace the component's labels by a few catalogue labels, each named by its catalogue name.

    tagger (Any): The trained bioner_prompted component (labels are catalogue ids).
    labels (Sequence[str]): Catalogue label ids it was trained on.
    catalogue (LabelCatalogue): The label catalogue.
    path (str | Path): The pipeline, for errors.
    RETURNS (dict[str, str]): Span label (catalogue name) -> catalogue id.
    RAISES (BioNERInputError): E916 for a label the component does not know, or two labels with one name.
    """
    known = tagger.label_descriptions
    named: dict[str, str] = {}
    for label in labels:
        name = catalogue.label(label).name
        if label not in known:
            what = f"the pipeline has no such label (its labels: {', '.join(sorted(known))})"
            raise BioNERInputError(Errors.E916.format(label=label, what=what, path=path))
        if name in named:
            what = f"its catalogue name {name!r} is the name of {named[name]!r} too"
            raise BioNERInputError(Errors.E916.format(label=label, what=what, path=path))
        named[name] = label
    tagger.set_labels({name: known[label] for name, label in named.items()})
    return named


def corpus_sources(catalogue: LabelCatalogue, corpora: Sequence[str]) -> list[dict[str, str]]:
    """The training corpora as meta.json `sources`, each with its licence from the catalogue.

    RETURNS (list[dict[str, str]]): {"name", "license"} per corpus.
    """
    return [{"name": f"{catalogue.corpus(c).name} ({c})", "license": catalogue.corpus(c).licence} for c in corpora]


def zeroshot_figures(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The zero-shot (k = 0) figures of a zeroshot.json report.

    report (Mapping[str, Any] | None): The report of `python -m spacy_bioner zeroshot`.
    RETURNS (dict[str, Any] | None): {"held_out", "seeds", "average": {prompt: {token_f, span_f}},
        "per_label": {label: {prompt: {token_f, span_f}}}, "paper_token_f"}, each score a
        mean ± sd summary; None without a report.
    """
    if not report:
        return None

    def k0(by_prompt: Mapping[str, Any]) -> dict[str, Any]:
        return {prompt: {m: by_prompt[prompt]["0"][m] for m in ("token_f", "span_f")}
                for prompt in PROMPTS if "0" in by_prompt.get(prompt, {})}

    summary = report["summary"]
    return {"held_out": list(report["settings"]["held_out"]), "seeds": list(report["settings"]["seeds"]),
            "average": k0(summary["average"]),
            "per_label": {label: k0(prompts) for label, prompts in summary["per_label"].items()},
            "paper_token_f": report.get("paper_zero_shot_token_f")}


def new_label_threshold(report: Mapping[str, Any] | None, prompt: str = "description") -> dict[str, float | None] | None:
    """The threshold for labels a user adds to the packaged base model.

    A type the model never trained on gets probabilities of another scale
    than the trained ones, and its own threshold cannot be tuned without its
    data. The held-out labels of the zero-shot protocol stand in for it: the
    threshold with the best mean zero-shot token F1 over them (`zeroshot
    --thresholds`; ties: nearest 0.5).

    report (Mapping[str, Any] | None): A zeroshot.json report.
    prompt (str): The prompt the threshold is chosen for.
    RETURNS (dict[str, float | None] | None): {"threshold", "token_f" (mean at it),
        "token_f_at_0.5", "token_f_leave_one_out" (each label at the threshold
        best on the others: the honest estimate)}; None without threshold scores.
    """
    entry = ((report or {}).get("thresholds") or {}).get(prompt) or {}
    by_threshold = entry.get("by_threshold") or {}
    if not by_threshold:
        return None
    best = max(by_threshold, key=lambda t: (by_threshold[t]["token_f"], -abs(float(t) - 0.5)))
    half = next((row for t, row in by_threshold.items() if float(t) == 0.5), None)
    loo = entry.get("leave_one_out") or {}
    return {"threshold": float(best), "token_f": float(by_threshold[best]["token_f"]),
            "token_f_at_0.5": None if half is None else float(half["token_f"]),
            "token_f_leave_one_out": None if loo.get("token_f") is None else float(loo["token_f"])}


def apply_new_label_threshold(nlp: Any, tagger: Any, value: float) -> None:
    """Make `value` the threshold of labels added from now on; the current
    (trained) labels keep theirs. Set in the pipeline's config too, which the
    component is rebuilt from when the package is loaded."""
    for label in tagger.labels:
        tagger.set_threshold(label, tagger.threshold_for(label))
    tagger.threshold = float(value)
    nlp.get_pipe_config(tagger.name)["threshold"] = float(value)


def corpus_rows(catalogue: LabelCatalogue, corpora: Sequence[str], metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per training corpus: id, name, licence, its labels and its test scores (None: not scored)."""
    rows = []
    for corpus in corpora:
        scores = metrics["corpora"].get(corpus, {})
        rows.append({"corpus": corpus, "name": catalogue.corpus(corpus).name,
                     "license": catalogue.corpus(corpus).licence, "labels": scores.get("labels", []),
                     "span_f": scores.get("span_f"), "token_f": scores.get("token_f")})
    return rows


def card_markdown(rows: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any], zeroshot: Mapping[str, Any] | None,
                  default_labels: Mapping[str, str], new_threshold: Mapping[str, Any] | None = None) -> str:
    """The model card's Markdown: corpora, licences and test F1; zero-shot; the default labels."""
    lines = ["### Training corpora and test scores", "",
             "Each corpus's test split, scored on its own labels (strict span F1, token F1):", "",
             "| corpus | licence | labels | span F1 | token F1 |", "|---|---|--:|--:|--:|"]
    lines += [f"| {r['name']} (`{r['corpus']}`) | {r['license']} | {len(r['labels'])} | {pct(r['span_f'])} | "
              f"{pct(r['token_f'])} |" for r in rows]
    overall = metrics["overall"]
    lines += [f"| all corpora (micro) | | | {pct(overall['span_f'])} | {pct(overall['token_f'])} |", ""]
    lines += zeroshot_markdown(zeroshot)
    labels = ", ".join(f"{name} (`{label}`)" for name, label in default_labels.items())
    lines += ["### Labels", "", f"`nlp(text)` tags {labels}: each label is one encoder pass per sentence, so the "
              "package keeps a few. Add a type by its name or a description, e.g. "
              "`nlp.get_pipe(\"bioner_prompted\").add_label(\"Cell line\", \"cell line\")`, or replace them "
              "with `set_labels({label: description})`."]
    if new_threshold is not None:
        how = "chosen by hand"
        if new_threshold.get("token_f") is not None:
            how = (f"the threshold with the best mean zero-shot token F1 over the held-out labels described by their "
                   f"descriptions: {pct(new_threshold['token_f'])}")
            if new_threshold.get("token_f_at_0.5") is not None:
                how += f", against {pct(new_threshold['token_f_at_0.5'])} at 0.5"
            if new_threshold.get("token_f_leave_one_out") is not None:
                how += (f"; {pct(new_threshold['token_f_leave_one_out'])} when each label is scored at the "
                        "threshold chosen on the other held-out labels")
        lines += ["", f"A label you add gets the threshold {new_threshold['threshold']:g} ({how}); the default labels "
                  "keep their trained threshold. `set_threshold(label, value)` changes one."]
    return "\n".join(lines)


def zeroshot_markdown(zeroshot: Mapping[str, Any] | None) -> list[str]:
    """The zero-shot section of the card, or the note that it was not measured."""
    lines = ["### Zero-shot", ""]
    if zeroshot is None:
        return [*lines, "Zero-shot figures: not measured for this build (no zeroshot.json was given; see "
                "`python -m spacy_bioner zeroshot`).", ""]
    lines += [f"Base models trained without the held-out labels {', '.join(zeroshot['held_out'])} (and the labels "
              f"that overlap them), seeds {zeroshot['seeds']}, scored on the test splits of the corpora that annotate "
              "them (mean ± sd over seeds):", "", "| held-out label | prompt | token F1 | span F1 |", "|---|---|--:|--:|"]
    for label, prompts in zeroshot["per_label"].items():
        lines += [f"| {label} | {p} | {pct_summary(s['token_f'])} | {pct_summary(s['span_f'])} |" for p, s in prompts.items()]
    lines += [f"| mean over labels | {p} | {pct_summary(s['token_f'])} | {pct_summary(s['span_f'])} |"
              for p, s in zeroshot["average"].items()]
    if zeroshot.get("paper_token_f") is not None:
        lines.append(f"\nThe paper's zero-shot token F1 (BioBERT): {pct(zeroshot['paper_token_f'])}.")
    return [*lines, ""]


def model_card(
    template: Mapping[str, Any],
    catalogue: LabelCatalogue,
    corpora: Sequence[str],
    metrics: Mapping[str, Any],
    zeroshot_report: Mapping[str, Any] | None,
    default_labels: Mapping[str, str],
    new_threshold: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The meta.json that `spacy package --meta-path` applies: the template's
    one-line description (the wheel's summary, which may not hold newlines),
    the card as `notes` (spaCy appends them to the package README, the wheel's
    long description), the sources and the figures as data.

    template (Mapping[str, Any]): configs/meta_base.json.
    catalogue (LabelCatalogue): The label catalogue (corpus names and licences).
    corpora (Sequence[str]): The training corpus ids.
    metrics (Mapping[str, Any]): From `evaluate_base` (metrics/base.json).
    zeroshot_report (Mapping[str, Any] | None): A zeroshot.json report, or None.
    default_labels (Mapping[str, str]): Span label -> catalogue id (`set_default_labels`).
    new_threshold (Mapping[str, Any] | None): The threshold of added labels
        (`new_label_threshold`, or {"threshold": value} when chosen by hand); None: unchanged.
    RETURNS (dict[str, Any]): The meta.
    """
    rows = corpus_rows(catalogue, corpora, metrics)
    zeroshot = zeroshot_figures(zeroshot_report)
    meta = dict(template)
    meta["description"] = " ".join(str(template.get("description", "")).split())
    meta["notes"] = card_markdown(rows, metrics, zeroshot, default_labels, new_threshold)
    meta["sources"] = corpus_sources(catalogue, corpora)
    meta["bioner_base"] = {"corpora": rows, "test_overall": dict(metrics["overall"]), "zeroshot": zeroshot,
                           "default_labels": dict(default_labels),
                           "new_label_threshold": None if new_threshold is None else dict(new_threshold)}
    return meta
