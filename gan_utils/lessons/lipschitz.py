"""Wasserstein GANs: the reusable pieces of notebooks/07_wgan.ipynb.

The losses themselves (``critic_loss_wasserstein``, ``g_loss_wasserstein``, ``gradient_penalty``,
``clip_weights``) live in :mod:`gan_utils.losses`, the critic (``DCGANDiscriminator(norm=...)``)
in :mod:`gan_utils.models` and the loop in :mod:`gan_utils.train`. This module holds what notebook
07 adds around them:

- **why** (1-D, exact): :func:`shift_curves` (JSD and W1 of two distributions slid apart,
  with their slopes, from :mod:`gan_utils.lessons.theory`), :func:`optimal_critic_1d` (the maximiser of
  the Kantorovich-Rubinstein duality) and :func:`fit_critic_1d` / :func:`values_and_slopes` (a
  small discriminator or critic trained on samples, to see which one still has a gradient);
  :func:`train_critic_1d` trains the same critic on an objective of the caller's (exercise 4);
- **how Lipschitz is a critic, really**: :func:`input_gradient_norms` (per-sample
  ||grad_x f(x)||), :func:`conv_operator_norm` / :func:`lipschitz_upper_bound` (the true operator
  norm of each layer, by power iteration, and their product), :func:`effective_weights` and
  :func:`plot_weight_histograms` (where clipping piles the weights up);
- **the comparison on Fashion-MNIST**: :func:`configs` (the three TrainConfigs; spectral norm's is
  ``TrainConfig.preset("wgan-sn")``, the Wasserstein loss with neither clipping nor penalty), :class:`FDTracker` (FD-classifier of the raw and the EMA generator during
  training, through ``train(..., callback=)``),
  :func:`compare_step_times` (the cost of one generator step, n_critic critic steps
  included, the methods taking turns on the same batch), :func:`w_estimate_at` / :func:`spearman` /
  :func:`plot_w_and_fd` (does the critic's W1 estimate track sample quality?).
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import theory
from ..losses import clip_weights, critic_loss_wasserstein, d_loss_bce, gradient_penalty
from ..models import eval_mode
from ..train import TrainConfig, d_step, g_step, make_optimizers

#: The three ways of notebook 07 to keep the critic (roughly) 1-Lipschitz, with their labels.
METHODS = ("clip", "gp", "sn")
LABELS = {"clip": "weight clipping", "gp": "gradient penalty", "sn": "spectral norm"}
COLORS = {"clip": "C0", "gp": "C1", "sn": "C2"}


# ============================================================================ 1-D: why W1
def shift_curves(shifts, kind: str = "uniform", width: float = 1.0, x=None, dx=None) -> dict:
    """JSD and W1 between p_data and the same distribution shifted by ``s``, for every ``s`` in
    ``shifts``, plus their slopes d/ds (central differences, the gradient a generator with the
    single parameter s would get).

    ``kind="uniform"``: U[0, width] against U[s, s + width], **disjoint supports** for |s| > width
    (a 1-D analogue of Example 1 of [Arjovsky2017], whose distributions are parallel segments in
    R^2); ``kind="gaussian"``: N(0, width^2) against N(s, width^2), overlapping everywhere but less
    and less. Exact integrals on a uniform grid
    (:mod:`gan_utils.lessons.theory`); returns numpy arrays ``shift, jsd, w1, d_jsd, d_w1``.
    """
    if x is None:
        x, dx = theory.grid(-12.0, 22.0, 68_001)          # dx = 5e-4
    elif dx is None:
        raise ValueError("pass dx with x")

    def density(s):
        if kind == "uniform":
            return theory.normalise(theory.uniform_pdf(x, s, s + width), dx)
        if kind == "gaussian":
            return theory.gaussian_pdf(x, s, width)
        raise ValueError(f"kind must be 'uniform' or 'gaussian', got {kind!r}")

    shifts = np.asarray(shifts, dtype=np.float64)
    p = density(0.0)
    js = np.array([theory.jsd(p, density(s), dx) for s in shifts])
    w1 = np.array([theory.wasserstein1_1d(p, density(s), dx) for s in shifts])
    h = 0.2 * width                                        # central differences: d/ds ~ (f(s+h) - f(s-h)) / 2h
    d_js = np.array([(theory.jsd(p, density(s + h), dx) - theory.jsd(p, density(s - h), dx)) / (2 * h)
                     for s in shifts])
    d_w1 = np.array([(theory.wasserstein1_1d(p, density(s + h), dx)
                      - theory.wasserstein1_1d(p, density(s - h), dx)) / (2 * h) for s in shifts])
    return {"shift": shifts, "jsd": js, "w1": w1, "d_jsd": d_js, "d_w1": d_w1}


def optimal_critic_1d(p, q, dx: float, tol: float = 1e-12) -> np.ndarray:
    """The optimal 1-Lipschitz critic f* of the Kantorovich-Rubinstein duality between two 1-D
    densities on a uniform grid, f*(x_0) = 0:

        E_p[f] - E_q[f] = integral of f'(x) (F_q(x) - F_p(x)) dx      (integration by parts)

    is largest over |f'| <= 1 for f' = sign(F_q - F_p), and its value is then
    integral of |F_p - F_q| dx = W1(p, q). Returns f* on the grid.

    Where the two CDFs agree to ``tol`` (far out in the tails, where neither distribution has
    mass and f*'s values do not matter) the slope is set to 0, so rounding noise in F_q - F_p does
    not draw spurious kinks.
    """
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    F_p = dx * (np.cumsum(p) - 0.5 * (p[0] + p))                 # cumulative trapezoid, as theory.wasserstein1_1d
    F_q = dx * (np.cumsum(q) - 0.5 * (q[0] + q))
    diff = F_q - F_p
    slope = np.where(np.abs(diff) > tol, np.sign(diff), 0.0)      # f*' = +-1 (0 where the CDFs agree)
    return dx * (np.cumsum(slope) - 0.5 * (slope[0] + slope))     # f*(x) = integral of f*' from x_0 to x


def _mlp_1d(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(1, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, 1))


def fit_critic_1d(real: torch.Tensor, fake: torch.Tensor, kind: str, steps: int = 500, hidden: int = 64,
                  batch_size: int = 256, seed: int = 0) -> nn.Module:
    """Train a small MLP ``f: R -> R`` to tell ``real`` (N, 1) from ``fake`` (M, 1) samples, the
    generator held fixed.

    ``kind="bce"``: a GAN discriminator, logits trained with ``d_loss_bce`` (Adam 1e-3, betas
    (0.5, 0.999)); ``"wgan-gp"``: a critic maximising E[f(real)] - E[f(fake)] under the gradient
    penalty (lambda = 10, Adam 1e-3, betas (0, 0.9)); ``"wgan-clip"``: the same objective with
    weights clipped to [-0.01, 0.01] after every step (RMSprop 5e-3). The learning rates are 5-100x
    the image-GAN ones: a 1-D toy converges in a few hundred steps. Returns the module in eval mode, its output
    shaped (B,). Deterministic for a seed on CPU.
    """
    if kind not in ("bce", "wgan-gp", "wgan-clip"):
        raise ValueError(f"kind must be 'bce', 'wgan-gp' or 'wgan-clip', got {kind!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _mlp_1d(hidden)

        class _F(nn.Module):                                  # (B, 1) -> (B,), as gan_utils' critics
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, t):
                return self.net(t).view(-1)

        f = _F(net)
        if kind == "bce":
            opt = torch.optim.Adam(f.parameters(), lr=1e-3, betas=(0.5, 0.999))
        elif kind == "wgan-gp":
            opt = torch.optim.Adam(f.parameters(), lr=1e-3, betas=(0.0, 0.9))
        else:
            opt = torch.optim.RMSprop(f.parameters(), lr=5e-3)
            clip_weights(f, 0.01)
        for _ in range(steps):
            xr = real[torch.randint(len(real), (batch_size,))]
            xf = fake[torch.randint(len(fake), (batch_size,))]
            if kind == "bce":
                loss = d_loss_bce(f(xr), f(xf))
            else:
                loss = critic_loss_wasserstein(f(xr), f(xf))
                if kind == "wgan-gp":
                    loss = loss + 10.0 * gradient_penalty(f, xr, xf)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if kind == "wgan-clip":
                clip_weights(f, 0.01)
    return f.eval()


class _Critic1d(nn.Module):
    """(B, 1) -> (B,), as gan_utils' critics."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, t):
        return self.net(t).view(-1)


def train_critic_1d(real: torch.Tensor, fake: torch.Tensor, objective: Callable, steps: int = 1000,
                    anneal: int = 300, hidden: int = 64, batch_size: int = 256, lr: float = 1e-3, betas=(0.0, 0.9),
                    seed: int = 0) -> nn.Module:
    """Train the 1-D MLP critic of :func:`fit_critic_1d` on a **caller's** objective (exercise 4 of
    notebook 07): every step, ``loss = objective(f, real_batch, fake_batch)`` is minimised with
    Adam(``lr``, ``betas``; WGAN-GP's optimiser by default), the learning rate divided by 10 for
    the last ``anneal`` steps so that the critic settles instead of jittering around its optimum.
    ``f`` maps (B, 1) to (B,). Seeded; the global random state is left alone. Returns the critic in
    eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        f = _Critic1d(_mlp_1d(hidden))
        opt = torch.optim.Adam(f.parameters(), lr=lr, betas=tuple(betas))
        for step in range(steps):
            if step == steps - anneal:
                for group in opt.param_groups:
                    group["lr"] = lr / 10
            xr = real[torch.randint(len(real), (batch_size,))]
            xf = fake[torch.randint(len(fake), (batch_size,))]
            loss = objective(f, xr, xf)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise ValueError(f"the objective must return the loss as one number (a 0-d tensor), got {loss!r}")
            opt.zero_grad(set_to_none=True)
            loss.reshape(()).backward()
            opt.step()
    return f.eval()


def values_and_slopes(f: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``f(x)`` and ``df/dx`` at the points ``x`` (N, 1), as numpy arrays (N,)."""
    x = x.detach().clone().requires_grad_(True)
    out = f(x)
    (g,) = torch.autograd.grad(out.sum(), x)
    return out.detach().numpy().astype(np.float64), g.view(-1).numpy().astype(np.float64)


# ============================================================================ Lipschitz diagnostics
def input_gradient_norms(critic: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Per-sample ``||grad_x f(x)||_2`` (norm over all of a sample's dimensions), shape (N,).

    A 1-Lipschitz critic has all of them <= 1; WGAN-GP pushes them towards 1 on the interpolates.
    The critic is evaluated in eval mode (no spectral-norm power iteration, no state change).
    """
    out = []
    with eval_mode(critic):
        for chunk in x.split(batch_size):
            xc = chunk.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(critic(xc).sum(), xc)
            out.append(g.flatten(1).norm(dim=1).detach())
    return torch.cat(out)


@torch.no_grad()
def _power_iteration(apply, apply_t, shape, n_iters: int, seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(shape, generator=gen, dtype=torch.float64)
    v /= v.norm()
    sigma = 0.0
    for _ in range(n_iters):
        u = apply(v)
        sigma = float(u.norm())
        w = apply_t(u)                                        # A^T A v
        v = w / w.norm().clamp_min(1e-30)
    return sigma


def conv_operator_norm(conv: nn.Module, in_shape, n_iters: int = 100, seed: int = 0) -> float:
    """The spectral norm of the **linear map** x -> conv(x) (bias left out) on inputs shaped
    ``in_shape = (C, H, W)``: its Lipschitz constant. Power iteration on A^T A in float64.

    Not the same number as the spectral norm of the kernel reshaped to (out, in * k * k), which is
    what spectral normalisation divides by: with overlapping windows (kernel 4, stride 2 covers
    most pixels 4 times) the operator norm can be up to ~ sqrt(overlap) times larger, or smaller.
    """
    w = conv.weight.detach().double()                           # the *effective* weight (W / sigma under SN)
    stride, padding = conv.stride, conv.padding
    shape = (1, *in_shape)

    def apply(v):
        return F.conv2d(v, w, None, stride, padding)

    def apply_t(u):
        # the adjoint of conv2d is conv_transpose2d with the same weight (output_padding to match shape)
        out = F.conv_transpose2d(u, w, None, stride, padding)
        if out.shape != shape:
            out = F.pad(out, (0, shape[-1] - out.shape[-1], 0, shape[-2] - out.shape[-2]))
        return out

    return _power_iteration(apply, apply_t, shape, n_iters, seed)


def lipschitz_upper_bound(critic: nn.Module, in_shape, n_iters: int = 100) -> tuple[float, list]:
    """Product of the operator norms of the critic's conv / linear layers: an upper bound on its
    Lipschitz constant when every other layer is 1-Lipschitz (LeakyReLU, identity; **not** with
    BatchNorm / LayerNorm, whose division by a batch/sample statistic has no such bound).

    Returns ``(bound, [(layer name, norm), ...])``; evaluated in eval mode (no power-iteration
    update of spectral norm's vectors).
    """
    norms = []
    with eval_mode(critic):
        shape = tuple(in_shape)
        x = torch.zeros(1, *shape)
        shapes = {}
        hooks = [m.register_forward_hook(lambda m, i, o, name=n: shapes.__setitem__(name, (tuple(i[0].shape[1:]), m)))
                 for n, m in critic.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        try:
            with torch.no_grad():
                critic(x)
        finally:
            for h in hooks:
                h.remove()
        for name, (ishape, m) in shapes.items():
            if isinstance(m, nn.Conv2d):
                norms.append((name, conv_operator_norm(m, ishape, n_iters)))
            else:
                norms.append((name, float(torch.linalg.matrix_norm(m.weight.detach().double(), ord=2))))
    return float(np.prod([n for _, n in norms])), norms


@torch.no_grad()
def effective_weights(critic: nn.Module) -> dict:
    """Layer name -> the weight tensor the layer actually multiplies with (for a spectrally
    normalised layer that is W / sigma(W), not the raw parameter). Conv and linear layers only."""
    with eval_mode(critic):                                     # reading .weight must not step SN's power iteration
        return {n: m.weight.detach().clone() for n, m in critic.named_modules()
                if isinstance(m, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d))}


def plot_weight_histograms(critics: dict, clip_value: Optional[float] = None, bins: int = 80, axes=None,
                           title: str = "Critic weights after training"):
    """One histogram per critic (``{label: module}``) of all its effective conv weights, with
    the clipping bounds +-c drawn. Weight clipping piles the weights up at +-c [Gulrajani2017]."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(critics), figsize=(4.4 * len(critics), 3.6), squeeze=False)
        axes = axes[0]
    for ax, (label, critic) in zip(axes, critics.items()):
        w = torch.cat([t.flatten() for t in effective_weights(critic).values()]).numpy()
        ax.hist(w, bins=bins, color="C0", alpha=0.85)
        if clip_value is not None and np.abs(w).max() <= clip_value * 1.0001:
            for s in (-clip_value, clip_value):
                ax.axvline(s, color="C3", ls="--", lw=1.2)
            at_bound = np.mean(np.abs(w) >= 0.99 * clip_value)
            ax.set_title(f"{label}\n{100 * at_bound:.0f}% of weights at |w| >= 0.99 c")
        else:
            ax.set_title(f"{label}\nmax |w| = {np.abs(w).max():.3f}")
        ax.set_xlabel("weight value")
        ax.set_ylabel("count (log scale)")
        ax.set_yscale("log")
    plt.suptitle(title)
    plt.tight_layout()
    return axes


# ============================================================================ the comparison
def configs(**common) -> dict:
    """``{"clip", "gp", "sn"}`` -> :class:`TrainConfig`: the published hyper-parameters of each
    method (``TrainConfig.preset``), then ``common`` (batch size, steps, ... the same for all)."""
    return {"clip": TrainConfig.preset("wgan-clip", **common),
            "gp": TrainConfig.preset("wgan-gp", **common),
            "sn": TrainConfig.preset("wgan-sn", **common)}   # no clipping, no penalty; WGAN-GP's optimiser


def _step_fn(G: nn.Module, D: nn.Module, cfg: TrainConfig, real: torch.Tensor):
    """One generator step as :func:`gan_utils.train.train` does it (``d_step`` x n_critic on the
    fixed ``real`` batch, then ``g_step``), on copies of ``G`` and ``D``."""
    G, D = copy.deepcopy(G).train(), copy.deepcopy(D).train()
    dev = real.device
    opt_g, opt_d = make_optimizers(G, D, cfg, dev)
    b = real.shape[0]

    def one_step():
        for _ in range(cfg.n_critic):
            with torch.no_grad():
                fake = G(torch.randn(b, cfg.latent_dim, device=dev))
            d_step(D, real, fake, opt_d, cfg)
        g_step(D, G(torch.randn(b, cfg.latent_dim, device=dev)), opt_g, cfg, G)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    return one_step


def seconds_per_generator_step(G: nn.Module, D: nn.Module, cfg: TrainConfig, real: torch.Tensor,
                               n_steps: int = 5, warmup: int = 1) -> float:
    """Wall-clock seconds of one generator step **including its n_critic critic steps**, on copies
    of ``G`` and ``D`` (the originals are not touched): median of ``n_steps`` timed steps after
    ``warmup`` untimed ones. To compare methods use :func:`compare_step_times`, which interleaves them."""
    return compare_step_times({"m": (G, D, cfg)}, real, n_steps=n_steps, warmup=warmup)["m"]["wall"]


def compare_step_times(setups: dict, real: torch.Tensor, n_steps: int = 5, warmup: int = 1) -> dict:
    """Seconds per generator step (n_critic critic steps included) of several methods on the same
    ``real`` batch: ``setups = {name: (G, D, cfg)}`` -> ``{name: {"wall": s, "cpu": s}}``, medians
    over ``n_steps`` rounds. The methods take turns within each round, so a machine that slows
    down for a while (other jobs, thermal throttling) slows all of them alike. ``"cpu"`` is the
    process CPU time of the step (all threads), a contention-proof measure of the work done on a
    CPU; on a GPU use ``"wall"`` (CUDA is synchronised after each step). Copies of the models are
    stepped; the originals are not touched."""
    steps = {name: _step_fn(G, D, cfg, real) for name, (G, D, cfg) in setups.items()}
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    wall = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    for _ in range(n_steps):
        for name, fn in steps.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {name: {"wall": float(np.median(wall[name])), "cpu": float(np.median(cpu[name]))} for name in steps}


class FDTracker:
    """A ``train(..., callback=)`` hook: the FD-classifier of the generator every ``every``
    generator steps (and at the last one), from ``n`` samples against a fixed reference split.

    It scores the EMA generator (``info["G_ema"]``) and, when ``raw`` is given (the ``G`` being
    trained), that one too: the critic judges the raw generator's samples, so its W1 estimate is
    best compared with the raw generator's FD; the EMA one lags behind by ~1 / (1 - decay) steps.
    ``values`` / ``values_raw`` are lists of ``(step, FD)``; ``result`` the last
    :class:`~gan_utils.metrics.FIDResult` (its ``str`` is the protocol); ``seconds`` the time spent
    evaluating (to subtract from the training time). The ``n < 2048`` bias warning of
    :func:`gan_utils.metrics.fid` is silenced here: every number of one notebook uses the same n, so
    they compare with each other, not with FDs computed at another n.
    """

    def __init__(self, every: int, last: int, n: int = 1000, split: str = "test", n_real: Optional[int] = None,
                 features="classifier", seed: int = 0, raw: Optional[nn.Module] = None,
                 fid_fn: Optional[Callable] = None):
        self.every, self.last, self.n = int(every), int(last), int(n)
        self.split, self.n_real, self.features, self.seed = split, n_real, features, seed
        self.raw = raw
        self.values: list = []
        self.values_raw: list = []
        self.result = None
        self.seconds = 0.0
        self._fid = fid_fn

    def score(self, G: nn.Module):
        """The FD-classifier of ``G`` at this tracker's protocol (a FIDResult)."""
        from ..metrics import fid

        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*biased upwards.*")
            res = (self._fid or fid)(G, "fashion-mnist", split=self.split, n=self.n, n_real=self.n_real,
                                     features=self.features, seed=self.seed)
        self.seconds += time.perf_counter() - t0
        self.result = res
        return res

    def evaluate(self, G_ema: nn.Module, step: int) -> float:
        """Score ``G_ema`` (and the raw generator, if any) and record them at ``step``."""
        value = float(self.score(G_ema))
        self.values.append((int(step), value))
        if self.raw is not None:
            self.values_raw.append((int(step), float(self.score(self.raw))))
        return value

    def __call__(self, info: dict) -> None:
        step = int(info["step"])
        done = {s for s, _ in self.values}
        if step not in done and (step % self.every == 0 or step == self.last):
            self.evaluate(info["G_ema"], step)

    @property
    def steps(self) -> np.ndarray:
        return np.array([s for s, _ in self.values])

    @property
    def fds(self) -> np.ndarray:
        """FD of the EMA generator at :attr:`steps`."""
        return np.array([v for _, v in self.values])

    @property
    def fds_raw(self) -> np.ndarray:
        """FD of the raw generator at :attr:`steps` (empty without ``raw``)."""
        return np.array([v for _, v in self.values_raw])


def w_estimate_at(history: dict, steps, window: int = 50) -> np.ndarray:
    """The critic's W1 estimate ``E[f(x)] - E[f(G(z))]`` averaged over the ``window`` generator
    steps up to each of ``steps`` (the per-step value is noisy: one batch, during training)."""
    st = np.asarray(history["step"])
    w = np.asarray(history["W_estimate"], dtype=np.float64)
    out = []
    for s in steps:
        sel = (st <= s) & (st > s - window)
        out.append(w[sel].mean() if sel.any() else np.nan)
    return np.array(out)


def spearman(a, b) -> float:
    """Spearman rank correlation of two sequences (ties get their average rank); nan when either
    sequence is constant or shorter than 3."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 3:
        return float("nan")

    def ranks(v):
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for val in np.unique(v):                             # average ranks of ties
            m = v == val
            r[m] = r[m].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def plot_w_and_fd(runs: dict, window: int = 50, skip: int = 0, axes=None, protocol: str = ""):
    """For each method (``{key: (history, FDTracker)}``, keys from :data:`METHODS`): one panel
    with the critic's W1 estimate (moving average, left axis) and the FD-classifier (right axis:
    the raw generator's, solid, when tracked; the EMA generator's, dashed) against generator
    steps, and a last panel with W1 estimate against FD (raw if tracked, else EMA) for the
    evaluations at steps >= ``skip`` (and > 0), normalised by each method's largest estimate since the three
    critics are Lipschitz with different constants; the legend gives Spearman's rank correlation."""
    import matplotlib.pyplot as plt

    from ..plots import smooth

    n = len(runs)
    if axes is None:
        ncols = 2 if n == 3 else n + 1
        fig, axes = plt.subplots(math.ceil((n + 1) / ncols), ncols, figsize=(6.5 * ncols, 4.0 * math.ceil((n + 1) / ncols)))
        axes = np.asarray(axes).ravel()
    for ax, (key, (hist, tracker)) in zip(axes, runs.items()):
        st = np.asarray(hist["step"])
        ax.plot(st, smooth(hist["W_estimate"], window), color=COLORS.get(key, "C0"), lw=1.5)
        ax.set_xlabel("generator step")
        ax.set_ylabel("critic's W1 estimate", color=COLORS.get(key, "C0"))
        ax2 = ax.twinx()
        if len(tracker.fds_raw):
            ax2.plot(tracker.steps, tracker.fds_raw, "ko-", ms=3, lw=1, label="FD, raw G")
        ax2.plot(tracker.steps, tracker.fds, "k^--", ms=3, lw=1, alpha=0.6, label="FD, EMA G")
        ax2.set_ylabel("FD-classifier (lower = better)")
        ax2.legend(fontsize=8, loc="upper right")
        ax.set_title(f"{LABELS.get(key, key)}")
    ax = axes[n]
    for key, (hist, tracker) in runs.items():
        sel = (tracker.steps >= skip) & (tracker.steps > 0)     # step 0: no estimate yet
        w = w_estimate_at(hist, tracker.steps[sel], window)
        scale = np.nanmax(np.abs(w)) or 1.0
        fd = (tracker.fds_raw if len(tracker.fds_raw) else tracker.fds)[sel]
        rho = spearman(w, fd)
        ax.plot(fd, w / scale, "o-", ms=4, color=COLORS.get(key, "C0"),
                label=f"{LABELS.get(key, key)} (Spearman {rho:+.2f})")
    ax.set_xlabel("FD-classifier of the generator the critic judged")
    ax.set_ylabel("W1 estimate / its max")
    ax.set_title("Does the estimate track quality?")
    ax.legend(fontsize=9)
    if protocol:
        plt.suptitle(protocol, fontsize=10)
    plt.tight_layout()
    return axes
