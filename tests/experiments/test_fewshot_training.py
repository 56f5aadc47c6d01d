"""The training step of the few-shot experiment: schedule, optimizer, fine-tuning."""
from __future__ import annotations

from pathlib import Path

import pytest
import spacy
from fewshot_helpers import TRAIN, make_doc
from spacy.training import Example
from thinc.api import Config, fix_random_seed

from spacy_bioner.errors import BioNERInputError
from spacy_bioner.experiments.fewshot.data import sentence_example, sentence_pool
from spacy_bioner.experiments.fewshot.evaluation import hidden_references, score_labels
from spacy_bioner.experiments.fewshot.training import (
    DEFAULT_BATCH_SIZE,
    FinetuneSettings,
    fewshot_optimizer,
    fewshot_schedule,
    finetune,
    finetune_settings,
)


def test_fewshot_schedule() -> None:
    assert fewshot_schedule(1, 16) == 10
    assert fewshot_schedule(100, 16) == 21  # 3 passes of 7 batches
    assert fewshot_schedule(100, 16, epochs=2) == 14
    assert fewshot_schedule(5, 16, steps=4) == 4
    with pytest.raises(BioNERInputError, match="not both"):
        fewshot_schedule(5, 16, steps=4, epochs=2)
    with pytest.raises(BioNERInputError, match="positive"):
        fewshot_schedule(5, 16, steps=0)


def test_finetune_learns_the_new_label(tiny_bert_dir: Path) -> None:
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_prompted", config={"model": {"encoder": str(tiny_bert_dir), "dropout": 0.0},
                                            "labels": {"Disease": "disease"}})
    doc = make_doc(nlp, *TRAIN[3])
    nlp.initialize(lambda: [Example(nlp.make_doc(doc.text), doc)])
    nlp.get_pipe("bioner_prompted").set_labels({"Gene": "gene"})
    (sentence,) = sentence_pool([doc], "Gene", "sc")
    optimizer = {"@optimizers": "Adam.v1", "learn_rate": 0.005}
    finetune(nlp, "bioner_prompted", [sentence_example(nlp, sentence, "Gene", "sc")], steps=40, batch_size=4,
             optimizer_config=optimizer, seed=0)
    scores = score_labels(nlp, hidden_references([doc], ["Gene"], "sc"), ["Gene"], "sc")
    assert scores["Gene"]["span_f"] == 1.0 and scores["Gene"]["token_f"] == 1.0


def test_fewshot_optimizer_uses_a_constant_rate() -> None:
    schedule = {"@schedules": "warmup_linear.v1", "warmup_steps": 60, "total_steps": 600, "initial_rate": 5e-5}
    block = {"@optimizers": "Adam.v1", "learn_rate": schedule, "L2": 0.01}
    assert fewshot_optimizer(block) == {"@optimizers": "Adam.v1", "learn_rate": 5e-5, "L2": 0.01}
    assert fewshot_optimizer(block, 1e-4)["learn_rate"] == 1e-4
    assert block["learn_rate"] is schedule  # the base config is not modified
    assert fewshot_optimizer({"@optimizers": "Adam.v1", "learn_rate": 0.001})["learn_rate"] == 0.001
    with pytest.raises(BioNERInputError, match="--fewshot-lr"):
        fewshot_optimizer({"@optimizers": "Adam.v1", "learn_rate": {"@schedules": "constant.v1", "rate": 0.1}})


def test_finetune_settings_from_the_base_config() -> None:
    schedule = {"@schedules": "warmup_linear.v1", "warmup_steps": 6, "total_steps": 60, "initial_rate": 2e-5}
    config = Config({"training": {"optimizer": {"@optimizers": "Adam.v1", "learn_rate": schedule},
                                  "batcher": {"@batchers": "spacy.batch_by_sequence.v1", "size": 8}}})
    settings = finetune_settings(config)
    assert (settings.optimizer["learn_rate"], settings.batch_size) == (2e-5, 8)
    assert settings.schedule(100) == 3 * 13 and settings.rule == "max(10, 3 passes) updates per run"
    given = finetune_settings(config, learn_rate=0.1, batch_size=3, epochs=2)
    assert (given.optimizer["learn_rate"], given.batch_size, given.schedule(7)) == (0.1, 3, 6)
    assert given.rule == "2 passes over the sample per run"
    # a batcher size that is a schedule, not an integer: the default batch size
    config["training"]["batcher"]["size"] = {"@schedules": "compounding.v1", "start": 4, "stop": 16}
    assert finetune_settings(config).batch_size == DEFAULT_BATCH_SIZE
    fixed = FinetuneSettings({"learn_rate": 0.1}, 4, steps=5)
    assert fixed.schedule(100) == 5 and fixed.rule == "5 updates per run"
