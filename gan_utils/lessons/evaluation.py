"""Experiments on the evaluation metrics themselves (taught in notebooks/06_evaluation.ipynb).

The metrics live in :mod:`gan_utils.metrics` (Fréchet distance, feature extractors, Inception
Score, precision/recall). This module holds the small tools notebook 06 uses to *test* them and
that later notebooks can reuse:

- :func:`gaussian_blur`, :func:`add_noise`, :func:`corrupt`: controlled damage to real images,
  and :func:`corruption_ladder`, the Fréchet distance of real images damaged more and more
  (a metric worth its name must grow monotonically along such a ladder);
- :func:`sample_features`: features of n seeded samples of a generator;
- :func:`fd_versus_n`, :func:`fit_inverse_n`: the Fréchet distance estimated from n samples is
  biased upwards, roughly ``FD_n = FD_inf + b / n`` (Chong and Forsyth 2020, "Effectively Unbiased
  FID and Inception Score and where to find them"); these measure it and extrapolate to n = inf;
- :func:`class_subset`: a "generator" made of real images of a few classes only, the cleanest
  mode-dropping failure to test precision/recall on;
- :func:`kid_versus_n`: the unbiased KID (:func:`gan_utils.metrics.kid`) on exactly the samples
  :func:`fd_versus_n` draws, to set the two side by side against n;
- :func:`show_nearest_neighbours`: generated samples next to their nearest training images in
  feature space (:func:`gan_utils.metrics.nearest_neighbours`), the memorisation check.

All image tensors are ``(N, C, H, W)`` floats in [-1, 1], the range of the generators' tanh.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models import eval_mode

__all__ = ["gaussian_blur", "add_noise", "corrupt", "corruption_ladder", "sample_features", "fd_versus_n",
           "fit_inverse_n", "class_subset", "kid_versus_n", "show_nearest_neighbours"]


# ---------------------------------------------------------------- controlled corruptions
def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each image with a Gaussian of standard deviation ``sigma`` pixels (separable kernel of
    radius ``ceil(3 sigma)``, edges padded by replication so the background stays background).
    ``sigma = 0`` returns the images unchanged. The kernel sums to 1: the mean brightness is kept."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return images
    x = images.float()
    c = x.shape[1]
    r = int(math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=x.device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)  # rows
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)  # cols


def add_noise(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """Add i.i.d. Gaussian noise of standard deviation ``sigma`` (in units of the [-1, 1] range) and
    clamp back to [-1, 1], as a generator's tanh would. Seeded: the same call gives the same noise."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=g).to(images.device)
    return (images.float() + sigma * noise).clamp(-1.0, 1.0)


def corrupt(images: torch.Tensor, kind: str, level: float, seed: int = 0) -> torch.Tensor:
    """``kind="noise"``: :func:`add_noise` with ``sigma=level``; ``kind="blur"``: :func:`gaussian_blur`."""
    if kind == "noise":
        return add_noise(images, level, seed=seed)
    if kind == "blur":
        return gaussian_blur(images, level)
    raise ValueError(f"kind must be 'noise' or 'blur', got {kind!r}")


def corruption_ladder(images: torch.Tensor, kind: str, levels: Sequence[float], extractor, ref_mu, ref_sigma,
                      seed: int = 0, progress: bool = True) -> list[float]:
    """Fréchet distance between the features of ``corrupt(images, kind, level)`` and the reference
    statistics ``(ref_mu, ref_sigma)``, for each level. The *same* images are corrupted at every
    level (and the same noise, scaled), so the differences between levels are the corruption's,
    not the sample's."""
    from tqdm.auto import tqdm

    from ..metrics import feature_statistics, frechet_distance

    return [frechet_distance(*feature_statistics(extractor(corrupt(images, kind, s, seed=seed))), ref_mu, ref_sigma)
            for s in tqdm(levels, desc=f"{kind} ladder", disable=not progress)]


# ---------------------------------------------------------------- bias against n
@torch.no_grad()
def sample_features(generator, n: int, extractor, latent_dim: int | None = None, seed: int = 0,
                    batch_size: int = 500) -> torch.Tensor:
    """Features ``(n, dim)`` of ``n`` fresh samples ``G(z)``, z ~ N(0, I) drawn on the CPU from a
    ``seed``-ed generator (the same seed gives the same samples on any device). A module is put in
    eval mode while sampling (BatchNorm uses its running statistics) and restored after."""
    ld = latent_dim if latent_dim is not None else getattr(generator, "latent_dim", None)
    if ld is None:
        raise ValueError("pass latent_dim= for a generator without a .latent_dim attribute")
    is_module = isinstance(generator, torch.nn.Module)
    p = next(iter(generator.parameters()), None) if is_module else None
    dev = p.device if p is not None else torch.device("cpu")
    with eval_mode(generator) if is_module else contextlib.nullcontext():
        z_all = torch.randn(n, int(ld), generator=torch.Generator().manual_seed(seed))  # all at once: the
        out = [extractor(generator(z.to(dev))) for z in z_all.split(batch_size)]       # batch size changes nothing
        return torch.cat(out)


def _drawer(source, ns, seed):
    """The i-th draw of n features from ``source`` (see :func:`fd_versus_n`), the same for every metric."""
    if callable(source):
        return lambda n, i: source(n, seed + 1 + i)                                  # fresh samples
    feats = source if isinstance(source, torch.Tensor) else torch.as_tensor(np.asarray(source))
    pool = feats.shape[0]
    bad = [n for n in ns if not 2 <= n <= pool]
    if bad:
        raise ValueError(f"n={bad} must be between 2 and the pool size {pool}")
    g = torch.Generator().manual_seed(seed)
    return lambda n, i: feats[torch.randperm(pool, generator=g)[:n]]                 # random subset


def fd_versus_n(source, ref_mu, ref_sigma, ns: Iterable[int], repeats: int = 1, seed: int = 0,
                progress: bool = True, desc: str = "FD vs n") -> dict[int, list[float]]:
    """Fréchet distance against the reference statistics ``(ref_mu, ref_sigma)`` estimated from n
    samples, for each n in ``ns``, ``repeats`` times each: ``{n: [FD, FD, ...]}``.

    ``source`` is either a pool of features ``(P, d)``, from which each estimate takes a seeded
    random subset of n *without* replacement (so a subset as large as the pool is the pool itself,
    and its repeats agree up to rounding), or a function ``(n, seed) -> (n, d) features`` of n fresh
    samples (a generator: :func:`sample_features`), called with a different seed each time.
    """
    from tqdm.auto import tqdm

    from ..metrics import feature_statistics, frechet_distance

    ns = [int(n) for n in ns]
    draw = _drawer(source, ns, seed)
    out: dict[int, list[float]] = {n: [] for n in ns}
    jobs = [(n, r) for n in ns for r in range(repeats)]
    for i, (n, _) in enumerate(tqdm(jobs, desc=desc, disable=not progress)):
        out[n].append(frechet_distance(*feature_statistics(draw(n, i)), ref_mu, ref_sigma))
    return out


def kid_versus_n(source, ref_features, ns: Iterable[int], repeats: int = 1, seed: int = 0,
                 progress: bool = True, desc: str = "KID vs n") -> dict[int, list[float]]:
    """The unbiased KID estimate (:func:`gan_utils.metrics.mmd2_unbiased`, all n samples against all
    of ``ref_features``) for each n in ``ns``, ``repeats`` times: ``{n: [KID, ...]}``. ``source``
    and ``seed`` as in :func:`fd_versus_n`, which draws the **same** samples for the same arguments
    (same pool subsets, same generator seeds), so the two metrics are measured on identical data."""
    from tqdm.auto import tqdm

    from ..metrics import mmd2_unbiased

    ns = [int(n) for n in ns]
    draw = _drawer(source, ns, seed)
    out: dict[int, list[float]] = {n: [] for n in ns}
    jobs = [(n, r) for n in ns for r in range(repeats)]
    for i, (n, _) in enumerate(tqdm(jobs, desc=desc, disable=not progress)):
        out[n].append(mmd2_unbiased(ref_features, draw(n, i)))
    return out


def fit_inverse_n(ns: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of ``FD_n = FD_inf + b / n`` (Chong and Forsyth 2020): returns
    ``(FD_inf, b)``. ``ns`` and ``values`` are paired (repeat an n for several measurements)."""
    x = 1.0 / np.asarray(ns, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or x.size < 2 or np.ptp(x) == 0:
        raise ValueError("need at least two measurements at two different n")
    A = np.stack([np.ones_like(x), x], axis=1)          # columns: 1, 1/n
    (fd_inf, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(fd_inf), float(b)


# ---------------------------------------------------------------- a mode-dropping "generator"
def class_subset(images: torch.Tensor, labels: torch.Tensor, classes: Sequence[int], n: int,
                 seed: int = 0, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` images (a seeded random choice) whose label is in ``classes``: real, sharp images, but
    of those classes only. ``exclude``: indices never to use (e.g. the reference set's)."""
    keep = torch.isin(labels, torch.as_tensor(list(classes), dtype=labels.dtype))
    if exclude is not None:
        keep[torch.as_tensor(exclude, dtype=torch.long)] = False
    idx = torch.nonzero(keep).squeeze(1)
    if len(idx) < n:
        raise ValueError(f"only {len(idx)} images of classes {list(classes)} available, asked for {n}")
    g = torch.Generator().manual_seed(seed)
    idx = idx[torch.randperm(len(idx), generator=g)[:n]].sort().values
    return images[idx]


# ---------------------------------------------------------------- memorisation: nearest training images
def show_nearest_neighbours(samples: torch.Tensor, train_images: torch.Tensor, neighbours, labels=None,
                            title: str = "Generated samples and their nearest training images"):
    """One row per sample: the sample (left), then its k nearest training images (from a
    :class:`gan_utils.metrics.Neighbours` of ``samples``' features against ``train_images``'), each
    titled with its feature-space distance. ``labels``: optional row labels. Returns the figure."""
    import matplotlib.pyplot as plt

    idx, dist = neighbours.indices, neighbours.distances
    m, k = idx.shape
    fig, axes = plt.subplots(m, k + 1, figsize=(1.45 * (k + 1), 1.55 * m), squeeze=False)
    for i in range(m):
        row = [samples[i]] + [train_images[int(j)] for j in idx[i]]
        names = [labels[i] if labels is not None else "sample"] + [f"d = {float(d):.2f}" for d in dist[i]]
        for ax, img, name in zip(axes[i], row, names):
            img = img.float().cpu()
            ax.imshow(img[0] if img.shape[0] == 1 else img.permute(1, 2, 0).add(1).div(2).clamp(0, 1),
                      cmap="gray", vmin=-1, vmax=1)
            ax.set_title(name, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_xlabel("query")
    for j in range(1, k + 1):
        axes[-1, j].set_xlabel(f"neighbour {j}")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
