"""Toy GANs on 1-D and 2-D mixtures: train, watch D against D*, count modes.

Taught in notebooks/02_toy_gans.ipynb. Three kinds of helpers:

- **toy distributions** (their one home): :func:`gaussian_1d`, :func:`mixture_1d` (+ its density
  :func:`mixture_1d_pdf`), and the 2-D benchmarks :func:`ring8` (Metz et al. 2017) and
  :func:`grid25` (Srivastava et al. 2017), which return their mode centres and std for
  :func:`gan_utils.metrics.mode_coverage`;
- **training**: :func:`train_toy` trains one loss variant (``"bce-saturating"``, ``"bce-ns"``,
  ``"wgan-clip"``, ``"wgan-gp"``) of the same MLP generator and discriminator/critic on a toy data
  set, through :func:`gan_utils.train.train`, and records along the way the raw generator's samples,
  the discriminator/critic evaluated on a grid of points (its *field*), and, for 2-D mixtures,
  :func:`gan_utils.metrics.mode_coverage` of every snapshot. Every variant gets the same model
  sizes, batch size and number of **generator** steps; the Wasserstein variants also take their
  published ``n_critic = 5`` critic steps per generator step (so they cost more per step).
- **figures and tables**: :func:`plot_1d_snapshots` (D(x) against the theoretical
  D* = p_data / (p_data + p_g), with p_g estimated from the generator's samples by
  :func:`kde_1d`), :func:`plot_field` / :func:`plot_field_grid` (samples over the D/critic contour
  field), :func:`plot_mode_shares` (mode hopping over time), :func:`coverage_table`.

Everything here is deterministic for a seed on CPU (the course's tests rely on it).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from .. import data as _data
from . import theory
from ..metrics import ModeCoverage, mode_coverage
from ..models import MLPDiscriminator, MLPGenerator, eval_mode
from ..runtime import seed_everything
from ..train import TrainConfig, make_optimizers, train

#: The four variants of notebook 02, in the order of its table.
VARIANTS = ("bce-saturating", "bce-ns", "wgan-clip", "wgan-gp")
#: Short labels for figures and tables.
LABELS = {"bce-saturating": "saturating GAN", "bce-ns": "non-saturating GAN",
          "wgan-clip": "WGAN (clipping)", "wgan-gp": "WGAN-GP"}


# ---------------------------------------------------------------- toy distributions
def gaussian_1d(n: int, mean: float = 4.0, std: float = 1.25, generator=None) -> torch.Tensor:
    """n samples ``(n, 1)`` from N(mean, std^2)."""
    return mean + std * torch.randn(n, 1, generator=generator)


def mixture_1d(n: int, means=(-2.0, 2.0), stds=(0.5, 0.5), weights=None, generator=None) -> torch.Tensor:
    """n samples ``(n, 1)`` from a 1-D Gaussian mixture (default: bimodal at +-2)."""
    means = torch.as_tensor(means, dtype=torch.float32)
    stds = torch.as_tensor(stds, dtype=torch.float32)
    w = torch.full((len(means),), 1.0 / len(means)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    k = torch.multinomial(w, n, replacement=True, generator=generator)
    return (means[k] + stds[k] * torch.randn(n, generator=generator)).unsqueeze(1)


def mixture_1d_pdf(x, means=(-2.0, 2.0), stds=(0.5, 0.5), weights=None):
    """Density of :func:`mixture_1d` at ``x`` (numpy array), for the theoretical D* plots."""
    x = np.asarray(x, dtype=np.float64)
    w = np.full(len(means), 1.0 / len(means)) if weights is None else np.asarray(weights, dtype=np.float64)
    out = np.zeros_like(x)
    for wi, m, s in zip(w, means, stds):
        out += wi * np.exp(-0.5 * ((x - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))
    return out


def ring8_centers(radius: float = 2.0) -> torch.Tensor:
    """The 8 mode centres ``(8, 2)`` of :func:`ring8`, evenly spaced on a circle."""
    angles = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def grid25_centers(spacing: float = 2.0) -> torch.Tensor:
    """The 25 mode centres ``(25, 2)`` of :func:`grid25`: a 5x5 grid at -2s..2s."""
    ticks = (torch.arange(5, dtype=torch.float32) - 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _mixture_2d(n, centers, std, generator):
    k = torch.randint(0, len(centers), (n,), generator=generator)
    return centers[k] + std * torch.randn(n, 2, generator=generator)


def ring8(n: int, radius: float = 2.0, std: float = 0.02, generator=None):
    """n samples ``(n, 2)`` from 8 Gaussians on a circle (Metz et al. 2017, Unrolled GANs).

    Returns ``(samples, centers, std)`` so :func:`gan_utils.metrics.mode_coverage` can score a
    generator against the same modes.
    """
    centers = ring8_centers(radius)
    return _mixture_2d(n, centers, std, generator), centers, std


def grid25(n: int, spacing: float = 2.0, std: float = 0.05, generator=None):
    """n samples ``(n, 2)`` from a 5x5 grid of Gaussians (Srivastava et al. 2017, VEEGAN).

    Returns ``(samples, centers, std)``.
    """
    centers = grid25_centers(spacing)
    return _mixture_2d(n, centers, std, generator), centers, std


# ---------------------------------------------------------------- data sets by name
def toy_data(name: str, n: int, seed: int = 0):
    """``(samples, centers, std)`` for a 2-D mixture ``"ring8"`` or ``"grid25"``
    (defined above), drawn from a generator seeded with ``seed``."""
    fns = {"ring8": ring8, "grid25": grid25}
    if name not in fns:
        raise ValueError(f"Unknown toy data set {name!r}; use one of {sorted(fns)}")
    return fns[name](n, generator=torch.Generator().manual_seed(seed))


def plot_limits(centers, margin: float = 1.0) -> float:
    """Half-width of a square window holding every centre with ``margin`` to spare."""
    return float(torch.as_tensor(centers).abs().max()) + margin


def grid_points_2d(lim: float, res: int) -> tuple[torch.Tensor, np.ndarray]:
    """A ``res x res`` grid over ``[-lim, lim]^2``: the points ``(res*res, 2)`` in row-major image
    order (row i is y = ys[i], column j is x = xs[j]) and the 1-D coordinates ``xs`` (= ys)."""
    xs = np.linspace(-lim, lim, res)
    gx, gy = np.meshgrid(xs, xs, indexing="xy")       # gx[i, j] = xs[j], gy[i, j] = xs[i]
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (res*res, 2), row-major over (y, x)
    return torch.as_tensor(pts, dtype=torch.float32), xs


@torch.no_grad()
def d_field(D: torch.nn.Module, points: torch.Tensor, loss: str, shape=None) -> np.ndarray:
    """What the discriminator says at ``points``: D(x) = sigmoid(logit) for the BCE losses, the raw
    critic score f(x) for the Wasserstein losses. Reshaped to ``shape`` if given."""
    dev = next(D.parameters()).device
    with eval_mode(D):
        out = torch.cat([D(p.to(dev)) for p in points.split(65536)]).float().cpu()
    if not loss.startswith("wgan"):
        out = torch.sigmoid(out)
    out = out.numpy().astype(np.float64)
    return out.reshape(shape) if shape is not None else out


# ---------------------------------------------------------------- training
@dataclass
class ToyRun:
    """One toy training run: what :func:`train_toy` returns.

    ``snapshots`` is a list of dicts, one every ``sample_every`` generator steps (and at the end),
    with keys ``step``, ``samples`` (raw G on the fixed noise, a float ``(n, dim)`` tensor),
    ``field`` (the D/critic field on the grid, numpy), and for 2-D mixtures ``coverage``
    (:class:`~gan_utils.metrics.ModeCoverage` of those samples). ``final`` and ``final_ema`` score
    the raw and the EMA generator at the end.
    """
    loss: str
    data_name: str
    result: object                       # gan_utils.train.TrainResult
    snapshots: list
    grid: dict                           # {"lim", "res", "xs"} (2-D) or {"x"} (1-D)
    centers: Optional[torch.Tensor] = None
    std: Optional[float] = None
    final: Optional[ModeCoverage] = None
    final_ema: Optional[ModeCoverage] = None
    ema_samples: Optional[torch.Tensor] = None   # the EMA generator on the fixed noise, at the end
    seconds: float = 0.0                 # wall-clock time of the training loop
    cpu_seconds: float = 0.0             # CPU time of this process (all its threads) during training
    config: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return LABELS.get(self.loss, self.loss)

    @property
    def history(self) -> dict:
        return self.result.history

    def coverage_over_time(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(steps, modes_covered, high_quality)`` arrays over the snapshots (2-D mixtures)."""
        steps = np.array([s["step"] for s in self.snapshots])
        modes = np.array([s["coverage"].modes_covered for s in self.snapshots])
        hq = np.array([s["coverage"].high_quality for s in self.snapshots])
        return steps, modes, hq


def train_toy(loss: str, data, *, steps: int = 2000, centers=None, std: Optional[float] = None,
              data_name: str = "", hidden: int = 128, depth: int = 3, latent_dim: int = 2,
              batch_size: int = 256, n_samples: int = 2500, sample_every: int = 100,
              ema_decay: float = 0.999, lim: Optional[float] = None, res: int = 90,
              x_grid=None, seed: int = 0, device=None, progress: bool = True,
              lr_decay: bool = False, standardise: bool = True, g_options: Optional[dict] = None,
              d_options: Optional[dict] = None, **overrides) -> ToyRun:
    """Train one variant (``loss`` as in :meth:`TrainConfig.preset`) of an MLP GAN on ``data``.

    ``data``: a float tensor ``(N, 1)`` (1-D toys) or ``(N, 2)`` (2-D mixtures; pass the mixture's
    ``centers`` and ``std`` to score mode coverage), or the name ``"ring8"`` / ``"grid25"`` (then 50 000
    points are drawn with ``seed``). G = ``MLPGenerator(latent_dim, (dim,), hidden, depth)`` with an
    unbounded output, D = ``MLPDiscriminator((dim,), hidden, depth)`` (no BatchNorm, so the gradient
    penalty is valid); both are built after seeding with ``seed``, so every variant starts from the
    same weights. ``overrides`` go to :meth:`TrainConfig.preset` (``lr_g=...``, ``n_critic=...``).

    Every ``sample_every`` generator steps the **raw** generator (not its EMA, which would hide mode
    hopping) samples the same ``n_samples`` noise vectors and D is evaluated on a grid: a
    ``res x res`` grid over ``[-lim, lim]^2`` in 2-D, ``x_grid`` in 1-D. ``lr_decay=True`` decays
    both learning rates linearly to 0 over training (updated every ``log_every`` steps).

    ``standardise=True`` trains on ``(data - mean) / s`` with ``s`` the data's standard deviation
    (one number for all coordinates, so circles stay circles), the toy recipe of [Gulrajani2017]'s
    code: networks at their default initialisation put their ReLU kinks and outputs at the unit
    scale, and a grid spanning [-4, 4] is then slow to reach. Everything recorded (samples, fields,
    coverage) is mapped back to the data's own coordinates.

    ``g_options`` / ``d_options`` go to the generator's / discriminator's constructor (notebook 14:
    ``{"norm": "virtual"}``, ``{"minibatch": "discrimination"}``). A discriminator with a minibatch layer
    scores each point in the context of its batch, so it has no field: snapshots then hold ``None``.
    """
    if isinstance(data, str):
        data_name = data_name or data
        data, centers, std = toy_data(data, 50_000, seed)
    data = torch.as_tensor(data, dtype=torch.float32)
    if data.dim() != 2 or data.shape[1] not in (1, 2):
        raise ValueError(f"toy data must be (N, 1) or (N, 2), got {tuple(data.shape)}")
    dim = data.shape[1]
    shift = data.mean(0) if standardise else torch.zeros(dim)
    scale = float(data.std()) if standardise else 1.0
    device = torch.device(device) if device is not None else torch.device("cpu")
    cfg_kw = dict(steps=steps, batch_size=batch_size, latent_dim=latent_dim, ema_decay=ema_decay,
                  n_samples=n_samples, sample_every=sample_every, seed=seed, grad_norms=False,
                  log_every=min(50, sample_every) if sample_every else 50)
    cfg = TrainConfig.preset(loss, **{**cfg_kw, **overrides})

    seed_everything(seed)
    G = MLPGenerator(latent_dim, (dim,), hidden, depth, **(g_options or {})).to(device)
    D = MLPDiscriminator((dim,), hidden, depth, **(d_options or {})).to(device)
    has_field = getattr(D, "minibatch", None) is None      # a batch-dependent D has no per-point field
    loader = _loader((data - shift) / scale, cfg.batch_size, device, seed)

    if dim == 2:
        lim = lim if lim is not None else (plot_limits(centers) if centers is not None
                                           else float(data.abs().max()) + 1.0)
        points, xs = grid_points_2d(lim, res)
        grid, shape = {"lim": lim, "res": res, "xs": xs}, (res, res)
    else:
        x_grid = np.asarray(x_grid if x_grid is not None else
                            np.linspace(float(data.min()) - 3, float(data.max()) + 3, 401), dtype=np.float64)
        points, grid, shape = torch.as_tensor(x_grid, dtype=torch.float32).view(-1, 1), {"x": x_grid}, None

    fixed_z = torch.randn(n_samples, latent_dim, generator=torch.Generator().manual_seed(seed + 1)).to(device)
    snapshots: list = []

    @torch.no_grad()
    def snapshot(step: int, G_ema=None) -> None:
        with eval_mode(G):
            xg = G(fixed_z).float().cpu() * scale + shift          # back to data coordinates
        snap = {"step": step, "samples": xg,
                "field": d_field(D, (points - shift) / scale, loss, shape) if has_field else None}
        if centers is not None:
            snap["coverage"] = mode_coverage(xg, centers, std)
            if G_ema is not None and G_ema is not G:
                snap["coverage_ema"] = mode_coverage(G_ema(fixed_z).float().cpu() * scale + shift, centers, std)
        snapshots.append(snap)

    opt_g, opt_d = make_optimizers(G, D, cfg, device)
    base_lrs = [(g, g["lr"]) for opt in (opt_g, opt_d) for g in opt.param_groups]

    def callback(info: dict) -> None:
        step = info["step"]
        if lr_decay:
            for g, lr0 in base_lrs:
                g["lr"] = lr0 * max(0.0, 1.0 - step / cfg.steps)
        if (sample_every and step % sample_every == 0) or step == cfg.steps:
            if not snapshots or snapshots[-1]["step"] != step:
                snapshot(step, info.get("G_ema"))

    snapshot(0)
    t0, c0 = time.perf_counter(), time.process_time()
    result = train(G, D, loader, cfg, device=device, callback=callback, progress=progress,
                   optimizers=(opt_g, opt_d))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0

    run = ToyRun(loss=loss, data_name=data_name, result=result, snapshots=snapshots, grid=grid,
                 centers=centers, std=std, seconds=seconds, cpu_seconds=cpu,
                 config={"hidden": hidden, "depth": depth, "latent_dim": latent_dim, "scale": scale,
                         "lr_decay": lr_decay, "g_options": dict(g_options or {}), "d_options": dict(d_options or {}),
                         **vars(cfg)})
    if centers is not None:
        run.final = snapshots[-1]["coverage"]
        with torch.no_grad():
            ema_samples = result.generator(fixed_z).float().cpu() * scale + shift
        run.final_ema = mode_coverage(ema_samples, centers, std)
        run.ema_samples = ema_samples
    return run


# ---------------------------------------------------------------- the EMA generator's memory
def ema_weight_before(steps: int, before: int, decay: float = 0.999) -> float:
    """Share of the weight that :class:`gan_utils.train.EMA` gives, after ``steps`` updates, to the
    generator weights of the steps before ``before`` (the initial weights count as step 0).

    Measured, not derived: the EMA class itself averages a one-parameter "generator" whose weight is
    1 before step ``before`` and 0 from it on; by linearity the average is that share. So it includes
    the warm-up decay = min(decay, (1 + t) / (10 + t)) that ``EMA.update`` applies at update t.
    """
    from ..train import EMA

    if not 0 <= before <= steps:
        raise ValueError(f"before={before} must lie in [0, steps={steps}]")
    g = torch.nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        g.weight.fill_(1.0 if before > 0 else 0.0)
    ema = EMA(g, decay)                                      # starts as a copy of the step-0 weights
    for t in range(1, steps + 1):
        with torch.no_grad():
            g.weight.fill_(1.0 if t < before else 0.0)
        ema.update(g)                                        # e <- d_t e + (1 - d_t) w_t
    return float(ema.model.weight)


def ema_warmup_end(decay: float = 0.999) -> int:
    """The first update t at which the warm-up (1 + t) / (10 + t) of :class:`gan_utils.train.EMA`
    reaches ``decay`` (tests/test_toys.py checks it against the class)."""
    return math.ceil((10 * decay - 1) / (1 - decay) - 1e-9)


def ema_summary(steps: int, decay: float = 0.999, recent: int = 1000) -> dict:
    """What the EMA generator of a ``steps``-step run with ``train``'s EMA averages over:

    ``decay_last``: the decay of the last update (= the share of the average predating the last
    step), ``window``: 1 / (1 - decay_last), the usual "effective number of steps averaged",
    ``recent_share``: the share of the weight held by the last ``recent`` steps (all of it when the
    run is shorter), ``warmup_end``: the update at which the decay reaches ``decay``.
    """
    last = ema_weight_before(steps, steps, decay) if steps > 0 else 1.0
    first_recent = max(0, steps - recent)
    recent_share = 1.0 - (ema_weight_before(steps, first_recent + 1, decay) if first_recent > 0 else 0.0)
    return {"steps": steps, "decay": decay, "decay_last": last, "window": 1.0 / (1.0 - last),
            "recent": min(recent, steps), "recent_share": recent_share, "warmup_end": ema_warmup_end(decay)}


def _loader(data: torch.Tensor, batch_size: int, device, seed: int):
    """An endless shuffled loader over a toy tensor (:class:`gan_utils.data.InMemoryLoader`)."""
    return _data.InMemoryLoader(data, batch_size=min(batch_size, len(data)), device=device, seed=seed)


# ---------------------------------------------------------------- 1-D: D against D*
def fit_discriminator(real, fake, steps: int = 1500, hidden: int = 64, depth: int = 3,
                      batch_size: int = 512, lr: float = 2e-3, seed: int = 0, progress: bool = False):
    """Train a fresh ``MLPDiscriminator`` with the BCE loss on *fixed* ``real`` and ``fake`` samples
    (tensors ``(N, dim)``) for ``steps`` Adam steps: the inner maximisation of the minimax game with
    G frozen. With enough data, capacity and steps, D(x) approaches D* = p_data / (p_data + p_g).
    Returns D (train mode; its logits are D's output)."""
    from tqdm.auto import tqdm

    from ..losses import d_loss_bce

    real = torch.as_tensor(real, dtype=torch.float32)
    fake = torch.as_tensor(fake, dtype=torch.float32)
    seed_everything(seed)
    D = MLPDiscriminator(tuple(real.shape[1:]), hidden, depth)
    opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(steps), desc="fit D", disable=not progress):
        xr = real[torch.randint(len(real), (batch_size,), generator=g)]
        xf = fake[torch.randint(len(fake), (batch_size,), generator=g)]
        loss = d_loss_bce(D(xr), D(xf))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return D


def kde_1d(samples, x, bandwidth: Optional[float] = None) -> np.ndarray:
    """Gaussian kernel density estimate of 1-D ``samples`` evaluated at ``x``:

        p_hat(x) = 1/n * sum_i N(x; x_i, h^2)

    ``bandwidth`` h defaults to Silverman's rule, h = 0.9 min(sd, IQR / 1.34) n^(-1/5).
    """
    s = np.asarray(torch.as_tensor(samples).detach().cpu().double().reshape(-1))
    x = np.asarray(x, dtype=np.float64)
    if bandwidth is None:
        sd = s.std(ddof=1) if s.size > 1 else 1.0
        iqr = np.subtract(*np.percentile(s, [75, 25])) / 1.34
        spread = min(sd, iqr) if iqr > 0 else sd
        bandwidth = 0.9 * max(spread, 1e-3) * s.size ** (-0.2)
    out = np.zeros_like(x)
    for chunk in np.array_split(s, max(1, s.size // 1000)):
        out += np.exp(-0.5 * ((x[:, None] - chunk[None, :]) / bandwidth) ** 2).sum(axis=1)
    return out / (s.size * bandwidth * math.sqrt(2 * math.pi))


def d_star_1d(p_data_fn: Callable, samples, x) -> tuple[np.ndarray, np.ndarray]:
    """``(D*, p_g_hat)`` on ``x``: D* = p_data / (p_data + p_g) with p_g estimated by :func:`kde_1d`."""
    p_g = kde_1d(samples, x)
    return theory.optimal_discriminator(p_data_fn(x), p_g), p_g


def _where_samples(p_data: np.ndarray, p_g: np.ndarray, mass: float) -> np.ndarray:
    """Points where p_data or p_g is at least ``mass`` times its own maximum: where samples land."""
    return (p_data >= mass * p_data.max()) | (p_g >= mass * p_g.max())


def d_star_gap(run: ToyRun, p_data_fn: Callable, mass: float = 0.05) -> np.ndarray:
    """Mean |D(x) - D*(x)| per snapshot of a 1-D run, over the points where p_data or p_g is at least
    ``mass`` times its own maximum (elsewhere no sample lands and D's value is unconstrained)."""
    x = run.grid["x"]
    p_data = p_data_fn(x)
    gaps = []
    for s in run.snapshots:
        dstar, p_g = d_star_1d(p_data_fn, s["samples"], x)
        where = _where_samples(p_data, p_g, mass)
        gaps.append(float(np.abs(s["field"] - dstar)[where].mean()))
    return np.array(gaps)


def plot_1d_snapshots(run: ToyRun, p_data_fn: Callable, n_panels: int = 5, title: str = "", axes=None,
                      mass: float = 0.01):
    """Small multiples over training: p_data, the generator's samples (histogram) and their KDE
    p_g, the trained D(x) and the theoretical D* = p_data / (p_data + p_g). D* is drawn only where
    p_data or p_g is at least ``mass`` times its own maximum; elsewhere (grey) no sample, real or fake,
    lands, so D's value there is never trained and D* is a ratio of two vanishing numbers."""
    import matplotlib.pyplot as plt

    x = run.grid["x"]
    idx = np.unique(np.linspace(0, len(run.snapshots) - 1, min(n_panels, len(run.snapshots))).round().astype(int))
    if axes is None:
        _, axes = plt.subplots(1, len(idx), figsize=(3.3 * len(idx), 3.6), sharey=True, squeeze=False)
        axes = axes[0]
    p_data = p_data_fn(x)
    for ax, i in zip(axes, idx):
        s = run.snapshots[i]
        dstar, p_g = d_star_1d(p_data_fn, s["samples"], x)
        ax.fill_between(x, p_data, color="C0", alpha=0.3, label=r"$p_\mathrm{data}$")
        ax.hist(s["samples"].numpy().ravel(), bins=80, range=(x[0], x[-1]), density=True,
                color="C1", alpha=0.35, label="G samples")
        ax.plot(x, p_g, color="C1", lw=1.5, label=r"$\hat p_g$ (KDE)")
        empty = ~_where_samples(p_data, p_g, mass)     # no sample lands here: D* is 0/0-ish, D is free
        ax.fill_between(x, 0, 1.05, where=empty, color="0.85", alpha=0.6, lw=0,
                        label="no samples: D unconstrained" if i == idx[0] else None)
        ax.plot(x, np.where(empty, np.nan, dstar), "k--", lw=2,
                label=r"$D^* = p_\mathrm{data}/(p_\mathrm{data}+\hat p_g)$")
        ax.plot(x, s["field"], color="C3", lw=2, label=r"trained $D(x)$")
        ax.set(title=f"step {s['step']}", xlabel="x", ylim=(0, 1.05), xlim=(x[0], x[-1]))
    axes[0].set_ylabel(r"density  /  $D(x)$")
    axes[0].legend(loc="upper left", fontsize=8)
    fig = axes[0].figure
    fig.suptitle(title or f"{run.label} on 1-D data: D(x) against the optimal D*")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- 2-D: fields, samples, modes
def plot_field(ax, run: ToyRun, snapshot: int = -1, n_show: int = 1000, show_colorbar: bool = False,
               samples=None, title: Optional[str] = None):
    """Generator samples (orange) over the D/critic field (filled contours) and the mode centres
    (black crosses) of one snapshot. BCE variants: D(x) in [0, 1], 1/2 is white; Wasserstein
    variants: the critic f(x), centred on the median of the field (only differences matter)."""
    s = run.snapshots[snapshot]
    g = run.grid
    f = s["field"]
    if run.loss.startswith("wgan"):
        f = f - np.median(f)
        v = max(float(np.abs(f).max()), 1e-8)
        levels, cmap, cb = np.linspace(-v, v, 21), "PuOr_r", "critic f(x) - median"
    else:
        levels, cmap, cb = np.linspace(0, 1, 21), "RdBu_r", "D(x)"
    cs = ax.contourf(g["xs"], g["xs"], f, levels=levels, cmap=cmap, extend="both")
    pts = (samples if samples is not None else s["samples"])[:n_show].numpy()
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c="C1", alpha=0.6, lw=0)
    if run.centers is not None:
        c = torch.as_tensor(run.centers).numpy()
        ax.scatter(c[:, 0], c[:, 1], marker="x", s=25, c="k", lw=1)
    ax.set_xlim(-g["lim"], g["lim"])
    ax.set_ylim(-g["lim"], g["lim"])
    ax.set_aspect("equal")
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    if title is None:
        title = f"{run.label}, step {s['step']}"
        if "coverage" in s:
            title += f"\n{s['coverage'].modes_covered}/{s['coverage'].n_modes} modes, {100 * s['coverage'].high_quality:.0f}% HQ"
    ax.set_title(title, fontsize=10)
    if show_colorbar:
        ax.figure.colorbar(cs, ax=ax, fraction=0.046, pad=0.04, label=cb)
    return cs


def snapshot_indices(run: ToyRun, n: int) -> list[int]:
    """``n`` snapshot indices evenly spread over the run, first and last included."""
    return list(np.unique(np.linspace(0, len(run.snapshots) - 1, min(n, len(run.snapshots))).round().astype(int)))


def plot_field_grid(runs, n_cols: int = 5, title: str = "", panel: float = 2.6):
    """Rows: variants; columns: snapshots over training (samples over the D/critic field)."""
    import matplotlib.pyplot as plt

    runs = list(runs)
    fig, axes = plt.subplots(len(runs), n_cols, figsize=(panel * n_cols, panel * len(runs) + 0.6), squeeze=False)
    for r, run in enumerate(runs):
        for c, i in enumerate(snapshot_indices(run, n_cols)):
            plot_field(axes[r, c], run, i)
            if c:
                axes[r, c].set_ylabel("")
            if r < len(runs) - 1:
                axes[r, c].set_xlabel("")
    fig.suptitle(title or "Generator samples (orange) over the discriminator / critic field", fontsize=13)
    fig.tight_layout()
    return fig


def mode_shares(run: ToyRun, high_quality_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, shares)`` with ``shares[k, t]`` the fraction of snapshot t's samples whose nearest
    mode is k (a column sums to 1): where the generator's mass is, sharp or not. With
    ``high_quality_only=True`` only the high-quality samples count (a column then sums to that
    snapshot's high-quality fraction)."""
    steps = np.array([s["step"] for s in run.snapshots])
    c = torch.as_tensor(run.centers, dtype=torch.float32)
    k = len(c)
    cols = []
    for s in run.snapshots:
        if high_quality_only:
            cols.append(np.asarray(s["coverage"].counts, dtype=np.float64) / len(s["samples"]))
        else:
            nearest = torch.cdist(s["samples"].float(), c).argmin(dim=1)
            cols.append(torch.bincount(nearest, minlength=k).double().numpy() / len(s["samples"]))
    return steps, np.stack(cols, axis=1)


def plot_mode_shares(runs, title: str = "", axes=None, high_quality_only: bool = False):
    """Mode hopping over time: one heat map per variant, modes on the y axis, training steps on the
    x axis, colour = share of the samples nearest to that mode (:func:`mode_shares`). A generator that
    hops shows a few bright rows whose position jumps over time; a good one lights every row evenly
    at about 1/K. The colour scale saturates at 3/K."""
    import matplotlib.pyplot as plt

    runs = list(runs)
    if axes is None:
        fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 3.6), squeeze=False, sharey=True)
        axes = axes[0]
    k = len(runs[0].centers)
    im = None
    for ax, run in zip(axes, runs):
        steps, shares = mode_shares(run, high_quality_only)
        half = (steps[1] - steps[0]) / 2 if len(steps) > 1 else 0.5
        im = ax.imshow(shares, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=min(1.0, 3.0 / k),
                       extent=(steps[0] - half, steps[-1] + half, -0.5, k - 0.5), interpolation="nearest")
        ax.set(title=run.label, xlabel="generator step")
        ax.grid(False)
    axes[0].set_ylabel("mode index (nearest centre)")
    fig = axes[0].figure
    fig.subplots_adjust(top=0.80, wspace=0.08)
    fig.colorbar(im, ax=list(axes), fraction=0.02, pad=0.01,
                 label=f"share of samples (1/{k} = even)")
    fig.suptitle(title or "Where the generator's samples are, mode by mode, over training")
    return fig


def coverage_table(runs, with_time: bool = True) -> str:
    """A fixed-width text table: per variant and data set, modes covered and high-quality share of
    the raw generator and of its EMA at the end, and (``with_time``) training time."""
    head = f"{'data':<7} | {'variant':<19} | {'modes (G)':>9} | {'HQ (G)':>6} | {'modes (EMA)':>11} | {'HQ (EMA)':>8}"
    if with_time:
        head += f" | {'wall s':>6} | {'CPU s':>6}"
    lines = [head, "-" * len(head)]
    for run in runs:
        f, e = run.final, run.final_ema
        line = (f"{run.data_name:<7} | {run.label:<19} | {f.modes_covered:>4}/{f.n_modes:<4} | "
                f"{100 * f.high_quality:>5.1f}% | {e.modes_covered:>6}/{e.n_modes:<4} | {100 * e.high_quality:>7.1f}%")
        if with_time:
            line += f" | {run.seconds:>6.1f} | {run.cpu_seconds:>6.1f}"
        lines.append(line)
    return "\n".join(lines)
