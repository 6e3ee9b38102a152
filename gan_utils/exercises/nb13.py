"""Checks for the exercises of notebooks/13_sequence_gans.ipynb (references: :mod:`gan_utils.sequence`
and ``torch.nn.functional.gumbel_softmax``; solutions in solutions/13_sequence_gans.py).

Each ``check_*`` runs the learner's function on seeded inputs and compares what it *returns* (values and
gradients) with the reference: it prints "not attempted yet" and returns ``False`` while the stub still
raises ``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and
prints a confirmation and returns ``True`` on a right one. No check touches torch's global random stream.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import sequence
from ._common import _NotAttempted, _call, _fail, _not_attempted, _number

__all__ = ["check_reinforce_loss", "check_gumbel_softmax_sample", "check_straight_through"]


def _inputs(seed: int, n: int = 6, T: int = 4, V: int = 5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, T, V, generator=g, dtype=torch.float64)
    tokens = torch.randint(0, V, (n, T), generator=g)
    log_probs = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)   # (n, T)
    rewards = torch.rand(n, T, generator=g, dtype=torch.float64)
    return log_probs, rewards


# ---------------------------------------------------------------- exercise 1: the REINFORCE loss
def check_reinforce_loss(fn, seed: int = 0) -> bool:
    """``fn(log_probs, rewards)`` (both ``(n, T)``) must return SeqGAN's policy-gradient loss without a
    baseline, ``-(1/n) sum_i sum_t log G(y_t | Y_1:t-1) * Q_t``, whose gradient reaches ``log_probs`` only
    (the rewards are constants: D's verdicts, not something to change)."""
    name = "reinforce_loss"
    try:
        for trial in range(3):
            lp, rw = _inputs(seed + trial)
            ref = sequence.reinforce_loss(lp, rw)
            lp_in = lp.clone().requires_grad_(True)
            rw_in = rw.clone().requires_grad_(True)
            got = _number(name, _call(fn, lp_in, rw_in))
            value, want = float(got.detach()), float(ref)
            n, T = lp.shape
            if abs(value - want) > 1e-9 * max(1.0, abs(want)):
                hints = [(-want, "the sign is wrong: the optimiser *minimises* the loss, so the loss is minus the "
                                 "reward-weighted log-likelihood"),
                         (want / T, "you averaged over the T positions: eq. (7) *sums* over t (average over the sequences)"),
                         (want * n, "you summed over the sequences: average over the n sequences of the batch"),
                         (float(-(lp.exp() * rw).sum(1).mean()), "that uses the probabilities G(y_t|...), not their logarithms"),
                         (float(-(lp.sum(1) * rw.sum(1)).mean()), "each position's log-probability must be weighted by "
                                                                  "its own reward Q_t, not by the sum of the rewards")]
                for alt, hint in hints:
                    if abs(value - alt) < 1e-9 * max(1.0, abs(alt)):
                        _fail(f"{name}: {hint} (got {value:.6g}, expected {want:.6g}).")
                _fail(f"{name} returned {value:.6g}, expected {want:.6g} = -(1/n) sum_i sum_t log_probs * rewards.")
            if not got.requires_grad:
                _fail(f"{name}: the loss is not connected to log_probs, so it cannot train G.")
            grads = torch.autograd.grad(got, (lp_in, rw_in), allow_unused=True)
            if grads[1] is not None and grads[1].abs().max() > 0:
                _fail(f"{name}: the gradient also flows into the rewards. They are constants of the policy gradient "
                      "(D's verdicts); use rewards.detach().")
            if not torch.allclose(grads[0], -rw / n, atol=1e-12):
                _fail(f"{name}: the value is right but the gradient with respect to log_probs is not -rewards / n.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct: -(1/n) sum_i sum_t log G(y_t|...) Q_t, the rewards held constant.")
    return True


# ---------------------------------------------------------------- exercise 2: Gumbel-softmax by hand
def check_gumbel_softmax_sample(fn, seed: int = 0) -> bool:
    """``fn(logits, u, tau)`` must return the Gumbel-softmax sample ``softmax((logits + g) / tau)`` over the
    last dimension, with the Gumbel noise ``g = -log(-log u)`` made from the given uniform noise ``u``."""
    name = "gumbel_softmax_sample"
    try:
        g = torch.Generator().manual_seed(seed)
        for tau in (1.0, 0.5, 2.0):
            logits = torch.randn(8, 6, generator=g, dtype=torch.float64)
            u = torch.rand(8, 6, generator=g, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
            want = torch.softmax((logits - torch.log(-torch.log(u))) / tau, -1)
            out = _call(fn, logits.clone(), u.clone(), tau)
            if not isinstance(out, torch.Tensor) or out.shape != want.shape:
                _fail(f"{name} should return a tensor of shape {tuple(want.shape)} (one sample per row), got "
                      f"{type(out).__name__} {tuple(getattr(out, 'shape', ()))}")
            got = out.detach().double()
            if torch.allclose(got, want, atol=1e-9):
                continue
            hints = [(torch.softmax((logits - torch.log(u)) / tau, -1), "the Gumbel noise is g = -log(-log u): two logs, "
                                                                         "not one"),
                     (torch.softmax((logits + torch.log(-torch.log(u))) / tau, -1), "the noise has the wrong sign: "
                                                                                     "g = -log(-log u)"),
                     (torch.softmax(logits / tau - torch.log(-torch.log(u)), -1), "divide the *perturbed* logits "
                                                                                   "(logits + g) by tau, not the logits alone"),
                     (torch.softmax((logits - torch.log(-torch.log(u))) * tau, -1), "divide by the temperature tau, "
                                                                                     "do not multiply"),
                     (torch.softmax((logits - torch.log(-torch.log(u))) / tau, 0), "the softmax runs over the last "
                                                                                    "dimension (the tokens), dim=-1")]
            for alt, hint in hints:
                if torch.allclose(got, alt, atol=1e-9):
                    _fail(f"{name}: {hint}.")
            _fail(f"{name}: for tau = {tau} the sample differs from softmax((logits - log(-log u)) / tau).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct: softmax((logits + g) / tau), g = -log(-log u); its argmax is an exact sample of "
          "softmax(logits) (the Gumbel-max trick).")
    return True


# ---------------------------------------------------------------- exercise 3: the straight-through trick
def check_straight_through(fn, seed: int = 0) -> bool:
    """``fn(y_soft)`` (rows on the simplex, ``(n, V)``) must return the one-hot row of each row's argmax in
    the forward pass, with the gradient of ``y_soft`` in the backward pass (what
    ``F.gumbel_softmax(..., hard=True)`` does)."""
    name = "straight_through"
    try:
        g = torch.Generator().manual_seed(seed)
        for trial in range(3):
            logits = torch.randn(10, 7, generator=g, dtype=torch.float64, requires_grad=True)
            w = torch.randn(10, 7, generator=g, dtype=torch.float64)
            y_soft = torch.softmax(logits / 0.7, -1)
            out = _call(fn, y_soft)
            if not isinstance(out, torch.Tensor) or out.shape != y_soft.shape:
                _fail(f"{name} should return a tensor of the input's shape {tuple(y_soft.shape)}")
            hard = F.one_hot(y_soft.argmax(-1), 7).double()
            if not torch.allclose(out.detach().double(), hard, atol=1e-12):
                if torch.allclose(out.detach().double(), y_soft.detach(), atol=1e-12):
                    _fail(f"{name}: that is the soft sample itself; the forward pass must be exactly one-hot "
                          "(D then sees real tokens).")
                _fail(f"{name}: the forward values are not the one-hot rows of argmax(y_soft) (did you add y_soft "
                      "without subtracting y_soft.detach()?).")
            if not out.requires_grad:
                _fail(f"{name}: no gradient reaches the logits: one_hot(argmax) alone has none. Return "
                      "y_hard - y_soft.detach() + y_soft.")
            (g_out,) = torch.autograd.grad((out * w).sum(), logits, retain_graph=True)
            (g_soft,) = torch.autograd.grad((y_soft * w).sum(), logits)
            if not torch.allclose(g_out, g_soft, atol=1e-10):
                _fail(f"{name}: the forward pass is right but the gradient is not that of y_soft.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct: one-hot forward, the soft sample's gradient backward (biased, but it flows).")
    return True
