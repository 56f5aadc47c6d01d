"""k-nearest-neighbour voting over stored points, in plain torch.

Used by ``bioner_btl`` as the post-layer of Rehman et al.: the stored points
are the logits of training words, the classes their gold tags. No index is
built: distances to all stored points are computed in blocks of query rows,
so memory stays at ``block x n_points`` floats (about 16 MB) whatever the
number of queries, and time grows as ``n_queries x n_points x dim``: with
50,000 points of 9 to 70 dimensions about 1 ms per query on one CPU thread,
as much as the encoder itself takes per word.
"""
from __future__ import annotations

import torch

#: The distances the k-NN supports.
KNN_METRICS = ("euclidean", "cosine")
#: Distance-matrix entries per block of query rows.
BLOCK_ENTRIES = 1 << 22


def pairwise_distances(queries: torch.Tensor, points: torch.Tensor, metric: str) -> torch.Tensor:
    """Distances between every query and every point.

    queries (torch.Tensor): (q, d) float.
    points (torch.Tensor): (n, d) float.
    metric (str): "euclidean" or "cosine" (1 - cosine similarity; zero vectors
        are at distance 1 from everything).
    RETURNS (torch.Tensor): (q, n) distances.
    """
    if metric == "euclidean":
        # |q|^2 + |p|^2 - 2 q.p: one matrix product, several times faster than
        # cdist's exact mode; clamped at 0 against rounding
        sq = (queries * queries).sum(-1, keepdim=True) + (points * points).sum(-1) - 2.0 * queries @ points.T
        return sq.clamp_min_(0.0).sqrt_()
    if metric == "cosine":
        q = torch.nn.functional.normalize(queries, dim=-1)
        p = torch.nn.functional.normalize(points, dim=-1)
        return 1.0 - q @ p.T
    raise ValueError(f"unknown k-NN metric {metric!r}; choose one of {KNN_METRICS}")


def knn_vote(
    queries: torch.Tensor,
    points: torch.Tensor,
    classes: torch.Tensor,
    n_classes: int,
    k: int,
    metric: str = "euclidean",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The votes of the k nearest points for each query, and the winning class.

    Each of the ``min(k, n_points)`` nearest points gives one vote to its class
    (uniform weights, as scikit-learn's default). A tie between classes goes to
    the class whose nearest voter is nearest.

    queries (torch.Tensor): (q, d) float.
    points (torch.Tensor): (n, d) float, n >= 1.
    classes (torch.Tensor): (n,) int64 class of each point, in [0, n_classes).
    n_classes (int): Number of classes.
    k (int): Neighbours (at least 1).
    metric (str): "euclidean" or "cosine".
    RETURNS (tuple[torch.Tensor, torch.Tensor]): (q, n_classes) vote counts
        (float, each row sums to min(k, n)) and the (q,) predicted classes.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if points.shape[0] == 0:
        raise ValueError("the k-NN has no stored points")
    n_points = int(points.shape[0])
    k_eff = min(k, n_points)
    block = max(1, BLOCK_ENTRIES // n_points)
    votes = torch.zeros((queries.shape[0], n_classes), dtype=torch.float32)
    predicted = torch.zeros((queries.shape[0],), dtype=torch.int64)
    ranks = torch.arange(k_eff, dtype=torch.int64)
    points = points.float()
    for start in range(0, queries.shape[0], block):
        dist = pairwise_distances(queries[start : start + block].float(), points, metric)
        nearest = torch.topk(dist, k_eff, dim=1, largest=False, sorted=True).indices
        voted = classes[nearest]
        counts = torch.zeros((voted.shape[0], n_classes), dtype=torch.float32)
        counts.scatter_add_(1, voted, torch.ones_like(voted, dtype=torch.float32))
        first = torch.full((voted.shape[0], n_classes), k_eff, dtype=torch.int64)
        first.scatter_reduce_(1, voted, ranks.expand_as(voted), reduce="amin")
        # more votes first; among equal counts, the class with the nearer first voter
        key = counts * (k_eff + 1) + (k_eff - first).float()
        votes[start : start + block] = counts
        predicted[start : start + block] = key.argmax(dim=1)
    return votes, predicted
