"""Pure PyTorch modules: no spaCy or thinc imports, testable on their own."""
from .btl_tagger import BTLTaggerModule, atl_loss, btl_loss
from .knn import knn_vote
from .prompt_tagger import PromptTaggerModule

__all__ = ["BTLTaggerModule", "PromptTaggerModule", "atl_loss", "btl_loss", "knn_vote"]
