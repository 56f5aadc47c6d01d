"""Base models per seed, zero-shot scores by name and by description, and the
few-shot curve from the first seed's base model (see the package docstring)."""
from __future__ import annotations

import io
import shutil
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import spacy
import srsly
from spacy.language import Language
from spacy.training import Example
from thinc.api import Config
from wasabi import Printer

from ...catalogue import LabelCatalogue, load_catalogue
from ...errors import BioNERInputError, Errors
from ...pipeline._decode import DocPrediction
from ...pipeline._thresholds import (
    WordProbabilities,
    check_grid,
    decode_at,
    mean_words,
    score_words,
)
from ...util import pct
from ..fewshot.data import sample_sentences
from ..fewshot.evaluation import score_examples_per_label, score_labels
from ..fewshot.training import (
    FinetuneSettings,
    finetune_label,
    finetune_settings,
    load_tagger,
    train_base,
)
from .data import ZeroshotData, load_zeroshot_data
from .report import write_zeroshot_report

#: The prompts a held-out label is tried with: its catalogue name and its description.
PROMPTS = ("name", "description")
#: The prompt ensemble of the threshold study: the mean of the PROMPTS' word probabilities.
ENSEMBLE = "name+description"
FACTORY = "bioner_prompted"
#: Written into base-seed{N}/ when its training finished: what it held out and how long it took.
TRAINED = "training.json"


@dataclass
class ZeroshotOptions:
    """What a held-out run is asked to do.

    config_path (Path): The base-model recipe (configs/base.cfg).
    corpus_root (Path): Root of the converted corpora.
    held_out (list[str]): Catalogue label ids held out.
    output_dir (Path): Output directory (base-seed{N}/, zeroshot.json/.md/.png).
    seeds (list[int]): Base-model seeds (system.seed).
    shots (list[int]): k values; 0 is zero-shot.
    fewshot_seeds (int): Samples per k > 0.
    overrides (dict[str, Any]): More config overrides (e.g. training.max_steps).
    thresholds (list[float]): Also score zero-shot at each of these thresholds
        (the encoder runs once per label and prompt), for the report's
        leave-one-label-out threshold; empty: only the component's threshold.
    """

    config_path: Path
    corpus_root: Path
    held_out: list[str]
    output_dir: Path
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    shots: list[int] = field(default_factory=lambda: [0, 1, 10, 100])
    fewshot_seeds: int = 3
    overrides: dict[str, Any] = field(default_factory=dict)
    thresholds: list[float] = field(default_factory=list)


def run_zeroshot(options: ZeroshotOptions, *, verbose: bool = True) -> dict[str, Any]:
    """Run the held-out protocol; base models already trained in `output_dir` are reused.

    options (ZeroshotOptions): The run.
    verbose (bool): Print progress and the training log.
    RETURNS (dict[str, Any]): The report written to zeroshot.json.
    """
    msg = Printer(no_print=not verbose)
    catalogue = load_catalogue()
    removed = sorted(catalogue.overlap_closure(options.held_out))
    config = base_config(options, removed, seed=options.seeds[0])
    corpora = list(config["catalogue"]["corpora"])
    nlp = spacy.blank(config["nlp"]["lang"])
    data = load_zeroshot_data(nlp, catalogue, options.corpus_root, corpora, options.held_out, "sc",
                              pools=any(k > 0 for k in options.shots))
    runs: list[dict[str, Any]] = []
    threshold_runs: list[dict[str, Any]] = []
    bases: dict[int, Path] = {}
    for seed in options.seeds:
        bases[seed], seconds = train_or_reuse(options, removed, seed, msg, verbose)
        runs += zero_shot(bases[seed], seed, data, catalogue, options.held_out, msg, seconds)
        if options.thresholds:
            threshold_runs += zero_shot_thresholds(bases[seed], seed, data, catalogue, options, msg)
    if any(k > 0 for k in options.shots):
        runs += few_shot(bases[options.seeds[0]], data, catalogue, options, msg)
    return write_zeroshot_report(options, removed, corpora, data, runs, msg, threshold_runs)


def base_config(options: ZeroshotOptions, removed: Sequence[str], seed: int) -> Config:
    """The recipe with the held-out labels, the corpus root and the seed set."""
    overrides = {
        "paths.corpus": str(options.corpus_root),
        "catalogue.hold_out": list(options.held_out),
        "system.seed": seed,
        **options.overrides,
    }
    try:
        return Config().from_disk(options.config_path, overrides=overrides)
    except (OSError, ValueError) as err:
        raise BioNERInputError(Errors.E410.format(path=options.config_path, err=err)) from err


def train_or_reuse(
    options: ZeroshotOptions, removed: Sequence[str], seed: int, msg: Printer, verbose: bool
) -> tuple[Path, float | None]:
    """The base model of a seed: trained now, or the one a previous, finished run left.

    A run is finished when its TRAINED record exists: spaCy writes model-last at
    every evaluation, so a killed training leaves a loadable but half-trained
    model that must not be scored as a base model.

    RETURNS (tuple[Path, float | None]): Its directory and its training time
        (None when unknown). RAISES (BioNERInputError): If it knows a removed
        label, or a finished run held out other labels.
    """
    output = options.output_dir / f"base-seed{seed}"
    record_path = output / TRAINED
    if record_path.exists():
        record = srsly.read_json(record_path)
        if sorted(record.get("removed", [])) != sorted(removed):
            raise BioNERInputError(Errors.E416.format(path=output, trained=", ".join(record.get("removed", [])),
                                                      asked=", ".join(removed)))
        seconds = record.get("seconds")
        msg.info(f"Base model, seed {seed}: reusing {output}")
    else:
        stale = [output / name for name in ("model-best", "model-last") if (output / name).exists()]
        if stale:
            msg.warn(f"{output} has no {TRAINED}: its training did not finish; training seed {seed} again")
            for path in stale:
                shutil.rmtree(path)
        msg.divider(f"Base model, seed {seed} (held out: {', '.join(options.held_out)})")
        config = base_config(options, removed, seed)
        started = time.perf_counter()
        train_base(config, output, stdout=None if verbose else io.StringIO())
        seconds = time.perf_counter() - started
        srsly.write_json(record_path, {"seed": seed, "held_out": list(options.held_out), "removed": list(removed),
                                       "seconds": round(seconds, 1), "overrides": dict(options.overrides),
                                       "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    path = output / "model-best" if (output / "model-best").exists() else output / "model-last"
    _, tagger = load_tagger(path, FACTORY)
    leaked = sorted(set(tagger.labels) & set(removed))
    if leaked:
        raise BioNERInputError(Errors.E414.format(path=path, labels=", ".join(leaked)))
    return path, seconds


def prompt_text(catalogue: LabelCatalogue, label: str, prompt: str) -> str:
    """The text the model reads for a held-out label: its catalogue name or description."""
    return str(getattr(catalogue.label(label), prompt))


def score_label(
    nlp: Language, tagger: Any, label: str, text: str, references: Mapping[str, Sequence[Any]]
) -> dict[str, dict[str, float]]:
    """Scores of one label (prompted with `text`) on each corpus's references."""
    tagger.set_labels({label: text})
    return {corpus: score_labels(nlp, docs, [label], "sc")[label] for corpus, docs in references.items()}


def zero_shot(
    base: Path, seed: int, data: ZeroshotData, catalogue: LabelCatalogue, held_out: Sequence[str], msg: Printer,
    seconds: float | None,
) -> list[dict[str, Any]]:
    """Score one base model on every held-out label, by name and by description (k = 0)."""
    nlp, tagger = load_tagger(base, FACTORY)
    runs = []
    for label in held_out:
        for prompt in PROMPTS:
            scores = score_label(nlp, tagger, label, prompt_text(catalogue, label, prompt), data.references[label])
            runs += [_run(label, corpus, prompt, 0, seed, s, base_seconds=seconds) for corpus, s in scores.items()]
            msg.info(f"seed {seed}, {label} by {prompt}: token F1 "
                     + ", ".join(f"{c} {pct(s['token_f'])}" for c, s in scores.items()))
    return runs


def score_label_thresholds(
    nlp: Language, tagger: Any, label: str, texts: Mapping[str, str], references: Mapping[str, Sequence[Any]],
    thresholds: Sequence[float], *, batch_size: int = 256,
) -> dict[str, dict[float, dict[str, dict[str, float]]]]:
    """Scores of one label at each threshold, per prompt (prompt -> the text
    it reads) and corpus; the model runs once per prompt and batch of docs,
    each threshold only re-decodes. With several prompts the ENSEMBLE (the
    mean of their word probabilities, no extra model run) is scored too.

    RETURNS (dict[str, dict[float, dict[str, dict[str, float]]]]): prompt ->
        threshold -> corpus -> scores.
    """
    grid = check_grid(thresholds)
    out: dict[str, dict[float, dict[str, dict[str, float]]]] = defaultdict(lambda: defaultdict(dict))
    for corpus, refs in references.items():
        examples: dict[str, dict[float, list[Example]]] = defaultdict(lambda: defaultdict(list))
        for start in range(0, len(refs), batch_size):
            chunk = refs[start:start + batch_size]
            docs = list(nlp.pipe((ref.text for ref in chunk), disable=[FACTORY]))
            scored: dict[str, tuple[Any, WordProbabilities] | None] = {}
            for prompt, text in texts.items():
                tagger.set_labels({label: text})
                scored[prompt] = score_words(tagger, docs)
            # the prompts ask about the same sentences, so their words align
            results = [result for result in scored.values() if result is not None]
            if len(texts) > 1 and len(results) == len(texts):
                scored[ENSEMBLE] = (results[0][0], mean_words([words for _, words in results]))
            for prompt, result in scored.items():
                if result is None:
                    decoded: Iterable[tuple[float, list[DocPrediction]]] = [(t, [DocPrediction() for _ in docs])
                                                                           for t in grid]
                else:
                    decoded = decode_at(tagger, docs, result[0], grid, result[1])
                for value, predictions in decoded:
                    copies = [doc.copy() for doc in docs]
                    tagger.set_annotations(copies, predictions)
                    examples[prompt][value].extend(Example(c, r) for c, r in zip(copies, chunk, strict=True))
        for prompt, by_value in examples.items():
            for value, scored_examples in by_value.items():
                out[prompt][value][corpus] = score_examples_per_label(scored_examples, [label], "sc")[label]
    return {prompt: dict(by_value) for prompt, by_value in out.items()}


def zero_shot_thresholds(
    base: Path, seed: int, data: ZeroshotData, catalogue: LabelCatalogue, options: ZeroshotOptions, msg: Printer
) -> list[dict[str, Any]]:
    """Zero-shot scores of every held-out label at each of `options.thresholds`,
    by name, by description and by their ensemble."""
    nlp, tagger = load_tagger(base, FACTORY)
    runs = []
    for label in options.held_out:
        texts = {prompt: prompt_text(catalogue, label, prompt) for prompt in PROMPTS}
        by_prompt = score_label_thresholds(nlp, tagger, label, texts, data.references[label], options.thresholds)
        runs += [_run(label, corpus, prompt, 0, seed, s, threshold=value)
                 for prompt, by_threshold in by_prompt.items()
                 for value, corpora in by_threshold.items() for corpus, s in corpora.items()]
        msg.info(f"seed {seed}, {label}: scored at thresholds {', '.join(map(str, options.thresholds))}")
    return runs


def few_shot(
    base: Path, data: ZeroshotData, catalogue: LabelCatalogue, options: ZeroshotOptions, msg: Printer
) -> list[dict[str, Any]]:
    """Fine-tune the base model on k sentences of each held-out label (description prompt) and score it."""
    nlp, _ = load_tagger(base, FACTORY)
    settings: FinetuneSettings = finetune_settings(nlp.config.interpolate())
    runs = []
    for label in options.held_out:
        text = prompt_text(catalogue, label, "description")
        for k in (k for k in options.shots if k > 0):
            for seed in range(options.fewshot_seeds):
                sample = sample_sentences(data.pools[label], k, seed, label)
                tuned, _ = finetune_label(base, FACTORY, label, text, sample, "sc",
                                          steps=settings.schedule(len(sample)), settings=settings, seed=seed)
                tagger = tuned.get_pipe(FACTORY)
                scores = score_label(tuned, tagger, label, text, data.references[label])
                runs += [_run(label, corpus, "description", k, seed, s, k_used=len(sample))
                         for corpus, s in scores.items()]
                msg.info(f"{label}, k={k}, seed {seed}: token F1 "
                         + ", ".join(f"{c} {pct(s['token_f'])}" for c, s in scores.items()))
    return runs


def _run(label: str, corpus: str, prompt: str, k: int, seed: int, scores: Mapping[str, float], **extra: Any) -> dict[str, Any]:
    return {"label": label, "corpus": corpus, "prompt": prompt, "k": k, "seed": seed, **extra, **scores}
