"""The exercise checks of notebook 01 accept the reference solutions, report unsolved stubs
without failing, and reject wrong answers (so a check that passes everything cannot slip in)."""

import numpy as np
import pytest

from gan_utils.exercises import nb01
from exercise_harness import load_solutions, standard_check_tests

SOL = load_solutions("01_minimax.py")
CHECKS = {
    "optimal_discriminator": nb01.check_optimal_discriminator,
    "jsd": nb01.check_jsd,
    "generator_logit_grads": nb01.check_generator_logit_grads,
}


# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)


def test_not_implemented_raised_deep_inside_still_counts_as_not_attempted(capsys):
    # a partly written stub that calls a helper which is still a stub
    def helper():
        raise NotImplementedError

    assert nb01.check_jsd(lambda p, q, dx: helper()) is False


# ---------------------------------------------------------------- wrong answers must fail
def _d_swapped(p_data, p_g):
    p_data, p_g = np.asarray(p_data), np.asarray(p_g)
    return SOL.optimal_discriminator(p_g, p_data)  # 1 - D*


def _d_nan_where_both_zero(p_data, p_g):
    with np.errstate(all="ignore"):
        return np.asarray(p_data) / (np.asarray(p_data) + np.asarray(p_g))


def _d_half_everywhere(p_data, p_g):
    return np.full(np.shape(p_data), 0.5)


def _jsd_bits(p, q, dx):
    return SOL.jsd(p, q, dx) / np.log(2)


def _jsd_no_halves(p, q, dx):
    return 2 * SOL.jsd(p, q, dx)


def _jsd_kl(p, q, dx):
    with np.errstate(all="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    return float(np.sum(terms) * dx)


def _jsd_nan_at_zero(p, q, dx):
    m = 0.5 * (p + q)
    with np.errstate(all="ignore"):
        return 0.5 * np.sum(p * np.log(p / m)) * dx + 0.5 * np.sum(q * np.log(q / m)) * dx


def _jsd_no_dx(p, q, dx):
    return SOL.jsd(p, q, dx) / dx


def _grads_wrong_sign(l):
    s, ns = SOL.generator_logit_grads(l)
    return -s, -ns


def _grads_swapped(l):
    s, ns = SOL.generator_logit_grads(l)
    return ns, s


def _grads_batch_mean(l):
    s, ns = SOL.generator_logit_grads(l)
    return s / len(l), ns / len(l)


def _grads_wrt_d(l):
    d = 1 / (1 + np.exp(-np.asarray(l)))
    return -1 / (1 - d), -1 / d


WRONG = [
    ("optimal_discriminator", _d_swapped, "1 - D*"),
    ("optimal_discriminator", _d_nan_where_both_zero, "both densities are 0"),
    ("optimal_discriminator", _d_half_everywhere, "wrong value"),
    ("jsd", _jsd_bits, "bits"),
    ("jsd", _jsd_no_halves, "halves"),
    ("jsd", _jsd_kl, "KL(p||q)"),
    ("jsd", _jsd_nan_at_zero, "nan"),
    ("jsd", _jsd_no_dx, "dx"),
    ("generator_logit_grads", _grads_wrong_sign, "sign"),
    ("generator_logit_grads", _grads_swapped, "gradient"),
    ("generator_logit_grads", _grads_batch_mean, "batch size"),
    ("generator_logit_grads", _grads_wrt_d, "with respect to D"),
    ("generator_logit_grads", lambda l: -1 / (1 + np.exp(-l)), "pair"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{w.__name__}" for n, w, _ in WRONG])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"
