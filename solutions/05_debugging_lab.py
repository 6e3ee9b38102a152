"""Reference solutions to the exercises of notebooks/05_debugging_lab.ipynb (one fix per bug).

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/05_debugging_lab.py`` in the notebook) and its check passes.
tests/test_exercises_nb05.py runs every one of them through its check in CI.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


# 1 · generator output size = discriminator input size
def conv_out_size(size, kernel, stride=1, padding=0):
    """nn.Conv2d: a kernel-sized window slides over the padded input in steps of `stride`."""
    return (size + 2 * padding - kernel) // stride + 1


def convt_out_size(size, kernel, stride=1, padding=0):
    """nn.ConvTranspose2d: the inverse map of the conv formula (output_padding = 0)."""
    return (size - 1) * stride - 2 * padding + kernel


# 2 · the latent vector as a 1x1 map
def latent_to_map(z):
    """(B, nz) -> (B, nz, 1, 1): nz channels of a 1x1 image, what ConvTranspose2d takes."""
    return z[:, :, None, None]  # = z.view(z.shape[0], -1, 1, 1)


# 3 · grey data, a 3-channel model, and a real resampling
def prepare_batch(x, channels, size):
    """(B, 1, H, W) in [-1, 1] -> (B, channels, size, size): resample each image, repeat the grey channel."""
    h = x.shape[-1]
    if size != h:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < h)
    return x.expand(-1, channels, -1, -1) if channels != x.shape[1] else x


# 4 · scale once
def scale_uint8(x_u8):
    """uint8 [0, 255] -> float32 [-1, 1], the tanh range: x / 127.5 - 1."""
    return x_u8.float() / 127.5 - 1.0


# 5 · the generator's loss
def g_loss(fake_logits):
    """Non-saturating: -E[log D(G(z))] = mean softplus(-l), from D's logits on the fakes."""
    return F.softplus(-fake_logits).mean()


# 6 · the D step detaches the fakes
def d_step(D, opt_d, real, fake):
    """One D update; fake.detach() keeps D's loss out of G (and G's graph intact for the G step)."""
    opt_d.zero_grad()
    out_real, out_fake = D(real), D(fake.detach())
    loss = (F.binary_cross_entropy_with_logits(out_real, torch.ones_like(out_real))
            + F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake)))
    loss.backward()
    opt_d.step()
    return loss.detach()


# 7 · one logit, one label
def lsgan_loss(d_out, labels):
    """Mean over samples of (d_out_i - label_i)^2; d_out may be (B,) or (B, 1)."""
    return ((d_out.reshape(-1) - labels.reshape(-1)) ** 2).mean()


# 8 · DCGAN initialisation (applied with model.apply(weights_init))
def weights_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# 9 · Adam with beta1 = 0.5
def make_optimizers(G, D):
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    return opt_g, opt_d


# 10 · BCE from logits
def bce_with_logits(logits, targets):
    """-[y log sigmoid(l) + (1 - y) log(1 - sigmoid(l))] with log sigmoid(l) = -softplus(-l) and
    log(1 - sigmoid(l)) = -softplus(l): exact for any l."""
    return (targets * F.softplus(-logits) + (1 - targets) * F.softplus(logits)).mean()


# 11 · the gradient penalty, one norm per sample
def gradient_penalty(critic, real, fake):
    b = real.shape[0]
    eps = torch.rand(b, 1, 1, 1, device=real.device)                     # one eps per sample
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grads,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = grads.flatten(1).norm(2, dim=1)                              # (B,): over C, H, W
    return ((norms - 1) ** 2).mean()


# 12 · step, then clip
def critic_update(critic, optimizer, loss, c):
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        for p in critic.parameters():
            p.clamp_(-c, c)


# 13 · a per-sample normalisation for a GP critic
def gp_norm_layer(channels):
    """LayerNorm over (C, H, W) of each sample: GroupNorm with one group."""
    return nn.GroupNorm(1, channels)


def dirac_d_loss(psi, theta, gamma=1.0):
    """Exercise 9b (open): the Dirac GAN's D loss plus an R1 penalty (Mescheder et al. 2018, section 4.1).

    R1 penalises the squared gradient of D's logit with respect to its input *at the real data*:
    d(psi * x)/dx = psi at x = 0, so the penalty is gamma / 2 * psi^2. It damps the rotation around
    the equilibrium without moving it (at psi = 0 the penalty and its gradient vanish). gamma = 1
    converges here; much weaker still circles, much stronger (gamma ~ 100) pins psi at 0 and G learns
    slowly.
    """
    bce = F.softplus(-(psi * 0.0)) + F.softplus(psi * theta)     # -log D(0) - log(1 - D(theta))
    return bce + gamma / 2 * psi ** 2                             # + R1 at the real point x = 0
