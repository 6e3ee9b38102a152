"""DiffAugment: differentiable augmentations of every image the discriminator sees, real **and** fake
(Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020).

Taught in notebooks/10_modern_recipes.ipynb (limited data). With few training images D memorises
them: its outputs on the training images and on held-out real images drift apart, and G gets
useless gradients. Augmenting only the reals would teach G to produce augmented-looking images
(cut-out squares, shifted digits): the augmentation becomes part of the real distribution. DiffAugment
applies the same policy T to both sides and differentiates through it:

    D step:  L_D(D(T(x)), D(T(G(z))))         G step:  L_G(D(T(G(z))))

so D never sees an un-augmented image, and G's gradient flows back through T. Every call draws new
random parameters, independently per sample (reals and fakes get different draws of the same policy).

The operations, re-written from the authors' reference code (``DiffAugment_pytorch.py`` in
mit-han-lab/data-efficient-gans), for images in [-1, 1]:

    color        brightness: x + U(-0.5, 0.5); saturation: (x - mean_c) * U(0, 2) + mean_c (mean over
                 channels, so a no-op on grey images); contrast: (x - mean) * U(0.5, 1.5) + mean (mean over C, H, W)
    translation  shift by whole pixels in [-H/8, H/8] x [-W/8, W/8] (rounded); the uncovered border is 0
    cutout       zero a square of side H/2 x W/2 (rounded) centred at a uniform position (clipped at the border)

0 is the middle of [-1, 1]: mid-grey, as in the authors' code. On Fashion-MNIST's black (-1) background the
uncovered border and the cut-out square are grey patches, and "saturation" does nothing to a grey image.

:class:`DiffAugment` is the callable ``TrainConfig.augment`` switches on (``"color,translation,cutout"``,
the authors' recommendation for small data sets); the deterministic functions :func:`translate` and
:func:`cutout` take explicit parameters (tests, exercises).
"""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["POLICIES", "DiffAugment", "parse_policy", "diff_augment", "adjust_brightness", "adjust_saturation",
           "adjust_contrast", "translate", "cutout", "rand_translation", "rand_cutout"]

#: policy name -> the operations it applies, in this order
POLICIES = {
    "color": ("brightness", "saturation", "contrast"),
    "translation": ("translation",),
    "cutout": ("cutout",),
}


def parse_policy(policy) -> tuple:
    """``"color,translation"`` (or a list of names) as a tuple of policy names; one clear error for an
    unknown or repeated name. ``None`` or ``""`` is the empty policy (no augmentation)."""
    if policy is None:
        return ()
    names = [p.strip() for p in policy.split(",")] if isinstance(policy, str) else [str(p).strip() for p in policy]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment polic{'ies' if len(unknown) > 1 else 'y'} {unknown}: use a comma-separated "
                         f"subset of {list(POLICIES)}, e.g. 'color,translation,cutout'")
    if len(set(names)) != len(names):
        raise ValueError(f"DiffAugment policy {policy!r} names an operation twice")
    return tuple(names)


def _uniform(x: torch.Tensor, low: float, high: float, generator=None) -> torch.Tensor:
    """One U(low, high) number per sample, shaped (B, 1, 1, 1) to broadcast over (C, H, W)."""
    dev = x.device if generator is None else "cpu"
    u = torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=dev, dtype=torch.float32)
    return (low + (high - low) * u).to(device=x.device, dtype=x.dtype)


def _randint(n: int, low: int, high: int, device, generator=None) -> torch.Tensor:
    """n integers uniform in [low, high) (inclusive low, exclusive high), on ``device``."""
    dev = device if generator is None else "cpu"
    return torch.randint(low, high, (n,), generator=generator, device=dev).to(device)


# ---------------------------------------------------------------- colour (per-sample random factors)
def adjust_brightness(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """x + shift, one shift per sample (shape (B, 1, 1, 1))."""
    return x + shift


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale each pixel's deviation from its mean over the channels: (x - mean_c) * factor + mean_c."""
    mean = x.mean(dim=1, keepdim=True)          # (B, 1, H, W)
    return (x - mean) * factor + mean


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale each image's deviation from its mean over (C, H, W): (x - mean) * factor + mean."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (x - mean) * factor + mean


# ---------------------------------------------------------------- geometry (deterministic cores)
def translate(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Shift image b down by ``dy[b]`` and right by ``dx[b]`` whole pixels (negative: up / left):
    ``out[b, :, i, j] = x[b, :, i - dy[b], j - dx[b]]``, and 0 where that falls outside the image
    (no wrap-around, unlike ``torch.roll``). Differentiable with respect to ``x``."""
    b, c, h, w = x.shape
    dy = torch.as_tensor(dy, device=x.device).long().view(b, 1)
    dx = torch.as_tensor(dx, device=x.device).long().view(b, 1)
    rows = torch.arange(h, device=x.device).view(1, h) - dy      # (B, H): source row of each output row
    cols = torch.arange(w, device=x.device).view(1, w) - dx      # (B, W)
    inside = ((rows >= 0) & (rows < h)).unsqueeze(2) & ((cols >= 0) & (cols < w)).unsqueeze(1)  # (B, H, W)
    bi = torch.arange(b, device=x.device).view(b, 1, 1)
    # advanced indexing on (B, C, H, W) with index tensors for dims 0, 2, 3 -> (B, H, W, C)
    gathered = x[bi, :, rows.clamp(0, h - 1).unsqueeze(2), cols.clamp(0, w - 1).unsqueeze(1)]
    return gathered.permute(0, 3, 1, 2) * inside.unsqueeze(1).to(x.dtype)   # (B, C, H, W), zeros outside


def cutout(x: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor, size) -> torch.Tensor:
    """Zero, in image b, the ``size = (sh, sw)`` rectangle whose rows are ``cy[b] - sh // 2`` ...
    ``cy[b] - sh // 2 + sh - 1`` (and likewise the columns), clipped at the border."""
    b, _, h, w = x.shape
    sh, sw = (size, size) if isinstance(size, int) else size
    top = torch.as_tensor(cy, device=x.device).long().view(b, 1) - sh // 2
    left = torch.as_tensor(cx, device=x.device).long().view(b, 1) - sw // 2
    r = torch.arange(h, device=x.device).view(1, h)
    c = torch.arange(w, device=x.device).view(1, w)
    hole = ((r >= top) & (r < top + sh)).unsqueeze(2) & ((c >= left) & (c < left + sw)).unsqueeze(1)  # (B, H, W)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def rand_translation(x: torch.Tensor, ratio: float = 0.125, generator=None) -> torch.Tensor:
    """:func:`translate` by integers drawn uniformly in [-s, s], s = int(side * ratio + 0.5), per sample and axis."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _randint(b, -sy, sy + 1, x.device, generator)
    dx = _randint(b, -sx, sx + 1, x.device, generator)
    return translate(x, dy, dx)


def rand_cutout(x: torch.Tensor, ratio: float = 0.5, generator=None) -> torch.Tensor:
    """:func:`cutout` of a (side * ratio, rounded) square centred uniformly in [0, side + 1 - size % 2)."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _randint(b, 0, h + 1 - sh % 2, x.device, generator)
    cx = _randint(b, 0, w + 1 - sw % 2, x.device, generator)
    return cutout(x, cy, cx, (sh, sw))


_OPS = {
    "brightness": lambda x, g: adjust_brightness(x, _uniform(x, -0.5, 0.5, g)),
    "saturation": lambda x, g: adjust_saturation(x, _uniform(x, 0.0, 2.0, g)),
    "contrast": lambda x, g: adjust_contrast(x, _uniform(x, 0.5, 1.5, g)),
    "translation": lambda x, g: rand_translation(x, generator=g),
    "cutout": lambda x, g: rand_cutout(x, generator=g),
}


class DiffAugment:
    """The augmentation T of a policy such as ``"color,translation,cutout"``: ``T(x)`` for a batch
    ``(B, C, H, W)`` draws new random parameters per sample at every call. ``generator``: a CPU
    ``torch.Generator`` for reproducible draws (tests); default: torch's global random stream.
    An empty policy is the identity."""

    def __init__(self, policy="color,translation,cutout", generator: Optional[torch.Generator] = None):
        self.policy = parse_policy(policy)
        self.generator = generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.policy:
            return x
        if x.dim() != 4:
            raise ValueError(f"DiffAugment takes image batches (B, C, H, W), got shape {tuple(x.shape)}")
        for name in self.policy:
            for op in POLICIES[name]:
                x = _OPS[op](x, self.generator)
        return x

    def __repr__(self) -> str:
        return f"DiffAugment({','.join(self.policy)!r})"


def diff_augment(x: torch.Tensor, policy="color,translation,cutout", generator=None) -> torch.Tensor:
    """``DiffAugment(policy, generator)(x)`` in one call."""
    return DiffAugment(policy, generator)(x)
