"""Kernel Inception Distance (KID): an unbiased alternative to FID (taught in
notebooks/06_evaluation.ipynb; notebook 08 can report it next to FID from the same features).

Bińkowski, Sutherland, Arbel, Gretton 2018 ("Demystifying MMD GANs", section 4) compare the two
feature distributions with the squared **maximum mean discrepancy** (MMD) under the cubic
polynomial kernel

    k(x, y) = (x . y / d + 1)^3            (d = feature dimension)

    MMD^2(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y),     x, x' ~ P,  y, y' ~ Q.

With m real features X and n generated ones Y, the *unbiased* estimator (a U-statistic) leaves
out the diagonals k(x_i, x_i), k(y_j, y_j) of the within-set sums:

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
              - 2 sum_{i, j} k(x_i, y_j) / (m n).

Its expectation is MMD^2(P, Q) for *every* sample size, unlike the Fréchet distance, whose
estimate is biased upwards by roughly b / n (Chong and Forsyth 2020; notebook 06, section 7). It
can be negative (two samples of one distribution give estimates scattered around 0). The cost is
variance: :func:`kid` therefore averages the estimator over random subsets (as the reference
implementation does, subsets of 1000 by default) and reports the mean and the standard deviation
over subsets.

Everything is computed in float64 on the CPU; features come from any
:class:`~gan_utils.metrics.features.FeatureExtractor` (KID proper means Inception pool3 features;
on the classifier features of this course it is "KID-classifier", never "KID").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .features import feature_matrix

__all__ = ["KIDResult", "polynomial_kernel", "mmd2_unbiased", "kid"]


def _features(x, name: str) -> torch.Tensor:
    return feature_matrix(x, name, min_rows=2)     # the unbiased estimator needs two samples of each


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, coef0: float = 1.0) -> torch.Tensor:
    """The kernel matrix ``K[i, j] = (x_i . y_j / d + coef0) ** degree`` of KID, ``(len(x), len(y))``."""
    d = x.shape[1]
    return (x @ y.T / d + coef0) ** degree                      # (m, n)


def mmd2_unbiased(real_features, fake_features, degree: int = 3, coef0: float = 1.0) -> float:
    """The unbiased estimate MMD^2_u of the squared MMD between the two feature samples (float64)."""
    x, y = _features(real_features, "real_features"), _features(fake_features, "fake_features")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: {x.shape[1]} (real) vs {y.shape[1]} (fake)")
    m, n = x.shape[0], y.shape[0]
    k_xx = polynomial_kernel(x, x, degree, coef0)                # (m, m)
    k_yy = polynomial_kernel(y, y, degree, coef0)                # (n, n)
    k_xy = polynomial_kernel(x, y, degree, coef0)                # (m, n)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))   # sum over i != j
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    across = k_xy.sum() / (m * n)
    return float(within_x + within_y - 2.0 * across)


@dataclass
class KIDResult:
    """KID with what it was measured on. ``value`` is the mean over subsets, ``std`` their spread."""

    value: float
    std: float
    subsets: int
    subset_size: int
    n_real: int
    n_fake: int
    name: str = "KID"

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        return (f"{self.name} = {self.value:.5f} ± {self.std:.5f} (mean ± std over {self.subsets} subsets of "
                f"{self.subset_size}; {self.n_fake} generated vs {self.n_real} real)")


def kid(real_features, fake_features, subsets: int = 100, subset_size: int = 1000, seed: int = 0,
        name: str = "KID") -> KIDResult:
    """KID between two feature sets: :func:`mmd2_unbiased` on ``subsets`` random subsets of
    ``min(subset_size, len(real), len(fake))`` samples of each (drawn without replacement within a
    subset, from a ``seed``-ed generator), averaged. ``std`` is the standard deviation of the
    subset estimates (ddof = 1; 0 for one subset). ``subsets=1`` with ``subset_size`` at least the
    smaller set's size uses whole sets (no randomness when both sets have that size).

    ``name``: "KID" for Inception pool3 features; pass "KID-classifier" for the course's classifier
    features (notebook 06), as FD-classifier is never called FID.
    """
    x, y = _features(real_features, "real_features"), _features(fake_features, "fake_features")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: {x.shape[1]} (real) vs {y.shape[1]} (fake)")
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"need subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
    size = min(int(subset_size), x.shape[0], y.shape[0])
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        xi = x if size == x.shape[0] else x[torch.randperm(x.shape[0], generator=g)[:size]]
        yi = y if size == y.shape[0] else y[torch.randperm(y.shape[0], generator=g)[:size]]
        values.append(mmd2_unbiased(xi, yi))
    v = np.asarray(values)
    std = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return KIDResult(value=float(v.mean()), std=std, subsets=int(subsets), subset_size=size,
                     n_real=int(x.shape[0]), n_fake=int(y.shape[0]), name=name)
