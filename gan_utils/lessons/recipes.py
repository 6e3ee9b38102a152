"""What makes GANs train today: the lesson helpers of notebooks/10_modern_recipes.ipynb.

Two parts:

- **The Dirac GAN** [Mescheder, Geiger, Nowozin 2018]: data is the point 0, the generator is one
  number theta (it "generates" theta), the discriminator is D(x) = psi * x. With
  f(t) = -log(1 + exp(-t)) the game is  min_theta max_psi  L(theta, psi) = f(psi * theta) + f(0),
  and gradient play moves (theta, psi) along the field v = (-dL/dtheta, +dL/dpsi). :func:`dirac_field`
  computes v with autograd for the plain GAN, WGAN-GP, consensus optimisation [Mescheder, Nowozin,
  Geiger 2017] and R1; :func:`dirac_jacobian` its Jacobian at the equilibrium (0, 0), compared
  with the closed forms of :func:`dirac_eigenvalues`; :func:`dirac_update_jacobian` the Jacobian of
  one discrete step (simultaneous or alternating gradient steps), whose spectral radius says
  whether the iterates spiral in (< 1), circle (= 1) or out (> 1); :func:`dirac_trajectory` runs them.
  (:func:`gan_utils.lessons.debug_lab.dirac_gan` is notebook 05's Adam version of the same game.)
- **The recipe comparison** on Fashion-MNIST: :data:`ARMS` (bce-ns, hinge + SN, bce-ns + R1, LSGAN, and
  the control bce-ns without BatchNorm)
  and :data:`LIMITED_ARMS` (1 000 images, with and without DiffAugment), trained by :class:`ArmRun`
  with the library's own :func:`~gan_utils.train.d_step` / :func:`~gan_utils.train.g_step`, several
  arms taking turns in chunks (:func:`run_round_robin`) so that a machine that slows down slows all of
  them alike; every chunk's wall-clock and CPU time is logged and the EMA generator is kept at every
  chunk boundary, so the comparison can be made at equal steps and at equal wall-clock time.
  :func:`compare` runs a whole experiment (seeds x arms) and returns the JSON-able record that
  scripts/record_recipes.py writes to docs/recipes_record.json and the notebook's default mode loads.
"""
from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .records import (P_SUGGESTIVE, P_SUPPORTED, docs_path, fmt_p, fmt_stat, load_json_record,  # noqa: F401
                      sentence_markers, stats, versus_sentence, welch_t_test)

# ============================================================================ the Dirac GAN
DIRAC_METHODS = ("gan", "wgan-gp", "consensus", "r1")
DIRAC_LABELS = {"gan": "plain GAN", "wgan-gp": "WGAN-GP", "consensus": "consensus optimisation", "r1": "GAN + R1"}
#: f'(0) for f(t) = -log(1 + exp(-t)): the slope of the game at the equilibrium, sigmoid(0)
F_PRIME_0 = 0.5


def _f(t: torch.Tensor) -> torch.Tensor:
    return -F.softplus(-t)                        # f(t) = -log(1 + e^{-t}) = log sigmoid(t)


def _objectives(theta: torch.Tensor, psi: torch.Tensor, method: str, gamma: float, gp_target: float):
    """(loss G minimises, objective D maximises) of the Dirac GAN for ``method`` (without consensus)."""
    if method == "wgan-gp":
        # WGAN: f(t) = t; the critic's gradient w.r.t. x is psi everywhere, so the penalty is (|psi| - g0)^2
        value = psi * theta
        return value, value - gamma / 2 * (psi.abs() - gp_target) ** 2
    value = _f(psi * theta) + _f(torch.zeros_like(psi))   # L = f(psi theta) + f(psi * 0): data at 0
    if method == "r1":
        return value, value - gamma / 2 * psi ** 2          # grad_x D(x) = psi at the data point: R1 = psi^2
    return value, value


def _v(th: torch.Tensor, ps: torch.Tensor, method: str, gamma: float, gp_target: float):
    """The field at scalar (theta, psi), by torch.func: *partial* derivatives of each player's own
    objective (holding the other player fixed), composable with jacrev for Jacobians."""
    base = "gan" if method == "consensus" else method

    def v_th(t, p):                                        # G descends its loss
        return -torch.func.grad(lambda t_: _objectives(t_, p, base, gamma, gp_target)[0])(t)

    def v_ps(t, p):                                        # D ascends its objective
        return torch.func.grad(lambda p_: _objectives(t, p_, base, gamma, gp_target)[1])(p)

    if method != "consensus":
        return v_th(th, ps), v_ps(th, ps)

    def half_norm2(t, p):                                  # 1/2 |v|^2, which both players also descend
        return 0.5 * (v_th(t, p) ** 2 + v_ps(t, p) ** 2)

    g_th, g_ps = torch.func.grad(half_norm2, argnums=(0, 1))(th, ps)
    return v_th(th, ps) - gamma * g_th, v_ps(th, ps) - gamma * g_ps


def dirac_field(theta, psi, method: str = "gan", gamma: float = 1.0, gp_target: float = 1.0):
    """The gradient-play field ``(v_theta, v_psi)`` of the Dirac GAN at ``(theta, psi)`` (numbers or
    arrays of the same shape), by autograd: G descends its loss, D ascends its objective.

    ``method``: "gan" (v = (-psi f'(psi theta), theta f'(psi theta))), "r1" (D's objective minus
    gamma/2 psi^2), "wgan-gp" (linear f, penalty gamma/2 (|psi| - gp_target)^2, as in the authors'
    notebook), "consensus" (the GAN field minus gamma * grad(1/2 |v|^2), both players [Mescheder,
    Nowozin, Geiger 2017]). Returns float64 numpy arrays of the input's shape."""
    if method not in DIRAC_METHODS:
        raise ValueError(f"method={method!r}; use one of {DIRAC_METHODS}")
    th = torch.as_tensor(np.asarray(theta, dtype=np.float64))
    ps = torch.as_tensor(np.asarray(psi, dtype=np.float64))
    shape = torch.broadcast_shapes(th.shape, ps.shape)
    th, ps = th.expand(shape).reshape(-1), ps.expand(shape).reshape(-1)
    vt, vp = torch.func.vmap(lambda t, p: torch.stack(_v(t, p, method, gamma, gp_target)))(th, ps).unbind(1)
    return vt.reshape(shape).numpy(), vp.reshape(shape).numpy()


def dirac_jacobian(method: str = "gan", at=(0.0, 0.0), gamma: float = 1.0, gp_target: float = 1.0) -> np.ndarray:
    """The 2x2 Jacobian of :func:`dirac_field` at ``at`` = (theta, psi), by autograd (float64)."""
    w0 = torch.tensor(at, dtype=torch.float64)
    return torch.func.jacrev(lambda w: torch.stack(_v(w[0], w[1], method, gamma, gp_target)))(w0).numpy()


def dirac_eigenvalues(method: str = "gan", gamma: float = 1.0) -> np.ndarray:
    """Closed-form eigenvalues of the Jacobian at (0, 0), with a = f'(0) = 1/2:

        gan:        J = [[0, -a], [a, 0]]                -> +-i a            (on the imaginary axis)
        r1:         J = [[0, -a], [a, -gamma]]           -> -gamma/2 +- sqrt(gamma^2/4 - a^2)
        consensus:  J - gamma J^T J = J - gamma a^2 I     -> -gamma a^2 +- i a

    (WGAN-GP has none: its field is not differentiable at psi = 0.)"""
    a = F_PRIME_0
    if method == "gan":
        return np.array([1j * a, -1j * a])
    if method == "r1":
        root = np.sqrt(complex(gamma ** 2 / 4 - a ** 2))
        return np.array([-gamma / 2 + root, -gamma / 2 - root])
    if method == "consensus":
        return np.array([-gamma * a ** 2 + 1j * a, -gamma * a ** 2 - 1j * a])
    raise ValueError(f"no closed form for method={method!r} (WGAN-GP's field has a kink at the equilibrium)")


def _step(w: torch.Tensor, method, h, scheme, gamma, gp_target) -> torch.Tensor:
    th, ps = w[0], w[1]
    if scheme == "sim":                                     # both players move from the same point
        v_th, v_ps = _v(th, ps, method, gamma, gp_target)
        return torch.stack((th + h * v_th, ps + h * v_ps))
    if scheme == "alt-d":                                   # alternating, D first (as gan_utils.train does) ...
        ps2 = ps + h * _v(th, ps, method, gamma, gp_target)[1]
        return torch.stack((th + h * _v(th, ps2, method, gamma, gp_target)[0], ps2))   # ... then G answers the new D
    th2 = th + h * _v(th, ps, method, gamma, gp_target)[0]  # alternating: G moves first ...
    return torch.stack((th2, ps + h * _v(th2, ps, method, gamma, gp_target)[1]))   # ... then D answers the new G


#: step schemes: simultaneous, alternating with G first, alternating with D first (gan_utils.train's order)
SCHEMES = ("sim", "alt", "alt-d")


def dirac_update_jacobian(method: str = "gan", h: float = 0.1, scheme: str = "alt", gamma: float = 1.0,
                          gp_target: float = 1.0, at=(0.0, 0.0)) -> np.ndarray:
    """Jacobian of one gradient step w -> w + h v (``scheme`` "sim": simultaneous; "alt": G, then D
    on the new G; "alt-d": D, then G on the new D, the order of :func:`gan_utils.train.train`) at ``at``.
    Its spectral radius is the factor by which the distance to the equilibrium shrinks (< 1) or grows
    (> 1) per step near it. The two alternating orders compose the same two half-steps in swapped
    order, so their Jacobians are AB and BA: the same eigenvalues, the same radius."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r}; use one of {SCHEMES}")
    w0 = torch.tensor(at, dtype=torch.float64)
    return torch.func.jacrev(lambda w: _step(w, method, h, scheme, gamma, gp_target))(w0).numpy()


def spectral_radius(m: np.ndarray) -> float:
    return float(np.abs(np.linalg.eigvals(m)).max())


def _sig(t):
    return 1.0 / (1.0 + np.exp(-t))


def dirac_field_np(theta, psi, method: str = "gan", gamma: float = 1.0, gp_target: float = 1.0):
    """:func:`dirac_field` in closed form with numpy (fast, for trajectories and arrow plots); the
    notebook checks it against the autograd version. With f'(t) = sigmoid(-t), f''(t) = -f'(t) f'(-t):

        gan        v = (-psi f'(psi theta), theta f'(psi theta));  r1: v_psi - gamma psi
        wgan-gp    v = (-psi, theta - gamma (|psi| - g0) sign(psi))
        consensus  v - gamma J(theta, psi)^T v, J the Jacobian of the gan field (grad of 1/2 |v|^2 = J^T v)
    """
    th, ps = np.asarray(theta, dtype=np.float64), np.asarray(psi, dtype=np.float64)
    if method == "wgan-gp":
        return -ps + 0 * th, th - gamma * (np.abs(ps) - gp_target) * np.sign(ps)
    t = ps * th
    f1 = _sig(-t)                                   # f'(t)
    vt, vp = -ps * f1, th * f1
    if method == "r1":
        return vt, vp - gamma * ps
    if method == "consensus":
        f2 = -f1 * _sig(t)                          # f''(t)
        j11, j12 = -ps * ps * f2, -(f1 + t * f2)    # d v_theta / d(theta, psi)
        j21, j22 = f1 + t * f2, th * th * f2        # d v_psi / d(theta, psi)
        return vt - gamma * (j11 * vt + j21 * vp), vp - gamma * (j12 * vt + j22 * vp)
    if method != "gan":
        raise ValueError(f"method={method!r}; use one of {DIRAC_METHODS}")
    return vt, vp


def dirac_trajectory(method: str = "gan", steps: int = 500, h: float = 0.1, scheme: str = "alt",
                     start=(1.0, 1.0), gamma: float = 1.0, gp_target: float = 1.0) -> np.ndarray:
    """``steps`` gradient steps from ``start`` (simultaneous, ``scheme="sim"``, or alternating: G
    first, then D on the new G, "alt"; D first, then G on the new D, "alt-d"): an array
    ``(steps + 1, 2)`` of (theta, psi)."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r}; use one of {SCHEMES}")
    th, ps = float(start[0]), float(start[1])
    out = [(th, ps)]
    for _ in range(steps):
        vt, vp = dirac_field_np(th, ps, method, gamma, gp_target)
        if scheme == "sim":
            th, ps = th + h * float(vt), ps + h * float(vp)
        elif scheme == "alt-d":
            ps = ps + h * float(vp)
            th = th + h * float(dirac_field_np(th, ps, method, gamma, gp_target)[0])
        else:
            th = th + h * float(vt)
            ps = ps + h * float(dirac_field_np(th, ps, method, gamma, gp_target)[1])
        out.append((th, ps))
    return np.array(out)


def contraction_rate(traj: np.ndarray, first: int, last: Optional[int] = None) -> float:
    """The measured factor per step by which the distance to (0, 0) shrinks between steps ``first``
    and ``last``: exp of the least-squares slope of log(distance) (a fit over the window, so the
    wobble of a spiral within one turn averages out)."""
    r = np.hypot(traj[:, 0], traj[:, 1])
    last = len(r) - 1 if last is None else last
    t = np.arange(first, last + 1)
    return float(np.exp(np.polyfit(t, np.log(r[first:last + 1]), 1)[0]))


def plot_dirac_panels(methods=DIRAC_METHODS, gammas=None, steps: int = 300, h: float = 0.1, scheme: str = "alt",
                      start=(1.0, 1.0), lim: float = 2.0, n_arrows: int = 17, axes=None):
    """One panel per method: the field as arrows and the trajectory from ``start``; returns the figure
    and the trajectories."""
    import matplotlib.pyplot as plt

    gammas = gammas or {}
    if axes is None:
        fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 4.3))
    else:
        fig = axes[0].figure
    grid = np.linspace(-lim, lim, n_arrows)
    T, P = np.meshgrid(grid, grid)
    trajs = {}
    for ax, m in zip(np.atleast_1d(axes), methods):
        g = gammas.get(m, 1.0)
        vt, vp = dirac_field_np(T, P, m, gamma=g)
        speed = np.hypot(vt, vp) + 1e-12
        ax.quiver(T, P, vt / speed, vp / speed, speed, cmap="Greys", alpha=0.6, pivot="mid", scale=28)
        tr = dirac_trajectory(m, steps=steps, h=h, scheme=scheme, start=start, gamma=g)
        trajs[m] = tr
        ax.plot(tr[:, 0], tr[:, 1], "C3-", lw=1.4, label=f"{steps} steps from {start}")
        ax.plot(*start, "C3o", ms=5)
        ax.plot(0, 0, "k*", ms=12, label="equilibrium")
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="theta (generator)", ylabel="psi (discriminator)",
               title=DIRAC_LABELS[m] + ("" if m == "gan" else f" (gamma = {g:g})"))
        ax.set_aspect("equal")
        ax.legend(fontsize=8, loc="lower left")
    return fig, trajs


# ============================================================================ the recipe comparison
@dataclass(frozen=True)
class Arm:
    """One recipe: the loss preset, D's normalisation and TrainConfig overrides."""
    name: str
    loss: str
    norm: str
    overrides: dict = field(default_factory=dict)
    source: str = ""                 # where its hyper-parameters come from

    def config(self, **common):
        from ..train import TrainConfig

        return TrainConfig.preset(self.loss, **{**common, **self.overrides})


#: R1 strength and laziness of the "bce-ns+R1" arm: gamma is the best of PILOT_GAMMAS = {0.1, 1, 10} in a one-seed
#: pilot of 400 steps with the same FD protocol (the record's "pilot"; run_experiments gives the R1 arm the pilot's
#: best, tests/test_recipes_record.py keeps this constant equal to it). It is the smallest of the three, so an even
#: smaller gamma might do better still; every 16 D steps as StyleGAN2 [Karras2020]
R1_GAMMA, R1_EVERY = 0.1, 16

#: The recipes of notebook 10, section 3: the same DCGAN generator, batch, optimiser (Adam 2e-4, betas
#: (0.5, 0.999), one D step per G step) and EMA generator for all; only the loss and D's normalisation
#: change. "bce-ns" is DCGAN as published (BatchNorm in D); R1 and LSGAN are compared with the same loss
#: or D *without* BatchNorm ("bce-ns-plain"), because R1 rules BatchNorm out (it is a per-sample penalty).
ARMS = {
    "bce-ns": Arm("bce-ns", "bce-ns", "batch", {}, "DCGAN [Radford2016]: BatchNorm D, Adam 2e-4, betas (0.5, 0.999)"),
    "bce-ns-plain": Arm("bce-ns-plain", "bce-ns", "none", {}, "the same without BatchNorm in D: the control of R1 and LSGAN"),
    "hinge+SN": Arm("hinge+SN", "hinge", "spectral", {},
                    "[Miyato2018] eqs. 16-17, spectral norm in every D layer; Adam setting C of their Table 1"),
    "bce-ns+R1": Arm("bce-ns+R1", "bce-ns", "none", {"r1_gamma": R1_GAMMA, "r1_every": R1_EVERY},
                     "R1 [Mescheder2018] on the plain D, lazy every 16 D steps [Karras2020]"),
    "lsgan": Arm("lsgan", "lsgan", "none", {}, "[Mao2017] with labels a = 0, b = c = 1, on the plain D"),
}

#: Short labels for figures and tables
LABELS = {"bce-ns": "bce-ns (DCGAN, BatchNorm D)", "bce-ns-plain": "bce-ns, plain D", "hinge+SN": "hinge + SN",
          "bce-ns+R1": "bce-ns + R1, plain D", "lsgan": "LSGAN, plain D",
          "bce-ns+DiffAugment": "bce-ns + DiffAugment"}

#: Limited data: the DCGAN baseline on 1 000 images, without and with DiffAugment [Zhao2020]
LIMITED_ARMS = {
    "bce-ns": ARMS["bce-ns"],
    "bce-ns+DiffAugment": Arm("bce-ns+DiffAugment", "bce-ns", "batch", {"augment": "color,translation,cutout"},
                              "the baseline with DiffAugment's policy for small data, color,translation,cutout [Zhao2020]"),
}


class ArmRun:
    """One arm, one seed: G, D, their optimisers, the EMA generator and a loader, trained by
    :meth:`train` in chunks with :func:`gan_utils.train.d_step` and :func:`gan_utils.train.g_step`
    (one D step per G step, the G step reusing the D step's fake batch, as :func:`train` does).

    Each run keeps its own random state (torch's global stream is swapped in and out around every
    chunk), so its result does not depend on how the arms are interleaved. ``seconds`` /
    ``cpu_seconds`` add up the wall-clock / process CPU time of the training steps only;
    ``snapshots`` holds ``(step, seconds, cpu_seconds, EMA generator state_dict)`` at every chunk
    boundary when ``keep_snapshots``."""

    def __init__(self, arm: Arm, data, *, width: int = 16, batch_size: int = 64, seed: int = 0,
                 latent_dim: int = 100, ema_decay: float = 0.999, device="cpu", keep_snapshots: bool = True):
        from ..data import InMemoryLoader
        from ..models import DCGANDiscriminator, DCGANGenerator
        from ..train import EMA, check_setup, make_optimizers

        self.arm, self.seed, self.device = arm, seed, torch.device(device)
        self.cfg = arm.config(batch_size=batch_size, latent_dim=latent_dim, ema_decay=ema_decay, seed=seed,
                              grad_norms=False, fast=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)                  # the same initial G for every arm of a seed
            self.G = DCGANGenerator(latent_dim, data.images.shape[1], data.images.shape[-1], width).to(self.device)
            torch.manual_seed(seed + 10_000)
            self.D = DCGANDiscriminator(data.images.shape[1], data.images.shape[-1], width, norm=arm.norm).to(self.device)
            torch.manual_seed(seed + 20_000)
            self.rng = self._get_rng()               # this run's own random stream (z, augmentations)
        self.opt_g, self.opt_d = make_optimizers(self.G, self.D, self.cfg, self.device)
        self.ema = EMA(self.G, self.cfg.ema_decay)
        self.loader = InMemoryLoader(data, batch_size, device=self.device, seed=seed)
        self._batches = iter(self.loader)
        first = next(self._batches)
        check_setup(self.G, self.D, first, self.cfg)
        self._pending = first
        self.step = 0
        self.seconds = self.cpu_seconds = 0.0
        self.keep_snapshots = keep_snapshots
        self.snapshots: list = []
        self.history = {"step": [], "loss_D": [], "loss_G": [], "D_x": [], "D_G_z": []}
        self._snapshot()

    @property
    def name(self) -> str:
        return self.arm.name

    def _get_rng(self):
        cuda = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        return torch.get_rng_state(), cuda

    def _set_rng(self, state) -> None:
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1], self.device)

    def _snapshot(self) -> None:
        if self.keep_snapshots:
            state = {k: v.detach().clone() for k, v in self.ema.model.state_dict().items()}
            self.snapshots.append((self.step, self.seconds, self.cpu_seconds, state))

    def _next_real(self) -> torch.Tensor:
        if self._pending is not None:
            real, self._pending = self._pending, None
            return real
        return next(self._batches)

    def train(self, n: int) -> None:
        """``n`` more generator steps (timed), then a snapshot of the EMA generator."""
        from ..train import NonFiniteLossError, d_step, g_step

        saved = self._get_rng()
        self._set_rng(self.rng)
        losses = []
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            for _ in range(n):
                real = self._next_real()
                z = torch.randn(real.shape[0], self.cfg.latent_dim, device=self.device)
                fake = self.G(z)
                d_out = d_step(self.D, real, fake, self.opt_d, self.cfg, d_iter=self.step)
                g_out = g_step(self.D, fake, self.opt_g, self.cfg, self.G)
                self.ema.update(self.G)
                self.step += 1
                losses.append(torch.stack([d_out["loss_D"], g_out["loss_G"], d_out["D_x"], d_out["D_G_z"]]))
        finally:
            self.seconds += time.perf_counter() - t0
            self.cpu_seconds += time.process_time() - c0
            self.rng = self._get_rng()
            self._set_rng(saved)
        vals = torch.stack(losses).cpu().numpy() if losses else np.zeros((0, 4))
        if not np.all(np.isfinite(vals)):
            raise NonFiniteLossError(f"{self.name} (seed {self.seed}): a loss became NaN/inf before step {self.step}")
        for k, col in zip(("loss_D", "loss_G", "D_x", "D_G_z"), vals.T):
            self.history[k].extend(col.tolist())
        self.history["step"].extend(range(self.step - len(vals) + 1, self.step + 1))
        self._snapshot()

    def generator_at(self, step: int) -> nn.Module:
        """The EMA generator as it was at snapshot ``step`` (a copy)."""
        for s, _, _, state in self.snapshots:
            if s == step:
                G = copy.deepcopy(self.ema.model)
                G.load_state_dict(state)
                return G.eval()
        raise KeyError(f"no snapshot at step {step}; snapshots at {[s[0] for s in self.snapshots]}")

    def snapshot_within(self, seconds: float, clock: str = "wall") -> tuple:
        """The last snapshot whose training time (``clock`` "wall" or "cpu") is at most ``seconds``:
        ``(step, wall seconds, cpu seconds)``."""
        i = 1 if clock == "wall" else 2
        ok = [s for s in self.snapshots if s[i] <= seconds + 1e-9]
        s = ok[-1] if ok else self.snapshots[0]
        return s[0], s[1], s[2]


class train_mode_unchanged:
    """``with train_mode_unchanged(model):`` the model in train mode (BatchNorm on batch statistics,
    spectral norm's power iteration running) and without gradients, and afterwards every buffer
    (running statistics, power-iteration vectors) exactly as before: looking does not change training."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.was = self.model.training
        self.saved = {k: v.clone() for k, v in self.model.named_buffers()}
        self.no_grad = torch.no_grad()
        self.no_grad.__enter__()
        self.model.train()
        return self.model

    def __exit__(self, *exc):
        for k, v in self.model.named_buffers():
            v.copy_(self.saved[k])
        self.model.train(self.was)
        self.no_grad.__exit__(*exc)


def d_outputs(D: nn.Module, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """D's raw outputs (logits / scores) on ``images`` (uint8 or float in [-1, 1]), in batches of
    ``batch_size``, as D computes them in training (train mode, :class:`train_mode_unchanged`). Used
    to watch D overfit: its outputs on the training images against held-out real images (notebook 10,
    section 4). A last batch smaller than ``batch_size`` is dropped (BatchNorm statistics of a few
    images would not be those of training)."""
    device = next(D.parameters()).device
    n = max(batch_size, images.shape[0] - images.shape[0] % batch_size)
    out = []
    with train_mode_unchanged(D):
        for i in range(0, min(n, images.shape[0]), batch_size):
            x = images[i:i + batch_size].to(device)
            out.append(D(x.float() / 127.5 - 1 if x.dtype == torch.uint8 else x).float().cpu())
    return torch.cat(out).numpy()


#: how an EMA generator's BatchNorm statistics are treated before it is scored or drawn (in the record)
EMA_BATCHNORM = "recomputed from 20 x 256 of its own samples (gan_utils.models.recompute_batchnorm_stats)"


def scored(G: nn.Module) -> nn.Module:
    """The EMA generator as the comparison scores and draws it: a copy whose BatchNorm statistics are
    re-estimated from its own samples (the EMA copies them from the raw G, notebook 04), in eval mode."""
    from ..models import recompute_batchnorm_stats

    return recompute_batchnorm_stats(G)


def fd_classifier(G: nn.Module, n: int, seed: int, n_real: Optional[int] = None) -> float:
    """FD-classifier of the EMA generator ``G`` (:func:`scored` first; ``n`` samples, noise seeded by
    ``seed``) against the Fashion-MNIST test split: notebook 06's offline Fréchet distance. The small-n
    bias warning is silenced here: every number of the comparison uses the same n, so they compare with
    each other (not with other n)."""
    from ..metrics import fid

    G = scored(G)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*biased upwards.*")
        return float(fid(G, "fashion-mnist", split="test", n=n, n_real=n_real, features="classifier", seed=seed))


def run_round_robin(runs: list, steps: int, chunk: int, progress: bool = True, desc: str = "") -> None:
    """Train every run in ``runs`` to ``steps`` generator steps, taking turns ``chunk`` steps at a time."""
    from tqdm.auto import tqdm

    total = sum(max(0, steps - r.step) for r in runs)
    with tqdm(total=total, desc=desc or "round robin", disable=not progress, unit="step") as bar:
        while any(r.step < steps for r in runs):
            for r in runs:
                if r.step < steps:
                    n = min(chunk, steps - r.step)
                    r.train(n)
                    bar.update(n)


def extend_to_time(runs: list, baseline: "ArmRun", chunk: int, clock: str = "wall", progress: bool = True,
                   max_steps: Optional[int] = None) -> float:
    """Equal wall-clock budget: the budget is ``baseline``'s training time so far; every other run
    that used less keeps training (round robin, ``chunk`` steps at a time) until it has used it
    (or reached ``max_steps``). Returns the budget in seconds."""
    from tqdm.auto import tqdm

    attr = "seconds" if clock == "wall" else "cpu_seconds"
    budget = getattr(baseline, attr)
    todo = [r for r in runs if r is not baseline]
    with tqdm(desc="equal time", disable=not progress, unit="chunk") as bar:
        while True:
            active = [r for r in todo if getattr(r, attr) < budget and (max_steps is None or r.step < max_steps)]
            if not active:
                break
            for r in active:
                r.train(chunk)
                bar.update(1)
    return budget


def grid_u8(G: nn.Module, n: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` samples of ``G`` as uint8 ``(n, H, W)`` (grey images), for the record's sample grids."""
    from ..models import sample

    x = sample(G, n, seed=seed)
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0].numpy()


def encode_u8(a: np.ndarray) -> dict:
    """A uint8 array as ``{"shape", "base64"}`` (compact in JSON); :func:`decode_u8` reverses it."""
    import base64

    a = np.ascontiguousarray(a, dtype=np.uint8)
    return {"shape": list(a.shape), "base64": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_u8(d: dict) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(d["base64"]), dtype=np.uint8).reshape(d["shape"])


def compare(arms: dict, data, *, seeds=(0, 1, 2), steps: int = 1500, chunk: int = 50, eval_every: int = 250,
            width: int = 16, batch_size: int = 64, fd_n: int = 2000, fd_seed: int = 12345,
            equal_time: bool = True, probe=None, probe_every: Optional[int] = None, n_grid: int = 32,
            device="cpu", progress: bool = True, log: Callable = print) -> dict:
    """Train every arm of ``arms`` for every seed on ``data`` and measure them; returns the record.

    Per seed the arms take turns in chunks of ``chunk`` steps up to ``steps`` (equal steps); with
    ``equal_time`` the arms faster than the first arm (the baseline) then keep training until they
    have used its training time, and the arms slower than it are scored at their last chunk boundary
    within it (equal wall-clock). FD-classifier (``fd_n`` samples of the EMA generator, its BatchNorm
    statistics recomputed (:func:`scored`), against the Fashion-MNIST test split) every ``eval_every`` steps and at the end. ``probe``: ``(train_images,
    heldout_images)`` uint8 tensors on which D's mean output is recorded every ``probe_every``
    steps (the limited-data experiment). Returns a dict of plain lists and numbers (JSON)."""
    names = list(arms)
    out = {"arms": {n: {"loss": a.loss, "norm": a.norm, "overrides": a.overrides, "source": a.source}
                    for n, a in arms.items()},
           "seeds": list(seeds), "steps": steps, "chunk": chunk, "eval_every": eval_every, "width": width,
           "batch_size": batch_size, "fd_n": fd_n, "fd_seed": fd_seed, "ema_batchnorm": EMA_BATCHNORM,
           "n_train_images": int(len(data)),
           "runs": {n: [] for n in names}}
    probe_every = probe_every or eval_every
    for seed in seeds:
        runs = [ArmRun(arms[n], data, width=width, batch_size=batch_size, seed=seed, device=device) for n in names]
        curves = {r.name: {"step": [], "fd": [], "seconds": []} for r in runs}
        probes = {r.name: {"step": [], "train": [], "heldout": [], "fake": []} for r in runs}
        t_seed = time.perf_counter()
        s = 0
        while s < steps:
            nxt = min(steps, (s // eval_every + 1) * eval_every)
            if probe is not None:
                nxt = min(nxt, (s // probe_every + 1) * probe_every)
            run_round_robin(runs, nxt, chunk, progress=progress, desc=f"seed {seed}: steps {s}-{nxt}")
            s = nxt
            for r in runs:
                if s % eval_every == 0 or s == steps:
                    curves[r.name]["step"].append(s)
                    curves[r.name]["seconds"].append(r.seconds)
                    curves[r.name]["fd"].append(fd_classifier(r.ema.model, fd_n, fd_seed))
                if probe is not None and (s % probe_every == 0 or s == steps):
                    tr, ho = probe
                    with train_mode_unchanged(r.G):     # fakes as D sees them in training, G's buffers untouched
                        fake = r.G(torch.randn(len(tr), r.cfg.latent_dim,
                                               generator=torch.Generator().manual_seed(seed)).to(r.device))
                    probes[r.name]["step"].append(s)
                    probes[r.name]["train"].append(float(d_outputs(r.D, tr).mean()))
                    probes[r.name]["heldout"].append(float(d_outputs(r.D, ho).mean()))
                    probes[r.name]["fake"].append(float(d_outputs(r.D, fake.detach()).mean()))
            if progress:
                log(f"seed {seed} step {s}: " + ", ".join(f"{r.name} FD {curves[r.name]['fd'][-1]:.2f}"
                                                          for r in runs if curves[r.name]["step"] and
                                                          curves[r.name]["step"][-1] == s))
        at_steps = {r.name: dict(step=r.step, seconds=r.seconds, cpu_seconds=r.cpu_seconds,
                                 fd=curves[r.name]["fd"][-1]) for r in runs}
        eq = {}
        if equal_time and len(runs) > 1:
            budget = extend_to_time(runs, runs[0], chunk, progress=progress, max_steps=3 * steps)
            for r in runs:
                st, sec, cpu = r.snapshot_within(budget)
                G = r.generator_at(st)
                eq[r.name] = dict(step=st, seconds=sec, cpu_seconds=cpu, budget=budget,
                                  fd=at_steps[r.name]["fd"] if st == steps else fd_classifier(G, fd_n, fd_seed))
        for r in runs:
            rec = {"seed": seed, "at_steps": at_steps[r.name], "curve": curves[r.name],
                   "seconds_per_step": r.snapshots[-1][1] / max(1, r.snapshots[-1][0]),
                   "samples_u8": encode_u8(grid_u8(scored(r.generator_at(steps)), n_grid, seed=fd_seed)) if seed == seeds[0] and n_grid else None,
                   "history_every_10": {k: v[::10] for k, v in r.history.items()}}
            if eq:
                rec["equal_time"] = eq[r.name]
            if probe is not None:
                rec["probe"] = probes[r.name]
            out["runs"][r.name].append(rec)
        log(f"seed {seed} done in {time.perf_counter() - t_seed:.0f} s")
    out["summary"] = summarise(out)
    return out


def summarise(record: dict) -> dict:
    """Mean +- std over seeds of the final FD at equal steps (and at equal time, when recorded)."""
    summ = {}
    for name, runs in record["runs"].items():
        s = {"fd_at_steps": stats([r["at_steps"]["fd"] for r in runs]),
             "seconds_at_steps": stats([r["at_steps"]["seconds"] for r in runs])}
        if runs and "equal_time" in runs[0]:
            s["fd_equal_time"] = stats([r["equal_time"]["fd"] for r in runs])
            s["steps_equal_time"] = stats([r["equal_time"]["step"] for r in runs])
        if runs and "probe" in runs[0]:
            gaps = [r["probe"]["train"][-1] - r["probe"]["heldout"][-1] for r in runs]
            s["d_gap_train_minus_heldout"] = stats(gaps)
        summ[name] = s
    return summ


# ============================================================================ the recorded comparison
RECORD_NAME = "recipes_record.json"


def record_path() -> Path:
    """docs/recipes_record.json of this repository (the record scripts/record_recipes.py writes)."""
    return docs_path(RECORD_NAME)


def load_record(path=None, repo: Optional[str] = None, ref: str = "main") -> dict:
    """The recorded comparison: ``path``, else docs/recipes_record.json of this repository, else (an
    installed package without the repository, e.g. on Colab) the same file downloaded from GitHub
    ``repo`` at ``ref``. One clear error if none can be had."""
    return load_json_record(RECORD_NAME, path, repo, ref, how_to_make=(
        "Run python scripts/record_recipes.py from a clone of the course (hours on a CPU), or set RERUN_RECORD = "
        "True in the notebook's parameters cell."))


def plot_fd_summary(record: dict, title: str = "", ax=None):
    """Final FD-classifier per arm and seed (dots) with mean +- std (bars), at equal steps and, when
    recorded, at equal wall-clock time."""
    import matplotlib.pyplot as plt

    summ = record["summary"]
    names = list(summ)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 1.9 * len(names)), 4.2))
    kinds = [("fd_at_steps", f"equal steps ({record['steps']})", "C0")]
    if "fd_equal_time" in summ[names[0]]:
        kinds.append(("fd_equal_time", "equal wall-clock time (that of the first arm)", "C1"))
    width = 0.8 / len(kinds)
    for k, (key, label, color) in enumerate(kinds):
        xs = np.arange(len(names)) + (k - (len(kinds) - 1) / 2) * width
        means = [summ[n][key]["mean"] for n in names]
        stds = [summ[n][key]["std"] for n in names]
        ax.bar(xs, means, width * 0.9, yerr=stds, capsize=4, color=color, alpha=0.45, label=f"{label}: mean ± std")
        for x, n in zip(xs, names):
            vals = summ[n][key]["values"]
            ax.plot([x] * len(vals), vals, "k.", ms=6)
    ax.set_xticks(np.arange(len(names)), [LABELS.get(n, n) for n in names], rotation=12, fontsize=9)
    ax.set(ylabel=f"FD-classifier ({record['fd_n']} samples; lower is better)",
           title=title or f"{len(record['seeds'])} seeds per recipe (dots), mean ± std (bars)")
    ax.legend(fontsize=8)
    return ax


def plot_fd_curves(record: dict, x: str = "step", ax=None, title: str = ""):
    """FD-classifier over training for every arm (mean over seeds, band = min..max), against generator
    steps (``x="step"``) or training seconds (``x="seconds"``)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for i, (name, runs) in enumerate(record["runs"].items()):
        xs = np.mean([r["curve"][x] for r in runs], axis=0)
        fds = np.array([r["curve"]["fd"] for r in runs])
        ax.plot(xs, fds.mean(0), "-o", color=f"C{i}", ms=3, label=LABELS.get(name, name))
        ax.fill_between(xs, fds.min(0), fds.max(0), color=f"C{i}", alpha=0.15)
    ax.set(xlabel="generator steps" if x == "step" else "training time, seconds (mean over seeds)",
           ylabel="FD-classifier (lower is better)", yscale="log",
           title=title or ("FD over training: mean of the seeds, band min..max"))
    ax.legend(fontsize=8)
    return ax


# ============================================================================ the whole experiment
#: R1 strengths of the pilot that chose :data:`R1_GAMMA` (one seed)
PILOT_GAMMAS = (0.1, 1.0, 10.0)
#: sizes of a full record (scripts/record_recipes.py) and of a smoke run (CI: seconds)
#: (sized so that a record takes about an hour at one thread on a shared 2-core CPU)
FULL_SIZES = dict(seeds=(0, 1, 2), steps=1200, limited_steps=1500, pilot_steps=400, width=16, batch_size=64,
                  eval_every=150, fd_n=2000, chunk=50)
SMOKE_SIZES = dict(seeds=(0,), steps=4, limited_steps=4, pilot_steps=2, width=8, batch_size=32, eval_every=4,
                   fd_n=128, chunk=2)


def limited_data(data, n: int = 1000, heldout_from=None):
    """Section 4's data: ``n`` training images drawn without replacement (permutation seed 0) as an
    ImageDataset, and ``n`` held-out real images (uint8) from ``heldout_from`` (default: the
    Fashion-MNIST test split at the same size; permutation seed 1)."""
    from ..data import ImageDataset, load_dataset

    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:n]
    small = ImageDataset(data.images[idx], data.labels[idx], f"{data.name}[{n} images]")
    test = heldout_from if heldout_from is not None else load_dataset("fashion-mnist", train=False,
                                                                    image_size=data.images.shape[-1])
    heldout = test.images[torch.randperm(len(test), generator=torch.Generator().manual_seed(1))[:n]]
    return small, heldout


def run_experiments(data=None, sizes: Optional[dict] = None, only: Optional[str] = None, record: Optional[dict] = None,
                    n_limited: int = 1000, device="cpu", progress: bool = True) -> dict:
    """The pilot, the full-data comparison and the limited-data experiment of notebook 10 (all three,
    or ``only`` one of "pilot", "full", "limited", updating ``record``), at ``sizes`` (default
    :data:`FULL_SIZES`). What scripts/record_recipes.py runs and records."""
    from ..data import load_dataset

    z = {**FULL_SIZES, **(sizes or {})}
    record = dict(record or {})
    data = data if data is not None else load_dataset("fashion-mnist", train=True, image_size=32)
    common = dict(seeds=tuple(z["seeds"]), width=z["width"], batch_size=z["batch_size"], fd_n=z["fd_n"],
                  eval_every=z["eval_every"], chunk=z["chunk"], device=device, progress=progress)
    if only in (None, "pilot"):                 # how R1's gamma was chosen: one seed, PILOT_GAMMAS
        pilot = {f"R1 gamma={g:g}": Arm(f"R1 gamma={g:g}", "bce-ns", "none", {"r1_gamma": g, "r1_every": R1_EVERY})
                 for g in PILOT_GAMMAS}
        t = time.perf_counter()
        record["pilot"] = compare(pilot, data, steps=z["pilot_steps"], equal_time=False, n_grid=0,
                                  **{**common, "seeds": (z["seeds"][0],), "eval_every": z["pilot_steps"]})
        record["pilot"]["wall_seconds"] = time.perf_counter() - t
    if only in (None, "full"):
        arms = dict(ARMS)
        if "pilot" in record:                   # R1's gamma: the pilot's best, whatever R1_GAMMA says
            best = min(record["pilot"]["summary"], key=lambda k: record["pilot"]["summary"][k]["fd_at_steps"]["mean"])
            gamma = record["pilot"]["arms"][best]["overrides"]["r1_gamma"]
            old = arms["bce-ns+R1"]
            arms["bce-ns+R1"] = Arm(old.name, old.loss, old.norm, {**old.overrides, "r1_gamma": gamma}, old.source)
        t = time.perf_counter()
        record["full"] = compare(arms, data, steps=z["steps"], **common)
        record["full"]["wall_seconds"] = time.perf_counter() - t
    if only in (None, "limited"):
        small, heldout = limited_data(data, n_limited)
        t = time.perf_counter()
        record["limited"] = compare(LIMITED_ARMS, small, steps=z["limited_steps"], probe=(small.images, heldout),
                                    probe_every=z["eval_every"], **common)
        record["limited"]["wall_seconds"] = time.perf_counter() - t
        record["limited"]["heldout"] = f"{n_limited} Fashion-MNIST test images (permutation seed 1)"
    return record


# ============================================================================ the prose quoting the record
#: pairs the notebook's prose compares: (recipe, what it is compared with)
FULL_PAIRS = (("hinge+SN", "bce-ns"), ("bce-ns-plain", "bce-ns"), ("bce-ns+R1", "bce-ns-plain"), ("lsgan", "bce-ns-plain"))
SENTENCE_MARKERS = sentence_markers("full", "limited")


def _versus(a: str, b: str, sa: dict, sb: dict, what: str = "FD") -> str:
    """One sentence comparing two summary entries (mean, std and the seeds' values) by Welch's t-test."""
    return versus_sentence(LABELS.get(a, a), LABELS.get(b, b), sa, sb, what, "lower" if what == "FD" else "smaller")


def record_sentences(record: dict, part: str) -> str:
    """The markdown that notebook 10 shows between ``SENTENCE_MARKERS[part]``: every recorded mean ± std of
    ``part`` ("full" or "limited") and what the spread says about each comparison. Generated from the record
    (``python scripts/record_recipes.py --write-notebook``), kept equal to it by tests/test_recipes_record.py."""
    r, out = record[part], []
    S = r["summary"]
    if part == "full":
        if r.get("ema_batchnorm") == EMA_BATCHNORM:
            out.append("Scores of EMA generators whose BatchNorm statistics were re-estimated from their own samples "
                       "(`recipes.scored`).")
        else:
            out.append("This record was made before the comparison re-estimated the EMA generators' BatchNorm "
                       "statistics: its scores use the statistics the EMA copies from the raw G, which notebook 04 "
                       "showed belong to another network. `python scripts/record_recipes.py` records it again with "
                       "the current code (`recipes.scored`).")
        out.append("")
        for name in r["runs"]:
            s = S[name]
            out.append(f"* **{LABELS.get(name, name)}**: {fmt_stat(s['fd_at_steps'])} after {r['steps']} steps; "
                       f"{fmt_stat(s['fd_equal_time'])} at the baseline's training time "
                       f"({fmt_stat(s['steps_equal_time'], 0)} steps).")
        out.append("")
        out.append("At equal steps, mean against mean, with Welch's t-test on the seeds' values as the yardstick:")
        out.append("")
        for a, b in FULL_PAIRS:
            if a in S and b in S:
                out.append("* " + _versus(a, b, S[a]["fd_at_steps"], S[b]["fd_at_steps"]))
    elif part == "limited":
        for name in r["runs"]:
            s = S[name]
            first = np.mean([x["probe"]["train"][0] - x["probe"]["heldout"][0] for x in r["runs"][name]])
            out.append(f"* **{LABELS.get(name, name)}**: FD-classifier {fmt_stat(s['fd_at_steps'])} after {r['steps']} "
                       f"steps; D's mean output on its training images minus that on the held-out images "
                       f"{fmt_stat(s['d_gap_train_minus_heldout'], 2)} at the end (mean of the seeds at the first "
                       f"probe, step {r['runs'][name][0]['probe']['step'][0]}: {first:.2f}).")
        names = list(r["runs"])
        if len(names) == 2:
            a, b = names[1], names[0]
            out.append("")
            out.append("* " + _versus(a, b, S[a]["fd_at_steps"], S[b]["fd_at_steps"]))
    else:
        raise ValueError(f"part={part!r}; use 'full' or 'limited'")
    return "\n".join(out)
