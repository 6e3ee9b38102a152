"""The exercise checks of notebook 09 accept the reference solutions, report unsolved stubs without
failing, and reject wrong answers (so a check that passes everything cannot slip in)."""

import math

import pytest
import torch
import torch.nn.functional as F

from gan_utils.exercises import nb09
from exercise_harness import load_solutions, rng_untouched_test, standard_check_tests

SOL = load_solutions("09_conditional.py")
CHECKS = {
    "projection_logits": nb09.check_projection_logits,
    "truncated_normal": nb09.check_truncated_normal,
    "acgan_losses": nb09.check_acgan_losses,
}

# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)

test_checks_leave_the_global_random_stream_alone = rng_untouched_test(CHECKS, SOL)


# ---------------------------------------------------------------- wrong answers must fail
def _proj_no_projection(phi, y, w, b, V):
    return phi @ w + b


def _proj_off_by_one(phi, y, w, b, V):
    return phi @ w + b + (V[y - 1] * phi).sum(1)


def _proj_all_classes(phi, y, w, b, V):
    return phi @ w + b + phi @ V.sum(0)


def _proj_column(phi, y, w, b, V):
    return SOL.projection_logits(phi, y, w, b, V)[:, None]


def _proj_added_embedding(phi, y, w, b, V):
    return phi @ w + b + V[y].sum(1)


def _tn_clamp(n, dim, t, g):
    return torch.randn(n, dim, generator=g).clamp(-t, t)


def _tn_uniform(n, dim, t, g):
    return (torch.rand(n, dim, generator=g) * 2 - 1) * t


def _tn_fmod(n, dim, t, g):
    return torch.fmod(torch.randn(n, dim, generator=g), t)


def _tn_global_rng(n, dim, t, g):
    return SOL.truncated_normal(n, dim, t, None)


def _tn_scaled(n, dim, t, g):
    z = torch.randn(n, dim, generator=g)
    return z * (t / z.abs().max()) if math.isfinite(t) else z


def _ac_no_fake_class_term(sr, sf, cr, cf, yr, yf):
    d, g = SOL.acgan_losses(sr, sf, cr, cf, yr, yf)
    return d - F.cross_entropy(cf, yf), g


def _ac_g_without_class(sr, sf, cr, cf, yr, yf):
    d, g = SOL.acgan_losses(sr, sf, cr, cf, yr, yf)
    return d, g - F.cross_entropy(cf, yf)


def _ac_g_wrong_sign(sr, sf, cr, cf, yr, yf):
    d, g = SOL.acgan_losses(sr, sf, cr, cf, yr, yf)
    return d, g - 2 * F.cross_entropy(cf, yf)


def _ac_plain_gan(sr, sf, cr, cf, yr, yf):
    d, g = SOL.acgan_losses(sr, sf, cr, cf, yr, yf)
    return d - F.cross_entropy(cr, yr) - F.cross_entropy(cf, yf), g


def _ac_swapped(sr, sf, cr, cf, yr, yf):
    _, g = SOL.acgan_losses(sr, sf, cr, cf, yr, yf)
    d = (F.binary_cross_entropy_with_logits(sr, torch.zeros_like(sr)) + F.binary_cross_entropy_with_logits(sf, torch.ones_like(sf))
         + F.cross_entropy(cr, yr) + F.cross_entropy(cf, yf))
    return d, g


WRONG = [
    ("projection_logits", _proj_no_projection, "unconditional logit"),
    ("projection_logits", _proj_off_by_one, "off by one"),
    ("projection_logits", _proj_all_classes, "all classes"),
    ("projection_logits", _proj_column, "(B,), not (B, 1)"),
    ("projection_logits", _proj_added_embedding, "inner product"),
    ("truncated_normal", _tn_clamp, "clamping"),
    ("truncated_normal", _tn_uniform, "uniform"),
    ("truncated_normal", _tn_fmod, "variance"),
    ("truncated_normal", _tn_global_rng, "generator"),
    ("truncated_normal", _tn_scaled, "variance"),
    ("acgan_losses", _ac_no_fake_class_term, "class term on the fakes"),
    ("acgan_losses", _ac_g_without_class, "lacks the class term"),
    ("acgan_losses", _ac_g_wrong_sign, "wrong sign"),
    ("acgan_losses", _ac_plain_gan, "plain GAN loss"),
    ("acgan_losses", _ac_swapped, "swapped"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{w.__name__}" for n, w, _ in WRONG])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"


def test_truncated_variance_formula_matches_a_large_sample():
    # guards against: the check's own target variance being wrong (every right answer would fail)
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0))
    for t in (0.5, 1.0, 2.0):
        assert abs(z[z.abs() <= t].var().item() - nb09.truncated_variance(t)) < 2e-3
