"""spaCy components: one module per component (default config, factory, pipe)."""
from .prompted import DEFAULT_CONFIG_STR as PROMPTED_CONFIG_STR
from .prompted import PromptedTagger, make_prompted_tagger

__all__ = ["PROMPTED_CONFIG_STR", "PromptedTagger", "make_prompted_tagger"]
