"""Checks for the exercises of notebooks/01_minimax.ipynb (references in :mod:`gan_utils.lessons.theory`
and :mod:`gan_utils.losses`; solutions in solutions/01_minimax.py).

Each ``check_*`` runs the learner's function on seeded random inputs and compares what it
*returns* with the reference: it prints "not attempted yet" and returns ``False`` while the stub
still raises ``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong
answer, and prints a confirmation and returns ``True`` on a right one.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .. import losses
from ..lessons import theory

__all__ = ["check_optimal_discriminator", "check_jsd", "check_generator_logit_grads"]


from ._common import _NotAttempted, _as_array, _call, _fail, _not_attempted  # noqa: F401  (shared check helpers)

HINT = ": one value per grid point / logit"


def _random_mixture(rng, x, k_max: int = 3) -> np.ndarray:
    """A random Gaussian mixture density on ``x`` (mass well inside the grid)."""
    k = rng.integers(1, k_max + 1)
    w = rng.dirichlet(np.ones(k))
    out = np.zeros_like(x)
    for wi in w:
        out += wi * theory.gaussian_pdf(x, rng.uniform(-4, 4), rng.uniform(0.3, 2.0))
    return out


# ---------------------------------------------------------------- exercise 1: D*
def check_optimal_discriminator(fn, n_trials: int = 20, seed: int = 0) -> bool:
    """``fn(p_data, p_g)`` must return D* = p_data / (p_data + p_g) elementwise, and 1/2 where both
    densities are 0."""
    name = "optimal_discriminator"
    rng = np.random.default_rng(seed)
    try:
        for trial in range(n_trials):
            n = int(rng.integers(5, 200))
            p_data = rng.exponential(1.0, n)
            p_g = rng.exponential(1.0, n)
            if trial >= n_trials // 2:  # exact zeros: outside one support, or outside both
                p_data[rng.random(n) < 0.2] = 0.0
                p_g[rng.random(n) < 0.2] = 0.0
                p_data[:2] = 0.0
                p_g[:2] = 0.0
            with np.errstate(all="ignore"):
                got = _as_array(name, _call(fn, p_data.copy(), p_g.copy()), p_data.shape, HINT)
            want = theory.optimal_discriminator(p_data, p_g)
            if np.allclose(got, want, rtol=1e-9, atol=1e-12):
                continue
            both0 = (p_data == 0) & (p_g == 0)
            rest = ~both0
            if np.allclose(got[rest], want[rest], rtol=1e-9, atol=1e-12):
                _fail(
                    f"{name}: right wherever p_data + p_g > 0, but where both densities are 0 you "
                    f"returned {got[both0][:3]} instead of 0.5. No sample lands there, so D's value "
                    "does not change V; the convention is 1/2 ('cannot tell'). Hint: np.where.")
            if np.allclose(got[rest], 1.0 - want[rest], rtol=1e-9, atol=1e-12):
                _fail(f"{name}: you returned p_g / (p_data + p_g) = 1 - D*. D is the "
                               "probability that x is *real*: the numerator is p_data.")
            i = int(np.flatnonzero(~np.isclose(got, want, rtol=1e-9, atol=1e-12))[0])
            _fail(f"{name}: wrong value at p_data={p_data[i]:.4g}, p_g={p_g[i]:.4g}: "
                           f"got {got[i]:.6g}, expected {want[i]:.6g}. Recall D*(x) = "
                           "p_data(x) / (p_data(x) + p_g(x)).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct on {n_trials} random inputs (zeros included).")
    return True


# ---------------------------------------------------------------- exercise 2: JSD
def check_jsd(fn, n_trials: int = 8, seed: int = 1) -> bool:
    """``fn(p, q, dx)`` must return the Jensen-Shannon divergence in nats of two densities sampled on
    a uniform grid of spacing ``dx``: random Gaussian mixtures, identical pairs and disjoint
    supports (where JSD = log 2)."""
    name = "jsd"
    rng = np.random.default_rng(seed)
    x, dx = theory.grid(-12.0, 12.0, 4001)
    cases = [(_random_mixture(rng, x), _random_mixture(rng, x)) for _ in range(n_trials)]
    same = _random_mixture(rng, x)
    cases.append((same, same.copy()))
    a = rng.uniform(-8, -3)
    cases.append((theory.uniform_pdf(x, a, a + 2.0), theory.uniform_pdf(x, 3.0, 5.0)))  # disjoint
    try:
        for p, q in cases:
            with np.errstate(all="ignore"):
                out = _call(fn, p.copy(), q.copy(), dx)
            try:
                got = float(out)
            except (TypeError, ValueError):
                raise AssertionError(f"{name} should return one number (a float), got {out!r}") from None
            want = theory.jsd(p, q, dx)
            if abs(got - want) <= 1e-6:
                continue
            if math.isnan(got):
                _fail(f"{name}: got nan. Where a density is 0 the term p log(p/m) is 0 * log 0, which must "
                "count as 0: mask it with np.where(p > 0, ...) or use scipy.special.xlogy.")
            if want > 1e-3 and abs(got - want / math.log(2)) <= 1e-6:
                _fail(f"{name}: that is the JSD in bits (log base 2); the course uses nats (np.log).")
            if want > 1e-3 and abs(got - 2 * want) <= 1e-6:
                _fail(f"{name}: twice the JSD: JSD = 1/2 KL(p||m) + 1/2 KL(q||m), don't forget the halves.")
            if want > 1e-3 and abs(got - want / dx) <= 1e-6 * max(1.0, want / dx):
                _fail(f"{name}: you summed without multiplying by dx: an integral is sum(f) * dx.")
            kl = theory.kl_divergence(p, q, dx)
            if math.isfinite(kl) and abs(got - kl) <= 1e-6:
                _fail(f"{name}: that is KL(p||q), not the JSD. Compare both densities with "
                               "the mixture m = (p + q) / 2.")
            _fail(f"{name}: got {got:.8f}, expected {want:.8f} "
                           f"({'disjoint supports: expected log 2' if abs(want - math.log(2)) < 1e-9 else 'random mixtures'}). "
                           "Recall JSD(p||q) = 1/2 KL(p||m) + 1/2 KL(q||m), m = (p + q) / 2, "
                           "KL(p||m) = integral of p log(p / m) dx.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct on {len(cases)} pairs of densities (identical and disjoint ones included).")
    return True


# ---------------------------------------------------------------- exercise 3: generator gradients
def reference_generator_logit_grads(logits) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample derivatives d(loss)/d(logit) of g_loss_saturating and g_loss_nonsaturating, by
    autograd through :mod:`gan_utils.losses` (the losses average over the batch, so the gradient of
    B * loss with respect to l_i is sample i's own derivative)."""
    out = []
    for loss_fn in (losses.g_loss_saturating, losses.g_loss_nonsaturating):
        l = torch.tensor(np.asarray(logits, dtype=np.float64), requires_grad=True)
        (g,) = torch.autograd.grad(loss_fn(l) * l.numel(), l)
        out.append(g.numpy())
    return out[0], out[1]


def check_generator_logit_grads(fn, n_trials: int = 10, seed: int = 2) -> bool:
    """``fn(logits)`` (a 1-D float64 numpy array of D's logits on fake samples) must return the pair
    ``(grad_saturating, grad_nonsaturating)``: the derivative of each sample's generator loss with
    respect to its own logit, in closed form."""
    name = "generator_logit_grads"
    rng = np.random.default_rng(seed)
    try:
        for _ in range(n_trials):
            n = int(rng.integers(3, 100))
            l = rng.normal(0.0, 4.0, n)
            out = _call(fn, l.copy())
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                _fail(f"{name} should return a pair (grad_saturating, grad_nonsaturating), got {type(out).__name__}")
            got_s, got_ns = (_as_array(name, o, l.shape, HINT) for o in out)
            want_s, want_ns = reference_generator_logit_grads(l)
            for got, want, which, formula in ((got_s, want_s, "saturating", "log(1 - sigmoid(l))"),
                                              (got_ns, want_ns, "non-saturating", "-log sigmoid(l)")):
                if np.allclose(got, want, rtol=1e-7, atol=1e-10):
                    continue
                if np.allclose(got, -want, rtol=1e-7, atol=1e-10):
                    _fail(f"{name}: the {which} gradient has the wrong sign. The generator "
                                   f"*minimises* its loss {formula}; differentiate that expression.")
                if np.allclose(got, want / n, rtol=1e-7, atol=1e-10):
                    _fail(f"{name}: the {which} gradient is divided by the batch size: return "
                                   "each sample's own derivative, not the gradient of the batch mean.")
                d = 1.0 / (1.0 + np.exp(-l))
                wrt_d = -1.0 / (1.0 - d) if which == "saturating" else -1.0 / d
                if np.allclose(got, wrt_d, rtol=1e-6, atol=1e-10):
                    _fail(f"{name}: that is the {which} derivative with respect to D = sigmoid(l), "
                                   "not the logit l: multiply by dD/dl = D (1 - D).")
                i = int(np.flatnonzero(~np.isclose(got, want, rtol=1e-7, atol=1e-10))[0])
                _fail(f"{name}: the {which} gradient at logit l = {l[i]:.4g} is {got[i]:.6g}, "
                               f"expected {want[i]:.6g}. Differentiate {formula} with respect to l; "
                               "sigmoid'(l) = sigmoid(l) (1 - sigmoid(l)).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: both gradients match autograd through gan_utils.losses on {n_trials} random batches.")
    return True
