"""Shared fixtures: blank pipelines, a writer for tiny standoff files, tiny
randomly initialised BERT and LLaMA models written to temporary directories once
per session (so the tests run offline and fast), and a session cache for costly
objects; and the opt-in flags --slow and --gpu."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from spacy.language import Language
from tiny_bert import write_tiny_bert
from tiny_llama import write_tiny_llama

from spacy_bioner.corpora.convert import make_nlp

#: marker -> what its tests need; each runs only when its flag (--slow, --gpu) is given
OPT_IN_MARKERS = {
    "slow": "real corpora from ../shared or real pretrained models",
    "gpu": "a CUDA GPU",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --slow and --gpu (tests marked so are skipped unless asked for) and
    the converter fuzzing budget (--fuzz-long, --fuzz-examples; see tests/corpora/conftest.py)."""
    for marker, needs in OPT_IN_MARKERS.items():
        parser.addoption(f"--{marker}", action="store_true", default=False,
                         help=f"run the tests marked {marker} (they need {needs})")
    group = parser.getgroup("converter fuzzing")
    group.addoption("--fuzz-long", action="store_true", default=False,
                    help="fuzz the converters with 5,000 examples per format (default: the CI budget)")
    group.addoption("--fuzz-examples", type=int, default=None, metavar="N",
                    help="fuzz the converters with N examples per format")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests of each opt-in marker whose flag was not given."""
    for marker in OPT_IN_MARKERS:
        if config.getoption(f"--{marker}"):
            continue
        skip = pytest.mark.skip(reason=f"marked {marker}: run with --{marker}")
        for item in items:
            if item.get_closest_marker(marker) is not None:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def nlp_bio() -> Language:
    """A blank English pipeline with spacy_bioner's biomedical tokenizer."""
    return make_nlp(tokenizer="bio")


@pytest.fixture(scope="session")
def nlp_spacy() -> Language:
    """A blank English pipeline with spaCy's default tokenizer."""
    return make_nlp(tokenizer="spacy")


def _write(directory: Path, name: str, text: str | bytes, **annotations: str | bytes | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    txt = directory / f"{name}.txt"
    txt.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    for ext, content in annotations.items():
        if content is not None:
            data = content.encode("utf-8") if isinstance(content, str) else content
            (directory / f"{name}.{ext}").write_bytes(data)
    return txt


@pytest.fixture
def write_brat() -> Callable[..., Path]:
    """``write_brat(dir, name, text, ann=..., a1=..., a2=...)`` writes the files
    byte-exactly (no newline translation) and returns the ``.txt`` path."""
    return _write


@pytest.fixture(scope="session")
def session_cache() -> dict[Any, Any]:
    """Costly objects (trained pipelines) built once and shared by the test
    modules of a session; copy an object before changing it."""
    return {}


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


@pytest.fixture
def native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run bf16 autocast as on a CPU with native bf16, whatever this machine has
    (elsewhere the layers fall back to float32: spacy_bioner.models.precision)."""
    monkeypatch.setattr("spacy_bioner.models.precision.native_bf16", lambda device_type: True)


@pytest.fixture(scope="session")
def make_tiny_bert() -> Callable[[Path], Path]:
    """`make_tiny_bert(path)` writes a private tiny BERT (for tests that delete it)."""
    return write_tiny_bert
