"""A tiny randomly initialised BERT for the tests: 2 layers, hidden 32, a
WordPiece vocabulary of the words the tests use. Written to a directory, so the
tests run offline and fast. Importable from every test module (tests/ is on
sys.path through tests/conftest.py)."""
from __future__ import annotations

import string
from pathlib import Path

# whole words the tests use; everything else falls back to characters
WORDS = """
patients with breast cancer received tamoxifen daily cisplatin induced
nephrotoxicity in two rats no adverse events were seen mutations brca1 brca2
cause ovarian and the of a disease chemical gene drug was given to women
treated for lung carcinoma tumour after surgery both groups showed similar
results over time every patient had follow up visits at month one three six
twelve
""".split()


def write_tiny_bert(path: Path, *, hidden: int = 32, layers: int = 2, max_positions: int = 128) -> Path:
    """Write a random BertModel and a BertTokenizerFast to `path`.

    path (Path): Target directory (created).
    RETURNS (Path): The directory, loadable with `from_pretrained`.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces = specials + chars + ["##" + c for c in string.ascii_lowercase + string.digits] + sorted(set(WORDS))
    vocab = list(dict.fromkeys(pieces))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(str(path))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_positions,
        type_vocab_size=2,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(path))
    return path
