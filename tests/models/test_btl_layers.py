"""The layers under bioner_btl: losses and k-NN (pure torch), single-segment
batching, class weights and tag decoding (numpy)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

import spacy_bioner.torch.knn as knn
from spacy_bioner.models.prompt_batching import (
    PromptQuery,
    encode_queries,
    merge_windows,
    pool_words,
    sentence_targets,
)
from spacy_bioner.pipeline.btl import class_weights_from_counts, decode_tags
from spacy_bioner.torch import BTLTaggerModule, atl_loss, btl_loss, knn_vote
from spacy_bioner.torch.btl_tagger import btl_targets

# 3 positions, 2 labels: tags O, B-0, I-0, B-1, I-1
LOGITS = [
    [0.5, 1.0, -0.3, 0.2, 0.0],
    [0.1, 2.0, 0.4, -1.0, 0.3],
    [1.2, -0.5, 0.0, 0.7, 1.5],
]
TARGETS = [0, 1, 4]  # O, B-0, I-1


def _restricted_ce(row: list[float], cols: list[int], gold: int) -> float:
    """-log softmax over the logits `cols` of `row`, at `gold` (an index into cols)."""
    exps = [math.exp(row[c]) for c in cols]
    return -math.log(exps[gold] / sum(exps))


def _hand_btl(weights: list[float]) -> float:
    copies = []
    for c in range(2):
        cols = [0, 1 + 2 * c, 2 + 2 * c]
        num = den = 0.0
        for row, tag in zip(LOGITS, TARGETS, strict=True):
            # in copy c only c's tags stay; everything else is O
            gold = tag - 2 * c if tag in (1 + 2 * c, 2 + 2 * c) else 0
            w = weights[cols[gold]]
            num += w * _restricted_ce(row, cols, gold)
            den += w
        copies.append(num / den)
    return sum(copies) / len(copies)


def test_btl_loss_equals_hand_computed_restricted_softmax() -> None:
    logits, targets = torch.tensor(LOGITS), torch.tensor(TARGETS)
    unweighted = btl_loss(logits, targets, n_labels=2)
    assert unweighted.item() == pytest.approx(_hand_btl([1.0] * 5), rel=1e-6)
    weights = [0.2, 0.9, 0.9, 0.7, 0.7]
    weighted = btl_loss(logits, targets, n_labels=2, weights=torch.tensor(weights))
    assert weighted.item() == pytest.approx(_hand_btl(weights), rel=1e-6)
    assert weighted.item() != pytest.approx(unweighted.item(), rel=1e-3)
    # not the ordinary cross-entropy over all five tags
    assert unweighted.item() != pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-3)


def test_btl_loss_gradient() -> None:
    logits = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    weights = torch.tensor([0.2, 0.9, 0.9, 0.7, 0.7], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: btl_loss(x, torch.tensor(TARGETS), 2, weights), (logits,))
    btl_loss(logits, torch.tensor(TARGETS), 2).backward()
    # each copy reaches only its own label's logits and O: all columns get gradient
    assert logits.grad is not None and bool((logits.grad != 0).all())


def test_btl_copies_present() -> None:
    logits = torch.tensor(LOGITS)
    only_label_0 = torch.tensor([0, 1, 2])
    present = btl_loss(logits, only_label_0, 2, copies="present")
    cols = [0, 1, 2]
    hand = sum(_restricted_ce(row, cols, g) for row, g in zip(LOGITS, [0, 1, 2], strict=True)) / 3
    assert present.item() == pytest.approx(hand, rel=1e-6)
    assert btl_loss(logits, only_label_0, 2, copies="all").item() != pytest.approx(hand, rel=1e-3)
    # an all-O batch falls back to every copy
    all_o = torch.zeros(3, dtype=torch.int64)
    assert btl_loss(logits, all_o, 2, copies="present").item() == pytest.approx(
        btl_loss(logits, all_o, 2, copies="all").item())
    with pytest.raises(ValueError, match="copies"):
        btl_loss(logits, all_o, 2, copies="some")


def test_btl_targets_and_shapes() -> None:
    assert btl_targets(torch.tensor([0, 1, 2, 3, 4]), 2).tolist() == [[0, 1, 2, 0, 0], [0, 0, 0, 1, 2]]
    with pytest.raises(ValueError, match="tags"):
        btl_loss(torch.zeros(2, 4), torch.zeros(2, dtype=torch.int64), 2)
    empty = btl_loss(torch.zeros(0, 5, requires_grad=True), torch.zeros(0, dtype=torch.int64), 2)
    assert empty.item() == 0.0


def test_atl_loss_is_weighted_cross_entropy() -> None:
    logits, targets = torch.tensor(LOGITS), torch.tensor(TARGETS)
    weights = torch.tensor([0.2, 0.9, 0.9, 0.7, 0.7])
    assert atl_loss(logits, targets).item() == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-6)
    assert atl_loss(logits, targets, weights).item() == pytest.approx(
        F.cross_entropy(logits, targets, weight=weights).item(), rel=1e-6)
    hand = sum(_restricted_ce(r, list(range(5)), t) for r, t in zip(LOGITS, TARGETS, strict=True)) / 3
    assert atl_loss(logits, targets).item() == pytest.approx(hand, rel=1e-6)


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


def test_knn_votes_hand_made() -> None:
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0], [6.0, 5.0]])
    classes = torch.tensor([0, 0, 1, 2, 2])
    queries = torch.tensor([[0.1, 0.1], [5.5, 5.0], [0.1, 0.9]])
    votes, predicted = knn_vote(queries, points, classes, 3, k=3)
    # nearest 3: (0,0),(1,0),(0,1) -> 0,0,1 ; (5,5),(6,5),(1,0)... -> 2,2,x ; (0,1),(0,0),(1,0) -> 1,0,0
    assert votes.tolist() == [[2.0, 1.0, 0.0], [1.0, 0.0, 2.0], [2.0, 1.0, 0.0]]
    assert predicted.tolist() == [0, 2, 0]
    # a tie goes to the class of the nearest voter
    votes, predicted = knn_vote(queries[2:], points, classes, 3, k=2)
    assert votes.tolist() == [[1.0, 1.0, 0.0]] and predicted.tolist() == [1]
    # k above the number of points: every point votes
    votes, _ = knn_vote(queries[:1], points, classes, 3, k=17)
    assert votes.sum().item() == 5.0
    # cosine: direction only
    votes, predicted = knn_vote(torch.tensor([[10.0, 0.5]]), points[1:3], classes[1:3], 3, k=1, metric="cosine")
    assert predicted.tolist() == [0]
    with pytest.raises(ValueError, match="metric"):
        knn_vote(queries, points, classes, 3, k=1, metric="manhattan")


def test_knn_blocks_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import spacy_bioner.torch.knn as knn

    gen = torch.Generator().manual_seed(0)
    points, queries = torch.randn(50, 5, generator=gen), torch.randn(40, 5, generator=gen)
    classes = torch.randint(0, 5, (50,), generator=gen)
    whole = knn_vote(queries, points, classes, 5, k=7)
    monkeypatch.setattr(knn, "BLOCK_ENTRIES", 150)  # 3 query rows per block
    blocked = knn_vote(queries, points, classes, 5, k=7)
    assert torch.equal(whole[0], blocked[0]) and torch.equal(whole[1], blocked[1])


def test_knn_grouped_selection_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The brute-force search looks only inside the k groups of stored points
    with the smallest minimum; it must find the same neighbours as a search
    of every point, also when the last group is padded."""
    import spacy_bioner.torch.knn as knn
    from spacy_bioner.torch.knn import KNNVoter

    gen = torch.Generator().manual_seed(2)
    centers = torch.randn(9, 6, generator=gen) * 3
    labels = torch.randint(0, 9, (1001,), generator=gen)
    points = centers[labels] + torch.randn(1001, 6, generator=gen)
    queries = centers[torch.randint(0, 9, (300,), generator=gen)] + 1.5 * torch.randn(300, 6, generator=gen)
    monkeypatch.setattr(knn, "GROUP", 8)  # 126 groups, the last one padded
    monkeypatch.setattr(knn, "BLOCK_ENTRIES", 1008 * 50)  # several query blocks
    grouped = KNNVoter(points.numpy(), labels.numpy(), 9, 7, "euclidean", "brute")
    assert grouped._stores[0].n_groups == 126
    votes, predicted = grouped.vote(queries.numpy())
    nearest = torch.topk(knn.pairwise_distances(queries, points, "euclidean"), 7, largest=False).indices
    expected = torch.zeros(300, 9).scatter_add_(1, labels[nearest], torch.ones(300, 7))
    assert torch.equal(votes, expected)
    monkeypatch.setattr(knn, "GROUP", 1024)  # too few groups: the whole row is searched
    whole = KNNVoter(points.numpy(), labels.numpy(), 9, 7, "euclidean", "brute")
    assert whole._stores[0].n_groups == 0
    assert torch.equal(whole.vote(queries.numpy())[1], predicted)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("sample", [0.05, 0.9])
def test_knn_majority_certificate_is_exact(metric: str, sample: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a class holding most points (O), queries whose k-th nearest
    sampled majority point beats every other class skip the rest of the
    majority's points; the votes must equal a search of every point, for the
    queries that skip and for those that do not."""
    import spacy_bioner.torch.knn as knn
    from spacy_bioner.torch.knn import KNNVoter

    gen = torch.Generator().manual_seed(3)
    shift = torch.zeros(3, 4)
    shift[1, 0], shift[2, 1] = 4.0, -4.0
    labels = torch.cat([torch.zeros(1400, dtype=torch.int64), torch.ones(300, dtype=torch.int64),
                        torch.full((300,), 2, dtype=torch.int64)])
    spread = torch.tensor([1.0, 0.7, 0.7])[labels].unsqueeze(1)
    points = shift[labels] + spread * torch.randn(2000, 4, generator=gen) + torch.tensor([3.0, 3.0, 0.0, 0.0])
    queries = 1.3 * torch.randn(3000, 4, generator=gen) + torch.tensor([3.0, 3.0, 0.0, 0.0])
    # a large sample makes the certificate tight, so a loose one would show
    monkeypatch.setattr(knn, "MAJORITY_SAMPLE", sample)
    voter = KNNVoter(points.numpy(), labels.numpy(), 3, 17, metric, "brute")
    n_sample = int(1400 * sample)
    assert voter._majority == 0 and [store.size for store in voter._stores] == [600, n_sample, 1400 - n_sample]
    rest = voter._stores[2]
    searched = []
    full_search = rest.nearest
    rest.nearest = lambda q: (searched.append(q.shape[0]), full_search(q))[1]
    votes, predicted = voter.vote(queries.numpy())
    assert 0 < sum(searched) < 3000  # both kinds of queries occur
    nearest = torch.topk(knn.pairwise_distances(queries, points, metric), 17, largest=False).indices
    expected = torch.zeros(3000, 3).scatter_add_(1, labels[nearest], torch.ones(3000, 17))
    assert torch.equal(votes, expected)
    assert torch.equal(predicted, KNNVoter(points.numpy(), labels.numpy(), 3, 17, metric, "kd_tree").vote(
        queries.numpy())[1])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_algorithms_agree(metric: str) -> None:
    from spacy_bioner.torch.knn import KNNVoter

    gen = torch.Generator().manual_seed(1)
    # clustered, like a trained tagger's logits, so ties in distance are absent
    centers = torch.randn(7, 7, generator=gen) * 4
    labels = torch.randint(0, 7, (400,), generator=gen)
    points = centers[labels] + torch.randn(400, 7, generator=gen)
    queries = centers[torch.randint(0, 7, (60,), generator=gen)] + 1.5 * torch.randn(60, 7, generator=gen)
    brute = KNNVoter(points.numpy(), labels.numpy(), 7, 17, metric, "brute")
    tree = KNNVoter(points.numpy(), labels.numpy(), 7, 17, metric, "kd_tree")
    assert (brute.algorithm, tree.algorithm) == ("brute", "kd_tree")
    votes_b, pred_b = brute.vote(queries.numpy())
    votes_t, pred_t = tree.vote(queries.numpy())
    assert torch.equal(votes_b, votes_t) and torch.equal(pred_b, pred_t)
    # the same neighbours as the distance matrix itself gives
    nearest = torch.topk(knn.pairwise_distances(queries, points, metric), 17, largest=False).indices
    expected = torch.zeros(60, 7).scatter_add_(1, labels[nearest], torch.ones(60, 17))
    assert torch.equal(votes_b, expected)
    # "auto" picks the KD-tree for few tags, brute force for many
    assert KNNVoter(points.numpy(), labels.numpy(), 7, 3, metric).algorithm == "kd_tree"
    wide = torch.randn(50, knn.AUTO_KD_TREE_MAX_DIM + 1, generator=gen).numpy()
    assert KNNVoter(wide, numpy.zeros(50, dtype="int64"), 1, 3, metric).algorithm == "brute"
    with pytest.raises(ValueError, match="algorithm"):
        KNNVoter(points.numpy(), labels.numpy(), 7, 3, metric, "ball_tree")
    empty_votes, empty_pred = tree.vote(numpy.zeros((0, 7), dtype="float32"))
    assert empty_votes.shape == (0, 7) and empty_pred.shape == (0,)


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


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir: Path):
    return AutoTokenizer.from_pretrained(str(tiny_bert_dir))


def test_single_segment_layout(tokenizer) -> None:
    words = ("patients", "with", "breast", "cancer", ".")
    batch = encode_queries(tokenizer, [PromptQuery(words, "")], max_length=64, stride=2, batch_size=8,
                           token_types=False, pair=False)
    chunk = batch.chunks[0]
    assert tokenizer.convert_ids_to_tokens(chunk.input_ids[0].tolist()) == [
        "[CLS]", "patients", "with", "breast", "cancer", ".", "[SEP]"]
    assert chunk.token_type_ids[0].tolist() == [0] * 7
    assert chunk.subword[0].tolist() == [-1, 0, 1, 2, 3, 4, -1]
    assert (chunk.label_pos == -1).all()
    with pytest.raises(ValueError, match="description"):
        encode_queries(tokenizer, [PromptQuery(words, "disease")], max_length=64, stride=2, batch_size=8, pair=False)


def test_single_segment_windows_cover_every_subword(tokenizer) -> None:
    words = tuple("tamoxifen was given to women treated for breast cancer after surgery and two rats".split())
    batch = encode_queries(tokenizer, [PromptQuery(words, "")], max_length=6, stride=2, batch_size=4, pair=False)
    assert max(c.input_ids.shape[1] for c in batch.chunks) <= 6 and batch.n_rows > 3
    covered = numpy.zeros(batch.n_subwords, dtype=int)
    for chunk in batch.chunks:
        numpy.add.at(covered, chunk.subword[chunk.subword >= 0], 1)
    assert (covered >= 1).all()
    values = [numpy.where(c.subword[..., None] >= 0, 1.0, 0.0) for c in batch.chunks]
    merged = merge_windows(batch, values, 1)
    pooled, has = pool_words(batch, merged, "first")
    assert has.all() and numpy.allclose(pooled, 1.0)


def test_sentence_targets_continuation(tokenizer) -> None:
    words = ("tamoxifen", "daily")  # tamoxifen is one piece, daily too; "xyz" splits into characters
    batch = encode_queries(tokenizer, [PromptQuery(("xyz",) + words, "")], max_length=32, stride=0,
                           batch_size=4, pair=False)
    word_tags = numpy.asarray([1, 2, 0])  # B-0 on the split word, then I-0, O
    continuation = numpy.asarray([0, 2, 2, 4, 4, -1])
    every = sentence_targets(batch, word_tags, continuation=continuation)[0][0]
    first = sentence_targets(batch, word_tags, continuation=continuation, first_subword_only=True)[0][0]
    n_pieces = int((batch.subword_word == 0).sum())
    assert n_pieces > 1
    assert every.tolist() == [-1, 1] + [2] * (n_pieces - 1) + [2, 0, -1]
    assert first.tolist() == [-1, 1] + [-1] * (n_pieces - 1) + [2, 0, -1]


def test_btl_module(tiny_bert_dir: Path) -> None:
    encoder = AutoModel.from_pretrained(str(tiny_bert_dir))
    module = BTLTaggerModule(encoder, n_labels=3, dropout=0.0)
    ids = torch.tensor([[2, 10, 11, 3]])
    out = module(ids, torch.ones_like(ids))
    assert out.shape == (1, 4, 7) and module.n_labels == 3
    with pytest.raises(ValueError, match="n_labels"):
        BTLTaggerModule(encoder, n_labels=0)
