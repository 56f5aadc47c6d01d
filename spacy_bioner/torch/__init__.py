"""Pure PyTorch modules: no spaCy or thinc imports, testable on their own."""
from .prompt_tagger import PromptTaggerModule

__all__ = ["PromptTaggerModule"]
