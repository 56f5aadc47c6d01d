"""A tiny randomly initialised LLaMA for the tests: 2 layers, hidden 32, 4
heads, and a byte-level BPE vocabulary learnt from the words the tests use
(GPT-2 style: a word after the first is tokenised with its leading space).
The tokenizer adds a BOS token, as Llama's does. Written to a directory with
`save_pretrained`, so the tests run offline and fast. Importable from every
test module (tests/ is on sys.path through tests/conftest.py)."""
from __future__ import annotations

from pathlib import Path

from tiny_bert import WORDS

# more words the bioner_llama tests use, so that most are one or two tokens
EXTRA_WORDS = """
If any entity is mentioned in input extract it ##input : NCBI BC5CDR linnaeus Species Disease
Chemical mice humans zebrafish aspirin fever headache
""".split()

BOS, EOS, PAD = "<s>", "</s>", "<pad>"


def build_tiny_tokenizer(*, add_bos: bool = True, vocab_size: int = 600):
    """A byte-level BPE `PreTrainedTokenizerFast` learnt from the test words.

    add_bos (bool): Add BOS before every text (Llama's habit; GPT-2's is not to).
    vocab_size (int): Size of the learnt vocabulary.
    RETURNS (PreTrainedTokenizerFast): The tokenizer, with BOS, EOS and PAD tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    words = sorted(set(WORDS) | set(EXTRA_WORDS))
    corpus = [" ".join(words)] * 3 + [" " + w for w in words] + [w.capitalize() for w in words]
    tok.train_from_iterator(corpus, trainer=trainer)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD)


def write_tiny_llama(
    path: Path,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 4,
    max_positions: int = 256,
    add_bos: bool = True,
    seed: int = 0,
) -> Path:
    """Write a random LlamaModel and its fast tokenizer to `path`.

    path (Path): Target directory (created).
    hidden (int): Hidden size.
    layers (int): Decoder layers.
    heads (int): Attention heads (key/value heads too).
    max_positions (int): Position limit of the config.
    add_bos (bool): Whether the tokenizer adds BOS.
    seed (int): Seed of the random weights.
    RETURNS (Path): The directory, loadable with `from_pretrained`.
    """
    import torch
    from transformers import LlamaConfig, LlamaModel

    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(add_bos=add_bos)
    tokenizer.save_pretrained(str(path))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    LlamaModel(config).save_pretrained(str(path))
    return path
