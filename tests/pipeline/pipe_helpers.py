"""What the component test sets (test_prompted.py, test_btl.py) share: the
training sentences, gold examples, span read-out, overfitting, cloning, and
the checks every component must pass on empty input and in `pipe`."""
from __future__ import annotations

from collections.abc import Iterable

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Adam

Gold = list[tuple[int, int, str]]
# (text, [(start char, end char, label)])
TRAIN: list[tuple[str, Gold]] = [
    ("Patients with breast cancer received tamoxifen daily .", [(14, 27, "Disease"), (37, 46, "Chemical")]),
    ("Cisplatin induced nephrotoxicity in two rats .", [(0, 9, "Chemical"), (18, 32, "Disease")]),
    ("No adverse events were seen .", []),
]
# longer than max_length = 16: many windows
LONG_TEXT = (
    "Tamoxifen was given to women treated for breast cancer after surgery and both groups showed "
    "similar results over time while every patient had follow up visits at month one three six "
    "and twelve and two rats had lung carcinoma"
)


def long_gold() -> Gold:
    """The gold spans of LONG_TEXT, the last one in its last window."""
    out = []
    for phrase, label in (("Tamoxifen", "Chemical"), ("breast cancer", "Disease"), ("lung carcinoma", "Disease")):
        start = LONG_TEXT.index(phrase)
        out.append((start, start + len(phrase), label))
    return out


def make_examples(nlp: Language, data: Iterable[tuple[str, Gold]], doc_id: str | None = "d1") -> list[Example]:
    """Examples with the gold in doc.spans["sc"] and doc.ents, from one source document."""
    examples = []
    for text, spans in data:
        ref = nlp.make_doc(text)
        group = [ref.char_span(s, e, label=label) for s, e, label in spans]
        assert all(span is not None for span in group)
        ref.spans["sc"] = group
        ref.set_ents(spacy.util.filter_spans(group), default="outside")
        if doc_id is not None:
            ref.user_data["bioner_source"] = {"doc_id": doc_id}
        examples.append(Example(nlp.make_doc(text), ref))
    return examples


def spans_of(doc: Doc, key: str = "sc") -> Gold:
    return sorted((s.start_char, s.end_char, s.label_) for s in doc.spans[key])


def scored_spans(doc: Doc, key: str = "sc") -> list[tuple[int, int, str, float]]:
    group = doc.spans[key]
    return [(s.start, s.end, s.label_, score) for s, score in zip(group, group.attrs["scores"], strict=True)]


def train_until_gold(
    nlp: Language, examples: list[Example], *, lr: float = 5e-3, max_steps: int = 300, every: int = 10
) -> int:
    """Update until the predictions equal the gold spans; return the steps taken."""
    optimizer = Adam(lr)
    texts = [eg.reference.text for eg in examples]
    gold = [spans_of(eg.reference) for eg in examples]
    for step in range(1, max_steps + 1):
        nlp.update(examples, sgd=optimizer)
        if step % every == 0 and [spans_of(d) for d in nlp.pipe(texts)] == gold:
            return step
    raise AssertionError(f"no fit after {max_steps} steps: {[spans_of(d) for d in nlp.pipe(texts)]} != {gold}")


def clone(nlp: Language) -> Language:
    copy = spacy.util.load_model_from_config(nlp.config, auto_fill=False)
    return copy.from_bytes(nlp.to_bytes())


def assert_empty_input(nlp: Language, name: str) -> None:
    """Empty docs, whitespace docs and empty batches give empty span groups."""
    pipe = nlp.get_pipe(name)
    doc = nlp("")
    assert len(doc.spans["sc"]) == 0 and doc.spans["sc"].attrs["scores"] == [] and doc.ents == ()
    assert list(nlp.pipe([])) == []
    assert pipe.predict([]) == []
    pipe.set_annotations([], [])
    docs = list(nlp.pipe(["", "Cisplatin induced nephrotoxicity in two rats .", " "]))
    assert [len(d.spans["sc"]) for d in docs] == [0, 2, 0]
    assert pipe.score([]) is not None


def assert_pipe_equals_call(nlp: Language) -> None:
    """`nlp.pipe` in batches gives what `nlp(text)` gives, text by text."""
    texts = [text for text, _ in TRAIN] + ["Tamoxifen .", "Rats with breast cancer received cisplatin daily ."]
    piped = [scored_spans(d) for d in nlp.pipe(texts, batch_size=2)]
    called = [scored_spans(nlp(t)) for t in texts]
    # padding to another length can move scores in the last float bits
    assert [[s[:3] for s in doc] for doc in piped] == [[s[:3] for s in doc] for doc in called]
    for p_doc, c_doc in zip(piped, called, strict=True):
        numpy.testing.assert_allclose([s[3] for s in p_doc], [s[3] for s in c_doc], rtol=0, atol=1e-5)
