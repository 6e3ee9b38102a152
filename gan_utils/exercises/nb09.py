"""Checks for the exercises of notebooks/09_conditional.ipynb (references in :mod:`gan_utils.models`
and :mod:`gan_utils.losses`; solutions in solutions/09_conditional.py).

Each ``check_*`` runs the learner's function on seeded inputs and compares what it returns with the
reference: it prints "not attempted yet" and returns ``False`` while the stub still raises
``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and prints
a confirmation and returns ``True`` on a right one. No check touches torch's global random stream.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import losses
from ._common import _NotAttempted, _call, _fail, _not_attempted

__all__ = ["check_projection_logits", "check_truncated_normal", "check_acgan_losses"]


def _tensor(name: str, out, shape) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        _fail(f"{name} should return a torch tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape):
        hint = " (one logit per image: (B,), not (B, 1); use .view(-1) or .sum(1))" if out.dim() == 2 else ""
        _fail(f"{name} returned shape {tuple(out.shape)}, expected {tuple(shape)}{hint}")
    return out.detach().to(torch.float64)


# ---------------------------------------------------------------- exercise 1: the projection discriminator's logit
def _projection(phi, y, w, b, V):
    return phi @ w + b + (V[y] * phi).sum(1)            # psi(phi) + <V[y], phi>


def check_projection_logits(fn, n_trials: int = 6, seed: int = 0) -> bool:
    """``fn(phi, y, w, b, V)`` must return the projection discriminator's logits ``(B,)``:

        D(x, y) = <w, phi(x)> + b + <V[y], phi(x)>

    for features ``phi`` (B, d), labels ``y`` (B,) in 0..K-1, the linear read-out ``w`` (d,), ``b``
    (a 0-d tensor) and the class embedding ``V`` (K, d)."""
    name = "projection_logits"
    g = torch.Generator().manual_seed(seed)
    try:
        for trial in range(n_trials):
            B, d, K = int(torch.randint(3, 9, (1,), generator=g)), int(torch.randint(4, 33, (1,), generator=g)), 5
            phi = torch.randn(B, d, generator=g, dtype=torch.float64)
            y = torch.randint(0, K, (B,), generator=g)
            y[0], y[-1] = 0, K - 1                                 # the first and the last class always appear
            w, b = torch.randn(d, generator=g, dtype=torch.float64), torch.randn((), generator=g, dtype=torch.float64)
            V = torch.randn(K, d, generator=g, dtype=torch.float64)
            out = _tensor(name, _call(fn, phi.clone(), y.clone(), w.clone(), b.clone(), V.clone()), (B,))
            want = _projection(phi, y, w, b, V)
            if torch.allclose(out, want, rtol=1e-6, atol=1e-8):
                continue
            if torch.allclose(out, phi @ w + b, rtol=1e-6, atol=1e-8):
                _fail(f"{name}: that is the unconditional logit psi(phi) = <w, phi> + b; add the class term <V[y], phi>.")
            if torch.allclose(out, (V[y] * phi).sum(1), rtol=1e-6, atol=1e-8):
                _fail(f"{name}: that is the projection term alone; the logit is psi(phi) + <V[y], phi>.")
            if torch.allclose(out, phi @ w + b + (V[(y - 1) % K] * phi).sum(1), rtol=1e-6, atol=1e-8) or \
                    torch.allclose(out, phi @ w + b + (V[(y + 1) % K] * phi).sum(1), rtol=1e-6, atol=1e-8):
                _fail(f"{name}: the embedding row is off by one: class y uses row V[y] (classes count from 0).")
            if torch.allclose(out, phi @ w + b + phi @ V.sum(0), rtol=1e-6, atol=1e-8):
                _fail(f"{name}: that sums the embeddings of all classes; pick the row of each image's class, V[y].")
            if torch.allclose(out, phi @ w + b + V[y].sum(1), rtol=1e-6, atol=1e-8):
                _fail(f"{name}: the class term must be an inner product with the features, <V[y], phi>, "
                      "not the sum of the embedding's entries.")
            _fail(f"{name}: wrong logits (max error {(out - want).abs().max():.3g}); expected "
                  "phi @ w + b + (V[y] * phi).sum(1).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches psi(phi) + <V[y], phi> on {n_trials} random cases (first and last class included).")
    return True


# ---------------------------------------------------------------- exercise 2: the truncated normal
def truncated_variance(t: float) -> float:
    """Variance of N(0, 1) conditioned on |z| <= t: 1 - 2 t phi(t) / (2 Phi(t) - 1)."""
    phi = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + math.erf(t / math.sqrt(2)))
    return 1 - 2 * t * phi / (2 * Phi - 1)


def check_truncated_normal(fn, seed: int = 0) -> bool:
    """``fn(n, dim, threshold, generator)`` must return ``(n, dim)`` draws of N(0, 1) with every
    coordinate outside ``[-threshold, threshold]`` drawn again (BigGAN's truncation trick), using the
    ``torch.Generator`` it is given; ``threshold=math.inf`` is plain N(0, 1)."""
    name = "truncated_normal"
    n, dim = 2000, 100
    try:
        for t in (1.0, 0.5, 2.0):
            out = _call(fn, n, dim, t, torch.Generator().manual_seed(seed))
            z = _tensor(name, out, (n, dim))
            if not torch.isfinite(z).all():
                _fail(f"{name}: got nan or inf values")
            if z.abs().max() > t + 1e-9:
                _fail(f"{name}: with threshold {t} every value must satisfy |z| <= {t}, found {z.abs().max():.3f}.")
            at_edge = (z.abs() > t * (1 - 1e-6)).double().mean().item()
            if at_edge > 0.001:
                _fail(f"{name}: {at_edge:.1%} of the values sit exactly at +-{t}: clamping piles the tails onto the "
                      "bound. Draw the values outside the range again instead.")
            var, want = z.var().item(), truncated_variance(t)
            if abs(var - want) > 0.02 * want + 0.003:
                uniform = t * t / 3
                hint = (" That is the variance of a uniform distribution on [-t, t]: the values should stay normal, "
                        "only the ones outside the range are drawn again." if abs(var - uniform) < 0.02 * uniform
                        else " Rescaling or folding the normal changes its shape; redraw the values outside the range.")
                _fail(f"{name}: with threshold {t} the variance should be {want:.4f} (a normal truncated to "
                      f"[-t, t]), got {var:.4f}.{hint}")
            again = _tensor(name, _call(fn, n, dim, t, torch.Generator().manual_seed(seed)), (n, dim))
            if not torch.equal(z, again):
                _fail(f"{name}: two calls with generators seeded alike gave different codes; draw every random "
                      "number from the generator you are given (torch.randn(..., generator=generator)).")
        z = _tensor(name, _call(fn, n, dim, math.inf, torch.Generator().manual_seed(seed)), (n, dim))
        if abs(z.var().item() - 1.0) > 0.02:
            _fail(f"{name}: with threshold inf nothing is truncated: the variance should be 1, got {z.var().item():.3f}.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: within the bounds, no pile-up at +-t, the variance of the truncated normal at t = 0.5, 1, 2, "
          "reproducible from the generator.")
    return True


# ---------------------------------------------------------------- exercise 3: the AC-GAN losses
def _acgan_case(seed: int):
    g = torch.Generator().manual_seed(seed)
    B, K = 6, 4
    src_real, src_fake = torch.randn(B, generator=g) * 2, torch.randn(B, generator=g) * 2
    cls_real, cls_fake = torch.randn(B, K, generator=g) * 2, torch.randn(B, K, generator=g) * 2
    y_real, y_fake = torch.randint(0, K, (B,), generator=g), torch.randint(0, K, (B,), generator=g)
    return src_real, src_fake, cls_real, cls_fake, y_real, y_fake


def _acgan_reference(src_real, src_fake, cls_real, cls_fake, y_real, y_fake):
    def pack(src, cls, y):                      # the (B, 2) output of DCGANDiscriminator(conditioning="acgan")
        return torch.stack([src, torch.log_softmax(cls, 1).gather(1, y[:, None]).squeeze(1)], 1)
    real, fake = pack(src_real, cls_real, y_real), pack(src_fake, cls_fake, y_fake)
    return float(losses.d_loss_acgan(real, fake)), float(losses.g_loss_acgan(fake))


def _scalar(name: str, v) -> float:
    if isinstance(v, torch.Tensor):
        if v.numel() != 1:
            _fail(f"{name}: each loss should be one number (a 0-d tensor), got shape {tuple(v.shape)}")
        return float(v.detach())
    try:
        return float(v)
    except (TypeError, ValueError):
        raise AssertionError(f"{name}: each loss should be a number or a 0-d tensor, got {v!r}") from None


def check_acgan_losses(fn, n_trials: int = 5, seed: int = 0) -> bool:
    """``fn(src_real, src_fake, cls_real, cls_fake, y_real, y_fake)`` must return ``(loss_D, loss_G)`` of
    AC-GAN from the source logits ``(B,)``, the class logits ``(B, K)`` and the labels ``(B,)``:

        loss_D = BCE(src_real, 1) + BCE(src_fake, 0) + CE(cls_real, y_real) + CE(cls_fake, y_fake)
        loss_G = BCE(src_fake, 1) + CE(cls_fake, y_fake)

    (means over the batch; BCE on logits, CE = cross-entropy on logits)."""
    name = "acgan_losses"
    bce, ce = F.binary_cross_entropy_with_logits, F.cross_entropy
    try:
        for trial in range(n_trials):
            case = _acgan_case(seed + trial)
            sr, sf, cr, cf, yr, yf = case
            out = _call(fn, *[c.clone() for c in case])
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                _fail(f"{name} should return a pair (loss_D, loss_G), got {type(out).__name__}")
            got_d, got_g = _scalar(name, out[0]), _scalar(name, out[1])
            want_d, want_g = _acgan_reference(*case)
            ok_d = math.isclose(got_d, want_d, rel_tol=1e-5, abs_tol=1e-6)
            ok_g = math.isclose(got_g, want_g, rel_tol=1e-5, abs_tol=1e-6)
            if ok_d and ok_g:
                continue
            one, zero = torch.ones_like(sr), torch.zeros_like(sr)
            adv_d = float(bce(sr, one) + bce(sf, zero))
            if not ok_d:
                if math.isclose(got_d, adv_d + float(ce(cr, yr)), rel_tol=1e-5, abs_tol=1e-6):
                    _fail(f"{name}: loss_D lacks the class term on the fakes, CE(cls_fake, y_fake): in AC-GAN, D also "
                          "learns to classify the generated images as the class they were made for (L_C has both terms).")
                if math.isclose(got_d, adv_d, rel_tol=1e-5, abs_tol=1e-6):
                    _fail(f"{name}: loss_D is the plain GAN loss; add the class terms CE(cls_real, y_real) + "
                          "CE(cls_fake, y_fake).")
                if math.isclose(got_d, float(bce(sr, zero) + bce(sf, one) + ce(cr, yr) + ce(cf, yf)), rel_tol=1e-5):
                    _fail(f"{name}: the source targets are swapped in loss_D: real images have target 1, fakes 0.")
                _fail(f"{name}: loss_D is {got_d:.5f}, expected {want_d:.5f}.")
            adv_g = float(bce(sf, one))
            if math.isclose(got_g, adv_g, rel_tol=1e-5, abs_tol=1e-6):
                _fail(f"{name}: loss_G lacks the class term CE(cls_fake, y_fake): G must also make images that are "
                      "classified as the class asked for.")
            if math.isclose(got_g, adv_g - float(ce(cf, yf)), rel_tol=1e-5, abs_tol=1e-6):
                _fail(f"{name}: the class term of loss_G has the wrong sign: G *minimises* CE(cls_fake, y_fake) "
                      "(it maximises L_C - L_S).")
            if math.isclose(got_g, float(bce(sf, zero)) + float(ce(cf, yf)), rel_tol=1e-5, abs_tol=1e-6):
                _fail(f"{name}: loss_G uses target 0 on the fakes (the saturating direction); G wants its fakes "
                      "judged real: BCE(src_fake, 1).")
            _fail(f"{name}: loss_G is {got_g:.5f}, expected {want_g:.5f}.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: loss_D and loss_G match gan_utils.losses.d_loss_acgan / g_loss_acgan on {n_trials} random cases.")
    return True
