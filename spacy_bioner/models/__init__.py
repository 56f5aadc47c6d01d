"""Thinc layers, their batch preparation, and Hugging Face (de)serialization."""
from .btl_tagger import BTLTaggerShim, build_btl_tagger
from .hf import hf_from_bytes, hf_to_bytes, load_hf_encoder, resolve_encoder
from .instruction_batching import encode_instruction_queries
from .llama_labeler import LlamaLabelerShim, build_llama_labeler
from .prompt_batching import PromptBatch, PromptQuery, encode_queries
from .prompt_tagger import PromptScores, build_prompt_tagger, get_shim

__all__ = [
    "BTLTaggerShim",
    "build_btl_tagger",
    "LlamaLabelerShim",
    "build_llama_labeler",
    "encode_instruction_queries",
    "PromptBatch",
    "PromptQuery",
    "PromptScores",
    "build_prompt_tagger",
    "encode_queries",
    "get_shim",
    "hf_from_bytes",
    "hf_to_bytes",
    "load_hf_encoder",
    "resolve_encoder",
]
