"""The GAN objectives, one small function each, formula beside the line that computes it.

Taught in notebooks/01_minimax.ipynb (BCE losses, saturating vs non-saturating) and
notebooks/07_wgan.ipynb (Wasserstein losses, weight clipping, gradient penalty).

Notation (as in notebook 01): D(x) = sigmoid(l(x)) where l is the discriminator's **logit**.
All BCE losses take logits, never probabilities, because
    log D(x)      = log sigmoid(l)  = -softplus(-l)
    log(1 - D(x)) = log sigmoid(-l) = -softplus(l)
are exact and stable for any l, while log(sigmoid(l)) underflows to log(0) = -inf for l < -100.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _check_scores(name: str, t: torch.Tensor) -> None:
    # A (B, 1) output against (B,) labels silently broadcasts to (B, B) in MSE-style code; we
    # insist on the (B,) shape every discriminator in gan_utils returns (bug class in notebook 05).
    if t.dim() != 1:
        raise ValueError(f"{name} must have shape (B,), got {tuple(t.shape)}: the discriminator "
                         "should return one logit per sample; use .view(-1) on its output")


def d_loss_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss of the minimax game, from logits:

        L_D = -E_x[log D(x)] - E_z[log(1 - D(G(z)))]      (= -V(D, G), minimised by D)

    i.e. binary cross-entropy with target 1 for real and 0 for fake.
    """
    _check_scores("real_logits", real_logits)
    _check_scores("fake_logits", fake_logits)
    loss_real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))   # -E[log D(x)]
    loss_fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))  # -E[log(1 - D(G(z)))]
    return loss_real + loss_fake


def g_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The original minimax generator objective, as a loss to minimise:

        L_G = E_z[log(1 - D(G(z)))] = -E_z[softplus(l)]

    dL/dl = -sigmoid(l) -> 0 when D confidently rejects the fakes (D(G(z)) ~ 0): it saturates.
    """
    _check_scores("fake_logits", fake_logits)
    return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(l)) = -softplus(l)


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss (Goodfellow et al. 2014, section 3):

        L_G = -E_z[log D(G(z))] = E_z[softplus(-l)]      (BCE with target 1 on the fakes)

    dL/dl = -(1 - sigmoid(l)) -> -1 when D(G(z)) ~ 0: a strong signal early in training.
    """
    _check_scores("fake_logits", fake_logits)
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))  # -E[log D(G(z))]


def critic_loss_wasserstein(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss (Arjovsky et al. 2017): the critic maximises E[f(x)] - E[f(G(z))], so

        L_f = E_z[f(G(z))] - E_x[f(x)]

    and -L_f is the critic's estimate of the Wasserstein-1 distance (when f is 1-Lipschitz).
    """
    _check_scores("real_scores", real_scores)
    _check_scores("fake_scores", fake_scores)
    return fake_scores.mean() - real_scores.mean()


def g_loss_wasserstein(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss: L_G = -E_z[f(G(z))]."""
    _check_scores("fake_scores", fake_scores)
    return -fake_scores.mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017, Algorithm 1):

        x_hat = eps * x + (1 - eps) * G(z),   eps ~ U[0, 1], one eps per sample
        GP    = E[(||grad_x_hat f(x_hat)||_2 - 1)^2]

    The norm is taken **per sample** over all non-batch dimensions (C, H, W), not per pixel;
    ``create_graph=True`` so the penalty itself can be back-propagated (the double backward).
    Multiply by lambda (10 in the paper) outside.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    b = real.shape[0]
    eps = torch.rand(b, *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)  # (B, 1, 1, 1)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grads,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, C, H, W)
    norms = grads.flatten(1).norm(2, dim=1)  # (B, C*H*W) -> (B,): one norm per sample
    return ((norms - 1.0) ** 2).mean()


@torch.no_grad()
def clip_weights(critic: nn.Module, c: float = 0.01) -> None:
    """WGAN weight clipping: w <- clamp(w, -c, c) for every parameter.

    Call it **after** ``optimizer.step()``: clipping before the step lets the update push the
    weights outside [-c, c] again, so the critic is not Lipschitz-bounded when it is used.
    """
    for p in critic.parameters():
        p.clamp_(-c, c)


#: loss name -> (D/critic loss, G loss); the names ``TrainConfig.loss`` accepts.
LOSSES = {
    "bce-ns": (d_loss_bce, g_loss_nonsaturating),
    "bce-saturating": (d_loss_bce, g_loss_saturating),
    "wgan-clip": (critic_loss_wasserstein, g_loss_wasserstein),
    "wgan-gp": (critic_loss_wasserstein, g_loss_wasserstein),
    # no clipping, no penalty: the Lipschitz bound is in the critic's spectrally normalised layers
    "wgan-sn": (critic_loss_wasserstein, g_loss_wasserstein),
}
