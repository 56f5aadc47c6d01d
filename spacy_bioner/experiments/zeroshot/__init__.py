"""The held-out (zero-shot) protocol of the ``bioner_prompted`` base model,
over the corpora of the label catalogue (``python -m spacy_bioner zeroshot``).

1. **Base models.** For each seed, the base-model recipe (``configs/base.cfg``:
   ``spacy_bioner.CatalogueCorpus.v1`` over many corpora) is trained with
   ``catalogue.hold_out`` set to the held-out labels: they and every catalogue
   label that overlaps them are removed from the training *and* the dev
   corpora (model selection) of every corpus, spans and negatives alike. A
   trained base model that knows a removed label fails the run.
2. **Zero-shot.** Each held-out label is given to each base model by its
   catalogue *name* and, separately, by its *description*, and scored on the
   test split of every corpus of the recipe that annotates it (only that
   label's gold; strict span and token P/R/F1).
3. **Few-shot** (k > 0): from the first seed's base model, k sentences of the
   label drawn from the training splits of the corpora that annotate it (the
   few-shot sampling of :mod:`spacy_bioner.experiments.fewshot`, same seeds)
   fine-tune the model on that label alone; the final model is scored as in 2.
4. **Report**: per label, prompt and k, mean ± sd over seeds of each score
   (macro over the label's corpora), and the mean over labels; JSON, Markdown
   and a PNG, like ``fewshot``.

The steps reuse the few-shot experiment's (training loop, sampling,
fine-tuning, scoring, summaries): :mod:`.data` (held-out references and
sentence pools), :mod:`.run` (base models, zero- and few-shot), :mod:`.report`.
"""
from __future__ import annotations

from .data import ZeroshotData, load_zeroshot_data
from .report import render_markdown, summarise_runs, write_zeroshot_report
from .run import ZeroshotOptions, run_zeroshot

__all__ = [
    "ZeroshotData",
    "ZeroshotOptions",
    "load_zeroshot_data",
    "render_markdown",
    "run_zeroshot",
    "summarise_runs",
    "write_zeroshot_report",
]
