"""The exercise checks of notebook 03 accept the reference solutions, report unsolved stubs
without failing, and reject wrong answers (so a check that passes everything cannot slip in)."""

import pytest
import torch
import torch.nn.functional as F

from gan_utils.exercises import nb03
from exercise_harness import load_solutions, rng_untouched_test, standard_check_tests

SOL = load_solutions("03_mlp_gan.py")
CHECKS = {
    "d_step": nb03.check_d_step,
    "g_step": nb03.check_g_step,
    "mlp_param_count": nb03.check_mlp_param_count,
    "tuned_settings": nb03.check_tuning,         # smoke-size by default: validity and a short run, not the target
}


# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)


test_checks_leave_the_global_random_stream_alone = rng_untouched_test(CHECKS, SOL, ["d_step", "g_step", "tuned_settings"])


# ---------------------------------------------------------------- wrong answers must fail
def _bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def _d_no_detach(D, real, fake, opt):
    loss = _bce(D(real), 1) + _bce(D(fake), 0)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach()


def _d_no_zero_grad(D, real, fake, opt):
    loss = _bce(D(real), 1) + _bce(D(fake.detach()), 0)
    loss.backward()
    opt.step()
    return loss.detach()


def _d_swapped(D, real, fake, opt):
    loss = _bce(D(real), 0) + _bce(D(fake.detach()), 1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach()


def _d_no_step(D, real, fake, opt):
    return _bce(D(real), 1) + _bce(D(fake.detach()), 0)


def _d_real_only(D, real, fake, opt):
    loss = _bce(D(real), 1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach()


def _d_wrong_return(D, real, fake, opt):
    SOL.d_step(D, real, fake, opt)
    return 0.0


def _g_saturating(D, fake, opt):
    loss = -F.softplus(D(fake)).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach()


def _g_target0(D, fake, opt):
    loss = _bce(D(fake), 0)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach()


def _g_no_zero_grad(D, fake, opt):
    loss = _bce(D(fake), 1)
    loss.backward()
    opt.step()
    return loss.detach()


def _g_detached(D, fake, opt):
    loss = _bce(D(fake.detach()), 1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach()


def _g_steps_d_too(D, fake, opt):
    loss = SOL.g_step(D, fake, opt)
    with torch.no_grad():
        for p in D.parameters():
            p.sub_(0.1 * p.grad)
    return loss


def _count_no_bias(i, h, d, o):
    sizes = [i] + [h] * d + [o]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _count_depth_off_by_one(i, h, d, o):
    return SOL.mlp_param_count(i, h, d - 1, o)


WRONG = [
    ("d_step", _d_no_detach, "detach"),
    ("d_step", _d_no_zero_grad, "zero_grad"),
    ("d_step", _d_swapped, "swapped"),
    ("d_step", _d_no_step, "did not change"),
    ("d_step", _d_real_only, "differ from the reference"),
    ("d_step", _d_wrong_return, "returned"),
    ("g_step", _g_saturating, "saturating"),
    ("g_step", _g_target0, "target 0"),
    ("g_step", _g_no_zero_grad, "zero_grad"),
    ("g_step", _g_detached, "did not change"),
    ("g_step", _g_steps_d_too, "D's parameters changed"),
    ("mlp_param_count", _count_no_bias, "bias"),
    ("mlp_param_count", _count_depth_off_by_one, "hidden layers"),
    ("mlp_param_count", lambda i, h, d, o: i * h, "expected"),
    ("tuned_settings", lambda: {"lr_g": 1e-3, "steps": 20_000}, "budget"),
    ("tuned_settings", lambda: {"loss": "wgan-gp"}, "budget"),
    ("tuned_settings", lambda: {"lr_d": 0.0}, "positive learning rate"),
    ("tuned_settings", lambda: {"betas_g": (0.5,)}, "pair"),
    ("tuned_settings", lambda: 2e-4, "dict"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{getattr(w, '__name__', 'lambda')}" for n, w, _ in WRONG])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"


def test_tuning_check_enforces_its_target_in_full_mode(monkeypatch):
    # guards against: an open exercise whose target is never checked (any settings would "pass"). A target
    # no score can meet must reject, one every score meets must accept, with the same short run.
    small = dict(steps=4, g_hidden=16, d_hidden=8, n=128)
    monkeypatch.setitem(nb03.TUNING_TARGET, "steps", small["steps"])
    monkeypatch.setitem(nb03.TUNING_TARGET, "n", small["n"])
    monkeypatch.setitem(nb03.TUNING_TARGET, "fd", 0.0)
    with pytest.raises(AssertionError, match="above the target"):
        nb03.check_tuning(lambda: {}, full=True, **small)
    monkeypatch.setitem(nb03.TUNING_TARGET, "fd", 1e9)
    assert nb03.check_tuning(lambda: {}, full=True, **small) is True


def test_tuning_check_refuses_a_full_run_with_another_budget():
    # guards against: "reaching" the target with more steps than the target was set for
    with pytest.raises(AssertionError, match="holds for"):
        nb03.check_tuning(lambda: {}, steps=3, n=64, full=True)


def test_tuning_target_was_set_below_the_recipe_of_section_4():
    # guards against: a target the unchanged recipe already meets (the exercise would ask for nothing)
    t = nb03.TUNING_TARGET
    assert t["fd"] is not None and t["fd"] < t["recipe_fd"]
