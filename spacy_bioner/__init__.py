"""spacy_bioner: biomedical named entity recognition for spaCy.

Importing the package registers its scorers, corpus readers, tokenizer,
components and architectures in spaCy's registries (they are also declared
as entry points, so spaCy finds them without the import).
"""
from . import pipeline, scoring, tokenizer  # noqa: F401  (registration side effects)
from .about import __version__
from .catalogue import reader as _catalogue_reader  # noqa: F401
from .corpora import multi_dataset as _multi_dataset  # noqa: F401
from .corpora import registry as _corpus_registry  # noqa: F401
from .experiments.base import sourced as _sourced  # noqa: F401
from .models import btl_tagger as _btl_tagger  # noqa: F401
from .models import label_matcher as _label_matcher  # noqa: F401
from .models import llama_labeler as _llama_labeler  # noqa: F401
from .models import prompt_tagger as _prompt_tagger  # noqa: F401

__all__ = ["__version__"]
