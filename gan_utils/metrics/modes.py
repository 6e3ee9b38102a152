"""Mode coverage for 2-D mixtures (taught in notebooks/02_toy_gans.ipynb).

The benchmarks come from two papers: the ring of 8 Gaussians from Metz et al. 2017 (Unrolled
GANs, section 3.1; they show it in figures and define no mode-counting metric for it) and the 5x5
grid of 25 Gaussians, with the two numbers below, from Srivastava et al. 2017 (VEEGAN, section 5,
"Synthetic dataset"). Every rule here shares VEEGAN's first number:

- a sample is **high quality** (HQ) when it lies within ``n_std`` = 3 standard deviations of its
  nearest mode centre; ``high_quality`` is the share of *all* samples that are HQ.

They differ in when a mode counts as **covered** (``counts[k]`` = HQ samples whose nearest centre
is mode k; N = all samples; N_HQ = the HQ ones):

- ``rule="hq-share"`` (the default, this course's own choice): ``counts[k] >= max(1, min_share *
  N_HQ)``, a share of the *high-quality* samples (0.8 % by default). It ignores stragglers on a
  mode when the generator is sharp elsewhere, but when almost no sample is HQ the threshold drops to
  one sample, and uniform noise "covers" most modes (notebook 02 shows it).
- ``rule="veegan"``: ``counts[k] >= 1``, "the number of mixture components whose mean is nearest to
  at least one high quality sample" (VEEGAN, section 5; PacGAN's released code counts the same way).
- ``rule="all-samples"``: ``counts[k] >= min_share * N``, a share of *all* samples (0.8 % = 20 of
  2 500 samples by default), a stricter rule sometimes used for these benchmarks. The course could not
  trace it to a paper, so no source is claimed for it. Blurry or noisy generators cover few modes under
  it, because their HQ samples are few.

Use :func:`mode_coverage_rules` to score one sample set under all three.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .features import feature_matrix

#: The covering rules of :func:`mode_coverage`, with one line each saying when a mode counts.
RULES = {
    "hq-share": "at least max(1, min_share x #HQ samples) HQ samples (this course's choice)",
    "veegan": "at least one HQ sample (Srivastava et al. 2017, VEEGAN, section 5)",
    "all-samples": "at least min_share x #all samples HQ samples ('20 of 2 500'; source not verified)",
}


@dataclass
class ModeCoverage:
    modes_covered: int        # modes that count as covered under `rule`
    n_modes: int              # number of mode centres
    high_quality: float       # fraction of all samples within n_std std of their nearest centre
    counts: list              # high-quality samples per mode, in the order of `centers`
    rule: str = "hq-share"    # the covering rule used (see RULES)

    def __str__(self) -> str:
        return f"{self.modes_covered}/{self.n_modes} modes, {100 * self.high_quality:.1f}% high quality"


def mode_coverage(samples, centers, std: float, min_share: float = 0.008, n_std: float = 3.0,
                  rule: str = "hq-share") -> ModeCoverage:
    """Score 2-D generator ``samples (N, 2)`` against mixture ``centers (K, 2)`` of stddev ``std``.

    Returns a :class:`ModeCoverage` (``modes_covered``, ``high_quality`` fraction, per-mode HQ
    counts). ``rule`` says when a mode is covered: ``"hq-share"`` (default), ``"veegan"`` or
    ``"all-samples"``; ``min_share`` is the share the first and the last use. See the module
    docstring for the rules and their sources.
    """
    if rule not in RULES:
        raise ValueError(f"Unknown mode-coverage rule {rule!r}; use one of {sorted(RULES)}")
    x = feature_matrix(samples, "samples", min_rows=1)     # finite points only: a NaN sample is never "covered"
    c = feature_matrix(centers, "centers", min_rows=1)     # no centres: no mode to cover, no score
    if x.shape[1] != 2 or c.shape[1] != 2:
        # a silent reshape turned (4, 3) samples into (6, 2) points that never existed
        raise ValueError(f"mode_coverage scores 2-D points: samples (N, 2) and centers (K, 2), got samples "
                         f"{tuple(x.shape)} and centers {tuple(c.shape)}")
    if not std > 0:
        raise ValueError(f"std={std!r} must be > 0 (the standard deviation of each mixture component)")
    d = torch.cdist(x, c)                        # (N, K) distances to every centre
    dmin, nearest = d.min(dim=1)                 # (N,)
    hq = dmin <= n_std * std                     # high-quality mask
    counts = torch.bincount(nearest[hq], minlength=c.shape[0])   # (K,) HQ samples per mode
    n_hq = int(hq.sum())
    if rule == "hq-share":
        threshold = max(1.0, min_share * n_hq)   # a share of the HQ samples, and at least one
    elif rule == "veegan":
        threshold = 1.0                          # one HQ sample is enough
    else:
        threshold = max(1.0, min_share * x.shape[0])   # a share of all samples: 20 of 2 500
    covered = int((counts >= threshold).sum()) if n_hq else 0
    return ModeCoverage(covered, c.shape[0], n_hq / x.shape[0], counts.tolist(), rule)


def mode_coverage_rules(samples, centers, std: float, **kw) -> dict:
    """``{rule: ModeCoverage}`` for every rule of :data:`RULES` (same samples, same HQ fraction)."""
    return {rule: mode_coverage(samples, centers, std, rule=rule, **kw) for rule in RULES}
