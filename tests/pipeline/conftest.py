"""Fixtures for the component tests: a tiny randomly initialised BERT and LLaMA.

The encoder (2 layers, hidden 32) and its WordPiece vocabulary, and the decoder
(2 layers, hidden 64) and its byte-level BPE, are written to temporary
directories once per session, so the tests run offline and fast.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tiny_bert import write_tiny_bert
from tiny_llama import write_tiny_llama


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT encoder directory, shared by the session (do not delete it)."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaMA decoder directory (hidden 64: bitsandbytes' 4-bit CPU
    kernels need rows of at least one 64-value block), shared by the session."""
    return write_tiny_llama(tmp_path_factory.mktemp("tiny_llama"), hidden=64)


@pytest.fixture(scope="session")
def make_tiny_llama() -> Callable[..., Path]:
    """`make_tiny_llama(path, **settings)` writes a private tiny LLaMA (for tests that delete it)."""
    return write_tiny_llama


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models run faster on one thread, and far faster on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def make_tiny_bert() -> Callable[[Path], Path]:
    """`make_tiny_bert(path)` writes a private tiny BERT (for tests that delete it)."""
    return write_tiny_bert
