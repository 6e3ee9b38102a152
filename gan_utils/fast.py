"""The fast path of :func:`gan_utils.train.train` (``TrainConfig.fast``), used by every ``train``
call from notebook 03 on; measured by ``benchmarks/bench_train.py``, results in
``benchmarks/RESULTS.md``.

A GAN step on a modern GPU is a few hundred GFLOP; an eager PyTorch loop spends most of its time
launching small kernels and waiting for the data loader instead. The fast path removes that
overhead without changing what is trained:

============================  =========================  ==========================================
what                          where                      why it is safe
============================  =========================  ==========================================
data on the device            CUDA, ``InMemoryLoader``   same batches in the same order (the
                                                         permutation is drawn on the CPU)
``channels_last`` (NHWC)      conv nets, CUDA and CPU    a layout change: same maths, other
                                                         summation order (fp32 round-off only)
bf16 autocast of G/D forward  conv nets on CUDA with      losses, BCE and the penalty norm stay in
                              native bf16                float32 (logits are cast ``.float()``)
``torch.compile`` of G and D  CUDA runs of >= 10k steps compiled up front on a throw-away step
                              (it costs tens of seconds  whose state is restored; any failure
                              once); not for wgan-gp,    falls back to eager with a warning
                              nor spectral norm
``cudnn.benchmark``           CUDA                       picks the fastest conv algorithm; reset
                                                         when ``train()`` returns
============================  =========================  ==========================================

Never compiled: the WGAN-GP gradient penalty (a double backward, where ``torch.compile`` has had
silent-correctness bugs, pytorch/pytorch#91469 and #181581, and which AOTAutograd refuses: "does not
currently support double backward") and spectral-normalised models (parametrizations with in-place
power iterations). No CUDA graphs (``mode="reduce-overhead"``): the loop keeps each step's loss
tensors until the log flush, and a graph replay would overwrite them. A GPU without native bf16
(Colab's T4, sm_75) trains in float32: emulated bf16 is slower there.

On the CPU only ``channels_last`` is on: it is what measurably helps there (oneDNN's NHWC
convolutions: 1.06-1.25x per DCGAN/WGAN-GP step on 2 cores for layers of 16 channels and more;
narrower nets stay NCHW, where NHWC is slower), while bf16 and ``torch.compile`` would change the
numbers or cost minutes of compilation in a notebook. Fused Adam on CUDA and the once-per-``log_every`` host sync are part of every run, fast
or not (:func:`gan_utils.train.make_optimizers`, :func:`gan_utils.train.train`).
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import asdict, dataclass
from typing import Optional, Union

import torch
import torch.nn as nn


@dataclass(frozen=True)
class FastPlan:
    """What the fast path does in one run; ``TrainResult.fast`` holds it as a dict."""
    enabled: bool = False
    channels_last: bool = False
    autocast_dtype: Optional[str] = None          # "bfloat16" or None (float32)
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


def _is_conv_net(m: nn.Module) -> bool:
    return any(isinstance(x, (nn.Conv2d, nn.ConvTranspose2d)) for x in m.modules())


#: On the CPU, NHWC convolutions win from 16 channels per layer up (one gan_utils DCGAN step on 2
#: cores, NCHW time / NHWC time: width 16: 1.1-1.2x, 32: ~1.1x, 64: 1.06x at 32x32 and 1.25x at
#: 64x64) and lose below (width 8: 0.67-0.82x): oneDNN's NHWC kernels work in blocks of 16 channels.
#: (benchmarks/RESULTS.md has the table.)
CPU_CHANNELS_LAST_MIN_WIDTH = 16


#: Auto compiles only runs of at least this many generator steps. Compiling G and D costs tens of
#: seconds once (more on a Colab CPU host), while it saves ~1 ms of launch overhead per step on a
#: fast GPU: a course-sized run of a few thousand steps would end later, not sooner. (An estimate
#: from kernel counts, not a measurement: no GPU was available when this was written; set
#: ``TrainConfig.compile=True`` to compile any run, False to never.)
COMPILE_MIN_STEPS = 10_000


def _narrowest_hidden_conv(m: nn.Module) -> int:
    """Fewest output channels of a hidden conv layer (the image and logit layers, <= 4 channels,
    are not counted); 0 when there is none."""
    widths = [x.out_channels for x in m.modules() if isinstance(x, (nn.Conv2d, nn.ConvTranspose2d))
              and x.out_channels > 4]
    return min(widths) if widths else 0


def _has_parametrizations(m: nn.Module) -> bool:
    return any(hasattr(x, "parametrizations") for x in m.modules())


def native_bf16(device: torch.device) -> bool:
    """True on GPUs with bf16 tensor cores (Ampere, sm_80, and newer). A T4 (sm_75) only emulates
    bf16, slower than float32, so it trains in float32 there."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.3 has no including_emulation
        return torch.cuda.get_device_capability(device)[0] >= 8


def resolve_plan(cfg, device: torch.device, G: nn.Module, D: nn.Module) -> FastPlan:
    """``cfg.fast``: None = auto (on: every item that is safe on this device), True = the same
    (named explicitly), False = the plain eager loop. ``cfg.compile``: None = auto (CUDA runs of
    >= ``COMPILE_MIN_STEPS`` steps), False = never, True = inductor, or a ``torch.compile`` backend
    name (tests use ``"aot_eager"`` to check the compiled path on the CPU); never for wgan-gp or
    spectral norm, whatever is asked."""
    fast = getattr(cfg, "fast", None)
    if fast is False:
        return PLAIN
    if device.type not in ("cpu", "cuda"):  # e.g. Apple's mps: nothing here was measured there
        return FastPlan(enabled=True, notes=(f"no fast-path items for device type {device.type!r}",))
    cuda = device.type == "cuda"
    notes = []
    conv = _is_conv_net(G) and _is_conv_net(D)
    if not conv:
        notes.append("channels_last, bf16: not a convolutional G and D (MLPs and toys stay float32)")
    elif not cuda and min(_narrowest_hidden_conv(G), _narrowest_hidden_conv(D)) < CPU_CHANNELS_LAST_MIN_WIDTH:
        conv = False
        notes.append(f"channels_last: off on the CPU below {CPU_CHANNELS_LAST_MIN_WIDTH} channels per layer (slower there)")
    dtype = None
    if cuda and _is_conv_net(G) and _is_conv_net(D):
        if native_bf16(device):
            dtype = "bfloat16"
        else:
            notes.append("bf16: this GPU has no native bf16 (float32 kept)")
    want = getattr(cfg, "compile", None)
    compile_: Union[bool, str] = False
    if want is None:
        want = cuda and cfg.steps >= COMPILE_MIN_STEPS
        if cuda and not want:
            notes.append(f"compile: auto compiles runs of >= {COMPILE_MIN_STEPS} steps only (compile time would not pay back)")
    if want:
        if cfg.loss == "wgan-gp":
            notes.append("compile: never for wgan-gp (the penalty's double backward stays eager)")
        elif _has_parametrizations(G) or _has_parametrizations(D):
            notes.append("compile: not with spectral norm / parametrizations")
        elif not hasattr(torch, "compile"):
            notes.append("compile: torch.compile unavailable")
        else:
            compile_ = want if isinstance(want, str) else True
    return FastPlan(enabled=True, channels_last=conv, autocast_dtype=dtype, compile=compile_,
                    device_data=cuda, cudnn_benchmark=cuda, notes=tuple(notes))


class FastModule(nn.Module):
    """Runs ``module`` (or its compiled form) in channels_last / under autocast.

    Parameters, ``requires_grad_``, ``train()``/``eval()`` all reach the wrapped module, so
    :func:`~gan_utils.train.d_step` and :func:`~gan_utils.train.g_step` take it as G or D. Its
    output may be bf16: the steps cast logits ``.float()`` before any loss.
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype is None:
            return self._call(x)
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self._call(x)

    def _call(self, x):
        if self._run is self.module:
            return self.module(x)
        try:
            return self._run(x)
        except Exception as e:  # noqa: BLE001
            # A recompilation that fails later (a new batch shape, say) fails before anything runs,
            # so running this call eagerly is exact; any other error is re-raised.
            if not _is_compile_error(e):
                raise
            warnings.warn(f"torch.compile failed ({type(e).__name__}); this model continues in eager mode.",
                          RuntimeWarning)
            self.set_run(self.module)
            return self.module(x)


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


def prepare_batch(x: torch.Tensor, plan: FastPlan) -> torch.Tensor:
    if plan.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def move_loader(data, device: torch.device):
    """A copy of an :class:`~gan_utils.data.InMemoryLoader` whose tensors live on ``device`` (when
    they fit in a quarter of the free GPU memory); ``data`` itself is unchanged. None if not moved."""
    from .data import InMemoryLoader

    if not isinstance(data, InMemoryLoader) or data.device == device or device.type != "cuda":
        return None
    need = data.images.numel() * data.images.element_size() + data.labels.numel() * 8
    try:
        free, _ = torch.cuda.mem_get_info(device)
    except Exception:
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


def compile_models(G_run: FastModule, D_run: FastModule, real: torch.Tensor, cfg, plan: FastPlan,
                   device: torch.device) -> Optional[str]:
    """Compile G and D (``torch.compile``) and run one throw-away D step and G step on ``real``'s
    shapes, so every graph variant (G with/without grad, D trainable, D frozen) is compiled before
    the timed loop. Weights, BatchNorm statistics, gradients and RNG states are restored exactly
    afterwards. Returns None on success, else the reason (G and D then run eagerly)."""
    if cfg.loss == "wgan-gp":  # compiled graphs do not support the penalty's double backward
        return "never compiled for wgan-gp"
    G, D = G_run.module, D_run.module
    backend = plan.compile if isinstance(plan.compile, str) else "inductor"
    saved = ({k: v.clone() for k, v in G.state_dict().items()},
             {k: v.clone() for k, v in D.state_dict().items()}, _rng_state(device))
    try:
        G_run.set_run(torch.compile(G, backend=backend))
        D_run.set_run(torch.compile(D, backend=backend))
        z = torch.randn(real.shape[0], cfg.latent_dim, device=device)
        fake = G_run(z)
        (D_run(real).float().mean() - D_run(fake.detach()).float().mean()).backward()
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
        reason = None
    except Exception as e:  # noqa: BLE001 - any compiler failure means: train eagerly
        G_run.set_run(G)
        D_run.set_run(D)
        reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        warnings.warn(f"torch.compile failed ({reason}); training continues in eager mode.", RuntimeWarning)
    finally:
        with torch.no_grad():
            G.load_state_dict(saved[0])
            D.load_state_dict(saved[1])
        for p in list(G.parameters()) + list(D.parameters()):
            p.grad = None
        _set_rng_state(saved[2], device)
    return reason
