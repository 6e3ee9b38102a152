"""Checks for the exercises of notebooks/10_modern_recipes.ipynb (references: :mod:`gan_utils.losses`,
:mod:`gan_utils.lessons.recipes` and :mod:`gan_utils.lessons.toys`; solutions in
solutions/10_modern_recipes.py).

Each ``check_*`` runs the learner's function on seeded inputs and compares what it *returns or does*
with the reference: it prints "not attempted yet" and returns ``False`` while the stub still raises
``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and prints
a confirmation and returns ``True`` on a right one.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .. import losses
from ._common import _NotAttempted, _call, _fail, _not_attempted, _number

__all__ = ["check_r1_penalty", "check_hinge_losses", "check_dirac_r1_eigenvalues", "check_r1_toy",
           "R1_TOY", "toy_w1_late"]


class _Quadratic(nn.Module):
    """D(x) = <w, x> + a * sum(x^2): input gradient w + 2 a x, different for every sample."""

    def __init__(self, n: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(n, generator=g))
        self.a = nn.Parameter(torch.tensor(0.3))

    def forward(self, x):
        x = x.flatten(1)
        return x @ self.w + self.a * x.pow(2).sum(1)


# ---------------------------------------------------------------- exercise 1: the R1 penalty
def check_r1_penalty(fn, seed: int = 0) -> bool:
    """``fn(D, real, gamma)`` must return the R1 penalty gamma / 2 * E_x ||grad_x D(x)||^2 on the real
    batch (per-sample squared norm over (C, H, W), averaged over the batch), as a 0-d tensor that
    can be back-propagated into D's parameters."""
    name = "r1_penalty"
    try:
        for trial, gamma in enumerate((1.0, 10.0, 0.2)):
            D = _Quadratic(2 * 3 * 3, seed + trial)
            real = torch.randn(6, 2, 3, 3, generator=torch.Generator().manual_seed(seed + 100 + trial))
            want = gamma / 2 * losses.r1_penalty(D, real)
            (g_want_w, g_want_a) = torch.autograd.grad(want, (D.w, D.a))
            got = _number(name, _call(fn, D, real.clone(), gamma))
            if not got.requires_grad:
                _fail(f"{name}: the penalty is not connected to D's parameters, so it cannot train D. Take the input "
                      "gradient with torch.autograd.grad(D(x).sum(), x, create_graph=True) on x = "
                      "real.detach().requires_grad_(True).")
            value, ref = float(got.detach()), float(want.detach())
            if not np.isclose(value, ref, rtol=1e-4, atol=1e-6):
                x = real.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(D(x).sum(), x)
                per_sample = g.flatten(1).pow(2).sum(1)
                hints = [
                    (gamma * per_sample.mean(), "you multiplied by gamma: R1 is gamma / 2 times the expectation"),
                    (per_sample.mean(), "the factor gamma / 2 is missing"),
                    (gamma / 2 * g.flatten(1).norm(dim=1).mean(),
                     "that is the mean gradient *norm*; R1 penalises the *squared* norm"),
                    (gamma / 2 * g.pow(2).mean(), "you averaged over the pixels too: sum the squares over (C, H, W) "
                                                  "per sample, then average over the batch"),
                    (gamma / 2 * per_sample.sum(), "you summed over the batch: average over the samples"),
                ]
                for alt, hint in hints:
                    if np.isclose(value, float(alt), rtol=1e-4, atol=1e-6):
                        _fail(f"{name}: {hint} (got {value:.6g}, expected {ref:.6g}).")
                _fail(f"{name} returned {value:.6g} for gamma = {gamma}, expected {ref:.6g} = gamma / 2 * "
                      "E ||grad_x D(x)||^2 on the reals.")
            g_w, g_a = torch.autograd.grad(got, (D.w, D.a), allow_unused=True)
            if g_w is None or g_a is None or not (torch.allclose(g_w, g_want_w, atol=1e-5)
                                                  and torch.allclose(g_a, g_want_a, atol=1e-5)):
                _fail(f"{name}: the value is right but its gradient with respect to D's parameters is not: "
                      "did you detach the input gradient? Use create_graph=True.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct: gamma / 2 * E||grad_x D(x)||^2 on the reals, differentiable into D.")
    return True


# ---------------------------------------------------------------- exercise 2: hinge losses
def check_hinge_losses(fn, seed: int = 0) -> bool:
    """``fn(real_scores, fake_scores)`` must return ``(d_loss, g_loss)`` of the hinge loss: D's
    E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] and G's -E[D(G(z))], as 0-d tensors."""
    name = "hinge_losses"
    try:
        g = torch.Generator().manual_seed(seed)
        for trial in range(3):
            real = 2 * torch.randn(32, generator=g) + (1.0 if trial == 1 else 0.0)
            fake = 2 * torch.randn(32, generator=g) - (1.0 if trial == 2 else 0.0)
            out = _call(fn, real.clone(), fake.clone())
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                _fail(f"{name} should return the pair (d_loss, g_loss), got {type(out).__name__}")
            d, gl = (float(_number(name, o).detach()) for o in out)
            d_ref = float(losses.d_loss_hinge(real, fake))
            g_ref = float(losses.g_loss_hinge(fake))
            if not np.isclose(d, d_ref, rtol=1e-5, atol=1e-6):
                relu = torch.relu
                hints = [
                    (relu(1 - real).mean() + relu(1 - fake).mean(),
                     "the fake term has the wrong sign: D wants fakes *below* -1, so penalise max(0, 1 + D(G(z)))"),
                    ((1 - real).mean() + (1 + fake).mean(),
                     "the max(0, .) is missing: without it this is the Wasserstein loss, with no margin"),
                    (relu(1 + real).mean() + relu(1 - fake).mean(), "real and fake are swapped"),
                    (relu(1 - real).sum() + relu(1 + fake).sum(), "average over the batch instead of summing"),
                ]
                for alt, hint in hints:
                    if np.isclose(d, float(alt), rtol=1e-5, atol=1e-6):
                        _fail(f"{name}: d_loss: {hint} (got {d:.5g}, expected {d_ref:.5g}).")
                _fail(f"{name}: d_loss = {d:.5g}, expected {d_ref:.5g}.")
            if not np.isclose(gl, g_ref, rtol=1e-5, atol=1e-6):
                if np.isclose(gl, float(torch.relu(1 - fake).mean()), rtol=1e-5, atol=1e-6):
                    _fail(f"{name}: g_loss: G's loss has no margin: -E[D(G(z))] (with max(0, 1 - D) G would stop "
                          "improving fakes once they score above 1).")
                if np.isclose(gl, -g_ref, rtol=1e-5, atol=1e-6):
                    _fail(f"{name}: g_loss has the wrong sign: G wants its scores *up*, so minimise -E[D(G(z))].")
                _fail(f"{name}: g_loss = {gl:.5g}, expected {g_ref:.5g}.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct (D: margins at +-1; G: -E[D(G(z))]).")
    return True


# ---------------------------------------------------------------- exercise 3: eigenvalues with R1
def check_dirac_r1_eigenvalues(fn) -> bool:
    """``fn(gamma)`` must return the two eigenvalues (complex numbers, any order) of the Jacobian of
    the R1-regularised Dirac GAN's gradient field at the equilibrium (0, 0). The check compares
    them with the eigenvalues of the Jacobian computed by autograd
    (:func:`gan_utils.lessons.recipes.dirac_jacobian`)."""
    from ..lessons import recipes

    name = "dirac_r1_eigenvalues"
    try:
        for gamma in (0.2, 0.8, 1.0, 3.0):
            out = _call(fn, gamma)
            try:
                got = np.sort_complex(np.asarray(out, dtype=np.complex128).ravel())
            except (TypeError, ValueError):
                _fail(f"{name} should return two (complex) numbers, got {out!r}")
            if got.shape != (2,):
                _fail(f"{name} should return two eigenvalues, got {got.shape[0]}")
            want = np.sort_complex(np.linalg.eigvals(recipes.dirac_jacobian("r1", gamma=gamma)))
            if not np.allclose(got, want, atol=1e-6):
                a = recipes.F_PRIME_0
                wrong = {
                    "gamma instead of gamma / 2 in the real part": [-gamma + np.sqrt(complex(gamma ** 2 - a ** 2)),
                                                                    -gamma - np.sqrt(complex(gamma ** 2 - a ** 2))],
                    "f'(0) = 1 instead of sigmoid(0) = 1/2": [-gamma / 2 + np.sqrt(complex(gamma ** 2 / 4 - 1)),
                                                              -gamma / 2 - np.sqrt(complex(gamma ** 2 / 4 - 1))],
                    "the unregularised eigenvalues (R1 is missing)": [1j * a, -1j * a],
                }
                for hint, w in wrong.items():
                    if np.allclose(got, np.sort_complex(np.asarray(w)), atol=1e-6):
                        _fail(f"{name}: for gamma = {gamma} you get {got}, which is {hint}; expected {want}.")
                _fail(f"{name}: for gamma = {gamma} got {got}, expected {want} (eigenvalues of [[0, -a], [a, -gamma]], "
                      "a = f'(0)).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct: real parts -gamma/2 < 0 for every gamma > 0, so gradient play spirals in.")
    return True


# ---------------------------------------------------------------- exercise 4: R1 on notebook 02's 1-D GAN
#: The measurable target of exercise 4: notebook 02's 1-D Gaussian GAN (section 4's settings, seed 0,
#: ``steps`` generator steps) must end with W1 between its samples and the data, averaged over the
#: snapshots from ``late_from`` on, at most ``w1``. ``baseline_w1`` is what the unregularised run
#: scores (measured with this check's own code: tests/test_exercises_nb10.py recomputes it).
R1_TOY = {"steps": 1500, "sample_every": 150, "late_from": 900, "w1": 0.2, "baseline_w1": 0.308}


def toy_w1_late(settings: dict, steps: int = 1500, sample_every: int = 150, late_from: int = 900,
                seed: int = 0, progress: bool = False) -> float:
    """Train notebook 02's 1-D Gaussian GAN (non-saturating loss, G and D MLPs of 3 x 64, latent 4,
    batch 512, data N(4, 1.25^2)) with the TrainConfig ``settings`` (e.g. ``{"r1_gamma": 1.0}``) and
    return W1(samples, data) averaged over the snapshots at steps >= ``late_from`` (the generator's
    4 000 samples against 4 000 fresh data samples)."""
    from ..lessons import toys

    g = torch.Generator().manual_seed(0)
    x = toys.gaussian_1d(20_000, generator=g)
    ref = np.sort(toys.gaussian_1d(4000, generator=torch.Generator().manual_seed(1)).numpy().ravel())
    with torch.random.fork_rng(devices=[]):            # leave the notebook's random stream alone
        run = toys.train_toy("bce-ns", x, steps=steps, hidden=64, depth=3, latent_dim=4, batch_size=512,
                             n_samples=4000, sample_every=sample_every, x_grid=np.linspace(-1, 9, 101),
                             standardise=False, seed=seed, progress=progress, **settings)
    w1 = [float(np.abs(np.sort(s["samples"].numpy().ravel()) - ref).mean())
          for s in run.snapshots if s["step"] >= late_from]
    return float(np.mean(w1))


def check_r1_toy(fn, full: bool = False, steps: int = 60, progress: bool = False) -> bool:
    """``fn()`` must return TrainConfig settings with an R1 penalty for notebook 02's 1-D Gaussian GAN,
    e.g. ``{"r1_gamma": 1.0}`` (optionally ``"r1_every"``). With ``full=True`` (the notebook's default
    mode) the check trains it for :data:`R1_TOY`'s steps and requires the late W1 at most
    ``R1_TOY["w1"]``; with ``full=False`` (smoke mode) it checks the settings and that ``steps``
    steps train, and prints the score."""
    name = "r1_toy"
    try:
        settings = _call(fn)
    except _NotAttempted:
        return _not_attempted(name)
    if not isinstance(settings, dict):
        _fail(f"{name} should return a dict of TrainConfig settings such as {{'r1_gamma': 1.0}}, got {settings!r}")
    extra = set(settings) - {"r1_gamma", "r1_every"}
    if extra:
        _fail(f"{name}: only r1_gamma and r1_every may change (the rest of notebook 02's recipe stays), got {sorted(extra)}")
    gamma = settings.get("r1_gamma")
    if not isinstance(gamma, (int, float)) or isinstance(gamma, bool) or not gamma > 0:
        _fail(f"{name}: set 'r1_gamma' to a positive number (the R1 strength), got {gamma!r}")
    every = settings.get("r1_every", 1)
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        _fail(f"{name}: 'r1_every' must be a whole number >= 1, got {every!r}")
    t = R1_TOY
    if not full:
        score = toy_w1_late(settings, steps=steps, sample_every=max(1, steps // 4), late_from=steps // 2,
                            progress=progress)
        print(f"{name}: valid, and it trains (late W1 = {score:.3f} after {steps} steps; smoke mode: the target is "
              "checked only in the full run).")
        return True
    score = toy_w1_late(settings, steps=t["steps"], sample_every=t["sample_every"], late_from=t["late_from"],
                        progress=progress)
    said = f"late W1 = {score:.3f} with {settings} (no R1: {t['baseline_w1']})"
    if score > t["w1"]:
        _fail(f"{name}: {said}, above the target {t['w1']}. Section 2: how large must gamma be for the eigenvalues "
              "to move well left of the imaginary axis?")
    print(f"{name}: target reached ({said} <= {t['w1']}).")
    return True
