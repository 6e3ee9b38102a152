"""Perceptual path length (Karras, Laine, Aila 2019, Sec. 4.1), taught in notebooks/12_stylegan.ipynb.

How much does the image change for a small step along an interpolation path in latent space? Two codes,
a random position t on the path between them, and the images at t and t + eps:

    l_Z = E[ d(G(slerp(z1, z2; t)), G(slerp(z1, z2; t + eps))) / eps^2 ]          z1, z2 ~ N(0, I), t ~ U(0, 1)
    l_W = E[ d(g(lerp(f(z1), f(z2); t)), g(lerp(f(z1), f(z2); t + eps))) / eps^2 ]   (style-based G = g o f)

with eps = 1e-4. The paper's d is LPIPS, a *squared* distance between VGG16 features (hence eps^2); slerp in
Z because z is normalised there (the mapping network's first step), lerp in W, which is not. A short path
means the image changes smoothly and evenly along the path; a long one that somewhere on it the image jumps.

**Our d is not LPIPS.** LPIPS needs VGG16 weights the course cannot ship. ``features="classifier"`` uses the
shipped Fashion-MNIST classifier's 128-d penultimate features (those of FD-classifier, notebook 06) and the
squared Euclidean distance between them; the number is called **PPL-classifier**, never "PPL": it is not
comparable with published PPL values, only with other PPL-classifier values (of the same weights).
``features="pixels"`` uses the pixels themselves (``PPL-pixels``), a feature extractor of
:mod:`gan_utils.metrics.features` its features (``ClassifierFeatures``: PPL-classifier), and a callable
``images -> (B, d)`` any other features (``PPL-features``).

As in the authors' code (not in the paper's text): the same noise inputs for both images of a pair
(``noise_mode="const"`` for a generator with noise inputs), and the mean is taken over the distances between
the 1st and the 99th percentile (``reject_outliers``), because a few pairs that cross a sharp change in the
image dominate a plain mean. ``sampling="end"`` puts t = 0 (the path's end points only), the paper's other
variant.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np
import torch

SPACES = ("z", "w")
SAMPLINGS = ("full", "end")


@dataclass
class PPLResult:
    value: float            # mean of the kept distances / eps^2
    name: str               # "PPL-classifier", "PPL-pixels", "PPL-features"
    space: str              # "z" or "w"
    sampling: str           # "full" (t ~ U(0, 1)) or "end" (t = 0)
    n: int                  # pairs of codes
    kept: int               # pairs kept after outlier rejection
    eps: float
    distances: np.ndarray = field(repr=False)   # all n values d / eps^2, before rejection

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        return (f"{self.name} in {self.space.upper()} ({self.sampling}): {self.value:.4g} "
                f"(mean of {self.kept} of {self.n} pairs, eps = {self.eps:g})")


def _feature_fn(features, dataset: str, device) -> tuple[Callable, str]:
    from .features import FeatureExtractor

    if isinstance(features, FeatureExtractor):        # e.g. the ClassifierFeatures of FD-classifier: PPL-classifier
        name = features.distance_name
        return features, ("PPL-" + name[3:]) if name.startswith("FD-") else f"PPL-{features.name}"
    if callable(features) and not isinstance(features, str):
        return features, "PPL-features"
    if features == "pixels":
        return (lambda x: x.flatten(1)), "PPL-pixels"
    if features == "classifier":
        from .features import get_extractor

        return get_extractor("classifier", dataset=dataset, device=device), "PPL-classifier"
    raise ValueError(f"features={features!r}: use 'classifier' (the shipped classifier, PPL-classifier), 'pixels' "
                     "or a callable images -> (B, d) features")


@torch.no_grad()
def perceptual_path_length(G, space: str = "z", n: int = 2000, eps: float = 1e-4,
                           features: Union[str, Callable] = "classifier", dataset: str = "fashion-mnist",
                           seed: int = 0, batch_size: int = 250, sampling: str = "full", noise_mode: str = "const",
                           reject_outliers: bool = True, latent_dim=None) -> PPLResult:
    """Perceptual path length of ``G`` in ``space`` "z" (any generator ``z -> images``) or "w" (a generator with
    ``G.mapping`` and ``G.synthesis``: :class:`gan_utils.models.StyleGenerator`), from ``n`` pairs of codes
    (drawn on the CPU from a generator seeded with ``seed``) and a step ``eps``; see the module docstring.
    ``G`` runs in eval mode, in its own dtype and device; the distances are summed in float64."""
    from ..models import _device_of, eval_mode, lerp, slerp

    if space not in SPACES:
        raise ValueError(f"space={space!r}; use 'z' (slerp between codes) or 'w' (lerp between mapped codes)")
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling={sampling!r}; use 'full' (t ~ U(0, 1)) or 'end' (t = 0)")
    if space == "w" and not (hasattr(G, "mapping") and hasattr(G, "synthesis")):
        raise ValueError(f"{type(G).__name__} has no intermediate latent space W (no .mapping / .synthesis): measure "
                         "it in space='z'")
    if not isinstance(n, int) or n < 2 or not eps > 0:
        raise ValueError(f"n={n!r} must be a whole number >= 2 and eps={eps!r} > 0")
    device = _device_of(G)
    param = next(iter(G.parameters()), None) if isinstance(G, torch.nn.Module) else None
    dtype = param.dtype if param is not None else torch.float32
    feat, name = _feature_fn(features, dataset, device)
    ld = int(latent_dim if latent_dim is not None else G.latent_dim)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(2, n, ld, generator=gen, dtype=torch.float64)                 # (2, n, d): the pairs
    t = torch.rand(n, 1, generator=gen, dtype=torch.float64) * (1.0 if sampling == "full" else 0.0)
    noise = {"noise_mode": noise_mode} if getattr(G, "has_noise_inputs", False) else {}
    out = np.empty(n)
    with eval_mode(G):
        for i in range(0, n, batch_size):
            z0, z1, tb = z[0, i:i + batch_size], z[1, i:i + batch_size], t[i:i + batch_size]
            if space == "z":
                codes = torch.cat([slerp(z0, z1, tb), slerp(z0, z1, tb + eps)]).to(device, dtype)   # (2b, d)
                images = G(codes, **noise)
            else:
                w0, w1 = G.mapping(z0.to(device, dtype)).double(), G.mapping(z1.to(device, dtype)).double()
                tw = tb.to(device)
                w = torch.cat([lerp(w0, w1, tw), lerp(w0, w1, tw + eps)]).to(dtype)                # (2b, w_dim)
                images = G.synthesis(G.broadcast(w), **noise)
            f = feat(images).to(torch.float64)                                      # (2b, dim)
            a, b = f.chunk(2)
            out[i:i + len(a)] = ((a - b).square().sum(1) / eps ** 2).cpu().numpy()  # d / eps^2 per pair
    kept = out
    if reject_outliers:
        lo, hi = np.percentile(out, 1, method="lower"), np.percentile(out, 99, method="higher")
        kept = out[(out >= lo) & (out <= hi)]
    return PPLResult(value=float(kept.mean()), name=name, space=space, sampling=sampling, n=n, kept=len(kept),
                     eps=float(eps), distances=out)
