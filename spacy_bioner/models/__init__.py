"""Thinc layers, their batch preparation, and Hugging Face (de)serialization.

* :mod:`.tagger_layer`: the shim and forward pass the three layers share;
  :mod:`.prompt_tagger`, :mod:`.btl_tagger`, :mod:`.llama_labeler`: the
  registered layers (``spacy_bioner.PromptTagger.v1``, ``.BTLTagger.v1``,
  ``.LlamaLabeler.v1``).
* Batching: :mod:`.queries` (the data), :mod:`.windows` (encoder rows:
  tokenise, window, pad), :mod:`.instruction_batching` (decoder rows),
  :mod:`.pooling` (back to subwords and words), :mod:`.targets` (gold tags
  in the row layout).
* Models on disk: :mod:`.hf` (encoders; HF data without pickle),
  :mod:`.decoder` (the base decoder: loading, 4-bit, LoRA), :mod:`.export`
  (writing model directories).
"""
from .btl_tagger import BTLTaggerShim, build_btl_tagger
from .hf import hf_from_bytes, hf_to_bytes, load_hf_encoder, resolve_encoder
from .instruction_batching import encode_instruction_queries
from .llama_labeler import LlamaLabelerShim, build_llama_labeler
from .prompt_tagger import PromptTaggerShim, build_prompt_tagger
from .queries import PromptBatch, PromptQuery
from .tagger_layer import PromptScores, TaggerShim, get_shim
from .windows import encode_queries

__all__ = [
    "BTLTaggerShim",
    "build_btl_tagger",
    "LlamaLabelerShim",
    "build_llama_labeler",
    "encode_instruction_queries",
    "PromptBatch",
    "PromptQuery",
    "PromptScores",
    "PromptTaggerShim",
    "TaggerShim",
    "build_prompt_tagger",
    "encode_queries",
    "get_shim",
    "hf_from_bytes",
    "hf_to_bytes",
    "load_hf_encoder",
    "resolve_encoder",
]
