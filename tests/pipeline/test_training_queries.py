"""The mention pool behind `example_rate`: a bounded uniform sample of each
label's distinct mentions, never offering a query a mention its sentence contains."""
from __future__ import annotations

import random
from collections import Counter

from spacy_bioner.pipeline._training_queries import (
    MAX_MENTION_CHARS,
    MentionPool,
    example_text,
    training_label_text,
)


def test_the_pool_is_bounded_and_keeps_distinct_mentions() -> None:
    random.seed(0)
    pool = MentionPool(size=10)
    for i in range(1000):
        pool.add("Disease", f"disease {i}")
        # repeats do not enter twice, nor count as new texts
        pool.add("Disease", "disease 0")
    pool.add("Disease", "x" * (MAX_MENTION_CHARS + 1))
    pool.add("Chemical", "  aspirin \n tablets ")
    mentions = pool.mentions("Disease")
    assert len(mentions) == 10 and len(set(mentions)) == 10
    assert "x" * (MAX_MENTION_CHARS + 1) not in mentions
    assert pool.mentions("Chemical") == ["aspirin tablets"]
    assert len(pool) == 11


def test_the_pool_is_a_uniform_sample_of_the_stream() -> None:
    # a plain "keep the first N" pool would only hold the first 10 mentions
    counts: Counter[int] = Counter()
    for seed in range(200):
        random.seed(seed)
        pool = MentionPool(size=10)
        for i in range(100):
            pool.add("L", str(i))
        counts.update(int(text) // 50 for text in pool.mentions("L"))
    # half the stream in each half: about 1,000 of 2,000 kept mentions each
    assert 850 < counts[0] < 1150 and 850 < counts[1] < 1150


def test_a_query_is_never_told_a_mention_of_its_own_sentence() -> None:
    random.seed(0)
    pool = MentionPool()
    for text in ("Breast Cancer", "asthma", "colon cancer"):
        pool.add("Disease", text)
    sentence = "Patients with breast cancer and asthma ."
    for _ in range(20):
        assert pool.sample("Disease", 3, sentence) == ["colon cancer"]
    assert sorted(pool.sample("Disease", 5, "Nothing here .")) == ["Breast Cancer", "asthma", "colon cancer"]
    assert pool.sample("Chemical", 3, sentence) == []


def test_training_label_text_chooses_examples_then_name_then_description() -> None:
    pool = MentionPool()
    pool.add("Disease", "asthma")
    kwargs = {"example_count": 2, "name_rate": 0.0}
    assert training_label_text("Disease", "a disease", "Disease", "x .", pool, example_rate=1.0, **kwargs) == (
        example_text("Disease", ["asthma"])) == "Disease, e.g. asthma"
    # nothing to offer (the only mention is in the sentence): the description
    assert training_label_text("Disease", "a disease", "Disease", "asthma .", pool, example_rate=1.0, **kwargs) == "a disease"
    assert training_label_text("Disease", "a disease", "Disease", "x .", pool, example_rate=0.0, **kwargs) == "a disease"
    assert training_label_text(
        "Disease", "a disease", "Disease", "asthma .", pool, example_rate=1.0, example_count=2, name_rate=1.0) == "Disease"


def test_without_example_rate_the_random_stream_is_that_of_the_name_choice() -> None:
    # older configs (example_rate = 0) must draw exactly the same random numbers
    pool = MentionPool()
    pool.add("Disease", "asthma")
    random.seed(3)
    texts = [training_label_text("D", "desc", "name", "s", pool, example_rate=0.0, example_count=3, name_rate=0.5)
             for _ in range(50)]
    random.seed(3)
    expected = ["name" if random.random() < 0.5 else "desc" for _ in range(50)]
    assert texts == expected
