"""Fréchet distances between feature distributions: FID and FD-classifier (taught in
notebooks/06_evaluation.ipynb).

The Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium") fits a Gaussian N(mu, Sigma) to the features of real and of
generated images and reports the squared Fréchet (2-Wasserstein) distance between the two:

    d^2 = ||mu1 - mu2||^2 + Tr(Sigma1 + Sigma2 - 2 (Sigma1 Sigma2)^{1/2})

Numerics (:func:`frechet_distance`): Sigma1 Sigma2 is not symmetric, and a general matrix square
root (``scipy.linalg.sqrtm``, used by pytorch-fid) can return complex values or lose accuracy when
the covariances are singular (fewer samples than dimensions). We use the similar symmetric matrix

    Tr (Sigma1 Sigma2)^{1/2} = Tr (Sigma1^{1/2} Sigma2 Sigma1^{1/2})^{1/2} = sum_i sqrt(lambda_i),

lambda_i the eigenvalues of the symmetric PSD matrix Sigma1^{1/2} Sigma2 Sigma1^{1/2}: two
symmetric eigendecompositions, in float64, eigenvalues below n * eps * lambda_max (rounding noise
around a true 0) set to 0, so the result is real and finite for any PSD inputs. It agrees with
pytorch-fid's ``calculate_frechet_distance`` where that one is accurate, and is more accurate than
it for singular covariances (see tests/test_fid.py).

:func:`fid` runs the whole protocol for a generator or a tensor of samples against a dataset split
and returns a :class:`FIDResult` that carries the protocol with the number (extractor, sample
counts, reference data): FIDs are only comparable at the same protocol, and they are biased upwards
at small n (``n < extractor.min_samples`` warns). Real statistics are cached in memory and on disk
(``$GAN_COURSE_CACHE/stats`` or ``~/.cache/gan_course/stats``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..runtime import ConfigError, atomic_write, cache_dir
from .features import FeatureExtractor, get_extractor

DEFAULT_N = 10_000


# ---------------------------------------------------------------- the distance
def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root via eigh; eigenvalues below the rounding level are set to 0."""
    w, u = np.linalg.eigh(a)
    w = np.where(w > _noise_floor(w), w, 0.0)
    return (u * np.sqrt(w)) @ u.T           # U diag(sqrt(w)) U^T


def _noise_floor(w: np.ndarray) -> float:
    # eigh's eigenvalues are accurate to ~ n * eps * ||A||: anything smaller is indistinguishable
    # from 0, and sqrt() would turn that noise (~1e-16) into a visible error (~1e-8 each).
    return max(float(w.max(initial=0.0)), 0.0) * len(w) * np.finfo(np.float64).eps


def _as_f64(a, name, ndim):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().double().numpy()
    a = np.asarray(a, dtype=np.float64)
    a = np.atleast_1d(a) if ndim == 1 else np.atleast_2d(a)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


#: how far from symmetric positive semi-definite a covariance may be (relative to its largest
#: eigenvalue) before it is refused: rounding in np.cov and float32 features stays far below it
PSD_TOLERANCE = 1e-6


def check_covariance(sigma: np.ndarray, name: str) -> None:
    """Refuse a matrix that is not a covariance (symmetric PSD within :data:`PSD_TOLERANCE`): the
    square root would silently clip its negative eigenvalues and return a number for nonsense."""
    if not np.all(np.isfinite(sigma)):
        raise ValueError(f"{name} has NaN or inf entries (features of a diverged generator?)")
    scale = max(float(np.abs(sigma).max(initial=0.0)), np.finfo(np.float64).tiny)
    if np.abs(sigma - sigma.T).max(initial=0.0) > PSD_TOLERANCE * scale:
        raise ValueError(f"{name} is not symmetric: not a covariance matrix")
    lowest = float(np.linalg.eigvalsh((sigma + sigma.T) / 2).min(initial=0.0))
    if lowest < -PSD_TOLERANCE * scale:
        raise ValueError(f"{name} has a negative eigenvalue ({lowest:.3g}): a covariance matrix is positive "
                         "semi-definite (pass covariances, e.g. np.cov(features, rowvar=False), not arbitrary matrices)")


def trace_sqrt_product(sigma1, sigma2) -> float:
    """Tr (Sigma1 Sigma2)^{1/2} for symmetric PSD matrices, real and >= 0 (see module docstring)."""
    s1 = _as_f64(sigma1, "sigma1", 2)
    s2 = _as_f64(sigma2, "sigma2", 2)
    s1 = (s1 + s1.T) / 2                      # symmetrise: np.cov output is symmetric only up to rounding
    s2 = (s2 + s2.T) / 2
    r = _sqrt_psd(s1)                         # Sigma1^{1/2}
    m = r @ s2 @ r                            # Sigma1^{1/2} Sigma2 Sigma1^{1/2}: symmetric PSD, same spectrum as Sigma1 Sigma2
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    lam = np.where(lam > _noise_floor(lam), lam, 0.0)   # clip tiny negative/noisy eigenvalues to 0
    return float(np.sqrt(lam).sum())          # Tr (Sigma1 Sigma2)^{1/2} = sum_i sqrt(lambda_i)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64:

        ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr (sigma1 sigma2)^{1/2}

    Accepts numpy arrays or tensors (any float dtype). Always a real float; 0 (up to rounding) for
    identical statistics. Tiny negative values from rounding are returned as they are (not
    clipped), so a test of FD(x, x) = 0 sees the true rounding error.
    """
    mu1 = _as_f64(mu1, "mu1", 1)
    mu2 = _as_f64(mu2, "mu2", 1)
    s1 = _as_f64(sigma1, "sigma1", 2)
    s2 = _as_f64(sigma2, "sigma2", 2)
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}")
    check_covariance(s1, "sigma1")
    check_covariance(s2, "sigma2")
    diff = mu1 - mu2
    return float(diff @ diff                                   # ||mu1 - mu2||^2
                 + np.trace(s1) + np.trace(s2)                 # + Tr(Sigma1) + Tr(Sigma2)
                 - 2.0 * trace_sqrt_product(s1, s2))           # - 2 Tr (Sigma1 Sigma2)^{1/2}


# ---------------------------------------------------------------- statistics
class RunningStats:
    """Mean and covariance of features fed in batches, accumulated in float64.

    Sums are taken around a shift (the first batch's mean) so that cov = (S - n m m^T) / (n - 1)
    does not cancel catastrophically when |mean| >> std. Matches ``np.cov(..., rowvar=False)``.
    """

    def __init__(self):
        self.n, self.shift, self.s1, self.s2 = 0, None, None, None

    def update(self, f: torch.Tensor) -> None:
        f = f.detach().to("cpu", torch.float64).reshape(f.shape[0], -1)
        if f.shape[0] == 0:
            return
        if self.shift is None:
            self.shift = f.mean(0)
            self.s1 = torch.zeros_like(self.shift)
            self.s2 = torch.zeros(f.shape[1], f.shape[1], dtype=torch.float64)
        g = f - self.shift
        self.n += f.shape[0]
        self.s1 += g.sum(0)                   # sum of (f - shift)
        self.s2 += g.T @ g                    # sum of (f - shift)(f - shift)^T

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2:
            raise ValueError("need at least 2 samples for a covariance")
        m = self.s1 / self.n
        cov = (self.s2 - self.n * torch.outer(m, m)) / (self.n - 1)   # unbiased, as np.cov
        return (m + self.shift).numpy(), cov.numpy()


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """``(N, d)`` features -> ``(mu (d,), sigma (d, d))`` in float64 (sigma as ``np.cov``, ddof=1)."""
    rs = RunningStats()
    rs.update(torch.as_tensor(np.asarray(features)) if not isinstance(features, torch.Tensor) else features)
    return rs.mean_cov()


# ---------------------------------------------------------------- the protocol
@dataclass
class FIDResult:
    """A Fréchet distance with its protocol. ``float(result)`` is the value."""

    value: float
    name: str          # "FID" (Inception pool3, pytorch-fid weights) or "FD-classifier", ...
    extractor: str     # e.g. "fashion-mnist classifier", "inception-v3 pool3"
    n_fake: int
    n_real: int
    reference: str     # e.g. "fashion-mnist train"

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        return (f"{self.name} = {self.value:.2f} ({self.extractor} features, {self.n_fake} samples "
                f"vs {self.reference}, {self.n_real})")


_MEMORY_CACHE: dict = {}


def clear_memory_cache() -> None:
    """Forget the real statistics cached in this process (the disk cache stays)."""
    _MEMORY_CACHE.clear()


def statistics_of(images, extractor: FeatureExtractor) -> tuple[np.ndarray, np.ndarray, int]:
    """Feature mean and covariance of ``images`` (uint8 or float in [-1, 1], ``(N, C, H, W)``)."""
    rs = RunningStats()
    for chunk in images.split(extractor.batch_size):
        rs.update(extractor(chunk))
    mu, sigma = rs.mean_cov()
    return mu, sigma, rs.n


def real_statistics(extractor: FeatureExtractor, dataset: str = "fashion-mnist", split: str = "train",
                    image_size: int | None = None, n_real: int | None = None, seed: int = 0,
                    cache: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """Feature statistics of a dataset split, cached (memory and disk) by extractor weights, dataset,
    split, image size and n. ``n_real=None`` uses the whole split; a smaller n draws a seeded
    random subset. Returns ``(mu, sigma, n)``."""
    from ..data import load_dataset

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    key = (extractor.cache_id, dataset, split, image_size, n_real, seed if n_real else None)
    use_cache = cache and extractor.cache_id is not None
    if use_cache and key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    size_tag = f"{image_size}px" if image_size else "native"
    n_tag = f"n{n_real}-seed{seed}" if n_real else "all"
    path = cache_dir("stats") / f"{extractor.cache_id}__{dataset}_{split}_{size_tag}_{n_tag}.npz"
    if use_cache and path.is_file():
        with np.load(path) as f:
            out = (f["mu"], f["sigma"], int(f["n"]))
        _MEMORY_CACHE[key] = out
        return out
    ds = load_dataset(dataset, train=(split == "train"), image_size=image_size)
    images = ds.images
    if n_real is not None and n_real < len(images):
        idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n_real]
        images = images[idx.sort().values]
    out = statistics_of(images, extractor)
    if use_cache:
        _MEMORY_CACHE[key] = out
        try:
            atomic_write(path, lambda f: np.savez(f, mu=out[0], sigma=out[1], n=out[2]))
        except OSError as e:  # a read-only home is not a reason to fail
            warnings.warn(f"could not write the statistics cache {path}: {e}", stacklevel=2)
    return out


def _generated_statistics(generator, latent_dim: int, n: int, extractor: FeatureExtractor, batch_size: int,
                          seed: int):
    """Sample n images from z ~ N(0, I) (seeded, drawn on the CPU, the generator in eval mode) and
    accumulate their features batch by batch (n = 50 000 never sits in memory at once)."""
    from ..models import sample_batches

    rs, shape = RunningStats(), None
    for x in sample_batches(generator, n, seed=seed, batch_size=batch_size, latent_dim=latent_dim):
        shape = tuple(x.shape[1:])
        rs.update(extractor(x))
    mu, sigma = rs.mean_cov()
    return mu, sigma, rs.n, shape


def fid(source, dataset: str = "fashion-mnist", *, split: str = "train", n: int = DEFAULT_N,
        n_real: int | None = None, features="auto", latent_dim: int | None = None, batch_size: int = 500,
        device=None, seed: int = 0, cache: bool = True, weights=None) -> FIDResult:
    """Fréchet distance between generated images and a dataset split, with its protocol.

    ``source``: a generator (an ``nn.Module`` with ``.latent_dim``, or any callable ``z -> images``
    with ``latent_dim=`` given) sampled ``n`` times from z ~ N(0, I) (seeded by ``seed``; a module
    is put in eval mode while sampling and restored after); or a tensor of images
    ``(N, C, H, W)`` in [-1, 1] (uint8 accepted) / an ImageDataset, of which the first ``n`` are used.

    ``features``: "inception" (FID proper: Inception-v3 pool3 via pytorch-fid), "classifier"
    (FD-classifier: the small domain classifier, offline), "auto" (Inception when its weights can
    be had, else the classifier; on a CPU Inception is slow, prefer "classifier"), or a
    :class:`~gan_utils.metrics.features.FeatureExtractor`.

    The reference is ``dataset``'s ``split`` at the generated images' size (e.g. Fashion-MNIST
    padded to 32 for a 32x32 generator); ``n_real=None`` uses the whole split. Warns when
    ``n`` or ``n_real`` is below ``extractor.min_samples`` (the estimate is then biased upwards:
    compare only numbers computed at the same n).
    """
    from ..data import DATASETS, ImageDataset

    if dataset not in DATASETS:
        raise ValueError(f"fid(): unknown reference dataset {dataset!r}; use one of {', '.join(DATASETS)}")
    if not isinstance(n, int) or n < 2 or (n_real is not None and (not isinstance(n_real, int) or n_real < 2)):
        raise ValueError(f"fid(): n={n!r} and n_real={n_real!r} must be whole numbers >= 2 (a covariance needs two "
                         "samples; thousands for a usable estimate)")
    extractor = get_extractor(features, dataset=dataset, device=device, weights=weights)
    if isinstance(source, ImageDataset):
        source = source.images
    if isinstance(source, torch.Tensor):
        images = source[:n]
        if images.dim() != 4:
            raise ValueError(f"samples must be shaped (N, C, H, W), got {tuple(source.shape)}")
        if len(images) < 2:
            raise ValueError(f"fid() got {len(images)} image(s); a covariance needs at least two (thousands for a "
                             "usable estimate)")
        if images.is_floating_point() and images.numel():
            lo, hi = float(images.min()), float(images.max())
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ConfigError("fid(): the images hold NaN or inf (a diverged generator?); nothing to score")
            if lo < -1.01 or hi > 1.01:
                warnings.warn("generated images are outside [-1, 1]: fid() expects the tanh range "
                              "(a [0, 255] or [0, 1] mix-up is a classic bug)", stacklevel=2)
            elif lo >= 0.0 and hi > 0.5:              # all non-negative: [0, 1] images, a classic mix-up
                warnings.warn(f"generated images are in [{lo:.2f}, {hi:.2f}], i.e. [0, 1]: fid() expects the tanh "
                              "range [-1, 1] (scale with x * 2 - 1); the score of [0, 1] images is meaningless",
                              stacklevel=2)
        mu_f, sig_f, n_fake = statistics_of(images, extractor)
        shape = tuple(images.shape[1:])
    elif callable(source):
        ld = latent_dim if latent_dim is not None else getattr(source, "latent_dim", None)
        if ld is None:
            raise ValueError("pass latent_dim= for a generator without a .latent_dim attribute")
        mu_f, sig_f, n_fake, shape = _generated_statistics(source, int(ld), int(n), extractor,
                                                           batch_size, seed)
    else:
        raise TypeError(f"fid() takes a generator or a tensor of images, got {type(source).__name__}")

    image_size = shape[-1]
    mu_r, sig_r, n_r = real_statistics(extractor, dataset, split, image_size=image_size, n_real=n_real,
                                       seed=seed, cache=cache)
    if len(mu_r) != len(mu_f):
        raise ValueError("real and generated features differ in dimension")
    small = min(n_fake, n_r)
    if small < extractor.min_samples:
        warnings.warn(f"{extractor.distance_name} from {small} samples is biased upwards (the estimate falls "
                      f"as n grows; {extractor.min_samples}+ recommended for {extractor.dim}-d "
                      f"{extractor.name} features): compare only numbers computed at the same n",
                      stacklevel=2)
    value = frechet_distance(mu_f, sig_f, mu_r, sig_r)
    return FIDResult(value=value, name=extractor.distance_name, extractor=extractor.name, n_fake=n_fake,
                     n_real=n_r, reference=f"{dataset} {split}")


def real_floor(extractor, dataset: str = "fashion-mnist", *, split: str = "test", n: int = DEFAULT_N,
               image_size: int | None = None, seed: int = 0, cache: bool = True) -> FIDResult:
    """The real-vs-real floor of a protocol: the Fréchet distance of ``n`` **real** images of the *other*
    split (a seeded subset) against the reference ``split`` a generator is scored against, with the same
    extractor, image size and ``n``. It is what a perfect generator would score under that protocol: its
    finite-sample bias plus the (small) difference between the splits. Print it beside every score
    (notebook 06; configs/RESULTS.md). Statistics are cached as in :func:`real_statistics`."""
    other = {"test": "train", "train": "test"}.get(split)
    if other is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    extractor = get_extractor(extractor, dataset=dataset)
    mu_s, sig_s, n_s = real_statistics(extractor, dataset, other, image_size=image_size, n_real=n, seed=seed,
                                       cache=cache)
    mu_r, sig_r, n_r = real_statistics(extractor, dataset, split, image_size=image_size, cache=cache)
    return FIDResult(value=frechet_distance(mu_s, sig_s, mu_r, sig_r), name=extractor.distance_name,
                     extractor=extractor.name, n_fake=n_s, n_real=n_r,
                     reference=f"{dataset} {split} (the 'samples' are {n_s} real {other} images)")


# ---------------------------------------------------------------- Inception score
def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs") from class
    probabilities ``p(y|x)``, shape ``(N, num_classes)``, as in the original code: the N samples
    are cut into ``splits`` parts and for each part

        IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = mean_x p(y|x) over the part,

    returns ``(mean, std)`` over the parts. High when each sample is classified confidently
    (low entropy p(y|x)) *and* the classes are used evenly (high entropy p(y)); at most the number
    of classes. With the domain classifier's probabilities
    (:meth:`~gan_utils.metrics.features.ClassifierFeatures.probs`) it is a "classifier score",
    not comparable with Inception Scores in papers.
    """
    p = probs.detach().cpu().double().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs, np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, num_classes), got shape {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise ValueError("probs must be probabilities (non-negative rows summing to 1): pass softmax(logits)")
    if not 1 <= splits <= len(p):
        raise ValueError(f"splits={splits} must be between 1 and N={len(p)}")
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(0, keepdims=True)                                   # p(y) = E_x p(y|x)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0).sum(1)  # KL(p(y|x) || p(y))
        scores.append(math.exp(kl.mean()))                                # exp(E_x KL)
    return float(np.mean(scores)), float(np.std(scores))
