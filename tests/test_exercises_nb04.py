"""The exercise checks of notebook 04 accept the reference solutions, report unsolved stubs
without failing, and reject wrong answers (so a check that passes everything cannot slip in)."""

import pytest
import torch

from gan_utils.exercises import nb04
from exercise_harness import load_solutions, standard_check_tests

SOL = load_solutions("04_dcgan.py")
CHECKS = {
    "conv_output_size": nb04.check_conv_output_size,
    "slerp": nb04.check_slerp,
    "ema_update": nb04.check_ema_update,
}


# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)


# ---------------------------------------------------------------- wrong answers must fail
def _size_swapped(size, k, s, p, transposed=False):
    return SOL.conv_output_size(size, k, s, p, not transposed)


def _size_true_division(size, k, s, p, transposed=False):
    return SOL.conv_output_size(size, k, s, p, transposed) if transposed else (size + 2 * p - k) / s + 1


def _size_no_padding(size, k, s, p, transposed=False):
    return SOL.conv_output_size(size, k, s, 0, transposed)


def _slerp_is_lerp(z0, z1, t):
    return (1 - t) * z0 + t * z1


def _slerp_nan_when_parallel(z0, z1, t):
    omega = torch.arccos((z0 @ z1 / (z0.norm() * z1.norm())).clamp(-1, 1))
    return torch.sin((1 - t) * omega) / torch.sin(omega) * z0 + torch.sin(t * omega) / torch.sin(omega) * z1


def _slerp_backwards(z0, z1, t):
    return SOL.slerp(z0, z1, 1 - t)


def _slerp_unit_vectors(z0, z1, t):
    return SOL.slerp(z0 / z0.norm(), z1 / z1.norm(), t)


@torch.no_grad()
def _ema_swapped(ema, model, decay):
    SOL.ema_update(ema, model, 1 - decay)


@torch.no_grad()
def _ema_no_buffers(ema, model, decay):
    for e, p in zip(ema.parameters(), model.parameters()):
        e.mul_(decay).add_(p, alpha=1 - decay)


def _ema_new_model(ema, model, decay):
    import copy
    new = copy.deepcopy(ema)
    SOL.ema_update(new, model, decay)
    return new


def _ema_not_in_no_grad(ema, model, decay):
    for e, p in zip(ema.parameters(), model.parameters()):
        e.mul_(decay).add_(p, alpha=1 - decay)


@torch.no_grad()
def _ema_moves_model(ema, model, decay):
    SOL.ema_update(ema, model, decay)
    for p in model.parameters():
        p.mul_(0.5)


WRONG = [
    ("conv_output_size", _size_swapped, "other layer"),
    ("conv_output_size", _size_true_division, "round down"),
    ("conv_output_size", _size_no_padding, "expected"),
    ("slerp", _slerp_is_lerp, "linear interpolation"),
    ("slerp", _slerp_nan_when_parallel, "nan"),
    ("slerp", _slerp_backwards, "backwards"),
    ("slerp", _slerp_unit_vectors, "wrong result"),
    ("ema_update", _ema_swapped, "swapped"),
    ("ema_update", _ema_no_buffers, "running_mean"),
    ("ema_update", _ema_new_model, "in place"),
    ("ema_update", _ema_not_in_no_grad, "no_grad"),
    ("ema_update", _ema_moves_model, "trained model changed"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{w.__name__}" for n, w, _ in WRONG])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"
