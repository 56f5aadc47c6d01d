"""The ``bioner_prompted`` base model, built by ``spacy project run base``:
the recipe ``configs/base.cfg`` trained on many catalogue corpora at once,
evaluated per corpus and packaged as ``en_bioner_base``.

1. **Data** (:mod:`.data`, ``scripts/convert_base.py``): every corpus the
   recipe's ``spacy_bioner.CatalogueCorpus.v1`` readers read is converted from
   a corpora root laid out like ``../shared/corpora`` (the catalogue's paths:
   ``{root}/conll/BC5CDR-IOB/train.tsv``, ``{root}/brat/anatem/dev``, ...) to
   ``corpus/base/{corpus id}/{split}.spacy``, raw tags kept, one Doc per
   sentence, in the catalogue's first format. A corpus without splits in the
   catalogue (MACCROBAT 2020) is split by document with a split file
   (``configs/maccrobat_split.json``).
2. **Training**: ``spacy train configs/base.cfg --paths.corpus corpus/base``.
3. **Evaluation** (:mod:`.evaluation`, ``scripts/evaluate_base.py``): each
   corpus's test split, scored on that corpus's labels only (strict span and
   token P/R/F1), and over all corpora.
4. **Packaging** (:mod:`.card`, ``scripts/package_base.py``): a copy of the
   model whose active labels are a few default catalogue labels
   (:data:`.card.DEFAULT_LABELS`), with a model card that lists the training
   corpora and their licences, the per-corpus scores and the zero-shot figures
   of a ``zeroshot.json`` when there is one; ``scripts/package_pipeline.py``
   builds the wheel.

Training on one's own corpus from the base model: ``configs/from_base.cfg``
sources the component from a base pipeline, and
``spacy_bioner.initialize_sourced.v1`` (:mod:`.sourced`) gives it the
corpus's labels.
"""
from __future__ import annotations

from .card import (
    DEFAULT_LABELS,
    apply_new_label_threshold,
    model_card,
    new_label_threshold,
    set_default_labels,
    zeroshot_figures,
)
from .data import (
    Conversion,
    convert,
    plan_conversions,
    read_document_split,
    recipe_corpora,
    recipe_entries,
)
from .evaluation import evaluate_base, render_markdown
from .sourced import make_initialize_sourced

__all__ = [
    "apply_new_label_threshold",
    "new_label_threshold",
    "DEFAULT_LABELS",
    "Conversion",
    "convert",
    "evaluate_base",
    "make_initialize_sourced",
    "model_card",
    "plan_conversions",
    "read_document_split",
    "recipe_corpora",
    "recipe_entries",
    "render_markdown",
    "set_default_labels",
    "zeroshot_figures",
]
