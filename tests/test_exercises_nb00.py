"""The exercise checks of notebook 00 accept the reference solutions, report unsolved stubs
without failing, and reject wrong answers (so a check that passes everything cannot slip in)."""

import pytest
import torch

from gan_utils.exercises import nb00
from exercise_harness import load_solutions, rng_untouched_test, standard_check_tests

SOL = load_solutions("00_setup.py")
CHECKS = {
    "to_tanh_range": nb00.check_to_tanh_range,
    "to_display": nb00.check_to_display,
    "epoch_batches": nb00.check_epoch_batches,
}


# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)


test_checks_leave_the_global_random_stream_alone = rng_untouched_test(CHECKS, SOL)


# ---------------------------------------------------------------- wrong answers must fail
def _scale_then_clear_input(x):
    out = x.float() / 127.5 - 1
    x.zero_()          # e.g. reusing the input buffer as scratch space
    return out


WRONG_TANH = {
    "zero to one (x / 255)": (lambda x: x.float() / 255, "[0, 1]"),
    "forgot to subtract 1": (lambda x: x.float() / 127.5, "[0, 2]"),
    "integer division": (lambda x: x // 127 - 1, "dtype"),
    "in place on the input": (lambda x: _scale_then_clear_input(x), "in place"),
    "flattened": (lambda x: (x.float() / 127.5 - 1).flatten(1), "shape"),
    "off by half a level": (lambda x: (x.float() + 0.5) / 128 - 1, "expected [-1, 1]"),
}


@pytest.mark.parametrize("bug", sorted(WRONG_TANH))
def test_wrong_tanh_range_fails_with_its_message(bug):
    fn, message = WRONG_TANH[bug]
    with pytest.raises(AssertionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        nb00.check_to_tanh_range(fn)


WRONG_DISPLAY = {
    "no clamp": (lambda x: (x + 1) / 2, "not clamped"),
    "clamp without shift": (lambda x: x.clamp(0, 1), "without shifting"),
    "in place": (lambda x: x.add_(1).div_(2).clamp_(0, 1), "in place"),
    "wrong scale": (lambda x: (x + 1).clamp(0, 1), "wrong values"),
}


@pytest.mark.parametrize("bug", sorted(WRONG_DISPLAY))
def test_wrong_display_fails_with_its_message(bug):
    fn, message = WRONG_DISPLAY[bug]
    with pytest.raises(AssertionError, match=message):
        nb00.check_to_display(fn)


def _in_order(n, bs, seed, epoch):
    return [torch.arange(i * bs, (i + 1) * bs) for i in range(n // bs)]


def _same_every_epoch(n, bs, seed, epoch):
    return SOL.epoch_batches(n, bs, seed, 0)


def _ignores_seed(n, bs, seed, epoch):
    return SOL.epoch_batches(n, bs, 0, epoch)


def _with_replacement(n, bs, seed, epoch):
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    return [torch.randint(0, n, (bs,), generator=g) for _ in range(n // bs)]


def _keeps_last_partial_batch(n, bs, seed, epoch):
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    return list(torch.randperm(n, generator=g).split(bs))


def _global_stream(n, bs, seed, epoch):
    torch.manual_seed(seed * 1000 + epoch)
    perm = torch.randperm(n)
    return [perm[i * bs:(i + 1) * bs] for i in range(n // bs)]


def _unseeded(n, bs, seed, epoch):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(torch.seed() % 2**31))
    return [perm[i * bs:(i + 1) * bs] for i in range(n // bs)]


WRONG_BATCHES = {
    "not shuffled": (_in_order, "not shuffled"),
    "same order every epoch": (_same_every_epoch, "same order"),
    "seed ignored": (_ignores_seed, "seed is ignored"),
    "sampling with replacement": (_with_replacement, "appears twice"),
    "partial last batch kept": (_keeps_last_partial_batch, "incomplete last batch"),
    "global stream consumed": (_global_stream, "global random stream"),
    "not reproducible": (_unseeded, "different batches"),
}


@pytest.mark.parametrize("bug", sorted(WRONG_BATCHES))
def test_wrong_epoch_batches_fails_with_its_message(bug):
    fn, message = WRONG_BATCHES[bug]
    rng_state = torch.get_rng_state()
    try:
        with pytest.raises(AssertionError, match=message):
            nb00.check_epoch_batches(fn)
    finally:
        torch.set_rng_state(rng_state)
