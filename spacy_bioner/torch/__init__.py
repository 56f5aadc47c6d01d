"""Pure PyTorch modules: no spaCy or thinc imports, testable on their own."""
from .btl_tagger import BTLTaggerModule, atl_loss, btl_loss
from .knn import knn_vote
from .llama_labeler import LlamaLabelerModule, bidirectional_mask, labeler_loss
from .prompt_tagger import PromptTaggerModule

__all__ = [
    "BTLTaggerModule",
    "LlamaLabelerModule",
    "PromptTaggerModule",
    "atl_loss",
    "bidirectional_mask",
    "btl_loss",
    "knn_vote",
    "labeler_loss",
]
