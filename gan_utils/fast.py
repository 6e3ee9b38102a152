"""The fast path of :func:`gan_utils.train.train` (``TrainConfig.fast``), one context manager:

    with fast_path(cfg, G, D, ema_model, (opt_g, opt_d), data, device, remaining_steps) as fp:
        real, y = next(fp.batches)         # on the device, in the plan's memory layout (y: labels or None)
        fp.warm_up(real)                   # compile (if planned) and check against eager
        d_step(fp.D, ..., scaler=fp.scaler_d); g_step(fp.D, fp.G(z), ..., scaler=fp.scaler_g)
    # on exit: models, optimiser state and the caller's loader are as they were given

Used by every ``train`` call from notebook 03 on; it changes how fast a step runs, never what is
trained (tests/test_fast_path.py). What it may switch on, and where (measurements and their
hardware: ``benchmarks/RESULTS.md``):

============================  ==============================  =======================================
what                          where                           why it is safe
============================  ==============================  =======================================
data on the device            CUDA, ``InMemoryLoader``         same batches in the same order (the
                                                              permutation is drawn on the CPU)
``channels_last`` (NHWC)      conv nets on CUDA; on the CPU    a layout change: same maths, another
                              from 16 channels per layer up    summation order (fp32 round-off only)
bf16 autocast of G/D          CUDA GPUs with native bf16       losses, BCE and the penalty norm stay in
                              (sm_80+)                         float32 (scores are cast ``.float()``)
fp16 autocast + GradScaler    older CUDA GPUs (a T4, sm_75)    one scaler per optimiser; the gradient
                                                              penalty unscales its inner gradient
``torch.compile`` of G and D  CUDA with native bf16, runs of   compiled on a throw-away step whose state
                              >= COMPILE_MIN_STEPS remaining;  is restored, its outputs compared with
                              not wgan-gp, not spectral norm   eager ones; any failure: eager, warned
``cudnn.benchmark``           CUDA                             picks the fastest conv algorithm; reset
                                                              when ``train()`` returns
============================  ==============================  =======================================

Never compiled: the WGAN-GP gradient penalty (a double backward, where ``torch.compile`` has had
silent-correctness bugs, pytorch/pytorch#91469, and which AOTAutograd refuses: "does not currently
support double backward"), spectral-normalised models (parametrizations with in-place power
iterations), and GPUs without native bf16 (compile time would not pay back there). No CUDA graphs
(``mode="reduce-overhead"``): the loop keeps each step's loss tensors until the log flush, and a
graph replay would overwrite them. ``TrainConfig.precision = "fp32"`` forces float32 anywhere.
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from dataclasses import asdict, dataclass
from typing import Optional, Union

import torch
import torch.nn as nn


@dataclass(frozen=True)
class FastPlan:
    """What the fast path does in one run; ``TrainResult.fast`` holds it as a dict."""
    channels_last: bool = False
    autocast_dtype: Optional[str] = None          # "bfloat16", "float16" or None (float32)
    grad_scaler: bool = False                     # fp16: scale the losses (torch.amp.GradScaler)
    compile: Union[bool, str] = False             # False, True (inductor) or a torch.compile backend name
    device_data: bool = False                     # move an InMemoryLoader to the training device
    cudnn_benchmark: bool = False
    notes: tuple = ()                             # why something is off

    @property
    def dtype(self) -> Optional[torch.dtype]:
        return getattr(torch, self.autocast_dtype) if self.autocast_dtype else None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["notes"] = list(self.notes)
        return d


PLAIN = FastPlan()

#: On the CPU, oneDNN's NHWC convolutions win from 16 channels per layer up and lose below
#: (benchmarks/RESULTS.md, "Why channels_last on the CPU").
CPU_CHANNELS_LAST_MIN_WIDTH = 16

#: Auto compiles only when at least this many generator steps remain in the run: compiling G and D
#: costs tens of seconds once while saving ~1 ms of launch overhead per step on a fast GPU.
#: (An estimate from kernel counts; ``TrainConfig.compile=True`` compiles any run, False never.)
COMPILE_MIN_STEPS = 10_000

#: The GradScaler's first scale. torch's default, 2**16, overflows fp16 on a GAN's first steps (its
#: gradients are O(1)), and a skipped step is a lost step: on the small DCGAN of
#: tests/test_fast_path.py, 2**16 skipped the first D step, 2**10 skipped two WGAN-GP critic steps
#: (the penalty's inner gradient is scaled too, so its double backward sees the scale squared),
#: 2**8 none. The scaler still grows it after 2000 steps without an overflow.
GRAD_SCALER_INIT = 2.0 ** 8

#: Largest relative difference (||compiled - eager|| / ||eager||) between compiled and eager outputs
#: on the warm-up step before the compiled models are refused: low-precision autocast reorders
#: roundings of ~1e-2; float32 kernels agree to ~1e-5.
COMPILE_TOLERANCE = {None: 1e-3, "bfloat16": 5e-2, "float16": 2e-2}


def _is_conv_net(m: nn.Module) -> bool:
    return any(isinstance(x, (nn.Conv2d, nn.ConvTranspose2d)) for x in m.modules())


def _narrowest_hidden_conv(m: nn.Module) -> int:
    """Fewest output channels of a hidden conv layer (the image and logit layers, <= 4 channels,
    are not counted); 0 when there is none."""
    widths = [x.out_channels for x in m.modules() if isinstance(x, (nn.Conv2d, nn.ConvTranspose2d))
              and x.out_channels > 4]
    return min(widths) if widths else 0


def _has_parametrizations(m: nn.Module) -> bool:
    return any(hasattr(x, "parametrizations") for x in m.modules())


#: The first torch release with the fix (pytorch#125697, merged May 2024) of pytorch#125544, "spectral_norm not
#: working with autocast" (a regression of 2.3.0): older ones run spectral-norm models in float32.
SPECTRAL_AUTOCAST_FIXED = (2, 4)


def _torch_version() -> tuple:
    import re

    m = re.match(r"(\d+)\.(\d+)", torch.__version__)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def native_bf16(device: torch.device) -> bool:
    """True on GPUs with bf16 tensor cores (Ampere, sm_80, and newer). A T4 (sm_75) only emulates
    bf16, slower than float32: it gets fp16 with a GradScaler instead."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(device)[0] >= 8


def auto_compile(device: torch.device, remaining_steps: int) -> bool:
    """Whether ``compile=None`` (auto) compiles: on a CUDA GPU with native bf16, when at least
    :data:`COMPILE_MIN_STEPS` generator steps remain in the run. Decided once per run (a chunked
    run, as in notebook 08, asks with the whole run's remaining steps, not a chunk's)."""
    return torch.device(device).type == "cuda" and native_bf16(torch.device(device)) \
        and remaining_steps >= COMPILE_MIN_STEPS


def resolve_plan(cfg, device: torch.device, G: nn.Module, D: nn.Module,
                 remaining_steps: Optional[int] = None) -> FastPlan:
    """The plan for this run. ``cfg.fast``: None = auto (every item that is safe on this device),
    True = the same, False = the plain eager loop. ``cfg.precision``: None = auto (bf16 on GPUs
    with native bf16, fp16 + GradScaler on older GPUs, float32 on the CPU), "fp32" = float32.
    ``cfg.compile``: None = auto (CUDA with native bf16 and >= ``COMPILE_MIN_STEPS`` steps still to
    run: ``remaining_steps``, default ``cfg.steps``), False = never, True = inductor, or a backend
    name (tests use ``"aot_eager"`` on the CPU); never for wgan-gp, spectral norm or a GPU without
    native bf16, whatever is asked."""
    if getattr(cfg, "fast", None) is False:
        return PLAIN
    if device.type not in ("cpu", "cuda"):  # e.g. Apple's mps: nothing here was measured there
        return FastPlan(notes=(f"no fast-path items for device type {device.type!r}",))
    cuda = device.type == "cuda"
    notes = []
    conv = _is_conv_net(G) and _is_conv_net(D)
    channels_last = conv
    if not conv:
        notes.append("channels_last, autocast: not a G and D of nn.Conv2d layers (MLPs, toys and the style models of "
                     "notebook 12 stay float32)")
    elif not cuda and min(_narrowest_hidden_conv(G), _narrowest_hidden_conv(D)) < CPU_CHANNELS_LAST_MIN_WIDTH:
        channels_last = False
        notes.append(f"channels_last: off on the CPU below {CPU_CHANNELS_LAST_MIN_WIDTH} channels per layer (slower there)")
    precision = getattr(cfg, "precision", None)
    dtype, scaler = None, False
    bf16 = native_bf16(device)
    if cuda and conv and precision != "fp32":
        if bf16:
            dtype = "bfloat16"
        else:
            dtype, scaler = "float16", True
            notes.append("precision: no native bf16 on this GPU, fp16 autocast with a GradScaler instead")
    elif precision == "fp32":
        notes.append("precision: float32 (TrainConfig.precision='fp32')")
    if dtype is not None and _torch_version() < SPECTRAL_AUTOCAST_FIXED and (
            _has_parametrizations(G) or _has_parametrizations(D)):
        dtype, scaler = None, False       # torch 2.3 crashes in spectral norm under CUDA autocast (pytorch#125544)
        notes.append(f"precision: float32, because spectral norm crashes under CUDA autocast before torch "
                     f"{'.'.join(map(str, SPECTRAL_AUTOCAST_FIXED))} (pytorch#125544, fixed by #125697); this is "
                     f"torch {torch.__version__}")
    want = getattr(cfg, "compile", None)
    remaining = cfg.steps if remaining_steps is None else remaining_steps
    compile_: Union[bool, str] = False
    if want is None:
        want = auto_compile(device, remaining)
        if cuda and not want:
            notes.append(f"compile: auto compiles only on GPUs with native bf16 and with >= {COMPILE_MIN_STEPS} "
                         f"steps to run ({remaining} here)")
    if want:
        if cfg.loss == "wgan-gp":
            notes.append("compile: never for wgan-gp (the penalty's double backward stays eager)")
        elif _has_parametrizations(G) or _has_parametrizations(D):
            notes.append("compile: not with spectral norm / parametrizations")
        elif getattr(G, "has_noise_inputs", False):
            notes.append("compile: not for a generator with noise inputs (its compiled and eager outputs, drawn with "
                         "different noise, cannot be compared)")
        elif getattr(G, "num_classes", None) is not None:
            notes.append("compile: not for class-conditional models (the warm-up step does not pass labels)")
        elif cuda and not bf16:
            notes.append("compile: not on a GPU without native bf16 (it would not pay back there)")
        elif not hasattr(torch, "compile"):
            notes.append("compile: torch.compile unavailable")
        else:
            compile_ = want if isinstance(want, str) else True
    return FastPlan(channels_last=channels_last, autocast_dtype=dtype, grad_scaler=scaler, compile=compile_,
                    device_data=cuda, cudnn_benchmark=cuda, notes=tuple(notes))


class FastModule(nn.Module):
    """Runs ``module`` (or its compiled form) in channels_last / under autocast.

    Parameters, ``requires_grad_``, ``train()``/``eval()`` all reach the wrapped module, so
    :func:`~gan_utils.train.d_step` and :func:`~gan_utils.train.g_step` take it as G or D. Its
    output may be bf16/fp16: the steps cast scores ``.float()`` before any loss.
    """

    def __init__(self, module: nn.Module, plan: FastPlan, device_type: str):
        super().__init__()
        self.module = module
        self.channels_last = plan.channels_last
        self.dtype = plan.dtype
        self.device_type = device_type
        object.__setattr__(self, "_run", module)  # not registered: parameters are listed once
        self.config = getattr(module, "config", {})

    def set_run(self, fn) -> None:
        object.__setattr__(self, "_run", fn)

    @property
    def compiled(self) -> bool:
        return self._run is not self.module

    def forward(self, x: torch.Tensor, *labels) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype is None:
            return self._call(x, *labels)
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self._call(x, *labels)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped model's ``features(x)`` (feature matching, notebook 14) in forward's layout and precision,
        eagerly (it is not the compiled graph; D is frozen when G's loss needs it)."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype is None:
            return self.module.features(x)
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.module.features(x)

    def _call(self, x, *labels):                 # labels: (y,) for a class-conditional model, else ()
        if self._run is self.module:
            return self.module(x, *labels)
        try:
            return self._run(x, *labels)
        except Exception as e:  # noqa: BLE001
            # A recompilation that fails later (a new batch shape, say) fails before anything runs,
            # so running this call eagerly is exact; any other error is re-raised.
            if not _is_compile_error(e):
                raise
            warnings.warn(f"torch.compile failed ({type(e).__name__}); this model continues in eager mode.",
                          RuntimeWarning)
            self.set_run(self.module)
            return self.module(x, *labels)


def _is_compile_error(e: BaseException) -> bool:
    try:
        from torch._dynamo.exc import TorchDynamoException
    except Exception:  # noqa: BLE001
        return False
    return isinstance(e, TorchDynamoException)


def set_memory_format(fmt, modules, optimizers=()) -> None:
    """Put the 4-D parameters (and their optimiser state, e.g. Adam's moments) of ``modules`` in
    ``fmt``, keeping parameter identity, so fused/foreach optimiser kernels see one layout."""
    for m in modules:
        if m is not None:
            m.to(memory_format=fmt)
    for opt in optimizers:
        for p, st in opt.state.items():
            for k, v in list(st.items()):
                if torch.is_tensor(v) and v.dim() == 4 and v.shape == p.shape:
                    st[k] = v.contiguous(memory_format=fmt)


def move_loader(data, device: torch.device):
    """A copy of an :class:`~gan_utils.data.InMemoryLoader` whose tensors live on ``device`` (when
    they fit in a quarter of the free GPU memory); ``data`` itself is unchanged. None if not moved."""
    from .data import InMemoryLoader

    if not isinstance(data, InMemoryLoader) or data.device == device or device.type != "cuda":
        return None
    need = data.images.numel() * data.images.element_size() + data.labels.numel() * 8
    try:
        free, _ = torch.cuda.mem_get_info(device)
    except Exception:  # noqa: BLE001
        return None
    if need > free // 4:
        return None
    moved = copy.copy(data)
    moved.device = device
    moved.images = data.images.to(device)
    moved.labels = data.labels.to(device)
    moved._perm = data._perm.to(device) if data._perm is not None else None
    return moved


def _rng_state(device):
    return (torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def _set_rng_state(state, device):
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def compile_models(G_run: FastModule, D_run: FastModule, real: torch.Tensor, cfg, plan: FastPlan,
                   device: torch.device) -> tuple:
    """Compile G and D (``torch.compile``), run one throw-away D step and G step on ``real``'s shapes
    (so every graph variant is compiled before the timed loop), and compare the compiled outputs
    with eager ones on the same inputs. Weights, BatchNorm statistics, gradients and RNG states are
    restored exactly afterwards. Returns ``(reason, max_rel_diff)``: reason is None on success, else
    why G and D run eagerly."""
    if cfg.loss == "wgan-gp":  # compiled graphs do not support the penalty's double backward
        return "never compiled for wgan-gp", None
    G, D = G_run.module, D_run.module
    backend = plan.compile if isinstance(plan.compile, str) else "inductor"
    saved = ({k: v.clone() for k, v in G.state_dict().items()},
             {k: v.clone() for k, v in D.state_dict().items()}, _rng_state(device))
    diff = None
    try:
        z = torch.randn(real.shape[0], cfg.latent_dim, device=device)
        with torch.no_grad():                       # eager references, same inputs
            eager_fake, eager_real_out = G_run(z), D_run(real)
        G_run.set_run(torch.compile(G, backend=backend))
        D_run.set_run(torch.compile(D, backend=backend))
        fake = G_run(z)
        real_out = D_run(real)
        (real_out.float().mean() - D_run(fake.detach()).float().mean()).backward()
        D.requires_grad_(False)
        try:
            D_run(fake).float().mean().backward()
        finally:
            D.requires_grad_(True)
        if cfg.n_critic != 1:
            with torch.no_grad():
                G_run(z)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        diff = max(_rel_diff(fake, eager_fake), _rel_diff(real_out, eager_real_out))
        tol = COMPILE_TOLERANCE.get(plan.autocast_dtype, 1e-3)
        if not diff <= tol:
            raise RuntimeError(f"compiled outputs differ from eager ones by {diff:.2e} (relative; tolerance {tol:g})")
        reason = None
    except Exception as e:  # noqa: BLE001 - any compiler failure or mismatch means: train eagerly
        G_run.set_run(G)
        D_run.set_run(D)
        reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        warnings.warn(f"torch.compile refused ({reason}); training continues in eager mode.", RuntimeWarning)
    finally:
        with torch.no_grad():
            G.load_state_dict(saved[0])
            D.load_state_dict(saved[1])
        for p in list(G.parameters()) + list(D.parameters()):
            p.grad = None
        _set_rng_state(saved[2], device)
    return reason, diff


class FastPath:
    """The fast path of one ``train()`` call, as a context manager (see the module docstring)."""

    def __init__(self, cfg, G, D, ema_model, optimizers, data, device, remaining_steps=None):
        self.cfg, self.device = cfg, torch.device(device)
        self.plan = resolve_plan(cfg, self.device, G, D, remaining_steps)
        self._G, self._D = G, D
        self._models = (G, D, ema_model)
        self._optimizers = tuple(optimizers)
        self._source = data
        self.info = self.plan.as_dict()
        self.G, self.D = G, D
        self.scaler_d = self.scaler_g = None

    def __enter__(self) -> "FastPath":
        plan = self.plan
        self._moved = move_loader(self._source, self.device) if plan.device_data else None
        self.data = self._moved if self._moved is not None else self._source
        if plan.channels_last:
            set_memory_format(torch.channels_last, self._models, self._optimizers)
        self._cudnn_was = torch.backends.cudnn.benchmark
        if plan.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True
        if plan.channels_last or plan.dtype is not None or plan.compile:
            self.G = FastModule(self._G, plan, self.device.type)
            self.D = FastModule(self._D, plan, self.device.type)
        if plan.grad_scaler:
            self.scaler_d = torch.amp.GradScaler(self.device.type, init_scale=GRAD_SCALER_INIT)
            self.scaler_g = torch.amp.GradScaler(self.device.type, init_scale=GRAD_SCALER_INIT)
        self.batches = self._batches()
        return self

    def __exit__(self, *exc) -> None:
        if self.plan.channels_last:              # hand back the layout the caller gave us
            set_memory_format(torch.contiguous_format, self._models, self._optimizers)
        torch.backends.cudnn.benchmark = self._cudnn_was
        if self._moved is not None and hasattr(self._source, "load_state_dict"):
            self._source.load_state_dict(self._moved.state_dict())  # the caller's loader continues here

    def _batches(self):
        """``(images, labels)`` on the device; labels only for a class-conditional G (notebook 09), else None."""
        conditional = getattr(self._G, "num_classes", None) is not None
        for b in self.data:
            x = (b[0] if isinstance(b, (tuple, list)) else b).to(self.device, non_blocking=True)
            if self.plan.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            y = b[1].to(self.device, non_blocking=True) if conditional and isinstance(b, (tuple, list)) else None
            yield x, y

    def warm_up(self, real: torch.Tensor) -> None:
        """Compile G and D on the first batch, if the plan says so (checked against eager)."""
        if self.plan.compile and isinstance(self.G, FastModule):
            why, diff = compile_models(self.G, self.D, real, self.cfg, self.plan, self.device)
            self.info["compiled"] = why is None
            if diff is not None:
                self.info["compile_max_rel_diff"] = diff
            if why is not None:
                self.info["compile_error"] = why

    def loader_state(self):
        return self.data.state_dict() if hasattr(self.data, "state_dict") else None

    @contextlib.contextmanager
    def caller_layout(self):
        """G, D and G_ema in the caller's layout for the duration (callbacks see ordinary models)."""
        if self.plan.channels_last:
            set_memory_format(torch.contiguous_format, self._models)
        try:
            yield
        finally:
            if self.plan.channels_last:
                set_memory_format(torch.channels_last, self._models)


def fast_path(cfg, G, D, ema_model, optimizers, data, device, remaining_steps=None) -> FastPath:
    """``with fast_path(...) as fp:`` the fast path of one training run (:class:`FastPath`)."""
    return FastPath(cfg, G, D, ema_model, optimizers, data, device, remaining_steps)
