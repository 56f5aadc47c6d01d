"""Dense Bioentities Recognition (bioner_llama's knowledge-injection task):
the knowledge base and its TSV file, candidate phrases, TF-IDF and encoder
retrieval, pseudo-sentences and the sampler."""
from __future__ import annotations

from pathlib import Path

import numpy
import pytest

from spacy_bioner.pipeline._dbr import (
    DBRSampler,
    EncoderRetriever,
    KnowledgeBase,
    TfidfRetriever,
    candidate_phrases,
    make_retriever,
    pseudo_sentence,
)


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
    with pytest.raises(ValueError, match=r"\[E721\].*'max'"):
        EncoderRetriever(kb, str(tiny_bert_dir), pooling="max")
    with pytest.raises(ValueError, match=r"\[E713\] The DBR retriever"):
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
    for mode in ("off", "similar"):
        with pytest.raises(ValueError, match=rf"\[E722\] Unknown DBRSampler mode '{mode}'"):
            DBRSampler(kb, retriever, mode=mode)


