"""The GAN objectives, one small function each, formula beside the line that computes it.

Taught in notebooks/01_minimax.ipynb (BCE losses, saturating vs non-saturating) and
notebooks/07_wgan.ipynb (Wasserstein losses, weight clipping, gradient penalty).

Notation (as in notebook 01): D(x) = sigmoid(l(x)) where l is the discriminator's **logit**.
All BCE losses take logits, never probabilities, because
    log D(x)      = log sigmoid(l)  = -softplus(-l)
    log(1 - D(x)) = log sigmoid(-l) = -softplus(l)
are exact and stable for any l, while log(sigmoid(l)) in float32 underflows to log(0) = -inf once
sigmoid(l) rounds to 0 (l below about -88.7 or -103 with subnormals; notebook 05 shows the table).

:data:`LOSSES` maps each loss name :class:`gan_utils.train.TrainConfig` accepts to a
:class:`GANLoss`: its two functions and what else the D step does (a penalty, clipping), so the
training steps never branch on loss names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

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


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, grad_scaler=None) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017, Algorithm 1):

        x_hat = eps * x + (1 - eps) * G(z),   eps ~ U[0, 1], one eps per sample
        GP    = E[(||grad_x_hat f(x_hat)||_2 - 1)^2]

    The norm is taken **per sample** over all non-batch dimensions (C, H, W), not per pixel;
    ``create_graph=True`` so the penalty itself can be back-propagated (the double backward).
    Multiply by lambda (10 in the paper) outside.

    ``grad_scaler`` (a ``torch.amp.GradScaler``, fp16 training): the scores are scaled before the
    inner ``autograd.grad`` so small fp16 gradients do not flush to zero, and the gradients are
    unscaled before the norm (the recipe of PyTorch's AMP examples, "Gradient penalty").
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    b = real.shape[0]
    eps = torch.rand(b, *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)  # (B, 1, 1, 1)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat).float().sum()
    if grad_scaler is not None and grad_scaler.is_enabled():
        (scaled,) = torch.autograd.grad(grad_scaler.scale(scores), x_hat, create_graph=True)
        grads = scaled / grad_scaler.get_scale()                           # unscaled: the true gradient
    else:
        (grads,) = torch.autograd.grad(scores, x_hat, create_graph=True)  # (B, C, H, W)
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


@dataclass(frozen=True)
class GANLoss:
    """One entry of :data:`LOSSES`: what the D step and the G step do for a loss name."""

    d_loss: Callable                       # (real scores, fake scores) -> the loss D/critic minimises
    g_loss: Callable                       # fake scores -> the loss G minimises
    critic: bool = False                   # scores are critic values (W1 estimate logged), not logits
    penalty: Optional[Callable] = None     # (D, real, fake) -> a term added to D's loss ...
    penalty_weight: str = "gp_weight"      # ... times this TrainConfig field
    clip: bool = False                     # clip D's weights to +-TrainConfig.clip_value after each step
    needs_spectral_norm: bool = False      # no other constraint: the critic's layers must provide it

    def __iter__(self):                    # `d_loss, g_loss = LOSSES[name]`, as when entries were pairs
        return iter((self.d_loss, self.g_loss))


#: loss name -> :class:`GANLoss`; the names ``TrainConfig.loss`` accepts.
LOSSES = {
    "bce-ns": GANLoss(d_loss_bce, g_loss_nonsaturating),
    "bce-saturating": GANLoss(d_loss_bce, g_loss_saturating),
    "wgan-clip": GANLoss(critic_loss_wasserstein, g_loss_wasserstein, critic=True, clip=True),
    "wgan-gp": GANLoss(critic_loss_wasserstein, g_loss_wasserstein, critic=True, penalty=gradient_penalty),
    # no clipping, no penalty: the Lipschitz bound is in the critic's spectrally normalised layers
    "wgan-sn": GANLoss(critic_loss_wasserstein, g_loss_wasserstein, critic=True, needs_spectral_norm=True),
}
