"""Precision and recall of a generator by k-NN manifolds, the diagnostic that separates sample
quality from diversity (taught in notebooks/06_evaluation.ipynb).

One number (FID) mixes two failures: bad samples and missing modes. Kynkäänniemi et al. 2019
("Improved Precision and Recall Metric for Assessing Generative Models") estimate each manifold
as the union of balls around its samples, the ball of a sample reaching its k-th nearest
neighbour in the same set (k = 3 in the paper):

    precision = fraction of generated samples inside the real manifold   (quality)
    recall    = fraction of real samples inside the generated manifold   (diversity)

A mode-collapsed generator keeps a high precision and gets a low recall; blurry samples of every
class do the opposite. Also returned: density and coverage (Naeem et al. 2020, "Reliable Fidelity
and Diversity Metrics for Generative Models"), which count with the *real* balls only and so are
less fooled by outliers:

    density  = 1 / (k M) * sum_j #{real balls containing fake j}
    coverage = fraction of real balls containing at least one fake sample

All four take features (e.g. from :class:`~gan_utils.metrics.features.ClassifierFeatures`), not
pixels. Distances are Euclidean, computed in float64 in blocks (memory ~ block * N).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PrecisionRecall:
    precision: float   # generated samples inside the real manifold
    recall: float      # real samples inside the generated manifold
    density: float     # Naeem et al. 2020; ~1 for identical distributions, can exceed 1
    coverage: float    # Naeem et al. 2020; fraction of real neighbourhoods hit by a fake sample
    k: int
    n_real: int
    n_fake: int

    def __str__(self) -> str:
        return (f"precision {self.precision:.3f}, recall {self.recall:.3f} "
                f"(density {self.density:.3f}, coverage {self.coverage:.3f}; k={self.k}, "
                f"{self.n_fake} generated vs {self.n_real} real)")


def _as_features(x, name) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to("cpu", torch.float64)
    if x.dim() != 2:
        raise ValueError(f"{name} must be features shaped (N, d), got {tuple(x.shape)}")
    return x


def _blocks(a: torch.Tensor, b: torch.Tensor, block: int):
    """Yield (start, distances of a[start:start+block] to all of b)."""
    for s in range(0, a.shape[0], block):
        yield s, torch.cdist(a[s:s + block], b)


def knn_radii(x: torch.Tensor, k: int = 3, block: int = 1024) -> torch.Tensor:
    """Distance of every row of ``x`` to its k-th nearest *other* row (the ball radius)."""
    x = _as_features(x, "x")
    if x.shape[0] <= k:
        raise ValueError(f"need more than k={k} samples, got {x.shape[0]}")
    out = torch.empty(x.shape[0], dtype=torch.float64)
    for s, d in _blocks(x, x, block):
        # the k+1 smallest include the point itself (distance ~0)
        out[s:s + d.shape[0]] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return out


def _inside_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, block: int) -> torch.Tensor:
    """For every point: how many balls (centres[i], radii[i]) contain it."""
    counts = torch.empty(points.shape[0], dtype=torch.long)
    for s, d in _blocks(points, centres, block):
        counts[s:s + d.shape[0]] = (d <= radii[None, :]).sum(1)   # ||p - c_i|| <= r_i
    return counts


def precision_recall(real_features, fake_features, k: int = 3, block: int = 1024) -> PrecisionRecall:
    """Precision, recall (Kynkäänniemi et al. 2019) and density, coverage (Naeem et al. 2020) of
    ``fake_features (M, d)`` against ``real_features (N, d)``; use equal N and M (the paper:
    N = M = 50 000; a few thousand is enough for a diagnostic)."""
    real = _as_features(real_features, "real_features")
    fake = _as_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: {real.shape[1]} vs {fake.shape[1]}")
    r_real = knn_radii(real, k, block)
    r_fake = knn_radii(fake, k, block)
    fake_in_real = _inside_counts(fake, real, r_real, block)   # per fake: real balls containing it
    real_in_fake = _inside_counts(real, fake, r_fake, block)   # per real: fake balls containing it
    precision = (fake_in_real > 0).double().mean().item()      # P = 1/M sum_j 1[fake_j in real manifold]
    recall = (real_in_fake > 0).double().mean().item()         # R = 1/N sum_i 1[real_i in fake manifold]
    density = fake_in_real.double().sum().item() / (k * fake.shape[0])   # 1/(kM) sum_j #real balls around fake_j
    # coverage: real balls (around real_i, radius r_real[i]) that contain at least one fake sample
    nearest_fake = torch.empty(real.shape[0], dtype=torch.float64)
    for s, d in _blocks(real, fake, block):
        nearest_fake[s:s + d.shape[0]] = d.min(1).values
    coverage = (nearest_fake <= r_real).double().mean().item()
    return PrecisionRecall(precision, recall, density, coverage, k, real.shape[0], fake.shape[0])
