"""The GAN objectives, one small function each, formula beside the line that computes it.

Taught in notebooks/01_minimax.ipynb (BCE losses, saturating vs non-saturating),
notebooks/07_wgan.ipynb (Wasserstein losses, weight clipping, gradient penalty),
notebooks/09_conditional.ipynb (the AC-GAN losses with their class terms),
notebooks/10_modern_recipes.ipynb (hinge and least-squares losses, the R1 penalty) and
notebooks/11_image_to_image.ipynb (the L1 terms of pix2pix and CycleGAN: :func:`l1_loss`,
:func:`cycle_consistency_loss`, :func:`identity_loss`).

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

from .runtime import ConfigError


def _check_scores(name: str, t: torch.Tensor) -> None:
    # A (B, 1) output against (B,) labels silently broadcasts to (B, B) in MSE-style code; we
    # insist on the (B,) shape every discriminator in gan_utils returns (bug class in notebook 05).
    if not isinstance(t, torch.Tensor):
        raise ConfigError(f"{name} must be a tensor of D's outputs, got {type(t).__name__}")
    if t.dim() != 1:
        raise ConfigError(f"{name} must have shape (B,), got {tuple(t.shape)}: the discriminator "
                          "should return one logit per sample; use .view(-1) on its output")
    if not t.is_floating_point():
        raise ConfigError(f"{name} has dtype {t.dtype}: D's logits/scores are floating-point numbers (labels or "
                          "class indices passed by mistake?)")
    if t.numel() == 0:
        raise ConfigError(f"{name} is empty: a loss over an empty batch is NaN (the mean of nothing)")


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


def _input_gradient(total: torch.Tensor, x: torch.Tensor, grad_scaler=None) -> torch.Tensor:
    """d total / d x with ``create_graph=True`` (the penalties' double backward). Under fp16 with a
    ``grad_scaler``, ``total`` is scaled first so small fp16 gradients do not flush to zero, and the
    gradient is divided by the scale as a device tensor (``scale(1)``): no host sync per D step, as
    ``get_scale()`` would cost. An overflow makes the gradient inf; the penalty and D's loss follow,
    the scaler skips that step, and the training loop counts it instead of calling it a divergence."""
    if grad_scaler is not None and grad_scaler.is_enabled():
        scale = grad_scaler.scale(torch.ones((), device=total.device))     # the current scale, on the device
        (scaled,) = torch.autograd.grad(grad_scaler.scale(total), x, create_graph=True)
        return scaled / scale                                               # unscaled: the true gradient
    (grads,) = torch.autograd.grad(total, x, create_graph=True)
    return grads


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, grad_scaler=None,
                     allow_batchnorm: bool = False) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017, Algorithm 1):

        x_hat = eps * x + (1 - eps) * G(z),   eps ~ U[0, 1], one eps per sample
        GP    = E[(||grad_x_hat f(x_hat)||_2 - 1)^2]

    The norm is taken **per sample** over all non-batch dimensions (C, H, W), not per pixel;
    ``create_graph=True`` so the penalty itself can be back-propagated (the double backward).
    Multiply by lambda (10 in the paper) outside.

    ``grad_scaler`` (a ``torch.amp.GradScaler``, fp16 training): the scores are scaled before the
    inner ``autograd.grad`` so small fp16 gradients do not flush to zero, and the gradients are
    unscaled before the norm (the recipe of PyTorch's AMP examples, "Gradient penalty").

    A ``critic`` module with BatchNorm in training mode is refused (the per-sample penalty is wrong
    there); ``allow_batchnorm=True`` lets notebook 05's lab run that bug on purpose to show it.
    """
    if real.shape != fake.shape:
        raise ConfigError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    if not allow_batchnorm and isinstance(critic, nn.Module) and critic.training and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules()):
        raise ConfigError("gradient_penalty through a critic with BatchNorm: BatchNorm mixes the samples of a batch, "
                          "so grad_x f(x_hat) of one sample depends on the others and the per-sample penalty is wrong "
                          "(Gulrajani et al. 2017, section 4). Build the critic with norm='layer', 'none' or 'spectral'.")
    b = real.shape[0]
    eps = torch.rand(b, *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)  # (B, 1, 1, 1)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat).float().sum()
    grads = _input_gradient(scores, x_hat, grad_scaler)                   # (B, C, H, W)
    norms = grads.flatten(1).norm(2, dim=1)  # (B, C*H*W) -> (B,): one norm per sample
    return ((norms - 1.0) ** 2).mean()


def d_loss_hinge(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, eq. 16):

        L_D = E_x[max(0, 1 - D(x))] + E_z[max(0, 1 + D(G(z)))]

    D is pushed to score reals above +1 and fakes below -1; a sample beyond its margin adds nothing
    (and gives no gradient), so D stops sharpening what it already separates. Scores, not logits:
    no sigmoid anywhere.
    """
    _check_scores("real_scores", real_scores)
    _check_scores("fake_scores", fake_scores)
    loss_real = F.relu(1.0 - real_scores).mean()  # E[max(0, 1 - D(x))]
    loss_fake = F.relu(1.0 + fake_scores).mean()  # E[max(0, 1 + D(G(z)))]: fakes pushed below -1
    return loss_real + loss_fake


def g_loss_hinge(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss that goes with the hinge discriminator (Miyato et al. 2018, eq. 17):

        L_G = -E_z[D(G(z))]

    no margin for G: it keeps raising its scores (as the WGAN generator does).
    """
    _check_scores("fake_scores", fake_scores)
    return -fake_scores.mean()  # -E[D(G(z))]


#: LSGAN targets (Mao et al. 2017): a for fakes, b for reals, c what G wants D to say about
#: its fakes. The 0-1 coding a = 0, b = c = 1 used here is one of the two settings the paper discusses.
LSGAN_A, LSGAN_B, LSGAN_C = 0.0, 1.0, 1.0


def d_loss_lsgan(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss (Mao et al. 2017) with targets b = 1 (real), a = 0 (fake):

        L_D = 1/2 E_x[(D(x) - b)^2] + 1/2 E_z[(D(G(z)) - a)^2]

    D regresses its raw score onto the label instead of classifying it through a sigmoid, so a fake
    that is on the right side but far from the data still costs D (and moves G): no saturation.
    """
    _check_scores("real_scores", real_scores)
    _check_scores("fake_scores", fake_scores)
    loss_real = 0.5 * ((real_scores - LSGAN_B) ** 2).mean()  # 1/2 E[(D(x) - b)^2]
    loss_fake = 0.5 * ((fake_scores - LSGAN_A) ** 2).mean()  # 1/2 E[(D(G(z)) - a)^2]
    return loss_real + loss_fake


def g_loss_lsgan(fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss (Mao et al. 2017) with c = 1 (G wants its fakes scored as real):

        L_G = 1/2 E_z[(D(G(z)) - c)^2]
    """
    _check_scores("fake_scores", fake_scores)
    return 0.5 * ((fake_scores - LSGAN_C) ** 2).mean()  # 1/2 E[(D(G(z)) - c)^2]


def r1_penalty(D: Callable, real: torch.Tensor, grad_scaler=None) -> torch.Tensor:
    """The R1 penalty (Mescheder, Geiger, Nowozin 2018, "simplified gradient penalties"): the squared
    norm of D's input gradient **on real data**, zero-centred,

        R1 = gamma / 2 * E_x[ ||grad_x D(x)||^2 ]      (this returns the expectation; times gamma / 2 outside)

    with D's logit/score (no sigmoid). It pulls D flat on the data, which removes the rotation around
    the equilibrium that makes unregularised GANs circle (notebook 10, the Dirac GAN). ``D`` is any
    callable ``x -> (B,) scores``, e.g. ``lambda x: D(augment(x))`` so the gradient is taken with
    respect to the un-augmented reals, as in StyleGAN2-ADA and DiffAugment's code. The norm is per
    sample over (C, H, W); ``create_graph=True`` so the penalty trains D (a double backward).
    ``grad_scaler``: as in :func:`gradient_penalty` (fp16 training).
    """
    x = real.detach().requires_grad_(True)             # a fresh leaf: gradients w.r.t. the reals themselves
    scores = D(x)
    _check_scores("D(real)", scores)
    total = scores.float().sum()
    grads = _input_gradient(total, x, grad_scaler)      # (B, C, H, W), one row per sample
    return grads.flatten(1).pow(2).sum(1).mean()       # E_x ||grad_x D(x)||^2


def _check_acgan_scores(name: str, t: torch.Tensor) -> None:
    if t.dim() != 2 or t.shape[1] != 2:
        raise ValueError(f"{name} must have shape (B, 2) (the real/fake logit and log p(y | x)), got "
                         f"{tuple(t.shape)}: loss='acgan' needs the AC-GAN discriminator, "
                         "DCGANDiscriminator(num_classes=K, conditioning='acgan')")


def d_loss_acgan(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """AC-GAN discriminator loss (Odena, Olah, Shlens 2017, section 3; notebook 09). D sees the source
    (real or fake) *and* the class c the image was made for or labelled with, and maximises L_S + L_C:

        L_S = E[log P(S=real | x)] + E[log P(S=fake | G(z, c))]
        L_C = E[log P(C=c | x)]    + E[log P(C=c | G(z, c))]      (the class term on reals *and* fakes)

    The outputs are ``(B, 2)``: column 0 the real/fake logit, column 1 ``log p(c | x)`` of the given
    class (``DCGANDiscriminator(conditioning="acgan")``). D minimises -(L_S + L_C).
    """
    _check_acgan_scores("real_out", real_out)
    _check_acgan_scores("fake_out", fake_out)
    real_logits, fake_logits = real_out[:, 0], fake_out[:, 0]
    loss_s = d_loss_bce(real_logits, fake_logits)        # -L_S = -E[log D(x)] - E[log(1 - D(G(z, c)))]
    loss_c = -real_out[:, 1].mean() - fake_out[:, 1].mean()   # -L_C = -E[log p(c | x)] - E[log p(c | G(z, c))]
    return loss_s + loss_c


def g_loss_acgan(fake_out: torch.Tensor) -> torch.Tensor:
    """AC-GAN generator loss (Odena, Olah, Shlens 2017, section 3): G maximises L_C - L_S, i.e. it wants
    its fakes judged real *and* classified as the class asked for. With the non-saturating form of
    the source term (notebook 01) G minimises

        L_G = -E[log D(G(z, c))] - E[log p(c | G(z, c))]

    The second term is what makes AC-GAN's samples easy to classify, and it rewards G for moving them
    away from the class boundaries: less diversity within each class (measured in notebook 09).
    """
    _check_acgan_scores("fake_out", fake_out)
    loss_s = g_loss_nonsaturating(fake_out[:, 0])        # -E[log D(G(z, c))]
    loss_c = -fake_out[:, 1].mean()                      # -E[log p(c | G(z, c))]
    return loss_s + loss_c


def _mean_absolute_error(a: torch.Tensor, b: torch.Tensor, names: str) -> torch.Tensor:
    # Same shapes only: a (B, 1, H, W) image against a (B, H, W) one would broadcast to (B, B, H, W)
    # and give a number that trains nothing useful (the bug of notebook 05, in image form).
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return (a - b).abs().mean()                                   # E[|a - b|] over samples, channels, pixels


def l1_loss(generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """pix2pix's reconstruction term (Isola et al. 2017; notebook 11), the mean absolute error
    between G's output and the true paired image:

        L_L1(G) = E_{x,y}[ ||y - G(x)||_1 ]      (averaged over pixels here; weighted by lambda_L1 = 100 outside)

    L1 rather than L2: both blur where the output is uncertain, L1 less (it is minimised by the
    per-pixel median, L2 by the mean).
    """
    return _mean_absolute_error(generated, target, "generated and target")   # E|y - G(x)|


def cycle_consistency_loss(real: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """CycleGAN's cycle-consistency term for one direction (Zhu et al. 2017; notebook 11):

        L_cyc = E_x[ ||F(G(x)) - x||_1 ]         (forward cycle; the backward one is E_y ||G(F(y)) - y||_1)

    ``reconstructed`` is the image translated to the other domain and back. Averaged over pixels;
    weighted by lambda = 10 outside. It says the translation can be undone, not that it is right:
    notebook 11 shows a translation that hides what the way back needs.
    """
    return _mean_absolute_error(reconstructed, real, "real and reconstructed")    # E|F(G(x)) - x|


def identity_loss(real: torch.Tensor, mapped: torch.Tensor) -> torch.Tensor:
    """CycleGAN's identity-mapping term (Zhu et al. 2017; notebook 11): an image that is
    already in the target domain should pass through the generator unchanged,

        L_identity = E_y[ ||G(y) - y||_1 ]       (G: X -> Y fed a y; F is fed an x)

    ``mapped`` is ``G(real)``. The authors' code weights it 0.5 * lambda (``lambda_identity=0.5``).
    """
    return _mean_absolute_error(mapped, real, "real and mapped")            # E|G(y) - y|


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
    scores: str = "logit"                  # what D outputs: "logit" (D_x logged as sigmoid) or "score" (logged raw)

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
    # raw scores with margins at +-1; usually with a spectrally normalised D (Miyato et al. 2018), not required
    "hinge": GANLoss(d_loss_hinge, g_loss_hinge, scores="score"),
    "lsgan": GANLoss(d_loss_lsgan, g_loss_lsgan, scores="score"),
    # class-conditional: D outputs (B, 2) = [logit, log p(y | x)] (DCGANDiscriminator(conditioning="acgan"), notebook 09)
    "acgan": GANLoss(d_loss_acgan, g_loss_acgan),
}
