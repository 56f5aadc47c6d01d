"""Zero- and few-shot experiments with ``bioner_prompted`` (Košprdić et al.,
"From Zero to Hero", arXiv 2305.04928), without the leaks of the paper's code.

The protocol, as :func:`run_fewshot` runs it:

1. **Base model.** Every span of a hidden label is removed from the training
   *and the dev* documents (from ``doc.ents``, where its tokens become O, and
   from every span group). The paper's code kept the hidden class in the dev
   set used for checkpoint selection; here the base model never sees it. The
   base model is trained on the remaining (seen) labels with spaCy's own
   training loop; its labels are set through
   ``[initialize.components.NAME] labels`` and ``model-best`` (selected on the
   seen-label dev set) is kept.
2. **Zero-shot.** The base model is given the hidden labels with
   ``add_label(label, description)`` and its seen labels are removed, so it
   predicts only hidden labels (each label is predicted independently of the
   others, so this changes nothing for the hidden ones). On the test set,
   only hidden-label gold is scored: strict span P/R/F1 and the paper's
   token-level P/R/F1, per hidden label. Zero-shot has no sampling, so it is
   one run per label.
3. **Few-shot**, one hidden label at a time, as in the paper: for each k > 0
   and each seed, k distinct training sentences that contain the label are
   drawn *without replacement*; their gold keeps only that label's spans (the
   paper fine-tunes on examples of the new class), and the model being
   fine-tuned knows only that label, so the seen labels get no updates. The
   sample for seed s is the first k sentences of one seeded permutation per
   (label, seed), so the 1-shot sentence of a seed is part of its 10-shot
   sample. If fewer than k sentences exist, all are used and ``k_used`` says
   so. The model is fine-tuned from the zero-shot model for a fixed number of
   updates with the training config's optimizer at a constant learning rate
   (see :func:`fewshot_optimizer`), and the *final* model is scored: nothing is selected on the test set, nor
   on dev (see :func:`fewshot_schedule`).
4. **Report**: per hidden label and k, mean ± sample standard deviation over
   seeds of every score; the average over hidden labels is computed per seed
   (macro over labels) and then summarised over seeds. The paper's BioBERT
   token-level F1 averages (:data:`PAPER_TOKEN_F`) and the gap to them are
   listed next to ours.

Descriptions (the text the model reads for a label), for hidden and seen
labels alike: a given ``{label: description}`` mapping first, then the labels
of the config's ``[initialize.components.NAME] labels`` when it is a mapping,
else the label name split into words and lower-cased (``default_description``
lower-cased: "Gene_or_gene_product" -> "gene or gene product"). All the
descriptions used are written to the report.

Sentences: a training document with sentence boundaries is split into its
sentences; one without is one sentence. Sentences with the same text and the
same spans of the label count once. The test set is scored on texts only
(the pipeline tokenises and, without a sentence splitter, reads each document
as one windowed sentence), as the ``evaluate`` command does: convert corpora
with ``--sentences`` for the paper's sentence-level setting. The test set
should annotate every hidden label exhaustively: every predicted span of a
hidden label in a scored document counts.

The steps live in one module each, so that other protocols can reuse them:
:mod:`.options` (checks what the user asks for), :mod:`.data` (reads the
DocBins, hides labels, samples k-shot sentences), :mod:`.training` (the base
model and the few-shot fine-tuning), :mod:`.evaluation` (hidden-label
references and scores), :mod:`.report` (summary, JSON, Markdown, plot) and
:mod:`.run` (the experiment, step by step).
"""
from __future__ import annotations

from .data import (
    FewshotData,
    Sentence,
    gold_spans,
    label_counts,
    load_data,
    read_docs,
    remove_labels,
    sample_sentences,
    sentence_example,
    sentence_pool,
    write_docs,
)
from .evaluation import METRICS, hidden_references, score_labels
from .options import (
    FewshotOptions,
    check_hidden,
    check_options,
    check_schedule,
    describe,
    load_descriptions,
    parse_shots,
)
from .report import (
    PAPER_MODEL,
    PAPER_TOKEN_F,
    aggregate,
    build_report,
    matplotlib_available,
    render_markdown,
    summarise,
    write_plot,
    write_report,
)
from .run import RunContext, few_shot, run_experiment, run_fewshot, zero_shot
from .training import (
    DEFAULT_BATCH_SIZE,
    FACTORY,
    MIN_FEWSHOT_EPOCHS,
    MIN_FEWSHOT_STEPS,
    BaseConfig,
    BaseModel,
    FinetuneSettings,
    fewshot_optimizer,
    fewshot_schedule,
    finetune,
    finetune_label,
    finetune_settings,
    load_base_config,
    load_tagger,
    prepare_base_config,
    train_base,
    train_base_model,
)

__all__ = [
    "DEFAULT_BATCH_SIZE", "FACTORY", "METRICS", "MIN_FEWSHOT_EPOCHS", "MIN_FEWSHOT_STEPS", "PAPER_MODEL",
    "PAPER_TOKEN_F", "BaseConfig", "BaseModel", "FewshotData", "FewshotOptions", "FinetuneSettings", "RunContext",
    "Sentence", "aggregate", "build_report", "check_hidden", "check_options", "check_schedule", "describe",
    "few_shot", "fewshot_optimizer", "fewshot_schedule", "finetune", "finetune_label", "finetune_settings",
    "gold_spans", "hidden_references", "label_counts", "load_base_config", "load_data", "load_descriptions",
    "load_tagger", "matplotlib_available", "parse_shots", "prepare_base_config", "read_docs", "remove_labels",
    "render_markdown", "run_experiment", "run_fewshot", "sample_sentences", "score_labels", "sentence_example",
    "sentence_pool", "summarise", "train_base", "train_base_model", "write_docs", "write_plot", "write_report",
    "zero_shot",
]
