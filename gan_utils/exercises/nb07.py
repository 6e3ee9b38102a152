"""Checks for the exercises of notebooks/07_wgan.ipynb (references: :func:`w1_empirical_cdf`
below, which is how ``scipy.stats.wasserstein_distance`` computes it, :mod:`gan_utils.losses`
and ``torch.linalg.matrix_norm``; solutions in solutions/07_wgan.py).

Each ``check_*`` runs the learner's function on seeded random inputs and compares what it
*returns or does* with the reference: it prints "not attempted yet" and returns ``False`` while the
stub still raises ``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong
answer, and prints a confirmation and returns ``True`` on a right one.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn as nn

from .. import losses
from ._common import _NotAttempted, _Recorder, _call, _check_on_segments, _fail, _not_attempted

__all__ = ["check_w1_from_samples", "check_spectral_norm", "check_critic_step_gp", "check_critic_objective",
           "critic_samples", "CRITIC_CASES", "CRITIC_TARGET"]


def _number(name: str, out) -> float:
    if isinstance(out, torch.Tensor):
        if out.numel() != 1:
            _fail(f"{name} should return one number, got a tensor of shape {tuple(out.shape)}")
        return float(out.detach())
    try:
        return float(out)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should return one number (a float), got {type(out).__name__}") from None


# ---------------------------------------------------------------- exercise 1: W1 from samples
def w1_empirical_cdf(x, y) -> float:
    """W1 of two 1-D empirical distributions as the integral of |F_x(t) - F_y(t)| dt: the CDFs are
    step functions, so the integral is a sum over the intervals between consecutive sample points
    (the formula of ``scipy.stats.wasserstein_distance``; independent of the sorted matching)."""
    x, y = np.sort(np.asarray(x, np.float64)), np.sort(np.asarray(y, np.float64))
    t = np.sort(np.concatenate([x, y]))
    f_x = np.searchsorted(x, t[:-1], side="right") / len(x)     # F_x on each interval [t_k, t_k+1)
    f_y = np.searchsorted(y, t[:-1], side="right") / len(y)
    return float(np.sum(np.abs(f_x - f_y) * np.diff(t)))


def check_w1_from_samples(fn, n_trials: int = 12, seed: int = 0) -> bool:
    """``fn(x, y)`` for two 1-D numpy arrays of the **same length** n must return the Wasserstein-1
    distance between their empirical distributions (each sample has mass 1/n); compared with
    :func:`w1_empirical_cdf`."""
    name = "w1_from_samples"
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n_trials):
        n = int(rng.integers(5, 400))
        cases.append((rng.normal(rng.uniform(-2, 2), rng.uniform(0.3, 2), n),
                      rng.normal(rng.uniform(-2, 2), rng.uniform(0.3, 2), n), "random Gaussians"))
    cases.append((rng.uniform(0, 1, 500), rng.uniform(4, 5, 500), "disjoint uniforms, 4 apart"))
    cases.append((rng.exponential(1.0, 300), rng.normal(1.0, 1.0, 300), "same mean, different shapes"))
    try:
        for x, y, kind in cases:
            out = _call(fn, x.copy(), y.copy())
            got = _number(name, out)
            want = w1_empirical_cdf(x, y)
            if math.isclose(got, want, rel_tol=1e-7, abs_tol=1e-9):
                continue
            xs, ys = np.sort(x), np.sort(y)
            if math.isclose(got, np.mean(np.abs(x - y)), rel_tol=1e-7):
                _fail(f"{name}: you matched the samples in the order they came (mean |x_i - y_i|). The cheapest "
                      "way to move one set of points onto the other in 1-D is in sorted order: compare "
                      "np.sort(x) with np.sort(y).")
            if math.isclose(got, abs(x.mean() - y.mean()), rel_tol=1e-7, abs_tol=1e-12):
                _fail(f"{name}: |mean(x) - mean(y)| is what the critic f(t) = t (1-Lipschitz) sees: by the "
                      f"Kantorovich-Rubinstein duality it is only a *lower bound* on W1 ({kind}: you got "
                      f"{got:.4f}, W1 = {want:.4f}). Sort both samples and average |x_(i) - y_(i)|.")
            if math.isclose(got, math.sqrt(np.mean((xs - ys) ** 2)), rel_tol=1e-7):
                _fail(f"{name}: that is W2 (root mean *squared* difference). W1 averages the absolute differences.")
            if math.isclose(got, np.sum(np.abs(xs - ys)), rel_tol=1e-7):
                _fail(f"{name}: you summed the differences; each sample carries mass 1/n, so take the mean.")
            _fail(f"{name}: got {got:.6f}, expected {want:.6f} ({kind}, n = {len(x)}). In 1-D, W1 of two "
                  "samples of equal size is the mean of |x_(i) - y_(i)| over the sorted samples.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches the integral of |F_x - F_y| on {len(cases)} pairs of samples (disjoint ones included).")
    return True


# ---------------------------------------------------------------- exercise 2: spectral norm
def _matrix_with_gap(rng, m, n, ratio=0.5):
    """A random m x n matrix whose two largest singular values differ by ``ratio`` (fast power iteration)."""
    k = min(m, n)
    u, _ = np.linalg.qr(rng.normal(size=(m, k)))
    v, _ = np.linalg.qr(rng.normal(size=(n, k)))
    s = np.sort(rng.uniform(0.1, 1.0, k))[::-1] * ratio
    s[0] = rng.uniform(0.5, 3.0)
    s[1:] = np.minimum(s[1:], ratio * s[0])
    return torch.tensor((u * s) @ v.T, dtype=torch.float32)


def check_spectral_norm(fn, seed: int = 0) -> bool:
    """``fn(W, n_iters)`` must return the largest singular value of ``W`` by **power iteration**,
    where ``W`` is a linear layer's weight (out, in) or a conv kernel (out, in, kh, kw), which is
    reshaped to (out, in * kh * kw) as ``torch.nn.utils.parametrizations.spectral_norm`` does. ``W``
    must not be modified. Compared with ``torch.linalg.matrix_norm(W.flatten(1), ord=2)``."""
    name = "spectral_norm"
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    cases = [(_matrix_with_gap(rng, 16, 40), "linear weight (16, 40)"),
             (_matrix_with_gap(rng, 50, 8), "linear weight (50, 8)"),
             (_matrix_with_gap(rng, 32, 16 * 16).view(32, 16, 4, 4), "conv kernel (32, 16, 4, 4)"),
             (torch.randn(8, 1, 4, 4, generator=gen) * 0.02, "DCGAN-initialised conv kernel (8, 1, 4, 4)"),
             (_matrix_with_gap(rng, 12, 12), "square (12, 12)")]
    try:
        for W, kind in cases:
            W0 = W.clone()
            out = _call(fn, W, 200)
            got = _number(name, out)
            if not torch.equal(W, W0):
                _fail(f"{name}: W was modified in place; the layer's weight must stay as it is (normalise a copy).")
            mat = W0.flatten(1).double()
            want = float(torch.linalg.matrix_norm(mat, ord=2))
            if math.isclose(got, want, rel_tol=1e-3):
                continue
            if math.isclose(got, float(mat.norm()), rel_tol=1e-3):
                _fail(f"{name}: that is the Frobenius norm sqrt(sum w^2) ({kind}), an upper bound on the spectral "
                      "norm, not the spectral norm. Iterate v <- W^T W v / ||W^T W v|| and return ||W v||.")
            if math.isclose(got, want ** 2, rel_tol=1e-3):
                _fail(f"{name}: you returned sigma^2 (the top eigenvalue of W^T W); the spectral norm is its "
                      "square root, ||W v|| for the unit vector v.")
            if math.isclose(got, float(mat.abs().max()), rel_tol=1e-6):
                _fail(f"{name}: that is the largest |w|, the quantity weight clipping bounds, not the spectral norm.")
            _fail(f"{name}: got {got:.6f}, expected {want:.6f} for a {kind}. Reshape to (out, -1), start from a "
                  "random unit vector v, repeat v <- W^T (W v), v <- v / ||v||, then sigma = ||W v||.")
    except _NotAttempted:
        return _not_attempted(name)
    except RuntimeError as e:                                  # e.g. matmul of a 4-D kernel
        _fail(f"{name}: raised {type(e).__name__}: {str(e)[:90]}... A conv kernel (out, in, kh, kw) must be "
              "reshaped to a matrix first: W.reshape(W.shape[0], -1).")
    print(f"{name}: matches torch.linalg.matrix_norm(ord=2) on {len(cases)} weights (conv kernels included), W untouched.")
    return True


# ---------------------------------------------------------------- exercise 3: a WGAN-GP critic step
class _TinyCritic(nn.Module):
    """(B, 3, 8, 8) -> (B,): conv, LeakyReLU, linear (no normalisation: safe for the penalty)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, 2, 1)
        self.fc = nn.Linear(4 * 4 * 4, 1)

    def forward(self, x):
        return self.fc(nn.functional.leaky_relu(self.conv(x), 0.2).flatten(1)).view(-1)


class _LinearCritic(nn.Module):
    """f(x) = <w, x> + b: its input gradient is w everywhere, so the penalty is (||w|| - 1)^2 exactly,
    whatever the interpolation weights."""

    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, 1)

    def forward(self, x):
        return self.fc(x.flatten(1)).view(-1)


def _reference_step(critic, real, fake, lam, lr, exact_gp):
    ref = copy.deepcopy(critic)
    opt = torch.optim.SGD(ref.parameters(), lr=lr)
    w_est = (ref(real).mean() - ref(fake).mean()).item()
    x = real.clone().requires_grad_(True) if exact_gp else None
    if exact_gp:                                                   # real == fake: x_hat = real for any eps
        (g,) = torch.autograd.grad(ref(x).sum(), x, create_graph=True)
        gp = ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
    else:
        gp = losses.gradient_penalty(ref, real, fake)             # linear critic: independent of eps
    loss = losses.critic_loss_wasserstein(ref(real), ref(fake)) + lam * gp
    opt.zero_grad()
    loss.backward()
    opt.step()
    return ref, w_est


def _max_diff(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def check_critic_step_gp(fn, seed: int = 0) -> bool:
    """``fn(critic, optimizer, real, fake, lam)`` must do **one** WGAN-GP critic update:

        loss = E[f(fake)] - E[f(real)] + lam * E[(||grad f(x_hat)||_2 - 1)^2],
        x_hat = eps real + (1 - eps) fake, one eps ~ U[0, 1] per sample,

    zero the old gradients, back-propagate, step, and return the critic's W1 estimate
    E[f(real)] - E[f(fake)] measured *before* the step (a float or 0-d tensor)."""
    name = "critic_step_gp"
    lam, lr = 10.0, 0.05
    try:
        # (a) linear critic, real != fake: the whole update is known exactly
        for trial in range(3):
            torch.manual_seed(seed + trial)
            critic = _LinearCritic(3 * 4 * 4)
            with torch.no_grad():
                critic.fc.weight.mul_(3.0 * trial + 0.5)          # ||w|| below and above 1
            real = torch.randn(8, 3, 4, 4) + 0.5
            fake = torch.randn(8, 3, 4, 4) - 0.5
            ref, w_want = _reference_step(critic, real, fake, lam, lr, exact_gp=False)
            opt = torch.optim.SGD(critic.parameters(), lr=lr)
            for p in critic.parameters():
                p.grad = torch.ones_like(p)                       # stale gradients from a previous step
            before = copy.deepcopy(critic)
            out = _call(fn, critic, opt, real.clone(), fake.clone(), lam)
            if out is None:
                _fail(f"{name} should return the W1 estimate E[f(real)] - E[f(fake)], got None")
            w_got = _number(name, out)
            if _max_diff(critic, before) == 0:
                _fail(f"{name}: the critic's weights did not change: call optimizer.step() after loss.backward().")
            if _max_diff(critic, ref) > 1e-5:
                # diagnose the most common slips with alternative references
                opt_sign = copy.deepcopy(before)
                o = torch.optim.SGD(opt_sign.parameters(), lr=lr)
                loss = -losses.critic_loss_wasserstein(opt_sign(real), opt_sign(fake)) + \
                    lam * losses.gradient_penalty(opt_sign, real, fake)
                o.zero_grad()
                loss.backward()
                o.step()
                if _max_diff(critic, opt_sign) < 1e-5:
                    _fail(f"{name}: the Wasserstein term has the wrong sign. The critic *maximises* "
                          "E[f(real)] - E[f(fake)], so it minimises E[f(fake)] - E[f(real)] (+ the penalty).")
                no_gp = copy.deepcopy(before)
                o = torch.optim.SGD(no_gp.parameters(), lr=lr)
                o.zero_grad()
                losses.critic_loss_wasserstein(no_gp(real), no_gp(fake)).backward()
                o.step()
                if _max_diff(critic, no_gp) < 1e-5:
                    _fail(f"{name}: the penalty has no effect on the update. Compute the input gradient with "
                          "torch.autograd.grad(..., create_graph=True) (so the penalty can be back-propagated "
                          f"to the weights) and add lam * penalty to the loss.")
                per_pixel = copy.deepcopy(before)
                o = torch.optim.SGD(per_pixel.parameters(), lr=lr)
                xh = real.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(per_pixel(xh).sum(), xh, create_graph=True)
                loss = losses.critic_loss_wasserstein(per_pixel(real), per_pixel(fake)) + \
                    lam * ((g.norm(2, dim=1) - 1) ** 2).mean()
                o.zero_grad()
                loss.backward()
                o.step()
                if _max_diff(critic, per_pixel) < 1e-5:
                    _fail(f"{name}: grads.norm(2, dim=1) on (B, C, H, W) gradients is one norm per *pixel* "
                          "(over the channels): the penalty then pushes every pixel's gradient to 1. Take one norm "
                          "per sample over all of (C, H, W): grads.flatten(1).norm(2, dim=1).")
                stale = copy.deepcopy(ref)
                with torch.no_grad():
                    for p in stale.parameters():
                        p.sub_(lr * torch.ones_like(p))
                if _max_diff(critic, stale) < 1e-5:
                    _fail(f"{name}: the gradients of the previous step were added to this one: call "
                          "optimizer.zero_grad() before loss.backward().")
                _fail(f"{name}: after your step the weights differ from the reference update (max difference "
                      f"{_max_diff(critic, ref):.2e}) on a linear critic, where the penalty is exactly "
                      "(||w|| - 1)^2. Check lam, the sign of each term and that you step once.")
            if not math.isclose(w_got, w_want, rel_tol=1e-4, abs_tol=1e-6):
                after = (critic(real).mean() - critic(fake).mean()).item()
                if math.isclose(w_got, after, rel_tol=1e-4, abs_tol=1e-6):
                    _fail(f"{name}: you returned the estimate *after* the step; return E[f(real)] - E[f(fake)] "
                          "of the critic the loss was computed with (before optimizer.step()).")
                if math.isclose(w_got, -w_want, rel_tol=1e-4, abs_tol=1e-6):
                    _fail(f"{name}: the W1 estimate has the wrong sign: E[f(real)] - E[f(fake)], real first.")
                _fail(f"{name}: returned {w_got:.5f}, expected the W1 estimate E[f(real)] - E[f(fake)] = {w_want:.5f}.")
        # (b) non-linear critic, real == fake: x_hat = real whatever eps is; tests the per-sample norm
        for trial in range(2):
            torch.manual_seed(seed + 10 + trial)
            critic = _TinyCritic()
            with torch.no_grad():
                for p in critic.parameters():
                    p.mul_(2.0 + 3 * trial)
            x = torch.randn(6, 3, 8, 8)
            ref, _ = _reference_step(critic, x, x, lam, lr, exact_gp=True)
            opt = torch.optim.SGD(critic.parameters(), lr=lr)
            _call(fn, critic, opt, x.clone(), x.clone(), lam)
            if _max_diff(critic, ref) > 1e-4:
                _fail(f"{name}: with real == fake (so x_hat = real) and a small conv critic, your update differs "
                      f"from the reference (max difference {_max_diff(critic, ref):.2e}). Is the norm taken per "
                      "sample over all of (C, H, W)? grads.flatten(1).norm(2, dim=1), not grads.norm(2, dim=1) "
                      "(that is one norm per pixel).")
        # (c) the interpolates: one eps per sample, on the segment from fake_i to real_i
        torch.manual_seed(seed + 20)
        rec = _Recorder(_TinyCritic())
        real, fake = torch.randn(6, 3, 8, 8), torch.randn(6, 3, 8, 8)
        _call(fn, rec, torch.optim.SGD(rec.parameters(), lr=lr), real.clone(), fake.clone(), lam)
        others = [t for t in rec.inputs if not (torch.equal(t, real) or torch.equal(t, fake))]
        if not others:
            _fail(f"{name}: the critic was never evaluated at interpolates x_hat = eps real + (1 - eps) fake.")
        _check_on_segments(name, real, fake, others[0], "the interpolates x_hat")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: exact on linear critics, per-sample norm on a conv critic, per-sample eps: a correct WGAN-GP step.")
    return True


# ---------------------------------------------------------------- exercise 4 (open): an estimate you can read
#: exercise 4's protocol: two pairs of 1-D samples (section 3's, and section 2's bimodal p against a
#: unimodal q), each trained on as in :func:`gan_utils.lessons.lipschitz.train_critic_1d`
CRITIC_CASES = {
    "section 3: N(-2, 0.3^2) vs N(2, 0.3^2)": (((1.0, -2.0, 0.3),), ((1.0, 2.0, 0.3),)),
    "section 2: bimodal p vs unimodal q": (((0.5, -3.0, 0.4), (0.5, 2.5, 0.6)), ((1.0, 0.5, 0.8),)),
}
#: the target, the same in smoke and default mode (both runs take seconds)
CRITIC_TARGET = dict(rel_error=0.05, max_slope=1.2, grid=(-4.5, 4.5), n=4000, seed=0)


def critic_samples(case: str = "section 3: N(-2, 0.3^2) vs N(2, 0.3^2)", n: int = 4000, seed: int = 0):
    """The real and fake samples ``(n, 1)`` of one of ``CRITIC_CASES`` (mixtures of Gaussians, seeded)."""
    g = torch.Generator().manual_seed(seed)

    def mixture(parts):
        which = torch.multinomial(torch.tensor([w for w, _, _ in parts]), n, replacement=True, generator=g)
        mu = torch.tensor([m for _, m, _ in parts])[which]
        sd = torch.tensor([s for _, _, s in parts])[which]
        return (mu + sd * torch.randn(n, generator=g)).view(-1, 1)

    p, q = CRITIC_CASES[case]
    return mixture(p), mixture(q)


def check_critic_objective(fn) -> bool:
    """``fn(f, real, fake)`` must return the loss (a 0-d tensor) that a 1-D critic ``f`` ((B, 1) -> (B,))
    minimises, with any constraint or penalty you like. The check trains section 3's critic (an MLP
    with two hidden layers of 64) on it, with WGAN-GP's Adam (1e-3, betas (0, 0.9)) for 1000 steps of
    batches of 256, the last 300 at a tenth of the rate, on two pairs of distributions
    (``CRITIC_CASES``). Target, on both: the estimate E f(real) - E f(fake) is within 5 % of the true
    W1 between the two samples, and the slope |f'(x)| stays at most 1.2 on a grid over [-4.5, 4.5]:
    an estimate you can read as W1, from a critic that is (nearly) 1-Lipschitz. The check is the
    same in smoke mode (it takes seconds)."""
    from ..lessons.lipschitz import train_critic_1d, values_and_slopes

    name = "critic_objective"
    lo, hi = CRITIC_TARGET["grid"]
    tol, max_slope = CRITIC_TARGET["rel_error"], CRITIC_TARGET["max_slope"]
    results = []
    for case in CRITIC_CASES:
        real, fake = critic_samples(case, CRITIC_TARGET["n"], CRITIC_TARGET["seed"])
        w1 = w1_empirical_cdf(real.numpy().ravel(), fake.numpy().ravel())
        try:
            f = train_critic_1d(real, fake, lambda f_, r, q: _call(fn, f_, r, q), seed=CRITIC_TARGET["seed"])
        except ValueError as e:
            _fail(f"{name}: {e}")
        except _NotAttempted:
            return _not_attempted(name)
        with torch.no_grad():
            estimate = (f(real).mean() - f(fake).mean()).item()
        _, slopes = values_and_slopes(f, torch.linspace(lo, hi, 901).view(-1, 1))
        slope = float(np.abs(slopes).max())
        rel = (estimate - w1) / w1
        where = f"{case}: estimate {estimate:.3f} against W1 = {w1:.3f} ({100 * rel:+.1f} %), max slope {slope:.3g}"
        if not (math.isfinite(estimate) and math.isfinite(slope)):
            _fail(f"{name}: the critic diverged ({where}). Is it constrained at all?")
        if estimate <= 0:
            _fail(f"{name}: the estimate E f(real) - E f(fake) is <= 0 ({where}): your loss trains the critic to "
                  "score the fakes higher. The critic *maximises* E f(real) - E f(fake): minimise its negative.")
        if slope > max_slope or rel > tol:
            _fail(f"{name}: {where}; the target is within {100 * tol:g} % of W1 with a slope of at most {max_slope:g} "
                  f"on [{lo:g}, {hi:g}]. A critic steeper than 1 is not 1-Lipschitz, and its estimate overshoots W1: "
                  "with no constraint without bound; with section 3's two-sided penalty by k = 1 + d / (2 lambda), "
                  "because (||grad f|| - 1)^2 punishes slopes below 1 as much as above. Constrain the slope where "
                  "the critic is evaluated.")
        if rel < -tol:
            _fail(f"{name}: {where}; the target is within {100 * tol:g} % of W1. The critic is flatter than it may "
                  "be: the constraint is too strict, or the critic has not learned (check its sign and scale).")
        results.append(where)
    print(f"{name}: on target for both pairs ({'; '.join(results)}; slopes at most {max_slope:g} on [{lo:g}, {hi:g}]).")
    return True
