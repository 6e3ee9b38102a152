"""Checks for the exercises of notebooks/04_dcgan.ipynb (references in :mod:`torch.nn`,
:mod:`gan_utils.lessons.latent` and :class:`gan_utils.train.EMA`; solutions in solutions/04_dcgan.py).
Exercise 4 is open: it has no reference function, only a measured target (``check_lr_pair``).

Each ``check_*`` compares what the learner's function *returns or does* with the reference on
seeded random inputs: it prints "not attempted yet" and returns ``False`` while the stub still raises
``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and prints
a confirmation and returns ``True`` on a right one.
"""
from __future__ import annotations

import copy
import math
import warnings

import torch
import torch.nn as nn

from ..lessons import latent
from ._common import _NotAttempted, _call, _fail, _not_attempted

__all__ = ["check_conv_output_size", "check_slerp", "check_ema_update", "check_lr_pair", "lr_pair_fd",
           "LR_PAIR_BUDGET", "LR_PAIR_TARGET"]


# ---------------------------------------------------------------- exercise 1: output sizes
def _true_size(size, kernel, stride, padding, transposed) -> int:
    """The output side length PyTorch actually produces (by running the layer on zeros)."""
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    layer = cls(1, 1, kernel, stride, padding, bias=False)
    with torch.no_grad():
        return int(layer(torch.zeros(1, 1, size, size)).shape[-1])


def check_conv_output_size(fn) -> bool:
    """``fn(size, kernel, stride, padding, transposed)`` must return the side length of the output
    of ``nn.Conv2d`` (``transposed=False``) or ``nn.ConvTranspose2d`` (``transposed=True``) on a
    ``size x size`` input (dilation 1, output_padding 0)."""
    name = "conv_output_size"
    cases = [(32, 4, 2, 1), (16, 4, 2, 1), (4, 4, 1, 0), (1, 4, 1, 0), (8, 4, 2, 1), (28, 3, 1, 1),
             (28, 5, 2, 2), (7, 3, 2, 0), (15, 4, 2, 1), (9, 3, 3, 1), (1, 7, 1, 0), (5, 5, 2, 1)]
    n_checked = 0
    try:
        for size, k, s, p in cases:
            for transposed in (False, True):
                if not transposed and size + 2 * p < k:
                    continue                                # the window does not fit: Conv2d refuses
                got = _call(fn, size, k, s, p, transposed)
                want = _true_size(size, k, s, p, transposed)
                if isinstance(got, float) and got.is_integer():
                    got = int(got)
                args = f"{name}(size={size}, kernel={k}, stride={s}, padding={p}, transposed={transposed})"
                if not transposed and got == (size + 2 * p - k) / s + 1 and got != want:
                    _fail(f"{args} = {got}: the division must round down (//): a window that does not fit is dropped.")
                if not isinstance(got, int) or isinstance(got, bool):
                    _fail(f"{name} should return an int, got {got!r} (use // for the integer division)")
                if got == want:
                    n_checked += 1
                    continue
                kind = "ConvTranspose2d" if transposed else "Conv2d"
                conv_f, tconv_f = (size + 2 * p - k) // s + 1, (size - 1) * s - 2 * p + k
                if got == (conv_f if transposed else tconv_f):
                    _fail(f"{args} = {got}: that is the formula of the other layer. A {kind} "
                          f"{'grows' if transposed else 'shrinks'} the image; check which formula goes with transposed.")
                _fail(f"{args} = {got}, expected {want} (what {kind} actually outputs). "
                      "Conv: floor((size + 2*padding - kernel) / stride) + 1; "
                      "transposed: (size - 1) * stride - 2*padding + kernel.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches nn.Conv2d and nn.ConvTranspose2d on {n_checked} layer configurations.")
    return True


# ---------------------------------------------------------------- exercise 2: slerp
def check_slerp(fn, n_trials: int = 10, seed: int = 0) -> bool:
    """``fn(z0, z1, t)`` for two 1-D tensors and a float ``t`` in [0, 1] must return the spherical
    interpolation (a 1-D tensor like ``z0``), the straight line where the codes are parallel."""
    name = "slerp"
    g = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(n_trials):
        d = int(torch.randint(2, 129, (1,), generator=g))
        z0 = torch.randn(d, generator=g, dtype=torch.float64)
        z1 = torch.randn(d, generator=g, dtype=torch.float64) * float(torch.rand(1, generator=g) * 2 + 0.5)
        pairs.append((z0, z1, "random"))
    z = torch.randn(100, generator=g, dtype=torch.float64)
    pairs.append((z, 2.0 * z, "parallel"))           # same direction: the arc is the straight line
    try:
        for z0, z1, kind in pairs:
            for t in (0.0, 0.25, 0.5, 0.8, 1.0):
                out = _call(fn, z0.clone(), z1.clone(), t)
                if not isinstance(out, torch.Tensor):
                    _fail(f"{name} should return a torch tensor, got {type(out).__name__}")
                if out.shape != z0.shape:
                    _fail(f"{name} returned shape {tuple(out.shape)}, expected {tuple(z0.shape)}")
                got = out.detach().to(torch.float64)
                want = latent.slerp(z0, z1, t)
                if torch.allclose(got, want, rtol=1e-5, atol=1e-6):
                    continue
                if not torch.isfinite(got).all():
                    _fail(f"{name}: got nan/inf for {kind} codes at t={t}. When sin(omega) ~ 0 (parallel "
                          "codes) the formula is 0/0; return the straight line (1 - t) z0 + t z1 there.")
                if torch.allclose(got, latent.lerp(z0, z1, t), rtol=1e-5, atol=1e-6):
                    _fail(f"{name}: that is the linear interpolation (1 - t) z0 + t z1. At t={t} its norm is "
                          f"{got.norm():.3f} but the arc's is {want.norm():.3f}: slerp follows the great circle.")
                if torch.allclose(got, latent.slerp(z0, z1, 1 - t), rtol=1e-5, atol=1e-6):
                    _fail(f"{name}: t runs backwards: t = 0 must give z0 and t = 1 must give z1.")
                _fail(f"{name}: wrong result for {kind} codes (d={z0.numel()}) at t={t}: max error "
                      f"{(got - want).abs().max():.3g}. omega = arccos(<z0, z1> / (|z0| |z1|)), then "
                      "sin((1 - t) omega) / sin(omega) * z0 + sin(t omega) / sin(omega) * z1.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches gan_utils.lessons.latent.slerp on {len(pairs)} pairs x 5 positions (parallel codes included).")
    return True


# ---------------------------------------------------------------- exercise 3: the EMA update
def _ema_case(seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.ReLU(), nn.Linear(7, 3))
        ema = copy.deepcopy(model)
    return model, ema


def _move(model: nn.Module, seed: int) -> None:
    """One 'training step': the weights and the BatchNorm running statistics move."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for p in model.parameters():
            p.add_(torch.randn_like(p))
        model.train()
        model(torch.randn(32, 5) * 3 + 1)


def _warmup(decay: float, t: int) -> float:
    return min(decay, (1 + t) / (10 + t))


#: the updates t the check visits (it jumps to the large ones by setting the reference's counter)
_EMA_STEPS = (1, 2, 3, 10, 100, 1000, 8989, 8990, 20_000)


def check_ema_update(fn, seed: int = 0) -> bool:
    """``fn(ema_model, model, decay, t)`` must do the t-th update (t = 1, 2, ...) of
    :class:`gan_utils.train.EMA` **in place**: every parameter e <- d_t e + (1 - d_t) p with the
    warmed-up decay d_t = min(decay, (1 + t) / (10 + t)), every buffer (BatchNorm running
    statistics) copied from ``model``; ``model`` itself must not change. The check runs the
    reference class side by side with ``fn`` over a sequence of updates."""
    from ..train import EMA

    name = "ema_update"
    try:
        for decay in (0.999, 0.9):
            model, ema = _ema_case(seed)
            ref = EMA(model, decay)
            for k, t in enumerate(_EMA_STEPS):
                _move(model, seed + 100 * k)
                ref.updates = t - 1                             # the reference's next update is the t-th
                ref.update(model)
                before_model = [x.clone() for x in list(model.parameters()) + list(model.buffers())]
                ema_before = [p.detach().clone() for p in ema.parameters()]
                try:
                    out = _call(fn, ema, model, decay, t)
                except RuntimeError as e:
                    if "in-place" in str(e):
                        _fail(f"{name}: PyTorch refused an in-place update of a parameter that requires grad ({e}). "
                              "Wrap the update in `with torch.no_grad():` (or decorate the function with @torch.no_grad()).")
                    raise
                if out is not None and out is not ema and isinstance(out, nn.Module):
                    _fail(f"{name}: return nothing and update ema_model in place; your function built a new "
                          "model, so the EMA the training loop keeps never changes.")
                after_model = list(model.parameters()) + list(model.buffers())
                if any(not torch.equal(a, b) for a, b in zip(before_model, after_model)):
                    _fail(f"{name}: the trained model changed. Only ema_model is updated; model is read.")
                d_t = _warmup(decay, t)
                for (pname, e), p, e0 in zip(ema.named_parameters(), model.parameters(), ema_before):
                    want = d_t * e0 + (1 - d_t) * p.detach()
                    if torch.allclose(e, want, rtol=1e-5, atol=1e-6):
                        continue
                    if torch.equal(e, e0):
                        _fail(f"{name}: parameter {pname} of ema_model did not change: update it in place "
                              "(e.mul_(d).add_(p, alpha=1 - d) or torch.lerp, under torch.no_grad()).")
                    if torch.allclose(e, decay * e0 + (1 - decay) * p.detach(), rtol=1e-5, atol=1e-6):
                        _fail(f"{name}: at update t={t} you used decay={decay}, but train's EMA warms up: it uses "
                              f"d_t = min(decay, (1 + t) / (10 + t)) = {d_t:.4f} there (notebook 04, section 4).")
                    if torch.allclose(e, (1 - d_t) * e0 + d_t * p.detach(), rtol=1e-5, atol=1e-6):
                        _fail(f"{name}: d_t and 1 - d_t are swapped: the average keeps d_t ({d_t:.4f}) of its old "
                              "value and takes 1 - d_t of the new weights.")
                    uncapped = (1 + t) / (10 + t)
                    if torch.allclose(e, uncapped * e0 + (1 - uncapped) * p.detach(), rtol=1e-5, atol=1e-6):
                        _fail(f"{name}: at t={t} the warm-up (1 + t) / (10 + t) = {uncapped:.5f} exceeds decay={decay}: "
                              "take the minimum of the two.")
                    _fail(f"{name}: parameter {pname} is wrong after update t={t} (decay={decay}). Expected "
                          f"d_t * e + (1 - d_t) * p with d_t = min(decay, (1 + t) / (10 + t)) = {d_t:.5f}.")
                for (bname, be), b in zip(ema.named_buffers(), model.buffers()):
                    if not torch.equal(be, b):
                        _fail(f"{name}: buffer {bname} differs from the model's. Buffers such as BatchNorm's "
                              "running_mean/var are statistics, not weights: copy them (be.copy_(b)).")
                if not all(torch.allclose(a, b, rtol=1e-5, atol=1e-6)
                           for a, b in zip(ema.parameters(), ref.model.parameters())):
                    _fail(f"{name}: after update t={t} your average differs from gan_utils.train.EMA's.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches gan_utils.train.EMA (warm-up, cap at decay, buffers copied, in place) "
          f"at updates t = {', '.join(map(str, _EMA_STEPS))}, for 2 decays.")
    return True


# ---------------------------------------------------------------- exercise 4: a learning-rate pair that measures up
#: the budget of exercise 4 in the default mode, and in smoke mode (CI): (width, steps, batch, FD samples)
LR_PAIR_BUDGET = {"full": dict(width=16, steps=500, batch=64, n=2048), "smoke": dict(width=8, steps=20, batch=32, n=500)}
#: the target: FD-classifier of the EMA generator after the full budget
LR_PAIR_TARGET = 35.0


def lr_pair_fd(lr_g: float, lr_d: float, smoke: bool = False, seed: int = 0, device=None) -> float:
    """Train notebook 04's DCGAN (``LR_PAIR_BUDGET``: width 16, 500 steps of batch 64 in the default
    mode) with Adam at ``lr_g`` / ``lr_d``, betas (0.5, 0.999), everything else as ``TrainConfig``,
    from ``seed``, and return the FD-classifier of its EMA generator (``n`` samples against the 10 000
    Fashion-MNIST test images). The global random state is restored afterwards."""
    from .. import runtime
    from ..data import InMemoryLoader, load_dataset
    from ..metrics import ClassifierFeatures, fid
    from ..models import DCGANDiscriminator, DCGANGenerator
    from ..train import TrainConfig, train

    b = LR_PAIR_BUDGET["smoke" if smoke else "full"]
    device = device if device is not None else runtime.get_device()
    data = load_dataset("fashion-mnist", image_size=32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = DCGANGenerator(100, channels=1, image_size=32, width=b["width"])
        D = DCGANDiscriminator(channels=1, image_size=32, width=b["width"])
        cfg = TrainConfig(steps=b["steps"], batch_size=b["batch"], lr_g=float(lr_g), lr_d=float(lr_d),
                          sample_every=0, log_every=min(50, b["steps"]), seed=seed)
        result = train(G, D, InMemoryLoader(data, batch_size=b["batch"], device=device, seed=seed), cfg, device=device)
        clf = ClassifierFeatures("fashion-mnist", device=device)
        with warnings.catch_warnings():                      # smoke mode's n is below the extractor's minimum
            warnings.simplefilter("ignore")
            return float(fid(result.generator, features=clf, n=b["n"], split="test", device=device, seed=seed).value)


def check_lr_pair(fn, smoke=None, seed: int = 0) -> bool:
    """``fn()`` must return a pair ``(lr_g, lr_d)`` of Adam learning rates with which notebook 04's
    DCGAN, trained for the budget ``LR_PAIR_BUDGET["full"]`` (width 16, 500 generator steps, batch
    64, betas (0.5, 0.999), seed 0), reaches an FD-classifier of its EMA generator below
    ``LR_PAIR_TARGET`` (2048 samples against the 10 000 test images).

    ``smoke`` (default: ``gan_utils.SMOKE``): in smoke mode (CI) the check trains a width-8 model for
    20 steps and checks only that the pair is usable (two positive, finite learning rates that train
    without a NaN); the target itself is checked in the default mode, where the run takes about a
    minute on a 2-core CPU.
    """
    from .. import runtime

    name = "lr_pair"
    smoke = runtime.SMOKE if smoke is None else bool(smoke)
    try:
        out = _call(fn)
    except _NotAttempted:
        return _not_attempted(name)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        _fail(f"{name} should return a pair (lr_g, lr_d), got {out!r}")
    try:
        lr_g, lr_d = (float(v) for v in out)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should return two numbers (lr_g, lr_d), got {out!r}") from None
    for label, lr in (("lr_g", lr_g), ("lr_d", lr_d)):
        if not math.isfinite(lr) or lr <= 0:
            _fail(f"{name}: {label} = {lr!r}; a learning rate must be a positive number.")
        if lr > 0.1:
            _fail(f"{name}: {label} = {lr:g} is far beyond anything Adam trains a GAN with (the DCGAN paper found "
                  "1e-3 already unstable over long runs); try values between 1e-4 and 2e-3.")
    b = LR_PAIR_BUDGET["smoke" if smoke else "full"]
    from ..train import NonFiniteLossError

    try:
        fd = lr_pair_fd(lr_g, lr_d, smoke=smoke, seed=seed)
    except NonFiniteLossError as e:                                 # train()'s NaN guard
        _fail(f"{name}: training with lr_g={lr_g:g}, lr_d={lr_d:g} diverged ({e}). Lower the learning rates.")
    if not math.isfinite(fd):
        _fail(f"{name}: the FD-classifier after training is {fd}: the run diverged. Lower the learning rates.")
    if smoke:
        print(f"{name}: smoke mode: (lr_g, lr_d) = ({lr_g:g}, {lr_d:g}) trains ({b['steps']} steps at width "
              f"{b['width']}: FD-classifier {fd:.1f}). The target, FD < {LR_PAIR_TARGET:g} after {LR_PAIR_BUDGET['full']['steps']} "
              "steps, is checked only in the default mode.")
        return True
    if fd >= LR_PAIR_TARGET:
        _fail(f"{name}: with lr_g={lr_g:g}, lr_d={lr_d:g} the EMA generator reached FD-classifier {fd:.1f} after "
              f"{b['steps']} steps; the target is below {LR_PAIR_TARGET:g}. With a budget this short, ask which "
              "player learns too slowly, and whether a larger step is still stable.")
    print(f"{name}: (lr_g, lr_d) = ({lr_g:g}, {lr_d:g}) reaches FD-classifier {fd:.1f} < {LR_PAIR_TARGET:g} "
          f"after {b['steps']} steps (width {b['width']}, batch {b['batch']}).")
    return True
