"""The experiment, step by step: options, data, base model, zero-shot,
few-shot, report (the protocol is described in the package docstring)."""
from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacy.tokens import Doc
from wasabi import Printer

from ...util import pct
from .data import Sentence, load_data, sample_sentences
from .evaluation import hidden_references, score_labels
from .options import FewshotOptions, check_options, describe
from .report import build_report, write_report
from .training import (
    BaseModel,
    FinetuneSettings,
    finetune_label,
    finetune_settings,
    load_base_config,
    train_base_model,
)


def run_fewshot(
    train: str | Path,
    dev: str | Path,
    test: str | Path,
    hidden: Sequence[str],
    shots: Sequence[int] | str,
    seeds: int,
    config_path: str | Path,
    output_dir: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    encoder: str | None = None,
    max_steps: int | None = None,
    fewshot_steps: int | None = None,
    fewshot_epochs: int | None = None,
    fewshot_batch_size: int | None = None,
    fewshot_lr: float | None = None,
    descriptions: Mapping[str, str] | None = None,
    use_gpu: int = -1,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the zero- and few-shot experiment (see the package docstring).

    Writes to `output_dir`: data/train.seen.spacy and data/dev.seen.spacy (the
    base model's data, hidden labels removed), base.cfg (its config), base/
    (model-best, model-last), fewshot.json (settings, every run, the summary),
    fewshot.md and, when matplotlib is installed, fewshot.png.

    train (str | Path): Training DocBin, hidden labels included.
    dev (str | Path): Dev DocBin for base-model selection (hidden labels are removed).
    test (str | Path): Test DocBin; only hidden-label gold is scored.
    hidden (Sequence[str]): The hidden labels.
    shots (Sequence[int] | str): The k values, e.g. "0,1,10,100"; 0 is zero-shot.
    seeds (int): Few-shot samples per k > 0 (seeds 0 .. seeds-1).
    config_path (str | Path): Training config with one bioner_prompted component.
    output_dir (str | Path): Output directory.
    overrides (Mapping[str, Any] | None): Config overrides for the base model
        (the few-shot runs use its optimizer and batch size too).
    encoder (str | None): Encoder name or directory instead of the config's.
    max_steps (int | None): Base-model [training] max_steps instead of the config's.
    fewshot_steps (int | None): Updates per few-shot run (see `fewshot_schedule`).
    fewshot_epochs (int | None): Passes per few-shot run, instead of steps.
    fewshot_batch_size (int | None): Sentences per few-shot update; None: the
        config's [training.batcher] size if an integer, else 16.
    fewshot_lr (float | None): Constant learning rate of the few-shot runs;
        None: the config's, or its schedule's initial_rate (see `fewshot_optimizer`).
    descriptions (Mapping[str, str] | None): Label -> description.
    use_gpu (int): GPU id, -1 for CPU.
    verbose (bool): Print progress and the training log.
    RETURNS (dict[str, Any]): The report written to fewshot.json.
    RAISES (BioNERInputError): For invalid options, files, labels or configs.
    """
    options = check_options(
        train=train, dev=dev, test=test, hidden=hidden, shots=shots, seeds=seeds, config_path=config_path,
        output_dir=output_dir, overrides=overrides, encoder=encoder, max_steps=max_steps,
        fewshot_steps=fewshot_steps, fewshot_epochs=fewshot_epochs, fewshot_batch_size=fewshot_batch_size,
        fewshot_lr=fewshot_lr, descriptions=descriptions, use_gpu=use_gpu, verbose=verbose,
    )
    return run_experiment(options)


@dataclass
class RunContext:
    """What every zero- and few-shot run of one experiment shares."""

    base: BaseModel
    component: str
    spans_key: str
    descriptions: dict[str, str]
    references: list[Doc]
    pipe_batch: int
    settings: FinetuneSettings
    msg: Printer


def run_experiment(options: FewshotOptions) -> dict[str, Any]:
    """Run the experiment with checked options: data, base model, runs, report.

    options (FewshotOptions): From `check_options`.
    RETURNS (dict[str, Any]): The report written to fewshot.json.
    """
    msg = Printer(no_print=not options.verbose)
    base_config = load_base_config(options.config_path, options.overrides)
    key = base_config.spans_key
    data = load_data(options.train, options.dev, options.test, options.hidden, options.few_shots, key)
    desc = {label: describe(label, options.descriptions, base_config.config_labels)
            for label in [*options.hidden, *data.seen_labels]}
    base = train_base_model(
        base_config, options.config_path, options.output_dir, train_docs=data.train_seen, dev_docs=data.dev_seen,
        labels={label: desc[label] for label in data.seen_labels}, hidden=options.hidden, encoder=options.encoder,
        max_steps=options.max_steps, use_gpu=options.use_gpu, msg=msg,
        stdout=None if options.verbose else io.StringIO(),
    )
    trained = base.nlp.config.interpolate()
    settings = finetune_settings(trained, learn_rate=options.fewshot_lr, batch_size=options.fewshot_batch_size,
                                 steps=options.fewshot_steps, epochs=options.fewshot_epochs)
    ctx = RunContext(base, base_config.name, key, desc, hidden_references(data.test, options.hidden, key),
                     int(trained["nlp"].get("batch_size") or 64), settings, msg)
    records = zero_shot(ctx, options.hidden) if 0 in options.shots else []
    for label in options.hidden:
        records += few_shot(ctx, label, data.pools[label], options.few_shots, options.seeds)
    report = build_report(options, base_config, settings, desc, base, data, len(ctx.references), records)
    write_report(report, options.output_dir, msg)
    return report


def zero_shot(ctx: RunContext, hidden: Sequence[str]) -> list[dict[str, Any]]:
    """Give the base model the hidden labels (and only them) and score it: one run per label.

    ctx (RunContext): The experiment's shared state (the base model's labels change).
    hidden (Sequence[str]): The hidden labels.
    RETURNS (list[dict[str, Any]]): The runs, k = 0.
    """
    ctx.msg.divider("Zero-shot")
    ctx.base.tagger.set_labels({label: ctx.descriptions[label] for label in hidden})
    started = time.perf_counter()
    scores = score_labels(ctx.base.nlp, ctx.references, hidden, ctx.spans_key, batch_size=ctx.pipe_batch)
    seconds = time.perf_counter() - started
    records = [_record(label, 0, None, [], 0, None, seconds / len(hidden), scores[label]) for label in hidden]
    for label in hidden:
        ctx.msg.info(f"{label}, k=0: span F1 {pct(scores[label]['span_f'])}, "
                      f"token F1 {pct(scores[label]['token_f'])}")
    return records


def few_shot(
    ctx: RunContext, label: str, pool: Sequence[Sentence], few_shots: Sequence[int], seeds: int
) -> list[dict[str, Any]]:
    """Fine-tune the base model on k sampled sentences of one hidden label, per k and seed, and score it.

    ctx (RunContext): The experiment's shared state.
    label (str): The hidden label.
    pool (Sequence[Sentence]): The training sentences that contain it.
    few_shots (Sequence[int]): The k values > 0.
    seeds (int): Samples per k (seeds 0 .. seeds-1).
    RETURNS (list[dict[str, Any]]): The runs, per k and seed.
    """
    records: list[dict[str, Any]] = []
    for k in few_shots:
        ctx.msg.divider(f"{label}: {k}-shot")
        if k > len(pool):
            ctx.msg.warn(f"{label}: only {len(pool)} training sentence(s) contain it; "
                          f"the {k}-shot runs use them all")
        for seed in range(seeds):
            record = _few_shot_run(ctx, label, k, sample_sentences(pool, k, seed, label), seed)
            records.append(record)
            ctx.msg.info(f"{label}, k={k}, seed {seed} ({record['k_used']} sentence(s), {record['steps']} updates): "
                          f"span F1 {pct(record['span_f'])}, token F1 {pct(record['token_f'])}")
    return records


def _few_shot_run(ctx: RunContext, label: str, k: int, sample: Sequence[Sentence], seed: int) -> dict[str, Any]:
    steps = ctx.settings.schedule(len(sample))
    started = time.perf_counter()
    nlp, loss = finetune_label(ctx.base.path, ctx.component, label, ctx.descriptions[label], sample,
                               ctx.spans_key, steps=steps, settings=ctx.settings, seed=seed)
    scores = score_labels(nlp, ctx.references, [label], ctx.spans_key, batch_size=ctx.pipe_batch)
    return _record(label, k, seed, sample, steps, loss, time.perf_counter() - started, scores[label])


def _record(
    label: str, k: int, seed: int | None, sample: Sequence[Sentence], steps: int, loss: float | None,
    seconds: float, scores: Mapping[str, float],
) -> dict[str, Any]:
    """One run as fewshot.json lists it."""
    return {"label": label, "k": k, "seed": seed, "k_used": len(sample), "steps": steps,
            "sentences": [[s.doc_index, s.start] for s in sample], "loss": loss, "seconds": seconds, **scores}
