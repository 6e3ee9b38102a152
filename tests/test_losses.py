"""Loss functions: each test names the bug it guards against."""
import math

import pytest
import torch
import torch.nn as nn

from gan_utils.losses import (clip_weights, critic_loss_wasserstein, d_loss_bce, g_loss_nonsaturating,
                              g_loss_saturating, g_loss_wasserstein, gradient_penalty)


def test_d_loss_bce_equals_minus_value_function():
    real, fake = torch.randn(64), torch.randn(64)
    v = torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(d_loss_bce(real, fake), -v, atol=1e-6)


def test_bce_losses_are_stable_for_extreme_logits():
    """log(sigmoid(l)) underflows to -inf for l << 0; the logit form must stay finite."""
    l = torch.tensor([-200.0, 200.0])
    for val in (d_loss_bce(l, l), g_loss_saturating(l), g_loss_nonsaturating(l)):
        assert torch.isfinite(val)


def test_saturating_vs_nonsaturating_gradient_when_D_rejects_fakes():
    """At D(G(z)) ~ 0 the saturating loss gives almost no gradient; the NS loss gives ~1."""
    l = torch.full((16,), -8.0, requires_grad=True)  # D(G(z)) = sigmoid(-8) ~ 3e-4
    (g_sat,) = torch.autograd.grad(g_loss_saturating(l), l)
    (g_ns,) = torch.autograd.grad(g_loss_nonsaturating(l), l)
    assert g_ns.abs().mean() / g_sat.abs().mean() > 1000


def test_wrong_G_loss_sign_or_target():
    """G must push D(G(z)) up: every G loss decreases when the fake logits increase."""
    lo, hi = torch.full((8,), -1.0), torch.full((8,), 1.0)
    for loss in (g_loss_saturating, g_loss_nonsaturating, g_loss_wasserstein):
        assert loss(hi) < loss(lo), loss.__name__
    # and D's losses decrease when real scores go up
    assert d_loss_bce(hi, lo) < d_loss_bce(lo, lo)
    assert critic_loss_wasserstein(hi, lo) < critic_loss_wasserstein(lo, lo)


def test_label_logit_shape_mismatch_is_refused():
    """(B, 1) logits against (B,) targets broadcast to (B, B) in MSE-style code: refuse them."""
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        d_loss_bce(torch.randn(8, 1), torch.randn(8))
    with pytest.raises(ValueError):
        g_loss_nonsaturating(torch.randn(8, 1))


class _LinearCritic(nn.Module):
    """f(x) = <w, x>: its gradient is w for every sample, so ||grad|| = ||w|| exactly."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) * self.w.flatten()).sum(1)


def test_gradient_penalty_uses_the_per_sample_norm_not_per_pixel():
    shape = (3, 8, 8)
    w = torch.randn(shape)
    critic = _LinearCritic(w)
    real, fake = torch.randn(4, *shape), torch.randn(4, *shape)
    gp = gradient_penalty(critic, real, fake)
    expected = (w.norm() - 1) ** 2                     # per sample: ||w|| over C*H*W
    per_pixel = ((w.abs() - 1) ** 2).mean()            # the bug: norm of each pixel
    assert torch.allclose(gp, expected, rtol=1e-5)
    assert not torch.allclose(gp, per_pixel, rtol=1e-2)


def test_gradient_penalty_is_differentiable_create_graph():
    """Without create_graph=True the penalty has no gradient w.r.t. the critic's weights."""
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))
    gp = gradient_penalty(critic, torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2))
    gp.backward()
    assert critic[1].weight.grad is not None and critic[1].weight.grad.abs().sum() > 0


def test_gradient_penalty_one_epsilon_per_sample():
    """eps must be drawn per sample (B, 1, 1, 1), not per pixel: interpolates lie on the segment."""
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(x.detach())
            return x.flatten(1).sum(1)

    real, fake = torch.zeros(6, 2, 4, 4), torch.ones(6, 2, 4, 4)
    gradient_penalty(Spy(), real, fake)
    x_hat = seen[0]
    # with real=0 and fake=1, x_hat = 1 - eps: constant within each sample
    assert torch.allclose(x_hat, x_hat[:, :1, :1, :1].expand_as(x_hat))
    assert x_hat[:, 0, 0, 0].unique().numel() == 6


def test_clip_weights_bounds_every_parameter():
    m = nn.Linear(10, 10)
    with torch.no_grad():
        m.weight.mul_(100)
    clip_weights(m, 0.01)
    assert all(p.abs().max() <= 0.01 for p in m.parameters())


def test_bce_value_at_equilibrium_is_log4():
    """At D = 1/2 everywhere (logit 0) the D loss is 2 log 2 = log 4, i.e. V = -log 4."""
    z = torch.zeros(10)
    assert math.isclose(d_loss_bce(z, z).item(), math.log(4), rel_tol=1e-6)


# ---------------------------------------------------------------- hinge, LSGAN, R1 (notebook 10)
from gan_utils.losses import (LOSSES, d_loss_hinge, d_loss_lsgan, g_loss_hinge, g_loss_lsgan,  # noqa: E402
                              r1_penalty)


def test_hinge_with_the_wrong_sign_for_fakes():
    # guards against: relu(1 - D(G(z))) for the fakes (the real term copied), which rewards D for scoring
    # fakes *high*. Reals above +1 and fakes below -1 cost nothing; a fake at +1 costs 2.
    assert d_loss_hinge(torch.full((4,), 2.0), torch.full((4,), -2.0)).item() == 0.0
    assert d_loss_hinge(torch.full((4,), 2.0), torch.full((4,), 1.0)).item() == pytest.approx(2.0)
    fake = torch.zeros(4, requires_grad=True)
    d_loss_hinge(torch.full((4,), 2.0), fake).backward()
    assert torch.all(fake.grad > 0), "descending L_D must push the fake scores down"


def test_hinge_margin_gives_no_gradient_beyond_it():
    # guards against: a plain Wasserstein loss mislabelled hinge (no relu): D would keep pushing
    # scores it already separates by the margin
    real = torch.tensor([0.5, 3.0], requires_grad=True)
    fake = torch.tensor([-0.5, -3.0], requires_grad=True)
    d_loss_hinge(real, fake).backward()
    assert real.grad[1] == 0 and fake.grad[1] == 0 and real.grad[0] < 0 and fake.grad[0] > 0


def test_hinge_generator_loss_has_no_margin():
    # guards against: relu(1 - D(G(z))) as G's loss, which stops training G once its fakes score above 1
    fake = torch.full((4,), 5.0, requires_grad=True)
    g_loss_hinge(fake).backward()
    assert torch.allclose(fake.grad, torch.full((4,), -0.25))


def test_lsgan_targets_are_not_swapped():
    # guards against: reals regressed to 0 and fakes to 1 (or G aiming at the fake label 0)
    assert d_loss_lsgan(torch.ones(4), torch.zeros(4)).item() == 0.0
    assert d_loss_lsgan(torch.zeros(4), torch.ones(4)).item() == pytest.approx(1.0)   # 1/2 + 1/2
    assert g_loss_lsgan(torch.ones(4)).item() == 0.0
    assert g_loss_lsgan(torch.zeros(4)).item() == pytest.approx(0.5)


def test_new_losses_are_registered_with_raw_scores():
    # guards against: hinge/LSGAN scores logged through a sigmoid as if they were logits
    for name in ("hinge", "lsgan"):
        assert LOSSES[name].scores == "score" and not LOSSES[name].critic and LOSSES[name].penalty is None


def test_r1_penalty_matches_its_formula_on_a_linear_critic():
    w = torch.randn(1, 4, 4)
    D = _LinearCritic(w.clone())
    real = torch.randn(8, 1, 4, 4)
    assert r1_penalty(D, real).item() == pytest.approx(w.pow(2).sum().item(), rel=1e-5)   # ||grad|| = ||w||


def test_r1_computed_on_detached_reals_would_not_train_D():
    # guards against: an R1 without create_graph (or on a detached gradient): the penalty would be a
    # constant for the optimiser. d(||w||^2)/dw = 2w must reach D's parameters.
    w = torch.randn(1, 3, 3)
    D = _LinearCritic(w.clone())
    r1_penalty(D, torch.randn(5, 1, 3, 3)).backward()
    assert torch.allclose(D.w.grad, 2 * w, atol=1e-5)


class _SquareCritic(nn.Module):
    """f(x) = a * sum(x^2): its input gradient is 2 a x, so R1 = 4 a^2 E||x||^2 depends on *which* batch."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        return self.a * x.flatten(1).pow(2).sum(1)


def test_r1_in_the_D_step_is_computed_on_the_reals_not_on_the_fakes():
    # guards against: R1 on G(z) (or on interpolates): the penalty must see the real batch
    from gan_utils.train import TrainConfig, d_step

    D = _SquareCritic()
    real, fake = torch.full((4, 1, 2, 2), 2.0), torch.full((4, 1, 2, 2), 0.5)
    cfg = TrainConfig(loss="wgan-sn", r1_gamma=2.0, grad_norms=False)
    out = d_step(D, real, fake, torch.optim.SGD(D.parameters(), lr=0.0), cfg, d_iter=0)
    expected = 2.0 / 2 * (2 * 0.5) ** 2 * real[0].pow(2).sum().item()      # gamma/2 * E||2 a x||^2 on the reals
    assert out["r1_term"].item() == pytest.approx(expected)


def test_lazy_r1_not_scaled_by_its_interval():
    # guards against: lazy R1 applied every k-th step with weight gamma/2 instead of k * gamma/2 (the
    # regulariser would be k times weaker than asked), or applied on the other steps too
    from gan_utils.train import TrainConfig, d_step

    real, fake = torch.full((4, 1, 2, 2), 1.5), torch.zeros(4, 1, 2, 2)
    cfg = TrainConfig(loss="wgan-sn", r1_gamma=1.0, r1_every=4, grad_norms=False)
    D = _SquareCritic()
    one = r1_penalty(D, real).item()
    terms = [d_step(D, real, fake, torch.optim.SGD(D.parameters(), lr=0.0), cfg, d_iter=i)["r1_term"].item()
             for i in range(8)]
    assert terms[0] == pytest.approx(4 * 0.5 * one) and terms[4] == pytest.approx(4 * 0.5 * one)
    assert all(t == 0 for i, t in enumerate(terms) if i % 4)
    with pytest.raises(Exception, match="d_iter"):
        d_step(D, real, fake, torch.optim.SGD(D.parameters(), lr=0.0), cfg)   # lazy without a step index


def test_lazy_r1_changes_D_like_the_penalty_times_its_interval():
    # the same guard, on the update itself: at a penalty step, D's gradient is the loss's plus k * gamma/2 * dR1
    from gan_utils.train import TrainConfig, d_step

    real, fake = torch.randn(6, 1, 3, 3), torch.randn(6, 1, 3, 3)
    w = torch.randn(1, 3, 3)
    cfg = TrainConfig(loss="wgan-sn", r1_gamma=0.3, r1_every=8, grad_norms=False)
    D = _LinearCritic(w.clone())
    d_step(D, real, fake, torch.optim.SGD(D.parameters(), lr=1.0), cfg, d_iter=16)
    grad_wass = (fake.mean(0) - real.mean(0))                                  # d/dw (E f(fake) - E f(real))
    assert torch.allclose(D.w.detach(), w - grad_wass - 8 * 0.3 / 2 * 2 * w, atol=1e-5)


def test_r1_with_a_batchnorm_discriminator_is_refused():
    # guards against: R1 on a BatchNorm D, whose input gradient of one image depends on the batch
    from gan_utils.models import DCGANDiscriminator, DCGANGenerator
    from gan_utils.runtime import ConfigError
    from gan_utils.train import TrainConfig, check_setup

    G, D = DCGANGenerator(8, 1, 32, 8), DCGANDiscriminator(1, 32, 8, norm="batch")
    with pytest.raises(ConfigError, match="BatchNorm"):
        check_setup(G, D, torch.rand(4, 1, 32, 32) * 2 - 1, TrainConfig(latent_dim=8, r1_gamma=1.0))
    check_setup(G, DCGANDiscriminator(1, 32, 8, norm="none"), torch.rand(4, 1, 32, 32) * 2 - 1,
                TrainConfig(latent_dim=8, r1_gamma=1.0))


def test_ttur_preset_uses_heusels_rates_and_refuses_other_losses():
    # guards against: a TTUR preset with the rates swapped (for DCGAN Heusel et al.'s G is the faster one)
    from gan_utils.runtime import ConfigError
    from gan_utils.train import TrainConfig

    c = TrainConfig.preset("bce-ns", ttur=True)
    assert (c.lr_d, c.lr_g) == (1e-4, 5e-4)
    c = TrainConfig.preset("wgan-gp", ttur=True)
    assert (c.lr_d, c.lr_g, c.n_critic) == (3e-4, 1e-4, 1)
    assert TrainConfig.preset("wgan-gp", ttur=True, lr_g=2e-4).lr_g == 2e-4          # overrides still win
    with pytest.raises(ConfigError, match="Heusel"):
        TrainConfig.preset("hinge", ttur=True)


def test_bad_r1_and_augment_settings_are_refused_with_a_clear_message():
    from gan_utils.runtime import ConfigError
    from gan_utils.train import TrainConfig

    with pytest.raises(ConfigError, match="r1_gamma"):
        TrainConfig(r1_gamma=-1.0)
    with pytest.raises(ConfigError, match="r1_every"):
        TrainConfig(r1_every=0)
    with pytest.raises(ConfigError, match="color,translation,cutout"):
        TrainConfig(augment="colour")


@pytest.mark.parametrize("loss", ["hinge", "lsgan"])
def test_train_runs_the_new_losses_with_r1_and_augmentation(loss):
    # guards against: a loss registered in LOSSES that the training loop cannot run end to end
    from gan_utils.data import InMemoryLoader, synthetic_images
    from gan_utils.models import DCGANDiscriminator, DCGANGenerator
    from gan_utils.train import TrainConfig, train

    torch.manual_seed(0)
    G, D = DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8, norm="spectral")
    cfg = TrainConfig.preset(loss, latent_dim=16, steps=3, batch_size=16, log_every=1, r1_gamma=1.0,
                             augment="color,translation,cutout")
    r = train(G, D, InMemoryLoader(synthetic_images(64, 1, 32), 16), cfg, progress=False)
    assert len(r.history["loss_D"]) == 3 and all(math.isfinite(v) for v in r.history["r1_term"])


def test_lazy_r1_counts_D_steps_not_G_steps_in_the_training_loop():
    # guards against: the lazy-R1 counter advancing once per generator step, so with n_critic > 1 the
    # penalty would land on other D steps than every k-th one (and, for k = n_critic, always on the same one)
    from gan_utils.data import InMemoryLoader, synthetic_images
    from gan_utils.models import DCGANDiscriminator, DCGANGenerator
    from gan_utils.train import TrainConfig, train

    torch.manual_seed(0)
    G, D = DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8, norm="none")
    cfg = TrainConfig(latent_dim=16, steps=7, batch_size=16, log_every=1, n_critic=2, r1_gamma=1.0, r1_every=3,
                      ema_decay=0.0)
    r = train(G, D, InMemoryLoader(synthetic_images(64, 1, 32), 16), cfg, progress=False)
    # the history keeps the last D step of each G step s: D update 2s + 1, penalised when (2s + 1) % 3 == 0
    nonzero = [s for s, v in enumerate(r.history["r1_term"]) if v != 0]
    assert nonzero == [s for s in range(7) if (2 * s + 1) % 3 == 0]


def test_r1_never_goes_through_a_compiled_discriminator():
    # guards against: R1's double backward through a torch.compile'd D (the fast path compiles long GPU runs):
    # AOTAutograd raises "does not currently support double backward" in the middle of training
    from gan_utils.fast import FastModule, FastPlan
    from gan_utils.models import DCGANDiscriminator
    from gan_utils.train import TrainConfig, d_step

    torch.manual_seed(0)
    D = DCGANDiscriminator(1, 32, 8, norm="none")
    fm = FastModule(D, FastPlan(compile="aot_eager"), "cpu")
    fm.set_run(torch.compile(D, backend="aot_eager"))
    real, fake = torch.rand(4, 1, 32, 32) * 2 - 1, torch.rand(4, 1, 32, 32) * 2 - 1
    cfg = TrainConfig(r1_gamma=1.0, grad_norms=False)
    out = d_step(fm, real, fake, torch.optim.SGD(D.parameters(), lr=0.0), cfg)
    assert out["r1_term"].item() == pytest.approx(0.5 * r1_penalty(D, real).item(), rel=1e-5)
