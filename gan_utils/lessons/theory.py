"""The GAN minimax game in numbers: densities on a 1-D grid, D*, V(D, G), KL, JSD, W1.

Taught in notebooks/01_minimax.ipynb; reused by 02 (D* on toy mixtures) and 07 (JSD against W1).

Notation as in :mod:`gan_utils.losses` and [Goodfellow2014]: D(x) = sigmoid(l(x)) with l the
discriminator's **logit**, and

    V(D, G) = E_{x ~ p_data}[log D(x)] + E_{x ~ p_g}[log(1 - D(x))]
            = integral of  p_data(x) log D(x) + p_g(x) log(1 - D(x))  dx

    D*(x)   = p_data(x) / (p_data(x) + p_g(x))          l*(x) = log p_data(x) - log p_g(x)
    C(G)    = V(D*, G) = -log 4 + 2 JSD(p_data || p_g)

Everything is float64 numpy on a **uniform grid** ``x`` with spacing ``dx`` (see :func:`grid`);
integrals use the trapezoid rule, so every quantity below is computed on the same footing and
V(D*, G) and -log 4 + 2 JSD agree to rounding (about 1e-12) when the densities integrate to 1 on the
grid. Conventions where densities vanish (they do, in float64, in the tails):

- ``0 log 0 = 0``: a point where a density is exactly 0 contributes nothing to an expectation;
- D* = 1/2 (l* = 0) where p_data = p_g = 0: the value there cannot change V, and 1/2 is the
  "cannot tell" answer;
- D* = 1 (l* = +inf) where only p_g vanishes, D* = 0 (l* = -inf) where only p_data vanishes.
"""
from __future__ import annotations

import math

import numpy as np

LOG2 = math.log(2.0)
LOG4 = math.log(4.0)

__all__ = [
    "LOG2", "LOG4", "grid", "integrate", "normalise", "gaussian_pdf", "gaussian_logpdf", "uniform_pdf",
    "optimal_discriminator", "optimal_logit", "value_function", "kl_divergence", "jsd",
    "jsd_gaussians_quad", "wasserstein1_1d", "minimax_table", "format_minimax_table",
]


# ---------------------------------------------------------------- grid and integration
def grid(lo: float = -20.0, hi: float = 20.0, n: int = 200_001) -> tuple[np.ndarray, float]:
    """A uniform grid ``x`` (float64, ``n`` points from ``lo`` to ``hi``) and its spacing ``dx``.

    The default, [-20, 20] with 200 001 points (dx = 2e-4), holds every Gaussian the course uses
    (|mean| <= 10, std <= 3) to well below 1e-12 of tail mass.
    """
    if n < 3 or not hi > lo:
        raise ValueError(f"need lo < hi and n >= 3, got lo={lo}, hi={hi}, n={n}")
    x = np.linspace(lo, hi, int(n), dtype=np.float64)
    return x, (hi - lo) / (int(n) - 1)  # not x[1] - x[0]: that difference carries a rounding error


def integrate(f, dx: float) -> float:
    """Trapezoid rule for samples ``f`` of a function on a uniform grid of spacing ``dx``."""
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 1 or f.size < 2:
        raise ValueError(f"integrate wants a 1-D array of at least 2 samples, got shape {f.shape}")
    total = f.sum()
    if not np.isfinite(total):  # an infinite integrand (e.g. log 0 where p > 0): no end correction
        return float(total)
    return float(dx * (total - 0.5 * (f[0] + f[-1])))


def normalise(p, dx: float) -> np.ndarray:
    """``p`` rescaled to integrate to exactly 1 on the grid (a sampled step density such as
    :func:`uniform_pdf` has a trapezoid mass of 1 + O(dx) because of its jumps)."""
    p = np.asarray(p, dtype=np.float64)
    mass = integrate(p, dx)
    if not mass > 0:
        raise ValueError("p has no mass on this grid")
    return p / mass


def _densities(p, q, names=("p", "q")) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"{names[0]} {p.shape} and {names[1]} {q.shape} must be sampled on the same grid")
    for name, a in zip(names, (p, q)):
        if np.any(a < 0) or np.any(np.isnan(a)):
            raise ValueError(f"{name} must be a density: non-negative and not nan")
    return p, q


# ---------------------------------------------------------------- densities
def gaussian_pdf(x, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """N(mean, std^2) density at ``x`` (float64). Underflows to exactly 0 beyond ~38 std."""
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2.0 * math.pi))


def gaussian_logpdf(x, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """log N(x; mean, std^2), finite everywhere (use it where :func:`gaussian_pdf` underflows)."""
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    x = np.asarray(x, dtype=np.float64)
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std * math.sqrt(2.0 * math.pi))


def uniform_pdf(x, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """U[lo, hi] density at ``x``: compact support, so two of them can be exactly disjoint."""
    if not hi > lo:
        raise ValueError(f"need lo < hi, got [{lo}, {hi}]")
    x = np.asarray(x, dtype=np.float64)
    return np.where((x >= lo) & (x <= hi), 1.0 / (hi - lo), 0.0)


# ---------------------------------------------------------------- the optimal discriminator
def optimal_discriminator(p_data, p_g, real_label: float = 1.0, fake_label: float = 0.0) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), the maximiser of V(., G) for a fixed G.

    Defined as 1/2 where both densities are 0 (0/0: no sample ever lands there, so D's value does
    not enter V; 1/2 is "cannot tell").

    With smoothed targets, alpha = ``real_label`` for reals and beta = ``fake_label`` for fakes (notebook 14),
    D minimises -p_data [alpha log D + (1 - alpha) log(1 - D)] - p_g [beta log D + (1 - beta) log(1 - D)] at
    every x; setting its derivative in D to zero gives (Salimans et al. 2016, section 3.4)

        D*(x) = (alpha p_data(x) + beta p_g(x)) / (p_data(x) + p_g(x)).
    """
    p_data, p_g = _densities(p_data, p_g, ("p_data", "p_g"))
    total = p_data + p_g
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, (real_label * p_data + fake_label * p_g) / safe, 0.5)


def optimal_logit(p_data, p_g) -> np.ndarray:
    """l*(x) = log p_data(x) - log p_g(x), the logit of D* (D* = sigmoid(l*)).

    The optimal discriminator's logit is the **log density ratio**. +inf where only p_g vanishes,
    -inf where only p_data vanishes, 0 where both do. With log-densities at hand (e.g.
    :func:`gaussian_logpdf`) compute ``log_p_data - log_p_g`` directly: finite everywhere.
    """
    p_data, p_g = _densities(p_data, p_g, ("p_data", "p_g"))
    with np.errstate(divide="ignore", invalid="ignore"):
        l = np.log(p_data) - np.log(p_g)  # inf - inf = nan only where both vanish
    return np.where((p_data == 0) & (p_g == 0), 0.0, l)


def _expect(p: np.ndarray, log_term: np.ndarray, dx: float) -> float:
    """integral of p * log_term with 0 * (-inf) = 0 where p = 0."""
    integrand = np.where(p > 0, p * np.where(p > 0, log_term, 0.0), 0.0)
    return integrate(integrand, dx)


def value_function(d, p_data, p_g, dx: float, *, logit: bool = False) -> float:
    """V(D, G) = E_{p_data}[log D] + E_{p_g}[log(1 - D)] by numerical integration on the grid.

    ``d`` holds D(x) in [0, 1] on the grid; with ``logit=True`` it holds the logit l(x) instead and
    log D = -softplus(-l), log(1 - D) = -softplus(l) are computed exactly, as gan_utils.losses does.
    Use logits where D is within 1e-16 of 0 or 1: there ``1 - D`` rounds to 0 and log(1 - D) to
    -inf although the true value is finite (the tails of D* for two shifted Gaussians).

    Points where a density is 0 contribute nothing (0 log 0 = 0). Returns -inf when D = 0 where
    p_data > 0 (or D = 1 where p_g > 0): then V really is -inf.
    """
    p_data, p_g = _densities(p_data, p_g, ("p_data", "p_g"))
    d = np.broadcast_to(np.asarray(d, dtype=np.float64), p_data.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if logit:
            log_d = -np.logaddexp(0.0, -d)         # log sigmoid(l)  = -softplus(-l)
            log_1md = -np.logaddexp(0.0, d)        # log sigmoid(-l) = -softplus(l)
        else:
            if np.any((d < 0) | (d > 1)) or np.any(np.isnan(d)):
                raise ValueError("D(x) must lie in [0, 1]; pass logit=True if d holds logits")
            log_d = np.log(d)
            log_1md = np.log1p(-d)
    return _expect(p_data, log_d, dx) + _expect(p_g, log_1md, dx)


# ---------------------------------------------------------------- divergences and distances
def kl_divergence(p, q, dx: float) -> float:
    """KL(p || q) = integral of p log(p / q), in nats. +inf where p > 0 = q somewhere."""
    p, q = _densities(p, q)
    pos = p > 0
    if np.any(pos & (q == 0)):
        return math.inf
    ratio = np.where(pos, p / np.where(pos, q, 1.0), 1.0)
    return integrate(np.where(pos, p * np.log(ratio), 0.0), dx)


def jsd(p, q, dx: float) -> float:
    """Jensen-Shannon divergence in **nats**, through the mixture m = (p + q) / 2:

        JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m),     0 <= JSD <= log 2

    (log 2 exactly when the supports are disjoint). This formula never mentions D*, so it checks
    C(G) = V(D*, G) = -log 4 + 2 JSD independently.
    """
    p, q = _densities(p, q)
    m = 0.5 * (p + q)  # > 0 wherever p > 0 or q > 0, so KL(p || m) is always finite
    return 0.5 * kl_divergence(p, m, dx) + 0.5 * kl_divergence(q, m, dx)


def wasserstein1_1d(p, q, dx: float) -> float:
    """Wasserstein-1 (earth mover's) distance of two 1-D densities on the same uniform grid:

        W1(p, q) = integral of |F_p(x) - F_q(x)| dx,     F the cumulative distribution function

    Unlike the JSD it keeps growing with the distance between disjoint supports (notebook 07).
    """
    p, q = _densities(p, q)
    diff = p - q
    # cumulative trapezoid: F(x_i) = dx * (f_0/2 + f_1 + ... + f_{i-1} + f_i/2)
    cdf_diff = dx * (np.cumsum(diff) - 0.5 * (diff[0] + diff))
    return integrate(np.abs(cdf_diff), dx)


def jsd_gaussians_quad(mean1: float, std1: float, mean2: float, std2: float) -> float:
    """JSD (nats) of N(mean1, std1^2) and N(mean2, std2^2) by adaptive quadrature
    (``scipy.integrate.quad``) on the exact log-densities: no grid, so it checks :func:`jsd` and
    V(D*, G) independently of the grid and the trapezoid rule (agreement ~1e-10)."""
    from scipy import integrate as sci_integrate

    def integrand(t):
        lp, lq = gaussian_logpdf(t, mean1, std1), gaussian_logpdf(t, mean2, std2)
        lm = np.logaddexp(lp, lq) - LOG2                                   # log m, m = (p + q) / 2
        return 0.5 * (np.exp(lp) * (lp - lm) + np.exp(lq) * (lq - lm))    # 1/2 p log(p/m) + 1/2 q log(q/m)

    lo = min(mean1 - 40 * std1, mean2 - 40 * std2)
    hi = max(mean1 + 40 * std1, mean2 + 40 * std2)
    value, _ = sci_integrate.quad(integrand, lo, hi, points=sorted({float(mean1), float(mean2)}),
                                  limit=500, epsabs=1e-13, epsrel=1e-12)
    return float(value)


# ---------------------------------------------------------------- the notebook-01 table
def minimax_table(cases, data_mean: float = 0.0, data_std: float = 1.0, x=None, dx=None) -> list[dict]:
    """V(D*, G) and -log 4 + 2 JSD for p_data = N(data_mean, data_std^2) and each p_g = N(mean, std^2).

    ``cases`` is an iterable of ``(mean, std)``. V(D*, G) is integrated with the logit
    l* = log p_data - log p_g from the log-densities (finite everywhere); the JSD comes from
    :func:`jsd` on the densities. Returns one dict per case with keys ``mean_g, std_g, V_star,
    jsd, minus_log4_plus_2jsd, abs_diff, w1``.
    """
    if x is None:
        x, dx = grid()
    elif dx is None:
        raise ValueError("pass dx with x")
    p_data = gaussian_pdf(x, data_mean, data_std)
    log_p_data = gaussian_logpdf(x, data_mean, data_std)
    rows = []
    for mean, std in cases:
        p_g = gaussian_pdf(x, mean, std)
        l_star = log_p_data - gaussian_logpdf(x, mean, std)
        v_star = value_function(l_star, p_data, p_g, dx, logit=True)
        js = jsd(p_data, p_g, dx)
        rows.append({
            "mean_g": float(mean), "std_g": float(std), "V_star": v_star, "jsd": js,
            "minus_log4_plus_2jsd": -LOG4 + 2.0 * js, "abs_diff": abs(v_star - (-LOG4 + 2.0 * js)),
            "w1": wasserstein1_1d(p_data, p_g, dx),
        })
    return rows


def format_minimax_table(rows, decimals: int = 6) -> str:
    """The rows of :func:`minimax_table` as a fixed-width text table (deterministic to ``decimals``)."""
    head = (f"{'p_g = N(m, s^2)':>16} | {'V(D*, G)':>12} | {'-log4 + 2 JSD':>13} | "
            f"{'JSD / log 2':>11} | {'W1':>9} | agree to 1e-6")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{'m=%g, s=%g' % (r['mean_g'], r['std_g']):>16} | {r['V_star']:>12.{decimals}f} | "
                     f"{r['minus_log4_plus_2jsd']:>13.{decimals}f} | {r['jsd'] / LOG2:>11.{decimals}f} | "
                     f"{r['w1']:>9.{decimals}f} | {'yes' if r['abs_diff'] < 1e-6 else 'NO'}")
    return "\n".join(lines)
