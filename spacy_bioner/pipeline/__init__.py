"""spaCy components: one module per component (default config, factory, pipe)."""
from .btl import DEFAULT_CONFIG_STR as BTL_CONFIG_STR
from .btl import BTLTagger, make_btl_tagger, make_fit_knn
from .prompted import DEFAULT_CONFIG_STR as PROMPTED_CONFIG_STR
from .prompted import PromptedTagger, make_prompted_tagger

__all__ = [
    "BTL_CONFIG_STR",
    "BTLTagger",
    "PROMPTED_CONFIG_STR",
    "PromptedTagger",
    "make_btl_tagger",
    "make_fit_knn",
    "make_prompted_tagger",
]
