"""Run options: the one home of every setting of a run and its default (notebook 08 and the CLI).

A run is described by one flat dict of options, as in ``gan_utils/configs/*.json``::

    {"model": "dcgan", "loss": "wgan-gp", "dataset": "cifar10", "width": 128, "steps": 100000, ...}

Its keys are the fields of :class:`RunConfig` (what to train and how to evaluate it) and of
:class:`gan_utils.train.TrainConfig` (how the loop trains: loss, steps, learning rates...).
:func:`load_config` reads a file or a name and checks every key and type; :func:`resolve` merges a
config with the smoke sizes, overrides and flags; :func:`build_run` turns the result into models, a
loader and a ``TrainConfig``. The CLI's ``train`` and ``run`` and notebook 08 all go through here,
so a typo such as ``"lr"`` or ``"steps": "2"`` is refused the same way everywhere.

Image-to-image translation runs (pix2pix, CycleGAN: notebook 11, ``train --model pix2pix|cyclegan``)
have their own options, :class:`TranslationConfig`, read by the same checker
(:meth:`TranslationConfig.from_options`, :func:`load_translation_config`).
"""
from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional

from .runtime import ConfigError, check_seed
from .train import TrainConfig

__all__ = ["ConfigError", "RunConfig", "SMOKE_OVERRIDES", "TranslationConfig", "TRANSLATION_MODELS", "build_run",
           "check_options", "effective_options", "find_config", "load_config", "load_translation_config", "resolve"]


#: the tiny sizes of a smoke run (CI, CPU): the same code path in a few seconds
SMOKE_OVERRIDES = {"steps": 8, "width": 8, "batch_size": 32, "eval_every": 4, "n_eval": 256, "n_ref": 512,
                   "ckpt_every": 0, "sample_every": 4, "log_every": 4}


#: the models a run can train (gan_utils.models): DCGAN (notebook 04), the MLPs (notebook 03), the style generator
#: with its discriminator (notebook 12)
MODELS = ("dcgan", "mlp", "style")
#: RunConfig fields that configure the style model only
STYLE_FIELDS = ("w_dim", "mapping_layers", "style_mode", "style_mixing")
#: the channels of the named datasets (folder:PATH and synthetic data take ``channels``)
NATIVE_CHANNELS = {"fashion-mnist": 1, "mnist": 1, "cifar10": 3}


@dataclass
class RunConfig:
    """What to train and how to evaluate it; ``train`` holds how the loop trains."""

    name: str = "run"                    # label in logs and tables (a config file's name by default)
    notes: str = ""                      # free text: what the run is for, where its settings come from
    model: str = "dcgan"                 # dcgan | mlp | style (gan_utils.models; style: notebook 12's StyleGenerator)
    dataset: str = "fashion-mnist"       # fashion-mnist works offline; mnist, cifar10 download; synthetic: tests;
                                         # folder:PATH: your own PNG/JPEG images (class sub-folders optional)
    image_size: int = 32                 # 32 pads Fashion-MNIST's 28 by 2 px (a power of two for DCGAN); 28, 64
    channels: Optional[int] = None       # 1 grey, 3 RGB: folder:PATH and synthetic data (default 3); a named dataset
                                         # brings its own (fashion-mnist/mnist 1, cifar10 3) and refuses another
    width: int = 64                      # base channel width of G and D (the DCGAN paper's 64)
    critic_norm: Optional[str] = None    # batch | layer | none | spectral; None = what the loss needs
    conditional: Optional[str] = None    # projection | concat | acgan: class-conditional G and D on the data's
                                         # labels (notebook 09); None = unconditional
    d_minibatch: Optional[str] = None    # discrimination | stddev: a minibatch layer in D (Salimans et al. 2016 / ProGAN,
                                         # notebook 14); None = D scores every sample on its own
    g_norm: str = "batch"                # batch | virtual: G's normalisation (virtual BN: Salimans et al. 2016, notebook 14;
                                         # dcgan only)
    device: Optional[str] = None         # None = the best available (cuda > mps > cpu)
    eval_every: Optional[int] = None     # evaluate every N generator steps; None = at the end only
    n_eval: int = 10_000                 # samples per evaluation: "FID-10k", the course's protocol
    n_ref: Optional[int] = None          # reference images; None = the whole training set
    features: Optional[str] = None       # inception | classifier | pixels; None = the dataset's default
    eval_seed: int = 12345               # the evaluation's noise: the same samples at every evaluation
    # model "style" only (notebook 12; each is refused with another model, where it would do nothing):
    w_dim: Optional[int] = None          # dimension of W; None = latent_dim (StyleGAN: 512 and 512)
    mapping_layers: int = 4              # layers of the mapping network z -> w (StyleGAN: 8; 4 for the CPU models)
    style_mode: str = "demod"            # demod: StyleGAN2's weight demodulation | adain: StyleGAN's AdaIN
    style_mixing: float = 0.9            # share of training batches generated from two codes (StyleGAN: 90 %)
    train: TrainConfig = field(default_factory=TrainConfig)  # the loop's settings (loss preset + overrides)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ConfigError(f"model={self.model!r}: use one of {', '.join(MODELS)}")
        self._check_style_options()
        if self.critic_norm not in (None, "batch", "layer", "none", "spectral"):
            raise ConfigError(f"critic_norm={self.critic_norm!r}: use batch, layer, none or spectral")
        if self.features not in (None, "inception", "classifier", "pixels", "auto"):
            raise ConfigError(f"features={self.features!r}: use inception, classifier, pixels or auto")
        for name in ("image_size", "width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 1")
        if self.eval_every is not None and self.eval_every < 1:
            raise ConfigError(f"eval_every={self.eval_every} must be at least 1 (or null: evaluate at the end only)")
        for name in ("n_eval", "n_ref"):                 # a covariance needs two samples at the very least
            if getattr(self, name) is not None and getattr(self, name) < 2:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 2: a Fréchet distance needs the "
                                  "covariance of the samples (the course's protocol uses 10000)")
        check_seed(self.eval_seed, "eval_seed")
        native = NATIVE_CHANNELS.get(self.dataset)
        if self.channels is not None and self.channels not in (1, 3):
            raise ConfigError(f"channels={self.channels}: use 1 (grey) or 3 (RGB)")
        if native is not None and self.channels not in (None, native):
            raise ConfigError(f"channels={self.channels}: {self.dataset} images have {native} channel(s); channels "
                              "applies to folder:PATH and synthetic data (leave it out)")
        if self.channels is None:
            self.channels = native or 3
        if self.image_size not in (28, 32, 64):
            raise ConfigError(f"image_size={self.image_size}: the course's models take 28, 32 or 64")
        if self.dataset.startswith("folder:") and not self.dataset[len("folder:"):].strip():
            raise ConfigError("dataset='folder:' needs the folder after the colon: folder:/path/to/images")
        if self.conditional is not None:
            from .models import CONDITIONINGS

            if self.conditional not in CONDITIONINGS:
                raise ConfigError(f"conditional={self.conditional!r}: use {', '.join(CONDITIONINGS)} (or null)")
            if self.model != "dcgan":
                raise ConfigError("conditional models are DCGANs: use model 'dcgan' with conditional")
        if self.d_minibatch not in (None, "discrimination", "stddev"):
            raise ConfigError(f"d_minibatch={self.d_minibatch!r}: use discrimination, stddev (or null)")
        if self.g_norm not in ("batch", "virtual"):
            raise ConfigError(f"g_norm={self.g_norm!r}: use batch or virtual")
        if self.conditional is not None and (self.d_minibatch is not None or self.g_norm != "batch"):
            raise ConfigError("d_minibatch and g_norm='virtual' are for unconditional models; drop them or conditional")
        if self.g_norm != "batch" and self.model != "dcgan":
            raise ConfigError("g_norm='virtual' replaces the BatchNorm of the DCGAN generator: use model 'dcgan'")
        if self.d_minibatch is not None and self.model not in ("dcgan", "mlp"):
            raise ConfigError(f"d_minibatch={self.d_minibatch!r} adds a layer to the DCGAN or MLP discriminator; model "
                              f"{self.model!r} has its own (the style D already ends with a minibatch stddev): drop it")
        if (self.conditional == "acgan") != (self.train.loss == "acgan"):
            raise ConfigError(f"loss 'acgan' goes with conditional 'acgan' and only with it (here loss "
                              f"{self.train.loss!r}, conditional {self.conditional!r})")

    def _check_style_options(self) -> None:
        """The style model's options: valid values, and given only with model "style"."""
        from .models import STYLE_MODES

        style_fields = {f.name: f.default for f in fields(RunConfig) if f.name in STYLE_FIELDS}
        if self.model != "style":
            changed = [k for k, default in style_fields.items() if getattr(self, k) != default]
            if changed:
                raise ConfigError(f"{', '.join(changed)} configure the style generator (model 'style', notebook 12); "
                                  f"with model {self.model!r} they would do nothing: remove them or use model 'style'")
            return
        if self.style_mode not in STYLE_MODES:
            raise ConfigError(f"style_mode={self.style_mode!r}: use {' or '.join(STYLE_MODES)}")
        if not 0.0 <= self.style_mixing <= 1.0:
            raise ConfigError(f"style_mixing={self.style_mixing!r} is a probability: a number in [0, 1] (0 = off)")
        if self.mapping_layers < 1 or (self.w_dim is not None and self.w_dim < 1):
            raise ConfigError(f"mapping_layers={self.mapping_layers} and w_dim={self.w_dim} must be at least 1")
        if self.image_size not in (32, 64):
            raise ConfigError(f"image_size={self.image_size}: the style generator grows from 4x4 by doubling, so it "
                              "makes 32 or 64 (Fashion-MNIST is padded to 32)")
        if self.critic_norm not in (None, "none"):
            raise ConfigError(f"critic_norm={self.critic_norm!r}: the style discriminator has no normalisation layers "
                              "(equalised learning rate and the minibatch standard deviation instead); leave it out")
        if self.train.loss == "wgan-sn":
            raise ConfigError("loss 'wgan-sn' needs a spectrally normalised critic and the style discriminator has "
                              "none: use bce-ns (StyleGAN's loss), hinge, lsgan or wgan-gp")

    @property
    def norm(self) -> str:
        """The critic's normalisation: ``critic_norm``, else the one its loss needs (and none instead of
        BatchNorm with the R1 penalty, which is per sample like the gradient penalty). The style
        discriminator has none."""
        from .models import default_critic_norm

        if self.model == "style":
            return "none"
        if self.critic_norm:
            return self.critic_norm
        norm = default_critic_norm(self.train.loss)
        return "none" if norm == "batch" and self.train.r1_gamma > 0 else norm

    @property
    def feature_kind(self) -> str:
        return self.features or default_features(self.dataset)

    @classmethod
    def from_options(cls, opts: dict) -> "RunConfig":
        """A RunConfig from a flat options dict (checked first: unknown keys and wrong types raise
        :class:`ConfigError`); the TrainConfig starts from the loss preset."""
        opts = check_options(opts)
        run = {k: v for k, v in opts.items() if k in RUN_FIELDS}
        tr = {k: v for k, v in opts.items() if k in TRAIN_FIELDS and k != "loss" and v is not None}
        try:
            default_loss = "acgan" if opts.get("conditional") == "acgan" else "bce-ns"   # AC-GAN has its own loss
            tcfg = TrainConfig.preset(opts.get("loss", default_loss), **tr)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return cls(**run, train=tcfg)

    def options(self) -> dict:
        """Every setting of the run as one flat dict (the effective values, defaults included)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "train"}
        out.update({f.name: getattr(self.train, f.name) for f in fields(self.train)})
        out["critic_norm"], out["features"] = self.norm, self.feature_kind
        return out


RUN_FIELDS = {f.name for f in fields(RunConfig)} - {"train"}
TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}


def option_names() -> set:
    return RUN_FIELDS | TRAIN_FIELDS


def _type_hints() -> dict:
    hints = {k: v for k, v in typing.get_type_hints(RunConfig).items() if k != "train"}
    hints.update(typing.get_type_hints(TrainConfig))
    return hints


def _check_value(name: str, value, hint):
    """``value`` converted to the field's type, or ConfigError. JSON has no tuples (betas come as
    lists) and writes 1e-4 as a float and 100 as an int: both are fine for a float field."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check_value(name, value, a)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{name}={value!r} has the wrong type")
    if hint is typing.Any or hint is object:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false, got {value!r} (a string such as \"false\" is not false)")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name} must be a string, got {value!r}")
    if hint is tuple or origin is tuple:
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return tuple(float(v) for v in value)
        raise ConfigError(f"{name} must be a pair of numbers such as [0.5, 0.999], got {value!r}")
    return value


def _checked(opts, source: str, names: set, hints: dict) -> dict:
    """``opts`` with every key in ``names`` and every value of its type ``hints[key]``, or ConfigError."""
    if not isinstance(opts, dict):
        raise ConfigError(f"{source} must be a JSON object of options ({{\"steps\": 1000, ...}}), "
                          f"got a {type(opts).__name__}")
    unknown = set(opts) - names
    if unknown:
        import difflib

        hints_ = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, names, 1)) else repr(k)
                  for k in sorted(unknown)]
        raise ConfigError(f"{source}: unknown option(s) {', '.join(hints_)}; known: {', '.join(sorted(names))}")
    return {k: _check_value(k, v, hints[k]) for k, v in opts.items()}


def check_options(opts, source: str = "options") -> dict:
    """``opts`` with every key known and every value of the right type (converted where JSON cannot
    say it: lists to tuples, 2.0 to 2), or :class:`ConfigError` naming the key."""
    return _checked(opts, source, option_names(), _type_hints())


# ---------------------------------------------------------------- config files
def config_dir() -> Path:
    """The configs shipped with the package (``gan_utils/configs/``): a pip install on Colab has them."""
    return Path(__file__).resolve().parent / "configs"


def available_configs() -> list:
    return sorted(p.stem for p in config_dir().glob("*.json"))


def find_config(name) -> Path:
    """The path of a config: ``name`` itself if it is a file, else the shipped config of that name
    (``"dcgan_cifar10"``, ``"dcgan_cifar10.json"`` or ``"configs/dcgan_cifar10.json"`` all work)."""
    p = Path(name).expanduser()
    if p.is_file():
        return p
    stem = p.name[:-5] if p.name.endswith(".json") else p.name
    shipped = config_dir() / f"{stem}.json"
    if shipped.is_file():
        return shipped
    raise ConfigError(f"no config {str(name)!r}: it is not a file, and the shipped configs are "
                      f"{', '.join(available_configs()) or 'none'} (in {config_dir()})")


def _read_config_file(config) -> tuple:
    """``(options, path)`` of a JSON config file (a path, or a shipped config's name), unchecked."""
    path = find_config(config)
    try:
        return json.loads(path.read_text()), path
    except ValueError as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None


def load_config(config) -> dict:
    """A config as a checked dict: ``config`` itself (a dict, copied) or a JSON file (a path, or a
    shipped config's name). Unknown keys and wrong types raise :class:`ConfigError`."""
    if isinstance(config, dict):
        return check_options(dict(config))
    opts, path = _read_config_file(config)
    opts = check_options(opts, source=str(path))
    opts.setdefault("name", path.stem)
    return opts


def default_features(dataset: str) -> str:
    """Inception (FID proper) for colour data, the offline classifier (FD-classifier) for
    Fashion-MNIST/MNIST, cheap pixel statistics for the synthetic stand-in."""
    if dataset.startswith("folder:"):
        return "inception"              # your own images: FID (Inception weights needed: online, or a local file)
    return {"cifar10": "inception", "synthetic": "pixels"}.get(dataset, "classifier")


def resolve(config, *, smoke: bool = False, overrides: Optional[dict] = None, **explicit) -> dict:
    """The options of a run: the config (dict, file or name), then the smoke sizes (``smoke=True``),
    then ``overrides``, then the explicit arguments that are not ``None``; checked. A changed
    ``dataset`` without ``features`` gets that dataset's default features."""
    opts = load_config(config)
    if smoke:
        opts.update(SMOKE_OVERRIDES)
    changes = {**(overrides or {}), **{k: v for k, v in explicit.items() if v is not None}}
    if "dataset" in changes and "features" not in changes:
        opts.pop("features", None)      # another dataset: its own default features, unless given
    opts.update(changes)
    opts = check_options(opts)
    opts.setdefault("dataset", RunConfig.dataset)
    opts.setdefault("features", default_features(opts["dataset"]))
    RunConfig.from_options(opts)        # values too (a loss that does not exist, width 0, ...)
    return opts


def effective_options(opts: dict) -> dict:
    """Every setting a run will use: ``opts`` completed with the defaults, the loss preset and the
    critic normalisation the loss needs (for tables such as notebook 08's); settings the loss does
    not use (the penalty weight without a penalty, the clip value without clipping) are ``None``."""
    out = RunConfig.from_options(opts).options()
    loss = out["loss"]
    if loss != "wgan-gp":
        out["gp_weight"] = None
    if loss != "wgan-clip":
        out["clip_value"] = None
    if out["model"] != "style":
        out.update({k: None for k in STYLE_FIELDS})
    elif out["w_dim"] is None:
        out["w_dim"] = out["latent_dim"]
    return out


# ---------------------------------------------------------------- building a run
def build_run(opts):
    """``(G, D, loader, TrainConfig)`` for a run described by ``opts`` (a dict of options or a
    :class:`RunConfig`): the dataset loaded, the models built for its shape, all on the device."""
    from .data import InMemoryLoader, load_dataset, synthetic_images
    from .models import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, StyleDiscriminator,
                         StyleGenerator)
    from .distributed import rank_device
    from .runtime import get_device

    rc = opts if isinstance(opts, RunConfig) else RunConfig.from_options(opts)
    tcfg = rc.train
    device = rank_device(get_device(rc.device))      # under torchrun: this process's GPU, cuda:LOCAL_RANK
    if rc.dataset == "synthetic":
        ds = synthetic_images(2048, rc.channels, rc.image_size, seed=tcfg.seed)
    else:
        ds = load_dataset(rc.dataset, train=True, image_size=rc.image_size,
                          channels=rc.channels if rc.dataset.startswith("folder:") else None)
    channels = ds.images.shape[1]
    num_classes = _num_classes(ds) if rc.conditional else None     # class-conditional: the data's labels (notebook 09)

    def models():
        if rc.model == "dcgan":
            return (DCGANGenerator(tcfg.latent_dim, channels, rc.image_size, rc.width, num_classes=num_classes,
                                   norm=rc.g_norm),
                    DCGANDiscriminator(channels, rc.image_size, rc.width, norm=rc.norm, num_classes=num_classes,
                                       conditioning=rc.conditional or "projection", minibatch=rc.d_minibatch))
        if rc.model == "style":
            return (StyleGenerator(tcfg.latent_dim, rc.w_dim or tcfg.latent_dim, channels, rc.image_size, rc.width,
                                   mapping_layers=rc.mapping_layers, mode=rc.style_mode, style_mixing=rc.style_mixing),
                    StyleDiscriminator(channels, rc.image_size, rc.width))
        shape = tuple(ds.images.shape[1:])
        return (MLPGenerator(tcfg.latent_dim, shape, hidden=rc.width * 8, depth=3, tanh_output=True),
                MLPDiscriminator(shape, hidden=rc.width * 8, depth=3, spectral=rc.norm == "spectral",
                                minibatch=rc.d_minibatch))

    _check_model_memory(models, rc.width, device)                   # before allocating anything
    try:
        G, D = models()
        G, D = G.to(device), D.to(device)
    except (MemoryError, RuntimeError) as e:                        # torch's allocators raise RuntimeError
        if not isinstance(e, MemoryError) and "alloc" not in str(e).lower() and "out of memory" not in str(e).lower():
            raise
        raise ConfigError(f"width={rc.width}: G and D do not fit in the memory of {device} "
                          f"({str(e).splitlines()[0][:120]}); use a smaller width (the course's models use 8 to 128)") from None
    loader = InMemoryLoader(ds, tcfg.batch_size, device=device, seed=tcfg.seed, with_labels=num_classes is not None)
    return G, D, loader, tcfg


def _check_model_memory(models, width: int, device) -> None:
    """Refuse, before any allocation, models whose weights, gradients and Adam moments (4 copies in
    float32) would not fit in the free memory: built on torch's "meta" device, which allocates nothing
    (a width of 200 000 once allocated gigabytes before failing, or got the process killed)."""
    import torch

    from .runtime import available_memory

    if torch.device(device).type != "cpu":
        return                                   # GPUs: their own out-of-memory error is caught and explained
    try:
        with torch.device("meta"):
            G, D = models()
    except Exception:                            # noqa: BLE001 - a layer that cannot be built on meta: skip the check
        return
    need = 4 * 4 * sum(p.numel() for m in (G, D) for p in m.parameters())
    free = available_memory()
    if free is not None and need > free:
        raise ConfigError(f"width={width}: G and D would need {need / 2**30:.1f} GiB for their weights, gradients and "
                          f"Adam moments, and {free / 2**30:.1f} GiB are free; use a smaller width (the course's "
                          "models use 8 to 128)")


def _num_classes(ds) -> int:
    """The number of classes of a labelled dataset: its class names (a named dataset's classes, a
    folder's class sub-folders), never its largest label (a damaged label must not make a model with
    another number of classes); a ConfigError when there is only one class."""
    k = len(ds.classes)
    if k < 2:
        raise ConfigError(f"conditional training needs labels of at least two classes, and {ds.name} has "
                          f"{'one' if k == 1 else 'no class names'}: put the images in one sub-folder per class "
                          "(folder/<class>/image.png), or drop conditional")
    return k


# ---------------------------------------------------------------- image-to-image translation (notebook 11)
#: the translators: pix2pix trains on pairs (Isola et al. 2017), CycleGAN on two unpaired collections (Zhu et al. 2017)
TRANSLATION_MODELS = ("pix2pix", "cyclegan")
#: GAN objectives a translator can use: the losses of gan_utils.losses without a penalty, clipping or a
#: constraint on D's layers (those belong to the critics of notebooks 07 and 10, not to a PatchGAN)
TRANSLATION_LOSSES = ("bce-ns", "lsgan", "hinge")


@dataclass
class TranslationConfig:
    """Every setting of a pix2pix or CycleGAN run, with where its default comes from (notebook 11;
    ``python -m gan_utils train --model pix2pix|cyclegan``). The authors' values are the defaults of
    their code, github.com/junyanz/pytorch-CycleGAN-and-pix2pix (options/train_options.py,
    models/pix2pix_model.py, models/cycle_gan_model.py); ``None`` means "the authors' value for this model".
    """

    model: str = "pix2pix"              # pix2pix (paired data, a conditional D) | cyclegan (unpaired, two Gs, two Ds)
    dataset: str = ""                   # paired:PATH (pix2pix) | unpaired:PATH (cyclegan): folders PATH/A and PATH/B
    image_size: int = 32                # square side of both domains, a power of two (the U-Net halves it down to 1x1)
    channels: int = 3                   # of the folders' images: 1 grey, 3 RGB (both domains)
    width: int = 64                     # base channels of G and D: the authors' ngf = ndf = 64
    n_layers: int = 1                   # PatchGAN depth: each logit sees 16x16 px (1; half a 32 px image), 34 (2), 70 (3,
                                        # the authors' default for 256 px images, 27 % of their side)
    norm: str = "batch"                 # batch (pix2pix's code) | instance (CycleGAN's code, at batch size 1) | none
    loss: Optional[str] = None          # GAN objective (losses.LOSSES); None = the authors': bce-ns for pix2pix (their
                                        # "vanilla" GAN loss), lsgan for CycleGAN (their default gan_mode)
    lambda_gan: Optional[float] = None  # weight of G's adversarial term; 0 = no D at all (the "L1 only" and "cycle alone"
                                        # ablations). None = as the authors weight it: 1 for bce-ns and hinge, 2 for lsgan
                                        # (CycleGAN's G minimises E[(D(G(x)) - 1)^2]; losses.g_loss_lsgan has Mao's 1/2)
    lambda_l1: float = 100.0            # pix2pix: weight of the L1 term (the authors' --lambda_L1 100)
    lambda_cycle: float = 10.0          # CycleGAN: weight of each cycle term (--lambda_A = --lambda_B = 10)
    lambda_identity: float = 0.5        # CycleGAN: identity weight as a fraction of lambda_cycle (--lambda_identity 0.5;
                                        # 0 = off). It scales with lambda_cycle, so lambda_cycle = 0 switches it off too
    cycles: str = "both"                # CycleGAN: both cycles, or "forward" (A -> B -> A only: an ablation arm)
    pool_size: Optional[int] = None     # D's history of fakes (train.ImagePool); None = the authors': 50 for CycleGAN
                                        # (--pool_size 50), 0 for pix2pix (its model sets pool_size=0)
    lr: float = 2e-4                    # Adam learning rate of every G and D (--lr 0.0002)
    betas: tuple = (0.5, 0.999)         # Adam betas (--beta1 0.5; beta2 0.999), as DCGAN
    batch_size: int = 32                # the authors' code's default is 1; on a CPU a batch costs less per image
    steps: int = 2000                   # generator updates
    seed: int = 0                       # models, data order and dropout derive from it
    log_every: int = 50                 # host sync and NaN check interval
    ckpt_every: int = 0                 # checkpoint interval (0 = only at the end and on a stop signal)
    sample_every: int = 0               # grid of translations written to the run folder (0 = only at the end)
    device: Optional[str] = None        # None = the best available (cuda > mps > cpu)

    def __post_init__(self):
        if self.model not in TRANSLATION_MODELS:
            raise ConfigError(f"model={self.model!r}: a translator is one of {', '.join(TRANSLATION_MODELS)}")
        if self.loss is not None and self.loss not in TRANSLATION_LOSSES:
            raise ConfigError(f"loss={self.loss!r}: a translator's GAN objective is one of {', '.join(TRANSLATION_LOSSES)} "
                              "(null: the authors' choice for the model)")
        if self.norm not in ("batch", "instance", "none"):
            raise ConfigError(f"norm={self.norm!r}: use batch, instance or none")
        if self.cycles not in ("both", "forward"):
            raise ConfigError(f"cycles={self.cycles!r}: use both or forward")
        for name in ("image_size", "width", "n_layers", "batch_size", "steps", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 1")
        for name in ("ckpt_every", "sample_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0 (0 = only at the end)")
        if self.image_size & (self.image_size - 1) or not 8 <= self.image_size <= 256:
            raise ConfigError(f"image_size={self.image_size}: a power of two from 8 to 256 (32 or 64 on a CPU)")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels={self.channels}: 1 (grey) or 3 (RGB)")
        for name in ("lambda_l1", "lambda_cycle", "lambda_identity", "lr"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr} must be > 0")
        if self.lambda_gan is not None and not self.lambda_gan >= 0:
            raise ConfigError(f"lambda_gan={self.lambda_gan} must be >= 0 (0 = no adversarial term)")
        if self.pool_size is not None and self.pool_size < 0:
            raise ConfigError(f"pool_size={self.pool_size} must be >= 0 (0 = no pool)")
        if self.dataset and not self.dataset.startswith(("paired:", "unpaired:")):
            raise ConfigError(f"dataset={self.dataset!r}: a translator trains on paired:PATH or unpaired:PATH "
                              "(folders PATH/A and PATH/B)")
        want = "paired:" if self.model == "pix2pix" else "unpaired:"
        if self.dataset.startswith("unpaired:") and self.model == "pix2pix":
            raise ConfigError(f"pix2pix learns from pairs: use dataset='paired:{self.dataset.split(':', 1)[1]}' (files of "
                              "the same name in A/ and B/), or model='cyclegan' for unpaired folders")
        if self.dataset and not self.dataset.split(":", 1)[1].strip():
            raise ConfigError(f"dataset={self.dataset!r} needs the folder after the colon: {want}/path/to/folders")
        self.betas = tuple(self.betas)
        if self.lambda_gan == 0 and self.model == "pix2pix" and self.lambda_l1 == 0:
            raise ConfigError("lambda_gan = lambda_l1 = 0 leaves pix2pix's generator without any loss")

    @property
    def gan_loss(self) -> str:
        """The GAN objective used: ``loss``, else the authors' for the model."""
        return self.loss or ("bce-ns" if self.model == "pix2pix" else "lsgan")

    @property
    def gan_weight(self) -> float:
        """The weight of G's adversarial term: ``lambda_gan``, else the authors' (see the field)."""
        return self.lambda_gan if self.lambda_gan is not None else (2.0 if self.gan_loss == "lsgan" else 1.0)

    @property
    def pool(self) -> int:
        """The image pool's size: ``pool_size``, else the authors' (50 for CycleGAN, 0 for pix2pix)."""
        return self.pool_size if self.pool_size is not None else (50 if self.model == "cyclegan" else 0)

    @classmethod
    def from_options(cls, opts: dict, source: str = "options") -> "TranslationConfig":
        """A TranslationConfig from a flat dict, every key and type checked as for :class:`RunConfig`."""
        names = {f.name for f in fields(cls)}
        return cls(**_checked(opts, source, names, typing.get_type_hints(cls)))


def load_translation_config(config=None, defaults: Optional[dict] = None, **overrides) -> TranslationConfig:
    """A :class:`TranslationConfig` from ``defaults`` (e.g. the CLI's checkpoint interval), then a dict or a
    JSON file (checked like :func:`load_config`), then ``overrides`` (the CLI's flags; ``None`` skipped)."""
    if config is None or isinstance(config, dict):
        opts, source = dict(config or {}), "options"
    else:
        opts, path = _read_config_file(config)
        source = str(path)
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return TranslationConfig.from_options({**(defaults or {}), **opts}, source)

