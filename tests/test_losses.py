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
