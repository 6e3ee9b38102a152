"""The exercise checks of notebook 05 accept the reference solutions, report unsolved stubs
without failing, and reject the very bugs the lab teaches (so a check that passes everything, or
passes the bug it is about, cannot slip in)."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_utils.exercises import nb05
from exercise_harness import load_solutions, standard_check_tests

SOL = load_solutions("05_debugging_lab.py")

# name -> (check, solution arguments)
CHECKS = {
    "output_sizes": (nb05.check_output_sizes, (SOL.conv_out_size, SOL.convt_out_size)),
    "latent_to_map": (nb05.check_latent_to_map, (SOL.latent_to_map,)),
    "prepare_batch": (nb05.check_prepare_batch, (SOL.prepare_batch,)),
    "scale_uint8": (nb05.check_scale_uint8, (SOL.scale_uint8,)),
    "g_loss": (nb05.check_g_loss, (SOL.g_loss,)),
    "d_step": (nb05.check_d_step, (SOL.d_step,)),
    "lsgan_loss": (nb05.check_lsgan_loss, (SOL.lsgan_loss,)),
    "weights_init": (nb05.check_weights_init, (SOL.weights_init,)),
    "make_optimizers": (nb05.check_make_optimizers, (SOL.make_optimizers,)),
    "bce_with_logits": (nb05.check_bce_with_logits, (SOL.bce_with_logits,)),
    "gradient_penalty": (nb05.check_gradient_penalty, (SOL.gradient_penalty,)),
    "critic_update": (nb05.check_critic_update, (SOL.critic_update,)),
    "gp_norm_layer": (nb05.check_gp_norm_layer, (SOL.gp_norm_layer,)),
    "dirac_d_loss": (nb05.check_dirac_regulariser, (SOL.dirac_d_loss,)),
}


# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)


def test_the_lab_script_weights_init_passes_the_init_check():
    # the lab's own (tutorial-style) weights_init is the fix the notebook shows
    from gan_utils.lessons.debug_lab import weights_init

    assert nb05.check_weights_init(weights_init) is True


# ---------------------------------------------------------------- the lab's bugs must fail
def _conv_float_div(size, kernel, stride=1, padding=0):
    return (size + 2 * padding - kernel) / stride + 1


def _convt_as_conv(size, kernel, stride=1, padding=0):
    return (size + 2 * padding - kernel) // stride + 1


def _prepare_resize_(x, channels, size):
    return x.resize_(x.shape[0], channels, size, size)         # the bug, in place


def _prepare_resize_clone(x, channels, size):
    return x.clone().resize_(x.shape[0], channels, size, size)


def _prepare_reshape(x, channels, size):
    # a "shape fix" that still mixes images: reinterpret the batch's numbers as new images
    n = x.shape[0] * channels * size * size
    flat = x.reshape(-1).repeat(n // x.numel() + 1)[:n]
    return flat.view(x.shape[0], channels, size, size)


def _prepare_pad_zero(x, channels, size):
    q = (size - x.shape[-1]) // 2
    out = F.pad(x, (q, q, q, q)) if q > 0 else F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return out.expand(-1, channels, -1, -1)


def _prepare_one_channel(x, channels, size):
    out = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
    rgb = torch.zeros(x.shape[0], channels, size, size)
    rgb[:, :1] = out                                             # grey only in the red channel
    return rgb


WRONG = [
    ("output_sizes", (_conv_float_div, SOL.convt_out_size), "floor division"),
    ("output_sizes", (SOL.conv_out_size, _convt_as_conv), "Conv2d formula"),
    ("latent_to_map", (lambda z: z,), "(B, nz, 1, 1)"),
    ("latent_to_map", (lambda z: z.view(64, -1, 1, 1),), "hard-code"),
    ("latent_to_map", (lambda z: z.t()[:, :, None, None],), "batch first"),
    ("prepare_batch", (_prepare_resize_,), "in place"),
    ("prepare_batch", (_prepare_resize_clone,), "resize_"),
    ("prepare_batch", (_prepare_reshape,), "other* images"),
    ("prepare_batch", (_prepare_pad_zero,), "background value -1"),
    ("prepare_batch", (_prepare_one_channel,), "R = G = B"),
    ("scale_uint8", (lambda x: x.float() / 255,), "ToTensor"),
    ("scale_uint8", (lambda x: x.float() / 255 / 255,), "twice"),
    ("scale_uint8", (lambda x: x * 2 - 1,), "float first"),
    ("scale_uint8", (lambda x: x.float() / 255 - 0.5,), "0 -> -1"),
    ("g_loss", (lambda l: F.binary_cross_entropy_with_logits(l, torch.zeros_like(l)),), "fake label"),
    ("g_loss", (lambda l: -F.softplus(l).mean(),), "saturating"),
    ("g_loss", (lambda l: F.binary_cross_entropy(torch.sigmoid(l), torch.ones_like(l)),), "BCELoss clamps log"),
    ("g_loss", (lambda l: -torch.log(torch.sigmoid(l)).mean(),), "non-finite"),
    ("g_loss", (lambda l: torch.tensor(F.softplus(-l).mean().item()),), "no gradient"),
    ("lsgan_loss", (lambda d, y: F.mse_loss(d, y),), "broadcast"),
    ("lsgan_loss", (lambda d, y: ((d.reshape(-1) - y) ** 2).sum(),), "expected"),
    ("bce_with_logits", (lambda l, y: F.binary_cross_entropy(torch.sigmoid(l), y),), "from p = sigmoid(l)"),
    ("bce_with_logits", (lambda l, y: -(y * torch.log(torch.sigmoid(l)) + (1 - y) * torch.log(1 - torch.sigmoid(l))).mean(),),
     "from p = sigmoid(l)"),
    ("gp_norm_layer", (lambda c: nn.BatchNorm2d(c),), "mixes"),
    ("gp_norm_layer", (lambda c: nn.Identity(),), "does not normalise"),
]


def _d_step_no_detach(D, opt_d, real, fake):
    opt_d.zero_grad()
    a, b = D(real), D(fake)
    loss = F.binary_cross_entropy_with_logits(a, torch.ones_like(a)) + F.binary_cross_entropy_with_logits(b, torch.zeros_like(b))
    loss.backward()
    opt_d.step()
    return loss


def _d_step_retain_graph(D, opt_d, real, fake):
    opt_d.zero_grad()
    a, b = D(real), D(fake)
    loss = F.binary_cross_entropy_with_logits(a, torch.ones_like(a)) + F.binary_cross_entropy_with_logits(b, torch.zeros_like(b))
    loss.backward(retain_graph=True)
    opt_d.step()
    return loss


def _d_step_no_zero_grad(D, opt_d, real, fake):
    a, b = D(real), D(fake.detach())
    loss = F.binary_cross_entropy_with_logits(a, torch.ones_like(a)) + F.binary_cross_entropy_with_logits(b, torch.zeros_like(b))
    loss.backward()
    opt_d.step()
    return loss


def _d_step_no_step(D, opt_d, real, fake):
    opt_d.zero_grad()
    a, b = D(real), D(fake.detach())
    loss = F.binary_cross_entropy_with_logits(a, torch.ones_like(a)) + F.binary_cross_entropy_with_logits(b, torch.zeros_like(b))
    loss.backward()
    return loss


def _d_step_swapped_labels(D, opt_d, real, fake):
    opt_d.zero_grad()
    a, b = D(real), D(fake.detach())
    loss = F.binary_cross_entropy_with_logits(a, torch.zeros_like(a)) + F.binary_cross_entropy_with_logits(b, torch.ones_like(b))
    loss.backward()
    opt_d.step()
    return loss


def _init_default(m):
    pass


def _init_variance(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02 ** 2)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def _init_bn_zero_mean(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)


def _opt_default_betas(G, D):
    return torch.optim.Adam(G.parameters(), lr=2e-4), torch.optim.Adam(D.parameters(), lr=2e-4)


def _opt_shared(G, D):
    opt = torch.optim.Adam(list(G.parameters()) + list(D.parameters()), lr=2e-4, betas=(0.5, 0.999))
    return opt, opt


def _opt_wrong_lr(G, D):
    return (torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999)),
            torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999)))


def _gp_per_pixel(critic, real, fake):
    eps = torch.rand(real.shape[0], 1, 1, 1)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((g.norm(2, dim=1) - 1) ** 2).mean()


def _gp_no_create_graph(critic, real, fake):
    eps = torch.rand(real.shape[0], 1, 1, 1)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x)
    return ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def _gp_eps_per_pixel(critic, real, fake):
    eps = torch.rand_like(real)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def _clip_before_step(critic, optimizer, loss, c):
    optimizer.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in critic.parameters():
            p.clamp_(-c, c)
    optimizer.step()


def _clip_no_zero_grad(critic, optimizer, loss, c):
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        for p in critic.parameters():
            p.clamp_(-c, c)


WRONG += [
    ("d_step", (_d_step_no_detach,), "detach"),
    ("d_step", (_d_step_retain_graph,), "detach"),
    ("d_step", (_d_step_no_zero_grad,), "zero_grad"),
    ("d_step", (_d_step_no_step,), "opt_d.step()"),
    ("d_step", (_d_step_swapped_labels,), "label real images 1"),
    ("weights_init", (_init_default,), "N(0, 0.02)"),
    ("weights_init", (_init_variance,), "standard deviation"),
    ("weights_init", (_init_bn_zero_mean,), "scale"),
    ("make_optimizers", (_opt_default_betas,), "default betas"),
    ("make_optimizers", (_opt_shared,), "other network"),
    ("make_optimizers", (_opt_wrong_lr,), "differently"),
    ("gradient_penalty", (_gp_per_pixel,), "per *pixel*"),
    ("gradient_penalty", (_gp_no_create_graph,), "create_graph"),
    ("gradient_penalty", (_gp_eps_per_pixel,), "one eps per sample"),
    ("critic_update", (_clip_before_step,), "optimizer.step(), so |w| <= c"),
    ("critic_update", (_clip_no_zero_grad,), "zero the old gradients"),
]


# exercise 9b (open, measured): the target rejects too weak, too strong and wrong-signed regularisers;
# the rule rejects "regularisers" that use the generator's theta, and a loss without the BCE part
def _dirac_r1(gamma):
    return lambda psi, theta: SOL.dirac_d_loss(psi, theta, gamma=gamma)


def _dirac_uses_theta(psi, theta):
    return SOL.dirac_d_loss(psi, theta, gamma=0.0) + (psi + theta) ** 2      # steers psi to -theta: not allowed


def _dirac_no_bce(psi, theta):
    return psi ** 2


WRONG += [
    ("dirac_d_loss", (_dirac_r1(0.0),), "target below"),            # plain BCE: circles (section 9)
    ("dirac_d_loss", (_dirac_r1(0.3),), "target below"),            # too weak
    ("dirac_d_loss", (_dirac_r1(100.0),), "target below"),          # so strong that psi is pinned at 0
    ("dirac_d_loss", (_dirac_r1(-1.0),), "target below"),           # wrong sign
    ("dirac_d_loss", (_dirac_uses_theta,), "changes with theta"),
    ("dirac_d_loss", (_dirac_no_bce,), "does not depend on the generator"),
]


@pytest.mark.filterwarnings("ignore:Using a target size")  # the broadcasting bug warns, as it should
@pytest.mark.parametrize("name, wrong, hint", WRONG,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything, or accepts the very bug its section is about
    check, _ = CHECKS[name]
    with pytest.raises(AssertionError) as info:
        check(*wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"
