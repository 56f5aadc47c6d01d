"""Tests of spacy_bioner.scoring: strict span scores, token scores, registered scorers."""
from __future__ import annotations

from importlib.metadata import entry_points

import pytest
import spacy
from spacy.language import Language
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example

from spacy_bioner.errors import BioNERInputError
from spacy_bioner.scoring import (
    evaluate_docs,
    make_span_scorer,
    make_token_scorer,
    score_spans,
    score_tokens,
)


@pytest.fixture
def nlp() -> Language:
    return spacy.blank("en")


def _spans(doc: Doc, spans: list[tuple[str, str]]) -> list:
    """Spans of `doc` given as (text, label), found at the first occurrence of the text."""
    result = []
    for text, label in spans:
        start = doc.text.index(text)
        span = doc.char_span(start, start + len(text), label=label, alignment_mode="strict")
        assert span is not None, f"'{text}' does not align with the tokens of '{doc.text}'"
        result.append(span)
    return result


def _ents_doc(nlp: Language, text: str, ents: list[tuple[str, str]]) -> Doc:
    doc = nlp.make_doc(text)
    doc.ents = _spans(doc, ents)
    return doc


def _group_doc(nlp: Language, text: str, spans: list[tuple[str, str]], key: str = "sc") -> Doc:
    doc = nlp.make_doc(text)
    doc.spans[key] = _spans(doc, spans)
    return doc


def _f(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


# --- strict spans -----------------------------------------------------------------------


def test_score_spans_exact_boundaries(nlp: Language) -> None:
    text = "Aspirin and ibuprofen reduce fever ."
    gold = _ents_doc(nlp, text, [("Aspirin", "CHEM"), ("ibuprofen", "CHEM")])
    # One exact, one a token too long: the second is both a FP and a FN.
    pred = _ents_doc(nlp, text, [("Aspirin", "CHEM"), ("and ibuprofen", "CHEM")])
    scores = score_spans([Example(pred, gold)])
    chem = scores["ents_per_type"]["CHEM"]
    assert chem["p"] == pytest.approx(0.5)
    assert chem["r"] == pytest.approx(0.5)
    assert chem["f"] == pytest.approx(0.5)
    assert chem["n_gold"] == 2
    assert chem["n_pred"] == 2
    assert scores["ents_f"] == pytest.approx(0.5)


def test_score_spans_one_token_short_is_wrong(nlp: Language) -> None:
    text = "non-small cell lung cancer was treated"
    gold = _ents_doc(nlp, text, [("non-small cell lung cancer", "DISEASE")])
    pred = _ents_doc(nlp, text, [("cell lung cancer", "DISEASE")])
    scores = score_spans([Example(pred, gold)])
    assert scores["ents_p"] == 0.0
    assert scores["ents_r"] == 0.0
    assert scores["ents_f"] == 0.0


def test_score_spans_label_must_match(nlp: Language) -> None:
    text = "Aspirin reduces fever ."
    gold = _ents_doc(nlp, text, [("Aspirin", "CHEM")])
    pred = _ents_doc(nlp, text, [("Aspirin", "GENE")])
    scores = score_spans([Example(pred, gold)])
    per_type = scores["ents_per_type"]
    assert set(per_type) == {"CHEM", "GENE"}
    assert per_type["CHEM"]["r"] == 0.0
    assert per_type["CHEM"]["n_pred"] == 0
    assert per_type["GENE"]["p"] == 0.0
    assert per_type["GENE"]["n_gold"] == 0
    assert scores["ents_f"] == 0.0


def test_score_spans_micro_and_macro_differ(nlp: Language) -> None:
    text = "Aspirin , ibuprofen and paracetamol do not cure cancer ."
    chems = [("Aspirin", "CHEM"), ("ibuprofen", "CHEM"), ("paracetamol", "CHEM")]
    gold = _ents_doc(nlp, text, [*chems, ("cancer", "DISEASE")])
    pred = _ents_doc(nlp, text, chems)
    scores = score_spans([Example(pred, gold)])
    per_type = scores["ents_per_type"]
    # CHEM: tp=3, fp=0, fn=0. DISEASE: tp=0, fp=0, fn=1 -> recall 0, no prediction.
    assert per_type["CHEM"] == pytest.approx({"p": 1.0, "r": 1.0, "f": 1.0, "n_gold": 3, "n_pred": 3})
    assert per_type["DISEASE"]["r"] == 0.0
    assert per_type["DISEASE"]["n_pred"] == 0
    micro_p, micro_r = 3 / 3, 3 / 4
    assert scores["ents_p"] == pytest.approx(micro_p)
    assert scores["ents_r"] == pytest.approx(micro_r)
    assert scores["ents_f"] == pytest.approx(_f(micro_p, micro_r))
    # Macro: mean over the two labels of the per-label scores.
    assert scores["ents_macro_p"] == pytest.approx((1.0 + 0.0) / 2)
    assert scores["ents_macro_r"] == pytest.approx((1.0 + 0.0) / 2)
    assert scores["ents_macro_f"] == pytest.approx((1.0 + 0.0) / 2)
    assert scores["ents_macro_f"] != pytest.approx(scores["ents_f"])


def test_score_spans_matches_spacy_get_ner_prf(nlp: Language) -> None:
    text = "Aspirin and ibuprofen reduce fever and headache in adults ."
    gold = _ents_doc(
        nlp, text, [("Aspirin", "CHEM"), ("ibuprofen", "CHEM"), ("fever", "DISEASE"), ("headache", "DISEASE")]
    )
    pred = _ents_doc(
        nlp, text, [("Aspirin", "CHEM"), ("fever and headache", "DISEASE"), ("adults", "SPECIES")]
    )
    examples = [Example(pred, gold)]
    ours = score_spans(examples)
    theirs = get_ner_prf(examples)
    for key in ("ents_p", "ents_r", "ents_f"):
        assert ours[key] == pytest.approx(theirs[key])
    for label, prf in theirs["ents_per_type"].items():
        for k in ("p", "r", "f"):
            assert ours["ents_per_type"][label][k] == pytest.approx(prf[k])


def test_score_spans_different_tokenisation(nlp: Language) -> None:
    text = "IL-2 receptor binds IL-2 ."
    gold = Doc(
        nlp.vocab,
        words=["IL-2", "receptor", "binds", "IL-2", "."],
        spaces=[True, True, True, True, False],
        ents=["B-GENE", "I-GENE", "O", "B-GENE", "O"],
    )
    pred = Doc(
        nlp.vocab,
        words=["IL", "-", "2", "receptor", "binds", "IL", "-", "2", "."],
        spaces=[False, False, True, True, True, False, False, True, False],
        # The first is right; the second covers only "IL".
        ents=["B-GENE", "I-GENE", "I-GENE", "I-GENE", "O", "B-GENE", "O", "O", "O"],
    )
    assert pred.text == gold.text == text
    scores = score_spans([Example(pred, gold)])
    gene = scores["ents_per_type"]["GENE"]
    assert (gene["n_gold"], gene["n_pred"]) == (2, 2)
    assert gene["p"] == pytest.approx(0.5)
    assert gene["r"] == pytest.approx(0.5)


def test_score_spans_span_group_overlaps_and_duplicates(nlp: Language) -> None:
    text = "breast cancer cells"
    gold = _group_doc(nlp, text, [("breast cancer", "DISEASE"), ("breast", "ANATOMY")])
    pred = nlp.make_doc(text)
    pred.spans["sc"] = [
        pred.char_span(0, 13, label="DISEASE"),
        pred.char_span(0, 6, label="ANATOMY"),
        pred.char_span(0, 6, label="ANATOMY"),  # a duplicate counts once
        pred.char_span(7, 13, label="DISEASE"),  # overlaps a gold span: wrong
    ]
    scores = score_spans([Example(pred, gold)], spans_key="sc")
    assert not any(k.startswith("ents") for k in scores)
    per_type = scores["spans_sc_per_type"]
    assert per_type["ANATOMY"] == pytest.approx({"p": 1.0, "r": 1.0, "f": 1.0, "n_gold": 1, "n_pred": 1})
    assert per_type["DISEASE"]["p"] == pytest.approx(0.5)
    assert per_type["DISEASE"]["r"] == pytest.approx(1.0)
    # Micro: tp=2, fp=1, fn=0.
    assert scores["spans_sc_p"] == pytest.approx(2 / 3)
    assert scores["spans_sc_r"] == pytest.approx(1.0)
    assert scores["spans_sc_f"] == pytest.approx(_f(2 / 3, 1.0))
    assert scores["spans_sc_macro_f"] == pytest.approx((1.0 + _f(0.5, 1.0)) / 2)


def test_score_spans_missing_predicted_group_is_empty(nlp: Language) -> None:
    gold = _group_doc(nlp, "breast cancer cells", [("breast cancer", "DISEASE")])
    pred = nlp.make_doc(gold.text)
    scores = score_spans([Example(pred, gold)], spans_key="sc")
    assert scores["spans_sc_p"] == 0.0
    assert scores["spans_sc_r"] == 0.0
    assert scores["spans_sc_per_type"]["DISEASE"]["n_gold"] == 1


def test_score_spans_missing_key_in_all_references_raises(nlp: Language) -> None:
    gold = _group_doc(nlp, "breast cancer cells", [("breast cancer", "DISEASE")], key="other")
    pred = nlp.make_doc(gold.text)
    with pytest.raises(BioNERInputError, match=r"\[E100\] No span group 'sc'.*other"):
        score_spans([Example(pred, gold)], spans_key="sc")
    with pytest.raises(BioNERInputError, match=r"\[E100\] No span group 'sc'"):
        score_tokens([Example(pred, gold)], spans_key="sc")


def test_score_spans_reference_without_group_is_skipped(nlp: Language) -> None:
    text = "breast cancer cells"
    annotated = _group_doc(nlp, text, [("breast cancer", "DISEASE")])
    unannotated = nlp.make_doc(text)
    pred = _group_doc(nlp, text, [("breast cancer", "DISEASE")])
    pred2 = _group_doc(nlp, text, [("cells", "DISEASE")])
    scores = score_spans([Example(pred, annotated), Example(pred2, unannotated)], spans_key="sc")
    # The second prediction would be a false positive if its reference counted.
    assert scores["spans_sc_p"] == pytest.approx(1.0)


def test_score_spans_labels_filter(nlp: Language) -> None:
    text = "Aspirin reduces fever ."
    gold = _ents_doc(nlp, text, [("Aspirin", "CHEM"), ("fever", "DISEASE")])
    pred = _ents_doc(nlp, text, [("Aspirin", "CHEM")])
    scores = score_spans([Example(pred, gold)], labels=["CHEM"])
    assert set(scores["ents_per_type"]) == {"CHEM"}
    assert scores["ents_r"] == pytest.approx(1.0)


def test_score_spans_ignores_predictions_on_unannotated_tokens(nlp: Language) -> None:
    words = ["Aspirin", "and", "ibuprofen", "work"]
    gold = Doc(nlp.vocab, words=words, ents=["B-CHEM", "O", None, "O"])
    pred = Doc(nlp.vocab, words=words, ents=["B-CHEM", "O", "B-CHEM", "O"])
    scores = score_spans([Example(pred, gold)])
    assert scores["ents_per_type"]["CHEM"]["n_pred"] == 1
    assert scores["ents_p"] == pytest.approx(1.0)
    # A reference with no entity annotation at all is skipped, as in spaCy.
    bare = Doc(nlp.vocab, words=words)
    assert score_spans([Example(pred, bare)])["ents_f"] is None


@pytest.mark.parametrize("spans_key", [None, "sc"])
def test_scores_empty(nlp: Language, spans_key: str | None) -> None:
    prefix = "ents" if spans_key is None else f"spans_{spans_key}"
    token_prefix = "token" if spans_key is None else f"spans_{spans_key}_token"
    empty_gold = nlp.make_doc("")
    no_ents_gold = nlp.make_doc("Nothing to see here .")
    no_ents_gold.ents = []
    if spans_key is not None:
        empty_gold.spans[spans_key] = []
        no_ents_gold.spans[spans_key] = []
    examples = [
        Example(nlp.make_doc(""), empty_gold),
        Example(nlp.make_doc(no_ents_gold.text), no_ents_gold),
    ]
    for examples_ in (examples, []):
        spans = score_spans(examples_, spans_key=spans_key)
        tokens = score_tokens(examples_, spans_key=spans_key)
        for key in ("p", "r", "f", "per_type", "macro_p", "macro_r", "macro_f"):
            assert spans[f"{prefix}_{key}"] is None
            assert tokens[f"{token_prefix}_{key}"] is None


# --- tokens -----------------------------------------------------------------------------


def test_score_tokens_partial_overlap(nlp: Language) -> None:
    text = "small cell lung cancer was treated"
    gold = _ents_doc(nlp, text, [("small cell lung cancer", "DISEASE")])
    pred = _ents_doc(nlp, text, [("lung cancer", "DISEASE")])
    examples = [Example(pred, gold)]
    assert score_spans(examples)["ents_f"] == 0.0
    n_gold_tokens = len(gold.ents[0])
    n_pred_tokens = len(pred.ents[0])
    assert (n_gold_tokens, n_pred_tokens) == (4, 2)
    scores = score_tokens(examples)
    p, r = n_pred_tokens / n_pred_tokens, n_pred_tokens / n_gold_tokens
    assert scores["token_p"] == pytest.approx(p)
    assert scores["token_r"] == pytest.approx(r)
    assert scores["token_f"] == pytest.approx(_f(p, r))
    assert scores["token_per_type"]["DISEASE"]["n_gold"] == 4
    assert scores["token_per_type"]["DISEASE"]["n_pred"] == 2


def test_score_tokens_counts_reference_tokens_overlapped_by_characters(nlp: Language) -> None:
    text = "non-small cell lung cancer was treated"
    gold = Doc(
        nlp.vocab,
        words=["non-small", "cell", "lung", "cancer", "was", "treated"],
        spaces=[True, True, True, True, True, False],
        ents=["B-DISEASE", "I-DISEASE", "I-DISEASE", "I-DISEASE", "O", "O"],
    )
    # The pipeline splits "non-small" and predicts from "small": it overlaps the
    # reference token "non-small", so all 4 reference tokens are predicted positive.
    pred = Doc(
        nlp.vocab,
        words=["non", "-", "small", "cell", "lung", "cancer", "was", "treated"],
        spaces=[False, False, True, True, True, True, True, False],
        ents=["O", "O", "B-DISEASE", "I-DISEASE", "I-DISEASE", "I-DISEASE", "O", "O"],
    )
    assert pred.text == gold.text == text
    examples = [Example(pred, gold)]
    assert score_spans(examples)["ents_f"] == 0.0
    assert score_tokens(examples)["token_f"] == pytest.approx(1.0)


def test_score_tokens_ignores_whitespace_tokens(nlp: Language) -> None:
    text = "lung  cancer ."
    gold = nlp.make_doc(text)
    assert [t.text for t in gold] == ["lung", " ", "cancer", "."]
    gold.ents = [gold.char_span(0, 12, label="DISEASE")]
    pred = nlp.make_doc(text)
    pred.ents = [pred.char_span(0, 4, label="DISEASE")]
    per_type = score_tokens([Example(pred, gold)])["token_per_type"]["DISEASE"]
    # 2 gold tokens, not 3: the whitespace token is not scored.
    assert per_type["n_gold"] == 2
    assert per_type["r"] == pytest.approx(1 / 2)


def test_score_tokens_span_group_overlapping_labels_and_macro(nlp: Language) -> None:
    text = "breast cancer cells grow"
    gold = _group_doc(nlp, text, [("breast cancer", "DISEASE"), ("breast", "ANATOMY")])
    pred = _group_doc(nlp, text, [("breast cancer cells", "DISEASE")])
    scores = score_tokens([Example(pred, gold)], spans_key="sc")
    per_type = scores["spans_sc_token_per_type"]
    # DISEASE: gold {breast, cancer}, pred {breast, cancer, cells}: tp=2, fp=1, fn=0.
    assert per_type["DISEASE"]["p"] == pytest.approx(2 / 3)
    assert per_type["DISEASE"]["r"] == pytest.approx(1.0)
    # ANATOMY: gold {breast}, no prediction: tp=0, fp=0, fn=1.
    assert per_type["ANATOMY"]["r"] == 0.0
    # Micro over (token, label) pairs: tp=2, fp=1, fn=1.
    assert scores["spans_sc_token_p"] == pytest.approx(2 / 3)
    assert scores["spans_sc_token_r"] == pytest.approx(2 / 3)
    assert scores["spans_sc_token_macro_f"] == pytest.approx((_f(2 / 3, 1.0) + 0.0) / 2)


# --- registered scorers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,factory",
    [
        ("spacy_bioner.span_scorer.v1", make_span_scorer),
        ("spacy_bioner.token_scorer.v1", make_token_scorer),
    ],
)
def test_scorers_registered(name: str, factory: object) -> None:
    assert spacy.registry.scorers.get(name) is factory
    declared = {ep.name: ep for ep in entry_points(group="spacy_scorers")}
    assert declared[name].load() is factory


def test_resolved_scorers_score_examples(nlp: Language) -> None:
    text = "breast cancer cells"
    gold = _group_doc(nlp, text, [("breast cancer", "DISEASE")])
    pred = _group_doc(nlp, text, [("cancer", "DISEASE")])
    examples = [Example(pred, gold)]
    span_scorer = spacy.registry.scorers.get("spacy_bioner.span_scorer.v1")(spans_key="sc")
    token_scorer = spacy.registry.scorers.get("spacy_bioner.token_scorer.v1")(spans_key="sc")
    # The configured key wins over a key (and labels) passed by a component.
    assert span_scorer(examples, spans_key="other", labels=["X"]) == score_spans(examples, spans_key="sc")
    tokens = token_scorer(examples)
    assert tokens["spans_sc_token_p"] == pytest.approx(1.0)
    assert tokens["spans_sc_token_r"] == pytest.approx(0.5)


def _ruler_nlp(scorer: str) -> Language:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"scorer": {"@scorers": scorer}})
    ruler.add_patterns([{"label": "CHEM", "pattern": "aspirin"}])
    return nlp


def test_scorers_through_component_config() -> None:
    nlp = _ruler_nlp("spacy_bioner.span_scorer.v1")
    gold = _ents_doc(nlp, "aspirin cures lung cancer", [("aspirin", "CHEM"), ("lung cancer", "DISEASE")])
    examples = [Example(nlp.make_doc(gold.text), gold)]
    scores = nlp.evaluate(examples)
    # The ruler knows only CHEM, yet the gold DISEASE still counts as a miss.
    assert scores["ents_per_type"]["CHEM"]["f"] == pytest.approx(1.0)
    assert scores["ents_per_type"]["DISEASE"]["r"] == 0.0
    assert scores["ents_r"] == pytest.approx(0.5)
    assert scores["ents_macro_r"] == pytest.approx(0.5)
    assert scores["ents_macro_f"] == pytest.approx(0.5)
    # The scorer survives a config round trip.
    config = nlp.config
    assert config["components"]["entity_ruler"]["scorer"]["@scorers"] == "spacy_bioner.span_scorer.v1"
    nlp2 = spacy.util.load_model_from_config(config, auto_fill=True)
    assert nlp2.get_pipe("entity_ruler").scorer.__name__ == "span_scorer"

    nlp = _ruler_nlp("spacy_bioner.token_scorer.v1")
    scores = nlp.evaluate([Example(nlp.make_doc(gold.text), gold)])
    # Tokens: CHEM tp=1; DISEASE fn=2.
    assert scores["token_p"] == pytest.approx(1.0)
    assert scores["token_r"] == pytest.approx(1 / 3)


# --- evaluate_docs ------------------------------------------------------------------------


def test_evaluate_docs() -> None:
    nlp = _ruler_nlp("spacy_bioner.span_scorer.v1")
    gold_docs = [
        _ents_doc(nlp, "aspirin cures lung cancer", [("aspirin", "CHEM"), ("lung cancer", "DISEASE")]),
        _ents_doc(nlp, "take aspirin daily", [("aspirin", "CHEM")]),
    ]
    scores = evaluate_docs(nlp, gold_docs, batch_size=1)
    assert scores["ents_per_type"]["CHEM"]["n_pred"] == 2
    assert scores["ents_p"] == pytest.approx(1.0)
    assert scores["ents_r"] == pytest.approx(2 / 3)
    assert scores["token_r"] == pytest.approx(2 / 4)
    assert scores["docs"] == 2
    assert scores["words"] == 4 + 3
    assert scores["seconds"] >= 0
    assert scores["words_per_second"] is None or scores["words_per_second"] > 0


def test_evaluate_docs_does_not_leak_gold() -> None:
    nlp = spacy.blank("en")  # predicts nothing
    gold = _ents_doc(nlp, "aspirin cures lung cancer", [("aspirin", "CHEM")])
    gold_spans = _group_doc(nlp, "aspirin cures lung cancer", [("aspirin", "CHEM")])
    assert evaluate_docs(nlp, [gold])["ents_r"] == 0.0
    assert evaluate_docs(nlp, [gold_spans], spans_key="sc")["spans_sc_r"] == 0.0


def test_evaluate_docs_empty_and_missing_key() -> None:
    nlp = spacy.blank("en")
    scores = evaluate_docs(nlp, [])
    assert scores["ents_f"] is None
    assert scores["words"] == 0
    with pytest.raises(BioNERInputError, match=r"\[E100\] No span group 'sc'"):
        evaluate_docs(nlp, [nlp.make_doc("aspirin")], spans_key="sc")


@spacy.Language.component("test_ents_from_user_data")
def _ents_from_user_data(doc: Doc) -> Doc:
    """Tags the first token with the label recorded in user_data, if any."""
    label = doc.user_data.get("label")
    if label and len(doc):
        doc.ents = [Span(doc, 0, 1, label=label)]
    return doc


def test_evaluate_docs_make_doc_reaches_the_pipeline() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("test_ents_from_user_data")
    gold = _ents_doc(nlp, "aspirin cures lung cancer", [("aspirin", "CHEM")])
    assert evaluate_docs(nlp, [gold])["ents_r"] == 0.0  # no user_data, no prediction
    made: list[str] = []

    def make_doc(text: str) -> Doc:
        made.append(text)
        doc = nlp.make_doc(text)
        doc.user_data["label"] = "CHEM"
        return doc

    scores = evaluate_docs(nlp, [gold], make_doc=make_doc)
    assert made == [gold.text]
    assert scores["ents_p"] == pytest.approx(1.0)
    assert scores["ents_r"] == pytest.approx(1.0)
