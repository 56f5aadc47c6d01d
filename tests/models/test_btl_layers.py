"""Pipeline-level functions of bioner_btl that need no model: the class
weights of the BTL/ATL losses and the decoding of BIO tags into spans."""
from __future__ import annotations

import numpy
import pytest

from spacy_bioner.pipeline._decode import decode_tags
from spacy_bioner.pipeline.btl import class_weights_from_counts


def test_class_weights_formula() -> None:
    # 100 tokens: 80 O, label 0 on 5 + 5, label 1 on 2 + 8
    weights = class_weights_from_counts(numpy.asarray([80, 5, 5, 2, 8]))
    numpy.testing.assert_allclose(weights, [1 - 80 / 100, 1 - 10 / 100, 1 - 10 / 100, 1 - 10 / 100, 1 - 10 / 100])
    rare = class_weights_from_counts(numpy.asarray([90, 1, 0, 6, 3]))
    numpy.testing.assert_allclose(rare, [0.1, 0.99, 0.99, 0.91, 0.91], rtol=1e-6)
    assert rare[1] > rare[3] > rare[0]  # the rarer the class, the larger its weight
    unweighted_o = class_weights_from_counts(numpy.asarray([90, 1, 0, 6, 3]), weight_outside=False)
    assert unweighted_o[0] == 1.0 and unweighted_o[1] == pytest.approx(0.99)
    assert class_weights_from_counts(numpy.zeros(3)).tolist() == [1.0, 1.0, 1.0]




def test_decode_tags() -> None:
    # O B-0 I-0 I-0 | B-1 B-1 I-1 I-0 O (query 1 starts at word 9) I-1 I-1
    tags = numpy.asarray([0, 1, 2, 2, 3, 3, 4, 2, 0, 4, 4])
    query_of_word = numpy.asarray([0] * 9 + [1] * 2)
    scores = numpy.tile(numpy.asarray([[0.6, 0.8]], dtype="float32"), (11, 1))
    valid = numpy.arange(11)
    first, last, label, means = decode_tags(tags, scores, valid, query_of_word)
    spans = list(zip(first.tolist(), last.tolist(), label.tolist(), strict=True))
    # an I after another label starts a span; a new query breaks one
    assert spans == [(1, 3, 0), (4, 4, 1), (5, 6, 1), (7, 7, 0), (9, 10, 1)]
    numpy.testing.assert_allclose(means, [0.6, 0.8, 0.8, 0.6, 0.8])
    # a word without a decision (whitespace) inside a span does not break it
    first, last, _, _ = decode_tags(numpy.asarray([1, 0, 2]), scores[:3], numpy.asarray([0, 2]), numpy.zeros(3, int))
    assert (first.tolist(), last.tolist()) == ([0], [2])
    empty = decode_tags(numpy.zeros(0, int), numpy.zeros((0, 2)), numpy.zeros(0, int), numpy.zeros(0, int))
    assert all(len(a) == 0 for a in empty)


