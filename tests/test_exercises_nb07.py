"""The exercise checks of notebook 07 accept the reference solutions, report unsolved stubs
without failing, and reject wrong answers (so a check that passes everything cannot slip in)."""

import numpy as np
import pytest
import torch

from gan_utils.exercises import nb07
from exercise_harness import load_solutions, standard_check_tests

SOL = load_solutions("07_wgan.py")
CHECKS = {
    "w1_from_samples": nb07.check_w1_from_samples,
    "spectral_norm": nb07.check_spectral_norm,
    "critic_step_gp": nb07.check_critic_step_gp,
    "critic_objective": nb07.check_critic_objective,
}


# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)


def test_library_gradient_penalty_inside_the_step_is_accepted():
    # gan_utils.losses.gradient_penalty is a correct penalty: a step built on it must pass
    from gan_utils import losses

    def step(critic, opt, real, fake, lam):
        w = critic(real).mean() - critic(fake).mean()
        loss = -w + lam * losses.gradient_penalty(critic, real, fake)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return w

    assert nb07.check_critic_step_gp(step) is True


# ---------------------------------------------------------------- wrong answers must fail
def _w1_unsorted(x, y):
    return float(np.mean(np.abs(np.asarray(x) - np.asarray(y))))


def _w1_means(x, y):
    return abs(float(np.mean(x) - np.mean(y)))


def _w1_w2(x, y):
    return float(np.sqrt(np.mean((np.sort(x) - np.sort(y)) ** 2)))


def _w1_sum(x, y):
    return float(np.sum(np.abs(np.sort(x) - np.sort(y))))


def _sn_frobenius(W, n_iters):
    return float(W.flatten(1).norm())


def _sn_squared(W, n_iters):
    return SOL.spectral_norm(W, n_iters) ** 2


def _sn_max_abs(W, n_iters):
    return float(W.abs().max())


def _sn_no_reshape(W, n_iters):
    v = torch.randn(W.shape[-1])
    for _ in range(n_iters):
        v = W.permute(*reversed(range(W.dim()))) @ (W @ v)   # W.T, which a 4-D kernel does not have
        v = v / v.norm()
    return float((W @ v).norm())


def _sn_in_place(W, n_iters):
    s = SOL.spectral_norm(W, n_iters)
    W.div_(s)                                           # normalises the layer's own weight
    return s


def _gp_variant(sign=1.0, penalty=True, zero_grad=True, per_pixel=False, pixel_eps=False, create_graph=True,
                after=False):
    def step(critic, opt, real, fake, lam=10.0):
        w = critic(real).mean() - critic(fake).mean()
        shape = real.shape if pixel_eps else (real.shape[0], 1, 1, 1)
        eps = torch.rand(shape)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
        norms = g.norm(2, dim=1) if per_pixel else g.flatten(1).norm(2, dim=1)
        gp = ((norms - 1) ** 2).mean()
        loss = -sign * w + (lam * gp if penalty else 0.0)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
        if after:
            return (critic(real).mean() - critic(fake).mean()).item()
        return w.item()
    return step


# exercise 4 (open, measured): section 3's soft penalty overshoots, no constraint is not Lipschitz,
# nor is a critic forced to the number W1 = 4 of section 3, a sign error scores the fakes higher
def _objective_gp(lam):
    from gan_utils import losses

    return lambda f, real, fake: f(fake).mean() - f(real).mean() + lam * losses.gradient_penalty(f, real, fake)


def _objective_unconstrained(f, real, fake):
    return f(fake).mean() - f(real).mean()


def _objective_hit_the_number(f, real, fake):
    return (f(real).mean() - f(fake).mean() - 4.0) ** 2


def _objective_wrong_sign(f, real, fake):
    return SOL.critic_objective(f, fake, real)            # real and fake swapped


WRONG = [
    ("critic_objective", _objective_gp(10.0), "two-sided penalty"),
    ("critic_objective", _objective_unconstrained, "1-Lipschitz"),
    ("critic_objective", _objective_hit_the_number, "1-Lipschitz"),
    ("critic_objective", _objective_wrong_sign, "<= 0"),
    ("w1_from_samples", _w1_unsorted, "sorted order"),
    ("w1_from_samples", _w1_means, "lower bound"),
    ("w1_from_samples", _w1_w2, "W2"),
    ("w1_from_samples", _w1_sum, "mean"),
    ("spectral_norm", _sn_frobenius, "Frobenius"),
    ("spectral_norm", _sn_squared, "sigma^2"),
    ("spectral_norm", _sn_max_abs, "largest |w|"),
    ("spectral_norm", _sn_no_reshape, "reshape"),
    ("spectral_norm", _sn_in_place, "in place"),
    ("critic_step_gp", _gp_variant(sign=-1.0), "wrong sign"),
    ("critic_step_gp", _gp_variant(penalty=False), "penalty has no effect"),
    ("critic_step_gp", _gp_variant(create_graph=False), "create_graph=True"),
    ("critic_step_gp", _gp_variant(zero_grad=False), "zero_grad"),
    ("critic_step_gp", _gp_variant(per_pixel=True), "per *pixel*"),
    ("critic_step_gp", _gp_variant(pixel_eps=True), "one eps"),
    ("critic_step_gp", _gp_variant(after=True), "after"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"
