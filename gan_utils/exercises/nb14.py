"""Checks for the exercises of notebooks/14_improved_techniques.ipynb (references: :mod:`gan_utils.losses`
and :mod:`gan_utils.models`; solutions in solutions/14_improved_techniques.py).

Each ``check_*`` runs the learner's function on seeded inputs and compares what it *returns* with the
reference: it prints "not attempted yet" and returns ``False`` while the stub still raises
``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and prints a
confirmation and returns ``True`` on a right one. None of them touches torch's global random stream.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import losses
from ._common import _NotAttempted, _call, _fail, _not_attempted

__all__ = ["check_feature_matching", "check_minibatch_features", "check_unlabelled_loss"]


def _tensor(name: str, out, shape=None) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        _fail(f"{name} should return a torch tensor, got {type(out).__name__}")
    if shape is not None and tuple(out.shape) != tuple(shape):
        _fail(f"{name} returned shape {tuple(out.shape)}, expected {tuple(shape)}")
    return out


def _close(a, b, rtol=1e-4, atol=1e-6) -> bool:
    return bool(np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=rtol, atol=atol))


# ---------------------------------------------------------------- exercise 1: feature matching
def check_feature_matching(fn, seed: int = 0) -> bool:
    """``fn(real_features, fake_features)`` (two ``(B, d)`` tensors, batches of different sizes allowed) must
    return Salimans et al.'s feature-matching loss ||E f(x) - E f(G(z))||_2^2 as a 0-d tensor that trains G."""
    name = "feature_matching"
    try:
        g = torch.Generator().manual_seed(seed)
        for trial in range(3):
            real = torch.randn(16, 6, generator=g) + trial
            fake = (torch.randn(12, 6, generator=g) * 0.5).requires_grad_(True)
            out = _tensor(name, _call(fn, real.clone(), fake))
            if out.numel() != 1:
                _fail(f"{name} should return one number (a 0-d tensor), got shape {tuple(out.shape)}: average over "
                      "the batch first, then take the squared distance of the two mean vectors")
            got, want = float(out.detach()), float(losses.feature_matching_loss(real, fake).detach())
            if not _close(got, want):
                mr, mf = real.mean(0), fake.detach().mean(0)
                hints = [
                    ((mr - mf).pow(2).mean(), "that is the mean over the features (the authors' code); the paper's "
                                              "||.||_2^2 sums them"),
                    ((mr - mf).norm(), "the square is missing: ||E f(x) - E f(G(z))||_2 squared"),
                    ((mr - mf).abs().sum(), "that is an L1 distance; feature matching uses the squared L2 norm"),
                    (((real[:12] - fake.detach()) ** 2).sum(1).mean(),
                     "you matched sample against sample; G matches the *batch means* of the features (the "
                     "fakes are not paired with real images)"),
                ]
                for alt, hint in hints:
                    if _close(got, float(alt)):
                        _fail(f"{name}: {hint} (got {got:.5g}, expected {want:.5g}).")
                _fail(f"{name} returned {got:.5g}, expected {want:.5g} = ||mean(real) - mean(fake)||^2.")
            if not out.requires_grad:
                _fail(f"{name}: the loss is not connected to the fake features, so it cannot train G (no .detach() "
                      "on the fakes)")
            (gf,) = torch.autograd.grad(out.reshape(()), fake)
            if not torch.allclose(gf, -2 * (real.mean(0) - fake.detach().mean(0)) / fake.shape[0] * torch.ones_like(fake),
                                  atol=1e-5):
                _fail(f"{name}: the value is right but the gradient is not; is the real side carrying the gradient?")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct: the squared L2 distance of the batch means of D's features.")
    return True


# ---------------------------------------------------------------- exercise 2: minibatch features
def check_minibatch_features(fn, seed: int = 0) -> bool:
    """``fn(M)`` with ``M`` of shape ``(n, B, C)`` (row ``M[i, b]`` is M_{i,b} = f(x_i) T for kernel b) must return
    o of shape ``(n, B)``: o[i, b] = sum over j of exp(-||M_{i,b} - M_{j,b}||_1), j over the whole batch."""
    name = "minibatch_features"
    try:
        g = torch.Generator().manual_seed(seed)
        for n, B, C in ((6, 3, 4), (5, 7, 2)):
            M = torch.randn(n, B, C, generator=g, dtype=torch.float64) * 0.7
            out = _tensor(name, _call(fn, M.clone()), (n, B))
            d1 = (M[:, None] - M[None]).abs().sum(-1)                   # (n, n, B): ||M_{i,b} - M_{j,b}||_1
            want = torch.exp(-d1).sum(1)                                # (n, B)
            got = out.detach().double()
            if not _close(got, want, rtol=1e-5, atol=1e-8):
                d2 = (M[:, None] - M[None]).pow(2).sum(-1).sqrt()
                hints = [
                    (want - 1, "you left out j = i: the paper's sum runs over the whole batch, i included (its term is "
                               "exp(0) = 1)"),
                    (torch.exp(-d2).sum(1), "that is the L2 distance; the paper uses the L1 norm of M_{i,b} - M_{j,b}"),
                    (torch.exp(-(M[:, None] - M[None]).abs()).sum(1).sum(-1),
                     "you took exp per coordinate and summed them: the L1 norm goes inside the exp"),
                    (torch.exp(-d1).mean(1), "a mean over j instead of the sum"),
                ]
                for alt, hint in hints:
                    if _close(got, alt, rtol=1e-5, atol=1e-8):
                        _fail(f"{name}: {hint}.")
                _fail(f"{name}: o differs from sum_j exp(-||M_ib - M_jb||_1) (max difference "
                      f"{float((got - want).abs().max()):.3g}).")
        same = _tensor(name, _call(fn, torch.ones(4, 2, 3, dtype=torch.float64)), (4, 2))
        if not _close(same.detach(), 4.0):
            _fail(f"{name}: four identical samples should give o = 4 in every column, got {same.detach().tolist()}")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct: a collapsed batch of n samples scores n in every kernel, a spread-out one about 1.")
    return True


# ---------------------------------------------------------------- exercise 3: the K+1 unlabelled loss
def check_unlabelled_loss(fn, seed: int = 0) -> bool:
    """``fn(real_logits, fake_logits)`` (``(B, K)`` class logits of a K+1-class discriminator whose generated
    class has logit 0) must return -E_x log D(x) - E_z log(1 - D(G(z))) with D(x) = Z(x) / (Z(x) + 1),
    Z(x) = sum_k exp l_k(x), stable for large logits (write it with logsumexp and softplus)."""
    name = "unlabelled_loss"
    try:
        g = torch.Generator().manual_seed(seed)
        for scale in (1.0, 4.0):
            real = torch.randn(8, 10, generator=g) * scale
            fake = torch.randn(7, 10, generator=g) * scale
            got = float(_tensor(name, _call(fn, real.clone(), fake.clone())).detach().reshape(()))
            want = float(losses.semi_supervised_d_loss_unlabelled(real, fake))
            if not _close(got, want, rtol=1e-4, atol=1e-5):
                lse_r, lse_f = torch.logsumexp(real, 1), torch.logsumexp(fake, 1)
                hints = [
                    (-lse_r.mean() + lse_f.mean(), "that is the Wasserstein-style difference of log Z; the GAN loss "
                                                   "needs log D(x) = log Z - log(Z + 1)"),
                    (-(lse_r - F.softplus(lse_r)).mean(), "the generated images' term is missing: + E softplus(lse(G(z)))"),
                    (F.softplus(-lse_r).mean() + F.softplus(-lse_f).mean(),
                     "the fakes should be pushed to class K+1: -log(1 - D(G(z))) = softplus(lse), not softplus(-lse)"),
                ]
                for alt, hint in hints:
                    if _close(got, float(alt), rtol=1e-4, atol=1e-5):
                        _fail(f"{name}: {hint} (got {got:.5g}, expected {want:.5g}).")
                _fail(f"{name} returned {got:.5g}, expected {want:.5g}.")
        huge = torch.full((3, 10), 200.0)
        out = float(_tensor(name, _call(fn, huge, -huge)).detach().reshape(()))
        if not np.isfinite(out):
            _fail(f"{name}: with logits of 200 the loss is {out}: exp(200) overflows float32. Use torch.logsumexp for "
                  "log Z and F.softplus(t) = log(1 + e^t).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct: the GAN loss of D(x) = Z(x) / (Z(x) + 1), finite for any logits.")
    return True
