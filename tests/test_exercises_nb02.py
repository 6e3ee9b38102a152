"""The exercise checks of notebook 02 accept the reference solutions, report unsolved stubs
without failing, and reject wrong answers (so a check that passes everything cannot slip in)."""
import math

import numpy as np
import pytest
import torch

from gan_utils.exercises import nb02
from exercise_harness import load_solutions, standard_check_tests

SOL = load_solutions("02_toy_gans.py")
CHECKS = {
    "kde": nb02.check_kde,
    "mode_coverage": nb02.check_mode_coverage,
    "critic_field": nb02.check_critic_field,
    "ns_gan_recipe": nb02.check_recipe,          # smoke-size by default: validity and a short run, not the target
}


# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)


# ---------------------------------------------------------------- wrong answers must fail
def _kde_sum(samples, x, h):
    return SOL.kde(samples, x, h) * len(np.ravel(samples))          # forgot to average


def _kde_no_h(samples, x, h):
    return SOL.kde(samples, x, h) * h                               # kernel not divided by h


def _kde_variance(samples, x, h):
    return SOL.kde(samples, x, math.sqrt(h))                        # h used as a variance


def _kde_one_sample(samples, x, h):
    return SOL.kde(np.ravel(samples)[:1], x, h)


def _cov_any_sample(samples, centers, std):
    x, c = np.asarray(samples), np.asarray(centers)
    d = np.sqrt(((x[:, None] - c[None]) ** 2).sum(-1))
    hq = d.min(1) <= 3 * std
    return int(len(np.unique(d.argmin(1)[hq]))), float(hq.mean())   # one sample = covered


def _cov_one_std(samples, centers, std):
    return SOL.mode_coverage(samples, centers, std / 3)             # within 1 std


def _cov_percent(samples, centers, std):
    m, hq = SOL.mode_coverage(samples, centers, std)
    return m, 100 * hq


def _cov_hq_over_hq(samples, centers, std):
    m, hq = SOL.mode_coverage(samples, centers, std)
    return m, 1.0 if hq > 0 else 0.0                                # fraction of the wrong total


def _field_ij(D, lim, res):
    xs = np.linspace(-lim, lim, res)
    gx, gy = np.meshgrid(xs, xs, indexing="ij")                     # transposed layout
    pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    with torch.no_grad():
        return D(pts).numpy().reshape(res, res)


def _field_flipped(D, lim, res):
    return np.flipud(SOL.critic_field(D, lim, res))


def _field_flat(D, lim, res):
    return SOL.critic_field(D, lim, res).ravel()


def _field_wrong_range(D, lim, res):
    return SOL.critic_field(D, 1.0, res)


WRONG = [
    ("kde", _kde_sum, "divide the sum by the number of samples"),
    ("kde", _kde_no_h, "divide by h"),
    ("kde", _kde_variance, "not its variance"),
    ("kde", _kde_one_sample, "wrong values"),
    ("mode_coverage", _cov_any_sample, "0.8 %"),
    ("mode_coverage", _cov_one_std, "**3** standard deviations"),
    ("mode_coverage", _cov_percent, "not a percentage"),
    ("mode_coverage", _cov_hq_over_hq, "all* samples"),
    ("mode_coverage", lambda s, c, std: 3, "pair"),
    ("critic_field", _field_ij, "transposed"),
    ("critic_field", _field_flipped, "upside down"),
    ("critic_field", _field_flat, "reshape"),
    ("critic_field", _field_wrong_range, "wrong values"),
    ("ns_gan_recipe", lambda: {"loss": "wgan-gp"}, "non-saturating"),
    ("ns_gan_recipe", lambda: {"lr_g": 1e-3, "steps": 20_000}, "budget"),
    ("ns_gan_recipe", lambda: {"hidden": 512}, "budget"),
    ("ns_gan_recipe", lambda: {"lr_g": -1e-3}, "positive learning rate"),
    ("ns_gan_recipe", lambda: [("lr_g", 1e-3)], "dict"),
    ("ns_gan_recipe", lambda: {"momentum": 0.9}, "unknown setting"),
    ("ns_gan_recipe", lambda: {"n_critic": 10}, "n_critic"),
    ("ns_gan_recipe", lambda: {"betas_g": 0.5}, "pair"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{getattr(w, '__name__', 'lambda')}" for n, w, _ in WRONG])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"


def test_recipe_check_enforces_the_target_in_full_mode(monkeypatch):
    # guards against: an open exercise whose target is never checked (any recipe would "pass"). The
    # published recipe, 20 steps of tiny networks: far below the target, so full mode must reject it,
    # while smoke mode (the same run) only reports it.
    small = dict(steps=20, hidden=16, depth=2, n_samples=300)
    for key, value in small.items():
        monkeypatch.setitem(nb02.RECIPE_TARGET, key, value)
    with pytest.raises(AssertionError, match="below the target"):
        nb02.check_recipe(lambda: {}, full=True, **small)
    assert nb02.check_recipe(lambda: {}, full=False, **small) is True


def test_recipe_check_refuses_a_full_run_with_another_budget():
    # guards against: "reaching" the target with more steps or bigger networks than it was set for
    with pytest.raises(AssertionError, match="budget"):
        nb02.check_recipe(lambda: {}, steps=12_000, hidden=128, depth=3, n_samples=2500, full=True)


def test_recipe_check_trains_with_the_recipe_it_was_given(capsys):
    # guards against: a check that validates the recipe but trains with the defaults
    nb02.check_recipe(lambda: {"lr_g": 3e-4, "betas_d": [0.5, 0.9]}, steps=10, hidden=16, depth=2, n_samples=200)
    out = capsys.readouterr().out
    assert "'lr_g': 0.0003" in out and "valid, and it trains" in out
