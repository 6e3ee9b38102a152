"""Checks for the exercises of notebooks/11_image_to_image.ipynb (references in :mod:`gan_utils.models`,
:mod:`gan_utils.losses` and :mod:`gan_utils.train`; solutions in solutions/11_image_to_image.py).

Each ``check_*`` runs the learner's function on seeded inputs and compares what it returns or does with
the reference: it prints "not attempted yet" and returns ``False`` while the stub still raises
``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and prints a
confirmation and returns ``True`` on a right one. No check changes torch's global random stream for the
cells after it (the image pool's check forks it).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .. import losses
from ..models import PatchDiscriminator, receptive_field
from ._common import _NotAttempted, _call, _fail, _not_attempted

__all__ = ["check_receptive_field", "check_cycle_losses", "check_image_pool"]


# ---------------------------------------------------------------- exercise 1: the receptive field
#: layer stacks (kernel, stride) the receptive-field check tries, with where each comes from
RF_CASES = [
    ([(4, 2), (4, 1), (4, 1)], "the 16x16 PatchGAN (n_layers=1)"),
    ([(4, 2), (4, 2), (4, 1), (4, 1)], "the 34x34 PatchGAN (n_layers=2)"),
    ([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)], "pix2pix's 70x70 PatchGAN (n_layers=3)"),
    ([(3, 1), (3, 1), (3, 1)], "three 3x3 convolutions, stride 1 (VGG's stack)"),
    ([(7, 2), (3, 2), (3, 1)], "a 7x7 stride-2 stem, a 3x3 stride-2 pooling, a 3x3 convolution"),
]


def _reference_rf(layers) -> int:
    with torch.random.fork_rng(devices=[]):              # building layers draws their weights
        chain = nn.Sequential(*[nn.Conv2d(1, 1, k, s) for k, s in layers])
    return receptive_field(chain)


def check_receptive_field(fn) -> bool:
    """``fn(layers)`` must return the receptive field (an int, in input pixels) of a chain of convolutions
    given as ``[(kernel, stride), ...]`` from the input side: the side of the square one output unit sees."""
    name = "receptive_field"
    try:
        for layers, what in RF_CASES:
            want = _reference_rf(layers)
            got = _call(fn, list(layers))
            if not isinstance(got, (int, float)) or isinstance(got, bool) or int(got) != got:
                _fail(f"{name} should return a whole number of pixels, got {got!r}")
            if got == want:
                continue
            plain = 1 + sum(k - 1 for k, _ in layers)
            product = 1
            for k, s in layers:
                product *= k
            jump_after = 1
            r_after = 1
            for k, s in layers:                                   # the stride applied one layer too early
                jump_after *= s
                r_after += (k - 1) * jump_after
            if got == plain:
                _fail(f"{name}: for {what} you get {got}, which ignores the strides: after a stride-2 layer, one "
                      f"step of the next kernel covers 2 input pixels (multiply by the product of earlier strides). "
                      f"Expected {want}.")
            if got == product:
                _fail(f"{name}: for {what} you multiplied the kernel sizes ({got}); the field grows by (k - 1) * jump "
                      f"per layer, jump = the product of the strides before it. Expected {want}.")
            if got == r_after:
                _fail(f"{name}: for {what} you get {got}: a layer's own stride does not widen what *it* sees, only "
                      f"the layers after it. Multiply the jump by the stride after adding (k - 1) * jump. Expected {want}.")
            _fail(f"{name}: for {what} ({layers}) you get {got}, expected {want}.")
    except _NotAttempted:
        return _not_attempted(name)
    with torch.random.fork_rng(devices=[]):
        D = PatchDiscriminator(1, 4, 3)
    print(f"{name}: correct on {len(RF_CASES)} stacks, including pix2pix's 70x70 PatchGAN "
          f"(receptive_field(PatchDiscriminator(n_layers=3)) = {receptive_field(D)}).")
    return True


# ---------------------------------------------------------------- exercise 2: CycleGAN's L1 terms
class _Affine(nn.Module):
    """A stand-in generator: y = w * x + b per channel, different per instance."""

    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.rand(1, 2, 1, 1, generator=g) + 0.5)
        self.b = nn.Parameter(torch.randn(1, 2, 1, 1, generator=g) * 0.3)

    def forward(self, x):
        return torch.tanh(self.w * x + self.b)


def _cycle_reference(a, b, G_ab, G_ba, lam, lam_id):
    cyc = losses.cycle_consistency_loss(a, G_ba(G_ab(a))) + losses.cycle_consistency_loss(b, G_ab(G_ba(b)))
    idt = losses.identity_loss(b, G_ab(b)) + losses.identity_loss(a, G_ba(a))
    return lam * cyc + lam_id * lam * idt


def check_cycle_losses(fn, seed: int = 0) -> bool:
    """``fn(a, b, G_ab, G_ba, lambda_cycle, lambda_identity)`` must return CycleGAN's L1 terms of G's loss, a
    0-d tensor that trains both generators:

        lambda_cycle * (|G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|)
        + lambda_identity * lambda_cycle * (|G_ab(b) - b| + |G_ba(a) - a|)          (each |.| a mean over pixels)
    """
    name = "cycle_losses"
    g = torch.Generator().manual_seed(seed)
    try:
        for trial, (lam, lam_id) in enumerate(((10.0, 0.5), (1.0, 0.0), (3.0, 2.0))):
            a = torch.rand(4, 2, 5, 5, generator=g) * 2 - 1
            b = torch.rand(4, 2, 5, 5, generator=g) * 2 - 1
            G_ab, G_ba = _Affine(seed + 10 * trial), _Affine(seed + 10 * trial + 1)
            want = _cycle_reference(a, b, G_ab, G_ba, lam, lam_id)
            got = _call(fn, a.clone(), b.clone(), G_ab, G_ba, lam, lam_id)
            if not isinstance(got, torch.Tensor) or got.numel() != 1:
                _fail(f"{name} should return one number as a 0-d tensor, got {type(got).__name__}")
            if not got.requires_grad:
                _fail(f"{name}: the loss is detached from the generators (no .item(), no torch.no_grad()): it must "
                      "train G_ab and G_ba.")
            v, w = float(got.detach()), float(want.detach())
            if abs(v - w) <= 1e-5 * max(1.0, abs(w)):
                grads = torch.autograd.grad(got.reshape(()), [G_ab.w, G_ba.w])
                ref = torch.autograd.grad(want, [G_ab.w, G_ba.w])
                if not all(torch.allclose(x, y, atol=1e-5) for x, y in zip(grads, ref)):
                    _fail(f"{name}: the value is right but its gradients are not: is part of it detached?")
                continue
            fwd = losses.cycle_consistency_loss(a, G_ba(G_ab(a)))
            bwd = losses.cycle_consistency_loss(b, G_ab(G_ba(b)))
            idt = losses.identity_loss(b, G_ab(b)) + losses.identity_loss(a, G_ba(a))
            sq = ((G_ba(G_ab(a)) - a) ** 2).mean() + ((G_ab(G_ba(b)) - b) ** 2).mean()
            hints = [
                (lam * fwd + lam_id * lam * idt, "the backward cycle b -> a -> b is missing"),
                (lam * (fwd + bwd), "the identity terms are missing" if lam_id else None),
                (lam * (fwd + bwd) + lam_id * idt, "the identity weight is lambda_identity * lambda_cycle (a fraction "
                                                   "of lambda_cycle), not lambda_identity alone"),
                (lam * sq + lam_id * lam * idt, "the cycle terms are squared errors; CycleGAN's are absolute (L1)"),
                (fwd + bwd + lam_id * idt, "lambda_cycle is missing"),
                (lam * (losses.cycle_consistency_loss(a, G_ab(G_ba(a))) + losses.cycle_consistency_loss(b, G_ba(G_ab(b))))
                 + lam_id * lam * idt, "the generators are applied in the wrong order: a goes through G_ab first"),
                (lam * (fwd + bwd) + lam_id * lam * (losses.identity_loss(a, G_ab(a)) + losses.identity_loss(b, G_ba(b))),
                 "the identity terms feed each generator its own input domain: G_ab should get b (already a B image)"),
            ]
            for alt, hint in hints:
                alt = float(alt.detach())
                if hint and abs(v - alt) <= 1e-5 * max(1.0, abs(alt)):
                    _fail(f"{name}: {hint} (got {v:.5g}, expected {w:.5g} for lambda_cycle={lam}, "
                          f"lambda_identity={lam_id}).")
            _fail(f"{name}: got {v:.5g}, expected {w:.5g} for lambda_cycle={lam}, lambda_identity={lam_id}.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct: both cycles and both identity terms, weighted as the authors' code weights them.")
    return True


# ---------------------------------------------------------------- exercise 3: the image pool
def check_image_pool(make_pool, draws: int = 300, seed: int = 0) -> bool:
    """``make_pool(size)`` must return an object whose call ``pool(images)`` behaves as
    :class:`gan_utils.train.ImagePool` (CycleGAN's history of fakes): while it holds fewer than ``size``
    images it stores each new image and returns it; once full, each new image is, with probability 1/2,
    swapped for a uniformly chosen stored one (which is returned, the new one stored in its place), else
    returned as it is; ``size=0`` returns the input unchanged. Random draws may come from torch's global RNG
    (the check forks it) or Python's ``random``."""
    import random

    name = "image_pool"
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            zero = _call(make_pool, 0)
            x = torch.randn(5, 1, 2, 2)
            out = zero(x)
            if not isinstance(out, torch.Tensor) or not torch.equal(out, x):
                _fail(f"{name}: a pool of size 0 must return its input unchanged (the authors' 'no buffer').")
            pool = _call(make_pool, 10)
            first = torch.arange(6.0).view(6, 1, 1, 1)
            if not torch.equal(pool(first), first):
                _fail(f"{name}: while the pool is not full, it must store each new image and return it unchanged.")
            second = torch.arange(6.0, 10.0).view(4, 1, 1, 1)                 # exactly fills the 10 slots
            if not torch.equal(pool(second), second):
                _fail(f"{name}: the pool should still be filling (6 + 4 = 10 images for size 10) and return the new "
                      "images unchanged.")
            stored = set(range(10))                                            # the values in the pool now
            swapped = n = 0
            for step in range(draws):
                new = (100 + 10 * step + torch.arange(10.0)).view(10, 1, 1, 1)
                got = pool(new)
                if not isinstance(got, torch.Tensor) or got.shape != new.shape:
                    _fail(f"{name}: the pool must return a batch of the shape it got, {tuple(new.shape)}.")
                vals = got.view(-1).tolist()
                for v, nv in zip(vals, new.view(-1).tolist()):
                    if v == nv:
                        stored_now = None
                    else:
                        if v not in stored:
                            _fail(f"{name}: it returned {v}, an image that was never stored (or was already handed "
                                  "out): a swapped image comes from the pool, and the new one takes its place.")
                        stored.discard(v)
                        stored_now = nv
                        swapped += 1
                    if stored_now is not None:
                        stored.add(stored_now)
                    n += 1
                if len(stored) != 10:
                    _fail(f"{name}: the pool must keep exactly its size in images once full (it holds {len(stored)}).")
            rate, sd = swapped / n, (0.25 / n) ** 0.5
            if rate > 0.95:
                _fail(f"{name}: it swapped {rate:.0%} of the images; once full, each image is swapped with probability "
                      "1/2, else returned as it is.")
            if rate < 0.05:
                _fail(f"{name}: it swapped {rate:.0%} of the images once full: it should hand out a stored image "
                      "(and keep the new one) with probability 1/2.")
            if abs(rate - 0.5) > 5 * sd:
                _fail(f"{name}: it swapped {rate:.1%} of {n} images; with probability 1/2 per image that is more than "
                      f"5 standard deviations ({sd:.1%}) from 50 %.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct: fills first, then swaps {swapped} of {n} images ({rate:.1%}; 1/2 expected), hands out "
          "only stored images, and size 0 is a no-op.")
    return True
