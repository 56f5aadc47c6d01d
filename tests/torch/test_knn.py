"""The exact k-NN post-layer of bioner_btl (pure torch): votes, blocking,
grouped selection, the majority certificate and the KD-tree."""
from __future__ import annotations

import numpy
import pytest
import torch

import spacy_bioner.torch.knn as knn
from spacy_bioner.torch import knn_vote


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


