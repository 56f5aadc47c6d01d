"""k-nearest-neighbour voting over stored points.

Used by ``bioner_btl`` as the post-layer of Rehman et al.: the stored points
are the logits of training words, the classes their gold tags. Two exact
search algorithms, chosen per fitted k-NN:

* "brute": distances to all stored points in blocks of query rows, in torch
  (one fused ``|p|^2 - 2 q.p`` matrix product per block). Memory ``block x
  n_points`` floats (about 32 MB) whatever the number of queries; time
  ``n_queries x n_points x dim``. The k smallest per row are found in two
  steps (`_k_smallest`): the stored points sit in groups of ``GROUP`` and
  ``topk`` runs over the k groups with the smallest minimum only. That is
  exact: the k-th smallest entry of a row is at most the k-th smallest group
  minimum (those k minima are k distinct entries), so every one of the k
  smallest entries lies in a group whose minimum is among the k smallest. The
  group minima are one cheap pass, where a ``topk`` over the whole row was
  as slow as the matrix product itself. When one class holds at least half
  the points (O, for a tagger), its points are split into a seeded 5%
  sample and the rest (`_split_stores`): a query whose k-th nearest sampled
  majority point is nearer than the nearest point of every other class has
  k majority neighbours (those k sampled points already beat every other
  class), so its votes are known without searching the rest. On BioNLP-ST
  CG (O 75% of 50,000 points) 60% of the queries stop there, and the search
  takes about 0.6x the time; on MACCROBAT (O 53%) about 0.8x.
* "kd_tree": scikit-learn's KD-tree, built from the stored arrays when first
  needed (about 0.05 s per 50,000 points; never saved, so a saved pipeline
  holds arrays only). Per query roughly logarithmic in the number of points
  when the logits are low-dimensional or tightly clustered, as a trained
  tagger's are; it degrades towards brute force as the dimension grows.

"auto" takes the KD-tree up to ``AUTO_KD_TREE_MAX_DIM`` dimensions (the
number of tags, ``1 + 2 x labels``) and brute force above: on a trained
tagger's logits (BioNLP-ST CG, 50,000 points, 2 threads) the KD-tree was 2-3x
faster at 5-9 tags, level at 11-13 and 3.5-8x slower at 27-37. Both return the
same neighbours (up to the order of exactly equidistant points).
"""
from __future__ import annotations

import numpy
import torch

#: The distances the k-NN supports.
KNN_METRICS = ("euclidean", "cosine")
#: The search algorithms.
KNN_ALGORITHMS = ("auto", "brute", "kd_tree")
#: "auto" uses the KD-tree up to this many dimensions.
AUTO_KD_TREE_MAX_DIM = 11
#: Distance-matrix entries per block of query rows (brute force).
BLOCK_ENTRIES = 1 << 23
#: Stored points per group in the two-step selection of the k smallest.
GROUP = 64
#: A class holding at least this share of the stored points gets its own stores.
MAJORITY_SHARE = 0.5
#: The share of the majority's points sampled for the certificate.
MAJORITY_SAMPLE = 0.05


def pairwise_distances(queries: torch.Tensor, points: torch.Tensor, metric: str) -> torch.Tensor:
    """Distances between every query and every point.

    queries (torch.Tensor): (q, d) float.
    points (torch.Tensor): (n, d) float.
    metric (str): "euclidean" or "cosine" (1 - cosine similarity; zero vectors
        are at distance 1 from everything).
    RETURNS (torch.Tensor): (q, n) distances.
    """
    if metric == "euclidean":
        sq = (queries * queries).sum(-1, keepdim=True) + _rank_scores(queries, points, (points * points).sum(-1))
        return sq.clamp_min_(0.0).sqrt_()
    if metric == "cosine":
        q = torch.nn.functional.normalize(queries, dim=-1)
        p = torch.nn.functional.normalize(points, dim=-1)
        return 1.0 - q @ p.T
    raise ValueError(f"unknown k-NN metric {metric!r}; choose one of {KNN_METRICS}")


def _rank_scores(queries: torch.Tensor, points: torch.Tensor, sq_norms: torch.Tensor) -> torch.Tensor:
    """``|p|^2 - 2 q.p``: the squared euclidean distance minus the query's own
    ``|q|^2``, so it ranks points per query exactly as the distance does, in
    one fused matrix product and with no square root."""
    return torch.addmm(sq_norms.unsqueeze(0), queries, points.T, beta=1.0, alpha=-2.0)


def _vote(voted: torch.Tensor, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Votes and winner from the (q, k) classes of each query's neighbours,
    nearest first. A tie between classes goes to the class whose nearest
    voter is nearest."""
    k_eff = voted.shape[1]
    counts = torch.zeros((voted.shape[0], n_classes), dtype=torch.float32)
    counts.scatter_add_(1, voted, torch.ones_like(voted, dtype=torch.float32))
    first = torch.full((voted.shape[0], n_classes), k_eff, dtype=torch.int64)
    ranks = torch.arange(k_eff, dtype=torch.int64)
    first.scatter_reduce_(1, voted, ranks.expand_as(voted), reduce="amin")
    key = counts * (k_eff + 1) + (k_eff - first).float()
    return counts, key.argmax(dim=1)


class _PointStore:
    """Stored points for brute force, padded to whole groups of ``GROUP``
    when there are enough groups for the two-step selection to pay."""

    def __init__(self, points: torch.Tensor, classes: torch.Tensor, k: int) -> None:
        self.size = int(points.shape[0])
        self.k = min(k, self.size)
        self.points = points
        self.sq_norms = (points * points).sum(-1)
        self.classes = classes
        self.n_groups = 0
        n_groups = -(-self.size // GROUP)
        if n_groups >= 4 * self.k:
            # pad to whole groups with points no query is ever nearer to
            pad = n_groups * GROUP - self.size
            self.points = torch.cat([points, torch.zeros((pad, points.shape[1]))])
            self.sq_norms = torch.cat([self.sq_norms, torch.full((pad,), float("inf"))])
            self.n_groups = n_groups

    def nearest(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``min(k, size)`` smallest ``|p|^2 - 2 q.p`` per query, smallest
        first, and the classes of those points."""
        scores = _rank_scores(queries, self.points, self.sq_norms)
        index = _k_smallest(scores, self.k, self.n_groups)
        return scores.gather(1, index), self.classes[index]


class KNNVoter:
    """A fitted k-NN: stored points, their classes, and a search structure.

    points (numpy.ndarray): (n, d) float32, n >= 1.
    classes (numpy.ndarray): (n,) int64, in [0, n_classes).
    n_classes (int): Number of classes.
    k (int): Neighbours (at least 1); ``min(k, n)`` vote.
    metric (str): "euclidean" or "cosine".
    algorithm (str): "auto", "brute" or "kd_tree".
    """

    def __init__(
        self,
        points: numpy.ndarray,
        classes: numpy.ndarray,
        n_classes: int,
        k: int,
        metric: str = "euclidean",
        algorithm: str = "auto",
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        if metric not in KNN_METRICS:
            raise ValueError(f"unknown k-NN metric {metric!r}; choose one of {KNN_METRICS}")
        if algorithm not in KNN_ALGORITHMS:
            raise ValueError(f"unknown k-NN algorithm {algorithm!r}; choose one of {KNN_ALGORITHMS}")
        if points.shape[0] == 0:
            raise ValueError("the k-NN has no stored points")
        self.n_classes = n_classes
        self.k = min(k, int(points.shape[0]))
        self.metric = metric
        if algorithm == "auto":
            algorithm = "kd_tree" if points.shape[1] <= AUTO_KD_TREE_MAX_DIM else "brute"
        self.algorithm = algorithm
        self.classes = torch.from_numpy(numpy.ascontiguousarray(classes, dtype="int64"))
        points = numpy.ascontiguousarray(points, dtype="float32")
        if metric == "cosine":
            # on unit vectors euclidean distance ranks as cosine distance does
            points = _unit_rows(points)
        if algorithm == "kd_tree":
            from sklearn.neighbors import KDTree

            self._tree = KDTree(points.astype("float64"))
        else:
            self._stores, self._majority = _split_stores(points, self.classes, n_classes, self.k)

    def vote(self, queries: numpy.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The votes of the k nearest points for each query, and the winner.

        queries (numpy.ndarray): (q, d) float.
        RETURNS (tuple[torch.Tensor, torch.Tensor]): (q, n_classes) vote counts
            (float, each row sums to k) and the (q,) predicted classes.
        """
        queries = numpy.ascontiguousarray(queries, dtype="float32")
        if self.metric == "cosine":
            queries = _unit_rows(queries)
        if queries.shape[0] == 0:
            return torch.zeros((0, self.n_classes)), torch.zeros((0,), dtype=torch.int64)
        if self.algorithm == "kd_tree":
            _, nearest = self._tree.query(queries.astype("float64"), k=self.k, sort_results=True)
            return _vote(self.classes[torch.from_numpy(nearest.astype("int64"))], self.n_classes)
        q = torch.from_numpy(queries)
        block = max(1, BLOCK_ENTRIES // sum(int(store.points.shape[0]) for store in self._stores))
        votes = torch.zeros((q.shape[0], self.n_classes), dtype=torch.float32)
        predicted = torch.zeros((q.shape[0],), dtype=torch.int64)
        for start in range(0, q.shape[0], block):
            voted = self._nearest_classes(q[start : start + block])
            votes[start : start + block], predicted[start : start + block] = _vote(voted, self.n_classes)
        return votes, predicted

    def _nearest_classes(self, queries: torch.Tensor) -> torch.Tensor:
        """The (q, k) classes of each query's k nearest points, nearest first.

        With a majority class the stores are: the other classes' points, a
        sample of the majority's, and the rest of the majority's. A query
        whose k-th nearest sampled majority point is nearer than every point
        of another class has k majority neighbours, whichever they are, so
        the rest is searched only for the other queries."""
        if self._majority is None:
            return self._stores[0].nearest(queries)[1]
        others, sample, rest = self._stores
        scores_o, classes_o = others.nearest(queries)
        scores_s, classes_s = sample.nearest(queries)
        voted = torch.full((queries.shape[0], self.k), self._majority, dtype=torch.int64)
        open_rows = (scores_s[:, -1] >= scores_o[:, 0]).nonzero().squeeze(1)
        if open_rows.numel():
            scores_r, classes_r = rest.nearest(queries[open_rows])
            scores = torch.cat([scores_o[open_rows], scores_s[open_rows], scores_r], dim=1)
            classes = torch.cat([classes_o[open_rows], classes_s[open_rows], classes_r], dim=1)
            order = torch.topk(scores, self.k, dim=1, largest=False, sorted=True).indices
            voted[open_rows] = classes.gather(1, order)
        return voted


def _split_stores(
    points: numpy.ndarray, classes: torch.Tensor, n_classes: int, k: int
) -> tuple[list[_PointStore], int | None]:
    """One store of all points; or, when one class holds at least
    ``MAJORITY_SHARE`` of them (O, in a tagger's training words), three: the
    other classes' points, a seeded sample of ``MAJORITY_SAMPLE`` of the
    majority's (at least k points), and the rest of the majority's."""
    counts = torch.bincount(classes, minlength=n_classes)
    majority = int(counts.argmax())
    n_major, n_points = int(counts[majority]), int(points.shape[0])
    n_sample = max(k, int(n_major * MAJORITY_SAMPLE))
    if n_major < MAJORITY_SHARE * n_points or n_major == n_points or n_sample >= n_major:
        return [_PointStore(torch.from_numpy(points), classes, k)], None
    is_major = classes.numpy() == majority
    shuffled = numpy.random.default_rng(0).permutation(numpy.flatnonzero(is_major))
    parts = (numpy.flatnonzero(~is_major), numpy.sort(shuffled[:n_sample]), numpy.sort(shuffled[n_sample:]))
    stores = [_PointStore(torch.from_numpy(points[part]), classes[torch.from_numpy(part)], k) for part in parts]
    return stores, majority


def _k_smallest(scores: torch.Tensor, k: int, n_groups: int) -> torch.Tensor:
    """Column indices of the k smallest entries of each row, smallest first.

    With ``n_groups`` (> 0) the columns form ``n_groups`` consecutive groups
    of ``GROUP`` and the search is restricted to the k groups with the
    smallest minimum, which hold the k smallest entries (see the module
    docstring); 0 searches the whole row.
    """
    if not n_groups:
        return torch.topk(scores, k, dim=1, largest=False, sorted=True).indices
    rows = scores.shape[0]
    minima = scores.view(rows, n_groups, GROUP).amin(dim=2)
    groups = torch.topk(minima, k, dim=1, largest=False, sorted=False).indices
    columns = (groups.unsqueeze(2) * GROUP + torch.arange(GROUP)).reshape(rows, k * GROUP)
    best = torch.topk(scores.gather(1, columns), k, dim=1, largest=False, sorted=True).indices
    return columns.gather(1, best)


def _unit_rows(x: numpy.ndarray) -> numpy.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = numpy.linalg.norm(x, axis=1, keepdims=True)
    return (x / numpy.where(norms > 0, norms, 1.0)).astype("float32")


def knn_vote(
    queries: torch.Tensor,
    points: torch.Tensor,
    classes: torch.Tensor,
    n_classes: int,
    k: int,
    metric: str = "euclidean",
    algorithm: str = "brute",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One-off k-NN vote (builds a `KNNVoter` and queries it once).

    queries (torch.Tensor): (q, d) float.
    points (torch.Tensor): (n, d) float, n >= 1.
    classes (torch.Tensor): (n,) int64 class of each point, in [0, n_classes).
    n_classes (int): Number of classes.
    k (int): Neighbours (at least 1).
    metric (str): "euclidean" or "cosine".
    algorithm (str): "auto", "brute" or "kd_tree".
    RETURNS (tuple[torch.Tensor, torch.Tensor]): (q, n_classes) vote counts and
        the (q,) predicted classes.
    """
    voter = KNNVoter(points.detach().float().numpy(), classes.numpy(), n_classes, k, metric, algorithm)
    return voter.vote(queries.detach().float().numpy())
