"""Checks for the exercises of notebooks/02_toy_gans.ipynb (references in :mod:`gan_utils.lessons.toys` and
:mod:`gan_utils.metrics`; solutions in solutions/02_toy_gans.py).

Each ``check_*`` runs the learner's function on seeded random inputs and compares what it
*returns* with the reference: it prints "not attempted yet" and returns ``False`` while the stub
still raises ``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong
answer, and prints a confirmation and returns ``True`` on a right one.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from ..lessons import toys
from ..metrics import mode_coverage
from ..models import MLPDiscriminator

__all__ = ["check_kde", "check_mode_coverage", "check_critic_field", "check_recipe", "RECIPE_TARGET"]


from ._common import _NotAttempted, _as_array, _call, _fail, _not_attempted  # noqa: F401  (shared check helpers)


# ---------------------------------------------------------------- exercise 1: KDE
def check_kde(fn, n_trials: int = 8, seed: int = 0) -> bool:
    """``fn(samples, x, bandwidth)`` must return the Gaussian kernel density estimate
    p_hat(x) = 1/n sum_i N(x; samples_i, bandwidth^2) at every point of ``x`` (1-D numpy arrays)."""
    name = "kde"
    rng = np.random.default_rng(seed)
    try:
        for _ in range(n_trials):
            n = int(rng.integers(20, 400))
            samples = np.concatenate([rng.normal(rng.uniform(-3, 3), rng.uniform(0.2, 1.5), n // 2),
                                      rng.normal(rng.uniform(-3, 3), rng.uniform(0.2, 1.5), n - n // 2)])
            x = np.linspace(-10, 10, int(rng.integers(50, 300)))
            h = float(rng.uniform(0.1, 0.8))
            got = _as_array(name, _call(fn, samples.copy(), x.copy(), h), x.shape)
            want = toys.kde_1d(samples, x, h)
            if np.allclose(got, want, rtol=1e-6, atol=1e-9):
                continue
            if np.allclose(got, want * n, rtol=1e-6, atol=1e-9):
                _fail(f"{name}: your estimate integrates to n = {n}, not 1: average the kernels "
                      "(divide the sum by the number of samples).")
            if np.allclose(got, want * h, rtol=1e-6, atol=1e-9):
                _fail(f"{name}: your estimate integrates to the bandwidth h, not 1: a Gaussian kernel of "
                      "width h is exp(-((x - x_i) / h)^2 / 2) / (h sqrt(2 pi)); divide by h too.")
            if np.allclose(got, toys.kde_1d(samples, x, h * h), rtol=1e-6, atol=1e-9) or \
                    np.allclose(got, toys.kde_1d(samples, x, math.sqrt(h)), rtol=1e-6, atol=1e-9):
                _fail(f"{name}: the bandwidth is the kernel's standard deviation, not its variance.")
            dx = x[1] - x[0]
            mass = float(got.sum() * dx)
            _fail(f"{name}: wrong values (bandwidth {h:.3g}, {n} samples): at x = {x[np.argmax(want)]:.3g} "
                  f"expected {want.max():.6g}, got {got[np.argmax(want)]:.6g}; your estimate has mass "
                  f"{mass:.4g} on [-10, 10] (should be about 1). Recall p_hat(x) = 1/n sum_i "
                  "exp(-((x - x_i) / h)^2 / 2) / (h sqrt(2 pi)).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct on {n_trials} random sample sets and bandwidths.")
    return True


# ---------------------------------------------------------------- exercise 2: mode coverage
def _coverage_cases(rng):
    """Sample sets that tell the rules apart: clean mixtures, stragglers below the 0.8 % share,
    points just inside and just outside 3 std, and a sample set with no high-quality point."""
    cases = []
    for k, spacing, std in ((8, None, 0.02), (25, 2.0, 0.05), (4, 3.0, 0.1)):
        if spacing is None:
            ang = np.arange(k) * 2 * np.pi / k
            centers = 2.0 * np.stack([np.cos(ang), np.sin(ang)], 1)
        else:
            side = int(round(math.sqrt(k)))
            t = (np.arange(side) - (side - 1) / 2) * spacing
            centers = np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
        n = 2000
        # a few modes get most samples, one gets stragglers (below the share), noise everywhere
        w = rng.dirichlet(np.ones(k) * 0.5)
        w[rng.integers(k)] = 0.0
        w /= w.sum()
        idx = rng.choice(k, n, p=w)
        pts = centers[idx] + rng.normal(0, std * rng.uniform(0.5, 2.0), (n, 2))
        straggler = int(np.argmin(w))
        pts[:3] = centers[straggler] + rng.normal(0, std * 0.5, (3, 2))            # 3 < 0.8 % of HQ
        ring = rng.uniform(0, 2 * np.pi, 10)
        pts[3:13] = centers[idx[3:13]] + 3.0 * std * 0.999 * np.stack([np.cos(ring), np.sin(ring)], 1)  # just inside
        pts[13:23] = centers[idx[13:23]] + 3.0 * std * 1.001 * np.stack([np.cos(ring), np.sin(ring)], 1)  # outside
        pts[-200:] = rng.uniform(centers.min() - 1, centers.max() + 1, (200, 2))
        cases.append((pts, centers, std))
    far = rng.uniform(10, 20, (50, 2))                                             # nothing near any mode
    cases.append((far, cases[0][1], 0.02))
    exact = np.repeat(cases[1][1], 4, axis=0)                                      # all exactly on the centres
    cases.append((exact, cases[1][1], 0.05))
    return cases


def check_mode_coverage(fn, seed: int = 1) -> bool:
    """``fn(samples, centers, std)`` (numpy arrays ``(N, 2)``, ``(K, 2)`` and a float) must return
    ``(modes_covered, high_quality_fraction)`` by the default rule (``"hq-share"``) of
    :func:`gan_utils.metrics.mode_coverage`:
    a sample is high quality when within 3 std of its nearest centre; a mode is covered when it
    holds at least 0.8 % of the high-quality samples (and at least one)."""
    name = "mode_coverage"
    rng = np.random.default_rng(seed)
    try:
        for pts, centers, std in _coverage_cases(rng):
            out = _call(fn, pts.copy(), centers.copy(), float(std))
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                _fail(f"{name} should return a pair (modes_covered, high_quality_fraction), got {out!r}")
            try:
                modes, hq = int(out[0]), float(out[1])
            except (TypeError, ValueError):
                raise AssertionError(f"{name} should return (int, float), got {out!r}") from None
            want = mode_coverage(pts, centers, std)
            if abs(hq - want.high_quality) > 1e-9:
                if abs(hq - want.high_quality * 100) < 1e-6:
                    _fail(f"{name}: return the high-quality share as a fraction in [0, 1], not a percentage.")
                d = np.sqrt(((pts[:, None, :] - centers[None]) ** 2).sum(-1)).min(1)
                if abs(hq - float((d <= std).mean())) < 1e-9:
                    _fail(f"{name}: high quality means within **3** standard deviations of the nearest "
                          "centre, not 1.")
                _fail(f"{name}: high-quality fraction {hq:.4f}, expected {want.high_quality:.4f} "
                      f"({len(pts)} samples, std {std}). Use the Euclidean distance to the *nearest* "
                      "centre, compared with 3 * std, and divide by the number of *all* samples.")
            if modes != want.modes_covered:
                counted_any = int((np.asarray(want.counts) > 0).sum())
                if modes == counted_any and counted_any != want.modes_covered:
                    _fail(f"{name}: you count a mode as covered as soon as one high-quality sample lands on it "
                          f"({modes}): that is VEEGAN's rule (rule='veegan'). This exercise asks for the course's "
                          f"rule, at least 0.8 % of the high-quality samples (expected {want.modes_covered}), "
                          "so that a few stragglers do not make a covered mode.")
                _fail(f"{name}: {modes} modes covered, expected {want.modes_covered} of {len(centers)} "
                      f"(per-mode high-quality counts: {want.counts}). A mode is covered when its count "
                      "is at least max(1, 0.008 * number of high-quality samples).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: agrees with gan_utils.metrics.mode_coverage on ring, grid and edge cases "
          "(stragglers, 3-std borders, no high-quality sample).")
    return True


# ---------------------------------------------------------------- exercise 3: the critic field
class _Tilted(nn.Module):
    """A 'critic' whose value tells x from y: f(x, y) = a x + b y^2 + c x y (a != b)."""

    def __init__(self, a, b, c):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([a, b, c], dtype=torch.float32))

    def forward(self, p):
        x, y = p[:, 0], p[:, 1]
        return self.w[0] * x + self.w[1] * y ** 2 + self.w[2] * x * y  # (B,)


def reference_critic_field(D, lim: float, res: int) -> np.ndarray:
    """``Z[i, j] = D((xs[j], xs[i]))`` with ``xs = np.linspace(-lim, lim, res)``: row i is y, column j
    is x, as ``plt.contourf(xs, xs, Z)`` and ``imshow(Z, origin="lower")`` expect."""
    points, _ = toys.grid_points_2d(lim, res)
    with torch.no_grad():
        return D(points).double().numpy().reshape(res, res)


def check_critic_field(fn, seed: int = 2) -> bool:
    """``fn(D, lim, res)`` must evaluate the 2-D discriminator/critic ``D`` (a module mapping
    ``(B, 2)`` float tensors to ``(B,)`` scores) on the ``res x res`` grid over ``[-lim, lim]^2`` and
    return a ``(res, res)`` array with ``Z[i, j] = D(x=xs[j], y=xs[i])``, ``xs = linspace(-lim, lim, res)``."""
    name = "critic_field"
    rng = np.random.default_rng(seed)
    cases = [(_Tilted(*rng.uniform(0.5, 2.0, 3)), float(rng.uniform(1, 5)), int(r)) for r in (7, 20, 33)]
    torch.manual_seed(seed)
    mlp = MLPDiscriminator((2,), 16, 2)
    cases.append((mlp, 3.0, 25))
    try:
        for D, lim, res in cases:
            out = _call(fn, D, lim, res)
            if isinstance(out, torch.Tensor) and out.requires_grad:
                out = out.detach()
            got = _as_array(name, out)
            want = reference_critic_field(D, lim, res)
            if got.shape != want.shape:
                if got.size == want.size:
                    _fail(f"{name}: returned shape {got.shape}; reshape the scores to (res, res) = {want.shape}.")
                _fail(f"{name}: returned shape {got.shape}, expected (res, res) = {want.shape}.")
            if np.allclose(got, want, rtol=1e-5, atol=1e-5):
                continue
            if np.allclose(got, want.T, rtol=1e-5, atol=1e-5):
                _fail(f"{name}: your field is transposed: Z[i, j] must hold D at x = xs[j], y = xs[i] "
                      "(rows are y, as contourf(xs, xs, Z) draws them). np.meshgrid(xs, xs) with its default "
                      "indexing='xy' gives exactly that layout; indexing='ij' gives the transpose.")
            if np.allclose(got, np.flipud(want), rtol=1e-5, atol=1e-5):
                _fail(f"{name}: your field is upside down: row 0 must be y = -lim (the bottom of the plot).")
            _fail(f"{name}: wrong values on a {res}x{res} grid over [-{lim:.3g}, {lim:.3g}]^2: "
                  f"Z[0, -1] (x = +lim, y = -lim) should be {want[0, -1]:.5g}, got {got[0, -1]:.5g}.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct layout and values on {len(cases)} critics and grid sizes.")
    return True


# ---------------------------------------------------------------- exercise 4 (open): a recipe against a target
#: Exercise 4's target: what the non-saturating GAN's EMA generator must reach on ``data`` in the notebook's
#: full run (its networks, batch and number of generator steps), measured with the default rule of
#: :func:`gan_utils.metrics.mode_coverage`: the target section 8 asserts for WGAN-GP on the same data. With its
#: published recipe the non-saturating GAN ended at 20/25 modes and 34.8 % high quality in the course's run
#: (2-core CPU, seed 0); the reference solution (solutions/02_toy_gans.py) at 25/25 and 91.1 %.
RECIPE_TARGET = {"data": "grid25", "modes": 23, "high_quality": 0.70,
                 "steps": 6000, "hidden": 128, "depth": 3, "n_samples": 2500}   # the budget of section 5
#: What a recipe may change: the optimisers, the number of D steps, the EMA and a learning-rate decay. The
#: loss (non-saturating), the networks, the batch and the number of generator steps are fixed.
RECIPE_KEYS = {"lr_g", "lr_d", "betas_g", "betas_d", "n_critic", "ema_decay", "lr_decay"}
_FIXED = {"loss", "steps", "batch_size", "hidden", "depth", "latent_dim", "n_samples", "seed", "data"}


def _validate_recipe(name: str, recipe) -> dict:
    if not isinstance(recipe, dict):
        _fail(f"{name}: return a dict of settings, e.g. {{'lr_g': 1e-4, 'lr_d': 1e-4}}, got {type(recipe).__name__}")
    if "loss" in recipe:
        _fail(f"{name}: the exercise is about the non-saturating GAN: keep loss='bce-ns' (drop the 'loss' key). "
              "Swapping in WGAN-GP is section 5's experiment, not this one.")
    fixed = sorted(set(recipe) & _FIXED)
    if fixed:
        _fail(f"{name}: {fixed} are part of the budget, which is fixed (same networks, batch and generator steps "
              f"as section 5). Change only {sorted(RECIPE_KEYS)}.")
    unknown = sorted(set(recipe) - RECIPE_KEYS)
    if unknown:
        _fail(f"{name}: unknown setting(s) {unknown}; a recipe may set {sorted(RECIPE_KEYS)}.")
    for key in ("lr_g", "lr_d"):
        if key in recipe:
            v = recipe[key]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not (0 < v < 1):
                _fail(f"{name}: {key} must be a positive learning rate below 1, got {v!r}")
    for key in ("betas_g", "betas_d"):
        if key in recipe:
            b = recipe[key]
            if not (isinstance(b, (tuple, list)) and len(b) == 2 and all(isinstance(x, (int, float)) and 0 <= x < 1 for x in b)):
                _fail(f"{name}: {key} must be a pair (beta1, beta2) with 0 <= beta < 1, got {b!r}")
    if "n_critic" in recipe and (not isinstance(recipe["n_critic"], int) or not 1 <= recipe["n_critic"] <= 5):
        _fail(f"{name}: n_critic must be an integer from 1 to 5 (the WGANs of section 5 take 5), got {recipe['n_critic']!r}")
    if "ema_decay" in recipe and not (isinstance(recipe["ema_decay"], (int, float)) and 0 <= recipe["ema_decay"] < 1):
        _fail(f"{name}: ema_decay must be in [0, 1), got {recipe['ema_decay']!r}")
    if "lr_decay" in recipe and not isinstance(recipe["lr_decay"], bool):
        _fail(f"{name}: lr_decay is True or False, got {recipe['lr_decay']!r}")
    return dict(recipe)


def check_recipe(fn, steps: int = 30, hidden: int = 32, depth: int = 2, n_samples: int = 500,
                 full: bool = False, seed: int = 0, progress: bool = False) -> bool:
    """``fn()`` must return a dict of settings (keys in :data:`RECIPE_KEYS`) for the non-saturating GAN of
    notebook 02, section 5. The check trains that GAN on :data:`RECIPE_TARGET`'s data set with the given
    budget (``steps`` generator steps, ``hidden`` x ``depth`` MLPs, batch 256, ``n_samples`` scored samples).

    With ``full=True`` (the notebook's default mode) the EMA generator must reach the target: at least
    ``RECIPE_TARGET["modes"]`` modes covered and ``RECIPE_TARGET["high_quality"]`` high-quality samples. With
    ``full=False`` (smoke mode: a budget far too small for any recipe to reach it) it checks only that the
    recipe is valid and trains (finite losses, the settings in effect) and prints what the short run reached.
    """
    name = "recipe"
    try:
        recipe = _call(fn)
    except _NotAttempted:
        return _not_attempted(name)
    recipe = _validate_recipe(name, recipe)
    budget = {"steps": steps, "hidden": hidden, "depth": depth, "n_samples": n_samples}
    if full and any(RECIPE_TARGET[k] != v for k, v in budget.items()):
        _fail(f"{name}: the target holds for section 5's budget "
              f"{ {k: RECIPE_TARGET[k] for k in budget} }, got {budget}")
    from ..train import NonFiniteLossError

    data_name = RECIPE_TARGET["data"]
    x, centers, std = toys.toy_data(data_name, 50_000, seed=seed)
    kw = {k: (tuple(v) if k.startswith("betas") else v) for k, v in recipe.items()}
    with torch.random.fork_rng(devices=[]):              # leave the notebook's random stream alone
        try:
            run = toys.train_toy("bce-ns", x, centers=centers, std=std, data_name=data_name, steps=steps,
                                 hidden=hidden, depth=depth, latent_dim=2, batch_size=256, n_samples=n_samples,
                                 sample_every=max(1, steps // 10), res=12, seed=seed, progress=progress, **kw)
        except NonFiniteLossError as e:
            _fail(f"{name}: training diverged with this recipe ({e}). Lower the learning rates.")
    cfg = run.config
    for key, value in kw.items():
        if key != "lr_decay" and cfg.get(key) != value:
            _fail(f"{name}: the run did not use {key}={value!r} (it used {cfg.get(key)!r})")
    if not all(math.isfinite(v) for v in run.history["loss_D"] + run.history["loss_G"]):
        _fail(f"{name}: the losses are not finite with this recipe. Lower the learning rates.")
    ema, raw = run.final_ema, run.final
    said = (f"{data_name}, {steps} generator steps of the non-saturating GAN with {recipe or 'the default recipe'}: "
            f"EMA generator {ema}, raw generator {raw}")
    target = f"{RECIPE_TARGET['modes']}/{ema.n_modes} modes and {RECIPE_TARGET['high_quality']:.0%} high quality"
    if not full:
        print(f"{name}: valid, and it trains ({said}). Smoke mode: the target ({target}) is checked only in the "
              "full run, with section 5's budget.")
        return True
    if ema.modes_covered < RECIPE_TARGET["modes"] or ema.high_quality < RECIPE_TARGET["high_quality"]:
        _fail(f"{name}: below the target ({target}): {said}. Look at where the samples are: few modes covered "
              "means the generator hops or collapses (is D too strong for it?); many modes but few high-quality "
              "samples means it is blurry (do its learning rates and Adam's memory suit a target that keeps moving? "
              "does the EMA average generators that sit on different modes?).")
    print(f"{name}: target reached ({target}): {said}.")
    return True
