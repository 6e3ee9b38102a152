"""Image-to-image translation: pix2pix and CycleGAN as tasks of the course's loop (taught in
notebooks/11_image_to_image.ipynb; ``python -m gan_utils train --model pix2pix|cyclegan`` and
``python -m gan_utils translate``).

* :class:`Pix2PixTask` (Isola et al. 2017): paired data ``(a, b)``; G = :class:`~gan_utils.models.UNetGenerator`
  maps a to b, a *conditional* PatchGAN D scores the pair ``cat[a, b]`` against ``cat[a, G(a)]``;
  G minimises the adversarial term plus ``lambda_l1 * |b - G(a)|``.
* :class:`CycleGANTask` (Zhu et al. 2017): two unpaired collections; G_AB: A -> B and G_BA: B -> A,
  D_A and D_B judge each domain (on a history of fakes, :class:`~gan_utils.train.ImagePool`);
  G's loss adds the cycles ``|G_BA(G_AB(a)) - a|``, ``|G_AB(G_BA(b)) - b|`` and the identity terms.

Both are :class:`gan_utils.loop.Task` s trained by :func:`gan_utils.loop.run_loop`, so they keep the
loop's promises (progress bar, one writer per folder, atomic checkpoints of every model, optimiser,
loader, image pool and RNG, bit-exact resume refused on other settings, the NaN guard, Ctrl-C /
SIGTERM / SIGHUP saving a whole step). :func:`build_translation` makes a task from a
:class:`~gan_utils.config.TranslationConfig`; :func:`load_translator` rebuilds a trained generator
from a checkpoint; :func:`translate_images` runs one in eval mode, :func:`translate_folder` on a folder of
images (the ``translate`` command).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from .config import TranslationConfig
from .data import ImageDataset, InMemoryLoader, TwoDomainData
from .loop import Task
from .losses import LOSSES, cycle_consistency_loss, identity_loss, l1_loss
from .models import PatchDiscriminator, UNetGenerator, eval_mode
from .train import ImagePool

__all__ = ["Pix2PixTask", "CycleGANTask", "build_translation", "load_translator", "translate_images", "translate_folder",
           "DIRECTIONS"]

#: which generator ``translate`` runs: A -> B (pix2pix's only one, CycleGAN's G_AB) or B -> A (CycleGAN's G_BA)
DIRECTIONS = ("AtoB", "BtoA")


@contextlib.contextmanager
def _frozen(*modules):
    """No gradients into these modules' parameters inside the block (D during G's step): the G step's
    backward pass then computes nothing for D, and D's next step starts from its own gradients only."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


def _patch_scores(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """D's map of patch logits ``(B, 1, h, w)`` flattened to ``(B*h*w,)``: one "sample" per patch, so
    the objectives of :mod:`gan_utils.losses` average over patches and images alike."""
    return D(x).flatten().float()


def _adam(cfg: TranslationConfig, *modules) -> torch.optim.Adam:
    return torch.optim.Adam([p for m in modules for p in m.parameters()], lr=cfg.lr, betas=cfg.betas)


class _TranslatorTask(Task):
    """What pix2pix and CycleGAN share: the config, the device, the GAN objective, the snapshots."""

    may_change_on_resume = ("steps", "log_every", "ckpt_every", "sample_every", "device")

    def __init__(self, cfg: TranslationConfig, data: TwoDomainData, device="cpu"):
        if not isinstance(data, TwoDomainData):
            raise TypeError("a translator trains on a TwoDomainData (load_dataset('paired:PATH') or 'unpaired:PATH')")
        self.config, self.data, self.device = cfg, data, torch.device(device)
        self.objective = LOSSES[cfg.gan_loss]
        self.use_gan = cfg.gan_weight > 0
        self.channels_a, self.channels_b = data.A.images.shape[1], data.B.images.shape[1]
        if data.image_size != cfg.image_size:
            raise ValueError(f"the data is {data.image_size} px, the config says image_size={cfg.image_size}")

    def _generator(self, cin: int, cout: int) -> UNetGenerator:
        c = self.config
        return UNetGenerator(cin, cout, c.image_size, c.width, norm=c.norm).to(self.device)

    def _discriminator(self, cin: int) -> PatchDiscriminator:
        c = self.config
        return PatchDiscriminator(cin, c.width, c.n_layers, norm=c.norm).to(self.device)

    def items_per_step(self) -> int:
        return self.config.batch_size

    def sample_inputs(self, n: int = 8) -> torch.Tensor:
        """The first ``n`` A images of the training data (the inputs of the snapshot grids)."""
        return self.data.A.images[:n].float().div(127.5).sub(1).to(self.device)

    def snapshot(self, step: int, out_dir: Optional[Path]) -> None:
        """``samples_<step>.png`` in the run folder: the first 8 training inputs (row 1) and their
        translations by the A -> B generator (row 2)."""
        if out_dir is None:
            return
        from torchvision.utils import save_image

        from .runtime import atomic_write

        x = self.sample_inputs(8)
        y = translate_images(self.generators()["AtoB"], x)
        if x.shape[1] != y.shape[1]:                           # grey inputs beside colour outputs
            x = x.expand(-1, y.shape[1], -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True).expand_as(y)
        grid = torch.cat([x.cpu(), y]).add(1).div(2).clamp(0, 1)
        atomic_write(Path(out_dir) / f"samples_{step:06d}.png", lambda f: save_image(grid, f, nrow=len(y), format="png"))

    def generators(self) -> dict:
        raise NotImplementedError


class Pix2PixTask(_TranslatorTask):
    """pix2pix on paired data (Isola et al. 2017; notebook 11). One step, with ``(a, b)`` a batch of pairs::

        (1) Update D:  minimise  d_loss(D(cat[a, b]), D(cat[a, pool(G(a))]))     (skipped when lambda_gan = 0)
        (2) Update G:  minimise  lambda_gan * g_loss(D(cat[a, G(a)])) + lambda_l1 * |b - G(a)|

    D sees the input beside the output (a *conditional* GAN): it can tell whether G(a) fits a, not only
    whether it looks like some b. Models ``G`` and ``D``, optimisers ``G`` and ``D``, one loader of pairs.
    """

    kind = "pix2pix"

    def __init__(self, cfg: TranslationConfig, data: TwoDomainData, device="cpu"):
        super().__init__(cfg, data, device)
        if not data.paired:
            raise ValueError(f"pix2pix needs paired data; {data.name} is unpaired (use CycleGAN)")
        torch.manual_seed(cfg.seed)                          # the same initial models for a seed
        self.G = self._generator(self.channels_a, self.channels_b)
        self.D = self._discriminator(self.channels_a + self.channels_b)
        self.opt_g, self.opt_d = _adam(cfg, self.G), _adam(cfg, self.D)
        pairs = ImageDataset(torch.cat([data.A.images, data.B.images], 1), data.A.labels, f"{data.name} (pairs)")
        self.loader = InMemoryLoader(pairs, cfg.batch_size, device=self.device, seed=cfg.seed)
        self.pool = ImagePool(cfg.pool)

    def modules(self) -> dict:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict:
        return {"G": self.opt_g, "D": self.opt_d}

    def loaders(self) -> dict:
        return {"pairs": self.loader}

    def generators(self) -> dict:
        return {"AtoB": self.G}

    def extra_state(self) -> dict:
        return {"pool": self.pool.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if "pool" in state:
            self.pool.load_state_dict(state["pool"])

    def step(self, step: int) -> dict:
        c, spec = self.config, self.objective
        ab = self.loader.next_batch()                        # (B, Ca + Cb, S, S): a pair per sample
        a, b = ab[:, :self.channels_a], ab[:, self.channels_a:]
        fake = self.G(a)                                     # (B, Cb, S, S); dropout is G's noise
        out = {}
        if self.use_gan:                                     # (1) Update D on real and (pooled) fake pairs
            fake_pair = self.pool(torch.cat([a, fake], 1))   # detached
            loss_d = spec.d_loss(_patch_scores(self.D, torch.cat([a, b], 1)), _patch_scores(self.D, fake_pair))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            out["loss_D"] = loss_d.detach()
        with _frozen(self.D):                                # (2) Update G through a frozen D
            loss_l1 = l1_loss(fake, b)                       # |b - G(a)|, the low frequencies
            loss_g = c.lambda_l1 * loss_l1
            if self.use_gan:
                loss_adv = spec.g_loss(_patch_scores(self.D, torch.cat([a, fake], 1)))   # fool D, patch by patch
                loss_g = loss_g + c.gan_weight * loss_adv
                out["loss_G_gan"] = loss_adv.detach()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        out.update(loss_G=loss_g.detach(), L1=loss_l1.detach())
        return out


class CycleGANTask(_TranslatorTask):
    """CycleGAN on two collections that need not be paired (Zhu et al. 2017; notebook 11). One step,
    with ``a`` and ``b`` batches drawn independently from A and B::

        fake_b, fake_a = G_AB(a), G_BA(b)
        (1) Update D_A, D_B:  minimise  d_loss(D_B(b), D_B(pool_B(fake_b))) + d_loss(D_A(a), D_A(pool_A(fake_a)))
        (2) Update G_AB, G_BA:  minimise  lambda_gan * [g_loss(D_B(fake_b)) + g_loss(D_A(fake_a))]
                 + lambda_cycle * [|G_BA(fake_b) - a| + |G_AB(fake_a) - b|]                 (cycles="forward": the first)
                 + lambda_identity * lambda_cycle * [|G_AB(b) - b| + |G_BA(a) - a|]

    D_A and D_B are trained on histories of 50 fakes (pool_size), as the authors' code does. One Adam
    for both generators and one for both discriminators, as in their code; they update G first, this
    loop D first (as the rest of the course), which changes only which D the G step sees. Models
    ``G_AB``, ``G_BA``, ``D_A``, ``D_B``; loaders ``A`` and ``B``; the pools in the extra state.
    """

    kind = "cyclegan"

    def __init__(self, cfg: TranslationConfig, data: TwoDomainData, device="cpu"):
        super().__init__(cfg, data, device)
        if cfg.lambda_identity > 0 and cfg.lambda_cycle > 0 and self.channels_a != self.channels_b:
            raise ValueError(f"the identity loss feeds B images to G_AB, so A and B need the same channels "
                             f"({self.channels_a} vs {self.channels_b}); set lambda_identity=0")
        torch.manual_seed(cfg.seed)
        self.G_AB = self._generator(self.channels_a, self.channels_b)
        self.G_BA = self._generator(self.channels_b, self.channels_a)
        self.D_A = self._discriminator(self.channels_a)      # is it an A image?
        self.D_B = self._discriminator(self.channels_b)      # is it a B image?
        self.opt_g, self.opt_d = _adam(cfg, self.G_AB, self.G_BA), _adam(cfg, self.D_A, self.D_B)
        self.loader_a = InMemoryLoader(data.A, cfg.batch_size, device=self.device, seed=cfg.seed)
        self.loader_b = InMemoryLoader(data.B, cfg.batch_size, device=self.device, seed=cfg.seed + 1)
        self.pool_a, self.pool_b = ImagePool(cfg.pool), ImagePool(cfg.pool)

    def modules(self) -> dict:
        return {"G_AB": self.G_AB, "G_BA": self.G_BA, "D_A": self.D_A, "D_B": self.D_B}

    def optimizers(self) -> dict:
        return {"G": self.opt_g, "D": self.opt_d}

    def loaders(self) -> dict:
        return {"A": self.loader_a, "B": self.loader_b}

    def generators(self) -> dict:
        return {"AtoB": self.G_AB, "BtoA": self.G_BA}

    def extra_state(self) -> dict:
        return {"pool_A": self.pool_a.state_dict(), "pool_B": self.pool_b.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        for key, pool in (("pool_A", self.pool_a), ("pool_B", self.pool_b)):
            if key in state:
                pool.load_state_dict(state[key])

    def step(self, step: int) -> dict:
        c, spec = self.config, self.objective
        a, b = self.loader_a.next_batch(), self.loader_b.next_batch()     # unrelated batches of A and B
        fake_b, fake_a = self.G_AB(a), self.G_BA(b)                       # translations
        out = {}
        if self.use_gan:                                     # (1) Update D_A, D_B on real vs pooled fakes
            loss_db = spec.d_loss(_patch_scores(self.D_B, b), _patch_scores(self.D_B, self.pool_b(fake_b)))
            loss_da = spec.d_loss(_patch_scores(self.D_A, a), _patch_scores(self.D_A, self.pool_a(fake_a)))
            self.opt_d.zero_grad(set_to_none=True)
            (loss_da + loss_db).backward()
            self.opt_d.step()
            out.update(loss_D_A=loss_da.detach(), loss_D_B=loss_db.detach())
        with _frozen(self.D_A, self.D_B):                    # (2) Update G_AB, G_BA through frozen Ds
            loss_g = torch.zeros((), device=self.device)
            if self.use_gan:                                 # fool D_B with fake_b and D_A with fake_a
                adv = spec.g_loss(_patch_scores(self.D_B, fake_b)) + spec.g_loss(_patch_scores(self.D_A, fake_a))
                loss_g = loss_g + c.gan_weight * adv
                out["loss_G_gan"] = adv.detach()
            if c.lambda_cycle > 0:                           # a -> b -> a (and b -> a -> b) must come back
                cyc = cycle_consistency_loss(a, self.G_BA(fake_b))
                if c.cycles == "both":
                    cyc = cyc + cycle_consistency_loss(b, self.G_AB(fake_a))
                loss_g = loss_g + c.lambda_cycle * cyc
                out["cycle"] = cyc.detach()
                if c.lambda_identity > 0:                    # an image already in the target domain stays put
                    idt = identity_loss(b, self.G_AB(b)) + identity_loss(a, self.G_BA(a))
                    loss_g = loss_g + c.lambda_identity * c.lambda_cycle * idt
                    out["identity"] = idt.detach()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        out["loss_G"] = loss_g.detach()
        return out


TASKS = {"pix2pix": Pix2PixTask, "cyclegan": CycleGANTask}


def build_translation(cfg: TranslationConfig, data: Optional[TwoDomainData] = None, device=None) -> _TranslatorTask:
    """The task of ``cfg``: its data (``data``, else ``load_dataset(cfg.dataset)`` at ``cfg.image_size``
    and ``cfg.channels``), its models on ``device`` (default ``cfg.device``, else the best available)."""
    from .data import load_dataset
    from .runtime import ConfigError, get_device

    if data is None:
        if not cfg.dataset:
            raise ConfigError("a translator needs dataset='paired:PATH' (pix2pix) or 'unpaired:PATH' (cyclegan)")
        data = load_dataset(cfg.dataset, image_size=cfg.image_size, channels=cfg.channels)
    device = get_device(device if device is not None else cfg.device)
    return TASKS[cfg.model](cfg, data, device)


def load_translator(path, direction: str = "AtoB", device="cpu") -> nn.Module:
    """The generator of a pix2pix or CycleGAN checkpoint (``checkpoint_latest.pt`` or its run folder)
    that translates ``direction`` ("AtoB"; "BtoA" for CycleGAN), rebuilt from the checkpoint's model
    config, in eval mode. One clear :class:`~gan_utils.checkpoint.CheckpointError` otherwise."""
    from .checkpoint import CheckpointError, load_checkpoint, load_model_state
    from .models import build_model

    if direction not in DIRECTIONS:
        raise CheckpointError(f"direction={direction!r}: use AtoB or BtoA")
    state = load_checkpoint(path, map_location=device)
    kind = state.get("kind")
    if kind not in TASKS:
        raise CheckpointError(f"{path} is not a pix2pix or CycleGAN checkpoint (it is a "
                              f"{kind or 'GAN'!r} run): train one with python -m gan_utils train --model pix2pix|cyclegan, "
                              "or use the sample command for a GAN checkpoint.")
    name = {"pix2pix": {"AtoB": "G"}, "cyclegan": {"AtoB": "G_AB", "BtoA": "G_BA"}}[kind].get(direction)
    if name is None:
        raise CheckpointError(f"{path} is a pix2pix checkpoint: it translates A to B only (--direction AtoB); "
                              "CycleGAN learns both directions.")
    try:
        G = build_model(state["model_config"][name])
        load_model_state(G, state["modules"][name])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot rebuild its generator {name} ({type(e).__name__}: {e}).") from None
    return G.to(device).eval()


@torch.no_grad()
def translate_images(G: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """``G`` applied to ``images`` (uint8, or float in [-1, 1], ``(N, C, S, S)``) in eval mode (no
    dropout, BatchNorm's running statistics), in batches: float32 outputs on the CPU."""
    device = next(G.parameters()).device
    outs = []
    with eval_mode(G):
        for chunk in images.split(batch_size):
            x = chunk.float().div(127.5).sub(1) if chunk.dtype == torch.uint8 else chunk.float()
            outs.append(G(x.to(device)).float().cpu())
    return torch.cat(outs) if outs else images.new_zeros((0,), dtype=torch.float32)


def translate_folder(checkpoint, in_dir, out_dir, direction: str = "AtoB", device="cpu", batch_size: int = 256,
                     progress: bool = True) -> list:
    """``python -m gan_utils translate``: every PNG/JPEG image in ``in_dir`` (sub-folders too) through the
    generator of ``checkpoint`` that translates ``direction``, written to ``out_dir`` as a PNG of the same
    name (and sub-folder) at the model's size and channels. Returns the written paths. Errors a user can
    fix (a missing or empty folder, unreadable images, ``out_dir`` = ``in_dir``, two inputs that would
    write one file, a checkpoint that is no translator) raise one :class:`~gan_utils.runtime.UserError`."""
    import numpy as np
    from PIL import Image

    from .data import list_image_folder, load_image_folder
    from .runtime import UserError, atomic_write, ensure_writable_dir

    src, dst = Path(in_dir).expanduser().resolve(), Path(out_dir).expanduser().resolve()
    if src == dst:
        raise UserError(f"--out {dst} is the input folder: the translations would overwrite the inputs. Choose "
                        "another folder.")
    G = load_translator(checkpoint, direction, device=device)
    files = list_image_folder(src)[0]                         # the order load_image_folder decodes them in
    names = [f.relative_to(src).with_suffix(".png") for f in files]
    clash = sorted({n.as_posix() for n in names if names.count(n) > 1})
    if clash:
        raise UserError(f"{src} has several images that would be written as {clash[0]} (same name, other suffixes); "
                        "rename one of them.")
    data = load_image_folder(src, image_size=G.image_size, channels=G.in_channels, cache=False, progress=progress)
    ensure_writable_dir(dst, "--out folder")
    out = translate_images(G, data.images, batch_size=batch_size)          # (N, C, S, S) in [-1, 1]
    u8 = ((out.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()   # (N, S, S, C)
    written = []
    for name, img in zip(names, u8):
        path = dst / name
        pil = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else np.ascontiguousarray(img))
        atomic_write(path, lambda f, pil=pil: pil.save(f, format="PNG"))
        written.append(path)
    return written
