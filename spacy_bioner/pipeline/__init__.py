"""spaCy components: one module per component (default config, factory, pipe)."""
from ._btl_knn import make_fit_knn
from .btl import DEFAULT_CONFIG_STR as BTL_CONFIG_STR
from .btl import BTLTagger, make_btl_tagger
from .llama import DEFAULT_CONFIG_STR as LLAMA_CONFIG_STR
from .llama import LlamaLabeler, make_llama_labeler
from .prompted import DEFAULT_CONFIG_STR as PROMPTED_CONFIG_STR
from .prompted import PromptedTagger, make_prompted_tagger

__all__ = [
    "BTL_CONFIG_STR",
    "BTLTagger",
    "LLAMA_CONFIG_STR",
    "LlamaLabeler",
    "PROMPTED_CONFIG_STR",
    "PromptedTagger",
    "make_btl_tagger",
    "make_fit_knn",
    "make_llama_labeler",
    "make_prompted_tagger",
]
