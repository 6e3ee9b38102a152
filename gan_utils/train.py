"""The training loop: a D step, a G step, repeat (taught in notebooks/03_mlp_gan.ipynb, written out
in full there, and used from notebook 04 on).

    for step in range(steps):
        (1) Update D: n_critic times, on a real and a *detached* fake batch   -> d_step
        (2) Update G: through a frozen D                                       -> g_step
        EMA of G's weights; every N steps: flush logs, sample the fixed noise, checkpoint

Speed without obscurity: scalars stay on the device and are copied to the host once every
``log_every`` steps (no ``.item()`` per step); with ``n_critic == 1`` the fake batch of the D step
is reused by the G step (one G forward per step, as pytorch/examples' DCGAN does). The fast path
(device data, channels_last, autocast, compile) is one context manager, :func:`gan_utils.fast.fast_path`;
resuming is :func:`gan_utils.checkpoint.restore_training`; the per-step bookkeeping (logs, NaN
guard, grids, checkpoints) is :class:`_Bookkeeper`. What is left in :func:`train` is the algorithm.
"""
from __future__ import annotations

import copy
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn as nn

from .checkpoint import (LATEST, RunLock, all_finite, bare_module, check_resumable, load_checkpoint,
                         restore_training, save_checkpoint, training_state)
from .distributed import Parallel, on_main
from .augment import DiffAugment, parse_policy
from .losses import LOSSES, HistoricalAverage, clip_weights, r1_penalty
from .loop import NonFiniteLossError, ScalarLog, StopRequest, TrainingInterrupted  # noqa: F401 (re-exported)
from .models import check_labels, eval_mode, has_batchnorm, has_spectral_norm, sample
from .runtime import ConfigError, UserError, atomic_write, check_seed, ensure_writable_dir, remove_stale_temp_files


#: the most generator steps a run may ask for: far beyond any run of the course (100,000), and a
#: typo such as 1e30 is refused instead of running until it is killed
MAX_STEPS = 10_000_000


@dataclass
class TrainConfig:
    loss: str = "bce-ns"            # bce-ns | bce-saturating | feature-matching | wgan-clip | wgan-gp | wgan-sn | hinge | lsgan | acgan (losses.LOSSES)
    steps: int = 2000               # generator updates; D gets n_critic updates per G update
    batch_size: int = 128           # the DCGAN paper's batch; under torchrun the global one (all processes together)
    latent_dim: int = 100           # must equal G.latent_dim; z ~ N(0, I)
    n_critic: int = 1               # D/critic steps per G step (WGAN papers: 5)
    lr_g: float = 2e-4              # DCGAN: 2e-4 for both (Radford et al. 2016)
    lr_d: float = 2e-4
    betas_g: tuple = (0.5, 0.999)   # beta1 = 0.5: Adam's default 0.9 oscillates in GANs (DCGAN, sec. 4)
    betas_d: tuple = (0.5, 0.999)
    optimizer: str = "adam"         # "rmsprop" for weight-clipped WGAN (momentum destabilises it)
    clip_value: float = 0.01        # wgan-clip: |w| <= c after every critic step
    gp_weight: float = 10.0         # wgan-gp: lambda (Gulrajani et al. 2017)
    r1_gamma: float = 0.0           # > 0 adds gamma/2 * E||grad_x D(x)||^2 on reals to any loss (Mescheder et al. 2018)
    r1_every: int = 1               # lazy R1: every k-th D step, weighted k times (StyleGAN2, Karras et al. 2020; they use 16)
    augment: Optional[str] = None   # DiffAugment policy for D's inputs, real and fake, e.g. "color,translation,cutout"
    real_label: float = 1.0         # D's target for reals; 0.9 = one-sided label smoothing, fakes keep 0 (Salimans et al. 2016, sec. 3.4; BCE losses)
    hist_avg_weight: float = 0.0    # > 0 adds w * ||theta - mean of its past values||^2 to D's and G's losses: historical averaging (Salimans et al. 2016, sec. 3.3)
    ema_decay: float = 0.999        # EMA of G's weights, sampled for grids and evaluation; 0 = off
    log_every: int = 50             # host sync interval: scalars flushed to history, NaN check
    sample_every: int = 500         # fixed-noise grid interval (0 = only at the end)
    n_samples: int = 64             # size of the fixed noise batch (an 8x8 grid)
    ckpt_every: int = 0             # checkpoint interval when out_dir is given (0 = only at the end)
    grad_norms: bool = True         # record the global grad norm of D and G each step
    seed: int = 0                   # fixed noise and the data order derive from it
    # The fast path (gan_utils.fast; benchmarks/RESULTS.md). None = auto: on CUDA, data on the device
    # + channels_last + bf16 (or fp16 + GradScaler) autocast + cudnn.benchmark + torch.compile when
    # enough steps remain; on the CPU only channels_last. It trains the same model
    # (tests/test_fast_path.py); False = the plain eager loop.
    fast: Optional[bool] = None
    compile: Optional[object] = None  # None = auto (see gan_utils.fast.resolve_plan); False; True; or a backend name
    precision: Optional[str] = None   # None = auto (bf16 / fp16 on GPUs, fp32 on the CPU); "fp32" forces float32
    # Under torchrun (gan_utils.distributed): BatchNorm statistics over the global batch (SyncBatchNorm,
    # CUDA only; two collectives per BatchNorm layer per pass) instead of each process's part of it.
    sync_batchnorm: bool = False

    @classmethod
    def preset(cls, loss: str, ttur: bool = False, **overrides) -> "TrainConfig":
        """Published hyper-parameters for each loss, then ``overrides``.

        bce-*: Adam 2e-4, betas (0.5, 0.999) (DCGAN); wgan-clip: RMSprop 5e-5, c = 0.01,
        n_critic = 5 (Arjovsky et al. 2017); wgan-gp: Adam 1e-4, betas (0, 0.9), lambda = 10,
        n_critic = 5 (Gulrajani et al. 2017); wgan-sn: the Wasserstein loss with neither clipping nor
        penalty, for a spectrally normalised critic (Miyato et al. 2018), with WGAN-GP's optimiser so
        that only the constraint differs (notebook 07); hinge: Adam 2e-4, betas (0.5, 0.999), one D
        step per G step, setting C of Miyato et al. 2018 (Table 1, the DCGAN setting they also ran;
        their best SN-GAN setting was B, the same with lr 1e-4); lsgan: the DCGAN optimiser, so that
        only the loss differs from bce-ns (notebook 10); acgan: the DCGAN optimiser with the AC-GAN
        class terms (notebook 09); feature-matching: the DCGAN optimiser, so that only G's loss differs
        from bce-ns (notebook 14).

        ``ttur=True``: the two time-scale learning rates Heusel et al. 2017 ran, for the loss they ran
        them with (:data:`TTUR_RATES`, which names the source of each pair): bce-ns as their DCGAN on
        CIFAR-10 (D 1e-4, G 5e-4: for DCGAN their G learns faster, see their Appendix A5); wgan-gp as
        their WGAN-GP on CIFAR-10 and LSUN (D 3e-4, G 1e-4, one critic step per generator step instead
        of five).
        """
        base = {
            "bce-ns": {}, "bce-saturating": {},
            "wgan-clip": dict(optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, n_critic=5, clip_value=0.01),
            "wgan-gp": dict(lr_g=1e-4, lr_d=1e-4, betas_g=(0.0, 0.9), betas_d=(0.0, 0.9), n_critic=5, gp_weight=10.0),
            "wgan-sn": dict(lr_g=1e-4, lr_d=1e-4, betas_g=(0.0, 0.9), betas_d=(0.0, 0.9), n_critic=5),
            "hinge": dict(lr_g=2e-4, lr_d=2e-4, betas_g=(0.5, 0.999), betas_d=(0.5, 0.999), n_critic=1),
            "lsgan": {},
            "acgan": {},
            "feature-matching": {},
        }
        if loss not in base:
            raise ConfigError(f"Unknown loss {loss!r}; use one of {list(base)}")
        if ttur:
            if loss not in TTUR_RATES:
                raise ConfigError(f"ttur=True: Heusel et al. 2017 (Table 1) give two time-scale learning rates for "
                                  f"{' and '.join(TTUR_RATES)} only; for {loss!r} set lr_d and lr_g yourself")
            base[loss] = {**base[loss], **TTUR_RATES[loss]}
        return cls(loss=loss, **{**base[loss], **overrides})

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ConfigError(f"Unknown loss {self.loss!r}; use one of {list(LOSSES)}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise ConfigError(f"optimizer={self.optimizer!r}; use 'adam' or 'rmsprop'")
        if self.precision not in (None, "fp32"):
            raise ConfigError(f"precision={self.precision!r}; use None (auto) or 'fp32'")
        def whole(name, lo, hi=None, note=""):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
                rng = f">= {lo}" if hi is None else f"from {lo} to {hi:,}"
                raise ConfigError(f"{name}={v!r} must be a whole number {rng}{note}")

        def number(name, lo, lo_open, hi=None, note=""):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and \
                (v > lo if lo_open else v >= lo) and (hi is None or v < hi)
            if not ok:
                rng = (f"> {lo:g}" if lo_open else f">= {lo:g}") + (f" and < {hi:g}" if hi is not None else "")
                raise ConfigError(f"{name}={v!r} must be a finite number {rng}{note}")

        whole("steps", 1, MAX_STEPS, " (generator updates; the course's longest run has 100,000)")
        for name in ("batch_size", "latent_dim", "n_critic", "log_every", "n_samples"):
            whole(name, 1)
        for name in ("sample_every", "ckpt_every"):
            whole(name, 0, note=" (0 = only at the end)")
        for name in ("lr_g", "lr_d"):
            number(name, 0.0, True, note=" (a learning rate)")
        for name in ("betas_g", "betas_d"):
            b = getattr(self, name)
            if not (isinstance(b, (tuple, list)) and len(b) == 2 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v < 1.0 for v in b)):
                raise ConfigError(f"{name}={b!r} must be two numbers in [0, 1), Adam's (beta1, beta2), e.g. (0.5, 0.999)")
        number("clip_value", 0.0, True, note=" (wgan-clip keeps every critic weight in [-c, c])")
        number("gp_weight", 0.0, False, note=" (the gradient penalty's lambda)")
        number("r1_gamma", 0.0, False, note=" (0 = no R1 penalty)")
        number("ema_decay", 0.0, False, 1.0, note=" (0 = no EMA generator)")
        check_seed(self.seed)
        if not isinstance(self.r1_every, int) or self.r1_every < 1:
            raise ConfigError(f"r1_every={self.r1_every!r} must be a whole number >= 1 (1 = R1 at every D step)")
        if self.augment is not None:
            try:
                parse_policy(self.augment)
            except ValueError as e:
                raise ConfigError(f"augment={self.augment!r}: {e}") from None
        if isinstance(self.real_label, bool) or not isinstance(self.real_label, (int, float)) \
                or not 0.0 < self.real_label <= 1.0:
            raise ConfigError(f"real_label={self.real_label!r} must be a number in (0, 1] (1 = no smoothing; 0.9 is "
                              "one-sided label smoothing)")
        if self.real_label != 1.0 and not LOSSES[self.loss].label_smoothing:
            raise ConfigError(f"real_label={self.real_label} (one-sided label smoothing) is a target of the BCE losses; "
                              f"loss={self.loss!r} has no real/fake targets. Use bce-ns, bce-saturating or "
                              "feature-matching, or leave real_label at 1.0")
        if isinstance(self.hist_avg_weight, bool) or not isinstance(self.hist_avg_weight, (int, float)) \
                or not self.hist_avg_weight >= 0:
            raise ConfigError(f"hist_avg_weight={self.hist_avg_weight!r} must be a number >= 0 (0 = no historical "
                              "averaging)")
        self.betas_g, self.betas_d = (tuple(float(b) for b in self.betas_g), tuple(float(b) for b in self.betas_d))


#: Two time-scale update rule learning rates of Heusel et al. 2017, by loss, and where each pair comes from.
#:
#: - bce-ns, D 1e-4 / G 5e-4: the paper's Table 1, DCGAN on CIFAR-10 (its columns "b, a": b is the
#:   discriminator's rate, a the generator's). The authors' DCGAN code (bioinf-jku/TTUR,
#:   DCGAN_FID_batched/run.sh) takes both rates as command-line arguments and states no values.
#: - wgan-gp, D 3e-4 / G 1e-4, one critic step: the paper's Table 1, WGAN-GP on CIFAR-10 and LSUN
#:   Bedrooms, and the authors' code: bioinf-jku/TTUR, WGAN_GP/gan_64x64_FID.py sets ``D_LR = 0.0003``,
#:   ``G_LR = 0.0001``, ``CRITIC_ITERS = 1`` under ``TTUR = True`` from commit c2626f2 (2017-10-04) to the
#:   file's last version (8eca1ab, 2019; the folder was deleted in 2021). Its first versions (June 2017,
#:   commits 4925473 to ca9b657) had the reverse, D_LR=1e-4 and G_LR=3e-4, and some write-ups quote those.
TTUR_RATES = {
    "bce-ns": dict(lr_d=1e-4, lr_g=5e-4),               # their DCGAN on CIFAR-10 (FID 36.9 vs 37.7 with one rate)
    "wgan-gp": dict(lr_d=3e-4, lr_g=1e-4, n_critic=1),  # their WGAN-GP on CIFAR-10 and LSUN Bedrooms
}


# ----------------------------------------------------------------------------- the two steps
def _grad_norm(params) -> torch.Tensor:
    params = list(params)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:  # on the parameters' device: the log flush stacks these across steps
        return torch.zeros((), device=params[0].device if params else None)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))  # ||all grads||_2


def _backward_and_step(loss, params, opt, scaler, grad_norms: bool):
    """loss.backward(); optimiser step. Returns ``(grad norm or None, skipped or None)``: the global
    grad norm (unscaled under fp16 + GradScaler) and, with a GradScaler, a 0-d tensor that is 1 when
    the scaler skipped this step because the fp16 gradients overflowed (its scale went down), 0 when
    it stepped. Both stay on the device (no host sync)."""
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        norm = _grad_norm(params) if grad_norms else None
        opt.step()
        return norm, None
    one = torch.ones((), device=loss.device)
    before = scaler.scale(one)                 # the scale as a device tensor
    scaler.scale(loss).backward()
    scaler.unscale_(opt)                       # true gradients: for the norm and for the step
    norm = _grad_norm(params) if grad_norms else None
    scaler.step(opt)                           # skipped when the fp16 gradients overflowed
    scaler.update()                            # ... and then the scale is halved: that is how we see it
    return norm, (scaler.scale(one) < before).float()


def _uncompiled(D: nn.Module) -> nn.Module:
    """``D`` itself, or, when the fast path compiled it, its eager module: found through the
    DistributedDataParallel wrapper of torchrun too (there ``D.compiled`` is the wrapper's attribute,
    absent, and R1's double backward went through the compiled graph: "double backward not supported").
    The eager module shares D's parameters, so DDP still reduces their gradients in the backward of
    the D loss that holds the penalty."""
    from torch.nn.parallel import DistributedDataParallel

    inner = D.module if isinstance(D, DistributedDataParallel) else D
    return inner.module if getattr(inner, "compiled", False) else D


def _augmenter(cfg: TrainConfig):
    """The DiffAugment T of ``cfg.augment`` (None without one); cheap to make: a parsed policy."""
    return DiffAugment(cfg.augment) if cfg.augment else None


def _historical_term(cfg: TrainConfig, model: nn.Module, hist: Optional[HistoricalAverage], who: str) -> torch.Tensor:
    """w * ||theta - mean of theta's past values||^2 for ``model`` (historical averaging), after adding the
    current theta to ``hist``'s running mean."""
    if hist is None:
        raise ConfigError(f"hist_avg_weight={cfg.hist_avg_weight} (historical averaging) needs the running mean of "
                          f"{who}'s parameters: pass hist=HistoricalAverage({who}) (gan_utils.losses); train() makes them")
    bare = bare_module(model)                               # the parameters the optimiser steps, without wrappers
    hist.update(bare)                                       # mean_t = (1/t) sum_{i<=t} theta[i]
    return cfg.hist_avg_weight * hist.penalty(bare)         # w ||theta - mean_t||^2


def d_step(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, opt_d: torch.optim.Optimizer,
           cfg: TrainConfig, scaler=None, d_iter: Optional[int] = None, y: Optional[torch.Tensor] = None,
           hist: Optional[HistoricalAverage] = None) -> dict:
    """(1) Update D once: minimise the D/critic loss of ``cfg.loss`` on a real and a fake batch.

    ``fake`` is detached here, so no gradient reaches G and G's graph (reused by the G step when
    n_critic == 1) is left intact. A penalty (wgan-gp) is added to the loss; clipping (wgan-clip)
    happens *after* the step. With ``cfg.augment`` both batches go through the same DiffAugment
    policy before D (new random draws for each). With ``cfg.r1_gamma > 0`` the R1 penalty on the
    reals is added, every ``cfg.r1_every``-th D update (``d_iter``, the index of this D update in
    the run, counts them) and then weighted ``r1_every`` times. Returns 0-d tensors (no host sync).
    ``y``: the class labels of a class-conditional D (notebook 09), shared by the real and the fake
    batch (the fakes were made for the real batch's classes); penalties see D(., y) too.
    Notebook 14: ``cfg.real_label < 1`` smooths the reals' target (one-sided label smoothing);
    ``cfg.hist_avg_weight > 0`` adds historical averaging, with ``hist`` the running mean of D's
    parameters (a :class:`~gan_utils.losses.HistoricalAverage`, updated here).
    """
    spec = LOSSES[cfg.loss]
    aug = _augmenter(cfg)
    D_y = D if y is None else (lambda x: D(x, y))          # a conditional D scores x as an image of class y
    D_in = D_y if aug is None else (lambda x: D_y(aug(x)))  # what D sees: T(x) for reals and fakes alike
    fake = fake.detach()                                   # the D step must not train G
    real_out, fake_out = D_in(real).float(), D_in(fake).float()  # (B,) logits / scores; fp32 losses under autocast
    smooth = {"real_label": cfg.real_label} if spec.label_smoothing and cfg.real_label != 1.0 else {}
    loss = spec.d_loss(real_out, fake_out, **smooth)       # e.g. -E[log D(x)] - E[log(1 - D(G(z)))]
    out = {}
    if cfg.hist_avg_weight > 0:
        term = _historical_term(cfg, D, hist, "D")
        loss = loss + term
        out["hist_avg_D"] = term.detach()
    if spec.penalty is not None:
        pen = spec.penalty(D_in, real, fake, grad_scaler=scaler)   # e.g. E[(||grad f(x_hat)|| - 1)^2]
        loss = loss + getattr(cfg, spec.penalty_weight) * pen
        out["gp"] = pen.detach()
    if cfg.r1_gamma > 0:
        if d_iter is None and cfg.r1_every > 1:
            raise ConfigError(f"r1_every={cfg.r1_every} (lazy R1) needs d_step(..., d_iter=i), the index of this D "
                              "update in the run, to know on which updates to apply the penalty")
        if d_iter is None or d_iter % cfg.r1_every == 0:
            # a double backward: never through torch.compile (AOTAutograd refuses it), so the eager D of the fast path
            D_eager = _uncompiled(D)

            def D_r1(x):                                   # the logit of D(T(x)) (or D(T(x), y)), per sample
                x = x if aug is None else aug(x)
                out_ = D_eager(x) if y is None else D_eager(x, y)
                return out_[:, 0] if out_.dim() == 2 else out_      # AC-GAN: R1 on the real/fake logit
            r1 = r1_penalty(D_r1, real, grad_scaler=scaler)          # E_x ||grad_x D(x)||^2 on the reals only
            term = cfg.r1_every * (cfg.r1_gamma / 2) * r1            # lazy: k-th step, k times (StyleGAN2's lazy regularisation)
            loss = loss + term
        else:
            term = torch.zeros((), device=loss.device)
        out["r1_term"] = term.detach()                     # what R1 added to L_D at this step (its mean: gamma/2 R1)
    if real_out.dim() == 2:                                # AC-GAN: (B, 2) = [logit, log p(y | x)] (notebook 09)
        out["class_nll"] = -(real_out[:, 1].detach().mean() + fake_out[:, 1].detach().mean()) / 2  # -E[log p(y|x)]
        real_out, fake_out = real_out[:, 0], fake_out[:, 0]   # the logits, for D_x and D_G_z below
    if spec.critic:
        out["W_estimate"] = real_out.detach().mean() - fake_out.detach().mean()  # E[f(x)] - E[f(G(z))]
        out["D_x"], out["D_G_z"] = real_out.detach().mean(), fake_out.detach().mean()
    elif spec.scores == "score":                           # hinge, lsgan: raw scores, no probability
        out["D_x"], out["D_G_z"] = real_out.detach().mean(), fake_out.detach().mean()
    else:
        out["D_x"], out["D_G_z"] = torch.sigmoid(real_out.detach()).mean(), torch.sigmoid(fake_out.detach()).mean()
    norm, skipped = _backward_and_step(loss, D.parameters(), opt_d, scaler, cfg.grad_norms)
    if spec.clip:
        clip_weights(D, cfg.clip_value)                    # after the step, never before
    if norm is not None:
        out["grad_norm_D"] = norm
    if skipped is not None:
        out["skipped_D"] = skipped                         # fp16: the scaler skipped an overflowed step
    out["loss_D"] = loss.detach()
    return out


def _features_of(D: nn.Module):
    """D's intermediate layer f for feature matching: ``D.features``. Under torchrun the DDP wrapper is taken
    off (D is frozen in the G step, so no gradient of D needs syncing); under the fast path it runs in the fast
    path's layout and precision (:meth:`gan_utils.fast.FastModule.features`), eagerly."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    m = D
    while isinstance(m, (DistributedDataParallel, DataParallel)):
        m = m.module
    bare = bare_module(m)
    if not callable(getattr(bare, "features", None)):
        raise ConfigError(f"loss='feature-matching' matches D's features, and {type(bare).__name__} has no features() "
                          "method: use MLPDiscriminator or DCGANDiscriminator")
    return m.features if type(m).__name__ == "FastModule" else bare.features


def g_step(D: nn.Module, fake: torch.Tensor, opt_g: torch.optim.Optimizer, cfg: TrainConfig,
           G: Optional[nn.Module] = None, scaler=None, y: Optional[torch.Tensor] = None,
           real: Optional[torch.Tensor] = None, hist: Optional[HistoricalAverage] = None) -> dict:
    """(2) Update G once: minimise the G loss of ``fake = G(z)`` (with its graph) through a frozen D.

    D's parameters get no gradient and are not stepped (``opt_g`` holds G's parameters only). With
    ``cfg.augment`` the fakes go through the same DiffAugment policy as in the D step, and G's
    gradient flows back through it. ``y``: the classes ``fake = G(z, y)`` was made for, for a
    class-conditional D (notebook 09). Notebook 14: ``loss="feature-matching"`` compares D's features
    of ``real`` (a real batch, needed then) and of the fakes instead of D's scores;
    ``cfg.hist_avg_weight > 0`` adds historical averaging with ``hist``, the running mean of G's parameters.
    """
    aug = _augmenter(cfg)
    spec = LOSSES[cfg.loss]
    if cfg.hist_avg_weight > 0 and G is None:
        raise ConfigError("historical averaging in the G step needs g_step(..., G=G) (the generator whose parameters "
                          "are averaged)")
    D.requires_grad_(False)                    # D is a fixed function during the G step
    try:
        x = fake if aug is None else aug(fake)                   # T(G(z)) with DiffAugment
        if spec.g_features:                                      # feature matching: statistics of D's layer f
            if real is None:
                raise ConfigError("loss='feature-matching' needs a real batch in the G step: g_step(..., real=real)")
            f = _features_of(D)
            with torch.no_grad():
                real_f = f(real if aug is None else aug(real))   # f(x): no gradient (D is fixed, x is data)
            loss = spec.g_loss(real_f, f(x))                     # ||E f(x) - E f(G(z))||^2
        else:
            scores = (D(x) if y is None else D(x, y)).float()    # D(T(G(z))), or D(T(G(z, y)), y): conditional
            loss = spec.g_loss(scores)                           # e.g. -E[log D(G(z))]; fp32 even when D ran in bf16
        out = {}
        if cfg.hist_avg_weight > 0:
            term = _historical_term(cfg, G, hist, "G")
            loss = loss + term
            out["hist_avg_G"] = term.detach()
        params = G.parameters() if G is not None else [p for g in opt_g.param_groups for p in g["params"]]
        norm, skipped = _backward_and_step(loss, params, opt_g, scaler, cfg.grad_norms)
    finally:
        D.requires_grad_(True)
    out["loss_G"] = loss.detach()
    if norm is not None:
        out["grad_norm_G"] = norm
    if skipped is not None:
        out["skipped_G"] = skipped
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


# ----------------------------------------------------------------------------- set-up
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


class ImagePool:
    """The history of generated images a discriminator is trained on (Shrivastava et al. 2017, "updating
    the discriminator using a history of refined images"), in the form CycleGAN's code uses (Zhu et al.
    2017; taught in notebooks/11_image_to_image.ipynb)::

        for each new image:
            pool not full  -> store it, and return it
            pool full      -> with probability 1/2: return a stored image (chosen uniformly) and store
                              the new one in its place; else return the new image

    So D sees, once the pool is full, about half images of the current generator and half from
    earlier generators, which damps the back-and-forth of a D that only ever fights the latest G.
    ``ImagePool(0)`` returns its input unchanged. The random draws come from torch's global RNG
    (its state is in every checkpoint of :func:`gan_utils.loop.run_loop`) and the contents are in
    :meth:`state_dict`, so a resumed run continues bit for bit. Returned images are detached.
    """

    def __init__(self, size: int = 50):
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ConfigError(f"ImagePool(size={size!r}): a whole number >= 0 (0 = no pool; CycleGAN uses 50)")
        self.size = size
        self.count = 0                                   # images stored so far (<= size)
        self.images: Optional[torch.Tensor] = None       # (size, C, H, W), allocated at the first call

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """The batch D should see in place of ``images`` (same shape); the pool is updated."""
        images = images.detach()
        if self.size == 0:
            return images
        if self.images is None:
            self.images = images.new_zeros((self.size, *images.shape[1:]))
        elif self.images.device != images.device:        # loaded from a checkpoint on the CPU
            self.images = self.images.to(images.device)
        if self.images.shape[1:] != images.shape[1:]:
            raise ValueError(f"ImagePool holds images shaped {tuple(self.images.shape[1:])}, got "
                             f"{tuple(images.shape[1:])}: one pool per discriminator")
        swap = torch.rand(len(images)) < 0.5             # one coin per image (drawn even while filling)
        slot = torch.randint(self.size, (len(images),))  # which stored image it would replace
        out = images.clone()
        for i in range(len(images)):
            if self.count < self.size:                   # filling: keep it and hand it on
                self.images[self.count] = images[i]
                self.count += 1
            elif swap[i]:                                # full: hand on an old one, keep the new one
                k = int(slot[i])
                out[i] = self.images[k]
                self.images[k] = images[i]
        return out

    def state_dict(self) -> dict:
        return {"size": self.size, "count": self.count,
                "images": None if self.images is None else self.images[:self.count].detach().cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        if int(state["size"]) != self.size:
            raise ConfigError(f"this ImagePool has size {self.size}, the saved one {state['size']}")
        self.count = int(state["count"])
        saved = state.get("images")
        if saved is None or self.count == 0:
            self.images = None
            self.count = 0
            return
        self.images = saved.new_zeros((self.size, *saved.shape[1:]))
        self.images[:self.count] = saved

    def to(self, device) -> "ImagePool":
        if self.images is not None:
            self.images = self.images.to(device)
        return self


def make_optimizers(G, D, cfg: TrainConfig, device=None):
    fused = device is not None and torch.device(device).type == "cuda"
    if cfg.optimizer == "rmsprop":
        return (torch.optim.RMSprop(G.parameters(), lr=cfg.lr_g),
                torch.optim.RMSprop(D.parameters(), lr=cfg.lr_d))
    kw = {"fused": True} if fused else {}
    return (torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas_g, **kw),
            torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas_d, **kw))


def generate(G, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
    """G(z), or G(z, y) for a class-conditional generator (``y``: one class label per code, notebook 09)."""
    return G(z) if y is None else G(z, y)


def check_setup(G, D, real: torch.Tensor, cfg: TrainConfig, labels: Optional[torch.Tensor] = None) -> None:
    """One-off checks for the classic set-up bugs (notebook 05), each with a clear message; for a
    class-conditional G and D (notebook 09) also the first batch's ``labels``."""
    spec = LOSSES[cfg.loss]
    _check_classes(G, D, real, cfg, labels)
    if spec.g_features:
        if getattr(bare_module(D), "num_classes", None) is not None:
            raise ConfigError("loss='feature-matching' is for unconditional GANs here (the class-conditional "
                              "discriminators' features do not see the label); use bce-ns for a conditional GAN")
        _features_of(D)                                    # D must expose features(): a clear error otherwise
    if spec.penalty is not None and has_batchnorm(D):
        raise ConfigError(f"{cfg.loss} with a BatchNorm critic: BatchNorm mixes the samples of a batch, so the "
                          "per-sample gradient penalty is wrong. Build the critic with norm='layer', "
                          "'none' or 'spectral'.")
    if cfg.r1_gamma > 0 and has_batchnorm(D):
        raise ConfigError("r1_gamma > 0 with a BatchNorm discriminator: BatchNorm mixes the samples of a batch, so "
                          "D's gradient with respect to one real image depends on the others and R1 is no longer a "
                          "per-sample penalty. Build D with norm='none', 'layer' or 'spectral'.")
    if spec.needs_spectral_norm and not has_spectral_norm(D):
        raise ConfigError(f"{cfg.loss} has no clipping and no penalty: only spectrally normalised layers keep the "
                          "critic Lipschitz, and this critic has none, so its scores would grow without bound. "
                          "Build it with norm='spectral' (DCGANDiscriminator) or spectral=True (MLPDiscriminator), "
                          "or use wgan-gp / wgan-clip.")
    latent = getattr(G, "latent_dim", cfg.latent_dim)
    if latent != cfg.latent_dim:
        raise ConfigError(f"TrainConfig.latent_dim={cfg.latent_dim} but the generator takes {latent}")
    if real.dim() == 4:
        lo, hi = float(real.min()), float(real.max())
        if lo >= 0.0 and hi <= 1.0:
            raise ConfigError(f"Real images are in [{lo:.3g}, {hi:.3g}] but the generator's tanh outputs "
                              "[-1, 1]: D can easily tell real from fake by their range. Scale with x * 2 - 1 "
                              "(gan_utils.data.load_dataset already returns [-1, 1]).")
    # a probe forward pass; forked random state: a G with noise inputs (notebook 12) would otherwise draw from the
    # stream the run continues with, and a resumed run (which checks again) would not continue bit-exactly
    with torch.no_grad(), eval_mode(G), torch.random.fork_rng(devices=[real.device] if real.device.type == "cuda" else []):
        n = 2 if labels is None else min(2, len(labels))
        fake = generate(G, torch.zeros(n, cfg.latent_dim, device=real.device), None if labels is None else labels[:n])
    if tuple(fake.shape[1:]) != tuple(real.shape[1:]):
        raise ConfigError(f"The generator makes {tuple(fake.shape[1:])} samples but the data is "
                          f"{tuple(real.shape[1:])}: build G and D for the data's channels and image size.")


def _check_classes(G, D, real, cfg: TrainConfig, labels) -> None:
    """A class-conditional G and D (notebook 09): the same classes, labelled data, labels in range
    (checked here, once, on the first batch: the models check every batch on the CPU, not on a GPU)."""
    k_g, k_d = getattr(G, "num_classes", None), getattr(D, "num_classes", None)
    if k_g != k_d:
        raise ConfigError(f"G has num_classes={k_g} but D has num_classes={k_d}: build both class-conditional with "
                          "the same number of classes, or neither")
    acgan_d = getattr(D, "conditioning", None) == "acgan"
    if acgan_d != (cfg.loss == "acgan"):
        raise ConfigError("loss='acgan' goes with the AC-GAN discriminator (DCGANDiscriminator(num_classes=K, "
                          f"conditioning='acgan')) and only with it; here loss={cfg.loss!r} and D's conditioning is "
                          f"{getattr(D, 'conditioning', None)!r}")
    if k_g is None:
        return
    if labels is None:
        raise ConfigError(f"G and D are class-conditional (num_classes={k_g}) but the data yields images without "
                          "labels: use InMemoryLoader(dataset, batch_size, with_labels=True) (CLI: --conditional)")
    try:
        check_labels(labels, k_g, real.shape[0], "the data's labels")
    except ValueError as e:
        raise ConfigError(f"{e} (build G and D with num_classes = the number of classes in the data)") from None


# ----------------------------------------------------------------------------- bookkeeping
class _Bookkeeper:
    """Everything a training step leaves behind: the log (flushed with one host sync every
    ``log_every`` steps, NaN guard included), fixed-noise grids, checkpoints, the callback."""

    def __init__(self, cfg, G, D, ema, optimizers, device, out_dir, callback, par: Optional[Parallel] = None,
                 hist: Optional[dict] = None):
        self.cfg, self.G, self.D, self.ema, self.opts = cfg, G, D, ema, optimizers
        self.hist = hist                                        # historical averages {"G", "D"} (notebook 14) or None
        self.device, self.callback = device, callback
        self.par = par if par is not None else Parallel(device)   # torchrun: rank 0 writes, the others follow
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.history: dict = {}
        self.samples: list = []
        # one host sync per flush, NaN guard; torchrun: the global batch's values, on every rank
        self.log = ScalarLog(self.history, reduce=self.par.mean, last_good=self._last_good,
                             items_per_step=cfg.batch_size * cfg.n_critic, rate_name="images_per_s")
        gen = torch.Generator().manual_seed(cfg.seed)
        self.fixed_z = torch.randn(cfg.n_samples, cfg.latent_dim, generator=gen).to(device)
        self.t0 = time.perf_counter()
        self._lock = None

    def __enter__(self):
        if self.out_dir is not None:                            # under torchrun on rank 0 only (None elsewhere)
            self._lock = on_main(self._open_folder)
        return self

    def _open_folder(self):
        ensure_writable_dir(self.out_dir, "run folder")
        lock = RunLock(self.out_dir).__enter__()                # one writer per run folder
        remove_stale_temp_files(self.out_dir, LATEST)           # left by a writer killed mid-save
        return lock

    def __exit__(self, *exc):
        if self._lock is not None:
            self._lock.__exit__(*exc)

    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def resume(self, data) -> int:
        """Continue from ``out_dir/checkpoint_latest.pt`` if there is one; the step it was at."""
        if self.out_dir is None:
            raise ConfigError("resume=True needs out_dir (where checkpoint_latest.pt lives)")
        path = self.out_dir / LATEST
        where = "cpu" if self.par.active else self.device      # torchrun: rank 0 reads it, every rank gets it
        ck = on_main(lambda: load_checkpoint(path, map_location=where) if path.exists() else None, share=True)
        if ck is None:
            return 0
        check_resumable(ck, self.G, self.D, self.cfg, data, path)
        got = restore_training(ck, G=self.G, D=self.D, ema=self.ema, opt_g=self.opts[0], opt_d=self.opts[1],
                               loader=data, device=self.device, hist=self.hist)
        self.fixed_z = got["fixed_noise"]
        self.history.clear()
        self.history.update(got["history"])                     # the log writes into this same dict
        return got["step"]

    def end_of_step(self, step: int, scalars: dict, fp, bar=None, stop: bool = False) -> None:
        cfg = self.cfg
        self.log.append(scalars)
        last = step == cfg.steps
        ckpt = self.out_dir is not None and (last or (cfg.ckpt_every and step % cfg.ckpt_every == 0))
        grid = last or (cfg.sample_every and step % cfg.sample_every == 0)
        if last or ckpt or step % cfg.log_every == 0:
            stop = self.flush(step, stop)                 # NaN check, before any save; torchrun: ranks agree on stop
        elif self.par.active:
            stop = False                                  # torchrun: a stop waits for the next flush (same step on all)
        if grid:
            self.sample_grid(step)
        if ckpt:
            self.save(step, fp)
        if self.callback is not None and self.par.is_main and (step % cfg.log_every == 0 or last or grid):
            with fp.caller_layout():                      # the callback sees G, D, G_ema in the caller's layout
                self.callback({"step": step, "history": self.history, "samples": self.samples,
                               "G_ema": self.ema.model if self.ema is not None else self.G})
        if bar is not None and step % cfg.log_every == 0:
            bar.set_postfix(loss_D=f"{self.history['loss_D'][-1]:.3f}", loss_G=f"{self.history['loss_G'][-1]:.3f}")
        if stop and not last:                             # Ctrl-C / SIGTERM: keep this whole step, then stop
            self.flush(step)
            path = None
            if self.out_dir is not None:
                self.save(step, fp)
                path = self.out_dir / LATEST
            if bar is not None:
                bar.close()
            raise TrainingInterrupted(step, path)

    def _last_good(self) -> str:
        path = self.out_dir / LATEST if self.out_dir is not None else None
        return str(path) if path is not None and path.exists() else "none saved"

    def flush(self, step: int, stop: bool = False) -> bool:
        """Move the buffered scalars to the history (and check them); returns ``stop``, under torchrun
        True when any rank asked to stop."""
        return self.log.flush(step, stop)

    def sample_grid(self, step: int) -> None:
        on_main(self._draw_grid, step)                    # torchrun: rank 0 draws and writes, the others wait

    def _draw_grid(self, step: int) -> None:
        imgs = sample(self.ema.model if self.ema is not None else self.G, z=self.fixed_z).contiguous()
        self.samples.append((step, imgs))
        if self.out_dir is not None and imgs.dim() == 4:
            from torchvision.utils import save_image

            atomic_write(self.out_dir / f"samples_{step:06d}.png",
                         lambda f: save_image(imgs, f, format="png", nrow=int(math.sqrt(len(imgs))) or 8,
                                              normalize=True, value_range=(-1, 1)))

    def save(self, step: int, fp) -> None:
        if not all_finite(self.G, self.D, self.ema.model if self.ema is not None else None):
            raise NonFiniteLossError(f"a weight of G, D or the EMA generator is NaN or inf at step {step} (the losses "
                                     f"were still finite); nothing was saved. Last good checkpoint: {self._last_good()}. "
                                     "Lower the learning rates or check the data range.")
        on_main(lambda: save_checkpoint(training_state(  # torchrun: rank 0 writes, the others wait
            step=step, cfg=self.cfg, G=self.G, D=self.D, ema=self.ema, opt_g=self.opts[0], opt_d=self.opts[1],
            fixed_noise=self.fixed_z, history=self.history, loader=fp.data, device=self.device, hist=self.hist),
            self.out_dir / LATEST))

    def write_history(self) -> None:
        if self.out_dir is not None:
            on_main(atomic_write, self.out_dir / "history.json", json.dumps(self.history))


# ----------------------------------------------------------------------------- the loop
def train(G: nn.Module, D: nn.Module, data, cfg: TrainConfig, *, device=None, out_dir=None,
          resume: bool = False, callback: Optional[Callable[[dict], None]] = None,
          progress: bool = True, optimizers=None) -> TrainResult:
    """Train ``G`` against ``D`` on ``data`` (an :class:`~gan_utils.data.InMemoryLoader` or any
    endless iterable of batches in [-1, 1]) until generator step ``cfg.steps``.

    With ``out_dir``: checkpoints (``checkpoint_latest.pt``, every ``ckpt_every`` steps, at the end
    and when Ctrl-C / SIGTERM stops the run after a whole step), ``history.json`` and
    ``samples_XXXXXX.png`` grids; one writer per folder (a second is refused). ``resume=True``
    continues from ``out_dir/checkpoint_latest.pt`` (bit-exact on CPU). ``callback(info)`` is called
    after every log flush with ``info = {"step", "history", "samples", "G_ema"}`` (live plots).
    ``cfg.fast`` (default: auto) turns on the fast path of :mod:`gan_utils.fast`; G, D, their
    optimisers and ``data`` are left in their original memory layout and device when it returns.

    Under ``torchrun`` (:mod:`gan_utils.distributed`): G and D train in DistributedDataParallel,
    ``cfg.batch_size`` is the global batch (each process gets its part of ``data``), rank 0 alone
    writes and calls ``callback``, and every rank resumes from rank 0's checkpoint.
    """
    from tqdm.auto import tqdm

    from .fast import fast_path

    device = torch.device(device) if device is not None else next(G.parameters()).device
    par = Parallel(device, cfg.sync_batchnorm)  # torchrun: the ranks of gan_utils.distributed; one process: nothing
    G.to(device).train()
    D.to(device).train()
    par.same_start(G, D)                       # torchrun: rank 0's weights everywhere, before the EMA copies G
    opt_g, opt_d = optimizers or make_optimizers(G, D, cfg, device)
    ema = EMA(G, cfg.ema_decay) if cfg.ema_decay > 0 else None
    # historical averaging (notebook 14): the running mean of each player's parameters, checkpointed with them
    hist = {"G": HistoricalAverage(G), "D": HistoricalAverage(D)} if cfg.hist_avg_weight > 0 else None
    hist_g, hist_d = (hist["G"], hist["D"]) if hist else (None, None)
    reuse = cfg.n_critic == 1                  # the G step reuses the D step's fake batch (and its graph)
    new_z = par.noise(cfg.latent_dim)          # z ~ N(0, I) for a batch (torchrun: this rank's rows of the global z)
    data = par.shard(data)                     # torchrun: this rank's part of every global batch
    progress = progress and par.is_main

    with _Bookkeeper(cfg, G, D, ema, (opt_g, opt_d), device, out_dir, callback, par, hist) as book:  # lock, resume, logs
        start = book.resume(data) if resume else 0
        with fast_path(cfg, G, D, ema and ema.model, (opt_g, opt_d), data, device, cfg.steps - start) as fp, \
                par, StopRequest() as stop:
            Gf, Df, batches = fp.G, fp.D, fp.batches       # G and D as the fast path runs them
            if start < cfg.steps:                           # set-up checks and compilation on the first batch
                first = next(batches)                       # (images, labels): labels None unless conditional
                check_setup(G, D, first[0], cfg, labels=first[1])
                fp.warm_up(first[0])
                batches = itertools.chain([first], batches)
            Gf, Df = par.wrap(Gf, Df)                       # torchrun: DistributedDataParallel (one process: as is)
            for step in (bar := tqdm(range(start, cfg.steps), initial=start, total=cfg.steps,
                                     desc=f"train {cfg.loss}", disable=not progress, dynamic_ncols=True)):
                # (1) Update D: n_critic steps, each on a real batch and a detached fake batch
                skips = []                                 # fp16: the critic steps the GradScaler skipped
                for k in range(cfg.n_critic):
                    real, y = next(batches)                # y: the batch's class labels (conditional GAN), else None
                    with torch.set_grad_enabled(reuse):
                        fake = generate(Gf, new_z(real), y)  # G(z) or G(z, y); its graph kept if the G step reuses it
                    d_out = d_step(Df, real, fake, opt_d, cfg, scaler=fp.scaler_d, d_iter=step * cfg.n_critic + k, y=y,
                                   hist=hist_d)
                    skips += [d_out["skipped_D"]] if "skipped_D" in d_out else []
                if skips:
                    d_out["skipped_D"] = torch.stack(skips).sum()   # of this step's n_critic D updates
                # (2) Update G: through a frozen D (feature matching compares D's features of `real` and the fakes)
                if not reuse:
                    fake = generate(Gf, new_z(real), y)
                g_out = g_step(Df, fake, opt_g, cfg, G, scaler=fp.scaler_g, y=y, real=real, hist=hist_g)
                if ema is not None:
                    ema.update(G)
                book.end_of_step(step + 1, {**d_out, **g_out}, fp, bar, stop.requested)  # logs, grids, checkpoints
            bar.close()
        book.write_history()
    return TrainResult(G=G, D=D, G_ema=ema.model if ema is not None else None, config=cfg, history=book.history,
                       samples=book.samples, seconds=book.seconds(), out_dir=book.out_dir, fast=fp.info)
