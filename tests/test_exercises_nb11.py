"""The exercise checks of notebook 11 accept the reference solutions, report unsolved stubs without
failing, and reject wrong answers, each with its own message (so a check that passes everything cannot
slip in)."""
import random

import pytest
import torch

from gan_utils.exercises import nb11
from exercise_harness import load_solutions, rng_untouched_test, standard_check_tests

SOL = load_solutions("11_image_to_image.py")
CHECKS = {
    "receptive_field": nb11.check_receptive_field,
    "cycle_losses": nb11.check_cycle_losses,
    "make_pool": nb11.check_image_pool,
}

# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)

test_checks_leave_the_global_random_stream_alone = rng_untouched_test(CHECKS, SOL)


# ---------------------------------------------------------------- wrong answers must fail
def _rf_no_strides(layers):
    return 1 + sum(k - 1 for k, _ in layers)


def _rf_product(layers):
    out = 1
    for k, _ in layers:
        out *= k
    return out


def _rf_stride_too_early(layers):
    r, jump = 1, 1
    for k, s in layers:
        jump *= s
        r += (k - 1) * jump
    return r


def _cyc_forward_only(a, b, G_ab, G_ba, lam, lam_id):
    return lam * (G_ba(G_ab(a)) - a).abs().mean() + lam_id * lam * ((G_ab(b) - b).abs().mean() + (G_ba(a) - a).abs().mean())


def _cyc_squared(a, b, G_ab, G_ba, lam, lam_id):
    return lam * (((G_ba(G_ab(a)) - a) ** 2).mean() + ((G_ab(G_ba(b)) - b) ** 2).mean()) + \
        lam_id * lam * ((G_ab(b) - b).abs().mean() + (G_ba(a) - a).abs().mean())


def _cyc_identity_unscaled(a, b, G_ab, G_ba, lam, lam_id):
    return lam * ((G_ba(G_ab(a)) - a).abs().mean() + (G_ab(G_ba(b)) - b).abs().mean()) + \
        lam_id * ((G_ab(b) - b).abs().mean() + (G_ba(a) - a).abs().mean())


def _cyc_identity_swapped(a, b, G_ab, G_ba, lam, lam_id):
    return lam * ((G_ba(G_ab(a)) - a).abs().mean() + (G_ab(G_ba(b)) - b).abs().mean()) + \
        lam_id * lam * ((G_ab(a) - a).abs().mean() + (G_ba(b) - b).abs().mean())


def _cyc_detached(a, b, G_ab, G_ba, lam, lam_id):
    return SOL.cycle_losses(a, b, G_ab, G_ba, lam, lam_id).detach()


class _AlwaysSwap(SOL.Pool):
    def __call__(self, images):
        if self.size == 0 or len(self.images) < self.size:
            return super().__call__(images)
        out = []
        for img in images:
            k = int(torch.randint(self.size, ()))
            out.append(self.images[k])
            self.images[k] = img.clone()
        return torch.stack(out)


class _NeverStoresAfterFull(SOL.Pool):
    def __call__(self, images):
        if self.size == 0 or len(self.images) < self.size:
            return super().__call__(images)
        out = []
        for img in images:
            out.append(self.images[int(torch.randint(self.size, ()))] if torch.rand(()) < 0.5 else img)
        return torch.stack(out)


class _NoPassThrough(SOL.Pool):
    def __call__(self, images):
        if self.size == 0:
            return images * 0
        return super().__call__(images)


class _RandomWhileFilling(SOL.Pool):
    def __call__(self, images):
        if len(self.images) < self.size:
            self.images += [i.clone() for i in images]
            return images.flip(0)
        return super().__call__(images)


WRONG = [
    ("receptive_field", _rf_no_strides, "ignores the strides"),
    ("receptive_field", _rf_product, "multiplied the kernel sizes"),
    ("receptive_field", _rf_stride_too_early, "own stride"),
    ("receptive_field", lambda layers: 70.5, "whole number"),
    ("cycle_losses", _cyc_forward_only, "backward cycle"),
    ("cycle_losses", _cyc_squared, "squared errors"),
    ("cycle_losses", _cyc_identity_unscaled, "lambda_identity * lambda_cycle"),
    ("cycle_losses", _cyc_identity_swapped, "its own input domain"),
    ("cycle_losses", _cyc_detached, "detached"),
    ("make_pool", lambda size: _AlwaysSwap(size), "swapped 100%"),
    ("make_pool", lambda size: _NeverStoresAfterFull(size), "already handed out"),
    ("make_pool", lambda size: _NoPassThrough(size), "size 0"),
    ("make_pool", lambda size: _RandomWhileFilling(size), "not full"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{getattr(w, '__name__', 'lambda')}" for n, w, _ in WRONG])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"


def test_pool_check_accepts_pythons_random_too():
    # guards against: a check that only accepts one source of randomness (the notebook says either is fine)
    class PyPool(SOL.Pool):
        def __call__(self, images):
            if self.size == 0:
                return images
            out = []
            for img in images:
                if len(self.images) < self.size:
                    self.images.append(img.clone())
                    out.append(img)
                elif random.random() < 0.5:
                    k = random.randrange(self.size)
                    out.append(self.images[k])
                    self.images[k] = img.clone()
                else:
                    out.append(img)
            return torch.stack(out)

    assert nb11.check_image_pool(lambda size: PyPool(size)) is True
