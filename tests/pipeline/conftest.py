"""Fixtures for the component tests: a tiny randomly initialised BERT.

The encoder (2 layers, hidden 32) and its WordPiece vocabulary are written to a
temporary directory once per session, so the tests run offline and fast.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tiny_bert import write_tiny_bert


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT encoder directory, shared by the session (do not delete it)."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


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
