"""Feature extractors for FID-style distances (taught in notebooks/06_evaluation.ipynb).

A Fréchet distance compares two *feature* distributions, so the extractor is half of the metric.
Every extractor here has the same small interface:

- ``name``: short id used in reports ("inception-v3 pool3", "fashion-mnist classifier");
- ``distance_name``: what a distance on these features is called: "FID" only for the Inception
  pool3 features of Heusel et al. 2017 as computed by pytorch-fid, "FD-classifier" for the
  small domain classifier (never "FID": the numbers are not comparable with published FIDs);
- ``dim``: feature dimension; ``min_samples``: below this many samples a distance is visibly
  biased (:func:`gan_utils.metrics.fid.fid` warns);
- ``cache_id``: names the weights in cache keys (``None``: never cache, e.g. random weights);
- ``__call__(images)``: images in **[-1, 1]** shaped ``(B, C, H, W)`` -> ``(B, dim)`` float32
  features on the CPU, computed in batches, without gradients, in eval mode.

:class:`InceptionFeatures` reproduces pytorch-fid exactly: its network
``pytorch_fid.inception.InceptionV3([3])`` (the TF-ported FID Inception weights), its bilinear
resize to 299x299 and its scaling ``2 * x - 1`` of images in [0, 1]; our [-1, 1] images are
mapped to [0, 1] by ``(x + 1) / 2`` first, grey images are repeated to 3 channels (what PIL's
``convert("RGB")`` does in pytorch-fid). The weights (~100 MB) come from, in order: the
``weights`` argument, ``$GAN_COURSE_INCEPTION_WEIGHTS``, torch's hub cache, the offline converter's
output in the course cache (:func:`converted_weights_path`, written by
``python -m gan_utils.metrics.inception_weights``), a download. Offline with none of these,
:class:`InceptionUnavailableError` says what to do.

:class:`ClassifierFeatures` uses the 128-d penultimate layer of the small CNN of
:mod:`gan_utils.metrics.classifier` (weights shipped for Fashion-MNIST).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from ..data import downloads_allowed, to_float
from ..runtime import ConfigError, UserError

def feature_matrix(x, name: str, min_rows: int = 1) -> torch.Tensor:
    """``x`` (a tensor, array or nested list) as a float64 CPU tensor ``(N, d)`` with at least
    ``min_rows`` rows and only finite values, else one :class:`ConfigError` naming ``name``: the
    entrance check of every metric that takes features or points (KID, nearest neighbours, mode
    coverage), so a NaN never comes back as a NaN score or a silently wrong one."""
    import numpy as np

    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().to("cpu", torch.float64)
    if x.dim() != 2:
        raise ConfigError(f"{name} must be features shaped (N, d), got {tuple(x.shape)}")
    if x.shape[0] < min_rows:
        raise ConfigError(f"{name} needs at least {min_rows} row(s), got {x.shape[0]}")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(1).nonzero()[0, 0])
        raise ConfigError(f"{name} holds NaN or inf (first in row {bad}): features of a diverged generator or of "
                          "images outside [-1, 1]? Check the inputs before scoring them")
    return x


INCEPTION_ENV = "GAN_COURSE_INCEPTION_WEIGHTS"
#: pytorch-fid's weights file (its name carries the first 8 hex digits of its SHA-256)
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
#: the offline converter's default output (``python -m gan_utils.metrics.inception_weights``), in the cache
CONVERTED_FILE = "fid_inception_from_torchscript.pth"


def converted_weights_path() -> Path:
    """Where the offline converter writes by default and where Inception features look for its output:
    ``$GAN_COURSE_CACHE/fid_inception_from_torchscript.pth`` (``~/.cache/gan_course/...``)."""
    from ..runtime import cache_dir

    return cache_dir() / CONVERTED_FILE


class InceptionUnavailableError(UserError, RuntimeError):
    """The Inception weights cannot be had (offline, no local file); the message says what to do."""


class FeatureExtractor:
    """Base class: subclasses set the attributes and implement :meth:`_forward` on one batch."""

    name: str = "features"
    distance_name: str = "FD"
    dim: int = 0
    min_samples: int = 2048
    cache_id: str | None = None
    batch_size: int = 500

    def __init__(self, device=None, batch_size: int | None = None):
        from ..runtime import get_device

        self.device = torch.device(device) if device is not None else get_device()
        if batch_size is not None:
            self.batch_size = int(batch_size)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:  # one batch on self.device
        raise NotImplementedError

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Check and move a batch: float in [-1, 1] (uint8 is converted), ``(B, C, H, W)``."""
        if x.dtype == torch.uint8:
            x = to_float(x)
        if x.dim() != 4:
            raise ValueError(f"{self.name} features take images shaped (B, C, H, W), got {tuple(x.shape)}")
        return x.to(self.device, torch.float32)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` images in [-1, 1] -> ``(B, dim)`` float32 features on the CPU."""
        out = [self._forward(self.prepare(chunk)).float().cpu() for chunk in images.split(self.batch_size)]
        if not out:
            return torch.zeros(0, self.dim)
        return torch.cat(out)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, distance={self.distance_name!r})"


# ---------------------------------------------------------------- classifier features
class ClassifierFeatures(FeatureExtractor):
    """Penultimate (128-d) features of the small domain classifier; grey 28x28 (or 32x32) images.

    ``dataset`` picks the weights (shipped for "fashion-mnist"; "mnist" after
    :func:`gan_utils.metrics.classifier.train_classifier`), or pass ``model`` directly.
    :meth:`probs` gives its class probabilities (for :func:`gan_utils.metrics.inception_score`).
    """

    distance_name = "FD-classifier"
    batch_size = 1000

    def __init__(self, dataset: str = "fashion-mnist", model=None, device=None, batch_size: int | None = None):
        from .classifier import _canonical, file_digest, pretrained_classifier

        super().__init__(device=device, batch_size=batch_size)
        ds = _canonical(dataset)
        if model is None:
            model = pretrained_classifier(ds)
            self.cache_id = f"classifier-{ds}-{file_digest(model.weights_path)}"
        else:
            self.cache_id = None  # unknown weights: never cache their statistics
        self.model = model.to(self.device).eval()
        self.dataset = ds
        self.name = f"{ds} classifier"
        self.dim = int(model.feature_dim)
        self.min_samples = 2048  # 16 x dim: the bias of FD ~ tr(Sigma)/n is then a few percent

    def prepare(self, x):
        x = super().prepare(x)
        if x.shape[1] != 1:
            raise ValueError(f"the {self.name} takes grey images (B, 1, H, W), got {tuple(x.shape)}; "
                             "use features='inception' for colour images")
        return x

    def _forward(self, x):
        return self.model.features(x)

    @torch.no_grad()
    def probs(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax class probabilities ``(B, num_classes)`` (float32, CPU)."""
        out = [torch.softmax(self.model(self.prepare(c)), dim=1).cpu() for c in images.split(self.batch_size)]
        return torch.cat(out)


# ---------------------------------------------------------------- Inception features
def _import_pytorch_fid():
    try:
        import pytorch_fid.inception as pfi
    except ImportError:
        raise InceptionUnavailableError(
            "Inception features need the pytorch-fid package: pip install pytorch-fid\n"
            "(or use features='classifier', which works offline for Fashion-MNIST/MNIST)") from None
    return pfi


def _hub_checkpoint() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def inception_weights_path(weights=None) -> Path | None:
    """The local Inception weights file to use, or ``None`` if there is none (see module docstring)."""
    for cand in (weights, os.environ.get(INCEPTION_ENV) or None):
        if cand is not None:
            p = Path(cand).expanduser()
            if not p.is_file():
                raise InceptionUnavailableError(f"Inception weights file {p} does not exist.\n" + _offline_help())
            return p
    for cand in (_hub_checkpoint(), converted_weights_path()):   # pytorch-fid's own download, then the converted file
        if cand.is_file():
            return cand
    return None


def _offline_help() -> str:
    return (
        "FID needs pytorch-fid's Inception-v3 weights (FID Inception, ~100 MB). Either\n"
        f"  - go online (and unset GAN_COURSE_OFFLINE) so they download once to {_hub_checkpoint()}, or\n"
        f"  - download {INCEPTION_FILE} from\n"
        "    https://github.com/mseitzer/pytorch-fid/releases/tag/fid_weights on a machine with internet,\n"
        f"    copy it here and set {INCEPTION_ENV}=/path/to/{INCEPTION_FILE}\n"
        "    (or pass InceptionFeatures(weights=...)), or\n"
        "  - use the offline domain classifier instead: fid(..., features='classifier'), reported as\n"
        "    FD-classifier (not comparable with published FIDs).")


def inception_available(weights=None) -> bool:
    """True when Inception features can be built now without an error: pytorch-fid is installed and
    a weights file is local, or downloads are allowed (a download may still fail)."""
    try:
        _import_pytorch_fid()
        return inception_weights_path(weights) is not None or downloads_allowed()
    except InceptionUnavailableError:
        return False


@contextlib.contextmanager
def _patched_loader(pfi, state_dict):
    """Make pytorch-fid's ``fid_inception_v3`` load ``state_dict`` instead of downloading."""
    original = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *args, **kwargs: state_dict
    try:
        yield
    finally:
        pfi.load_state_dict_from_url = original


def build_pytorch_fid_inception(state_dict=None, weights=None, download: bool | None = None):
    """pytorch-fid's ``InceptionV3([3])`` (pool3, 2048-d) in eval mode.

    ``state_dict`` given: loaded as is (tests use a seeded random one). Otherwise the weights come
    from :func:`inception_weights_path` or, when allowed, pytorch-fid's own download; offline
    without a file raises :class:`InceptionUnavailableError`.
    """
    pfi = _import_pytorch_fid()
    if state_dict is None:
        path = inception_weights_path(weights)
        if path is not None:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
        else:
            if download is None:
                download = downloads_allowed()
            if not download:
                raise InceptionUnavailableError("No Inception weights on this machine and downloads are off "
                                                "(GAN_COURSE_OFFLINE=1).\n" + _offline_help())
            try:
                return pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
            except OSError as e:  # URLError, socket errors: no network
                raise InceptionUnavailableError(f"Downloading the Inception weights failed ({e}).\n"
                                                + _offline_help()) from None
    with _patched_loader(pfi, state_dict):
        return pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()


class InceptionFeatures(FeatureExtractor):
    """Inception-v3 pool3 features (2048-d), exactly as pytorch-fid computes them.

    Input: images in [-1, 1], ``(B, 1 or 3, H, W)``, any size (resized to 299x299 inside
    pytorch-fid's network). A distance on these features with the official weights is the FID.
    ``state_dict`` replaces the weights (then the distance is called "FD-inception (custom
    weights)" and nothing is cached).
    """

    name = "inception-v3 pool3"
    dim = 2048
    min_samples = 2048
    batch_size = 50

    def __init__(self, weights=None, device=None, batch_size: int | None = None, download: bool | None = None,
                 state_dict=None):
        super().__init__(device=device, batch_size=batch_size)
        self.model = build_pytorch_fid_inception(state_dict=state_dict, weights=weights,
                                                 download=download).to(self.device)
        if state_dict is None:
            self.distance_name, self.cache_id = "FID", "inception-" + INCEPTION_FILE.split(".")[0]
        else:
            self.distance_name, self.cache_id = "FD-inception (custom weights)", None

    def prepare(self, x):
        x = super().prepare(x)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grey -> RGB by repetition, as PIL's convert("RGB")
        elif x.shape[1] != 3:
            raise ValueError(f"Inception takes 1 or 3 channels, got {x.shape[1]}")
        return (x + 1) / 2  # [-1, 1] -> [0, 1], pytorch-fid's input range (it then does 2x - 1)

    def _forward(self, x):
        return self.model(x)[0].flatten(1)  # (B, 2048, 1, 1) -> (B, 2048)


def get_extractor(features="auto", dataset: str = "fashion-mnist", device=None, weights=None) -> FeatureExtractor:
    """``"inception"``, ``"classifier"`` or ``"auto"`` (Inception when its weights can be had,
    else the classifier of ``dataset``), or an extractor instance (returned as is)."""
    if isinstance(features, FeatureExtractor):
        return features
    kind = str(features).lower()
    if kind == "inception":
        return InceptionFeatures(weights=weights, device=device)
    if kind == "classifier":
        return ClassifierFeatures(dataset, device=device)
    if kind == "auto":
        if inception_available(weights):
            try:
                return InceptionFeatures(weights=weights, device=device)
            except InceptionUnavailableError as e:
                import warnings

                warnings.warn(f"features='auto': Inception unavailable, using the classifier ({e})", stacklevel=3)
        return ClassifierFeatures(dataset, device=device)
    raise ValueError(f"features must be 'auto', 'inception', 'classifier' or a FeatureExtractor, got {features!r}")
