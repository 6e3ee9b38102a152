"""Generators and discriminators.

- ``MLPGenerator`` / ``MLPDiscriminator``: toys (notebook 02) and the first image GAN (03_mlp_gan).
- ``DCGANGenerator`` / ``DCGANDiscriminator``: notebook 04_dcgan (Radford, Metz, Chintala 2016),
  and the critic of 07_wgan through ``norm=`` ("batch", "layer", "none", "spectral").

Every discriminator returns raw **logits of shape (B,)** (no Sigmoid: the losses use
BCE-with-logits). Every model keeps its constructor arguments in ``.config`` (a plain dict), so a
checkpoint can rebuild it with :func:`build_model`.
"""
from __future__ import annotations

import math

from typing import Optional

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm

IMAGE_SIZES = (28, 32, 64)
NORMS = ("batch", "layer", "none", "spectral")


# ----------------------------------------------------------------------------- MLPs
def _mlp(sizes, act, out_act=None, spectral=False):
    layers = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        layers.append(spectral_norm(lin) if spectral else lin)
        if i < len(sizes) - 2:
            layers.append(act())
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> x (B, *out_shape). ``out_shape=(2,)`` for toys, ``(1, 28, 28)`` for images.

    ``tanh_output=True`` for images in [-1, 1]; toys leave the output unbounded.
    """

    def __init__(self, latent_dim: int = 64, out_shape=(2,), hidden: int = 256, depth: int = 3,
                 tanh_output: bool = False):
        super().__init__()
        out_shape = tuple(int(s) for s in (out_shape if isinstance(out_shape, (tuple, list)) else (out_shape,)))
        self.config = {"kind": "MLPGenerator", "latent_dim": latent_dim, "out_shape": list(out_shape),
                       "hidden": hidden, "depth": depth, "tanh_output": tanh_output}
        self.latent_dim = latent_dim
        self.out_shape = out_shape
        self.net = _mlp([latent_dim] + [hidden] * depth + [math.prod(out_shape)], nn.ReLU,
                        nn.Tanh() if tanh_output else None)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)  # (B, prod) -> (B, *out_shape)


class MLPDiscriminator(nn.Module):
    """x (B, *in_shape) -> logits (B,). LeakyReLU(0.2) hidden layers; ``spectral=True`` wraps
    every Linear in spectral normalisation."""

    def __init__(self, in_shape=(2,), hidden: int = 256, depth: int = 3, spectral: bool = False):
        super().__init__()
        in_shape = tuple(int(s) for s in (in_shape if isinstance(in_shape, (tuple, list)) else (in_shape,)))
        self.config = {"kind": "MLPDiscriminator", "in_shape": list(in_shape), "hidden": hidden,
                       "depth": depth, "spectral": spectral}
        self.in_shape = in_shape
        self.net = _mlp([math.prod(in_shape)] + [hidden] * depth + [1], lambda: nn.LeakyReLU(0.2),
                        spectral=spectral)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"MLPDiscriminator expects inputs shaped (B, {', '.join(map(str, self.in_shape))}), "
                             f"got {tuple(x.shape)}: the generator's output and the data must match")
        return self.net(x.flatten(1)).view(-1)  # (B, 1) -> (B,)


# ----------------------------------------------------------------------------- DCGAN
def _plan(image_size: int):
    """Start resolution and number of stride-2 up/down-samplings for each supported size."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size={image_size} is not supported; use one of {IMAGE_SIZES} "
                         "(gan_utils.data.load_dataset(..., image_size=32) pads 28x28 images)")
    return {28: (7, 2), 32: (4, 3), 64: (4, 4)}[image_size]


class DCGANGenerator(nn.Module):
    """DCGAN generator: z (B, latent_dim) -> image (B, channels, image_size, image_size) in [-1, 1].

    A linear-free stack: the latent is treated as a (latent_dim, 1, 1) map and grown by
    ConvTranspose2d layers (stride 2 doubles the size), BatchNorm + ReLU after each, tanh at the
    end. Channels halve as the resolution doubles: 64x64 with width 64 is the paper's
    1024->512->256->128 scaled by width/128.
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 32, width: int = 64):
        super().__init__()
        self.config = {"kind": "DCGANGenerator", "latent_dim": latent_dim, "channels": channels,
                       "image_size": image_size, "width": width}
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        start, n_up = _plan(image_size)
        ch = width * 2 ** (n_up - 1)
        layers = [
            # (B, latent_dim, 1, 1) -> (B, ch, start, start)
            nn.ConvTranspose2d(latent_dim, ch, start, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            # (B, ch, s, s) -> (B, ch/2, 2s, 2s)
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        # (B, width, s, s) -> (B, channels, 2s, 2s) = image_size
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"DCGANGenerator expects z shaped (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])  # (B, nz) -> (B, nz, 1, 1) -> (B, C, H, W)


def _norm_layer(norm: str, ch: int, size: int):
    if norm == "batch":
        return nn.BatchNorm2d(ch)
    if norm == "layer":
        # LayerNorm over (C, H, W) of each sample: no coupling between samples, so the
        # per-sample gradient penalty stays valid (WGAN-GP, section 4).
        return nn.GroupNorm(1, ch)
    return nn.Identity()


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator / WGAN critic: image (B, C, H, W) -> logits (B,).

    Strided Conv2d (stride 2 halves the size), LeakyReLU(0.2), no pooling, no Sigmoid.
    ``norm``: "batch" (DCGAN), "layer" or "none" (WGAN-GP critics: BatchNorm couples the samples of
    a batch and breaks the per-sample gradient penalty), "spectral" (spectral normalisation of every
    conv, Miyato et al. 2018; no other normalisation).
    """

    def __init__(self, channels: int = 1, image_size: int = 32, width: int = 64, norm: str = "batch"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm={norm!r}; use one of {NORMS}")
        self.config = {"kind": "DCGANDiscriminator", "channels": channels, "image_size": image_size,
                       "width": width, "norm": norm}
        self.channels, self.image_size, self.norm = channels, image_size, norm
        start, n_down = _plan(image_size)
        sn = spectral_norm if norm == "spectral" else (lambda m: m)
        ch, size = width, image_size // 2
        # (B, C, S, S) -> (B, width, S/2, S/2): no norm on the first layer (DCGAN guideline)
        layers = [sn(nn.Conv2d(channels, ch, 4, 2, 1, bias=norm in ("none", "spectral"))), nn.LeakyReLU(0.2, True)]
        for _ in range(n_down - 1):
            # (B, ch, s, s) -> (B, 2ch, s/2, s/2)
            layers += [sn(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm in ("none", "spectral"))),
                       _norm_layer(norm, ch * 2, size // 2), nn.LeakyReLU(0.2, True)]
            ch, size = ch * 2, size // 2
        # (B, ch, start, start) -> (B, 1, 1, 1)
        layers.append(sn(nn.Conv2d(ch, 1, start, 1, 0, bias=False)))
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, self.image_size, self.image_size):
            raise ValueError(
                f"DCGANDiscriminator expects images shaped (B, {self.channels}, {self.image_size}, "
                f"{self.image_size}), got {tuple(x.shape)}. Load the data with "
                f"load_dataset(..., image_size={self.image_size}) and build G and D with the same "
                "channels and image_size.")
        return self.net(x).view(-1)  # (B, 1, 1, 1) -> (B,)


@torch.no_grad()
def dcgan_init(model: nn.Module) -> nn.Module:
    """DCGAN initialisation (Radford et al. 2016, section 4): conv weights ~ N(0, 0.02),
    BatchNorm weight ~ N(1, 0.02) and bias = 0. Spectral-normalised convs are initialised through
    their original weight."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(w, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return model


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def default_critic_norm(loss: str) -> str:
    """The critic normalisation a loss needs when none is asked for: LayerNorm for wgan-gp (its
    per-sample penalty rules out BatchNorm), spectral norm for wgan-sn (its only constraint),
    BatchNorm (the DCGAN default) otherwise."""
    return {"wgan-gp": "layer", "wgan-sn": "spectral"}.get(loss, "batch")


def has_spectral_norm(model: nn.Module) -> bool:
    """True if any layer's weight is spectrally normalised (the parametrization API or the older
    ``torch.nn.utils.spectral_norm`` hook, which leaves a ``weight_orig``)."""
    from torch.nn.utils import parametrize

    for m in model.modules():
        if hasattr(m, "weight_orig"):
            return True
        if parametrize.is_parametrized(m, "weight") and any(
                type(p).__name__ == "_SpectralNorm" for p in m.parametrizations.weight):
            return True
    return False


MODEL_CLASSES = {c.__name__: c for c in (MLPGenerator, MLPDiscriminator, DCGANGenerator, DCGANDiscriminator)}


def build_model(config: dict) -> nn.Module:
    """Rebuild a model from its ``.config`` dict (as stored in checkpoints)."""
    cfg = dict(config)
    kind = cfg.pop("kind", None)
    if kind not in MODEL_CLASSES:
        raise ValueError(f"Unknown model kind {kind!r} in config; known: {sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[kind](**cfg)


class eval_mode:
    """``with eval_mode(model):`` the model in eval mode (BatchNorm uses its running statistics and
    does not update them, dropout is off) for the block, then back in the mode it was in. Several
    models may be given; ``None`` and plain callables are skipped."""

    def __init__(self, *models):
        self.models = [m for m in models if isinstance(m, nn.Module)]

    def __enter__(self):
        self.was = [m.training for m in self.models]
        for m in self.models:
            m.eval()
        return self

    def __exit__(self, *exc):
        for m, w in zip(self.models, self.was):
            m.train(w)


def _device_of(G) -> torch.device:
    p = next(iter(G.parameters()), None) if isinstance(G, nn.Module) else None
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def sample_batches(G, n: int, seed: Optional[int] = 0, batch_size: int = 500, z=None, latent_dim=None,
                   progress: bool = False):
    """Yield ``n`` samples of the generator ``G`` in batches of ``batch_size`` (float32, on G's
    device), with G in eval mode. The latent codes are ``z`` if given, else drawn all at once on
    the CPU from a generator seeded with ``seed`` (None: the global RNG), so the samples do not
    depend on ``batch_size``. ``G`` may be any callable ``z -> images`` with ``latent_dim`` given."""
    from tqdm.auto import tqdm

    if z is None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r}: ask for at least one sample")
        dim = latent_dim if latent_dim is not None else G.latent_dim
        z = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed) if seed is not None else None)
    device = _device_of(G)
    with eval_mode(G):
        for i in tqdm(range(0, len(z), batch_size), desc="sampling", unit="batch", disable=not progress):
            yield G(z[i:i + batch_size].to(device)).float()


def sample(G, n: int = 64, seed: Optional[int] = 0, batch_size: int = 500, z=None, progress: bool = False
           ) -> torch.Tensor:
    """``n`` samples ``(n, C, H, W)`` of ``G`` in eval mode, float32 on the CPU (see
    :func:`sample_batches`): grids, evaluation, the CLI's ``sample`` all draw through here."""
    return torch.cat([x.cpu() for x in sample_batches(G, n, seed, batch_size, z=z, progress=progress)])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def layer_table(model: nn.Module, input_shape) -> list[tuple[str, tuple, int]]:
    """(layer, output shape, parameters) for each leaf layer, by running one dummy batch
    (notebook 04's shape/parameter table)."""
    rows = []
    hooks = []
    for name, m in model.named_modules():
        if len(list(m.children())) == 0 and name:
            def hook(mod, inp, out, name=name):
                rows.append((f"{name} {type(mod).__name__}", tuple(out.shape[1:]),
                             sum(p.numel() for p in mod.parameters())))
            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad(), eval_mode(model):
            model(torch.zeros(2, *input_shape))
    finally:
        for h in hooks:
            h.remove()
    return rows
