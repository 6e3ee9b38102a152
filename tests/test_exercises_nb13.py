"""The exercise checks of notebook 13 accept the reference solutions, report unsolved stubs without
failing, and reject wrong answers, each with its own message."""
import pytest
import torch
import torch.nn.functional as F

from exercise_harness import load_solutions, rng_untouched_test, standard_check_tests
from gan_utils.exercises import nb13

SOL = load_solutions("13_sequence_gans.py")
CHECKS = {
    "reinforce_loss": nb13.check_reinforce_loss,
    "gumbel_softmax_sample": nb13.check_gumbel_softmax_sample,
    "straight_through": nb13.check_straight_through,
}

# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)

test_checks_leave_the_global_random_stream_alone = rng_untouched_test(CHECKS, SOL)


def _gumbel(u):
    return -torch.log(-torch.log(u))


WRONG = [
    ("reinforce_loss", lambda lp, r: (lp * r.detach()).sum(1).mean(), "sign is wrong"),
    ("reinforce_loss", lambda lp, r: -(lp * r.detach()).mean(), "averaged over the T positions"),
    ("reinforce_loss", lambda lp, r: -(lp * r.detach()).sum(), "summed over the sequences"),
    ("reinforce_loss", lambda lp, r: -(lp.exp() * r.detach()).sum(1).mean(), "probabilities"),
    ("reinforce_loss", lambda lp, r: -(lp.sum(1) * r.detach().sum(1)).mean(), "its own reward"),
    ("reinforce_loss", lambda lp, r: -(lp * r).sum(1).mean(), "rewards.detach()"),
    ("reinforce_loss", lambda lp, r: -(lp.detach() * r.detach()).sum(1).mean(), "not connected"),
    ("reinforce_loss", lambda lp, r: 0.5, "0-d tensor"),
    ("gumbel_softmax_sample", lambda l, u, t: torch.softmax((l - torch.log(u)) / t, -1), "two logs"),
    ("gumbel_softmax_sample", lambda l, u, t: torch.softmax((l - _gumbel(u)) / t, -1), "wrong sign"),
    ("gumbel_softmax_sample", lambda l, u, t: torch.softmax(l / t + _gumbel(u), -1), "perturbed"),
    ("gumbel_softmax_sample", lambda l, u, t: torch.softmax((l + _gumbel(u)) * t, -1), "do not multiply"),
    ("gumbel_softmax_sample", lambda l, u, t: torch.softmax((l + _gumbel(u)) / t, 0), "dim=-1"),
    ("gumbel_softmax_sample", lambda l, u, t: (l + _gumbel(u))[:1], "shape"),
    ("straight_through", lambda y: y, "soft sample itself"),
    ("straight_through", lambda y: F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype), "no gradient"),
    ("straight_through", lambda y: F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) + y, "not the one-hot rows"),
    ("straight_through", lambda y: F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) - y.detach() + 2 * y,
     "not the one-hot rows"),
    ("straight_through", lambda y: F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) - (y * y).detach() + y * y,
     "gradient is not that of y_soft"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"
