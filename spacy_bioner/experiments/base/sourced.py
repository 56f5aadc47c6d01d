"""``spacy_bioner.initialize_sourced.v1``: train a component sourced from a
base pipeline on one's own corpus and labels.

spaCy only *resumes* a sourced component (``[components.NAME] source = ...``):
it is never initialized, so it keeps the labels of the pipeline it came from
and never sees the new corpus's labels. This ``[initialize.after_init]``
callback initializes it on the training corpus after all: its labels become
``[initialize.components.NAME] labels`` when given, else the labels annotated
in the training corpus, and it learns which labels each document annotates.
A component whose model is already initialized keeps its weights (the base
model's), so training starts from the base model::

    [components.bioner_prompted]
    source = ${paths.base}

    [initialize.after_init]
    @misc = "spacy_bioner.initialize_sourced.v1"
    components = ["bioner_prompted"]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import spacy
from spacy.language import Language
from spacy.util import registry, resolve_dot_names

from ...errors import Errors


@spacy.registry.misc("spacy_bioner.initialize_sourced.v1")
def make_initialize_sourced(components: list[str]) -> Callable[[Language], Language]:
    """An [initialize.after_init] callback that initializes sourced components on the training corpus.

    components (list[str]): The components to initialize (each has `set_labels`
        and keeps trained weights on initialize, as bioner_prompted does).
    RETURNS (Callable[[Language], Language]): The callback.
    """

    def initialize_sourced(nlp: Language) -> Language:
        config = nlp.config.interpolate()
        train_path = config["training"]["train_corpus"]
        (train_corpus,) = resolve_dot_names(config, [train_path])
        init_settings = registry.resolve(config["initialize"]["components"])
        for name in components:
            pipe = _described_pipe(nlp, name)
            settings: dict[str, Any] = dict(init_settings.get(name, {}))
            # without labels given here, initialize() takes the corpus's: forget the base pipeline's
            if settings.get("labels") is None:
                pipe.set_labels([])
            pipe.initialize(lambda: train_corpus(nlp), nlp=nlp, **settings)
        return nlp

    return initialize_sourced


def _described_pipe(nlp: Language, name: str) -> Any:
    if name not in nlp.component_names:
        raise ValueError(Errors.E918.format(what=f"the pipeline has no component '{name}' "
                                                 f"(components: {', '.join(nlp.component_names)})"))
    pipe = nlp.get_pipe(name)
    if not callable(getattr(pipe, "set_labels", None)):
        raise ValueError(Errors.E918.format(what=f"component '{name}' has no set_labels()"))
    return pipe
