"""The exercise checks of notebook 10 accept the reference solutions, report unsolved stubs
without failing, and reject wrong answers (so a check that passes everything cannot slip in)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_utils.exercises import nb10
from exercise_harness import load_solutions, rng_untouched_test, standard_check_tests

SOL = load_solutions("10_modern_recipes.py")
CHECKS = {
    "r1_penalty": nb10.check_r1_penalty,
    "hinge_losses": nb10.check_hinge_losses,
    "dirac_r1_eigenvalues": nb10.check_dirac_r1_eigenvalues,
    "r1_toy_settings": nb10.check_r1_toy,       # smoke-size by default: validity and a short run, not the target
}

# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)

test_checks_leave_the_global_random_stream_alone = rng_untouched_test(CHECKS, SOL)


# ---------------------------------------------------------------- wrong answers must fail
def _grads(D, real, create_graph=True):
    x = real.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=create_graph)
    return g


def _r1_no_half(D, real, gamma):
    return gamma * _grads(D, real).flatten(1).pow(2).sum(1).mean()


def _r1_norm_not_squared(D, real, gamma):
    return gamma / 2 * _grads(D, real).flatten(1).norm(dim=1).mean()


def _r1_mean_over_pixels(D, real, gamma):
    return gamma / 2 * _grads(D, real).pow(2).mean()


def _r1_detached(D, real, gamma):
    return gamma / 2 * _grads(D, real, create_graph=False).flatten(1).pow(2).sum(1).mean()


def _r1_on_fakes(D, real, gamma):
    return SOL.r1_penalty(D, torch.randn_like(real), gamma)


def _hinge_fake_sign(r, f):
    return F.relu(1 - r).mean() + F.relu(1 - f).mean(), -f.mean()


def _hinge_no_relu(r, f):
    return (1 - r).mean() + (1 + f).mean(), -f.mean()


def _hinge_g_margin(r, f):
    return F.relu(1 - r).mean() + F.relu(1 + f).mean(), F.relu(1 - f).mean()


def _hinge_g_sign(r, f):
    return F.relu(1 - r).mean() + F.relu(1 + f).mean(), f.mean()


def _eig_full_gamma(g):
    return [-g + np.sqrt(complex(g * g - 0.25)), -g - np.sqrt(complex(g * g - 0.25))]


def _eig_a_is_one(g):
    return [-g / 2 + np.sqrt(complex(g * g / 4 - 1)), -g / 2 - np.sqrt(complex(g * g / 4 - 1))]


WRONG = [
    ("r1_penalty", _r1_no_half, "gamma / 2"),
    ("r1_penalty", _r1_norm_not_squared, "squared"),
    ("r1_penalty", _r1_mean_over_pixels, "pixels"),
    ("r1_penalty", _r1_detached, "create_graph"),
    ("r1_penalty", _r1_on_fakes, "on the reals"),
    ("r1_penalty", lambda D, real, gamma: 0.0, "0-d tensor"),
    ("hinge_losses", _hinge_fake_sign, "wrong sign"),
    ("hinge_losses", _hinge_no_relu, "max(0"),
    ("hinge_losses", _hinge_g_margin, "no margin"),
    ("hinge_losses", _hinge_g_sign, "wrong sign"),
    ("hinge_losses", lambda r, f: F.relu(1 - r).mean(), "pair"),
    ("dirac_r1_eigenvalues", _eig_full_gamma, "gamma / 2"),
    ("dirac_r1_eigenvalues", _eig_a_is_one, "1/2"),
    ("dirac_r1_eigenvalues", lambda g: [0.5j, -0.5j], "R1 is missing"),
    ("dirac_r1_eigenvalues", lambda g: [-g / 2], "two eigenvalues"),
    ("r1_toy_settings", lambda: {"r1_gamma": 0.0}, "positive"),
    ("r1_toy_settings", lambda: {"r1_gamma": 1.0, "lr_d": 1e-3}, "only r1_gamma"),
    ("r1_toy_settings", lambda: {"r1_gamma": 1.0, "r1_every": 0}, "r1_every"),
    ("r1_toy_settings", lambda: 10.0, "dict"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{getattr(w, '__name__', 'lambda')}" for n, w, _ in WRONG])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"


def test_r1_toy_check_enforces_its_target_in_full_mode(monkeypatch):
    # guards against: an open exercise whose target is never checked (any settings would "pass"): a target
    # no score can meet must reject, one every score meets must accept, with the same short run
    small = {"steps": 40, "sample_every": 10, "late_from": 20}
    for k, v in small.items():
        monkeypatch.setitem(nb10.R1_TOY, k, v)
    monkeypatch.setitem(nb10.R1_TOY, "w1", 0.0)
    with pytest.raises(AssertionError, match="above the target"):
        nb10.check_r1_toy(lambda: {"r1_gamma": 1.0}, full=True)
    monkeypatch.setitem(nb10.R1_TOY, "w1", 1e9)
    assert nb10.check_r1_toy(lambda: {"r1_gamma": 1.0}, full=True) is True


def test_r1_toy_baseline_is_the_unregularised_run_and_above_the_target():
    # guards against: a target the unregularised GAN already meets (the exercise would ask for nothing), and a
    # baseline number in the message that nobody measured (this recomputes it: ~1500 steps of a tiny MLP GAN)
    t = nb10.R1_TOY
    base = nb10.toy_w1_late({}, steps=t["steps"], sample_every=t["sample_every"], late_from=t["late_from"])
    assert base == pytest.approx(t["baseline_w1"], abs=0.02)
    assert t["w1"] < base
