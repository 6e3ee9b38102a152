"""Checks for the exercises of notebooks/04_dcgan.ipynb (references in :mod:`torch.nn`,
:mod:`gan_utils.lessons.latent` and :class:`gan_utils.train.EMA`; solutions in solutions/04_dcgan.py).

Each ``check_*`` compares what the learner's function *returns or does* with the reference on
seeded random inputs: it prints "not attempted yet" and returns ``False`` while the stub still raises
``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and prints
a confirmation and returns ``True`` on a right one.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from ..lessons import latent
from ._common import _NotAttempted, _call, _fail, _not_attempted

__all__ = ["check_conv_output_size", "check_slerp", "check_ema_update"]


# ---------------------------------------------------------------- exercise 1: output sizes
def _true_size(size, kernel, stride, padding, transposed) -> int:
    """The output side length PyTorch actually produces (by running the layer on zeros)."""
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    layer = cls(1, 1, kernel, stride, padding, bias=False)
    with torch.no_grad():
        return int(layer(torch.zeros(1, 1, size, size)).shape[-1])


def check_conv_output_size(fn) -> bool:
    """``fn(size, kernel, stride, padding, transposed)`` must return the side length of the output
    of ``nn.Conv2d`` (``transposed=False``) or ``nn.ConvTranspose2d`` (``transposed=True``) on a
    ``size x size`` input (dilation 1, output_padding 0)."""
    name = "conv_output_size"
    cases = [(32, 4, 2, 1), (16, 4, 2, 1), (4, 4, 1, 0), (1, 4, 1, 0), (8, 4, 2, 1), (28, 3, 1, 1),
             (28, 5, 2, 2), (7, 3, 2, 0), (15, 4, 2, 1), (9, 3, 3, 1), (1, 7, 1, 0), (5, 5, 2, 1)]
    n_checked = 0
    try:
        for size, k, s, p in cases:
            for transposed in (False, True):
                if not transposed and size + 2 * p < k:
                    continue                                # the window does not fit: Conv2d refuses
                got = _call(fn, size, k, s, p, transposed)
                want = _true_size(size, k, s, p, transposed)
                if isinstance(got, float) and got.is_integer():
                    got = int(got)
                args = f"{name}(size={size}, kernel={k}, stride={s}, padding={p}, transposed={transposed})"
                if not transposed and got == (size + 2 * p - k) / s + 1 and got != want:
                    _fail(f"{args} = {got}: the division must round down (//): a window that does not fit is dropped.")
                if not isinstance(got, int) or isinstance(got, bool):
                    _fail(f"{name} should return an int, got {got!r} (use // for the integer division)")
                if got == want:
                    n_checked += 1
                    continue
                kind = "ConvTranspose2d" if transposed else "Conv2d"
                conv_f, tconv_f = (size + 2 * p - k) // s + 1, (size - 1) * s - 2 * p + k
                if got == (conv_f if transposed else tconv_f):
                    _fail(f"{args} = {got}: that is the formula of the other layer. A {kind} "
                          f"{'grows' if transposed else 'shrinks'} the image; check which formula goes with transposed.")
                _fail(f"{args} = {got}, expected {want} (what {kind} actually outputs). "
                      "Conv: floor((size + 2*padding - kernel) / stride) + 1; "
                      "transposed: (size - 1) * stride - 2*padding + kernel.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches nn.Conv2d and nn.ConvTranspose2d on {n_checked} layer configurations.")
    return True


# ---------------------------------------------------------------- exercise 2: slerp
def check_slerp(fn, n_trials: int = 10, seed: int = 0) -> bool:
    """``fn(z0, z1, t)`` for two 1-D tensors and a float ``t`` in [0, 1] must return the spherical
    interpolation (a 1-D tensor like ``z0``), the straight line where the codes are parallel."""
    name = "slerp"
    g = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(n_trials):
        d = int(torch.randint(2, 129, (1,), generator=g))
        z0 = torch.randn(d, generator=g, dtype=torch.float64)
        z1 = torch.randn(d, generator=g, dtype=torch.float64) * float(torch.rand(1, generator=g) * 2 + 0.5)
        pairs.append((z0, z1, "random"))
    z = torch.randn(100, generator=g, dtype=torch.float64)
    pairs.append((z, 2.0 * z, "parallel"))           # same direction: the arc is the straight line
    try:
        for z0, z1, kind in pairs:
            for t in (0.0, 0.25, 0.5, 0.8, 1.0):
                out = _call(fn, z0.clone(), z1.clone(), t)
                if not isinstance(out, torch.Tensor):
                    _fail(f"{name} should return a torch tensor, got {type(out).__name__}")
                if out.shape != z0.shape:
                    _fail(f"{name} returned shape {tuple(out.shape)}, expected {tuple(z0.shape)}")
                got = out.detach().to(torch.float64)
                want = latent.slerp(z0, z1, t)
                if torch.allclose(got, want, rtol=1e-5, atol=1e-6):
                    continue
                if not torch.isfinite(got).all():
                    _fail(f"{name}: got nan/inf for {kind} codes at t={t}. When sin(omega) ~ 0 (parallel "
                          "codes) the formula is 0/0; return the straight line (1 - t) z0 + t z1 there.")
                if torch.allclose(got, latent.lerp(z0, z1, t), rtol=1e-5, atol=1e-6):
                    _fail(f"{name}: that is the linear interpolation (1 - t) z0 + t z1. At t={t} its norm is "
                          f"{got.norm():.3f} but the arc's is {want.norm():.3f}: slerp follows the great circle.")
                if torch.allclose(got, latent.slerp(z0, z1, 1 - t), rtol=1e-5, atol=1e-6):
                    _fail(f"{name}: t runs backwards: t = 0 must give z0 and t = 1 must give z1.")
                _fail(f"{name}: wrong result for {kind} codes (d={z0.numel()}) at t={t}: max error "
                      f"{(got - want).abs().max():.3g}. omega = arccos(<z0, z1> / (|z0| |z1|)), then "
                      "sin((1 - t) omega) / sin(omega) * z0 + sin(t omega) / sin(omega) * z1.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches gan_utils.lessons.latent.slerp on {len(pairs)} pairs x 5 positions (parallel codes included).")
    return True


# ---------------------------------------------------------------- exercise 3: the EMA update
def _ema_case(seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.ReLU(), nn.Linear(7, 3))
        ema = copy.deepcopy(model)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))                     # the trained weights moved away
            model.train()
            model(torch.randn(32, 5) * 3 + 1)                   # BatchNorm running stats moved too
    return model, ema


def check_ema_update(fn, seed: int = 0) -> bool:
    """``fn(ema_model, model, decay)`` must update ``ema_model`` **in place**: every parameter
    e <- decay * e + (1 - decay) * p, and every buffer (BatchNorm running statistics) copied from
    ``model``; ``model`` itself must not change."""
    name = "ema_update"
    try:
        for decay in (0.999, 0.9, 0.5):
            model, ema = _ema_case(seed)
            before_model = [t.clone() for t in list(model.parameters()) + list(model.buffers())]
            ema_before = [p.clone() for p in ema.parameters()]
            try:
                out = _call(fn, ema, model, decay)
            except RuntimeError as e:
                if "in-place" in str(e):
                    _fail(f"{name}: PyTorch refused an in-place update of a parameter that requires grad ({e}). "
                          "Wrap the update in `with torch.no_grad():` (or decorate the function with @torch.no_grad()).")
                raise
            if out is not None and out is not ema and isinstance(out, nn.Module):
                _fail(f"{name}: return nothing and update ema_model in place; your function built a new "
                      "model, so the EMA the training loop keeps never changes.")
            after_model = list(model.parameters()) + list(model.buffers())
            if any(not torch.equal(a, b) for a, b in zip(before_model, after_model)):
                _fail(f"{name}: the trained model changed. Only ema_model is updated; model is read.")
            for (pname, e), p, e0 in zip(ema.named_parameters(), model.parameters(), ema_before):
                want = decay * e0 + (1 - decay) * p.detach()
                if torch.allclose(e, want, rtol=1e-5, atol=1e-7):
                    continue
                if torch.equal(e, e0):
                    _fail(f"{name}: parameter {pname} of ema_model did not change: update it in place "
                          "(e.mul_(decay).add_(p, alpha=1 - decay) or torch.lerp, under torch.no_grad()).")
                if torch.allclose(e, (1 - decay) * e0 + decay * p.detach(), rtol=1e-5, atol=1e-7):
                    _fail(f"{name}: decay and 1 - decay are swapped: the average keeps `decay` ({decay}) of its "
                          "old value and takes 1 - decay of the new weights.")
                _fail(f"{name}: parameter {pname} is wrong after the update (decay={decay}). "
                      "Expected decay * e + (1 - decay) * p.")
            for (bname, be), b in zip(ema.named_buffers(), model.buffers()):
                if not torch.equal(be, b):
                    _fail(f"{name}: buffer {bname} differs from the model's. Buffers such as BatchNorm's "
                          "running_mean/var are statistics, not weights: copy them (be.copy_(b)).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: parameters averaged and BatchNorm buffers copied, in place, for 3 decays.")
    return True
