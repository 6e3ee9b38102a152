"""Helpers every exercise check shares (the pattern is described in gan_utils/exercises/__init__.py)."""
from __future__ import annotations


import numpy as np
import torch
import torch.nn as nn


class _NotAttempted(Exception):
    pass


def _call(fn, *args):
    """Run the learner's ``fn``; turn the stub's NotImplementedError into :class:`_NotAttempted`."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise _NotAttempted from None


def _fail(message: str):
    """Raise AssertionError explicitly (a bare ``assert`` would vanish under ``python -O``)."""
    raise AssertionError(message)


def _not_attempted(name: str) -> bool:
    print(f"{name}: not attempted yet (the stub still raises NotImplementedError). "
          "Fill it in and run the cell again.")
    return False


def _number(name: str, out) -> torch.Tensor:
    """The learner's ``out`` as a 0-d tensor (a loss to back-propagate), or a clear failure."""
    if not isinstance(out, torch.Tensor):
        _fail(f"{name} should return a 0-d tensor (so that it can be back-propagated), got {type(out).__name__}")
    if out.numel() != 1:
        _fail(f"{name} should return one number (a 0-d tensor), got shape {tuple(out.shape)}")
    return out.reshape(())


def _check_on_segments(name: str, real, fake, x_hat, what: str = "the critic's input") -> None:
    """Fail unless every ``x_hat[i]`` lies on the segment from ``fake[i]`` to ``real[i]``: one
    mixing weight eps in [0, 1] per sample, as the gradient penalty needs (notebooks 05 and 07)."""
    d = (real - fake).flatten(1)
    t = ((x_hat - fake).flatten(1) * d).sum(1) / (d * d).sum(1)       # best scalar per sample
    resid = ((x_hat - fake).flatten(1) - t[:, None] * d).abs().max().item()
    if resid > 1e-4:
        _fail(f"{name}: {what} is not on the straight line between real_i and fake_i with one eps per sample "
              "(a per-pixel eps, torch.rand_like(real), mixes the two images pixel by pixel). Draw eps with "
              "shape (B, 1, 1, 1).")
    if t.min().item() < -1e-4 or t.max().item() > 1 + 1e-4:
        _fail(f"{name}: eps must be in [0, 1] (torch.rand), got mixing weights from {t.min().item():.3f} "
              f"to {t.max().item():.3f}.")


def _as_array(name: str, out, shape=None, hint: str = "") -> np.ndarray:
    """The learner's output as a float64 array (tensors and lists accepted), of ``shape`` if given."""
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should return an array of numbers, got {type(out).__name__}") from None
    if shape is not None and arr.shape != tuple(shape):
        _fail(f"{name} returned shape {arr.shape}, expected {tuple(shape)}{hint}")
    return arr


class _Recorder(nn.Module):
    """Wraps a critic and keeps the inputs it was called with (to see where x_hat lies)."""

    def __init__(self, critic):
        super().__init__()
        self.critic = critic
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.critic(x)
