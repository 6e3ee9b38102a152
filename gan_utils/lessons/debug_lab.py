"""The debugging lab's training script, with the classic GAN bugs behind a switch
(taught in notebooks/05_debugging_lab.ipynb).

This module is deliberately **not** built on :mod:`gan_utils.train`: it is a plain, self-contained
DCGAN script written the way tutorial code is written (``nn.Sequential`` models, ``BCEWithLogitsLoss``
with label tensors, ``netD.zero_grad()``), so that each bug can live exactly where it lives in
published code. ``run_lab(bug=...)`` switches one bug on at a time and returns what its symptom
needs: the exception, the loss history, the fixed-noise samples, gradient statistics.

Bugs of the DCGAN script (:func:`run_lab`)::

    size_mismatch     G makes 64x64 images (a 64x64 tutorial's G), D is built for 32x32
    latent_2d         z drawn as (B, nz) and fed to the first ConvTranspose2d
    grey_vs_rgb       1-channel data against a model built for 3 channels
    double_scaling    ToTensor() (-> [0, 1]) followed by another / 255 -> [0, 1/255]
    g_loss_vs_image   G's loss compares its images with real images (MSE), not D's verdict
    g_wrong_target    G's loss uses the *fake* label: G helps D
    no_detach         D step on G(z) without .detach(): G's graph is freed, gradients leak into G
    label_shape       D returns (B, 1) logits, the labels are (B,)
    label_broadcast   the same with MSELoss (LSGAN): no error, (2B, 1) - (2B,) broadcasts to (2B, 2B)
    no_init           the DCGAN initialisation N(0, 0.02) is never applied
    adam_beta1        Adam's default betas (0.9, 0.999) instead of DCGAN's (0.5, 0.999)
    sigmoid_bce       Sigmoid at the end of D + BCELoss, instead of logits + BCEWithLogitsLoss

Demonstrations outside the training loop: ``resize_`` (:func:`resize_demo`: ``Tensor.resize_``
used as if it resampled an image), Sigmoid + BCELoss in float32 (:func:`bce_saturation_table`,
:func:`saturation_demo`), Adam's momentum on the Dirac GAN (:func:`dirac_gan`).

Bugs of WGAN critics (:func:`run_critic_lab`)::

    gp_per_pixel      gradient-penalty norm over dim=1 (channels): one norm per *pixel*
    clip_before_step  weight clipping before optimizer.step() instead of after it
    bn_gp_critic      BatchNorm inside a gradient-penalty critic

Each one is also a one-line symptom in :data:`BUGS`; tests/test_debug_lab.py checks that every
switch still produces it, so the lab cannot silently stop demonstrating its bug.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

#: bug name -> the symptom the lab shows (the tests check each one).
BUGS = {
    "size_mismatch": "ValueError from the loss: D returns 25 logits per image (a 5x5 map) for 64x64 fakes",
    "latent_2d": "RuntimeError: Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d",
    "grey_vs_rgb": "RuntimeError: expected input[B, 1, 32, 32] to have 3 channels, but got 1 channels",
    "resize_": "Tensor.resize_ reinterprets memory: sheared, mixed-up images (resize_demo)",
    "double_scaling": "real images in [0, 1/255]: D wins at once, G's samples are flat grey",
    "g_loss_vs_image": "G regresses to the mean image: every sample is the same blur",
    "g_wrong_target": "G minimises -log(1 - D(G(z))): D(G(z)) -> 0, both losses -> 0, noise samples",
    "no_detach": "RuntimeError: backward through the graph a second time; G has gradients after the D step",
    "label_shape": "ValueError: Target size (B) must be the same as input size (B, 1)",
    "label_broadcast": "a UserWarning only; D outputs 0.5 for real and fake alike",
    "no_init": "weights start with PyTorch's default scale, not N(0, 0.02) (small effect at toy scale)",
    "adam_beta1": "Adam beta1 = 0.9: more momentum, larger oscillations (clear on the Dirac GAN)",
    "sigmoid_bce": "BCELoss on sigmoid outputs: loss clamped at 100 and zero gradient once D is confident",
    "gp_per_pixel": "the critic's gradient norm goes to sqrt(H*W), not 1",
    "clip_before_step": "critic weights outside [-c, c] after every step",
    "bn_gp_critic": "the critic's score of one image depends on the other images of the batch",
}
DCGAN_BUGS = ("size_mismatch", "latent_2d", "grey_vs_rgb", "double_scaling", "g_loss_vs_image",
              "g_wrong_target", "no_detach", "label_shape", "label_broadcast", "no_init", "adam_beta1",
              "sigmoid_bce")
CRITIC_BUGS = ("gp_per_pixel", "clip_before_step", "bn_gp_critic")


# ============================================================================ the models
# Written the way DCGAN tutorials write them: an nn.Sequential, inputs (B, nz, 1, 1).
class Generator(nn.Module):
    """z (B, nz, 1, 1) -> image (B, nc, S, S) in [-1, 1], S = 32 (or 64 with ``image_size=64``)."""

    def __init__(self, nz: int = 32, ngf: int = 16, nc: int = 1, image_size: int = 32):
        super().__init__()
        layers = [
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),        # (nz, 1, 1) -> (4ngf, 4, 4)
            nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),   # -> (2ngf, 8, 8)
            nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),       # -> (ngf, 16, 16)
            nn.BatchNorm2d(ngf), nn.ReLU(True),
        ]
        if image_size == 64:                                             # the 64x64 tutorial has one more
            layers += [nn.ConvTranspose2d(ngf, ngf, 4, 2, 1, bias=False),  # -> (ngf, 32, 32)
                       nn.BatchNorm2d(ngf), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]  # -> (nc, S, S)
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    """image (B, nc, 32, 32) -> one logit per image, shape (B,).

    ``sigmoid=True`` appends ``nn.Sigmoid()`` (probabilities, for BCELoss); ``flatten=False``
    returns (B, 1) instead of (B,); ``norm`` is "batch" (DCGAN), "layer" or "none" (critics).
    """

    def __init__(self, nc: int = 1, ndf: int = 16, norm: str = "batch", sigmoid: bool = False,
                 flatten: bool = True):
        super().__init__()

        def norm_layer(ch):
            return {"batch": nn.BatchNorm2d(ch), "layer": nn.GroupNorm(1, ch), "none": nn.Identity()}[norm]

        layers = [
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),             # -> (ndf, 16, 16)
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), norm_layer(ndf * 2), nn.LeakyReLU(0.2, True),  # 8x8
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), norm_layer(ndf * 4), nn.LeakyReLU(0.2, True),  # 4x4
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False),                                  # -> (1, 1, 1)
        ]
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.main = nn.Sequential(*layers)
        self.flatten = flatten

    def forward(self, x):
        out = self.main(x)                      # (B, 1, 1, 1) for 32x32 inputs
        return out.view(-1) if self.flatten else out.view(-1, 1)


def weights_init(m: nn.Module) -> None:
    """The DCGAN initialisation, as the PyTorch tutorial writes it: ``netG.apply(weights_init)``.

    Conv / ConvTranspose weights ~ N(0, 0.02); BatchNorm weight ~ N(1, 0.02), bias = 0.
    """
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


# ============================================================================ the data
def lab_images(n: Optional[int] = None, train: bool = False, root=None) -> torch.Tensor:
    """Fashion-MNIST as the raw uint8 tensor ``(N, 1, 28, 28)`` (what a dataset stores on disk).

    The lab does its own "transform" so that the scaling bugs can happen; :mod:`gan_utils.data`
    returns [-1, 1] floats and never needs one.
    """
    from ..data import load_dataset

    images = load_dataset("fashion-mnist", root=root, train=train).images
    return images if n is None else images[:n]


def transform(x_u8: torch.Tensor, bug: Optional[str] = None) -> torch.Tensor:
    """uint8 (B, 1, 28, 28) -> float (B, 1, 32, 32): the tutorial's transform pipeline.

    Fixed:  Pad(2) -> ToTensor() (x / 255 -> [0, 1]) -> Normalize((0.5,), (0.5,)) -> [-1, 1].
    ``double_scaling``: Pad(2) -> ToTensor() -> x / 255 again -> [0, 1/255], no Normalize.
    """
    x = F.pad(x_u8, (2, 2, 2, 2))          # 28x28 -> 32x32 with 2 background pixels per side
    x = x.float() / 255.0                  # ToTensor(): [0, 255] -> [0, 1]
    if bug == "double_scaling":
        return x / 255.0                   # BUG: scaled a second time -> [0, 1/255]
    return (x - 0.5) / 0.5                 # Normalize((0.5,), (0.5,)): [0, 1] -> [-1, 1]


# ============================================================================ the training script
@dataclass
class LabResult:
    """What one run of the lab returns; ``error`` is the exception the script raised (or None)."""

    bug: Optional[str]
    history: dict = field(default_factory=dict)    # loss_D, loss_G, D_x, D_G_z, grad_G: one float per step
    samples: list = field(default_factory=list)    # [(step, (n, nc, 32, 32) CPU tensor in [-1, 1])]
    real: Optional[torch.Tensor] = None            # one real batch as the script fed it to D
    error: Optional[BaseException] = None
    error_step: Optional[int] = None
    warnings: list = field(default_factory=list)   # messages of the warnings raised while training
    extras: dict = field(default_factory=dict)     # bug-specific measurements
    G: Optional[nn.Module] = None
    D: Optional[nn.Module] = None

    @property
    def error_text(self) -> str:
        """``"ExceptionType: first line of the message"`` (or "" when the run raised nothing)."""
        if self.error is None:
            return ""
        return f"{type(self.error).__name__}: {str(self.error).splitlines()[0]}"


def _grad_norm(model: nn.Module) -> float:
    grads = [p.grad.detach().flatten() for p in model.parameters() if p.grad is not None]
    return float(torch.cat(grads).norm()) if grads else 0.0


def run_lab(bug: Optional[str] = None, images: Optional[torch.Tensor] = None, steps: int = 300,
            batch_size: int = 64, nz: int = 32, width: int = 16, lr: float = 2e-4, loss: str = "bce",
            seed: int = 0, n_samples: int = 64, sample_every: int = 0, device="cpu",
            progress: bool = True, raise_errors: bool = False) -> LabResult:
    """Train the lab's DCGAN for ``steps`` steps with one bug switched on (``bug=None``: the fixed
    script). ``images``: uint8 ``(N, 1, 28, 28)`` (default: 2048 Fashion-MNIST test images).
    ``loss``: "bce" (DCGAN) or "lsgan" (MSE against 1/0 labels, Mao et al.'s least-squares GAN;
    ``bug="label_broadcast"`` uses it). Errors the buggy script raises are caught and returned in
    ``result.error`` (``raise_errors=True`` re-raises them).
    """
    if bug is not None and bug not in DCGAN_BUGS:
        raise ValueError(f"unknown bug {bug!r} for run_lab; choose one of {DCGAN_BUGS} "
                         f"(run_critic_lab takes {CRITIC_BUGS})")
    if bug == "label_broadcast":
        loss = "lsgan"
    from tqdm.auto import tqdm

    device = torch.device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if images is None:
        images = lab_images(2048)
    images = images.to(device)
    res = LabResult(bug=bug)

    # ---- models (nc=3 and image_size=64 are the copied-from-another-tutorial bugs)
    nc = 3 if bug == "grey_vs_rgb" else 1
    netG = Generator(nz, width, nc, image_size=64 if bug == "size_mismatch" else 32).to(device)
    # the LSGAN variant scores real and fake in one batch, so its D has no BatchNorm: batch statistics
    # of a mixed batch would make D a different function in the D and G steps (a bug of its own)
    netD = Discriminator(nc, width, norm="none" if loss == "lsgan" else "batch", sigmoid=bug == "sigmoid_bce",
                         flatten=bug not in ("label_shape", "label_broadcast")).to(device)
    res.extras["default_init_std"] = _conv_weight_stds(netG, netD)
    if bug != "no_init":
        netG.apply(weights_init)
        netD.apply(weights_init)
    res.extras["init_std"] = _conv_weight_stds(netG, netD)
    res.G, res.D = netG, netD

    # ---- loss and optimisers
    if loss == "lsgan":
        criterion = nn.MSELoss()
    elif bug == "sigmoid_bce":
        criterion = nn.BCELoss()                        # on probabilities (D ends with Sigmoid)
    else:
        criterion = nn.BCEWithLogitsLoss()              # on logits
    betas = (0.9, 0.999) if bug == "adam_beta1" else (0.5, 0.999)
    optimizerD = torch.optim.Adam(netD.parameters(), lr=lr, betas=betas)
    optimizerG = torch.optim.Adam(netG.parameters(), lr=lr, betas=betas)
    fixed_noise = torch.randn(n_samples, nz, 1, 1, generator=gen).to(device)

    hist = {k: [] for k in ("loss_D", "loss_G", "D_x", "D_G_z", "grad_G")}
    res.history = hist
    # updated by hand, not iterated: an iterated bar is closed by its own generator when the script
    # crashes, before the except below can mark it finished (tqdm.notebook then leaves it red on screen)
    bar = tqdm(total=steps, desc=f"lab: {bug or 'fixed script'}", disable=not progress, leave=False)
    step = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for step in range(steps):
                idx = torch.randint(0, images.shape[0], (batch_size,), generator=gen).to(device)
                real = transform(images[idx], bug)                    # (B, 1, 32, 32)
                if step == 0:
                    res.real = real.detach().cpu()
                b = real.shape[0]
                ones = torch.full((b,), 1.0, device=device)          # real label
                zeros = torch.full((b,), 0.0, device=device)         # fake label

                # -------- (1) update D: maximise log D(x) + log(1 - D(G(z)))
                netD.zero_grad()
                if bug == "latent_2d":
                    noise = torch.randn(b, nz, device=device)        # BUG: (B, nz), no 1x1 map
                else:
                    noise = torch.randn(b, nz, 1, 1, device=device)  # (B, nz, 1, 1)
                fake = netG(noise)
                if loss == "lsgan":
                    # real and fake scored in one batch; with bug="label_broadcast" D returns (2B, 1)
                    # and the labels are (2B,): MSELoss broadcasts to (2B, 2B)  <- BUG
                    out = netD(torch.cat([real, fake.detach()]))
                    errD = criterion(out, torch.cat([ones, zeros]))
                    errD.backward()
                    out_real, out_fake = out[:b], out[b:]
                else:
                    out_real = netD(real)
                    errD_real = criterion(out_real, ones)
                    errD_real.backward()
                    if bug == "no_detach":
                        out_fake = netD(fake)                        # BUG: no .detach()
                    else:
                        out_fake = netD(fake.detach())
                    errD_fake = criterion(out_fake, zeros)
                    errD_fake.backward()
                    errD = errD_real + errD_fake
                if step == 0:
                    res.extras["grad_G_after_D_step"] = _grad_norm(netG)   # must be 0: D's loss is not G's
                optimizerD.step()

                # -------- (2) update G: maximise log D(G(z)) (the non-saturating loss)
                netG.zero_grad()
                out = netD(fake)
                if bug == "g_loss_vs_image":
                    errG = F.mse_loss(fake, real)                    # BUG: compares images, D is ignored
                elif bug == "g_wrong_target":
                    errG = criterion(out, zeros)                     # BUG: the fake label
                else:
                    errG = criterion(out, ones)                      # fakes labelled "real"
                errG.backward()
                grad_g = _grad_norm(netG)
                optimizerG.step()

                with torch.no_grad():
                    to_p = (lambda t: t) if bug == "sigmoid_bce" or loss == "lsgan" else torch.sigmoid
                    hist["loss_D"].append(float(errD))
                    hist["loss_G"].append(float(errG))
                    hist["D_x"].append(float(to_p(out_real).mean()))
                    hist["D_G_z"].append(float(to_p(out_fake).mean()))
                    hist["grad_G"].append(grad_g)
                if sample_every and (step + 1) % sample_every == 0 and step + 1 < steps:
                    res.samples.append((step + 1, _sample(netG, fixed_noise)))
                if progress and step % 25 == 0:
                    bar.set_postfix(loss_D=f"{hist['loss_D'][-1]:.3f}", loss_G=f"{hist['loss_G'][-1]:.3f}")
                bar.update(1)
            res.samples.append((steps, _sample(netG, fixed_noise)))
        except Exception as e:  # the buggy script crashed: keep the exception as the symptom
            bar.total = bar.n   # finished where it crashed: closed short of its total it would stay, red
            if raise_errors:
                raise
            res.error, res.error_step = e, step
        finally:
            bar.close()
    res.warnings = [str(w.message) for w in caught]
    return res


@torch.no_grad()
def _sample(netG: nn.Module, noise: torch.Tensor) -> torch.Tensor:
    from ..models import sample

    return sample(netG, z=noise)                          # eval mode, float32, on the CPU


def _conv_weight_stds(*models) -> list:
    """Standard deviation of every conv weight, in order (the init bug's statistic)."""
    return [float(m.weight.detach().std()) for model in models for m in model.modules()
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def sample_diversity(images: torch.Tensor) -> float:
    """Mean over pixels of the standard deviation across the batch: ~0 when every sample is the
    same image (the g_loss_vs_image symptom)."""
    return float(images.float().std(dim=0).mean())


# ============================================================================ demonstrations
def resize_demo(x: torch.Tensor, size: int = 32, channels: int = 1) -> dict:
    """What ``Tensor.resize_`` does to a batch ``x`` (B, 1, H, W), against real resampling.

    ``resize_`` keeps the numbers in memory order and reinterprets them with the new shape; when
    the new shape needs more numbers the storage grows and the extra ones are **uninitialised**
    memory. Returns ``{"resize_": the resized tensor, "n_valid": how many leading images hold only
    original data (the rest reads uninitialised memory), "interpolate": F.interpolate(x) (bilinear,
    antialiased when shrinking) expanded to ``channels``}``.
    """
    b, c, h, w = x.shape
    bad = x.detach().clone().resize_(b, channels, size, size)        # the bug
    n_valid = (b * c * h * w) // (channels * size * size)            # images made only of original numbers
    good = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False,
                         antialias=size < h)
    good = good.expand(-1, channels, -1, -1) if channels != c else good
    return {"resize_": bad, "n_valid": min(n_valid, b), "interpolate": good}


def bce_saturation_table(logits=(-120.0, -90.0, -88.0, -50.0, -30.0, -20.0, 0.0, 16.0, 17.0, 20.0, 50.0)):
    """For each logit l, the loss and d(loss)/dl of ``BCELoss(sigmoid(l), y)`` and of
    ``BCEWithLogitsLoss(l, y)`` in float32, for target y = 1 (l < 0) or y = 0 (l >= 0): the case
    where D is confidently *wrong*, which is where a loss must keep its gradient.

    Returns a list of dicts with keys logit, target, p, bce, grad_bce, bce_logits, grad_logits.
    """
    rows = []
    for l in logits:
        y = torch.tensor([1.0 if l < 0 else 0.0])
        t1 = torch.tensor([float(l)], requires_grad=True)
        p = torch.sigmoid(t1)
        loss1 = F.binary_cross_entropy(p, y)
        loss1.backward()
        t2 = torch.tensor([float(l)], requires_grad=True)
        loss2 = F.binary_cross_entropy_with_logits(t2, y)
        loss2.backward()
        rows.append({"logit": float(l), "target": y.item(), "p": p.item(), "bce": loss1.item(),
                     "grad_bce": t1.grad.item(), "bce_logits": loss2.item(), "grad_logits": t2.grad.item()})
    return rows


def saturation_demo(shifts=(0.0, 10.0, 20.0, 25.0, 30.0, 40.0, 60.0), nz: int = 32, width: int = 16,
                    batch_size: int = 64, seed: int = 0) -> list:
    """G's gradient norm through a discriminator that rejects the fakes more and more confidently,
    for the two ways of writing the same loss -log D(G(z)).

    D's logits on a fixed fake batch are standardised (mean 0, spread 1) and moved down by
    ``shift``: l = standardised - shift, as when D wins late in training. For each shift:
    ``{"shift", "mean_logit", "grad_logits", "grad_sigmoid_bce"}``: G's gradient norm under
    BCEWithLogitsLoss(l, 1) and under BCELoss(sigmoid(l), 1). Same weights, same batch.
    """
    torch.manual_seed(seed)
    netG, netD = Generator(nz, width), Discriminator(1, width, norm="none")
    netG.apply(weights_init)
    netD.apply(weights_init)
    z = torch.randn(batch_size, nz, 1, 1)
    with torch.no_grad():
        base = netD(netG(z))
        mu, sd = base.mean(), base.std()
    rows = []
    for shift in shifts:
        out = {"shift": float(shift)}
        for name, use_logits in (("grad_logits", True), ("grad_sigmoid_bce", False)):
            netG.zero_grad()
            logits = (netD(netG(z)) - mu) / sd - shift          # mean -shift, spread 1: D rejects the fakes
            if use_logits:
                loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            else:
                loss = F.binary_cross_entropy(torch.sigmoid(logits), torch.ones_like(logits))
            loss.backward()
            out[name] = _grad_norm(netG)
            out["mean_logit"] = logits.mean().item()
        rows.append(out)
    return rows


def dirac_d_loss(psi: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The Dirac GAN's discriminator loss, non-saturating BCE from the logits psi * x:
    -log sigmoid(psi * 0) - log(1 - sigmoid(psi * theta)), the real point being x = 0."""
    zero = torch.zeros((), dtype=psi.dtype)
    return F.softplus(-(psi * zero)) + F.softplus(psi * theta)


def dirac_gan(beta1: float, steps: int = 2000, lr: float = 0.05, theta0: float = 1.0, psi0: float = 1.0,
              d_loss=None) -> dict:
    """The Dirac GAN (Mescheder et al. 2018): real data is the point 0, G is one number theta,
    D(x) = sigmoid(psi * x). Trained with alternating Adam steps (betas (beta1, 0.999)) on the
    non-saturating BCE losses. The unique equilibrium is theta = psi = 0; unregularised GAN
    training circles around it. ``d_loss(psi, theta)``: D's loss (default :func:`dirac_d_loss`),
    called with the generator's theta detached, e.g. to add a regulariser (exercise 9b).
    Returns ``{"theta", "psi", "radius"}`` lists, one entry per step.
    """
    d_loss = dirac_d_loss if d_loss is None else d_loss
    theta = torch.tensor(theta0, requires_grad=True)
    psi = torch.tensor(psi0, requires_grad=True)
    opt_g = torch.optim.Adam([theta], lr=lr, betas=(beta1, 0.999))
    opt_d = torch.optim.Adam([psi], lr=lr, betas=(beta1, 0.999))
    out = {"theta": [], "psi": [], "radius": []}
    for _ in range(steps):
        # D: -log sigmoid(psi * 0) - log(1 - sigmoid(psi * theta)) (+ the caller's regulariser)
        opt_d.zero_grad()
        d_loss(psi, theta.detach()).reshape(()).backward()
        opt_d.step()
        # G: -log sigmoid(psi * theta)
        opt_g.zero_grad()
        g_loss = F.softplus(-(psi.detach() * theta))
        g_loss.backward()
        opt_g.step()
        t, p = theta.detach().item(), psi.detach().item()
        out["theta"].append(t)
        out["psi"].append(p)
        out["radius"].append(math.hypot(t, p))
    return out


# ============================================================================ WGAN critics
def gradient_penalty_per_pixel(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The bug: ``grads.norm(2, dim=1)`` on (B, C, H, W) gradients is a norm over the channels only,
    i.e. one norm per pixel, shape (B, H, W); the penalty then pushes every pixel's gradient to 1."""
    b = real.shape[0]
    eps = torch.rand(b, 1, 1, 1, device=real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grads,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grads.norm(2, dim=1) - 1) ** 2).mean()      # BUG: (B, H, W) norms


def penalty_minimum(penalty_fn, image_shape=(1, 32, 32), steps: int = 300, lr: float = 0.05,
                    batch_size: int = 16, seed: int = 0) -> list:
    """Minimise a gradient penalty *alone* over a linear critic f(x) = <w, x> + b and return the
    critic's gradient norm ||w|| after every step. A linear critic has the same gradient w at every
    x, so the correct penalty's minimum is ||w|| = 1, and the per-pixel one's is a norm of 1 over
    the channels of every pixel, i.e. ||w|| = sqrt(H W) (32 for 32x32 images)."""
    torch.manual_seed(seed)
    d = math.prod(image_shape)
    lin = nn.Linear(d, 1)

    def critic(x):
        return lin(x.flatten(1)).view(-1)

    opt = torch.optim.Adam(lin.parameters(), lr=lr)
    norms = []
    for _ in range(steps):
        real = torch.randn(batch_size, *image_shape)
        fake = torch.randn(batch_size, *image_shape)
        loss = penalty_fn(critic, real, fake)
        opt.zero_grad()
        loss.backward()
        opt.step()
        norms.append(float(lin.weight.detach().norm()))
    return norms


def per_sample_grad_norms(critic: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """||grad_x f(x)_i||_2 for each sample i, shape (B,): the norms the gradient penalty drives to 1
    (computed as the penalty computes them, through ``f(x).sum()``)."""
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x)
    return g.flatten(1).norm(dim=1)


def batch_coupling(critic: nn.Module, x: torch.Tensor) -> float:
    """How much the critic's score of image 0 depends on the *other* images of the batch:
    ||d f(x)_0 / d x_{1:}|| / ||d f(x)_0 / d x_0||. Exactly 0 without BatchNorm (in train mode)."""
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x)[0], x)
    return float(g[1:].norm() / (g[0].norm() + 1e-30))


def run_critic_lab(bug: Optional[str] = None, images: Optional[torch.Tensor] = None, steps: int = 200,
                   batch_size: int = 64, width: int = 16, loss: str = "wgan-gp", lr: Optional[float] = None,
                   clip_value: float = 0.01, gp_weight: float = 10.0, nz: int = 32, seed: int = 0,
                   critic_norm: str = "none", device="cpu", progress: bool = True) -> LabResult:
    """Train a WGAN critic against a **fixed** (untrained) generator, to isolate the critic's bugs.

    ``loss="wgan-gp"`` (Adam 1e-4, betas (0, 0.9), lambda = 10, Gulrajani et al. 2017) or
    ``"wgan-clip"`` (RMSprop 5e-5, clip c, Arjovsky et al. 2017); ``bug`` in :data:`CRITIC_BUGS`
    (``clip_before_step`` implies wgan-clip). ``history``: ``loss_D``, ``W_estimate``,
    ``grad_norm`` (mean per-sample ||grad_x f|| at interpolates), ``max_abs_weight`` (after the step),
    ``coupling`` (:func:`batch_coupling`, every 10 steps).
    """
    if bug is not None and bug not in CRITIC_BUGS:
        raise ValueError(f"unknown bug {bug!r} for run_critic_lab; choose one of {CRITIC_BUGS}")
    if bug == "clip_before_step":
        loss = "wgan-clip"
    from tqdm.auto import tqdm

    from ..losses import gradient_penalty

    device = torch.device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if images is None:
        images = lab_images(2048)
    images = images.to(device)
    netG = Generator(nz, width).to(device)
    netG.apply(weights_init)
    netG.eval().requires_grad_(False)                      # fixed: only the critic trains here
    norm = "batch" if bug == "bn_gp_critic" else critic_norm
    critic = Discriminator(1, width, norm=norm).to(device)
    critic.apply(weights_init)
    if loss == "wgan-gp":
        opt = torch.optim.Adam(critic.parameters(), lr=lr or 1e-4, betas=(0.0, 0.9))
    else:
        opt = torch.optim.RMSprop(critic.parameters(), lr=lr or 5e-5)
        with torch.no_grad():
            for p in critic.parameters():
                p.clamp_(-clip_value, clip_value)
    res = LabResult(bug=bug, D=critic, G=netG)
    with torch.no_grad():  # W1 <= E||x - G(z)|| for any pairing: no 1-Lipschitz critic can score more
        idx = torch.randint(0, images.shape[0], (512,), generator=gen).to(device)
        pairs = transform(images[idx]) - netG(torch.randn(512, nz, 1, 1, device=device))
        res.extras["w1_upper_bound"] = float(pairs.flatten(1).norm(dim=1).mean())
    hist = {k: [] for k in ("loss_D", "W_estimate", "grad_norm", "max_abs_weight", "coupling")}
    res.history = hist
    bar = tqdm(range(steps), desc=f"critic lab: {bug or loss}", disable=not progress, leave=False)
    for step in bar:
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=gen).to(device)
        real = transform(images[idx])
        if step == 0:
            res.real = real.cpu()
        with torch.no_grad():
            fake = netG(torch.randn(batch_size, nz, 1, 1, device=device))
        w_est = critic(real).mean() - critic(fake).mean()   # E[f(x)] - E[f(G(z))]
        errD = -w_est
        if loss == "wgan-gp":
            if bug == "gp_per_pixel":
                gp = gradient_penalty_per_pixel(critic, real, fake)
            else:                                      # the BatchNorm critic's bug is let through, to be seen
                gp = gradient_penalty(critic, real, fake, allow_batchnorm=bug == "bn_gp_critic")
            errD = errD + gp_weight * gp
        opt.zero_grad()
        errD.backward()
        if bug == "clip_before_step":
            with torch.no_grad():
                for p in critic.parameters():
                    p.clamp_(-clip_value, clip_value)         # BUG: clipped, then moved by the step
            opt.step()
        else:
            opt.step()
            if loss == "wgan-clip":
                with torch.no_grad():
                    for p in critic.parameters():
                        p.clamp_(-clip_value, clip_value)     # after the step: |w| <= c when used
        eps = torch.rand(batch_size, 1, 1, 1, device=device)
        x_hat = eps * real + (1 - eps) * fake
        hist["loss_D"].append(errD.item())
        hist["W_estimate"].append(w_est.item())
        hist["grad_norm"].append(float(per_sample_grad_norms(critic, x_hat).mean()))
        hist["max_abs_weight"].append(max(float(p.detach().abs().max()) for p in critic.parameters()))
        if step % 10 == 0 or step == steps - 1:
            hist["coupling"].append((step, batch_coupling(critic, x_hat)))
        if progress and step % 25 == 0:
            bar.set_postfix(W=f"{hist['W_estimate'][-1]:.3f}", grad=f"{hist['grad_norm'][-1]:.2f}")
    bar.close()
    return res


# ============================================================================ figures
def plot_runs(runs: dict, title: str, window: int = 15, n_show: int = 16, show_samples: bool = True):
    """Compare lab runs ``{label: LabResult}``: losses, D's mean outputs, and each run's final
    fixed-noise samples (runs that crashed are skipped). Returns the figure."""
    import matplotlib.pyplot as plt

    from ..plots import show_images, smooth

    ok = {k: r for k, r in runs.items() if r.error is None and r.history.get("loss_D")}
    n_img = len(ok) if show_samples else 0
    fig, axes = plt.subplots(1, 2 + n_img, figsize=(4.2 * (2 + n_img), 3.8), squeeze=False)
    axes = axes[0]
    for i, (label, r) in enumerate(ok.items()):
        h, c = r.history, f"C{i}"
        steps = range(1, len(h["loss_D"]) + 1)
        w = min(window, max(1, len(h["loss_D"]) // 5))
        axes[0].plot(steps, smooth(h["loss_D"], w), color=c, label=f"{label}: D")
        axes[0].plot(steps, smooth(h["loss_G"], w), color=c, ls="--", label=f"{label}: G")
        axes[1].plot(steps, smooth(h["D_x"], w), color=c, label=f"{label}: D(x)")
        axes[1].plot(steps, smooth(h["D_G_z"], w), color=c, ls="--", label=f"{label}: D(G(z))")
    axes[0].set(xlabel="step", ylabel="loss (moving average)", title=f"{title}: losses")
    axes[1].set(xlabel="step", ylabel="mean D output (probability; LSGAN: score)", ylim=(-0.05, 1.05),
                title=f"{title}: what D says")
    for ax in axes[:2]:
        ax.legend(fontsize=7)
    for ax, (label, r) in zip(axes[2:], ok.items()):
        step, imgs = r.samples[-1]
        show_images(imgs[:n_show], nrow=int(math.sqrt(n_show)), title=f"{label}: step {step}", ax=ax)
        ax.set_xlabel("fixed noise, final G")
    fig.tight_layout()
    return fig


def plot_critic_runs(runs: dict, title: str, keys=("grad_norm", "W_estimate"), window: int = 10, bound=None):
    """Critic-lab curves ``{label: LabResult}``: one panel per history key (gradient norms at the
    interpolates, the W estimate, ...). ``bound`` draws the W1 upper bound on the W panel."""
    import matplotlib.pyplot as plt

    from ..plots import smooth

    labels = {"grad_norm": ("||grad f(x_hat)|| (mean per sample)", "gradient norm at the interpolates"),
              "W_estimate": ("E[f(x)] - E[f(G(z))]", "W1 estimate"),
              "ratio": ("W estimate / (norm x E||x - G(z)||)", "estimate vs measured slope"),
              "max_abs_weight": ("max |w| after the step", "largest critic weight")}
    n = len(keys)
    fig, axes = plt.subplots(1, n, figsize=(min(6, 16 / n) * n, 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, (label, r) in enumerate(runs.items()):
            h = r.history
            w = min(window, max(1, len(h["grad_norm"]) // 5))
            if key == "ratio":   # W <= slope * E||x - G(z)|| for a critic whose slope is the measured norm
                v = smooth(h["W_estimate"], w) / (smooth(h["grad_norm"], w) * r.extras["w1_upper_bound"] + 1e-12)
            else:
                v = h[key] if key == "max_abs_weight" else smooth(h[key], w)
            ax.plot(range(1, len(v) + 1), v, color=f"C{i}", label=label)
        ylab, t = labels.get(key, (key, key))
        ax.set(xlabel="critic step", ylabel=ylab, title=f"{title}: {t}")
        if key == "W_estimate" and bound is not None:
            ax.axhline(bound, color="k", ls=":", label="E||x - G(z)||: the most a 1-Lipschitz f can score")
        if key == "grad_norm":
            ax.axhline(1.0, color="k", ls=":", label="target norm 1")
        if key == "ratio":
            ax.axhline(1.0, color="k", ls=":", label="consistent with the measured slope below 1")
            ax.set_ylim(0, 3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
