"""Notebook 04's lesson helpers: walking the latent space (linear and spherical interpolation, a
latent explorer), and what the EMA generator of ``gan_utils.train`` really averages.

Taught in notebooks/04_dcgan.ipynb (sections "The EMA generator" and "Walking the latent space");
the interpolations are reused wherever a trained generator is inspected (06 evaluation, 08 full run).

**The EMA generator** (:func:`ema_decays`, :func:`ema_weights`, :func:`ema_summary`,
:func:`recompute_batchnorm_stats`). :class:`gan_utils.train.EMA` warms its decay up, so the
"last 1/(1 - decay) steps" rule of thumb does not describe a short run; these functions measure
the weights by probing that class itself, so what the notebook prints cannot drift from what
``train`` does. Its BatchNorm running statistics are copied from the raw generator;
:func:`gan_utils.models.recompute_batchnorm_stats` re-estimates them from the EMA generator's own
activations (the library uses it before every evaluation of an EMA generator).

Why two interpolations? For z ~ N(0, I_d) the norm |z| concentrates around sqrt(d) (10 for
d = 100): almost all of the prior's mass lies in a thin shell, and the generator was trained only on
codes from that shell. The straight line between two such codes cuts *inside* the shell: for two
independent codes its midpoint has norm about sqrt(d / 2), about 7.1 for d = 100, a radius the
generator has essentially never seen. The spherical interpolation (slerp) moves along the great
circle between the two codes at constant angular speed and, when both codes have the same norm,
keeps that norm all the way.

    lerp(z0, z1, t)  = (1 - t) z0 + t z1
    slerp(z0, z1, t) = sin((1 - t) W) / sin(W) z0 + sin(t W) / sin(W) z1,   cos W = <z0, z1> / (|z0| |z1|)

Shapes: ``z0`` and ``z1`` are ``(d,)`` or a batch ``(B, d)`` (the last dimension is the latent
one); ``t`` is a number (the result has the shape of ``z0``) or a 1-D tensor of ``n`` positions (the
result is ``(n, d)`` or ``(n, B, d)``).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn as nn

from ..models import eval_mode, lerp, recompute_batchnorm_stats, slerp  # noqa: F401 (taught here, live in the library)

__all__ = ["lerp", "slerp", "interpolate", "interpolate_images", "generate", "latent_explorer", "METHODS",
           "ema_decays", "ema_weights", "ema_summary", "recompute_batchnorm_stats"]

METHODS = ("slerp", "linear")


def interpolate(z0: torch.Tensor, z1: torch.Tensor, n: int = 10, method: str = "slerp") -> torch.Tensor:
    """``n`` evenly spaced codes from ``z0`` to ``z1`` (both included): ``(n, d)`` or ``(n, B, d)``."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}; use one of {METHODS}")
    if n < 2:
        raise ValueError("n must be at least 2 (the two end points)")
    t = torch.linspace(0.0, 1.0, n, dtype=z0.dtype, device=z0.device)
    return (slerp if method == "slerp" else lerp)(z0, z1, t)


@torch.no_grad()
def interpolate_images(G: torch.nn.Module, z0: torch.Tensor, z1: torch.Tensor, n: int = 10,
                       method: str = "slerp") -> torch.Tensor:
    """Images along the path from ``z0`` to ``z1``: ``(n, C, H, W)`` for codes ``(d,)``, or
    ``(B * n, C, H, W)`` (row by row: pair 0's path first) for batches ``(B, d)``.

    ``G`` runs in eval mode (BatchNorm uses its running statistics, so an image does not depend on
    the other images of the batch) and is put back in the mode it was in.
    """
    zs = interpolate(z0, z1, n, method)                               # (n, d) or (n, B, d)
    if zs.dim() == 3:
        zs = zs.transpose(0, 1).reshape(-1, zs.shape[-1])             # (n, B, d) -> (B * n, d)
    return generate(G, zs)


@torch.no_grad()
def generate(G: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """``G(z)`` in eval mode, on G's device, returned as a float CPU tensor; G's mode is restored."""
    device = next(G.parameters()).device
    with eval_mode(G):
        return G(z.to(device)).float().cpu()


def latent_explorer(G: torch.nn.Module, latent_dim: int | None = None, n_path: int = 9, figsize=(11, 6.5)):
    """A drawing function for :func:`gan_utils.lessons.widgets.interactive_or_static` (notebook 04).

    Returns ``draw(seed_a, seed_b, t, method)``: codes ``z_a``, ``z_b`` ~ N(0, I) drawn from the
    seeds, the point at position ``t`` in [0, 1] on the ``method`` path ("slerp" or "linear"), and a
    figure of three panels: the image at ``t``, |z| along both paths against the prior's typical norm
    sqrt(d), and (below) the whole path of ``n_path`` images with the one nearest ``t`` framed.

        explorer = interactive_or_static(latent_explorer(G), dict(seed_a=1, seed_b=2, t=0.5, method="slerp"),
                                         seed_a=(0, 99, 1), seed_b=(0, 99, 1), t=(0.0, 1.0, 0.05),
                                         method=["slerp", "linear"])
    """
    import matplotlib.pyplot as plt

    from ..plots import image_grid

    d = int(latent_dim if latent_dim is not None else G.latent_dim)

    def code(seed: int) -> torch.Tensor:
        return torch.randn(d, generator=torch.Generator().manual_seed(int(seed)))

    def draw(seed_a: int = 1, seed_b: int = 2, t: float = 0.5, method: str = "slerp"):
        if method not in METHODS:
            raise ValueError(f"method={method!r}; use one of {METHODS}")
        za, zb = code(seed_a), code(seed_b)
        interp = slerp if method == "slerp" else lerp
        z_t = interp(za, zb, float(t))
        path = interpolate_images(G, za, zb, n_path, method)                         # (n_path, C, H, W)
        img_t = generate(G, z_t.unsqueeze(0))[0]                                      # G(z_t), (C, H, W)
        ts = torch.linspace(0, 1, 101)
        norms = {m: (slerp if m == "slerp" else lerp)(za, zb, ts).norm(dim=-1) for m in METHODS}

        fig = plt.figure(figsize=figsize)
        gs = fig.add_gridspec(2, 2, width_ratios=[1, 1.7], height_ratios=[2.2, 1])
        ax_img = fig.add_subplot(gs[0, 0])
        grid = image_grid(img_t.unsqueeze(0), nrow=1, pad=0)
        ax_img.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1)
        ax_img.set_title(f"G(z) at t = {float(t):.2f} ({method})")
        ax_img.set_xlabel(f"|z| = {z_t.norm():.2f}")
        ax_img.set_xticks([])
        ax_img.set_yticks([])

        ax_path = fig.add_subplot(gs[1, :])
        strip = image_grid(path, nrow=n_path, pad=2)
        ax_path.imshow(strip, cmap="gray" if strip.ndim == 2 else None, vmin=0, vmax=1)
        k = int(round(float(t) * (n_path - 1)))
        size = path.shape[-1] + 2
        ax_path.add_patch(plt.Rectangle((k * size + 0.5, 0.5), size - 1, size - 1, fill=False,
                                        edgecolor="C3", linewidth=2.5))
        ax_path.set_title(f"{method} path from seed {seed_a} (left) to seed {seed_b} (right)")
        ax_path.set_xlabel("t = 0 ... 1 (red frame: nearest to t)")
        ax_path.set_xticks([])
        ax_path.set_yticks([])

        ax_norm = fig.add_subplot(gs[0, 1])
        for m, style in zip(METHODS, ("-", "--")):
            ax_norm.plot(ts, norms[m], style, lw=2, label=m)
        ax_norm.axhline(math.sqrt(d), color="k", lw=1, ls=":", label=r"$\sqrt{d}$ (typical |z|)")
        ax_norm.axvline(float(t), color="C3", lw=1)
        ax_norm.set_xlabel("t")
        ax_norm.set_ylabel("|z| along the path")
        ax_norm.set_title("Norm of the code")
        ax_norm.set_ylim(0, 1.25 * float(max(n.max() for n in norms.values())))
        ax_norm.legend(fontsize=9, loc="lower center")
        fig.tight_layout()
        return fig

    return draw


# ============================================================================ the EMA generator
class _Probe(nn.Module):
    """A "generator" with one float64 parameter, to read off what :class:`gan_utils.train.EMA` does."""

    def __init__(self, value: float = 0.0):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(value), dtype=torch.float64))


@torch.no_grad()
def ema_decays(steps: int, decay: float = 0.999) -> np.ndarray:
    """The decay d_t that :class:`gan_utils.train.EMA` applies at its update t = 1, ..., ``steps``,
    measured on the class itself: before update t the average is set to 0 and the generator's
    weight to 1, so after it the average holds ``(1 - d_t) * 1``. Returns ``(steps,)`` float64."""
    from ..train import EMA                      # the lessons may import the library (not the reverse)

    ema = EMA(_Probe(0.0), decay)
    one = _Probe(1.0)
    out = np.empty(int(steps))
    for t in range(int(steps)):
        ema.model.p.zero_()                      # e_{t-1} = 0 ...
        ema.update(one)                          # ... e_t = d_t * 0 + (1 - d_t) * 1
        out[t] = 1.0 - float(ema.model.p)
    return out


def ema_weights(decays) -> np.ndarray:
    """Given the decays d_1..d_T of T updates, the weight of each generator in the final average:
    ``w[0]`` for the initial weights, ``w[s]`` for the generator after step s (``(T + 1,)``, sums
    to 1). From e_t = d_t e_{t-1} + (1 - d_t) theta_t: w_s = (1 - d_s) prod_{u > s} d_u and
    w_0 = prod_u d_u."""
    d = np.asarray(decays, dtype=np.float64)
    later = np.append(np.cumprod(d[::-1])[::-1], 1.0)          # later[s] = prod_{u >= s+1} d_u, s = 0..T
    w = np.empty(len(d) + 1)
    w[0] = later[0]
    w[1:] = (1.0 - d) * later[1:]
    return w


def ema_summary(steps: int, decay: float = 0.999, old: int = 1000) -> dict:
    """What the EMA generator of a ``steps``-step run averages over (measured with :func:`ema_decays`):

    - ``decay_last``: the decay of the last update, and ``window`` = 1 / (1 - decay_last), the
      horizon that decay alone would average over;
    - ``mean_age``: the average age in steps of the generators in the average, sum_s w_s (T - s);
    - ``share_older``: the weight of generators more than ``old`` steps old (steps before T - old);
    - ``share_initial``: the weight still on the initial (untrained) weights;
    - ``share_older_constant``: the same share for a constant ``decay`` without warm-up,
      ``decay ** old`` (what the rule of thumb assumes).
    """
    d = ema_decays(steps, decay)
    w = ema_weights(d)
    ages = steps - np.arange(steps + 1)                        # age of the generator of step s
    return dict(steps=int(steps), decay_last=float(d[-1]), window=float(1.0 / (1.0 - d[-1])),
                mean_age=float((w * ages).sum()), share_older=float(w[ages > old].sum()),
                share_initial=float(w[0]), share_older_constant=float(decay ** old) if steps > old else 0.0)
