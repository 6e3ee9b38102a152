"""Checks for the exercises of notebooks/05_debugging_lab.ipynb: one small fix per bug of
:mod:`gan_utils.lessons.debug_lab` (solutions in solutions/05_debugging_lab.py).

Each ``check_*`` runs the learner's function on seeded random inputs and tests what it *does*
(shapes, values, gradients, which parameters move), against PyTorch layers or the references in
:mod:`gan_utils`: it prints "not attempted yet" and returns ``False`` while the stub still raises
``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and
prints a confirmation and returns ``True`` on a right one.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import losses
from ..data import to_float

__all__ = ["check_output_sizes", "check_latent_to_map", "check_prepare_batch", "check_scale_uint8",
           "check_g_loss", "check_d_step", "check_lsgan_loss", "check_weights_init",
           "check_make_optimizers", "check_bce_with_logits", "check_gradient_penalty",
           "check_critic_update", "check_gp_norm_layer", "check_dirac_regulariser", "DIRAC_SETTING", "DIRAC_TARGET"]


from ._common import _NotAttempted, _Recorder, _call, _check_on_segments, _fail, _not_attempted  # noqa: F401  (shared check helpers)


def _tensor(name: str, out) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        _fail(f"{name} should return a torch.Tensor, got {type(out).__name__}")
    return out


def _scalar(name: str, out) -> torch.Tensor:
    out = _tensor(name, out)
    if out.numel() != 1:
        _fail(f"{name} should return one number (a 0-d tensor, the batch mean), got shape {tuple(out.shape)}")
    return out.reshape(())


# ----------------------------------------------------------------------------- small models
class _TinyCritic(nn.Module):
    """A random conv critic on (B, C, 8, 8) images, with an optional normalisation layer."""

    def __init__(self, channels: int = 3, width: int = 8, norm=None):
        super().__init__()
        self.c1 = nn.Conv2d(channels, width, 3, 2, 1)                  # -> (width, 4, 4)
        self.norm = norm if norm is not None else nn.Identity()
        self.c2 = nn.Conv2d(width, 1, 4, 1, 0)                         # -> (1, 1, 1)

    def forward(self, x):
        return self.c2(F.leaky_relu(self.norm(self.c1(x)), 0.2)).view(-1)


def _tiny_gd(seed: int, nz: int = 8):
    from ..lessons.debug_lab import Discriminator, Generator, weights_init

    torch.manual_seed(seed)
    G, D = Generator(nz, 4), Discriminator(1, 4, norm="none")
    G.apply(weights_init)
    D.apply(weights_init)
    return G, D


# ============================================================================ 1 · layer sizes
def check_output_sizes(conv_out_size, convt_out_size, n_trials: int = 60, seed: int = 0) -> bool:
    """``conv_out_size(size, kernel, stride, padding)`` and ``convt_out_size(size, kernel, stride,
    padding)`` must return the spatial output size of ``nn.Conv2d`` / ``nn.ConvTranspose2d``
    (dilation 1, output_padding 0) on a square input; compared with the layers themselves."""
    name = "output_sizes"
    gen = torch.Generator().manual_seed(seed)
    try:
        for _ in range(n_trials):
            k = int(torch.randint(1, 6, (1,), generator=gen))
            s = int(torch.randint(1, 4, (1,), generator=gen))
            p = int(torch.randint(0, k, (1,), generator=gen))
            size = int(torch.randint(max(1, k - 2 * p), 20, (1,), generator=gen))
            x = torch.zeros(1, 1, size, size)
            want_c = nn.Conv2d(1, 1, k, s, p)(x).shape[-1]
            got_c = _call(conv_out_size, size, k, s, p)
            if got_c != want_c:
                hint = (" Use floor division: a stride that does not divide evenly drops the last partial window."
                        if got_c == (size + 2 * p - k) / s + 1 else "")
                _fail(f"{name}: Conv2d(kernel={k}, stride={s}, padding={p}) on {size}x{size} gives "
                      f"{want_c}x{want_c}, your conv_out_size says {got_c}. Count the positions of a "
                      f"kernel-sized window on the padded input, moving by the stride.{hint}")
            if p <= (k - 1) and (size - 1) * s - 2 * p + k >= 1:
                want_t = nn.ConvTranspose2d(1, 1, k, s, p)(x).shape[-1]
                got_t = _call(convt_out_size, size, k, s, p)
                if got_t != want_t:
                    hint = (" That is the Conv2d formula: a transposed convolution maps the conv's output size "
                            "back to its input size, so invert it."
                            if got_t == (size + 2 * p - k) // s + 1 else "")
                    _fail(f"{name}: ConvTranspose2d(kernel={k}, stride={s}, padding={p}) on {size}x{size} "
                          f"gives {want_t}x{want_t}, your convt_out_size says {got_t}.{hint}")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: both formulas agree with nn.Conv2d and nn.ConvTranspose2d on {n_trials} random layers.")
    return True


# ============================================================================ 2 · the latent map
def check_latent_to_map(fn, seed: int = 0) -> bool:
    """``fn(z)`` must turn latent vectors (B, nz) into the (B, nz, 1, 1) maps a ConvTranspose2d
    generator takes, for any B and nz, keeping the values."""
    name = "latent_to_map"
    gen = torch.Generator().manual_seed(seed)
    try:
        for b, nz in ((1, 3), (5, 100), (64, 16), (7, 7)):
            z = torch.randn(b, nz, generator=gen)
            try:
                out = _tensor(name, _call(fn, z.clone()))
            except (RuntimeError, ValueError, IndexError) as e:
                _fail(f"{name}: z of shape {(b, nz)} made your function raise {type(e).__name__}: {e}. "
                      "Don't hard-code the batch size or nz: read them from z.shape (or use -1 / None indexing).")
            if tuple(out.shape) != (b, nz, 1, 1):
                _fail(f"{name}: z of shape {(b, nz)} became {tuple(out.shape)}, expected {(b, nz, 1, 1)} = (B, nz, 1, 1): "
                      "batch first, the nz latent numbers as channels, then a 1x1 'image'. "
                      "Don't hard-code the batch size or nz.")
            if not torch.equal(out.reshape(b, nz), z):
                _fail(f"{name}: the values changed; z[i, j] must end up at [i, j, 0, 0] (reshape, don't sample).")
            layer = nn.ConvTranspose2d(nz, 2, 4, 1, 0)
            if tuple(layer(out).shape) != (b, 2, 4, 4):
                _fail(f"{name}: a ConvTranspose2d({nz}, 2, 4) does not accept your output")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: (B, nz) -> (B, nz, 1, 1) for every batch size and nz tried, values kept.")
    return True


# ============================================================================ 3 · channels and size
def _smooth_images(b: int, h: int, gen) -> torch.Tensor:
    """Smooth random greyscale images (B, 1, h, h) in [-1, 1]: sums of low-frequency waves."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, h), indexing="ij")
    out = torch.zeros(b, 1, h, h)
    for _ in range(3):
        fx, fy, ph = torch.rand(3, b, 1, 1, generator=gen)
        out += torch.cos(2 * math.pi * (fx * xx + fy * yy) + 6 * ph)[:, None]
    return (out / 3).clamp(-1, 1)


def check_prepare_batch(fn, seed: int = 0) -> bool:
    """``fn(x, channels, size)``: a float batch (B, 1, H, W) in [-1, 1] -> (B, channels, size, size)
    by *resampling* (F.interpolate) -- or, from 28 to 32, by padding with the background value -1 --
    with the grey channel repeated; each image on its own; ``x`` left untouched."""
    name = "prepare_batch"
    gen = torch.Generator().manual_seed(seed)
    try:
        for channels, h, size in ((3, 28, 32), (1, 28, 16), (3, 28, 64), (1, 32, 32), (3, 28, 28)):
            x = _smooth_images(6, h, gen)
            x_before = x.clone()
            out = _tensor(name, _call(fn, x, channels, size))
            if not torch.equal(x, x_before):
                _fail(f"{name}: your function changed its input x in place (Tensor.resize_ or another in-place "
                      "op?). Return a new tensor; the caller's batch must stay as it was.")
            if tuple(out.shape) != (6, channels, size, size):
                _fail(f"{name}: (6, 1, {h}, {h}) with channels={channels}, size={size} gave {tuple(out.shape)}, "
                      f"expected {(6, channels, size, size)}")
            out = out.float()
            # each image on its own: change the others, image 0 must not move
            x2 = x.clone()
            x2[1:] = -x2[1:]
            out2 = _tensor(name, _call(fn, x2, channels, size)).float()
            if not torch.allclose(out2[0], out[0], atol=1e-6):
                _fail(f"{name}: output image 0 changes when *other* images of the batch change: pixels are "
                      "being moved across images. That is what Tensor.resize_ does (it re-reads memory "
                      "with the new shape); resample each image with F.interpolate instead.")
            for c in range(1, channels):
                if not torch.allclose(out[:, c], out[:, 0], atol=1e-6):
                    _fail(f"{name}: channel {c} differs from channel 0. A grey image in RGB has R = G = B: "
                          "repeat the one channel (x.expand(-1, 3, -1, -1) or x.repeat(1, 3, 1, 1)).")
            ref = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < h)
            err = (out[:, :1] - ref).abs().mean().item()
            if err < 0.05:
                continue
            if size - h > 0 and (size - h) % 2 == 0:
                q = (size - h) // 2
                padded = F.pad(x, (q, q, q, q), value=-1.0)
                if (out[:, :1] - padded).abs().max().item() < 1e-5:
                    continue
                if (out[:, :1] - F.pad(x, (q, q, q, q), value=0.0)).abs().max().item() < 1e-5:
                    _fail(f"{name}: you padded with 0, which in [-1, 1] is mid-grey: the border is a grey "
                          "frame no real 28x28 image has. Pad with the background value -1.")
            _fail(f"{name}: {h}x{h} -> {size}x{size} does not look like the same picture resampled (mean "
                  f"difference {err:.3f} from bilinear interpolation on smooth test images). Use "
                  "F.interpolate(x, size=(size, size), mode='bilinear', antialias=size < H).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: right shape, grey repeated into every channel, images resampled one by one, input untouched.")
    return True


# ============================================================================ 4 · scaling
def check_scale_uint8(fn, seed: int = 0) -> bool:
    """``fn(x_u8)`` must map uint8 images of any shape to float32 in [-1, 1]: 0 -> -1, 255 -> 1, linear."""
    name = "scale_uint8"
    gen = torch.Generator().manual_seed(seed)
    try:
        for shape in ((4, 1, 28, 28), (28, 28), (2, 3, 8, 8)):
            x = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
            x.view(-1)[:2] = torch.tensor([0, 255], dtype=torch.uint8)
            out = _tensor(name, _call(fn, x.clone()))
            if tuple(out.shape) != shape:
                _fail(f"{name}: shape {shape} became {tuple(out.shape)}; scaling must not change the shape")
            if not out.is_floating_point():
                _fail(f"{name}: returned dtype {out.dtype}. Convert to float first (x.float()): uint8 arithmetic "
                      "wraps around (0 - 1 = 255) and cannot hold -1.")
            want = to_float(x)
            got = out.float()
            if torch.allclose(got, want, atol=1e-5):
                continue
            lo, hi = got.min().item(), got.max().item()
            if torch.allclose(got, x.float() / 255, atol=1e-6):
                _fail(f"{name}: values in [0, 1] -- that is ToTensor's range. The generator's tanh outputs "
                      "[-1, 1], so D could tell real from fake by range alone. Map to [-1, 1]: x / 127.5 - 1.")
            if hi <= 1 / 255 + 1e-6 and lo >= 0:
                _fail(f"{name}: values in [0, {hi:.4f}]: divided by 255 twice (the double-scaling bug). "
                      "Divide by 255 once, then map [0, 1] to [-1, 1].")
            _fail(f"{name}: got values in [{lo:.3f}, {hi:.3f}]; expected 0 -> -1, 255 -> 1, linear in between "
                  f"(e.g. pixel {int(x.view(-1)[2])} -> {want.view(-1)[2].item():.4f}, you gave "
                  f"{got.view(-1)[2].item():.4f}).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: uint8 [0, 255] -> float [-1, 1], linear, any shape.")
    return True


# ============================================================================ 5 · G's loss
def check_g_loss(fn, seed: int = 0) -> bool:
    """``fn(fake_logits)`` (D's logits on G(z), shape (B,)) must return the non-saturating
    generator loss -E[log D(G(z))] = mean softplus(-l) as a differentiable 0-d tensor, stable for
    any logit (compared with :func:`gan_utils.losses.g_loss_nonsaturating`, values and gradients)."""
    name = "g_loss"
    gen = torch.Generator().manual_seed(seed)
    try:
        for extreme in (False, True):
            l = torch.randn(32, generator=gen, dtype=torch.float32) * 3
            if extreme:
                l[:6] = torch.tensor([-120.0, -60.0, -30.0, 30.0, 60.0, 120.0])
            l1 = l.clone().requires_grad_(True)
            out = _scalar(name, _call(fn, l1))
            if not out.requires_grad:
                _fail(f"{name}: the result carries no gradient (did you call .item() or detach?): G learns "
                      "through this loss, so it must stay a tensor in the graph.")
            (g,) = torch.autograd.grad(out, l1)
            l2 = l.clone().requires_grad_(True)
            want = losses.g_loss_nonsaturating(l2)
            (g_want,) = torch.autograd.grad(want, l2)
            if torch.allclose(out.detach(), want.detach(), rtol=1e-5, atol=1e-6) and \
                    torch.allclose(g, g_want, rtol=1e-4, atol=1e-7):
                continue
            wrong_target = F.binary_cross_entropy_with_logits(l, torch.zeros_like(l))
            if torch.allclose(out.detach(), wrong_target, rtol=1e-5):
                _fail(f"{name}: that is BCE against the fake label 0, i.e. -log(1 - D(G(z))): G would be "
                      "rewarded for making D reject its samples. G's loss labels its fakes as real (1).")
            if torch.allclose(out.detach(), -F.softplus(l).mean(), rtol=1e-5):
                _fail(f"{name}: that is the saturating loss log(1 - D(G(z))) (notebook 01): its gradient vanishes "
                      "when D rejects the fakes. Use the non-saturating -log D(G(z)).")
            if not torch.isfinite(out).all() or not torch.isfinite(g).all():
                _fail(f"{name}: got a non-finite value or gradient at extreme logits (|l| = 120): "
                      "log(sigmoid(l)) underflows. Compute it from the logit: -log sigmoid(l) = softplus(-l).")
            if extreme:
                _fail(f"{name}: right for moderate logits but wrong at |l| = 30..120 (got {out.item():.4f}, expected "
                      f"{want.item():.4f}; gradient off by {float((g - g_want).abs().max()):.2e}). Sigmoid + "
                      "BCELoss clamps log at -100 and loses the gradient there: work with the logits.")
            _fail(f"{name}: got {out.item():.5f}, expected {want.item():.5f} = mean softplus(-l) = -mean log D(G(z)).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: the non-saturating loss, with the right gradient, even at logits of +-120.")
    return True


# ============================================================================ 6 · the D step
def check_d_step(fn, n_trials: int = 3, seed: int = 0) -> bool:
    """``fn(D, opt_d, real, fake)`` must do one D update (BCE with logits: real -> 1, fake -> 0) and
    return the loss, leaving G untouched: no gradient in G's parameters, G's graph (kept by ``fake``
    for the G step) still usable, D updated exactly like the reference step."""
    name = "d_step"
    try:
        for trial in range(n_trials):
            G, D = _tiny_gd(seed + trial)
            real = torch.rand(8, 1, 32, 32) * 2 - 1
            z = torch.randn(8, 8, 1, 1)
            fake = G(z)                                    # with its graph, as in the lab script
            D_ref = copy.deepcopy(D)
            opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
            opt_ref = torch.optim.Adam(D_ref.parameters(), lr=1e-3, betas=(0.5, 0.999))
            for p in D.parameters():                       # stale gradients from an earlier G step
                p.grad = torch.full_like(p, 0.5)
            with torch.no_grad():
                lr_, lf_ = D_ref(real), D_ref(fake)
                want = (F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_))
                        + F.binary_cross_entropy_with_logits(lf_, torch.zeros_like(lf_)))
            out = _call(fn, D, opt_d, real, fake)
            leaked = [n for n, p in G.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
            if leaked:
                _fail(f"{name}: after your D step G's parameters have gradients ({len(leaked)} tensors, e.g. "
                      f"{leaked[0]}): D's loss was back-propagated into G. Feed D fake.detach().")
            try:
                D(fake).sum().backward()
            except RuntimeError as e:
                _fail(f"{name}: G's graph was used up by your D step, so the G step fails with '{str(e)[:60]}...'. "
                      "Detach the fakes in the D step (retain_graph=True is not the fix: it keeps the graph but "
                      "still sends D's gradients into G).")
            if out is None:
                _fail(f"{name}: return the D loss (a number or a 0-d tensor)")
            got = float(out.detach() if isinstance(out, torch.Tensor) else out)
            if not (math.isclose(got, float(want), rel_tol=1e-4) or math.isclose(got, float(want) / 2, rel_tol=1e-4)):
                _fail(f"{name}: returned loss {got:.5f}, expected {float(want):.5f} = BCE(D(real), 1) + "
                      "BCE(D(fake), 0) computed with logits (BCEWithLogitsLoss), before the update.")
            opt_ref.zero_grad()
            (lr_, lf_) = D_ref(real), D_ref(fake.detach())
            (F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_))
             + F.binary_cross_entropy_with_logits(lf_, torch.zeros_like(lf_))).backward()
            opt_ref.step()
            moved = any(not torch.equal(p, q) for p, q in zip(D.parameters(), _tiny_gd(seed + trial)[1].parameters()))
            if not moved:
                _fail(f"{name}: D's parameters did not change: call opt_d.step() after loss.backward().")
            diff = max((p - q).abs().max().item() for p, q in zip(D.parameters(), D_ref.parameters()))
            if diff > 1e-5:
                _fail(f"{name}: D's update differs from the reference step (max weight difference {diff:.2e}). "
                      "Zero D's old gradients first (opt_d.zero_grad()), label real images 1 and fakes 0, "
                      "backward once, then opt_d.step().")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: D updated correctly, no gradient reached G and G's graph is intact ({n_trials} trials).")
    return True


# ============================================================================ 7 · label shapes
def check_lsgan_loss(fn, seed: int = 0) -> bool:
    """``fn(d_out, labels)`` must return the least-squares loss mean_i (d_out_i - labels_i)^2 for D
    outputs shaped (B,) **or** (B, 1) and labels shaped (B,), with labels that vary within the batch."""
    name = "lsgan_loss"
    gen = torch.Generator().manual_seed(seed)
    try:
        for b in (1, 6, 16):
            labels = torch.cat([torch.ones(b - b // 2), torch.zeros(b // 2)])
            soft = torch.rand(b, generator=gen)
            for lab in (labels, soft):
                for shape in ((b,), (b, 1)):
                    d_out = torch.randn(shape, generator=gen)
                    want = ((d_out.reshape(-1) - lab) ** 2).mean()
                    out = _scalar(name, _call(fn, d_out.clone(), lab.clone()))
                    if torch.allclose(out, want, rtol=1e-5, atol=1e-7):
                        continue
                    bc = ((d_out.reshape(-1, 1) - lab.reshape(1, -1)) ** 2).mean()
                    if shape == (b, 1) and torch.allclose(out, bc, rtol=1e-5, atol=1e-7):
                        _fail(f"{name}: with d_out shaped {shape} and labels ({b},) your loss broadcast to a "
                              f"({b}, {b}) matrix: every output was compared with every label. Flatten D's "
                              "output first: d_out.view(-1) (or reshape(-1)).")
                    _fail(f"{name}: d_out {tuple(shape)}, labels ({b},): got {out.item():.5f}, expected "
                          f"{want.item():.5f} = mean over samples of (d_out_i - label_i)^2.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: one squared error per sample, for (B,) and (B, 1) outputs alike.")
    return True


# ============================================================================ 8 · initialisation
def check_weights_init(fn, seed: int = 0) -> bool:
    """``fn(m)`` is applied with ``model.apply(fn)`` to the lab's G and D (wide, for statistics):
    every Conv/ConvTranspose weight must look like N(0, 0.02), every BatchNorm weight like
    N(1, 0.02) and every BatchNorm bias be 0."""
    from ..lessons.debug_lab import Discriminator, Generator

    name = "weights_init"
    torch.manual_seed(seed)
    try:
        models = [Generator(32, 32), Discriminator(1, 32)]
        for model in models:
            _call(model.apply, fn)
        for model in models:
            for mname, m in model.named_modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    w = m.weight.detach()
                    mean, std = w.mean().item(), w.std().item()
                    if w.numel() < 500:
                        continue
                    if abs(std - 0.02) > 0.002 or abs(mean) > 0.003:
                        if abs(std - 0.0004) < 0.0001:
                            _fail(f"{name}: {type(m).__name__} '{mname}' has std {std:.5f}: nn.init.normal_'s "
                                  "second argument is the standard deviation (0.02), not the variance.")
                        _fail(f"{name}: {type(m).__name__} '{mname}' weights have mean {mean:.4f}, std {std:.4f}; "
                              "DCGAN wants N(0, 0.02) for every conv and transposed conv "
                              "(nn.init.normal_(m.weight, 0.0, 0.02)).")
                elif isinstance(m, nn.BatchNorm2d):
                    w, bias = m.weight.detach(), m.bias.detach()
                    if abs(w.mean().item()) < 0.1:
                        _fail(f"{name}: BatchNorm '{mname}' weight has mean {w.mean().item():.3f}: it is a *scale*, "
                              "N(1, 0.02), not N(0, 0.02) (a scale near 0 switches the layer off).")
                    if abs(w.mean().item() - 1) > 0.02 or not 0.008 < w.std().item() < 0.035:
                        _fail(f"{name}: BatchNorm '{mname}' weight has mean {w.mean().item():.3f}, std "
                              f"{w.std().item():.4f}; expected N(1, 0.02).")
                    if bias.abs().max().item() != 0:
                        _fail(f"{name}: BatchNorm '{mname}' bias must be 0 (nn.init.constant_(m.bias, 0)).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: conv weights ~ N(0, 0.02), BatchNorm weights ~ N(1, 0.02), BatchNorm biases 0.")
    return True


# ============================================================================ 9 · Adam
def _adam_trajectory(opt_factory, grads, n_params):
    p = nn.Parameter(torch.zeros(n_params))
    opt = opt_factory([p])
    for g in grads:
        opt.zero_grad()
        p.grad = g.clone()
        opt.step()
    return p.detach().clone()


def check_make_optimizers(fn, seed: int = 0) -> bool:
    """``fn(G, D)`` must return ``(opt_g, opt_d)``: Adam with lr 2e-4 and betas (0.5, 0.999), each
    over its own model's parameters only. Tested by what the optimisers *do*: a sequence of
    gradients must move the weights exactly as the reference Adam does."""
    name = "make_optimizers"
    try:
        G, D = _tiny_gd(seed)
        out = _call(fn, G, D)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            _fail(f"{name} should return a pair (opt_g, opt_d)")
        opt_g, opt_d = out
        for which, opt, own, other in (("opt_g", opt_g, G, D), ("opt_d", opt_d, D, G)):
            held = {id(p) for grp in opt.param_groups for p in grp["params"]}
            if any(id(p) in held for p in other.parameters()):
                _fail(f"{name}: {which} also holds the other network's parameters: each optimiser steps only "
                      "its own model (otherwise the G step would also move D, and vice versa).")
            if not all(id(p) in held for p in own.parameters()):
                _fail(f"{name}: {which} is missing some of its model's parameters: pass model.parameters().")
        gen = torch.Generator().manual_seed(seed)
        grads = [torch.randn(16, generator=gen) * (1 + 0.5 * math.sin(i)) for i in range(12)]
        want = _adam_trajectory(lambda ps: torch.optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999)), grads, 16)
        for which, opt in (("opt_g", opt_g), ("opt_d", opt_d)):
            # rebuild the learner's optimiser type and hyper-parameters on a probe parameter
            defaults = {k: v for k, v in opt.param_groups[0].items() if k != "params" and k in opt.defaults}
            got = _adam_trajectory(lambda ps: type(opt)(ps, **defaults), grads, 16)
            if torch.allclose(got, want, rtol=1e-5, atol=1e-9):
                continue
            default_adam = _adam_trajectory(lambda ps: torch.optim.Adam(ps, lr=2e-4), grads, 16)
            if torch.allclose(got, default_adam, rtol=1e-5, atol=1e-9):
                _fail(f"{name}: {which} is Adam with its default betas (0.9, 0.999). DCGAN uses beta1 = 0.5: "
                      "less momentum, so the two players' updates oscillate less.")
            _fail(f"{name}: {which} moves the weights differently from Adam(lr=2e-4, betas=(0.5, 0.999)) "
                  f"(its settings: {type(opt).__name__} {defaults.get('lr')=}, {defaults.get('betas')=}).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: two Adam optimisers (lr 2e-4, betas (0.5, 0.999)), each over its own network.")
    return True


# ============================================================================ 10 · BCE from logits
def check_bce_with_logits(fn, seed: int = 0) -> bool:
    """``fn(logits, targets)`` must return mean BCE computed from **logits**, finite and exact for any
    logit (|l| up to 500), with the right gradient: compared with F.binary_cross_entropy_with_logits."""
    name = "bce_with_logits"
    gen = torch.Generator().manual_seed(seed)
    try:
        cases = []
        l = torch.randn(64, generator=gen) * 4
        cases.append((l, (torch.rand(64, generator=gen) > 0.5).float()))
        cases.append((l, torch.rand(64, generator=gen)))                         # soft labels
        big = torch.tensor([-500.0, -120.0, -40.0, -20.0, 17.0, 20.0, 40.0, 120.0, 500.0])
        cases.append((big, torch.ones_like(big)))
        cases.append((big, torch.zeros_like(big)))
        for logits, targets in cases:
            l1 = logits.clone().requires_grad_(True)
            out = _scalar(name, _call(fn, l1, targets.clone()))
            if not out.requires_grad:
                _fail(f"{name}: the result carries no gradient; keep it a tensor in the graph.")
            (g,) = torch.autograd.grad(out, l1)
            l2 = logits.clone().requires_grad_(True)
            want = F.binary_cross_entropy_with_logits(l2, targets)
            (g_want,) = torch.autograd.grad(want, l2)
            if not torch.isfinite(out) or not torch.isfinite(g).all():
                _fail(f"{name}: non-finite loss or gradient for logits up to |l| = 500: log(sigmoid(l)) "
                      "underflows to log(0). Use -log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = "
                      "softplus(l) (F.softplus or F.logsigmoid are exact for any l).")
            if torch.allclose(out.detach(), want.detach(), rtol=1e-5, atol=1e-6) and \
                    torch.allclose(g, g_want, rtol=1e-4, atol=1e-8):
                continue
            p = torch.sigmoid(logits)
            if torch.allclose(out.detach(), F.binary_cross_entropy(p, targets), rtol=1e-5, atol=1e-6):
                _fail(f"{name}: that is BCE computed from p = sigmoid(l) (BCELoss, or log(sigmoid(l)) by hand): "
                      "1 - p loses its digits for l > ~10, rounds to 0 at l ~ 17 in float32, the log is then "
                      "clamped at -100 (or is -inf) and the gradient is lost. Compute the loss from the logit itself.")
            _fail(f"{name}: got {out.item():.5f}, expected {want.item():.5f} (max gradient difference "
                  f"{float((g - g_want).abs().max()):.2e}). BCE = -[y log sigmoid(l) + (1 - y) log(1 - sigmoid(l))], "
                  "averaged over the batch.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: equal to BCEWithLogitsLoss in value and gradient, finite up to |logit| = 500.")
    return True


# ============================================================================ 11 · gradient penalty
def _exact_gp(critic, x):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def check_gradient_penalty(fn, n_trials: int = 4, seed: int = 0) -> bool:
    """``fn(critic, real, fake)`` must return the WGAN-GP penalty E[(||grad f(x_hat)||_2 - 1)^2]
    (no lambda) with x_hat = eps real + (1 - eps) fake, **one eps per sample**, the norm over all of a
    sample's (C, H, W), and a graph back to the critic's weights (create_graph=True). Compared with
    :func:`gan_utils.losses.gradient_penalty` on random critics."""
    name = "gradient_penalty"
    torch.manual_seed(seed)
    try:
        for trial in range(n_trials):
            critic = _TinyCritic(3, 8)
            with torch.no_grad():
                for p in critic.parameters():
                    p.mul_(1 + trial)                           # gradient norms below and above 1
            x = torch.randn(6, 3, 8, 8)
            # (a) real == fake: x_hat = x whatever eps is, so the value is exactly known
            out = _scalar(name, _call(fn, critic, x.clone(), x.clone()))
            want = _exact_gp(critic, x)
            ref = losses.gradient_penalty(critic, x.clone(), x.clone())
            assert torch.allclose(want, ref, rtol=1e-5)
            if not torch.allclose(out.detach(), want, rtol=1e-4, atol=1e-6):
                x_ = x.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(critic(x_).sum(), x_)
                per_pixel = ((g.norm(2, dim=1) - 1) ** 2).mean()
                if torch.allclose(out.detach(), per_pixel, rtol=1e-4):
                    _fail(f"{name}: norm(2, dim=1) on (B, C, H, W) gradients is one norm per *pixel* (over the "
                          "channels): the penalty then pushes every pixel's gradient to 1, i.e. the whole "
                          "gradient to sqrt(H*W). Flatten first: grads.flatten(1).norm(2, dim=1).")
                _fail(f"{name}: with real == fake (so x_hat = real) you return {out.item():.5f}, expected "
                      f"{want.item():.5f} = mean over samples of (||grad_x f(x)||_2 - 1)^2.")
            # (b) differentiable with respect to the critic's weights
            critic.zero_grad()
            try:
                _scalar(name, _call(fn, critic, x.clone(), x.clone())).backward()
            except RuntimeError as e:
                _fail(f"{name}: the penalty cannot be back-propagated ({str(e)[:70]}...): pass create_graph=True "
                      "to torch.autograd.grad so the critic learns from the penalty.")
            if all(p.grad is None or p.grad.abs().sum() == 0 for p in critic.parameters()):
                _fail(f"{name}: the penalty gives the critic's weights no gradient: use torch.autograd.grad(..., "
                      "create_graph=True) and don't detach the gradients.")
            # (c) x_hat: one eps per sample, on the segment between real_i and fake_i
            rec = _Recorder(critic)
            real, fake = torch.randn(6, 3, 8, 8), torch.randn(6, 3, 8, 8)
            _call(fn, rec, real.clone(), fake.clone())
            if not rec.inputs:
                _fail(f"{name}: the critic was never called")
            x_hat = rec.inputs[0]
            if x_hat.shape != real.shape:
                _fail(f"{name}: the critic saw a batch of shape {tuple(x_hat.shape)}, expected the interpolates "
                      f"{tuple(real.shape)}")
            _check_on_segments(name, real, fake, x_hat)
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: per-sample norm, per-sample eps, differentiable: agrees with gan_utils.losses.gradient_penalty.")
    return True


# ============================================================================ 12 · weight clipping
def check_critic_update(fn, seed: int = 0) -> bool:
    """``fn(critic, optimizer, loss, c)`` must back-propagate ``loss``, step the optimiser and leave
    every weight in [-c, c]: the critic must satisfy the constraint whenever it is *used*."""
    name = "critic_update"
    try:
        for trial in range(3):
            torch.manual_seed(seed + trial)
            critic = _TinyCritic(3, 8)
            c = 0.01
            with torch.no_grad():
                for p in critic.parameters():
                    p.clamp_(-c, c)
            ref = copy.deepcopy(critic)
            opt = torch.optim.RMSprop(critic.parameters(), lr=5e-3)
            opt_ref = torch.optim.RMSprop(ref.parameters(), lr=5e-3)
            x = torch.randn(8, 3, 8, 8)
            for p in critic.parameters():
                p.grad = torch.full_like(p, 1.0)                  # stale gradients
            _call(fn, critic, opt, critic(x).mean(), c)
            opt_ref.zero_grad()
            ref(x).mean().backward()
            opt_ref.step()
            with torch.no_grad():
                for p in ref.parameters():
                    p.clamp_(-c, c)
            top = max(p.detach().abs().max().item() for p in critic.parameters())
            if top > c + 1e-9:
                _fail(f"{name}: after your update a weight has |w| = {top:.5f} > c = {c}: the step moved weights "
                      "after they were clipped. Clip *after* optimizer.step(), so |w| <= c when the critic is used.")
            diff = max((p - q).abs().max().item() for p, q in zip(critic.parameters(), ref.parameters()))
            if diff > 1e-7:
                _fail(f"{name}: the weights differ from zero_grad -> backward -> step -> clamp(-c, c) (max "
                      f"difference {diff:.2e}). Did you zero the old gradients and step once?")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: step, then clip: every weight within [-c, c] when the critic is next used.")
    return True


# ============================================================================ 13 · normalisation in a GP critic
def check_gp_norm_layer(fn, seed: int = 0) -> bool:
    """``fn(channels)`` must return a normalisation layer for a gradient-penalty critic: it keeps the
    shape (B, channels, H, W), treats every sample on its own (in training mode) and normalises
    (its output does not change when a sample's input is scaled and shifted)."""
    name = "gp_norm_layer"
    gen = torch.Generator().manual_seed(seed)
    try:
        for ch in (4, 16):
            layer = _call(fn, ch)
            if not isinstance(layer, nn.Module):
                _fail(f"{name} should return an nn.Module (a layer), got {type(layer).__name__}")
            layer.train()
            x = torch.randn(8, ch, 6, 6, generator=gen) * 2 + 0.5
            out = _tensor(name, layer(x))
            if out.shape != x.shape:
                _fail(f"{name}: the layer turned {tuple(x.shape)} into {tuple(out.shape)}; a normalisation keeps the shape")
            x2 = x.clone()
            x2[1:] = x2[1:] * 5 - 3
            if not torch.allclose(layer(x2)[0], out[0], atol=1e-5):
                _fail(f"{name}: the output for sample 0 changes when the *other* samples change: the layer mixes "
                      "the batch (BatchNorm does, with batch statistics). The penalty needs one gradient per "
                      "sample, so normalise each sample on its own: nn.GroupNorm(1, channels) (LayerNorm over "
                      "C, H, W) or nn.InstanceNorm2d(channels, affine=True).")
            y = layer(3 * x + 1)
            if not torch.allclose(y, out, atol=1e-3):
                _fail(f"{name}: the output changes when each sample's input is scaled and shifted, so the layer "
                      "does not normalise. (No normalisation is also valid in a WGAN-GP critic, but this exercise "
                      "asks for one.)")
            critic = _TinyCritic(3, ch, norm=layer)
            scores = critic(torch.randn(5, 3, 8, 8, generator=gen))
            if scores.shape != (5,):
                _fail(f"{name}: inside a critic the layer changed the output shape to {tuple(scores.shape)}")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: shape kept, samples independent of each other, normalised: safe inside a GP critic.")
    return True


# ============================================================================ 9b · an open one: calm the Dirac GAN
#: exercise 9b's protocol and target (the same in smoke and default mode: the run takes seconds)
DIRAC_SETTING = dict(beta1=0.5, lr=0.05, steps=1500)
DIRAC_TARGET = 0.01


def _dirac_radius(fn) -> float:
    from ..lessons.debug_lab import dirac_gan

    r = dirac_gan(DIRAC_SETTING["beta1"], steps=DIRAC_SETTING["steps"], lr=DIRAC_SETTING["lr"], d_loss=fn)["radius"]
    return float(sum(r[-len(r) // 3:]) / (len(r) // 3))


def check_dirac_regulariser(fn) -> bool:
    """``fn(psi, theta)`` must return the Dirac GAN's discriminator loss (a 0-d tensor, differentiable
    in ``psi``): the BCE loss :func:`gan_utils.lessons.debug_lab.dirac_d_loss` **plus a regulariser of
    your choice** that may use D (``psi``) and the real data (the point 0) but not the generator's
    ``theta``. Target: trained as in section 9 with Adam betas (0.5, 0.999), lr 0.05, for 1500
    alternating steps from (theta, psi) = (1, 1), the mean distance from the equilibrium (0, 0) over
    the last third of the run is below ``DIRAC_TARGET``. The check is the same in smoke mode."""
    from ..lessons.debug_lab import dirac_d_loss

    name = "dirac_d_loss"
    psis, thetas = (-2.0, -0.5, 0.3, 1.7), (-1.5, 0.2, 2.0)
    try:
        totals, extra = [], []
        for p in psis:
            tot, ext = [], []
            for t in thetas:
                psi = torch.tensor(p, requires_grad=True)
                out = _scalar(name, _call(fn, psi, torch.tensor(t)))
                if not out.requires_grad:
                    _fail(f"{name}: the loss does not depend on psi (no graph to psi): D could not learn. Build it "
                          "from psi with torch operations.")
                tot.append(out.item())
                ext.append(out.item() - dirac_d_loss(torch.tensor(p), torch.tensor(t)).item())   # your addition
            totals.append(tot)
            extra.append(ext)
        if all(max(tot) - min(tot) < 1e-5 * (1.0 + max(abs(v) for v in tot)) for tot in totals):
            _fail(f"{name}: your loss does not depend on the generator's sample theta at all: D no longer tells real "
                  "from fake. Keep dirac_d_loss(psi, theta) and *add* your regulariser to it.")
        for p, r in zip(psis, extra):
            if max(r) - min(r) > 1e-5 * (1.0 + max(abs(v) for v in r)):          # float32 rounding aside
                _fail(f"{name}: what you add to dirac_d_loss changes with theta (at psi={p}: from {min(r):.4g} to "
                      f"{max(r):.4g}). A regulariser of D may use D and the real data only, e.g. the squared "
                      "gradient of D's logit psi * x with respect to x at the real point x = 0.")
        radius = _dirac_radius(fn)
    except _NotAttempted:
        return _not_attempted(name)
    if not math.isfinite(radius):
        _fail(f"{name}: the run diverged (distance {radius}). Check the sign of your regulariser: D minimises it.")
    if radius >= DIRAC_TARGET:
        _fail(f"{name}: mean distance from the equilibrium over the last third: {radius:.4g}, target below "
              f"{DIRAC_TARGET:g}. Too weak a regulariser still circles; one that pins psi at 0 leaves G without "
              "a signal. Try a few strengths.")
    print(f"{name}: mean distance from the equilibrium over the last {DIRAC_SETTING['steps'] // 3} of "
          f"{DIRAC_SETTING['steps']} steps: {radius:.3g} < {DIRAC_TARGET:g}.")
    return True
