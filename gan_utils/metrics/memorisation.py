"""Has the generator memorised its training set? Nearest training images in feature space
(taught in notebooks/06_evaluation.ipynb; notebook 08 can reuse it on its own samples and
training set with the same feature extractor, Inception or classifier).

FID, KID and precision/recall all compare a generator with the *training* distribution, so a
generator that reproduced training images would score perfectly on every one of them. The check
that sees it is direct: for some generated samples, find the closest training images and look at
them side by side, and compare the distances with those of *held-out* real images (which are not
copies of anything): a sample much closer to its nearest training image than held-out images
typically are is suspicious. Distances are taken in a feature space (pixels would call two
shifted copies of one shirt far apart); a copied training image is at distance 0 from itself.

- :func:`nearest_neighbours`: the ``k`` nearest reference rows of every query row (Euclidean,
  float64, in blocks so that memory stays ~ ``block x len(reference)``);
- :func:`distance_ratio`: each query's nearest-neighbour distance divided by the median
  nearest-neighbour distance of held-out real features to the same reference: about 1 for real,
  novel images, near 0 for copies.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .features import feature_matrix

__all__ = ["Neighbours", "nearest_neighbours", "distance_ratio"]


@dataclass
class Neighbours:
    """``indices[i, j]``: row of the reference that is query i's (j+1)-th nearest; ``distances`` likewise."""

    indices: torch.Tensor      # (M, k) long
    distances: torch.Tensor    # (M, k) float64, ascending along each row


def nearest_neighbours(query_features, reference_features, k: int = 1, block: int = 1024) -> Neighbours:
    """The ``k`` nearest rows of ``reference_features`` (N, d) to each row of ``query_features``
    (M, d), by Euclidean distance in float64: a :class:`Neighbours` of ``(M, k)`` indices and
    distances. Exact duplicates in the reference are equally near; which of them comes first is not
    specified. A query that is a copy of a reference row is at distance ~0 (rounding only)."""
    q = feature_matrix(query_features, "query_features", min_rows=0)
    r = feature_matrix(reference_features, "reference_features", min_rows=1)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"feature dimensions differ: {q.shape[1]} (query) vs {r.shape[1]} (reference)")
    if not 1 <= k <= r.shape[0]:
        raise ValueError(f"k must be between 1 and the reference size {r.shape[0]}, got {k}")
    r_sq = (r * r).sum(1)                                           # (N,)
    idx, dist = [], []
    for s in range(0, q.shape[0], block):
        qb = q[s:s + block]                                         # (b, d)
        d2 = (qb * qb).sum(1, keepdim=True) + r_sq[None, :] - 2.0 * qb @ r.T   # ||q - r||^2, (b, N)
        vals, ind = d2.clamp_min_(0.0).topk(k, dim=1, largest=False)           # ascending
        idx.append(ind)
        dist.append(vals.sqrt())
    if not idx:
        return Neighbours(torch.zeros(0, k, dtype=torch.long), torch.zeros(0, k, dtype=torch.float64))
    return Neighbours(torch.cat(idx), torch.cat(dist))


def distance_ratio(query_features, reference_features, heldout_features, block: int = 1024) -> np.ndarray:
    """Each query's distance to its nearest reference row, divided by the median of the same
    distance for ``heldout_features`` (real images that are *not* in the reference): ``(M,)``.
    Novel samples score around 1 (or above, if they are unrealistic); copies of reference rows
    score 0."""
    heldout_features = feature_matrix(heldout_features, "heldout_features", min_rows=1)   # a median needs one row
    base = nearest_neighbours(heldout_features, reference_features, 1, block).distances[:, 0]
    scale = float(base.median())
    if scale <= 0:
        raise ValueError("the held-out features' median distance to the reference is 0: the held-out set "
                         "contains copies of the reference (use images that are not in it)")
    d = nearest_neighbours(query_features, reference_features, 1, block).distances[:, 0]
    return (d / scale).numpy()
