"""The training loop: a D step, a G step, repeat (taught in notebooks/03_mlp_gan.ipynb, written out
in full there, and used from notebook 04 on).

    for step in range(steps):
        (1) Update D: n_critic times, on a real batch and a *detached* fake batch   -> d_step
        (2) Update G: through a frozen D                                             -> g_step
        EMA of G's weights; every N steps: flush logs, sample the fixed noise, checkpoint

Speed without obscurity: scalars stay on the device and are copied to the host once every
``log_every`` steps (no ``.item()`` per step); with ``n_critic == 1`` the fake batch of the D step
is reused by the G step (one G forward per step, as pytorch/examples' DCGAN does).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn as nn

from .checkpoint import LATEST, CheckpointError, load_checkpoint, save_checkpoint
from .losses import (LOSSES, clip_weights, critic_loss_wasserstein, d_loss_bce, g_loss_nonsaturating,
                     g_loss_saturating, g_loss_wasserstein, gradient_penalty)
from .models import has_batchnorm, has_spectral_norm


@dataclass
class TrainConfig:
    loss: str = "bce-ns"            # bce-ns | bce-saturating | wgan-clip | wgan-gp | wgan-sn (gan_utils.losses)
    steps: int = 2000               # generator updates; D gets n_critic updates per G update
    batch_size: int = 128           # the DCGAN paper's batch
    latent_dim: int = 100           # must equal G.latent_dim; z ~ N(0, I)
    n_critic: int = 1               # D/critic steps per G step (WGAN papers: 5)
    lr_g: float = 2e-4              # DCGAN: 2e-4 for both (Radford et al. 2016)
    lr_d: float = 2e-4
    betas_g: tuple = (0.5, 0.999)   # beta1 = 0.5: Adam's default 0.9 oscillates in GANs (DCGAN, sec. 4)
    betas_d: tuple = (0.5, 0.999)
    optimizer: str = "adam"         # "rmsprop" for weight-clipped WGAN (momentum destabilises it)
    clip_value: float = 0.01        # wgan-clip: |w| <= c after every critic step
    gp_weight: float = 10.0         # wgan-gp: lambda (Gulrajani et al. 2017)
    ema_decay: float = 0.999        # EMA of G's weights, sampled for grids and evaluation; 0 = off
    log_every: int = 50             # host sync interval: scalars flushed to history, NaN check
    sample_every: int = 500         # fixed-noise grid interval (0 = only at the end)
    n_samples: int = 64             # size of the fixed noise batch (an 8x8 grid)
    ckpt_every: int = 0             # checkpoint interval when out_dir is given (0 = only at the end)
    grad_norms: bool = True         # record the global grad norm of D and G each step
    seed: int = 0                   # fixed noise and the data order derive from it
    # The fast path (gan_utils.fast; benchmarks/RESULTS.md). None = auto: on CUDA, data on the
    # device + channels_last + bf16 autocast of the G/D forwards + cudnn.benchmark + torch.compile
    # for runs of >= 10k steps (never for wgan-gp); on the CPU only channels_last, the one item that
    # measurably helps there.
    # It trains the same model (tests/test_fast_path.py); False = the plain eager loop.
    fast: Optional[bool] = None
    compile: Optional[object] = None  # None = auto (CUDA, >= 10k steps); False; True; or a torch.compile backend name

    @classmethod
    def preset(cls, loss: str, **overrides) -> "TrainConfig":
        """Published hyper-parameters for each loss, then ``overrides``.

        bce-*: Adam 2e-4, betas (0.5, 0.999) (DCGAN); wgan-clip: RMSprop 5e-5, c = 0.01,
        n_critic = 5 (Arjovsky et al. 2017); wgan-gp: Adam 1e-4, betas (0, 0.9), lambda = 10,
        n_critic = 5 (Gulrajani et al. 2017); wgan-sn: the Wasserstein loss with neither clipping nor
        penalty, for a spectrally normalised critic (Miyato et al. 2018), with WGAN-GP's optimiser so
        that only the constraint differs (notebook 07).
        """
        base = {
            "bce-ns": {}, "bce-saturating": {},
            "wgan-clip": dict(optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, n_critic=5, clip_value=0.01),
            "wgan-gp": dict(lr_g=1e-4, lr_d=1e-4, betas_g=(0.0, 0.9), betas_d=(0.0, 0.9), n_critic=5, gp_weight=10.0),
            "wgan-sn": dict(lr_g=1e-4, lr_d=1e-4, betas_g=(0.0, 0.9), betas_d=(0.0, 0.9), n_critic=5),
        }
        if loss not in base:
            raise ValueError(f"Unknown loss {loss!r}; use one of {list(base)}")
        return cls(loss=loss, **{**base[loss], **overrides})

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"Unknown loss {self.loss!r}; use one of {list(LOSSES)}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer={self.optimizer!r}; use 'adam' or 'rmsprop'")
        self.betas_g, self.betas_d = tuple(self.betas_g), tuple(self.betas_d)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"Unknown TrainConfig fields {sorted(unknown)}; known: {sorted(names)}")
        return cls(**d)


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or inf; the message names the step and the last good checkpoint."""


# ----------------------------------------------------------------------------- the two steps
def _grad_norm(params) -> torch.Tensor:
    params = list(params)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:  # on the parameters' device: the log flush stacks these across steps
        return torch.zeros((), device=params[0].device if params else None)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))  # ||all grads||_2


def d_step(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, opt_d: torch.optim.Optimizer,
           cfg: TrainConfig) -> dict:
    """(1) Update D once: minimise the D/critic loss on a real and a fake batch.

    ``fake`` is detached here, so no gradient reaches G and G's graph (reused by the G step when
    n_critic == 1) is left intact. For wgan-clip the weights are clipped *after* the step.
    Returns 0-d tensors (no host sync).
    """
    fake = fake.detach()                       # the D step must not train G
    real_out, fake_out = D(real).float(), D(fake).float()  # (B,) logits / critic scores; fp32 losses under autocast
    out = {}
    if cfg.loss in ("wgan-clip", "wgan-gp", "wgan-sn"):
        loss = critic_loss_wasserstein(real_out, fake_out)      # E[f(G(z))] - E[f(x)]
        out["W_estimate"] = -loss.detach()                      # E[f(x)] - E[f(G(z))]
        if cfg.loss == "wgan-gp":
            gp = gradient_penalty(D, real, fake)                # E[(||grad f(x_hat)|| - 1)^2]
            loss = loss + cfg.gp_weight * gp
            out["gp"] = gp.detach()
        out["D_x"], out["D_G_z"] = real_out.detach().mean(), fake_out.detach().mean()
    else:
        loss = d_loss_bce(real_out, fake_out)                   # -E[log D(x)] - E[log(1 - D(G(z)))]
        out["D_x"] = torch.sigmoid(real_out.detach()).mean()
        out["D_G_z"] = torch.sigmoid(fake_out.detach()).mean()
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_norms:
        out["grad_norm_D"] = _grad_norm(D.parameters())
    opt_d.step()
    if cfg.loss == "wgan-clip":
        clip_weights(D, cfg.clip_value)                         # after the step, never before
    out["loss_D"] = loss.detach()
    return out


def g_step(D: nn.Module, fake: torch.Tensor, opt_g: torch.optim.Optimizer, cfg: TrainConfig,
           G: Optional[nn.Module] = None) -> dict:
    """(2) Update G once: minimise the G loss of ``fake = G(z)`` (with its graph) through a frozen D.

    D's parameters get no gradient and are not stepped (``opt_g`` holds G's parameters only).
    """
    D.requires_grad_(False)                    # D is a fixed function during the G step
    try:
        fake_out = D(fake).float()             # fp32 loss even when D ran in bf16
        if cfg.loss == "bce-ns":
            loss = g_loss_nonsaturating(fake_out)               # -E[log D(G(z))]
        elif cfg.loss == "bce-saturating":
            loss = g_loss_saturating(fake_out)                  # E[log(1 - D(G(z)))]
        else:
            loss = g_loss_wasserstein(fake_out)                 # -E[f(G(z))]
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
    finally:
        D.requires_grad_(True)
    out = {"loss_G": loss.detach()}
    if cfg.grad_norms:
        params = G.parameters() if G is not None else (p for g in opt_g.param_groups for p in g["params"])
        out["grad_norm_G"] = _grad_norm(params)
    opt_g.step()
    return out


# ----------------------------------------------------------------------------- EMA generator
class EMA:
    """Exponential moving average of G's weights (Karras et al. 2018; Yazici et al. 2019).

    ``decay`` ramps up as min(decay, (1 + t) / (10 + t)) so short runs are not dominated by the
    initial weights. Buffers (BatchNorm running statistics) are copied, not averaged.
    """

    def __init__(self, G: nn.Module, decay: float = 0.999):
        self.model = copy.deepcopy(G).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, G: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_p = [p for p in self.model.parameters()]
        torch._foreach_lerp_(ema_p, [p.detach() for p in G.parameters()], 1.0 - d)  # e <- d*e + (1-d)*p
        ema_b, g_b = list(self.model.buffers()), list(G.buffers())
        if ema_b and hasattr(torch, "_foreach_copy_"):
            torch._foreach_copy_(ema_b, g_b)               # one launch for all BatchNorm statistics
        else:
            for be, b in zip(ema_b, g_b):
                be.copy_(b)


# ----------------------------------------------------------------------------- the loop
@dataclass
class TrainResult:
    G: nn.Module
    D: nn.Module
    G_ema: Optional[nn.Module]
    config: TrainConfig
    history: dict = field(default_factory=dict)        # name -> list of per-step floats; "step" too
    samples: list = field(default_factory=list)        # [(step, (n, C, H, W) CPU tensor in [-1, 1])]
    seconds: float = 0.0
    out_dir: Optional[Path] = None
    fast: dict = field(default_factory=dict)            # what the fast path did (gan_utils.fast.FastPlan)

    @property
    def generator(self) -> nn.Module:
        """The generator to sample from: the EMA one when kept (eval mode)."""
        return self.G_ema if self.G_ema is not None else self.G


def make_optimizers(G, D, cfg: TrainConfig, device=None):
    fused = device is not None and torch.device(device).type == "cuda"
    if cfg.optimizer == "rmsprop":
        return (torch.optim.RMSprop(G.parameters(), lr=cfg.lr_g),
                torch.optim.RMSprop(D.parameters(), lr=cfg.lr_d))
    kw = {"fused": True} if fused else {}
    return (torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas_g, **kw),
            torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas_d, **kw))


def _as_batch(b):
    return b[0] if isinstance(b, (tuple, list)) else b


def check_setup(G, D, real: torch.Tensor, cfg: TrainConfig) -> None:
    """One-off checks for the classic set-up bugs (notebook 05), each with a clear message."""
    if cfg.loss == "wgan-gp" and has_batchnorm(D):
        raise ValueError("wgan-gp with a BatchNorm critic: BatchNorm mixes the samples of a batch, so the "
                         "per-sample gradient penalty is wrong. Build the critic with norm='layer', "
                         "'none' or 'spectral'.")
    if cfg.loss == "wgan-sn" and not has_spectral_norm(D):
        raise ValueError("wgan-sn has no clipping and no penalty: only spectrally normalised layers keep the "
                         "critic Lipschitz, and this critic has none, so its scores would grow without bound. "
                         "Build it with norm='spectral' (DCGANDiscriminator) or spectral=True (MLPDiscriminator), "
                         "or use wgan-gp / wgan-clip.")
    latent = getattr(G, "latent_dim", cfg.latent_dim)
    if latent != cfg.latent_dim:
        raise ValueError(f"TrainConfig.latent_dim={cfg.latent_dim} but the generator takes {latent}")
    if real.dim() == 4:
        lo, hi = float(real.min()), float(real.max())
        if lo >= 0.0 and hi <= 1.0:
            raise ValueError(f"Real images are in [{lo:.3g}, {hi:.3g}] but the generator's tanh outputs "
                             "[-1, 1]: D can tell real from fake by range alone. Scale with x * 2 - 1 "
                             "(gan_utils.data.load_dataset already returns [-1, 1]).")
    with torch.no_grad():
        was = G.training
        G.eval()
        fake = G(torch.zeros(2, cfg.latent_dim, device=real.device))
        G.train(was)
    if tuple(fake.shape[1:]) != tuple(real.shape[1:]):
        raise ValueError(f"The generator makes {tuple(fake.shape[1:])} samples but the data is "
                         f"{tuple(real.shape[1:])}: build G and D for the data's channels and image size.")


def train(G: nn.Module, D: nn.Module, data, cfg: TrainConfig, *, device=None, out_dir=None,
          resume: bool = False, callback: Optional[Callable[[dict], None]] = None,
          progress: bool = True, optimizers=None) -> TrainResult:
    """Train ``G`` against ``D`` on ``data`` (an :class:`~gan_utils.data.InMemoryLoader` or any
    endless iterable of batches in [-1, 1]) for ``cfg.steps`` generator steps.

    With ``out_dir``: checkpoints (``checkpoint_latest.pt``, every ``ckpt_every`` steps and at the
    end), ``history.json`` and ``samples_XXXXXX.png`` grids. ``resume=True`` continues from
    ``out_dir/checkpoint_latest.pt`` (bit-exact on CPU). ``callback(info)`` is called after every
    log flush with ``info = {"step", "history", "samples", "G_ema"}`` (live plots).

    ``cfg.fast`` (default: auto) turns on the fast path of :mod:`gan_utils.fast`; G, D, their
    optimisers and ``data`` are left in their original memory layout and device when it returns.
    """
    from tqdm.auto import tqdm

    from . import fast as _fast

    device = torch.device(device) if device is not None else next(G.parameters()).device
    G.to(device).train()
    D.to(device).train()
    plan = _fast.resolve_plan(cfg, device, G, D)
    opt_g, opt_d = optimizers or make_optimizers(G, D, cfg, device)
    ema = EMA(G, cfg.ema_decay) if cfg.ema_decay > 0 else None
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)   # sample grids may come before the first checkpoint
    history: dict = {}
    samples: list = []
    start = 0
    gen = torch.Generator().manual_seed(cfg.seed)
    fixed_z = torch.randn(cfg.n_samples, cfg.latent_dim, generator=gen).to(device)

    state_dict_fn = getattr(data, "state_dict", None)
    if resume:
        if out_dir is None:
            raise ValueError("resume=True needs out_dir (where checkpoint_latest.pt lives)")
        ckpt_path = out_dir / LATEST
        if ckpt_path.exists():
            ck = load_checkpoint(ckpt_path, map_location=device)
            _check_compatible(ck, G, D, cfg, ckpt_path)
            G.load_state_dict(ck["G"])
            D.load_state_dict(ck["D"])
            opt_g.load_state_dict(ck["opt_G"])
            opt_d.load_state_dict(ck["opt_D"])
            if ema is not None and ck.get("G_ema") is not None:
                ema.model.load_state_dict(ck["G_ema"])
                ema.updates = ck.get("ema_updates", 0)
            fixed_z = ck["fixed_noise"].to(device)
            history = {k: list(v) for k, v in ck.get("history", {}).items()}
            start = int(ck["step"])
            torch.set_rng_state(ck["rng"]["torch"].cpu())
            if device.type == "cuda" and ck["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(ck["rng"]["cuda"].cpu(), device)
            if ck.get("loader") is not None and hasattr(data, "load_state_dict"):
                data.load_state_dict(ck["loader"])

    # ---- fast path set-up (gan_utils.fast); undone in the `finally` below
    source = data                                     # the caller's loader: its position is synced back
    moved = _fast.move_loader(data, device) if plan.device_data else None
    if moved is not None:
        data = moved
        state_dict_fn = data.state_dict
    models = (G, D, ema.model if ema is not None else None)
    if plan.channels_last:
        _fast.set_memory_format(torch.channels_last, models, (opt_g, opt_d))
    cudnn_was = torch.backends.cudnn.benchmark
    if plan.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    if plan.channels_last or plan.dtype is not None or plan.compile:
        G_run, D_run = _fast.FastModule(G, plan, device.type), _fast.FastModule(D, plan, device.type)
    else:
        G_run, D_run = G, D
    fast_info = plan.as_dict()

    batches = iter(data)
    g_loss_needs_graph = cfg.n_critic == 1  # reuse the D step's fake batch for the G step
    buffer: list = []
    t_flush = time.perf_counter()
    t0 = t_flush
    checked = False

    def save(step):
        if out_dir is None:
            return None
        state = {
            "G": G.state_dict(), "D": D.state_dict(),
            "G_ema": ema.model.state_dict() if ema is not None else None,
            "ema_updates": ema.updates if ema is not None else 0,
            "opt_G": opt_g.state_dict(), "opt_D": opt_d.state_dict(),
            "config": asdict(cfg), "model_config": {"G": dict(getattr(G, "config", {})), "D": dict(getattr(D, "config", {}))},
            "step": step, "fixed_noise": fixed_z.cpu(), "history": history,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None},
            "loader": state_dict_fn() if state_dict_fn else None,
        }
        return save_checkpoint(state, out_dir / LATEST)

    def flush(step):
        nonlocal buffer, t_flush
        if not buffer:
            return
        now = time.perf_counter()
        keys = buffer[0].keys()
        stacked = {k: torch.stack([b[k].float() for b in buffer]).cpu().tolist() for k in keys}  # one sync
        n = len(buffer)
        ips = n * cfg.batch_size * cfg.n_critic / max(now - t_flush, 1e-9)
        for name in ("loss_D", "loss_G"):
            bad = [i for i, v in enumerate(stacked[name]) if not math.isfinite(v)]
            if bad:
                first = step - n + 1 + bad[0]
                last = f"{out_dir / LATEST}" if out_dir is not None and (out_dir / LATEST).exists() else "none saved"
                raise NonFiniteLossError(f"{name} became {stacked[name][bad[0]]} at step {first}; training "
                                         f"stopped. Last good checkpoint: {last}. Lower the learning rates or "
                                         "check the data range.")
        history.setdefault("step", []).extend(range(step - n + 1, step + 1))
        for k, v in stacked.items():
            history.setdefault(k, []).extend(v)
        history.setdefault("images_per_s", []).extend([ips] * n)
        buffer = []
        t_flush = now

    def sample(step):
        model = ema.model if ema is not None else G
        was = model.training
        model.eval()
        with torch.no_grad():
            imgs = model(fixed_z).float().cpu().contiguous()
        model.train(was)
        samples.append((step, imgs))
        if out_dir is not None and imgs.dim() == 4:
            from torchvision.utils import save_image
            save_image(imgs, out_dir / f"samples_{step:06d}.png", nrow=int(math.sqrt(len(imgs))) or 8,
                       normalize=True, value_range=(-1, 1))

    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"train {cfg.loss}",
               disable=not progress, dynamic_ncols=True)
    step = start
    try:
        for step_idx in bar:
            # (1) Update D: n_critic steps on real vs detached fake batches
            for k in range(cfg.n_critic):
                real = _as_batch(next(batches)).to(device, non_blocking=True)
                if not checked:
                    check_setup(G, D, real, cfg)
                    checked = True
                    if plan.compile:
                        why = _fast.compile_models(G_run, D_run, _fast.prepare_batch(real, plan), cfg, plan, device)
                        fast_info["compiled"] = why is None
                        if why is not None:
                            fast_info["compile_error"] = why
                real = _fast.prepare_batch(real, plan)
                z = torch.randn(real.shape[0], cfg.latent_dim, device=device)
                if g_loss_needs_graph:
                    fake = G_run(z)                       # graph kept: the G step reuses it
                else:
                    with torch.no_grad():
                        fake = G_run(z)
                d_out = d_step(D_run, real, fake, opt_d, cfg)
            # (2) Update G: through a frozen D
            if not g_loss_needs_graph:
                fake = G_run(torch.randn(real.shape[0], cfg.latent_dim, device=device))
            g_out = g_step(D_run, fake, opt_g, cfg, G)
            if ema is not None:
                ema.update(G)

            step = step_idx + 1
            buffer.append({**d_out, **g_out})
            is_last = step == cfg.steps
            do_ckpt = out_dir is not None and (is_last or (cfg.ckpt_every and step % cfg.ckpt_every == 0))
            do_sample = is_last or (cfg.sample_every and step % cfg.sample_every == 0)
            if is_last or do_ckpt or step % cfg.log_every == 0:
                flush(step)                               # NaN check happens here, before any save
                bar.set_postfix(loss_D=f"{history['loss_D'][-1]:.3f}", loss_G=f"{history['loss_G'][-1]:.3f}")
            if do_sample:
                sample(step)
            if do_ckpt:
                save(step)
            if callback is not None and (step % cfg.log_every == 0 or is_last or do_sample):
                if plan.channels_last:                    # the callback sees G, D, G_ema in the caller's layout
                    _fast.set_memory_format(torch.contiguous_format, models)
                try:
                    callback({"step": step, "history": history, "samples": samples,
                              "G_ema": ema.model if ema is not None else G})
                finally:
                    if plan.channels_last:
                        _fast.set_memory_format(torch.channels_last, models)
        bar.close()
        flush(step)
    finally:
        bar.close()
        if plan.channels_last:                            # hand back the layout the caller gave us
            _fast.set_memory_format(torch.contiguous_format, models, (opt_g, opt_d))
        torch.backends.cudnn.benchmark = cudnn_was
        if moved is not None and hasattr(source, "load_state_dict"):
            source.load_state_dict(moved.state_dict())   # the caller's loader continues where we stopped
    if out_dir is not None:
        import json
        (out_dir / "history.json").write_text(json.dumps(history))
    return TrainResult(G=G, D=D, G_ema=ema.model if ema is not None else None, config=cfg, history=history,
                       samples=samples, seconds=time.perf_counter() - t0, out_dir=out_dir, fast=fast_info)


_MUST_MATCH = ("loss", "batch_size", "latent_dim", "n_critic", "optimizer")


def _check_compatible(ck: dict, G, D, cfg: TrainConfig, path) -> None:
    diffs = []
    for role, model in (("G", G), ("D", D)):
        saved = ck.get("model_config", {}).get(role, {})
        now = dict(getattr(model, "config", {}))
        for k in sorted(set(saved) | set(now)):
            if saved.get(k) != now.get(k):
                diffs.append(f"{role}.{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}")
    for k in _MUST_MATCH:
        if ck["config"].get(k) != getattr(cfg, k):
            diffs.append(f"config.{k}: checkpoint {ck['config'].get(k)!r} vs now {getattr(cfg, k)!r}")
    if diffs:
        raise CheckpointError(f"The checkpoint {path} was made by another configuration and cannot be resumed:\n  "
                              + "\n  ".join(diffs) + "\nUse a new out_dir, or the same settings as that run.")
