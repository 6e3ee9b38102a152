"""The exercise checks of notebook 14 accept the reference solutions, report unsolved stubs without failing,
and reject wrong answers, each with its own message (so a check that passes everything cannot slip in)."""
import pytest
import torch
import torch.nn.functional as F

from gan_utils.exercises import nb14
from exercise_harness import load_solutions, rng_untouched_test, standard_check_tests

SOL = load_solutions("14_improved_techniques.py")
CHECKS = {
    "feature_matching": nb14.check_feature_matching,
    "minibatch_features": nb14.check_minibatch_features,
    "unlabelled_loss": nb14.check_unlabelled_loss,
}

test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)

test_checks_leave_the_global_random_stream_alone = rng_untouched_test(CHECKS, SOL)


# ---------------------------------------------------------------- wrong answers must fail, each with its message
FM_WRONG = {
    "mean over the features": (lambda r, f: (r.mean(0) - f.mean(0)).pow(2).mean(), "mean over the features"),
    "no square": (lambda r, f: (r.mean(0) - f.mean(0)).norm(), "square is missing"),
    "L1": (lambda r, f: (r.mean(0) - f.mean(0)).abs().sum(), "L1 distance"),
    "paired samples": (lambda r, f: ((r[:f.shape[0]] - f) ** 2).sum(1).mean(), "batch means"),
    "fakes detached": (lambda r, f: (r.mean(0) - f.detach().mean(0)).pow(2).sum(), "cannot train G"),
    "per-feature vector": (lambda r, f: (r.mean(0) - f.mean(0)).pow(2), "one number"),
    "a float": (lambda r, f: float((r.mean(0) - f.mean(0)).pow(2).sum().detach()), "torch tensor"),
}


@pytest.mark.parametrize("wrong", sorted(FM_WRONG))
def test_wrong_feature_matching_fails_with_its_message(wrong):
    fn, needle = FM_WRONG[wrong]
    with pytest.raises(AssertionError, match=needle):
        nb14.check_feature_matching(fn)


def _l1(M):
    return (M[:, None] - M[None]).abs().sum(-1)


MB_WRONG = {
    "self left out": (lambda M: torch.exp(-_l1(M)).sum(1) - 1, "left out j = i"),
    "L2": (lambda M: torch.exp(-(M[:, None] - M[None]).pow(2).sum(-1).sqrt()).sum(1), "L2 distance"),
    "exp per coordinate": (lambda M: torch.exp(-(M[:, None] - M[None]).abs()).sum(1).sum(-1), "inside the exp"),
    "mean over j": (lambda M: torch.exp(-_l1(M)).mean(1), "mean over j"),
    "transposed": (lambda M: torch.exp(-_l1(M)).sum(1).t(), "shape"),
    "exp(+d)": (lambda M: torch.exp(_l1(M)).sum(1), "differs"),
}


@pytest.mark.parametrize("wrong", sorted(MB_WRONG))
def test_wrong_minibatch_features_fail_with_their_message(wrong):
    fn, needle = MB_WRONG[wrong]
    with pytest.raises(AssertionError, match=needle):
        nb14.check_minibatch_features(fn)


def _lse(x):
    return torch.logsumexp(x, 1)


UL_WRONG = {
    "log Z difference": (lambda r, f: -_lse(r).mean() + _lse(f).mean(), "Wasserstein"),
    "no fake term": (lambda r, f: -(_lse(r) - F.softplus(_lse(r))).mean(), "generated images' term is missing"),
    "fakes to real": (lambda r, f: F.softplus(-_lse(r)).mean() + F.softplus(-_lse(f)).mean(), "pushed to class K"),
    "naive exp": (lambda r, f: -torch.log(r.exp().sum(1) / (r.exp().sum(1) + 1)).mean()
                  - torch.log(1 / (f.exp().sum(1) + 1)).mean(), "overflows"),
}


@pytest.mark.parametrize("wrong", sorted(UL_WRONG))
def test_wrong_unlabelled_losses_fail_with_their_message(wrong):
    fn, needle = UL_WRONG[wrong]
    with pytest.raises(AssertionError, match=needle):
        nb14.check_unlabelled_loss(fn)
